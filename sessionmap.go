package siojwt

import (
	"sync"
	"unsafe"

	"github.com/zishang520/socket.io/servers/socket/v3"
)

// sessionShards is how many parts sessionMap splits its sockets into:
// enough that the sockets of a busy server seldom wait on one another's
// lock.
const (
	sessionShardBits = 6
	sessionShards    = 1 << sessionShardBits
)

// sessionMap is the Auth's sessions by socket: plain maps, each under a
// lock of its own, chosen by the socket's address. A sync.Map kept about
// 100 bytes per socket in the nodes of its trie; a plain map keeps a
// 16-byte slot and its share of the table. Reads take a read lock of one
// shard: an event of a socket never waits on another shard's writes. The
// zero value is ready for use.
type sessionMap struct {
	shards [sessionShards]sessionShard
}

type sessionShard struct {
	mu sync.RWMutex
	m  map[*socket.Socket]*session
	_  [32]byte // to a cache line of its own, with mu and m
}

// shard is the socket's shard: its address, Fibonacci-hashed to
// sessionShardBits (Go does not move heap objects, and the map's own key
// is the pointer).
func (m *sessionMap) shard(s *socket.Socket) *sessionShard {
	return &m.shards[uint64(uintptr(unsafe.Pointer(s)))*0x9E3779B97F4A7C15>>(64-sessionShardBits)]
}

// load returns the socket's session.
func (m *sessionMap) load(s *socket.Socket) (*session, bool) {
	sh := m.shard(s)
	sh.mu.RLock()
	ss, ok := sh.m[s]
	sh.mu.RUnlock()
	return ss, ok
}

// store makes ss the socket's session.
func (m *sessionMap) store(s *socket.Socket, ss *session) {
	sh := m.shard(s)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = map[*socket.Socket]*session{}
	}
	sh.m[s] = ss
	sh.mu.Unlock()
}

// delete forgets the socket's session.
func (m *sessionMap) delete(s *socket.Socket) {
	sh := m.shard(s)
	sh.mu.Lock()
	delete(sh.m, s)
	sh.mu.Unlock()
}

// each calls fn for every session, one shard at a time, outside the
// shard's lock: fn may store or delete.
func (m *sessionMap) each(fn func(*session)) {
	var batch []*session
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		batch = batch[:0]
		for _, ss := range sh.m {
			batch = append(batch, ss)
		}
		sh.mu.RUnlock()
		for _, ss := range batch {
			fn(ss)
		}
	}
}

// len is the number of sessions.
func (m *sessionMap) len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
