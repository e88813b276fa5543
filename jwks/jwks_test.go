package jwks

import (
	"context"
	"crypto/elliptic"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/clock"
)

const (
	notFoundMsg    = "signing key not found"
	unavailableMsg = "signing keys unavailable, retry later"
	algMsg         = "invalid algorithm"
)

// TestVerify verifies tokens of every supported algorithm end to end: key
// set fetched over TLS, key chosen by kid, signature checked by core.
func TestVerify(t *testing.T) {
	rsa1 := newRSA(0, "rsa")
	p256 := newEC(t, elliptic.P256(), "p256")
	p384 := newEC(t, elliptic.P384(), "p384")
	p521 := newEC(t, elliptic.P521(), "p521")
	ed := newEd(t, "ed")
	p := newIDP(t, keySet(t, rsa1.jwk(t, nil), p256.jwk(t, nil), p384.jwk(t, nil), p521.jwk(t, nil), ed.jwk(t, nil)))
	v := verifier(t, newSetFor(t, p, clock.NewFake(t0)))
	for _, tt := range []struct {
		alg string
		key signer
	}{
		{"RS256", rsa1}, {"RS384", rsa1}, {"RS512", rsa1}, {"PS256", rsa1}, {"PS512", rsa1},
		{"ES256", p256}, {"ES384", p384}, {"ES512", p521}, {"EdDSA", ed},
	} {
		t.Run(tt.alg, func(t *testing.T) { check(t, v, tt.key.sign(t, tt.alg), "", "") })
	}
	if n := p.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1: known keys must not refetch", n)
	}
}

