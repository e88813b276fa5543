package interop_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/interop/harness"
)

// identityProvider is a test OpenID Connect issuer: discovery and a JWKS
// with one RSA, one P-256 and one Ed25519 key.
type identityProvider struct {
	srv     *httptest.Server
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	ed      ed25519.PrivateKey
	failing atomic.Bool
	fetches atomic.Int32
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func newIdentityProvider(t *testing.T) *identityProvider {
	idp := &identityProvider{}
	idp.rsa, _ = rsa.GenerateKey(rand.Reader, 2048)
	idp.ec, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, idp.ed, _ = ed25519.GenerateKey(rand.Reader)
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": idp.srv.URL, "jwks_uri": idp.srv.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		idp.fetches.Add(1)
		if idp.failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		// The uncompressed point: 0x04, then X and Y of 32 bytes each.
		point, err := idp.ec.PublicKey.Bytes()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		x, y := point[1:33], point[33:65]
		keys := []map[string]string{
			{"kty": "RSA", "kid": "rsa1", "alg": "RS256", "use": "sig", "n": b64u(idp.rsa.N.Bytes()), "e": b64u(big.NewInt(int64(idp.rsa.E)).Bytes())},
			{"kty": "EC", "kid": "ec1", "alg": "ES256", "use": "sig", "crv": "P-256", "x": b64u(x), "y": b64u(y)},
			{"kty": "OKP", "kid": "ed1", "alg": "EdDSA", "use": "sig", "crv": "Ed25519", "x": b64u(idp.ed.Public().(ed25519.PublicKey))},
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
	idp.srv = httptest.NewUnstartedServer(mux)
	idp.srv.Start() // after the assignment: the handlers read idp.srv
	t.Cleanup(idp.srv.Close)
	return idp
}

func (idp *identityProvider) token(t *testing.T, m jwt.SigningMethod, kid string, iss string) string {
	t.Helper()
	var key any
	switch m {
	case jwt.SigningMethodRS256:
		key = idp.rsa
	case jwt.SigningMethodES256:
		key = idp.ec
	default:
		key = idp.ed
	}
	tok := jwt.NewWithClaims(m, jwt.MapClaims{"sub": "alice", "iss": iss, "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestKeySetInterop runs the fixture in -issuer (discovery) and -jwks modes
// and connects the real socket.io-client with RS256, ES256 and EdDSA
// tokens, an unknown key, a foreign issuer, and during a key set outage.
func TestKeySetInterop(t *testing.T) {
	idp := newIdentityProvider(t)
	iss := idp.srv.URL
	v4 := combo{harness.ClientV4, harness.Websocket}
	connect := func(fx *harness.Process, tok string) harness.Result {
		return harness.RunClient(t, v4.scenario(fx.URL, tok, harness.WaitAny(15*time.Second, "connect", "connect_error")))
	}
	t.Run("discovery", func(t *testing.T) {
		fx := harness.StartFixture(t, "-issuer", iss, "-insecure-http")
		tests := []struct {
			name string
			tok  string
			code string
			msg  string
		}{
			{"RS256", idp.token(t, jwt.SigningMethodRS256, "rsa1", iss), "", ""},
			{"ES256", idp.token(t, jwt.SigningMethodES256, "ec1", iss), "", ""},
			{"EdDSA", idp.token(t, jwt.SigningMethodEdDSA, "ed1", iss), "", ""},
			{"kid of another key type", idp.token(t, jwt.SigningMethodES256, "rsa1", iss), "invalid_token", "invalid algorithm"},
			{"unknown kid", idp.token(t, jwt.SigningMethodRS256, "nope", iss), "invalid_secret", "signing key not found"},
			{"foreign issuer", idp.token(t, jwt.SigningMethodRS256, "rsa1", "https://evil.example/"), "invalid_token", "jwt issuer invalid. expected: " + iss},
			{"HS256 naming an RSA key", func() string {
				tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": iss, "exp": time.Now().Add(time.Hour).Unix()})
				tok.Header["kid"] = "rsa1"
				s, _ := tok.SignedString([]byte("guess"))
				return s
			}(), "invalid_token", "invalid algorithm"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := connect(fx, tt.tok)
				if tt.code == "" {
					if _, ok := r.First("connect"); !ok {
						t.Fatalf("not connected: %s", r)
					}
					return
				}
				d, ok := r.Rejection()
				if !ok || d.Code != tt.code || d.Message != tt.msg || d.Type != "UnauthorizedError" {
					t.Fatalf("want {%s, %s}: %s", tt.code, tt.msg, r)
				}
			})
		}
	})
	t.Run("outage", func(t *testing.T) {
		fx := harness.StartFixture(t, "-jwks", iss+"/jwks", "-insecure-http", "-jwks-cooldown", "100ms")
		idp.failing.Store(true)
		time.Sleep(200 * time.Millisecond) // past the cooldown: an unknown kid may refetch
		if r := connect(fx, idp.token(t, jwt.SigningMethodRS256, "rsa1", iss)); r.Count("connect") != 1 {
			t.Fatalf("a cached key stopped verifying during the outage: %s", r)
		}
		start := time.Now()
		r := connect(fx, idp.token(t, jwt.SigningMethodRS256, "rotated", iss))
		d, ok := r.Rejection()
		if !ok || d.Code != "keyset_unavailable" || d.Message != "signing keys unavailable, retry later" {
			t.Fatalf("unknown kid during an outage: %s", r)
		}
		t.Logf("refused in %v (with the client's start-up)", time.Since(start).Round(time.Millisecond))
	})
}
