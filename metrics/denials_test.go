package metrics

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/authz"
	"github.com/siojwt/siojwt/core"
)

func forbidden(id string, kind authz.Kind, rule string) siojwt.Event {
	e := ev(siojwt.EventForbidden, hs, "/chat", id, core.CodeInsufficientScope, 0)
	e.Denied, e.Rule = kind, rule
	return e
}

// TestDenials: denials_total by kind and rule; a namespace refusal of a
// counted socket leaves the gauge, an event or room refusal does not; rule
// names beyond the bound are "other".
func TestDenials(t *testing.T) {
	c := newCollector(t)
	c.Observe(ev(siojwt.EventAuthenticated, hs, "/chat", "a", "", 0))
	c.Observe(ev(siojwt.EventAuthenticated, hs, "/chat", "b", "", 0))
	c.Observe(forbidden("a", authz.KindEvent, "chat:write"))
	c.Observe(forbidden("a", authz.KindEvent, "chat:write"))
	c.Observe(forbidden("a", authz.KindRoom, "rooms"))
	if got := testutil.ToFloat64(c.sockets); got != 2 {
		t.Fatalf("gauge %v after event and room refusals, want 2", got)
	}
	c.Observe(forbidden("b", authz.KindNamespace, "chat:read"))
	c.Observe(forbidden("z", authz.KindNamespace, "chat:read")) // refused at the handshake: never counted
	if got := testutil.ToFloat64(c.sockets); got != 1 {
		t.Fatalf("gauge %v after a namespace cut, want 1", got)
	}
	for _, tc := range []struct {
		kind, rule string
		want       float64
	}{
		{"event", "chat:write", 2}, {"room", "rooms", 1}, {"namespace", "chat:read", 2},
	} {
		if got := testutil.ToFloat64(c.denials.counter.WithLabelValues(tc.kind, tc.rule)); got != tc.want {
			t.Errorf("denials{%s,%s} = %v, want %v", tc.kind, tc.rule, got, tc.want)
		}
	}
	for i := range 2 * maxRuleLabels {
		c.Observe(forbidden("a", authz.Kind(9), fmt.Sprintf("rule%d", i)))
	}
	if n := testutil.CollectAndCount(c, "siojwt_denials_total"); n > maxRuleLabels+4 {
		t.Fatalf("%d denial series, want at most %d", n, maxRuleLabels+4)
	}
	if testutil.ToFloat64(c.denials.counter.WithLabelValues(Other, Other)) == 0 {
		t.Fatal("no denial counted as other")
	}
}