// TestKeySelection covers the rules that tie a token to a key: kid, the
// JWK's declared alg and use, the curve of an ECDSA key, HMAC tokens,
// tokens without kid.
func TestKeySelection(t *testing.T) {
	a := newRSA(0, "a")
	b := newRSA(1, "b")
	ec := newEC(t, elliptic.P256(), "ec")
	ec384 := newEC(t, elliptic.P384(), "ec384")
	ed := newEd(t, "ed")
	// The HMAC secret an attacker would use: the RSA key's public JWK.
	aPub := []byte(fmt.Sprint(a.jwk(t, nil)["n"]))
	tests := []struct {
		name  string
		set   []map[string]any
		token func(t *testing.T) string
		code  string
		msg   string
	}{
		{name: "kid, declared alg and use", set: []map[string]any{a.jwk(t, map[string]any{"alg": "RS256", "use": "sig"})},
			token: func(t *testing.T) string { return a.sign(t, "RS256") }},
		{name: "ES256 with declared alg", set: []map[string]any{ec.jwk(t, map[string]any{"alg": "ES256"})},
			token: func(t *testing.T) string { return ec.sign(t, "ES256") }},
		{name: "ES384", set: []map[string]any{ec384.jwk(t, nil)},
			token: func(t *testing.T) string { return ec384.sign(t, "ES384") }},
		{name: "EdDSA with declared alg", set: []map[string]any{ed.jwk(t, map[string]any{"alg": "EdDSA"})},
			token: func(t *testing.T) string { return ed.sign(t, "EdDSA") }},
		{name: "declared alg is another RSA alg", set: []map[string]any{a.jwk(t, map[string]any{"alg": "RS256"})},
			token: func(t *testing.T) string { return a.sign(t, "PS256") }, code: core.CodeInvalidToken, msg: algMsg},
		{name: "declared alg ES384, token ES256", set: []map[string]any{ec384.jwk(t, map[string]any{"alg": "ES384"})},
			token: func(t *testing.T) string { return ec.sign(t, "ES256", "ec384") }, code: core.CodeInvalidToken, msg: algMsg},
		{name: "HS256 token naming an RSA kid", set: []map[string]any{a.jwk(t, nil)},
			token: func(t *testing.T) string { return hmacToken(t, "a", aPub) }, code: core.CodeInvalidToken, msg: algMsg},
		{name: "HS256 token naming a published secret", set: []map[string]any{a.jwk(t, nil), {"kty": "oct", "kid": "s", "k": "c2VjcmV0"}},
			token: func(t *testing.T) string { return hmacToken(t, "s", []byte("secret")) }, code: core.CodeInvalidToken, msg: algMsg},
		{name: "HS256 token with an unknown kid", set: []map[string]any{a.jwk(t, nil)},
			token: func(t *testing.T) string { return hmacToken(t, "zzz", []byte("secret")) }, code: core.CodeInvalidToken, msg: algMsg},
		{name: "ES384 token naming a P-256 key", set: []map[string]any{ec.jwk(t, nil)},
			token: func(t *testing.T) string { return newEC(t, elliptic.P384(), "ec").sign(t, "ES384") }, code: core.CodeInvalidToken, msg: algMsg},
		{name: "ES256 token naming a P-384 key", set: []map[string]any{ec384.jwk(t, nil)},
			token: func(t *testing.T) string { return ec.sign(t, "ES256", "ec384") }, code: core.CodeInvalidToken, msg: algMsg},
		{name: "RS256 token naming an EC key", set: []map[string]any{ec.jwk(t, nil)},
			token: func(t *testing.T) string { return a.sign(t, "RS256", "ec") }, code: core.CodeInvalidToken, msg: algMsg},
		{name: "EdDSA token naming an RSA key", set: []map[string]any{a.jwk(t, nil)},
			token: func(t *testing.T) string { return ed.sign(t, "EdDSA", "a") }, code: core.CodeInvalidToken, msg: algMsg},
		{name: "kid of another key", set: []map[string]any{a.jwk(t, nil), b.jwk(t, nil)},
			token: func(t *testing.T) string { return a.sign(t, "RS256", "b") }, code: core.CodeInvalidToken, msg: "invalid signature"},
		{name: "unknown kid", set: []map[string]any{a.jwk(t, nil)},
			token: func(t *testing.T) string { return a.sign(t, "RS256", "nope") }, code: core.CodeInvalidSecret, msg: notFoundMsg},
		{name: "kid not a string", set: []map[string]any{a.jwk(t, nil)},
			token: func(t *testing.T) string { return a.signHeader(t, "RS256", map[string]any{"kid": 7}) }, code: core.CodeInvalidSecret, msg: notFoundMsg},
		{name: "use enc with the token's kid", set: []map[string]any{b.jwk(t, nil), a.jwk(t, map[string]any{"use": "enc"})},
			token: func(t *testing.T) string { return a.sign(t, "RS256") }, code: core.CodeInvalidSecret, msg: notFoundMsg},
		{name: "key_ops without verify", set: []map[string]any{b.jwk(t, nil), a.jwk(t, map[string]any{"key_ops": []string{"encrypt"}})},
			token: func(t *testing.T) string { return a.sign(t, "RS256") }, code: core.CodeInvalidSecret, msg: notFoundMsg},
		{name: "no kid, one key", set: []map[string]any{a.jwk(t, map[string]any{"kid": nil})},
			token: func(t *testing.T) string { return a.sign(t, "RS256", "-") }},
		{name: "no kid, one key per family", set: []map[string]any{a.jwk(t, nil), ec.jwk(t, nil)},
			token: func(t *testing.T) string { return ec.sign(t, "ES256", "-") }},
		{name: "no kid, EC keys on two curves", set: []map[string]any{ec384.jwk(t, nil), ec.jwk(t, nil)},
			token: func(t *testing.T) string { return ec.sign(t, "ES256", "-") }},
		{name: "no kid, two RSA keys", set: []map[string]any{a.jwk(t, nil), b.jwk(t, nil)},
			token: func(t *testing.T) string { return a.sign(t, "RS256", "-") }, code: core.CodeInvalidSecret, msg: notFoundMsg},
		{name: "no kid, the one key declares another alg", set: []map[string]any{a.jwk(t, map[string]any{"alg": "PS256"})},
			token: func(t *testing.T) string { return a.sign(t, "RS256", "-") }, code: core.CodeInvalidSecret, msg: notFoundMsg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newIDP(t, keySet(t, tt.set...))
			v := verifier(t, newSetFor(t, p, clock.NewFake(t0)))
			check(t, v, tt.token(t), tt.code, tt.msg)
			// The first fetch, and one more for a token whose key is
			// not in it; then the cooldown holds the others.
			n := p.hits.Load()
			if n > 2 {
				t.Fatalf("%d fetches, want at most 2", n)
			}
			check(t, v, tt.token(t), tt.code, tt.msg)
			if again := p.hits.Load(); again != n {
				t.Fatalf("%d fetches after the same token again, want %d", again, n)
			}
		})
	}
}

