package jwks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"testing"
)

// FuzzParseSet feeds arbitrary documents to the key set parser: it must
// never panic, and every key it keeps must be a public signature key whose
// declared alg fits it.
func FuzzParseSet(f *testing.F) {
	r := newRSA(0, "r")
	ec := newEC(f, elliptic.P256(), "ec")
	ed := newEd(f, "ed")
	f.Add(keySet(f, r.jwk(f, nil), ec.jwk(f, map[string]any{"alg": "ES256"}), ed.jwk(f, nil)))
	f.Add(keySet(f, r.jwk(f, map[string]any{"use": "enc", "alg": "RSA-OAEP"}), ec.jwk(f, map[string]any{"d": "AQAB"})))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-521","x":"","y":"AA=="}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		keys, skips, err := parseSet(doc)
		if (err == nil) != (len(keys) > 0) {
			t.Fatalf("error %v with %d keys", err, len(keys))
		}
		for _, k := range keys {
			switch pub := k.pub.(type) {
			case *rsa.PublicKey:
			case *ecdsa.PublicKey:
				if !pub.Curve.IsOnCurve(pub.X, pub.Y) {
					t.Fatal("EC point off its curve")
				}
			case ed25519.PublicKey:
				if len(pub) != ed25519.PublicKeySize {
					t.Fatalf("Ed25519 key of %d bytes", len(pub))
				}
			default:
				t.Fatalf("kept a %T", k.pub)
			}
			if k.alg != "" && !fits(k.alg, k.pub) {
				t.Fatalf("kept a %T declared for %s", k.pub, k.alg)
			}
		}
		for _, s := range skips {
			if s.reason == "" {
				t.Fatal("a key was left out without a reason")
			}
		}
	})
}
