package interop_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/siojwt/siojwt/interop/harness"
)

// handshakeFrom connects with a token, claiming to come from ip through the
// X-Forwarded-For header (polling, so the header is on every request).
func handshakeFrom(url, ip, token string) harness.Scenario {
	return harness.Scenario{
		URL: url, Transports: []string{harness.Polling},
		Headers: map[string]string{"X-Forwarded-For": ip},
		Auth:    map[string]any{"token": token},
		Steps:   []harness.Step{harness.WaitAny(15*time.Second, "connect", "connect_error")},
	}
}

func outcome(r harness.Result) string {
	if d, ok := r.Rejection(); ok {
		return d.Code
	}
	if _, ok := r.First("connect"); ok {
		return "connect"
	}
	return "none: " + r.String()
}

// TestFailureRateLimit checks the per-address limit on failed
// authentications with real clients, through a trusted proxy's
// X-Forwarded-For, that a valid token from a limited address still
// connects, and that a flood of failures from one address does not keep
// others out.
func TestFailureRateLimit(t *testing.T) {
	fx := harness.StartFixture(t, "-fail-limit", "5", "-fail-rate", "0.01", "-trusted-proxy", "127.0.0.1")
	good := harness.Login(t, fx.URL, "alice")
	const attacker, other = "203.0.113.9", "198.51.100.7"

	for i := 1; i <= 5; i++ {
		if got := outcome(harness.RunClient(t, handshakeFrom(fx.URL, attacker, "bad"))); got != "invalid_token" {
			t.Fatalf("failure %d: %s, want invalid_token", i, got)
		}
	}
	r := harness.RunClient(t, handshakeFrom(fx.URL, attacker, "bad"))
	d, ok := r.Rejection()
	if !ok || d.Code != "rate_limited" || d.Message != "too many failed authentications, retry later" || d.Type != "UnauthorizedError" {
		t.Fatalf("the sixth failure was not rate limited: %s", r)
	}
	// A valid token is verified first: a spent budget never refuses it.
	if got := outcome(harness.RunClient(t, handshakeFrom(fx.URL, attacker, good))); got != "connect" {
		t.Fatalf("a good token from the limited address: %s, want connect", got)
	}
	if got := outcome(harness.RunClient(t, handshakeFrom(fx.URL, other, good))); got != "connect" {
		t.Fatalf("another address: %s, want connect", got)
	}

	// 1000 failed handshakes from the attacker while another address
	// connects and talks.
	many := harness.RunMany(t, 1000, harness.Scenario{
		URL: fx.URL, Transports: []string{harness.Websocket},
		Headers: map[string]string{"X-Forwarded-For": attacker},
		Auth:    map[string]any{"token": "bad"},
		Steps:   []harness.Step{harness.WaitAny(30*time.Second, "connect", "connect_error")},
	})
	if many.Outcomes["connect_error:rate_limited"] < 990 {
		t.Fatalf("flood not limited: %s", many)
	}
	start := time.Now()
	talk := harness.RunClient(t, harness.Scenario{
		URL: fx.URL, Headers: map[string]string{"X-Forwarded-For": other},
		Auth: map[string]any{"token": good},
		Steps: []harness.Step{harness.Wait("connect", 10*time.Second), harness.Emit("echo", "hi"),
			harness.Wait("echo-response", 10*time.Second)},
	})
	if !talk.OK {
		t.Fatalf("an authenticated client from another address failed after the flood: %s", talk)
	}
	t.Logf("flood: %d refused as rate_limited in %d ms; then another address connected and echoed in %v",
		many.Outcomes["connect_error:rate_limited"], many.DurationMS, time.Since(start).Round(time.Millisecond))
}

// TestForwardedForNotTrustedByDefault checks that, without a trusted proxy,
// a client cannot escape the limit by inventing X-Forwarded-For values.
func TestForwardedForNotTrustedByDefault(t *testing.T) {
	fx := harness.StartFixture(t, "-fail-limit", "3", "-fail-rate", "0.01")
	var last string
	for i := 0; i < 5; i++ {
		last = outcome(harness.RunClient(t, handshakeFrom(fx.URL, fmt.Sprintf("192.0.2.%d", i+1), "bad")))
	}
	if last != "rate_limited" {
		t.Fatalf("spoofed X-Forwarded-For escaped the limit: last outcome %s", last)
	}
}

// TestMetricsEndpoint checks that /metrics shows the library's series after
// real handshakes, with bounded labels.
func TestMetricsEndpoint(t *testing.T) {
	fx := harness.StartFixture(t)
	good := harness.Login(t, fx.URL, "alice")
	if got := outcome(harness.RunClient(t, handshakeFrom(fx.URL, "x", good))); got != "connect" {
		t.Fatalf("good token: %s", got)
	}
	if got := outcome(harness.RunClient(t, handshakeFrom(fx.URL, "x", "bad"))); got != "invalid_token" {
		t.Fatalf("bad token: %s", got)
	}
	resp, err := http.Get(fx.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	for _, want := range []string{
		`siojwt_auth_attempts_total{code="",mode="handshake",result="success"} 1`,
		`siojwt_auth_attempts_total{code="invalid_token",mode="handshake",result="failure"} 1`,
		`siojwt_verify_duration_seconds_count{mode="handshake"} 2`,
		`siojwt_authenticated_sockets`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}
