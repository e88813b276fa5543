package siojwt

import (
	"sync/atomic"

	"github.com/zishang520/socket.io/parsers/socket/v3/parser"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// lateAck ends a socket cut with "unauthorized" whose client may
// acknowledge after the wait is over.
//
// The server library closes the whole connection when a packet comes for a
// namespace the connection has left (socket.io's server does the same:
// "invalid state"). An acknowledgement that comes after the socket was
// disconnected is such a packet, and over HTTP long-polling that close
// races the DISCONNECT packet written just before it: the client sees
// "transport close" instead of "io server disconnect", and reconnects.
// Measured with socket.io-client 4.8.4 over long-polling, failed refreshes
// (interop TestCutReasons): with a wait of 0, 162 of 200 sockets saw
// "transport close" on an idle machine; with the default 1 s wait and two
// CPU burners, where acknowledgements took longer than the wait, 115 to 166
// of 200 did. Websocket clients never did (5 000 of 5 000), the server
// library writing there in order.
//
// So when the wait is over before the acknowledgement, the client is told
// it is disconnected (its namespace's DISCONNECT packet, written as the
// server library writes it) while the socket stays joined on the server:
// out of every broadcast and with its events dropped, so that it gets and
// does nothing more. The socket is disconnected on the server when the
// acknowledgement comes, or after the close grace for a client that never
// sends it; a well-behaved client has closed the connection by then.
type lateAck struct {
	a    *Auth
	s    *socket.Socket
	done atomic.Bool // the socket was disconnected
	told atomic.Bool // the client was told it is disconnected
}

// acknowledged runs on the client's acknowledgement.
func (l *lateAck) acknowledged() {
	if l.done.CompareAndSwap(false, true) {
		l.a.disconnect(l.s)
	}
}

// waitOver runs when the wait for the acknowledgement is over.
func (l *lateAck) waitOver() {
	if l.done.Load() || !l.told.CompareAndSwap(false, true) {
		return
	}
	s := l.s
	// Out of broadcasts, as a pending socket is, and deaf: a middleware
	// that never calls next drops every event (acknowledgements do not go
	// through middlewares).
	s.Join(PendingRoom)
	s.Use(func([]any, func(error)) {})
	if s.Conn().ReadyState() == "open" {
		p := &parser.Packet{Type: parser.DISCONNECT, Nsp: s.Nsp().Name()}
		s.Client().WriteToEngine(s.Nsp().Server().Encoder().Encode(p), &socket.WriteOptions{})
	}
	l.a.clock.AfterFunc(l.a.closeGrace, l.acknowledged)
}
