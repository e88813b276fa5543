package core

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifiedCache(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Unix(1_700_000_000, 0)
	var clock atomic.Int64
	clock.Store(now.Unix())
	tick := func() time.Time { return time.Unix(clock.Load(), 0) }
	sign := func(k *ecdsa.PrivateKey, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tok := sign(k1, jwt.MapClaims{"sub": "a", "exp": now.Unix() + 60})
	ctx := context.Background()

	t.Run("static key: hit, and time rules still apply", func(t *testing.T) {
		clock.Store(now.Unix())
		v, err := New(WithPublicKey(&k1.PublicKey), WithVerifiedCache(100), WithClock(tick))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if _, err := v.Verify(ctx, tok, nil); err != nil {
				t.Fatal(err)
			}
		}
		if n := v.cache.len(); n != 1 {
			t.Fatalf("%d entries, want 1", n)
		}
		clock.Store(now.Unix() + 61)
		if _, err := v.Verify(ctx, tok, nil); CodeOf(err) != CodeInvalidToken || AsError(err).Message != "jwt expired" {
			t.Fatalf("cached expired token: %v", err)
		}
	})
	t.Run("tampered token never hits", func(t *testing.T) {
		clock.Store(now.Unix())
		v, _ := New(WithPublicKey(&k1.PublicKey), WithVerifiedCache(100), WithClock(tick))
		if _, err := v.Verify(ctx, tok, nil); err != nil {
			t.Fatal(err)
		}
		bad := tamper(tok)
		if _, err := v.Verify(ctx, bad, nil); AsError(err).Message != "invalid signature" {
			t.Fatalf("tampered: %v", err)
		}
	})
	t.Run("key set rotation drops the entry", func(t *testing.T) {
		clock.Store(now.Unix())
		var current atomic.Pointer[ecdsa.PublicKey]
		current.Store(&k1.PublicKey)
		calls := 0
		v, _ := New(WithKeyFunc(func(context.Context, *KeyRequest) (any, error) {
			calls++
			return current.Load(), nil
		}), WithVerifiedCache(100), WithClock(tick))
		if _, err := v.Verify(ctx, tok, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, tok, nil); err != nil {
			t.Fatal(err)
		}
		current.Store(&k2.PublicKey) // k1 rotated out
		if _, err := v.Verify(ctx, tok, nil); AsError(err).Message != "invalid signature" {
			t.Fatalf("token of a rotated-out key accepted from the cache: %v", err)
		}
		if calls != 4 { // miss, hit, hit refused, miss
			t.Fatalf("key function called %d times, want 4", calls)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		clock.Store(now.Unix())
		v, _ := New(WithPublicKey(&k1.PublicKey), WithVerifiedCache(32), WithClock(tick))
		for i := 0; i < 200; i++ {
			if _, err := v.Verify(ctx, sign(k1, jwt.MapClaims{"sub": fmt.Sprint(i)}), nil); err != nil {
				t.Fatal(err)
			}
		}
		if n := v.cache.len(); n > 32 {
			t.Fatalf("%d entries for a cache of 32", n)
		}
	})
}

// tamper changes one character in the middle of tok's signature, so that
// the decoded signature always differs (a change to the last character may
// only touch padding bits).
func tamper(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 10
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}
