package jwks

import (
	"context"
	"strings"
	"testing"

	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/clock"
)

// TestCausesClipClientText: the causes of Key's errors, which reach logs,
// quote at most a short prefix of the kid, alg and iss a client chose.
func TestCausesClipClientText(t *testing.T) {
	old := newRSA(0, "old")
	p := newIDP(t, keySet(t, old.jwk(t, nil)))
	s := newSetFor(t, p, clock.NewFake(t0))
	long := strings.Repeat("K", 5500)
	for _, h := range []map[string]any{
		{"alg": "RS256", "kid": long},
		{"alg": long, "kid": "old"},
		{"alg": "RS256", "kid": "old", "x": long},
	} {
		_, err := s.Key(context.Background(), &core.KeyRequest{Header: h})
		if err == nil {
			continue
		}
		if msg := err.Error(); len(msg) > 300 || strings.Contains(msg, strings.Repeat("K", 100)) {
			t.Errorf("a %d-byte cause: %.200s…", len(msg), msg)
		}
	}
}
