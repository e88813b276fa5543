package core_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/siojwt/siojwt/core"
)

// TestKeyWarnings checks that an HMAC secret shorter than RFC 7518 §3.2
// requires for an allowed algorithm is reported, and nothing else is.
func TestKeyWarnings(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts []core.Option
		want []string // substrings of the one warning; nil for none
	}{
		{"11 bytes, all HS", []core.Option{core.WithSecretString("test secret")}, []string{"11 bytes", "HS256 needs 32", "HS384 needs 48", "HS512 needs 64", "at least 64 bytes"}},
		{"31 bytes, HS256 only", []core.Option{core.WithSecret(make([]byte, 31)), core.WithAlgorithms("HS256")}, []string{"31 bytes", "HS256 needs 32", "at least 32 bytes"}},
		{"32 bytes, HS256 only", []core.Option{core.WithSecret(make([]byte, 32)), core.WithAlgorithms("HS256")}, nil},
		{"32 bytes, all HS", []core.Option{core.WithSecret(make([]byte, 32))}, []string{"HS384 needs 48", "HS512 needs 64"}},
		{"64 bytes, all HS", []core.Option{core.WithSecret(make([]byte, 64))}, nil},
		{"public key", []core.Option{core.WithPublicKey(&ec.PublicKey)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := core.New(tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			got := v.KeyWarnings()
			if tt.want == nil {
				if len(got) != 0 {
					t.Fatalf("warnings %q, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("warnings %q, want one", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got[0], w) {
					t.Fatalf("warning %q does not say %q", got[0], w)
				}
			}
			if strings.Contains(tt.name, "HS256 only") && strings.Contains(got[0], "HS384") {
				t.Fatalf("warning %q names an algorithm that is not allowed", got[0])
			}
		})
	}
}
