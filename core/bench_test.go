package core_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/core"
)

type benchCase struct {
	name   string
	method jwt.SigningMethod
	priv   any
	pub    any
	opt    core.Option
}

func benchCases(b *testing.B) []benchCase {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	epub, epriv, _ := ed25519.GenerateKey(rand.Reader)
	return []benchCase{
		{"HS256", jwt.SigningMethodHS256, []byte(secret), []byte(secret), core.WithSecretString(secret)},
		{"RS256", jwt.SigningMethodRS256, rk, &rk.PublicKey, core.WithPublicKey(&rk.PublicKey)},
		{"ES256", jwt.SigningMethodES256, ek, &ek.PublicKey, core.WithPublicKey(&ek.PublicKey)},
		{"EdDSA", jwt.SigningMethodEdDSA, epriv, epub, core.WithPublicKey(epub)},
	}
}

// The claims of the fixture's /login tokens.
func benchClaims() jwt.MapClaims {
	n := time.Now()
	return jwt.MapClaims{"first_name": "John", "last_name": "Doe", "email": "john@doe.com", "id": 123,
		"sub": "bob", "jti": "0123456789abcdef", "iat": n.Unix(), "exp": n.Add(time.Hour).Unix()}
}

// BenchmarkVerify compares this library's verification with a bare
// golang-jwt ParseWithClaims of the same token.
func BenchmarkVerify(b *testing.B) {
	for _, c := range benchCases(b) {
		tok := sign(b, c.method, c.priv, benchClaims())
		v, err := core.New(c.opt)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/siojwt", func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/golang-jwt", func(b *testing.B) {
			b.ReportAllocs()
			p := jwt.NewParser(jwt.WithValidMethods([]string{c.method.Alg()}))
			key := c.pub
			for b.Loop() {
				if _, err := p.ParseWithClaims(tok, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return key, nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAuthenticate is the whole handshake path: extraction plus
// verification.
func BenchmarkAuthenticate(b *testing.B) {
	tok := hs(b, benchClaims())
	v, err := core.New(core.WithSecretString(secret))
	if err != nil {
		b.Fatal(err)
	}
	h := handshake(nil, nil, tok, true)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Authenticate(context.Background(), h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCached is a reconnect with a token seen before, with
// WithVerifiedCache: the signature check is skipped, the rest runs.
func BenchmarkVerifyCached(b *testing.B) {
	for _, c := range benchCases(b) {
		tok := sign(b, c.method, c.priv, benchClaims())
		v, err := core.New(c.opt, core.WithVerifiedCache(1024))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), tok, nil); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(context.Background(), tok, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
