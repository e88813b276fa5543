package interop_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/interop/harness"
)

// authenticated waits for the connection, authenticates with token and
// waits for "authenticated".
func authenticated(token string) []harness.Step {
	return []harness.Step{
		harness.Wait("connect", waitLong),
		harness.Authenticate(token),
		harness.Wait("authenticated", waitShort),
	}
}

// refusedSteps connects, emits "authenticate" with args, waits for
// "unauthorized", acknowledges it and waits for the disconnection.
func refusedSteps(args ...any) []harness.Step {
	return []harness.Step{
		harness.Wait("connect", waitLong),
		harness.Emit("authenticate", args...),
		harness.Wait("unauthorized", waitShort),
		harness.AckLast(),
		harness.Wait("disconnect", waitShort),
	}
}

// refused checks a run of refusedSteps: "unauthorized" with exactly code
// and msg, then "io server disconnect" well before the fixture's wait
// (3 s): the acknowledgement did it.
func refused(code, msg string) func(*testing.T, combo, harness.Result) {
	return func(t *testing.T, _ combo, r harness.Result) {
		t.Helper()
		expectOK(t, r)
		expectUnauthorized(t, mustEvent(t, r, "unauthorized"), code, msg)
		expectServerDisconnect(t, r)
		if d := between(t, r, "unauthorized", "disconnect"); d > 2500*time.Millisecond {
			t.Fatalf("disconnected %v after the acknowledgement, want at once: %s", d, r)
		}
		if n := r.Count("authenticated"); n != 0 {
			t.Fatalf("%d authenticated events: %s", n, r)
		}
	}
}

// expectArgs checks the arguments of every event called name, in order.
func expectArgs(t testing.TB, r harness.Result, name string, want ...[]any) {
	t.Helper()
	var got [][]any
	for _, e := range r.Events {
		if e.Name == name {
			got = append(got, argsOf(t, e))
		}
	}
	if len(want) == 0 {
		want = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s events with arguments %v, want %v: %s", name, got, want, r)
	}
}