// TestRotation: a new key is picked up on its first token, a withdrawn key
// stops verifying at the next fetch, also for tokens in the verified cache.
func TestRotation(t *testing.T) {
	old, cur := newRSA(0, "old"), newRSA(1, "new")
	p := newIDP(t, keySet(t, old.jwk(t, nil)))
	clk := clock.NewFake(t0)
	s := newSetFor(t, p, clk)
	v := verifier(t, s, core.WithVerifiedCache(100))
	oldTok := old.sign(t, "RS256")
	check(t, v, oldTok, "", "")
	check(t, v, oldTok, "", "") // from the verified cache

	// The issuer publishes the new key and signs with it at once.
	p.serve(keySet(t, old.jwk(t, nil), cur.jwk(t, nil)))
	clk.Advance(DefaultCooldown)
	check(t, v, cur.sign(t, "RS256"), "", "")
	if n := p.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	check(t, v, oldTok, "", "") // both keys are in the set

	// The issuer withdraws the old key; the next fetch drops it.
	p.serve(keySet(t, cur.jwk(t, nil)))
	clk.Advance(DefaultRefreshInterval)
	settle(t, s)
	if n := p.hits.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
	check(t, v, oldTok, core.CodeInvalidSecret, notFoundMsg)
	check(t, v, cur.sign(t, "RS256"), "", "")

	// Refresh forces a fetch whatever the cooldown.
	p.serve(keySet(t, old.jwk(t, nil)))
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	check(t, v, oldTok, "", "")
	check(t, v, cur.sign(t, "RS256"), core.CodeInvalidSecret, notFoundMsg)
}

// TestRotationRightAfterAFetch: a key the issuer starts using is picked up
// on its first token, however recent the last fetch that was not for an
// unknown kid (the first, a background refresh, Refresh); the cooldown
// spaces the refetches for unknown kids only.
func TestRotationRightAfterAFetch(t *testing.T) {
	keys := []signer{newRSA(0, "k0"), newRSA(1, "k1"), newRSA(2, "k2"), newEd(t, "k3")}
	var published []map[string]any
	p := newIDP(t, nil)
	publish := func(i int) {
		published = append(published, keys[i].jwk(t, nil))
		p.serve(keySet(t, published...))
	}
	publish(0)
	clk := clock.NewFake(t0)
	s := newSetFor(t, p, clk, WithRefreshInterval(time.Hour))
	v := verifier(t, s)
	fetches := func(want int32) {
		t.Helper()
		if n := p.hits.Load(); n != want {
			t.Fatalf("%d fetches, want %d", n, want)
		}
	}
	fetches(1)

	// 2 s after the first fetch, the issuer rotates: its first token is
	// accepted at once.
	clk.Advance(2 * time.Second)
	publish(1)
	check(t, v, keys[1].sign(t, "RS256"), "", "")
	fetches(2)
	// A made-up kid within the cooldown of that refetch: refused, no fetch.
	clk.Advance(time.Second)
	check(t, v, keys[0].sign(t, "RS256", "made-up"), core.CodeInvalidSecret, notFoundMsg)
	fetches(2)

	// Right after a background refresh, due an interval after the last
	// fetch.
	clk.Advance(time.Hour - time.Second)
	settle(t, s)
	fetches(3)
	clk.Advance(time.Second)
	publish(2)
	check(t, v, keys[2].sign(t, "RS256"), "", "")
	fetches(4)

	// Right after Refresh.
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	fetches(5)
	clk.Advance(DefaultCooldown) // the refetch for keys[2] no longer holds
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	fetches(6)
	publish(3)
	check(t, v, keys[3].sign(t, "EdDSA"), "", "")
	fetches(7)
}

