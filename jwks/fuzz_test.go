package jwks

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"net/http"
	"testing"
)

// FuzzLoad feeds arbitrary documents to the fetch of a key set (jwkset's
// parser, then keep): it must never panic, and every key it keeps must be
// a public signature key whose declared alg and use allow verifying.
func FuzzLoad(f *testing.F) {
	r := newRSA(0, "r")
	ec := newEC(f, elliptic.P256(), "ec")
	ed := newEd(f, "ed")
	f.Add(keySet(f, r.jwk(f, nil), ec.jwk(f, map[string]any{"alg": "ES256"}), ed.jwk(f, nil)))
	f.Add(keySet(f, r.jwk(f, map[string]any{"use": "enc", "alg": "RSA-OAEP"}), ec.privateJWK(f), ed.jwk(f, map[string]any{"use": "sig"})))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-521","x":"","y":"AA=="}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		cfg, err := newConfig([]Option{WithHTTPClient(serveDoc(http.StatusOK, doc))})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := newClient(cfg)
		keys, skips, err := load(context.Background(), cfg, c, "https://idp.example/keys")
		if (err == nil) != (len(keys) > 0) {
			t.Fatalf("error %v with %d keys", err, len(keys))
		}
		for _, k := range keys {
			m := k.Marshal()
			switch pub := k.Key().(type) {
			case *rsa.PublicKey:
			case *ecdsa.PublicKey:
				if _, err := pub.ECDH(); err != nil {
					t.Fatalf("invalid EC key kept: %v", err)
				}
			case ed25519.PublicKey:
				if len(pub) != ed25519.PublicKeySize {
					t.Fatalf("Ed25519 key of %d bytes", len(pub))
				}
			default:
				t.Fatalf("kept a %T", k.Key())
			}
			if m.ALG != "" && !fits(string(m.ALG), k.Key()) {
				t.Fatalf("kept a %T declared for %s", k.Key(), m.ALG)
			}
			if m.USE != "" && m.USE != "sig" {
				t.Fatalf("kept a key for use %q", m.USE)
			}
		}
		for _, s := range skips {
			if s.reason == "" {
				t.Fatal("a key was left out without a reason")
			}
		}
	})
}