// TestConnectMode checks the post-connect flow with v4 and v2 over
// websocket and polling: authentication, events before it, reconnection,
// refusals with their exact payload, token data types and sizes, and
// clients that misbehave.
func TestConnectMode(t *testing.T) {
	fx := harness.StartFixture(t, "-mode", "connect", "-timeout", "5s", "-unauthorized-wait", "3s")
	good := harness.Login(t, fx.URL, "alice")
	expired := mint(t, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(-time.Minute).Unix()})
	cases := []clientCase{
		{name: "authenticate, echo, reconnect, authenticate again",
			steps: []harness.Step{
				harness.Wait("connect", waitLong),
				harness.Emit("echo", "early"),
				harness.ExpectNo(500*time.Millisecond, "echo-response", "authenticated"),
				harness.Authenticate(good),
				harness.Wait("authenticated", waitShort),
				harness.Emit("echo", "after"),
				harness.Wait("echo-response", waitShort),
				harness.Disconnect(),
				harness.Wait("io:close", waitShort),
				harness.Connect(),
				harness.Wait("connect", waitLong),
				harness.Authenticate(good),
				harness.Wait("authenticated", waitShort),
				harness.Emit("echo", "again"),
				harness.Wait("echo-response", waitShort),
				harness.ExpectNo(300*time.Millisecond, "authenticated", "echo-response", "unauthorized"),
			},
			check: func(t *testing.T, _ combo, r harness.Result) {
				expectOK(t, r)
				expectArgs(t, r, "authenticated", []any{}, []any{})
				expectArgs(t, r, "echo-response", []any{"after"}, []any{"again"})
				if got := r.DisconnectReason(); got != "io client disconnect" {
					t.Fatalf("disconnect reason %q, want the client's own", got)
				}
			}},
		{name: "authenticate twice",
			steps: []harness.Step{
				harness.Wait("connect", waitLong),
				harness.Authenticate(good),
				harness.Authenticate(good),
				harness.Wait("authenticated", waitShort),
				harness.Wait("authenticated", waitShort),
				harness.Emit("echo", "once"),
				harness.Wait("echo-response", waitShort),
				harness.ExpectNo(500*time.Millisecond, "authenticated", "echo-response", "unauthorized", "disconnect"),
			},
			check: func(t *testing.T, _ combo, r harness.Result) {
				expectOK(t, r)
				expectArgs(t, r, "authenticated", []any{}, []any{})
				expectArgs(t, r, "echo-response", []any{"once"})
			}},
		{name: "bad token", steps: refusedSteps(map[string]any{"token": "abc"}), check: refused("invalid_token", "jwt malformed")},
		{name: "expired token", steps: refusedSteps(map[string]any{"token": expired}), check: refused("invalid_token", "jwt expired")},
		{name: "wrong secret",
			steps: refusedSteps(map[string]any{"token": mintWith(t, jwt.SigningMethodHS256, []byte("another"), userClaims("alice"))}),
			check: refused("invalid_token", "invalid signature")},
		{name: "alg none", steps: refusedSteps(map[string]any{"token": unsigned(`{"alg":"none"}`, `{"sub":"alice"}`, "")}),
			check: refused("invalid_token", "jwt signature is required")},
		{name: "token too large (200 KB)", steps: refusedSteps(map[string]any{"token": strings.Repeat("x", 200<<10)}),
			check: refused("invalid_token", "jwt too large")},
		{name: "token missing", steps: refusedSteps(map[string]any{}), check: refused("invalid_token", "invalid token datatype")},
		{name: "token null", steps: refusedSteps(map[string]any{"token": nil}), check: refused("invalid_token", "invalid token datatype")},
		{name: "token number", steps: refusedSteps(map[string]any{"token": 42}), check: refused("invalid_token", "invalid token datatype")},
		{name: "token array", steps: refusedSteps(map[string]any{"token": []any{good}}), check: refused("invalid_token", "invalid token datatype")},
		{name: "token object", steps: refusedSteps(map[string]any{"token": map[string]any{"jwt": good}}), check: refused("invalid_token", "invalid token datatype")},
		{name: "token empty", steps: refusedSteps(map[string]any{"token": ""}), check: refused("invalid_token", "invalid token datatype")},
		{name: "payload null", steps: refusedSteps(nil), check: refused("invalid_token", "invalid token datatype")},
		{name: "payload a string", steps: refusedSteps(good), check: refused("invalid_token", "invalid token datatype")},
		{name: "no payload", steps: refusedSteps(), check: refused("invalid_token", "invalid token datatype")},
		{name: "token of 1 MB",
			steps: []harness.Step{
				harness.Wait("connect", waitLong),
				harness.Authenticate(strings.Repeat("x", 1<<20)),
				harness.Wait("disconnect", waitLong),
			},
			// Over the server library's maxHttpBufferSize (1 MB): it closes
			// the connection before the binding sees the event.
			check: func(t *testing.T, _ combo, r harness.Result) {
				expectOK(t, r)
				if got := r.DisconnectReason(); got != "transport close" && got != "transport error" {
					t.Fatalf("disconnect reason %q, want the server to close the transport: %s", got, r)
				}
				if r.Count("authenticated")+r.Count("unauthorized") != 0 {
					t.Fatalf("the binding answered a 1 MB message: %s", r)
				}
			}},
		{name: "disconnect mid-verification",
			steps: []harness.Step{harness.Wait("connect", waitLong), harness.Authenticate(good), harness.Disconnect()},
			check: func(t *testing.T, _ combo, r harness.Result) { expectOK(t, r) }},
		{name: "bad token not acknowledged",
			steps: []harness.Step{
				harness.Wait("connect", waitLong),
				harness.Authenticate("abc"),
				harness.Wait("unauthorized", waitShort),
				harness.Wait("disconnect", waitLong),
			},
			check: func(t *testing.T, _ combo, r harness.Result) {
				expectOK(t, r)
				expectUnauthorized(t, mustEvent(t, r, "unauthorized"), "invalid_token", "jwt malformed")
				expectServerDisconnect(t, r)
				// The wait starts after the client's authenticate, sent after
				// its connect event: a sound lower bound whatever the load.
				if d := between(t, r, "connect", "disconnect"); d < 3*time.Second-5*time.Millisecond {
					t.Fatalf("disconnected %v after connecting, want the fixture's 3s wait at least", d)
				}
				if d := between(t, r, "unauthorized", "disconnect"); d > 6*time.Second {
					t.Fatalf("disconnected %v after unauthorized, want about the fixture's 3s wait", d)
				}
			}},
	}
	runCases(t, fx.URL, cases)
	// The server keeps serving after all of the above.
	runCases(t, fx.URL, []clientCase{{name: "afterwards",
		steps: append(authenticated(good), harness.Emit("echo", "still"), harness.Wait("echo-response", waitShort)),
		check: func(t *testing.T, _ combo, r harness.Result) {
			expectOK(t, r)
			expectArgs(t, r, "echo-response", []any{"still"})
		}}})
}