// TestRotationDuringABackgroundFetch: a token whose key is published while
// a background fetch is in flight waits for that fetch, then, the key not
// being in it, makes one refetch of its own and is accepted.
func TestRotationDuringABackgroundFetch(t *testing.T) {
	old, cur := newRSA(0, "old"), newRSA(1, "new")
	p := newIDP(t, keySet(t, old.jwk(t, nil)))
	clk := clock.NewFake(t0)
	s := newSetFor(t, p, clk, WithRefreshInterval(time.Hour))
	v := verifier(t, s)

	release := p.holdRequests()
	defer release()
	clk.Advance(time.Hour) // the background fetch starts, and gets the old set
	eventually(t, "the background fetch to reach the server", func() bool { return p.waiting.Load() == 1 })
	p.serve(keySet(t, old.jwk(t, nil), cur.jwk(t, nil)))
	got := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), cur.sign(t, "RS256"), nil)
		got <- err
	}()
	// The token joins the background fetch, which is then let go; it
	// gets no key from it, and a fetch of its own follows.
	eventually(t, "the token to wait for the background fetch", func() bool { return s.sources[0].waiting.Load() == 1 })
	release()
	if err := <-got; err != nil {
		t.Fatalf("the new key's token was refused: %v", err)
	}
	if n := p.hits.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3 (the first, the background one, one for the token)", n)
	}
}

// TestNoSecondFetchAfterAFailedOne: a token that joins a background fetch
// which fails is refused with keyset_unavailable at once, without a second
// fetch that would double its wait.
func TestNoSecondFetchAfterAFailedOne(t *testing.T) {
	old, cur := newRSA(0, "old"), newRSA(1, "new")
	p := newIDP(t, keySet(t, old.jwk(t, nil)))
	clk := clock.NewFake(t0)
	s := newSetFor(t, p, clk, WithRefreshInterval(time.Hour))
	v := verifier(t, s)

	p.setStatus(http.StatusInternalServerError)
	release := p.holdRequests()
	defer release()
	clk.Advance(time.Hour)
	eventually(t, "the background fetch to reach the server", func() bool { return p.waiting.Load() == 1 })
	got := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), cur.sign(t, "RS256"), nil)
		got <- err
	}()
	eventually(t, "the token to wait for the background fetch", func() bool { return s.sources[0].waiting.Load() == 1 })
	release()
	if e := core.AsError(<-got); e == nil || e.Code != core.CodeKeySetUnavailable {
		t.Fatalf("got %v, want keyset_unavailable", e)
	}
	if n := p.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (the first, the background one)", n)
	}
}

// TestCooldown: tokens with made-up kids cause at most one fetch per
// cooldown, however many arrive, and known keys are unaffected.
func TestCooldown(t *testing.T) {
	k := newEC(t, elliptic.P256(), "k")
	p := newIDP(t, keySet(t, k.jwk(t, nil)))
	clk := clock.NewFake(t0)
	s := newSetFor(t, p, clk, WithCooldown(time.Minute))
	v := verifier(t, s)
	flood := func() {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				tok := k.sign(t, "ES256", fmt.Sprintf("made-up-%d", i))
				check(t, v, tok, core.CodeInvalidSecret, notFoundMsg)
			})
		}
		wg.Wait()
	}
	for _, step := range []struct {
		advance time.Duration
		hits    int32
	}{
		{0, 2},                // one refetch for the whole flood, right after the first fetch
		{59 * time.Second, 2}, // within the cooldown of that refetch
		{time.Second, 3},      // one fetch for the whole flood
		{30 * time.Second, 3}, // within the cooldown of that one
		{30 * time.Second, 4},
	} {
		clk.Advance(step.advance)
		flood()
		if n := p.hits.Load(); n != step.hits {
			t.Fatalf("after %v: %d fetches, want %d", step.advance, n, step.hits)
		}
	}
	check(t, v, k.sign(t, "ES256"), "", "")
}

// TestOneFetchInFlight: 100 connections whose key is not cached share one
// request, wait for it, and all get the key it brings.
func TestOneFetchInFlight(t *testing.T) {
	old, cur := newEC(t, elliptic.P256(), "old"), newEC(t, elliptic.P256(), "new")
	p := newIDP(t, keySet(t, old.jwk(t, nil)))
	clk := clock.NewFake(t0)
	v := verifier(t, newSetFor(t, p, clk))
	p.serve(keySet(t, old.jwk(t, nil), cur.jwk(t, nil)))
	clk.Advance(DefaultCooldown)

	release := p.holdRequests()
	defer release()
	tok := cur.sign(t, "ES256")
	const n = 100
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range n {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), tok, nil); err == nil {
				ok.Add(1)
			} else {
				t.Error(err)
			}
		})
	}
	eventually(t, "the refetch to reach the server", func() bool { return p.waiting.Load() == 1 })
	time.Sleep(50 * time.Millisecond) // time for the others to send a request, were they to
	release()
	wg.Wait()
	if got := p.hits.Load(); got != 2 {
		t.Fatalf("%d fetches, want 2 (the first, then one for %d connections)", got, n)
	}
	if got := ok.Load(); got != n {
		t.Fatalf("%d of %d verified", got, n)
	}
}

