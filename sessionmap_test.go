package siojwt

import (
	"sync"
	"testing"

	"github.com/zishang520/socket.io/servers/socket/v3"
)

// TestSessionMap stores, reads and deletes the sessions of many sockets
// from several goroutines (run it with -race), checks that each socket
// finds its own session, that the sockets spread over the shards, and
// that each visits every session once.
func TestSessionMap(t *testing.T) {
	var m sessionMap
	const perG, gs = 500, 4
	socks := make([][]*socket.Socket, gs)
	var wg sync.WaitGroup
	for g := range gs {
		socks[g] = make([]*socket.Socket, perG)
		wg.Go(func() {
			for i := range socks[g] {
				s := new(socket.Socket)
				socks[g][i] = s
				m.store(s, &session{s: s})
				if ss, ok := m.load(s); !ok || ss.s != s {
					t.Errorf("socket %d of %d: load after store gave %v, %v", i, g, ss, ok)
				}
			}
		})
	}
	wg.Wait()
	if n := m.len(); n != perG*gs {
		t.Fatalf("len %d, want %d", n, perG*gs)
	}
	used := 0
	for i := range m.shards {
		if len(m.shards[i].m) > 0 {
			used++
		}
	}
	if used < sessionShards/2 {
		t.Fatalf("%d sockets in %d of %d shards", perG*gs, used, sessionShards)
	}
	seen := map[*socket.Socket]int{}
	m.each(func(ss *session) {
		seen[ss.s]++
		m.delete(ss.s) // each runs outside the shard's lock
	})
	if len(seen) != perG*gs {
		t.Fatalf("each visited %d sessions, want %d", len(seen), perG*gs)
	}
	for s, n := range seen {
		if n != 1 {
			t.Fatalf("socket %p visited %d times", s, n)
		}
	}
	if n := m.len(); n != 0 {
		t.Fatalf("%d sessions left after deleting every one", n)
	}
	if _, ok := m.load(socks[0][0]); ok {
		t.Fatal("a deleted session still loads")
	}
}
