package jwks

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/clock"
)

const (
	notFound    = "signing key not found"
	unavailable = "signing keys unavailable, retry later"
)

// TestVerify verifies tokens of every supported algorithm end to end:
// key set fetched over TLS, key chosen by kid, signature checked by core.
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
// JWK's declared alg, the curve of an ECDSA key, tokens without kid.
func TestKeySelection(t *testing.T) {
	a := newRSA(0, "a")
	b := newRSA(1, "b")
	ec := newEC(t, elliptic.P256(), "ec")
	ec384 := newEC(t, elliptic.P384(), "ec384")
	tests := []struct {
		name  string
		set   []map[string]any
		token func(t *testing.T) string
		code  string
		msg   string
	}{
		{name: "kid and declared alg", set: []map[string]any{a.jwk(t, map[string]any{"alg": "RS256", "use": "sig"})},
			token: func(t *testing.T) string { return a.sign(t, "RS256") }},
		{name: "declared alg is another RSA alg", set: []map[string]any{a.jwk(t, map[string]any{"alg": "RS256"})},
			token: func(t *testing.T) string { return a.sign(t, "PS256") }, code: core.CodeInvalidToken, msg: "invalid algorithm"},
		{name: "HS256 token naming an RSA kid", set: []map[string]any{a.jwk(t, nil)},
			token: func(t *testing.T) string { return hmacToken(t, "a") }, code: core.CodeInvalidToken, msg: "invalid algorithm"},
		{name: "HS256 token with an unknown kid", set: []map[string]any{a.jwk(t, nil)},
			token: func(t *testing.T) string { return hmacToken(t, "zzz") }, code: core.CodeInvalidToken, msg: "invalid algorithm"},
		{name: "ES384 token naming a P-256 key", set: []map[string]any{ec.jwk(t, nil)},
			token: func(t *testing.T) string { return newEC(t, elliptic.P384(), "ec").sign(t, "ES384") }, code: core.CodeInvalidToken, msg: "invalid algorithm"},
		{name: "ES256 token naming a P-384 key", set: []map[string]any{ec384.jwk(t, nil)},
			token: func(t *testing.T) string { return ec.sign(t, "ES256", "ec384") }, code: core.CodeInvalidToken, msg: "invalid algorithm"},
		{name: "no kid, EC keys on two curves", set: []map[string]any{ec384.jwk(t, nil), ec.jwk(t, nil)},
			token: func(t *testing.T) string { return ec.sign(t, "ES256", "-") }},
		{name: "RS256 token naming an EC key", set: []map[string]any{ec.jwk(t, nil)},
			token: func(t *testing.T) string { return a.sign(t, "RS256", "ec") }, code: core.CodeInvalidToken, msg: "invalid algorithm"},
		{name: "kid of another key", set: []map[string]any{a.jwk(t, nil), b.jwk(t, nil)},
			token: func(t *testing.T) string { return a.sign(t, "RS256", "b") }, code: core.CodeInvalidToken, msg: "invalid signature"},
		{name: "unknown kid", set: []map[string]any{a.jwk(t, nil)},
			token: func(t *testing.T) string { return a.sign(t, "RS256", "nope") }, code: core.CodeInvalidSecret, msg: notFound},
		{name: "no kid, one key", set: []map[string]any{a.jwk(t, map[string]any{"kid": nil})},
			token: func(t *testing.T) string { return a.sign(t, "RS256", "-") }},
		{name: "no kid, one key per family", set: []map[string]any{a.jwk(t, nil), ec.jwk(t, nil)},
			token: func(t *testing.T) string { return ec.sign(t, "ES256", "-") }},
		{name: "no kid, two RSA keys", set: []map[string]any{a.jwk(t, nil), b.jwk(t, nil)},
			token: func(t *testing.T) string { return a.sign(t, "RS256", "-") }, code: core.CodeInvalidSecret, msg: notFound},
		{name: "no kid, the one key declares another alg", set: []map[string]any{a.jwk(t, map[string]any{"alg": "PS256"})},
			token: func(t *testing.T) string { return a.sign(t, "RS256", "-") }, code: core.CodeInvalidSecret, msg: notFound},
		{name: "same kid twice, for two algs", set: []map[string]any{a.jwk(t, map[string]any{"alg": "PS256"}), a.jwk(t, map[string]any{"alg": "RS256"})},
			token: func(t *testing.T) string { return a.sign(t, "RS256") }},
		{name: "encryption key with the token's kid", set: []map[string]any{b.jwk(t, nil), a.jwk(t, map[string]any{"use": "enc"})},
			token: func(t *testing.T) string { return a.sign(t, "RS256") }, code: core.CodeInvalidSecret, msg: notFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newIDP(t, keySet(t, tt.set...))
			v := verifier(t, newSetFor(t, p, clock.NewFake(t0)))
			check(t, v, tt.token(t), tt.code, tt.msg)
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
	clk.Advance(DefaultMinFetchInterval)
	check(t, v, cur.sign(t, "RS256"), "", "")
	if n := p.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	check(t, v, oldTok, "", "") // both keys are in the set

	// The issuer withdraws the old key.
	p.serve(keySet(t, cur.jwk(t, nil)))
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	check(t, v, oldTok, core.CodeInvalidSecret, notFound)
	check(t, v, cur.sign(t, "RS256"), "", "")
}

// TestRefetchRateLimit: tokens with made-up kids cause at most one fetch
// per minimum interval, however many arrive.
func TestRefetchRateLimit(t *testing.T) {
	k := newEC(t, elliptic.P256(), "k")
	p := newIDP(t, keySet(t, k.jwk(t, nil)))
	clk := clock.NewFake(t0)
	s := newSetFor(t, p, clk, WithMinFetchInterval(time.Minute))
	v := verifier(t, s)
	flood := func() {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				tok := k.sign(t, "ES256", fmt.Sprintf("made-up-%d", i))
				check(t, v, tok, core.CodeInvalidSecret, notFound)
			})
		}
		wg.Wait()
	}
	flood() // within a minute of the first fetch: no fetch at all
	if n := p.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	clk.Advance(59 * time.Second)
	flood()
	if n := p.hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	clk.Advance(time.Second)
	flood() // one fetch for the whole flood
	if n := p.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	check(t, v, k.sign(t, "ES256"), "", "") // known keys are unaffected
}

