package siojwt

import (
	"sync"
	"sync/atomic"

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
	// protects reports whether the Auth protects a namespace (its sockets
	// restored by connection-state recovery are held: RestoreSession).
	protects func(socket.Namespace) bool
}

// New implements socket.AdapterConstructor.
func (i *isolation) New(nsp socket.Namespace) socket.Adapter {
	return &isolatingAdapter{Adapter: i.inner.New(nsp), iso: i, nsp: nsp}
}

type isolatingAdapter struct {
	socket.Adapter
	iso *isolation
	nsp socket.Namespace

	heldMu sync.Mutex
	held   map[socket.SocketId]*heldSession // restored sockets waiting for their check
	heldN  atomic.Int32                     // len(held), read without the lock (PersistSession, DelAll)
}

// heldSession is what a socket restored by connection-state recovery waits
// for until its token is checked: the rooms it had, and the packets it
// missed.
type heldSession struct {
	rooms   *types.Set[socket.Room]
	joined  bool // the socket is in rooms (restoreRooms): its current rooms count
	packets []any
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
	a.dropHold(id)
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
		if rooms, ok := a.heldRooms(s.Sid); ok {
			// Dropped again while held: the rooms it had, not PendingRoom,
			// so that a later recovery restores them and what they got.
			restored := *s
			restored.Rooms = rooms
			s = &restored
		}
	}
	a.Adapter.PersistSession(s)
}

// RestoreSession restores a session for connection-state recovery. In a
// namespace the binding protects, the server library would otherwise put
// the restored socket in its rooms and send it the packets it missed as it
// builds the socket, before anything checks its token: a client whose token
// was revoked or expired meanwhile would hear them, and the broadcasts
// made during the check. The socket starts in PendingRoom instead, out of
// every broadcast; its rooms and missed packets are held until its token
// is checked (restoreRooms, deliverHeld). Broadcasts made during the check
// do not reach it: the cluster adapters deliver those of other servers
// past this wrapper, so none could be held for it.
func (a *isolatingAdapter) RestoreSession(pid socket.PrivateSessionId, offset string) (*socket.Session, error) {
	s, err := a.Adapter.RestoreSession(pid, offset)
	if err != nil || s == nil || s.SessionToPersist == nil || !a.iso.protects(a.nsp) {
		return s, err
	}
	a.heldMu.Lock()
	if a.held == nil {
		a.held = map[socket.SocketId]*heldSession{}
	}
	a.held[s.Sid] = &heldSession{rooms: s.Rooms, packets: s.MissedPackets}
	a.heldN.Store(int32(len(a.held)))
	a.heldMu.Unlock()
	restored := *s.SessionToPersist
	restored.Rooms = types.NewSet(PendingRoom)
	return &socket.Session{SessionToPersist: &restored}, nil
}

// restoreRooms makes a held socket join the rooms it had, still pending:
// the authorization check that follows may make it leave some.
func (a *isolatingAdapter) restoreRooms(s *socket.Socket) {
	a.heldMu.Lock()
	defer a.heldMu.Unlock()
	if h, ok := a.held[s.Id()]; ok && !h.joined {
		h.joined = true
		if h.rooms != nil {
			s.Join(h.rooms.Keys()...)
		}
	}
}

// deliverHeld ends the hold of a socket whose token passed its check: it
// gets the packets it missed, in order, and leaves PendingRoom. When the
// check made it leave a room it had (its new token does not grant it), the
// missed packets are dropped: the server library does not say which room
// each was for.
func (a *isolatingAdapter) deliverHeld(s *socket.Socket) {
	a.heldMu.Lock()
	defer a.heldMu.Unlock()
	if h, ok := a.held[s.Id()]; ok {
		delete(a.held, s.Id())
		a.heldN.Store(int32(len(a.held)))
		if !leftAny(h.rooms, s.Rooms()) {
			for _, data := range h.packets {
				writeEvent(s, data)
			}
		}
	}
	s.Leave(PendingRoom)
}

// leftAny reports whether a room of had (PendingRoom aside) is not in now.
func leftAny(had, now *types.Set[socket.Room]) bool {
	if had == nil {
		return false
	}
	for _, r := range had.Keys() {
		if r != PendingRoom && !now.Has(r) {
			return true
		}
	}
	return false
}

// heldRooms returns the rooms a held socket is to have: those it had, or,
// once it joined them (restoreRooms), those it is in; PendingRoom aside.
func (a *isolatingAdapter) heldRooms(id socket.SocketId) (*types.Set[socket.Room], bool) {
	if a.heldN.Load() == 0 {
		return nil, false
	}
	a.heldMu.Lock()
	h, ok := a.held[id]
	var rooms *types.Set[socket.Room]
	if ok {
		rooms = h.rooms
		if h.joined {
			if s, live := a.nsp.Sockets().Load(id); live {
				rooms = s.Rooms()
			}
		}
	}
	a.heldMu.Unlock()
	if !ok {
		return nil, false
	}
	out := types.NewSet[socket.Room]()
	if rooms != nil {
		for _, r := range rooms.Keys() {
			if r != PendingRoom {
				out.Add(r)
			}
		}
	}
	return out, true
}

// dropHold forgets the hold of a socket that leaves.
func (a *isolatingAdapter) dropHold(id socket.SocketId) {
	if a.heldN.Load() == 0 {
		return
	}
	a.heldMu.Lock()
	delete(a.held, id)
	a.heldN.Store(int32(len(a.held)))
	a.heldMu.Unlock()
}

// writeEvent writes an event packet with data to s, as the server library
// writes a broadcast.
func writeEvent(s *socket.Socket, data any) {
	if s.Conn().ReadyState() != "open" {
		return
	}
	p := &parser.Packet{Type: parser.EVENT, Nsp: s.Nsp().Name(), Data: data}
	s.Client().WriteToEngine(s.Nsp().Server().Encoder().Encode(p), &socket.WriteOptions{})
}

// held returns the isolating adapter of s's namespace, which holds s if it
// was restored by connection-state recovery (RestoreSession).
func held(s *socket.Socket) (*isolatingAdapter, bool) {
	a, ok := s.Nsp().Adapter().(*isolatingAdapter)
	return a, ok
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
func installIsolation(server *socket.Server, left func(s *socket.Socket, recoverable bool), closed func(socket.Namespace), protects func(socket.Namespace) bool) *isolation {
	iso := &isolation{inner: server.Adapter(), left: left, closed: closed, protects: protects}
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