// TestOutage: while the key server answers 500, cached keys keep verifying
// and a token whose key is not cached gets keyset_unavailable, with the
// reason in the hook, the log and Err, never in Message; when it is back,
// the retry brings the new key.
func TestOutage(t *testing.T) {
	old, cur := newRSA(0, "old"), newRSA(1, "new")
	p := newIDP(t, keySet(t, old.jwk(t, nil)))
	clk := clock.NewFake(t0)
	var rec recorder
	var logs logBuffer
	s := newSetFor(t, p, clk, WithFetchHook(rec.hook), WithLogger(logs.logger(slog.LevelWarn)))
	v := verifier(t, s)

	p.setStatus(http.StatusInternalServerError)
	clk.Advance(DefaultCooldown)
	_, err := v.Verify(context.Background(), cur.sign(t, "RS256"), nil)
	e := core.AsError(err)
	if e == nil || e.Code != core.CodeKeySetUnavailable || e.Message != unavailableMsg {
		t.Fatalf("got %v, want keyset_unavailable", err)
	}
	if !strings.Contains(e.Err.Error(), "500") {
		t.Fatalf("Err does not say what failed: %v", e.Err)
	}
	check(t, v, old.sign(t, "RS256"), "", "")                                     // cached keys keep verifying
	check(t, v, cur.sign(t, "RS256"), core.CodeKeySetUnavailable, unavailableMsg) // within the cooldown: no fetch
	if n := p.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "500") {
		t.Fatalf("log: %q", logs.String())
	}

	// Back, with the new key. The timer retries the failed fetch after
	// the cooldown.
	p.setStatus(http.StatusOK)
	p.serve(keySet(t, old.jwk(t, nil), cur.jwk(t, nil)))
	check(t, v, cur.sign(t, "RS256"), core.CodeKeySetUnavailable, unavailableMsg) // still within the cooldown
	clk.Advance(DefaultCooldown)
	settle(t, s)
	check(t, v, cur.sign(t, "RS256"), "", "")
	if n := p.hits.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}

	errs := rec.all()
	if len(errs) != 3 || errs[0] != nil || errs[1] == nil || errs[2] != nil {
		t.Fatalf("hook got %v, want [nil, error, nil]", errs)
	}
	if !strings.Contains(errs[1].Error(), "500") {
		t.Fatalf("the hook's error does not say what failed: %v", errs[1])
	}
}