// TestOneFetchInFlight: connections whose key is not cached share one
// request, and all get the key it brings.
func TestOneFetchInFlight(t *testing.T) {
	old, cur := newEC(t, elliptic.P256(), "old"), newEC(t, elliptic.P256(), "new")
	p := newIDP(t, keySet(t, old.jwk(t, nil)))
	clk := clock.NewFake(t0)
	v := verifier(t, newSetFor(t, p, clk))
	p.serve(keySet(t, old.jwk(t, nil), cur.jwk(t, nil)))
	clk.Advance(DefaultMinFetchInterval)

	release := p.holdRequests()
	defer release()
	tok := cur.sign(t, "ES256")
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range 30 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), tok, nil); err == nil {
				ok.Add(1)
			}
		})
	}
	eventually(t, "the refetch to reach the server", func() bool { return p.waiting.Load() == 1 })
	time.Sleep(20 * time.Millisecond) // give the others time to send a request, were they to
	release()
	wg.Wait()
	if n := p.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (the first, then one for 30 connections)", n)
	}
	if n := ok.Load(); n != 30 {
		t.Fatalf("%d of 30 verified", n)
	}
}

// TestOutage: while the key server fails, cached keys keep verifying and a
// token whose key is not cached gets keyset_unavailable; when it is back,
// the next allowed fetch brings the new key.
func TestOutage(t *testing.T) {
	old, cur := newRSA(0, "old"), newRSA(1, "new")
	p := newIDP(t, keySet(t, old.jwk(t, nil)))
	clk := clock.NewFake(t0)
	var fetches []error
	var mu sync.Mutex
	s := newSetFor(t, p, clk, WithFetchCallback(func(err error) {
		mu.Lock()
		fetches = append(fetches, err)
		mu.Unlock()
	}))
	v := verifier(t, s)

	p.setStatus(http.StatusBadGateway)
	clk.Advance(DefaultMinFetchInterval)
	check(t, v, cur.sign(t, "RS256"), core.CodeKeySetUnavailable, unavailable)
	check(t, v, old.sign(t, "RS256"), "", "")
	check(t, v, cur.sign(t, "RS256"), core.CodeKeySetUnavailable, unavailable) // rate-limited: no new fetch
	if n := p.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}

	// Back, with the new key.
	p.setStatus(http.StatusOK)
	p.serve(keySet(t, old.jwk(t, nil), cur.jwk(t, nil)))
	check(t, v, cur.sign(t, "RS256"), core.CodeKeySetUnavailable, unavailable) // still within the interval
	// The timer retries the failed fetch after the minimum interval.
	clk.Advance(DefaultMinFetchInterval)
	settle(t, s)
	check(t, v, cur.sign(t, "RS256"), "", "")
	if n := p.hits.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}

	mu.Lock()
	defer mu.Unlock()
	if fetches[0] != nil || fetches[1] == nil || fetches[2] != nil {
		t.Fatalf("callback got %v, want [nil, error, nil]", fetches)
	}
	if !strings.Contains(fetches[1].Error(), "502") {
		t.Fatalf("the callback's error does not say what failed: %v", fetches[1])
	}
}