// TestConnectUnauthorizedAtOnce checks -unauthorized-wait 0: the socket is
// disconnected right after "unauthorized", without waiting for the
// acknowledgement.
func TestConnectUnauthorizedAtOnce(t *testing.T) {
	fx := harness.StartFixture(t, "-mode", "connect", "-unauthorized-wait", "0")
	runCases(t, fx.URL, []clientCase{{name: "bad token",
		steps: []harness.Step{
			harness.Wait("connect", waitLong),
			harness.Authenticate("abc"),
			harness.Wait("unauthorized", waitShort),
			harness.Wait("disconnect", waitShort),
		},
		check: func(t *testing.T, _ combo, r harness.Result) {
			expectOK(t, r)
			e := mustEvent(t, r, "unauthorized")
			// socketio-jwt asks for an acknowledgement even when it does not
			// wait for it (callback: false): clients call it unconditionally.
			expectUnauthorized(t, e, "invalid_token", "jwt malformed")
			expectServerDisconnect(t, r)
			// The default wait is 1 s: well under it means at once.
			if d := between(t, r, "unauthorized", "disconnect"); d > 800*time.Millisecond {
				t.Fatalf("disconnected %v after unauthorized, want at once", d)
			}
		}}})
}

// TestConnectTimeout checks -timeout: a socket that does not authenticate
// is disconnected ("io server disconnect") at about the timeout, and an
// "authenticate" sent after that does nothing; 200 such sockets at once are
// all cut.
func TestConnectTimeout(t *testing.T) {
	fx := harness.StartFixture(t, "-mode", "connect", "-timeout", "1s", "-max-pending", "1000")
	good := harness.Login(t, fx.URL, "alice")
	runCases(t, fx.URL, []clientCase{{name: "no authenticate",
		steps: []harness.Step{
			harness.Wait("connect", waitLong),
			harness.Wait("disconnect", waitShort),
			harness.Authenticate(good),
			harness.ExpectNo(500*time.Millisecond, "authenticated", "connect", "unauthorized"),
		},
		check: func(t *testing.T, _ combo, r harness.Result) {
			expectOK(t, r)
			expectServerDisconnect(t, r)
			// The server's timer starts after the client was created: a
			// sound lower bound whatever the load.
			if e := mustEvent(t, r, "disconnect"); e.At() < time.Second {
				t.Fatalf("disconnected %v after the client started, want the 1s timeout at least", e.At())
			}
			if d := between(t, r, "connect", "disconnect"); d > 4*time.Second {
				t.Fatalf("disconnected %v after connecting, want about 1s", d)
			}
		}}})

	many := harness.RunMany(t, 200, harness.Scenario{
		URL: fx.URL, Transports: []string{harness.Websocket}, Deadline: 40 * time.Second,
		Steps: []harness.Step{harness.Wait("connect", 30*time.Second), harness.Wait("disconnect", 30*time.Second)},
	})
	if many.Outcomes["disconnect:io server disconnect"] != 200 || many.Events["authenticated"] != 0 {
		t.Fatalf("200 sockets that never authenticate: %s", many)
	}
	t.Logf("200 idle sockets cut, the last %d ms after its client started", many.TerminalAtMaxMS)

	runCases(t, fx.URL, []clientCase{{name: "afterwards", only: combos[:1],
		steps: append(authenticated(good), harness.Emit("echo", "still"), harness.Wait("echo-response", waitShort)),
		check: func(t *testing.T, _ combo, r harness.Result) { expectOK(t, r) }}})
}

