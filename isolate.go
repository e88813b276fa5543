package siojwt

import (
	"sync"

	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/logs"
	"github.com/zishang520/socket.io/parsers/socket/v3/parser"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// PendingRoom is the room that holds sockets which have connected but not
// yet authenticated (post-connect mode). Every broadcast made through the
// server's ordinary calls (io.Emit, nsp.Emit, To(room).Emit, and the same
// relayed by a cluster adapter) excludes it, so such sockets hear nothing.
const PendingRoom socket.Room = "siojwt:pending"

// isolation wraps the server's adapter constructor so that every namespace
// adapter excludes PendingRoom from every broadcast. This is the one place
// where the server library's lack of a way to keep a connected socket out
// of namespace broadcasts is worked around.
type isolation struct {
	inner socket.AdapterConstructor
	// direct holds the sockets the binding itself is emitting to right now:
	// with connection-state recovery on, Socket.Emit goes through the
	// adapter, and the binding must still reach a pending socket to tell it
	// "unauthorized".
	direct sync.Map // socket.SocketId -> struct{}
	// early holds the packets of connections whose socket is being
	// registered (earlypacket.go).
	early earlyPackets
	// persisted holds the sockets whose session the server library has
	// just persisted for connection-state recovery: from PersistSession to
	// the DelAll that follows it as the socket closes.
	persisted sync.Map // socket.SocketId -> struct{}
	// left is told of every socket that leaves its namespace: the Auth's
	// socketLeft (one Auth per server).
	left func(s *socket.Socket, recoverable bool)
	// closed is told of every namespace whose adapter the server library
	// closes: a child of a dynamic namespace closed once empty, or every
	// namespace as the server closes.
	closed func(socket.Namespace)
}

// New implements socket.AdapterConstructor.
func (i *isolation) New(nsp socket.Namespace) socket.Adapter {
	return &isolatingAdapter{Adapter: i.inner.New(nsp), iso: i, nsp: nsp}
}

type isolatingAdapter struct {
	socket.Adapter
	iso *isolation
	nsp socket.Namespace
}

func (a *isolatingAdapter) exclude(opts *socket.BroadcastOptions) *socket.BroadcastOptions {
	if opts == nil {
		opts = &socket.BroadcastOptions{Rooms: types.NewSet[socket.Room]()}
	}
	if opts.Rooms != nil && opts.Rooms.Len() == 1 {
		if _, ok := a.iso.direct.Load(socket.SocketId(opts.Rooms.Keys()[0])); ok {
			return opts
		}
	}
	except := types.NewSet[socket.Room](PendingRoom)
	if opts.Except != nil {
		except.Add(opts.Except.Keys()...)
	}
	// A copy: a BroadcastOperator may be reused for several emits.
	return &socket.BroadcastOptions{Rooms: opts.Rooms, Except: except, Flags: opts.Flags}
}

// Broadcast excludes pending sockets, then broadcasts.
func (a *isolatingAdapter) Broadcast(p *parser.Packet, opts *socket.BroadcastOptions) {
	a.Adapter.Broadcast(p, a.exclude(opts))
}

// BroadcastWithAck excludes pending sockets, then broadcasts.
func (a *isolatingAdapter) BroadcastWithAck(p *parser.Packet, opts *socket.BroadcastOptions, count func(uint64), ack socket.Ack) {
	a.Adapter.BroadcastWithAck(p, a.exclude(opts), count, ack)
}

// DelAll makes a socket leave every room. The server library calls it for
// every socket it drops, once per socket, on its way out:
//   - one it drops before registering it (a later middleware refused it,
//     or its client went away meanwhile): the early-packet hold then lets
//     its connection's packets go at once, and tells the socket's session;
//   - one that disconnects, before its "disconnect" event: the Auth's
//     socketLeft is told, with whether the server library persisted the
//     socket for connection-state recovery (PersistSession comes just
//     before). A "disconnect" listener per socket would cost each socket
//     about 120 bytes in the server library's emitter for its whole life;
//     this costs nothing until the socket leaves.
func (a *isolatingAdapter) DelAll(id socket.SocketId) {
	a.Adapter.DelAll(id)
	a.iso.early.forgetDropped(id)
	_, recoverable := a.iso.persisted.LoadAndDelete(id)
	// Still the namespace's until DelAll returns (the server library
	// removes it next).
	if s, ok := a.nsp.Sockets().Load(id); ok {
		a.iso.left(s, recoverable)
	}
}

// Close closes the namespace's adapter, then tells the isolation's owner
// that the namespace is closed.
func (a *isolatingAdapter) Close() {
	a.Adapter.Close()
	a.iso.closed(a.nsp)
}

// PersistSession records that the socket is persisted for
// connection-state recovery (DelAll reads it), then persists it.
func (a *isolatingAdapter) PersistSession(s *socket.SessionToPersist) {
	if s != nil {
		a.iso.persisted.Store(s.Sid, struct{}{})
	}
	a.Adapter.PersistSession(s)
}

// emitDirect emits to one socket even while it is pending.
func (i *isolation) emitDirect(s *socket.Socket, ev string, args ...any) {
	i.direct.Store(s.Id(), struct{}{})
	defer i.direct.Delete(s.Id())
	_ = s.Emit(ev, args...)
}

// installIsolation wraps server's adapter constructor; New calls it once
// per server (a second New is ErrServerBound). left is told of every
// socket that leaves its namespace (DelAll), closed of every namespace
// whose adapter is closed.
func installIsolation(server *socket.Server, left func(s *socket.Socket, recoverable bool), closed func(socket.Namespace)) *isolation {
	iso := &isolation{inner: server.Adapter(), left: left, closed: closed}
	// SetAdapter builds new adapters for the existing namespaces without
	// closing the old ones (which may hold timers or Redis subscriptions):
	// close the default namespace's, the one that always exists.
	old := server.Sockets().Adapter()
	server.SetAdapter(iso)
	if old != nil {
		old.Close()
	}
	return iso
}

// checkIsolated refuses, with an internal error, a socket of a namespace
// whose adapter is not an isolating one (SetAdapter called after New):
// its pending sockets would hear broadcasts.
func (a *Auth) checkIsolated(nsp socket.Namespace) *core.Error {
	if _, ok := nsp.Adapter().(*isolatingAdapter); ok {
		return nil
	}
	if n, ok := a.refusals.Allow(a.clock.Now()); ok { // once per connection attempt: bounded
		a.logError("namespace adapter is not wrapped: create the Auth after SetAdapter",
			"namespace", logs.Clip(nsp.Name(), maxLoggedText), "suppressed", n)
	}
	return core.NewError(core.CodeInternal, "internal error", nil)
}