// TestSlowKeyServer: a key server that does not answer cannot hold a
// connection longer than the fetch timeout, and the refusal says to retry.
func TestSlowKeyServer(t *testing.T) {
	old, cur := newRSA(0, "old"), newRSA(1, "new")
	p := newIDP(t, keySet(t, old.jwk(t, nil)))
	clk := clock.NewFake(t0)
	v := verifier(t, newSetFor(t, p, clk, WithFetchTimeout(100*time.Millisecond)))
	release := p.holdRequests()
	defer release()
	clk.Advance(DefaultMinFetchInterval)
	start := time.Now()
	check(t, v, cur.sign(t, "RS256"), core.CodeKeySetUnavailable, unavailable)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("refused after %v", d)
	}
	check(t, v, old.sign(t, "RS256"), "", "")
}

// TestBackgroundRefresh: the set is fetched every refresh interval, and a
// failed refresh is retried after the minimum interval.
func TestBackgroundRefresh(t *testing.T) {
	old, cur := newEd(t, "old"), newEd(t, "new")
	p := newIDP(t, keySet(t, old.jwk(t, nil)))
	clk := clock.NewFake(t0)
	s := newSetFor(t, p, clk, WithRefreshInterval(time.Hour), WithMinFetchInterval(time.Minute))
	v := verifier(t, s)

	p.serve(keySet(t, cur.jwk(t, nil)))
	clk.Advance(59 * time.Minute)
	check(t, v, old.sign(t, "EdDSA"), "", "")
	clk.Advance(time.Minute)
	settle(t, s)
	if n := p.hits.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	check(t, v, old.sign(t, "EdDSA"), core.CodeInvalidSecret, notFound)
	check(t, v, cur.sign(t, "EdDSA"), "", "")

	p.setStatus(http.StatusInternalServerError)
	clk.Advance(time.Hour)
	settle(t, s)
	if s.state.Load().err == nil {
		t.Fatal("the refresh did not fail")
	}
	check(t, v, cur.sign(t, "EdDSA"), "", "") // kept through the failure
	p.setStatus(http.StatusOK)
	clk.Advance(time.Minute)
	settle(t, s)
	if n := p.hits.Load(); n != 4 || s.state.Load().err != nil {
		t.Fatalf("%d fetches, last error %v; want 4, nil", n, s.state.Load().err)
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
	check(t, v, k.sign(t, "ES384"), core.CodeKeySetUnavailable, unavailable)
	p.setStatus(http.StatusOK)
	clk.Advance(DefaultMinFetchInterval)
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

// TestParseSet: keys that cannot or must not verify are left out, the
// others kept.
func TestParseSet(t *testing.T) {
	r := newRSA(0, "r")
	ec := newEC(t, elliptic.P256(), "ec")
	good := ec.jwk(t, nil)
	tests := []struct {
		name    string
		jwk     map[string]any
		keep    bool
		private bool
	}{
		{name: "RSA", jwk: r.jwk(t, nil), keep: true},
		{name: "use sig", jwk: r.jwk(t, map[string]any{"use": "sig"}), keep: true},
		{name: "key_ops verify", jwk: r.jwk(t, map[string]any{"key_ops": []string{"verify"}}), keep: true},
		{name: "use enc", jwk: r.jwk(t, map[string]any{"use": "enc"})},
		{name: "key_ops encrypt", jwk: r.jwk(t, map[string]any{"key_ops": []string{"encrypt"}})},
		{name: "unknown use", jwk: r.jwk(t, map[string]any{"use": "other"})},
		{name: "alg of another key type", jwk: r.jwk(t, map[string]any{"alg": "ES256"})},
		{name: "encryption alg", jwk: r.jwk(t, map[string]any{"alg": "RSA-OAEP"})},
		{name: "private RSA", jwk: r.jwk(t, map[string]any{"d": "AQAB"}), private: true},
		{name: "private EC", jwk: ec.jwk(t, map[string]any{"d": "AQAB"}), private: true},
		{name: "symmetric", jwk: map[string]any{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}},
		{name: "X25519", jwk: map[string]any{"kty": "OKP", "crv": "X25519", "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}},
		{name: "Ed448", jwk: map[string]any{"kty": "OKP", "crv": "Ed448", "x": "AAAA"}},
		{name: "unknown kty", jwk: map[string]any{"kty": "XYZ"}},
		{name: "EC point off the curve", jwk: ec.jwk(t, map[string]any{"y": good["x"]})},
		{name: "RSA without n", jwk: r.jwk(t, map[string]any{"n": nil})},
		{name: "bad base64", jwk: r.jwk(t, map[string]any{"n": "!!!"})},
		{name: "kid not a string", jwk: r.jwk(t, map[string]any{"kid": 7})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, skips, err := parseSet(keySet(t, good, tt.jwk))
			if err != nil {
				t.Fatal(err)
			}
			if kept := len(keys) == 2; kept != tt.keep {
				t.Fatalf("kept %v, want %v (%+v)", kept, tt.keep, skips)
			}
			if !tt.keep && (len(skips) != 1 || skips[0].private != tt.private) {
				t.Fatalf("skipped %+v, want one with private=%v", skips, tt.private)
			}
		})
	}
	for name, doc := range map[string]string{
		"not JSON":          "<html>",
		"an array":          "[]",
		"keys not an array": `{"keys": {}}`,
		"no keys member":    `{}`,
		"empty set":         `{"keys": []}`,
		"nothing usable":    string(keySet(t, r.jwk(t, map[string]any{"use": "enc"}))),
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := parseSet([]byte(doc)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestPrivateKeyLogged: a key set that publishes private material is
// reported as an error, not at debug level.
func TestPrivateKeyLogged(t *testing.T) {
	r := newRSA(0, "r")
	p := newIDP(t, keySet(t, r.jwk(t, nil), newRSA(1, "leak").jwk(t, map[string]any{"d": "AQAB"})))
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelError}))
	newSetFor(t, p, clock.NewFake(t0), WithLogger(logger))
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "private key material") || !strings.Contains(buf.String(), "kid=leak") {
		t.Fatalf("log: %q", buf.String())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// TestFetchFailures: every way a fetch can fail makes New fail with a
// reason that says what went wrong.
func TestFetchFailures(t *testing.T) {
	r := newRSA(0, "r")
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(keySet(t, r.jwk(t, nil)))
	}))
	defer plain.Close()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"404", func(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, nil) }, "404 Not Found"},
		{"HTML", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) }, "not a JWK Set"},
		{"too large", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"keys": [], "pad": "` + strings.Repeat("x", maxBody) + `"}`))
		}, "over 1048576 bytes"},
		{"no usable key", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(keySet(t)) }, "no usable signing key"},
		{"redirect to http", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, plain.URL+"/keys", http.StatusFound)
		}, "is not https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(tt.handler)
			defer srv.Close()
			var reported error
			_, err := New(context.Background(), srv.URL+"/keys", WithHTTPClient(srv.Client()),
				WithFetchCallback(func(err error) { reported = err }))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error with %q", err, tt.want)
			}
			if reported != err {
				t.Fatalf("callback got %v", reported)
			}
		})
	}
	t.Run("http with WithInsecureHTTP", func(t *testing.T) {
		s, err := New(context.Background(), plain.URL+"/keys", WithInsecureHTTP())
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	})
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.NotFoundHandler())
		u := srv.URL
		srv.Close()
		if _, err := New(context.Background(), u+"/keys"); err == nil {
			t.Fatal("New succeeded")
		}
	})
}

// TestNewValidates: bad URLs and options fail at start, before any fetch.
func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		url  string
		opts []Option
	}{
		{"empty URL", "", nil},
		{"no host", "https:///keys", nil},
		{"relative", "/keys", nil},
		{"http", "http://idp.example/keys", nil},
		{"ftp", "ftp://idp.example/keys", []Option{WithInsecureHTTP()}},
		{"bad URL", "https://idp.example/%zz", nil},
		{"nil option", "https://idp.example/keys", []Option{nil}},
		{"nil client", "https://idp.example/keys", []Option{WithHTTPClient(nil)}},
		{"zero refresh", "https://idp.example/keys", []Option{WithRefreshInterval(0)}},
		{"negative min interval", "https://idp.example/keys", []Option{WithMinFetchInterval(-time.Second)}},
		{"zero timeout", "https://idp.example/keys", []Option{WithFetchTimeout(0)}},
		{"nil callback", "https://idp.example/keys", []Option{WithFetchCallback(nil)}},
		{"nil logger", "https://idp.example/keys", []Option{WithLogger(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fetched atomic.Bool
			client := &http.Client{Transport: roundTripper(func(*http.Request) (*http.Response, error) {
				fetched.Store(true)
				return nil, errors.New("no network in this test")
			})}
			opts := append([]Option{WithHTTPClient(client), WithBackgroundStart()}, tt.opts...)
			if s, err := New(context.Background(), tt.url, opts...); err == nil {
				s.Close()
				t.Fatal("accepted")
			}
			if _, err := Discover(context.Background(), tt.url, opts...); err == nil {
				t.Fatal("Discover accepted")
			}
			if fetched.Load() {
				t.Fatal("fetched before validating")
			}
		})
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestDiscover finds the key set through the issuer's discovery document
// and checks that the document is the issuer's.
func TestDiscover(t *testing.T) {
	k := newRSA(0, "k")
	tests := []struct {
		name   string
		issuer func(p *idp) string
		doc    func(p *idp) map[string]any
		want   string // error text; "" for success
	}{
		{name: "issuer", issuer: func(p *idp) string { return p.srv.URL }},
		{name: "issuer with a trailing slash", issuer: func(p *idp) string { return p.srv.URL + "/" }},
		{name: "document with a trailing slash", issuer: func(p *idp) string { return p.srv.URL },
			doc: func(p *idp) map[string]any { return map[string]any{"issuer": p.srv.URL + "/", "jwks_uri": p.url()} }},
		{name: "another issuer", issuer: func(p *idp) string { return p.srv.URL },
			doc: func(p *idp) map[string]any {
				return map[string]any{"issuer": "https://evil.example", "jwks_uri": p.url()}
			},
			want: `names issuer "https://evil.example"`},
		{name: "http jwks_uri", issuer: func(p *idp) string { return p.srv.URL },
			doc: func(p *idp) map[string]any {
				return map[string]any{"issuer": p.srv.URL, "jwks_uri": "http://idp.example/keys"}
			},
			want: "is not https"},
		{name: "no jwks_uri", issuer: func(p *idp) string { return p.srv.URL },
			doc:  func(p *idp) map[string]any { return map[string]any{"issuer": p.srv.URL} },
			want: "empty jwks_uri URL"},
		{name: "no document", issuer: func(p *idp) string { return p.srv.URL + "/tenant" }, want: "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newIDP(t, keySet(t, k.jwk(t, nil)))
			if tt.doc != nil {
				p.discovery = tt.doc(p)
			}
			s, err := Discover(context.Background(), tt.issuer(p), WithHTTPClient(p.srv.Client()))
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Discover: %v, want an error with %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			check(t, verifier(t, s), k.sign(t, "RS256"), "", "")
		})
	}
}

// TestDiscoverBackground: with WithBackgroundStart, a failed discovery is
// retried like a failed fetch.
func TestDiscoverBackground(t *testing.T) {
	k := newRSA(0, "k")
	p := newIDP(t, keySet(t, k.jwk(t, nil)))
	p.discovery = map[string]any{"issuer": "https://wrong.example"}
	clk := clock.NewFake(t0)
	s, err := Discover(context.Background(), p.srv.URL, WithHTTPClient(p.srv.Client()), withClock(clk), WithBackgroundStart())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v := verifier(t, s)
	settle(t, s)
	check(t, v, k.sign(t, "RS256"), core.CodeKeySetUnavailable, unavailable)
	p.mu.Lock()
	p.discovery = nil
	p.mu.Unlock()
	clk.Advance(DefaultMinFetchInterval)
	settle(t, s)
	check(t, v, k.sign(t, "RS256"), "", "")
}

// TestFetchCallbackPanics: a panicking callback does not take the server
// down, in New or in a background fetch.
func TestFetchCallbackPanics(t *testing.T) {
	k := newRSA(0, "k")
	p := newIDP(t, keySet(t, k.jwk(t, nil)))
	var calls atomic.Int32
	s := newSetFor(t, p, clock.NewFake(t0), WithFetchCallback(func(error) {
		calls.Add(1)
		panic("metrics broke")
	}))
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("callback called %d times, want 2", n)
	}
}

// TestClose: Close stops fetching, is idempotent, and leaves the cached
// keys usable; TestMain checks that no goroutine is left.
func TestClose(t *testing.T) {
	k := newRSA(0, "k")
	p := newIDP(t, keySet(t, k.jwk(t, nil)))
	clk := clock.NewFake(t0)
	s := newSetFor(t, p, clk)
	v := verifier(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(24 * time.Hour)
	check(t, v, k.sign(t, "RS256"), "", "")
	check(t, v, k.sign(t, "RS256", "other"), core.CodeInvalidSecret, notFound)
	if err := s.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh on a closed Set succeeded")
	}
	if n := p.hits.Load(); n != 1 {
		t.Fatalf("%d fetches after Close", n-1)
	}
}

// TestCloseDuringFetch: Close abandons a fetch in progress instead of
// waiting for the key server.
func TestCloseDuringFetch(t *testing.T) {
	k := newRSA(0, "k")
	p := newIDP(t, keySet(t, k.jwk(t, nil)))
	release := p.holdRequests()
	defer release()
	s, err := New(context.Background(), p.url(), WithHTTPClient(p.srv.Client()), WithBackgroundStart(), WithFetchTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the fetch to reach the server", func() bool { return p.waiting.Load() == 1 })
	done := make(chan struct{})
	go func() {
		s.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the key server")
	}
}

// TestRefreshContext: Refresh gives up when its context ends, and the fetch
// goes on for the others.
func TestRefreshContext(t *testing.T) {
	k := newRSA(0, "k")
	p := newIDP(t, keySet(t, k.jwk(t, nil)))
	s := newSetFor(t, p, clock.NewFake(t0))
	release := p.holdRequests()
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Refresh(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Refresh: %v", err)
	}
	release()
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
}
