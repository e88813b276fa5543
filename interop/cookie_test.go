package interop_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/interop/harness"
)

// TestConnectCookieFallback checks -cookie in post-connect mode with the
// real clients: the token sent in "authenticate" wins over the handshake
// cookie (a stale cookie does not refuse a valid event token), and the
// cookie stands in only for an event that carries no token.
func TestConnectCookieFallback(t *testing.T) {
	fx := harness.StartFixture(t, "-mode", "connect", "-cookie", "jwt", "-timeout", "5s", "-unauthorized-wait", "3s")
	good := harness.Login(t, fx.URL, "alice")
	stale := mint(t, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(-time.Minute).Unix()})
	accepted := func(t *testing.T, _ combo, r harness.Result) {
		t.Helper()
		expectOK(t, r)
		if r.Count("authenticated") != 1 || r.Count("unauthorized") != 0 {
			t.Fatalf("want one authenticated, no unauthorized: %s", r)
		}
	}
	cookie := func(v string) func(combo, *harness.Scenario) {
		return func(_ combo, s *harness.Scenario) { s.Cookie = v }
	}
	runCases(t, fx.URL, []clientCase{
		{name: "event token over a stale cookie", setup: cookie("jwt=" + stale), steps: authenticated(good), check: accepted},
		{name: "cookie when the event has no token", setup: cookie("jwt=" + good),
			steps: []harness.Step{
				harness.Wait("connect", waitLong),
				harness.Emit("authenticate", map[string]any{}),
				harness.Wait("authenticated", waitShort),
			}, check: accepted},
		{name: "stale cookie and no token in the event", setup: cookie("jwt=" + stale),
			steps: refusedSteps(map[string]any{}), check: refused("invalid_token", "jwt expired")},
	})
}
