// Package verify holds the Go side of the verification micro-benchmark:
// a bare golang-jwt ParseWithClaims into MapClaims, the least any Go JWT
// check costs, per algorithm. The Node side is bench/node/verify.js.
//
//	go test -run '^$' -bench . ./bench/verify/
package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

type algCase struct {
	name   string
	method jwt.SigningMethod
	sign   any
	verify any
}

func cases(tb testing.TB) []algCase {
	tb.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	epub, epriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	secret := []byte("aaafoo super sercret")
	return []algCase{
		{"HS256", jwt.SigningMethodHS256, secret, secret},
		{"RS256", jwt.SigningMethodRS256, rk, rk.Public()},
		{"ES256", jwt.SigningMethodES256, ek, ek.Public()},
		{"EdDSA", jwt.SigningMethodEdDSA, epriv, crypto.PublicKey(epub)},
	}
}

func token(tb testing.TB, c algCase) string {
	tb.Helper()
	claims := jwt.MapClaims{
		"first_name": "John", "last_name": "Doe", "email": "john@doe.com", "id": 123, "sub": "bench",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}
	s, err := jwt.NewWithClaims(c.method, claims).SignedString(c.sign)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestParse makes sure every benchmarked token verifies, and that a
// tampered one does not, so the benchmark measures the success path.
func TestParse(t *testing.T) {
	for _, c := range cases(t) {
		t.Run(c.name, func(t *testing.T) {
			tok := token(t, c)
			p := jwt.NewParser(jwt.WithValidMethods([]string{c.method.Alg()}))
			key := func(*jwt.Token) (any, error) { return c.verify, nil }
			if _, err := p.ParseWithClaims(tok, jwt.MapClaims{}, key); err != nil {
				t.Fatalf("valid token rejected: %v", err)
			}
			bad := tok[:len(tok)-4] + "AAAA"
			if bad == tok {
				bad = tok[:len(tok)-4] + "BBBB"
			}
			if _, err := p.ParseWithClaims(bad, jwt.MapClaims{}, key); err == nil {
				t.Fatal("tampered token accepted")
			}
		})
	}
}

// BenchmarkParse times golang-jwt ParseWithClaims with MapClaims and an
// allow-list of one algorithm, key parsed once.
func BenchmarkParse(b *testing.B) {
	for _, c := range cases(b) {
		b.Run(c.name, func(b *testing.B) {
			tok := token(b, c)
			p := jwt.NewParser(jwt.WithValidMethods([]string{c.method.Alg()}))
			key := func(*jwt.Token) (any, error) { return c.verify, nil }
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.ParseWithClaims(tok, jwt.MapClaims{}, key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHS256Parts splits an HS256 verification into its steps, to
// show where the time of a verification goes: the HMAC-SHA256 over the
// signing input and its comparison ("hmac"), the base64 decoding of the
// three segments ("base64"), the JSON decoding of header and claims into
// maps as golang-jwt does it ("json"), the JSON validation of both, which
// is all the core does before its one-pass read of "alg" and the registered
// claims ("validate"), and the clock read for the time rules ("clock").
func BenchmarkHS256Parts(b *testing.B) {
	c := cases(b)[0]
	tok := token(b, c)
	parts := strings.Split(tok, ".")
	input := []byte(parts[0] + "." + parts[1])
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		b.Fatal(err)
	}
	key := c.verify.([]byte)
	b.Run("hmac", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := hmac.New(sha256.New, key)
			m.Write(input)
			if !hmac.Equal(m.Sum(nil), sig) {
				b.Fatal("bad signature")
			}
		}
	})
	b.Run("base64", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range parts {
				if _, err := base64.RawURLEncoding.DecodeString(p); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	head, _ := base64.RawURLEncoding.DecodeString(parts[0])
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	b.Run("validate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !json.Valid(head) || !json.Valid(body) {
				b.Fatal("bad JSON")
			}
		}
	})
	b.Run("clock", func(b *testing.B) {
		var last time.Time
		for b.Loop() {
			last = time.Now()
		}
		if last.IsZero() {
			b.Fatal("no time")
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var h, cl map[string]any
			if json.Unmarshal(head, &h) != nil || json.Unmarshal(body, &cl) != nil {
				b.Fatal("bad JSON")
			}
		}
	})
}
