package jwks

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Unix(1_700_000_000, 0)

// signer is a signing key minted for a test, with the kid it is published
// under.
type signer struct {
	kid  string
	priv crypto.Signer
}

var rsaKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// newRSA returns the i-th of three RSA keys (generated once: they are slow
// to make under -race).
func newRSA(i int, kid string) signer { return signer{kid, rsaKeys()[i]} }

func newEC(t testing.TB, c elliptic.Curve, kid string) signer {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid, k}
}

func newEd(t testing.TB, kid string) signer {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid, k}
}

// jwk returns the public JWK of k as a map, with extra members set (a nil
// value removes a member).
func (k signer) jwk(t testing.TB, extra map[string]any) map[string]any {
	j, err := jwkset.NewJWKFromKey(k.priv.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(j.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for name, v := range extra {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	return m
}

// sign returns a token signed by k with alg, carrying k's kid unless kid
// says otherwise ("-" for none).
func (k signer) sign(t testing.TB, alg string, kid ...string) string {
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), jwt.MapClaims{"sub": "bob"})
	id := k.kid
	if len(kid) > 0 {
		id = kid[0]
	}
	if id != "-" {
		tok.Header["kid"] = id
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// keySet returns a JWK Set document of the given JWKs.
func keySet(t testing.TB, keys ...map[string]any) []byte {
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// idp is a fake identity provider over TLS: the key set at /keys, an
// OpenID Connect discovery document, and knobs for outages.
type idp struct {
	srv *httptest.Server

	mu        sync.Mutex
	set       []byte
	status    int           // answer of /keys; 200 by default
	hold      chan struct{} // when not nil, /keys waits for it to close
	discovery map[string]any

	hits    atomic.Int32 // requests to /keys
	waiting atomic.Int32 // requests to /keys held right now
}

func newIDP(t testing.TB, set []byte) *idp {
	p := &idp{set: set, status: http.StatusOK}
	mux := http.NewServeMux()
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		p.mu.Lock()
		hold, status, body := p.hold, p.status, p.set
		p.mu.Unlock()
		if hold != nil {
			p.waiting.Add(1)
			select {
			case <-hold:
			case <-r.Context().Done():
			}
			p.waiting.Add(-1)
		}
		if status != http.StatusOK {
			http.Error(w, "key server down", status)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		doc := p.discovery
		p.mu.Unlock()
		if doc == nil {
			doc = map[string]any{"issuer": p.srv.URL, "jwks_uri": p.srv.URL + "/keys"}
		}
		_ = json.NewEncoder(w).Encode(doc)
	})
	p.srv = httptest.NewTLSServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) url() string { return p.srv.URL + "/keys" }

func (p *idp) serve(set []byte) {
	p.mu.Lock()
	p.set = set
	p.mu.Unlock()
}

func (p *idp) setStatus(code int) {
	p.mu.Lock()
	p.status = code
	p.mu.Unlock()
}

// holdRequests makes /keys wait until the returned function is called.
func (p *idp) holdRequests() (release func()) {
	ch := make(chan struct{})
	p.mu.Lock()
	p.hold = ch
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			p.hold = nil
			p.mu.Unlock()
			close(ch)
		})
	}
}

// newSetFor returns a Set over p's key set with a fake clock, closed at
// the end of the test.
func newSetFor(t testing.TB, p *idp, clk clock.Clock, opts ...Option) *Set {
	t.Helper()
	s, err := New(context.Background(), p.url(), append([]Option{WithHTTPClient(p.srv.Client()), withClock(clk)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func verifier(t testing.TB, s *Set, opts ...core.Option) *core.Verifier {
	t.Helper()
	v, err := core.New(append([]core.Option{core.WithKeyFunc(s.Key)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// check verifies tok and compares the outcome with code and message ("" and
// "" for success).
func check(t testing.TB, v *core.Verifier, tok, code, msg string) {
	t.Helper()
	res, err := v.Verify(context.Background(), tok, nil)
	if code == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		if res.Claims.Subject != "bob" {
			t.Fatalf("subject %q", res.Claims.Subject)
		}
		return
	}
	e := core.AsError(err)
	if e == nil || e.Code != code || e.Message != msg {
		t.Fatalf("got %v, want %s: %s", err, code, msg)
	}
}

// hmacToken returns an HS256 token naming kid. Whatever its secret, it
// must be refused before any signature check.
func hmacToken(t testing.TB, kid string) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "bob"})
	tok.Header["kid"] = kid
	s, err := tok.SignedString([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// settle waits until no fetch is in progress (the refresh timer is then
// re-armed). After a fake clock's Advance, a fetch its timer started is
// already in progress.
func settle(t testing.TB, s *Set) {
	t.Helper()
	eventually(t, "the fetch to end", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.inflight == nil
	})
}

// eventually waits up to 5 s for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
