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
	sockets   map[string]int      // connection ID -> connected sockets
	nsps      map[string]struct{} // namespaces counted
	bySession map[string]struct{} // namespaces whose sessions count their sockets
}

// track counts nsp's sockets, once per namespace.
func (c *conns) track(nsp socket.Namespace) {
	c.mu.Lock()
	c.init()
	if _, ok := c.nsps[nsp.Name()]; ok {
		c.mu.Unlock()
		return
	}
	c.nsps[nsp.Name()] = struct{}{}
	c.mu.Unlock()
	_ = nsp.On("connection", func(args ...any) {
		s, ok := socketArg(args)
		if !ok {
			return
		}
		id := s.Conn().Id()
		c.mu.Lock()
		_, counted := c.bySession[nsp.Name()]
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
	c.bySession[nsp.Name()] = struct{}{}
}

func (c *conns) init() {
	if c.nsps == nil {
		c.nsps, c.sockets, c.bySession = map[string]struct{}{}, map[string]int{}, map[string]struct{}{}
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
	_, ok := c.nsps[nsp.Name()]
	return ok
}

// inUse reports whether the connection still carries a connected socket.
func (c *conns) inUse(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sockets[id] > 0
}
