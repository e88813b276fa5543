package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/core"
)

// TestFailureKinds: every mode and kind has its series from the start; a
// rejection counts under its failure kind (not its code), one of a kind
// outside core.Kinds() under "other".
func TestFailureKinds(t *testing.T) {
	c, err := New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []siojwt.Mode{siojwt.ModeHandshake, siojwt.ModePostConnect} {
		for _, k := range core.Kinds() {
			if v := testutil.ToFloat64(c.failures.WithLabelValues(string(m), string(k))); v != 0 {
				t.Fatalf("%s/%s = %v at start", m, k, v)
			}
		}
	}
	if n := testutil.CollectAndCount(c.failures); n != 2*len(core.Kinds()) {
		t.Fatalf("%d series declared, want %d", n, 2*len(core.Kinds()))
	}
	rejected := func(code string, k core.Kind) siojwt.Event {
		return siojwt.Event{Kind: siojwt.EventRejected, Mode: siojwt.ModeHandshake, Namespace: "/", SocketID: "x", Code: code, Failure: k}
	}
	c.Observe(rejected(core.CodeInvalidToken, core.KindExpired))
	c.Observe(rejected(core.CodeRateLimited, core.KindSignature)) // a spent budget: counted under its cause
	c.Observe(rejected(core.CodeInvalidToken, "made up"))
	for k, want := range map[string]float64{string(core.KindExpired): 1, string(core.KindSignature): 1, Other: 1, string(core.KindRateLimited): 0} {
		if v := testutil.ToFloat64(c.failures.WithLabelValues(string(siojwt.ModeHandshake), k)); v != want {
			t.Errorf("kind %s = %v, want %v", k, v, want)
		}
	}
}
