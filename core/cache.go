package core

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"hash/maphash"
	"sync"
)

// WithVerifiedCache remembers up to n tokens whose signature verified, so
// that a client reconnecting with a token seen before skips the signature
// check (the costly part of RS256 and ES256). Everything else still runs on
// every use: size and shape checks, the time rules (exp, nbf, max age),
// audience, issuer, the claims transform, the checks, and, in the binding,
// revocation. An entry is used only when the token is byte-for-byte the same
// and the key that verified it is still the key the verifier (or the key
// function, for a key set) returns for it: a rotated key set drops it. Only
// a token's canonical spelling verifies, so a token has one entry, never one
// per spelling.
// When full, an arbitrary entry is evicted. Off by default.
func WithVerifiedCache(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return errors.New("core: cache size must be positive")
		}
		c.cacheSize = n
		return nil
	}
}

type cacheEntry struct {
	token  string
	header map[string]any
	claims *Claims
	key    any
}

// verifiedCache is a bounded set of verified tokens, sharded to keep lock
// contention low.
type verifiedCache struct {
	seed   maphash.Seed
	shards [16]cacheShard
	per    int
}

type cacheShard struct {
	mu sync.Mutex
	m  map[uint64]*cacheEntry
}

func newVerifiedCache(n int) *verifiedCache {
	c := &verifiedCache{seed: maphash.MakeSeed(), per: (n + 15) / 16}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*cacheEntry)
	}
	return c
}

func (c *verifiedCache) shard(h uint64) *cacheShard { return &c.shards[h%16] }

func (c *verifiedCache) get(token string) (*cacheEntry, uint64) {
	h := maphash.String(c.seed, token)
	s := c.shard(h)
	s.mu.Lock()
	e := s.m[h]
	s.mu.Unlock()
	if e == nil || e.token != token {
		return nil, h
	}
	return e, h
}

func (c *verifiedCache) put(h uint64, e *cacheEntry) {
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[h]; !ok && len(s.m) >= c.per {
		for k := range s.m { // evict an arbitrary entry
			delete(s.m, k)
			break
		}
	}
	s.m[h] = e
}

func (c *verifiedCache) drop(h uint64) {
	s := c.shard(h)
	s.mu.Lock()
	delete(s.m, h)
	s.mu.Unlock()
}

// len returns the number of entries.
func (c *verifiedCache) len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.Lock()
		n += len(c.shards[i].m)
		c.shards[i].mu.Unlock()
	}
	return n
}

// sameKey reports whether two verification keys are the same key.
func sameKey(a, b any) bool {
	switch x := a.(type) {
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case *rsa.PublicKey:
		y, ok := b.(*rsa.PublicKey)
		return ok && x.Equal(y)
	case *ecdsa.PublicKey:
		y, ok := b.(*ecdsa.PublicKey)
		return ok && x.Equal(y)
	case ed25519.PublicKey:
		y, ok := b.(ed25519.PublicKey)
		return ok && x.Equal(y)
	}
	return false
}
