package siojwt

import (
	"sync"

	"github.com/zishang520/socket.io/servers/socket/v3"
)

// conns counts the connected sockets of every namespace per underlying
// connection, so that cutting a socket in one namespace never closes a
// connection the client still uses for another.
type conns struct {
	mu      sync.Mutex
	sockets map[string]int      // connection ID -> connected sockets
	nsps    map[string]struct{} // namespaces counted
}

// track counts nsp's sockets, once per namespace.
func (c *conns) track(nsp socket.Namespace) {
	c.mu.Lock()
	if c.nsps == nil {
		c.nsps, c.sockets = map[string]struct{}{}, map[string]int{}
	}
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
		c.sockets[id]++
		c.mu.Unlock()
		var once sync.Once
		_ = s.On("disconnect", func(...any) {
			once.Do(func() {
				c.mu.Lock()
				defer c.mu.Unlock()
				if c.sockets[id]--; c.sockets[id] <= 0 {
					delete(c.sockets, id)
				}
			})
		})
	})
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
