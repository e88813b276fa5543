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
// (the next statements of one goroutine), so that only a socket that never
// registers (refused by a later middleware) ever costs it.
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
// the connection closes, or earlyPacketBound passes. The listener, and the
// connection's entry, exist only while a socket is held: an open socket
// costs nothing here.
type earlyPackets struct {
	mu    sync.Mutex
	conns map[string]*heldConn        // connection ID ->
	socks map[*socket.Socket]heldSock // sockets being registered
}

type heldConn struct {
	conn              heldEvents
	held              int
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

type heldSock struct {
	conn  string
	timer *time.Timer
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
	if _, ok := e.socks[s]; ok {
		return
	}
	if e.conns == nil {
		e.conns, e.socks = map[string]*heldConn{}, map[*socket.Socket]heldSock{}
	}
	hc, ok := e.conns[id]
	if !ok {
		hc = &heldConn{conn: conn, free: make(chan struct{})}
		hc.busy.Store(true)
		hc.onPacket = func(...any) { e.wait(hc) }
		hc.onClose = func(...any) { e.drop(id) }
		e.conns[id] = hc
		_ = conn.On("packet", hc.onPacket)
		_ = conn.Once("close", hc.onClose)
	}
	hc.held++
	e.socks[s] = heldSock{conn: id, timer: time.AfterFunc(earlyPacketBound, func() { e.release(s) })}
}

// release stops holding for s; it does nothing when s is not held.
func (e *earlyPackets) release(s *socket.Socket) {
	e.mu.Lock()
	defer e.mu.Unlock()
	hs, ok := e.socks[s]
	if !ok {
		return
	}
	delete(e.socks, s)
	hs.timer.Stop()
	if hc, ok := e.conns[hs.conn]; ok && hc.held > 0 {
		if hc.held--; hc.held == 0 {
			hc.busy.Store(false)
			close(hc.free)
			// Forget the connection until another of its sockets is held.
			// The lock keeps a new hold from adding its listeners before
			// these are removed (the emitter removes the first listener of
			// the same function, whichever closure it is). No deadlock:
			// the emitter calls listeners without its own lock.
			delete(e.conns, hs.conn)
			hc.conn.RemoveListener("packet", hc.onPacket)
			hc.conn.RemoveListener("close", hc.onClose)
		}
	}
}

// wait runs on the connection's reading goroutine before each packet. A
// connection with no socket being registered, the usual case, costs one
// atomic load: no lock shared with other connections.
func (e *earlyPackets) wait(hc *heldConn) {
	if !hc.busy.Load() {
		return
	}
	e.mu.Lock()
	var free chan struct{}
	if hc.held > 0 {
		free = hc.free
	}
	e.mu.Unlock()
	if free == nil {
		return
	}
	t := time.NewTimer(earlyPacketBound)
	defer t.Stop()
	select {
	case <-free:
	case <-t.C:
	}
}

// drop forgets a closed connection and lets its held packets go.
func (e *earlyPackets) drop(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	hc, ok := e.conns[id]
	if !ok {
		return
	}
	delete(e.conns, id)
	if hc.held > 0 {
		hc.held = 0
		hc.busy.Store(false)
		close(hc.free)
	}
	for s, hs := range e.socks {
		if hs.conn == id {
			hs.timer.Stop()
			delete(e.socks, s)
		}
	}
}