// TestSlowKeyServer: a key server that does not answer cannot hold a
// connection longer than the fetch timeout, nor a caller longer than its
// context, and the refusal says to retry.
func TestSlowKeyServer(t *testing.T) {
	old, cur := newRSA(0, "old"), newRSA(1, "new")
	t.Run("fetch timeout", func(t *testing.T) {
		p := newIDP(t, keySet(t, old.jwk(t, nil)))
		clk := clock.NewFake(t0)
		// The fetch timeout also bounds the first fetch, in New: 1 s leaves
		// it room on a loaded machine.
		v := verifier(t, newSetFor(t, p, clk, WithFetchTimeout(time.Second)))
		release := p.holdRequests()
		defer release()
		clk.Advance(DefaultCooldown)
		start := time.Now()
		check(t, v, cur.sign(t, "RS256"), core.CodeKeySetUnavailable, unavailableMsg)
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("refused after %v", d)
		}
		// The cause tells a timeout from a key server's own failure.
		if _, err := v.Verify(context.Background(), cur.sign(t, "RS256"), nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("cause %v, want one that wraps context.DeadlineExceeded", err)
		}
		check(t, v, old.sign(t, "RS256"), "", "")
	})
	// Through a verifier, the verifier's own key timeout answers first
	// when it is the shorter: what Key answers shows when it is called
	// directly.
	t.Run("caller's context", func(t *testing.T) {
		p := newIDP(t, keySet(t, old.jwk(t, nil)))
		clk := clock.NewFake(t0)
		s := newSetFor(t, p, clk)
		release := p.holdRequests()
		defer release()
		clk.Advance(DefaultCooldown)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.Key(ctx, &core.KeyRequest{Header: map[string]any{"alg": "RS256", "kid": "new"}})
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("refused after %v", d)
		}
		if e := core.AsError(err); e.Code != core.CodeKeySetUnavailable || e.Message != unavailableMsg || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want keyset_unavailable", err)
		}
		// The fetch goes on for the others, bounded by the fetch timeout.
		release()
		if err := s.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Key(context.Background(), &core.KeyRequest{Header: map[string]any{"alg": "RS256", "kid": "old"}}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestBackgroundRefresh: each key set is fetched every refresh interval,
// and a failed refresh is retried after the cooldown.
func TestBackgroundRefresh(t *testing.T) {
	old, cur := newEd(t, "old"), newEd(t, "new")
	p := newIDP(t, keySet(t, old.jwk(t, nil)))
	clk := clock.NewFake(t0)
	s := newSetFor(t, p, clk, WithRefreshInterval(time.Hour), WithCooldown(time.Minute))
	v := verifier(t, s)

	p.serve(keySet(t, cur.jwk(t, nil)))
	clk.Advance(59 * time.Minute)
	check(t, v, old.sign(t, "EdDSA"), "", "")
	clk.Advance(time.Minute)
	settle(t, s)
	if n := p.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	check(t, v, old.sign(t, "EdDSA"), core.CodeInvalidSecret, notFoundMsg) // after one refetch
	check(t, v, cur.sign(t, "EdDSA"), "", "")
	if n := p.hits.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}

	p.setStatus(http.StatusInternalServerError)
	clk.Advance(time.Hour)
	settle(t, s)
	if lastErr(s) == nil {
		t.Fatal("the refresh did not fail")
	}
	check(t, v, cur.sign(t, "EdDSA"), "", "") // kept through the failure
	p.setStatus(http.StatusOK)
	clk.Advance(time.Minute)
	settle(t, s)
	if n := p.hits.Load(); n != 5 || lastErr(s) != nil {
		t.Fatalf("%d fetches, last error %v; want 5, nil", n, lastErr(s))
	}
}

// TestBackgroundStart: with WithBackgroundStart the Set starts while the
// key server is down, refuses with keyset_unavailable meanwhile, and
// retries by itself.
func TestBackgroundStart(t *testing.T) {
	k := newEC(t, elliptic.P384(), "k")
	p := newIDP(t, keySet(t, k.jwk(t, nil)))
	p.setStatus(http.StatusServiceUnavailable)
	if _, err := New(context.Background(), p.url(), WithHTTPClient(p.srv.Client())); err == nil {
		t.Fatal("New succeeded without a key set")
	}
	clk := clock.NewFake(t0)
	s := newSetFor(t, p, clk, WithBackgroundStart())
	v := verifier(t, s)
	settle(t, s)
	check(t, v, k.sign(t, "ES384"), core.CodeKeySetUnavailable, unavailableMsg)
	p.setStatus(http.StatusOK)
	clk.Advance(DefaultCooldown)
	settle(t, s)
	check(t, v, k.sign(t, "ES384"), "", "")
}

// TestBackgroundStartWaits: a token arriving during the first fetch waits
// for it rather than being refused.
func TestBackgroundStartWaits(t *testing.T) {
	k := newEC(t, elliptic.P256(), "k")
	p := newIDP(t, keySet(t, k.jwk(t, nil)))
	release := p.holdRequests()
	defer release()
	s := newSetFor(t, p, clock.NewFake(t0), WithBackgroundStart())
	v := verifier(t, s)
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), k.sign(t, "ES256"), nil)
		done <- err
	}()
	eventually(t, "the first fetch to reach the server", func() bool { return p.waiting.Load() == 1 })
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := p.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