// TestBroadcastIsolation checks, with real clients in connect mode, that an
// authenticated socket's "shout" (a namespace broadcast) reaches the other
// authenticated sockets but never one that has not authenticated yet, and
// reaches that one once it has.
func TestBroadcastIsolation(t *testing.T) {
	fx := harness.StartFixture(t, "-mode", "connect", "-timeout", "15s")
	const pendingFor = 2500 * time.Millisecond
	// Each row: the shouter A, an authenticated listener B, a pending
	// listener C that authenticates after pendingFor.
	rows := [][3]combo{
		{combos[0], combos[1], combos[0]},
		{combos[3], combos[2], combos[3]},
		{combos[0], combos[3], combos[2]},
		{combos[2], combos[0], combos[1]},
	}
	var ss []harness.Scenario
	for i, row := range rows {
		tokA := harness.Login(t, fx.URL, fmt.Sprintf("a%d", i))
		tokB := harness.Login(t, fx.URL, fmt.Sprintf("b%d", i))
		tokC := harness.Login(t, fx.URL, fmt.Sprintf("c%d", i))
		a := append(authenticated(tokA), harness.Sleep(500*time.Millisecond))
		for k := range 12 {
			a = append(a, harness.Emit("shout", fmt.Sprintf("row %d shout %d", i, k)), harness.Sleep(300*time.Millisecond))
		}
		b := append(authenticated(tokB), harness.Wait("shout", waitLong), harness.Sleep(2*time.Second))
		c := []harness.Step{
			harness.Wait("connect", waitLong),
			harness.Emit("shout", fmt.Sprintf("pending %d", i)),
			harness.ExpectNo(pendingFor, "shout"),
			harness.Authenticate(tokC),
			harness.Wait("authenticated", waitShort),
			harness.Wait("shout", waitLong),
		}
		ss = append(ss, row[0].scenario(fx.URL, "", a...), row[1].scenario(fx.URL, "", b...), row[2].scenario(fx.URL, "", c...))
	}
	results := harness.RunBatch(t, ss)
	for i, row := range rows {
		t.Run(fmt.Sprintf("A %s, B %s, C %s", row[0], row[1], row[2]), func(t *testing.T) {
			a, b, c := results[3*i], results[3*i+1], results[3*i+2]
			for _, r := range []harness.Result{a, b, c} {
				expectOK(t, r)
			}
			for _, r := range []harness.Result{a, b} {
				for _, e := range r.Events {
					if e.Name == "shout" && strings.HasPrefix(e.ArgString(0), "pending") {
						t.Fatalf("a pending socket's shout was broadcast: %s", e)
					}
				}
			}
			// The clients of one batch start together: B heard a shout while
			// C was pending and heard nothing.
			from := mustEvent(t, c, "connect").At()
			to := from + pendingFor - 200*time.Millisecond
			if !slices.ContainsFunc(b.Events, func(e harness.Event) bool {
				return e.Name == "shout" && e.At() >= from && e.At() <= to
			}) {
				t.Fatalf("B heard no shout while C was pending (%v to %v): the test proved nothing\nB: %s\nC: %s", from, to, b, c)
			}
		})
	}
}
