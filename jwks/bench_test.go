package jwks

import (
	"context"
	"crypto/elliptic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/siojwt/siojwt/core"
)

// BenchmarkVerify compares a verification with the key from a Set (warm
// cache) with the same verification with the key given statically, and
// with a key function that returns the static key: the difference between
// the last two is the verifier's cost of calling a key function (a
// goroutine and a timer per call), the rest is the Set's lookup.
func BenchmarkVerify(b *testing.B) {
	for _, c := range []struct {
		alg string
		key signer
	}{
		{"RS256", newRSA(0, "rsa-2048")},
		{"ES256", newEC(b, elliptic.P256(), "p256")},
	} {
		p := newIDP(b, keySet(b, c.key.jwk(b, map[string]any{"alg": c.alg, "use": "sig"})))
		s, err := New(context.Background(), p.url(), WithHTTPClient(p.srv.Client()))
		if err != nil {
			b.Fatal(err)
		}
		pub := c.key.priv.Public()
		now := time.Now()
		tok := c.key.signClaims(b, c.alg, c.key.kid, jwt.MapClaims{
			"first_name": "John", "last_name": "Doe", "email": "john@doe.com", "id": 123,
			"sub": "bob", "jti": "0123456789abcdef", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		})
		for _, v := range []struct {
			name string
			opt  core.Option
		}{
			{"static", core.WithPublicKey(pub)},
			{"jwks", core.WithKeySource(s)},
			{"keyfunc-static", core.WithKeyFunc(func(context.Context, *core.KeyRequest) (any, error) { return pub, nil })},
		} {
			vf, err := core.New(v.opt, core.WithAlgorithms(c.alg))
			if err != nil {
				b.Fatal(err)
			}
			b.Run(c.alg+"/"+v.name, func(b *testing.B) {
				b.ReportAllocs()
				ctx := context.Background()
				for b.Loop() {
					if _, err := vf.Verify(ctx, tok, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		_ = s.Close()
		if n := p.hits.Load(); n != 1 {
			b.Fatalf("%d fetches, want 1", n)
		}
	}
}

// BenchmarkKey is the Set's lookup alone, warm, in a set of three keys.
func BenchmarkKey(b *testing.B) {
	keys := []signer{newRSA(0, "a"), newRSA(1, "b"), newRSA(2, "c")}
	p := newIDP(b, keySet(b, keys[0].jwk(b, nil), keys[1].jwk(b, nil), keys[2].jwk(b, nil)))
	s, err := New(context.Background(), p.url(), WithHTTPClient(p.srv.Client()))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	req := &core.KeyRequest{Header: map[string]any{"alg": "RS256", "kid": "c", "typ": "JWT"}}
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Key(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
