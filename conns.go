package siojwt

import (
	"sync"

	"github.com/zishang520/socket.io/servers/socket/v3"
)

// conns counts the connected sockets of every namespace per underlying
// connection, so that cutting a socket in one namespace never closes a
// connection the client still uses for another. A protected namespace's
// sockets are counted by their sessions (add when connected, remove at
// cleanup), which watch their disconnection anyway; the others by a
// "disconnect" listener of the counter's own.
type conns struct {
	mu        sync.Mutex
	sockets   map[string]int                // connection ID -> connected sockets
	nsps      map[socket.Namespace]struct{} // namespaces counted
	bySession map[socket.Namespace]struct{} // namespaces whose sessions count their sockets
}

// track counts nsp's sockets, once per namespace. Namespaces are told
// apart by identity, not by name: a child of a dynamic namespace that the
// server library closed once empty (CleanupEmptyChildNamespaces) may be
// made again under the same name, and the new one is tracked too.
func (c *conns) track(nsp socket.Namespace) {
	c.mu.Lock()
	c.init()
	if _, ok := c.nsps[nsp]; ok {
		c.mu.Unlock()
		return
	}
	c.nsps[nsp] = struct{}{}
	c.mu.Unlock()
	_ = nsp.On("connection", func(args ...any) {
		s, ok := socketArg(args)
		if !ok {
			return
		}
		id := s.Conn().Id()
		c.mu.Lock()
		_, counted := c.bySession[nsp]
		if !counted {
			c.sockets[id]++
		}
		c.mu.Unlock()
		if counted {
			return
		}
		var once sync.Once
		_ = s.On("disconnect", func(...any) { once.Do(func() { c.remove(id) }) })
	})
}

// countBySession hands the counting of nsp's sockets to their sessions.
func (c *conns) countBySession(nsp socket.Namespace) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	c.bySession[nsp] = struct{}{}
}

// forget drops nsp, which the server library closed: a closed child of a
// dynamic namespace is not kept alive by the counter. Its sockets have
// left; those still to report their disconnection are uncounted by
// connection ID, as before.
func (c *conns) forget(nsp socket.Namespace) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.nsps, nsp)
	delete(c.bySession, nsp)
}

func (c *conns) init() {
	if c.nsps == nil {
		c.nsps, c.sockets, c.bySession = map[socket.Namespace]struct{}{}, map[string]int{}, map[socket.Namespace]struct{}{}
	}
}

// add counts one more socket on connection id.
func (c *conns) add(id string) {
	c.mu.Lock()
	c.sockets[id]++
	c.mu.Unlock()
}

// remove counts one socket less on connection id.
func (c *conns) remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sockets[id]--; c.sockets[id] <= 0 {
		delete(c.sockets, id)
	}
}

// tracked reports whether nsp's sockets are counted, that is whether one
// of nsp's "connection" handlers is the counter's.
func (c *conns) tracked(nsp socket.Namespace) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.nsps[nsp]
	return ok
}

// inUse reports whether the connection still carries a connected socket.
func (c *conns) inUse(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sockets[id] > 0
}