// TestKeep: keys that cannot or must not verify are left out of a fetched
// set, the others kept; a document that is not a key set, or whose keys
// all are left out, fails the fetch.
func TestKeep(t *testing.T) {
	r := newRSA(0, "r")
	ec := newEC(t, elliptic.P256(), "ec")
	good := ec.jwk(t, nil)
	fetch := func(t *testing.T, doc []byte) ([]string, []skipped, error) {
		t.Helper()
		cfg, err := newConfig([]Option{WithHTTPClient(serveDoc(http.StatusOK, doc))})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := newClient(cfg)
		keys, skips, err := load(context.Background(), cfg, c, "https://idp.example/keys")
		var kids []string
		for _, k := range keys {
			kids = append(kids, k.Marshal().KID)
		}
		return kids, skips, err
	}
	tests := []struct {
		name   string
		jwk    map[string]any
		keep   bool
		secret bool
	}{
		{name: "RSA", jwk: r.jwk(t, nil), keep: true},
		{name: "use sig", jwk: r.jwk(t, map[string]any{"use": "sig"}), keep: true},
		{name: "key_ops verify", jwk: r.jwk(t, map[string]any{"key_ops": []string{"verify"}}), keep: true},
		{name: "alg RS256", jwk: r.jwk(t, map[string]any{"alg": "RS256"}), keep: true},
		{name: "use enc", jwk: r.jwk(t, map[string]any{"use": "enc"})},
		{name: "use enc, alg RSA-OAEP (Keycloak)", jwk: r.jwk(t, map[string]any{"use": "enc", "alg": "RSA-OAEP"})},
		{name: "key_ops encrypt", jwk: r.jwk(t, map[string]any{"key_ops": []string{"encrypt"}})},
		{name: "unregistered use", jwk: r.jwk(t, map[string]any{"use": "other"})},
		{name: "alg of another key type", jwk: r.jwk(t, map[string]any{"alg": "ES256"})},
		{name: "encryption alg", jwk: r.jwk(t, map[string]any{"alg": "RSA-OAEP"})},
		{name: "private RSA", jwk: r.privateJWK(t), secret: true},
		{name: "private EC", jwk: newEC(t, elliptic.P384(), "p").privateJWK(t), secret: true},
		{name: "private Ed25519", jwk: newEd(t, "e").privateJWK(t), secret: true},
		{name: "symmetric", jwk: map[string]any{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}, secret: true},
		{name: "X25519", jwk: map[string]any{"kty": "OKP", "crv": "X25519", "kid": "x", "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kids, skips, err := fetch(t, keySet(t, good, tt.jwk))
			if err != nil {
				t.Fatal(err)
			}
			if kept := len(kids) == 2; kept != tt.keep {
				t.Fatalf("kept %v, want %v (%+v)", kids, tt.keep, skips)
			}
			if !tt.keep && (len(skips) != 1 || skips[0].secret != tt.secret || skips[0].reason == "") {
				t.Fatalf("skipped %+v, want one with secret=%v", skips, tt.secret)
			}
		})
	}
	for _, tt := range []struct {
		name string
		doc  string
		want error // nil: any error
	}{
		{name: "not JSON", doc: "<html>"},
		{name: "an array", doc: "[]"},
		{name: "keys not an array", doc: `{"keys": {}}`},
		{name: "no keys member", doc: `{}`, want: errNoKeys},
		{name: "empty set", doc: `{"keys": []}`, want: errNoKeys},
		{name: "nothing usable", doc: string(keySet(t, r.jwk(t, map[string]any{"use": "enc"}))), want: errNoKeys},
		{name: "EC point off the curve", doc: string(keySet(t, r.jwk(t, nil), ec.jwk(t, map[string]any{"y": good["x"]})))},
		{name: "RSA without n", doc: string(keySet(t, ec.jwk(t, nil), r.jwk(t, map[string]any{"n": nil})))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := fetch(t, []byte(tt.doc))
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestSecretKeyLogged: a key set that publishes private material is
// reported as an error, not at debug level, and the key is not used.
func TestSecretKeyLogged(t *testing.T) {
	r, leak := newRSA(0, "r"), newRSA(1, "leak")
	p := newIDP(t, keySet(t, r.jwk(t, nil), leak.privateJWK(t)))
	var logs logBuffer
	s := newSetFor(t, p, clock.NewFake(t0), WithLogger(logs.logger(slog.LevelError)))
	if !strings.Contains(logs.String(), "secret key material") || !strings.Contains(logs.String(), "kid=leak") {
		t.Fatalf("log: %q", logs.String())
	}
	check(t, verifier(t, s), leak.sign(t, "RS256"), core.CodeInvalidSecret, notFoundMsg)
}
