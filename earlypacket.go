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
// isolating adapter passes on as forgetDropped), the connection closes, or
// earlyPacketBound passes. The bound needs no timer: the waiting listener
// stops at it, and the first packet after it forgets the hold. The
// listener, and the connection's entry, exist only while a socket is held:
// an open socket costs nothing here.
//
// It lives in the server's isolation, beside the adapter wrapper that
// tells it of the sockets the server library drops. Since it follows each
// admitted socket until it is registered or dropped, it also tells the
// socket's owner (the session) when the socket will never connect, or
// when the bound passed first.
type earlyPackets struct {
	mu    sync.Mutex
	conns map[string]*heldConn           // connection ID ->
	socks map[socket.SocketId]heldSocket // sockets being registered ->
	count atomic.Int64                   // len(socks), read without the lock by forget
	bound time.Duration                  // earlyPacketBound when zero (tests shorten it)
}

// heldSocket is a socket being registered: its connection and its owner.
type heldSocket struct {
	cid   string
	owner holdOwner
}

// holdOwner is told what became of a held socket that was not registered.
// It is called without the hold's lock.
type holdOwner interface {
	// dropped: the server library dropped the socket; it will never
	// connect.
	dropped()
	// unbound: the hold ended while the socket was neither registered nor
	// dropped: its bound passed (a later middleware has not ended the
	// chain), or its connection closed (the server library may be
	// registering the socket at that very moment, or drop it later).
	unbound()
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

// hold starts holding the packets of s's connection, until release(s),
// and tells owner if s is dropped instead, or at the bound. A socket whose
// connection is no longer open is not held: the server library drops it,
// and owner is told at once.
func (e *earlyPackets) hold(s *socket.Socket, owner holdOwner) {
	conn := s.Conn()
	if conn.ReadyState() != "open" {
		owner.dropped()
		return
	}
	id := conn.Id()
	e.holdOn(conn, id, s.Id(), owner)
	if conn.ReadyState() != "open" {
		// Closed before the close listener was on: no "close" event will
		// tell the hold.
		e.drop(id)
	}
}

// holdOn records the hold of socket sid on connection id, and puts the
// hold's listeners on the connection if they are not there yet.
func (e *earlyPackets) holdOn(conn heldEvents, id string, sid socket.SocketId, owner holdOwner) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.socks[sid]; ok {
		return
	}
	if e.conns == nil {
		e.conns, e.socks = map[string]*heldConn{}, map[socket.SocketId]heldSocket{}
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
	e.socks[sid] = heldSocket{cid: id, owner: owner}
	e.count.Add(1)
}

// release stops holding for s, registered; it does nothing when s is not
// held.
func (e *earlyPackets) release(s *socket.Socket) { e.forget(s.Id()) }

// forgetDropped stops holding for the socket id, which the server library
// dropped, and tells its owner; it does nothing when the socket is not
// held. It is called for every socket that leaves its rooms, so it looks at
// the lock only while some socket is held.
func (e *earlyPackets) forgetDropped(id socket.SocketId) {
	if h, ok := e.forget(id); ok {
		h.owner.dropped()
	}
}

// forget stops holding for the socket id and returns what was held; it
// does nothing when it is not held.
func (e *earlyPackets) forget(id socket.SocketId) (heldSocket, bool) {
	if e.count.Load() == 0 {
		return heldSocket{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	h, ok := e.socks[id]
	if !ok {
		return heldSocket{}, false
	}
	delete(e.socks, id)
	e.count.Add(-1)
	if hc, ok := e.conns[h.cid]; ok && hc.held > 0 {
		if hc.held--; hc.held == 0 {
			e.unholdLocked(h.cid, hc)
		}
	}
	return h, true
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
		gone := e.expireLocked(cid, hc)
		e.mu.Unlock()
		tellUnbound(gone)
		return
	}
	free := hc.free
	e.mu.Unlock()
	t := time.NewTimer(left)
	defer t.Stop()
	select {
	case <-free:
	case <-t.C:
		var gone []holdOwner
		e.mu.Lock()
		if hc.held > 0 && !time.Now().Before(hc.until) { // not held again meanwhile
			gone = e.expireLocked(cid, hc)
		}
		e.mu.Unlock()
		tellUnbound(gone)
	}
}

// expireLocked forgets every hold of connection cid and returns their
// owners, for the caller to tell once the lock is released.
func (e *earlyPackets) expireLocked(cid string, hc *heldConn) []holdOwner {
	var gone []holdOwner
	for s, h := range e.socks {
		if h.cid == cid {
			delete(e.socks, s)
			e.count.Add(-1)
			gone = append(gone, h.owner)
		}
	}
	e.unholdLocked(cid, hc)
	return gone
}

// tellUnbound tells each owner its hold ended without news of its socket.
func tellUnbound(owners []holdOwner) {
	for _, o := range owners {
		o.unbound()
	}
}

// drop forgets a closed connection and lets its held packets go.
func (e *earlyPackets) drop(cid string) {
	e.mu.Lock()
	hc, ok := e.conns[cid]
	if !ok {
		e.mu.Unlock()
		return
	}
	var gone []holdOwner
	if hc.held > 0 {
		gone = e.expireLocked(cid, hc)
	} else {
		delete(e.conns, cid)
	}
	e.mu.Unlock()
	tellUnbound(gone)
}
