package jwks

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
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
	m := toMap(t, j.Marshal())
	for name, v := range extra {
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	return m
}

func toMap(t testing.TB, v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// sign returns a token signed by k with alg, carrying k's kid unless kid
// says otherwise ("-" for none).
func (k signer) sign(t testing.TB, alg string, kid ...string) string {
	id := k.kid
	if len(kid) > 0 {
		id = kid[0]
	}
	return k.signClaims(t, alg, id, jwt.MapClaims{"sub": "bob"})
}

// signIss returns a token signed by k with alg and k's kid, from issuer iss
// ("" for no "iss" claim).
func (k signer) signIss(t testing.TB, alg, iss string) string {
	claims := jwt.MapClaims{"sub": "bob"}
	if iss != "" {
		claims["iss"] = iss
	}
	return k.signClaims(t, alg, k.kid, claims)
}

func (k signer) signClaims(t testing.TB, alg, kid string, claims jwt.MapClaims) string {
	var header map[string]any
	if kid != "-" {
		header = map[string]any{"kid": kid}
	}
	return k.signWith(t, alg, header, claims)
}

// signHeader returns a token signed by k with alg whose header has the
// given members on top of "alg" and "typ".
func (k signer) signHeader(t testing.TB, alg string, header map[string]any) string {
	return k.signWith(t, alg, header, jwt.MapClaims{"sub": "bob"})
}

func (k signer) signWith(t testing.TB, alg string, header map[string]any, claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	for name, v := range header {
		tok.Header[name] = v
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// privateJWK returns k's JWK with its private material, as a key server
// that leaks it would publish it.
func (k signer) privateJWK(t testing.TB) map[string]any {
	j, err := jwkset.NewJWKFromKey(k.priv, jwkset.JWKOptions{
		Marshal:  jwkset.JWKMarshalOptions{Private: true},
		Metadata: jwkset.JWKMetadataOptions{KID: k.kid},
	})
	if err != nil {
		t.Fatal(err)
	}
	return toMap(t, j.Marshal())
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

	hits      atomic.Int32 // requests to /keys
	waiting   atomic.Int32 // requests to /keys held right now
	discovers atomic.Int32 // requests to the discovery document
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
			if r.Context().Err() != nil {
				return // the client gave up: nothing to answer
			}
		}
		if status != http.StatusOK {
			http.Error(w, "key server down", status)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.discovers.Add(1)
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

// issuer is the issuer whose discovery document p serves by default.
func (p *idp) issuer() string { return p.srv.URL }

func (p *idp) setDiscovery(doc map[string]any) {
	p.mu.Lock()
	p.discovery = doc
	p.mu.Unlock()
}

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
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// recorder collects what a fetch hook receives.
type recorder struct {
	mu   sync.Mutex
	errs []error
}

func (r *recorder) hook(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func (r *recorder) all() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: level}))
}

// serveDoc returns a client that answers every request with status and
// doc, without any network.
func serveDoc(status int, doc []byte) *http.Client {
	return &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		return &http.Response{
			StatusCode: status, Status: http.StatusText(status), Request: r, ContentLength: -1,
			Header: http.Header{"Content-Type": {"application/json"}},
			Body:   io.NopCloser(bytes.NewReader(doc)),
		}, nil
	})}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

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

// hmacToken returns an HS256 token naming kid, signed with secret.
// Whatever its secret, it must be refused before any signature check.
func hmacToken(t testing.TB, kid string, secret []byte) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "bob"})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// settle waits until no fetch is in progress (the refresh timers are then
// re-armed). After a fake clock's Advance, a fetch its timer started is
// already in progress.
func settle(t testing.TB, s *Set) {
	t.Helper()
	eventually(t, "the fetches to end", func() bool {
		for _, src := range s.sources {
			src.mu.Lock()
			busy := src.inflight != nil
			src.mu.Unlock()
			if busy {
				return false
			}
		}
		return true
	})
}

// lastErr returns the error of the last fetch of s's only (or first) key
// set.
func lastErr(s *Set) error { return s.sources[0].state.Load().err }

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
