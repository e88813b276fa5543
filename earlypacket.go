package siojwt

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// earlyPacketBound bounds how long a connection's packets are held while
// one of its sockets is being registered: far above the moment that takes
// (the next statements of one goroutine), so that only a socket whose
// middleware chain never ends ever costs it.
const earlyPacketBound = 5 * time.Second

// earlyPackets holds the incoming packets of a connection while one of its
// sockets has been admitted by the binding's middleware and not yet
// registered with the connection.
//
// The server library writes the CONNECT acknowledgement (the client's
// "connect") before it registers the socket with its connection
// (namespace _doConnect: socket._onconnect(), then fn(socket)), on the
// socket's task goroutine, while another goroutine reads the client's
// packets. A packet the client sends at once on "connect", such as the
// post-connect "authenticate" every socketio-jwt client sends there, can be
// read in between: the server finds no socket for its namespace and closes
// the whole connection ("invalid state"), and the client sees "transport
// close" and reconnects. Socket.IO's own server does both on one thread and
// cannot. Seen with socket.io-client 4.8.4 in the cluster tests (2 runs in 6
// under a CPU burner: "connect", then "transport close" 6 ms later) and with
// the Go client (1 dial in about 3 500); TestEarlyAuthenticate widens the
// window to show it every time.
//
// The server library emits the connection's "packet" event, on the reading
// goroutine, before it decodes the packet: a listener there waits until the
// socket is registered (the namespace's "connection" event comes after),
// the socket is dropped (a later middleware refused it, or its client went
// away: the server library then makes it leave every room, which the
// isolating adapter passes on as forget), the connection closes, or
// earlyPacketBound passes. The bound needs no timer: the waiting listener
// stops at it, and the first packet after it forgets the hold. The
// listener, and the connection's entry, exist only while a socket is held:
// an open socket costs nothing here.
//
// It lives in the server's isolation, beside the adapter wrapper that
// tells it of the sockets the server library drops.
type earlyPackets struct {
	mu    sync.Mutex
	conns map[string]*heldConn       // connection ID ->
	socks map[socket.SocketId]string // sockets being registered -> their connection ID
	count atomic.Int64               // len(socks), read without the lock by forget
	bound time.Duration              // earlyPacketBound when zero (tests shorten it)
}

type heldConn struct {
	conn              heldEvents
	held              int
	until             time.Time     // the latest hold's bound: past it, every hold of the connection has expired
	busy              atomic.Bool   // held > 0, read without the lock on every packet
	free              chan struct{} // closed when held drops to 0
	onPacket, onClose types.EventListener
}

// heldEvents is what earlyPackets uses of a connection.
type heldEvents interface {
	ReadyState() string
	On(types.EventName, ...types.EventListener) error
	Once(types.EventName, ...types.EventListener) error
	RemoveListener(types.EventName, types.EventListener) bool
}

// hold starts holding the packets of s's connection, until release(s).
func (e *earlyPackets) hold(s *socket.Socket) {
	conn := s.Conn()
	if conn.ReadyState() != "open" {
		return // the server library drops the socket
	}
	id := conn.Id()
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.socks[s.Id()]; ok {
		return
	}
	if e.conns == nil {
		e.conns, e.socks = map[string]*heldConn{}, map[socket.SocketId]string{}
	}
	hc, ok := e.conns[id]
	if !ok {
		hc = &heldConn{conn: conn, free: make(chan struct{})}
		hc.busy.Store(true)
		hc.onPacket = func(...any) { e.wait(id, hc) }
		hc.onClose = func(...any) { e.drop(id) }
		e.conns[id] = hc
		_ = conn.On("packet", hc.onPacket)
		_ = conn.Once("close", hc.onClose)
	}
	hc.held++
	bound := e.bound
	if bound == 0 {
		bound = earlyPacketBound
	}
	hc.until = time.Now().Add(bound)
	e.socks[s.Id()] = id
	e.count.Add(1)
}

// release stops holding for s; it does nothing when s is not held.
func (e *earlyPackets) release(s *socket.Socket) { e.forget(s.Id()) }

// forget stops holding for the socket id; it does nothing when it is not
// held. It is called for every socket that leaves its rooms, so it looks
// at the lock only while some socket is held.
func (e *earlyPackets) forget(id socket.SocketId) {
	if e.count.Load() == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cid, ok := e.socks[id]
	if !ok {
		return
	}
	delete(e.socks, id)
	e.count.Add(-1)
	if hc, ok := e.conns[cid]; ok && hc.held > 0 {
		if hc.held--; hc.held == 0 {
			e.unholdLocked(cid, hc)
		}
	}
}

// unholdLocked lets the packets of connection cid go and forgets it until
// another of its sockets is held. The lock keeps a new hold from adding
// its listeners before these are removed (the emitter removes the first
// listener of the same function, whichever closure it is). No deadlock:
// the emitter calls listeners without its own lock, so this may run in
// one.
func (e *earlyPackets) unholdLocked(cid string, hc *heldConn) {
	hc.held = 0
	hc.busy.Store(false)
	close(hc.free)
	delete(e.conns, cid)
	hc.conn.RemoveListener("packet", hc.onPacket)
	hc.conn.RemoveListener("close", hc.onClose)
}

// wait runs on the connection's reading goroutine before each packet. A
// connection with no socket being registered, the usual case, costs one
// atomic load: no lock shared with other connections. Past the bound, the
// connection's holds are forgotten and the packet goes on.
func (e *earlyPackets) wait(cid string, hc *heldConn) {
	if !hc.busy.Load() {
		return
	}
	e.mu.Lock()
	if hc.held == 0 {
		e.mu.Unlock()
		return
	}
	left := time.Until(hc.until)
	if left <= 0 {
		e.expireLocked(cid, hc)
		e.mu.Unlock()
		return
	}
	free := hc.free
	e.mu.Unlock()
	t := time.NewTimer(left)
	defer t.Stop()
	select {
	case <-free:
	case <-t.C:
		e.mu.Lock()
		if hc.held > 0 && !time.Now().Before(hc.until) { // not held again meanwhile
			e.expireLocked(cid, hc)
		}
		e.mu.Unlock()
	}
}

// expireLocked forgets every hold of connection cid, whose bound has
// passed.
func (e *earlyPackets) expireLocked(cid string, hc *heldConn) {
	for s, c := range e.socks {
		if c == cid {
			delete(e.socks, s)
			e.count.Add(-1)
		}
	}
	e.unholdLocked(cid, hc)
}

// drop forgets a closed connection and lets its held packets go.
func (e *earlyPackets) drop(cid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	hc, ok := e.conns[cid]
	if !ok {
		return
	}
	if hc.held > 0 {
		e.expireLocked(cid, hc)
		return
	}
	delete(e.conns, cid)
}
