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

// Messages of the authz fixture's refusals (WIRE.md, "Authorization").
const (
	scopeCode    = "insufficient_scope"
	msgChatRead  = "insufficient scope: chat:read required"
	msgChatWrite = "insufficient scope: chat:write required"
	msgAdmin     = "insufficient scope: admin required"
	msgRoom      = "insufficient scope: room not granted"
	// quiet is how long a run watches for an event that must not come.
	quiet = 500 * time.Millisecond
)

// grantsToken is a token of the fixture's secret for sub with the extra
// claims (grants, rooms).
func grantsToken(t testing.TB, sub string, extra jwt.MapClaims) string {
	t.Helper()
	c := userClaims(sub)
	for k, v := range extra {
		c[k] = v
	}
	return mint(t, c)
}

// in sets a case's namespace.
func in(nsp string) func(combo, *harness.Scenario) {
	return func(_ combo, s *harness.Scenario) { s.Namespace = nsp }
}

// ackArgs returns the arguments of the n-th (from 1) "ack:<event>".
func ackArgs(t testing.TB, r harness.Result, event string, n int) []any {
	t.Helper()
	seen := 0
	for _, e := range r.Events {
		if e.Name == "ack:"+event {
			if seen++; seen == n {
				return argsOf(t, e)
			}
		}
	}
	t.Fatalf("no ack %d of %s: %s", n, event, r)
	return nil
}

// expectAck checks the n-th acknowledgement of event: exactly want.
func expectAck(t testing.TB, r harness.Result, event string, n int, want any) {
	t.Helper()
	if got := ackArgs(t, r, event, n); !reflect.DeepEqual(got, []any{want}) {
		t.Fatalf("ack %d of %s carries %v, want [%v]: %s", n, event, got, want, r)
	}
}

var okAck = map[string]any{"ok": true}

// countArgs counts the events called name whose arguments are exactly
// want: the clients of a batch share "/chat", so each case posts text of
// its own and looks for it among everyone's messages.
func countArgs(t testing.TB, r harness.Result, name string, want ...any) int {
	t.Helper()
	n := 0
	for _, e := range r.Events {
		if e.Name == name && reflect.DeepEqual(argsOf(t, e), want) {
			n++
		}
	}
	return n
}

// expectMessage checks that the client got exactly n "message" events
// carrying m.
func expectMessage(t testing.TB, r harness.Result, m any, n int) {
	t.Helper()
	if got := countArgs(t, r, "message", m); got != n {
		t.Fatalf("%d messages %v, want %d: %s", got, m, n, r)
	}
}

// expectStayed checks that the socket was never disconnected.
func expectStayed(t testing.TB, r harness.Result) {
	t.Helper()
	expectOK(t, r)
	if n := r.Count("disconnect"); n != 0 {
		t.Fatalf("disconnected: %s", r)
	}
}

// TestAuthorization drives the authz fixture with v4 and v2 clients over
// websocket and polling: each rule kind (namespace, event, room) allowed,
// refused, and changed by an in-band refresh, and grants claims of the
// wrong shape. The clients of the batch share "/chat": each case uses text
// and rooms of its own.
func TestAuthorization(t *testing.T) {
	fx := harness.StartFixture(t, "-mode", "authz")
	var cases []clientCase
	// Each case runs with one combination (cur): its text, rooms and
	// subject are its own.
	var cur combo
	add := func(name, nsp string, only []combo, token string, steps []harness.Step, check func(*testing.T, combo, harness.Result)) {
		if only != nil && !slices.Contains(only, cur) {
			return
		}
		cases = append(cases, clientCase{name: name, only: []combo{cur}, token: token, setup: in(nsp), steps: steps, check: check})
	}
	var n int
	sub := func() string { n++; return fmt.Sprintf("authz%d", n) }
	for _, c := range combos {
		cur = c
		authzCases(t, add, sub)
	}
	runCases(t, fx.URL, cases)
}

// authzCases adds the cases of TestAuthorization for one combination.
func authzCases(t *testing.T, add func(string, string, []combo, string, []harness.Step, func(*testing.T, combo, harness.Result)), sub func() string) {
	readWrite := jwt.MapClaims{"scope": "chat:read chat:write"}
	readOnly := jwt.MapClaims{"scope": "chat:read"}
	rejectedWith := func(msg string) func(*testing.T, combo, harness.Result) {
		return func(t *testing.T, _ combo, r harness.Result) { expectRejected(t, r, scopeCode, msg) }
	}
	connectSteps := []harness.Step{harness.WaitAny(waitLong, "connect", "connect_error", "error")}
	// room returns a room of the team:42:* grant, of the case's own.
	room := func(s string) string { return "team:42:" + s }
	team := func(extra ...any) jwt.MapClaims {
		return jwt.MapClaims{"scope": "chat:read chat:write", "rooms": append([]any{"team:42:*"}, extra...)}
	}
	joinArg := func(r string) map[string]any { return map[string]any{"room": r} }
	say := func(r, text string) map[string]any { return map[string]any{"room": r, "text": text} }

	// "/": any valid token; whoami acks {sub}.
	add("root whoami", "/", nil, grantsToken(t, "root-user", nil),
		[]harness.Step{harness.Wait("connect", waitLong), harness.EmitAck("whoami", waitShort)},
		func(t *testing.T, _ combo, r harness.Result) {
			expectStayed(t, r)
			expectAck(t, r, "whoami", 1, map[string]any{"sub": "root-user"})
		})

	// Namespace rules.
	{
		s := sub()
		add("chat allowed", "/chat", nil, grantsToken(t, s, readWrite),
			[]harness.Step{harness.Wait("connect", waitLong), harness.EmitAck("post", waitShort, "hello "+s), harness.Sleep(quiet)},
			func(t *testing.T, _ combo, r harness.Result) {
				expectStayed(t, r)
				expectAck(t, r, "post", 1, okAck)
				expectMessage(t, r, "hello "+s, 1)
			})
	}
	add("chat refused", "/chat", nil, grantsToken(t, sub(), jwt.MapClaims{"scope": "chat:write"}), connectSteps, rejectedWith(msgChatRead))
	add("chat refused without grants", "/chat", nil, grantsToken(t, sub(), nil), connectSteps, rejectedWith(msgChatRead))
	add("chat from scp list", "/chat", nil, grantsToken(t, sub(), jwt.MapClaims{"scp": []any{"chat:read"}}),
		[]harness.Step{harness.Wait("connect", waitLong)},
		func(t *testing.T, _ combo, r harness.Result) { expectOK(t, r) })
	add("chat from permissions", "/chat", nil, grantsToken(t, sub(), jwt.MapClaims{"permissions": []any{"chat:read"}}),
		[]harness.Step{harness.Wait("connect", waitLong)},
		func(t *testing.T, _ combo, r harness.Result) { expectOK(t, r) })
	admin := func(name string, claims jwt.MapClaims) {
		add(name, "/admin", nil, grantsToken(t, sub(), claims),
			[]harness.Step{harness.Wait("connect", waitLong), harness.Wait("hi admin", waitShort)},
			func(t *testing.T, _ combo, r harness.Result) { expectStayed(t, r) })
	}
	admin("admin from roles", jwt.MapClaims{"roles": []any{"admin"}})
	admin("admin from realm_access.roles", jwt.MapClaims{"realm_access": map[string]any{"roles": []any{"viewer", "admin"}}})
	add("admin refused", "/admin", nil, grantsToken(t, sub(), jwt.MapClaims{"scope": "chat:read chat:write", "roles": []any{"viewer"}}),
		connectSteps, rejectedWith(msgAdmin))

	// Event rules: a refused event has no effect and the socket stays.
	{
		s := sub()
		add("post refused with ack", "/chat", nil, grantsToken(t, s, readOnly),
			[]harness.Step{
				harness.Wait("connect", waitLong),
				harness.EmitAck("post", waitShort, "nope "+s),
				harness.ExpectNo(quiet, "forbidden", "disconnect"),
				harness.EmitAck("join", waitShort, joinArg("lobby")),
			},
			func(t *testing.T, _ combo, r harness.Result) {
				expectStayed(t, r)
				expectAck(t, r, "post", 1, errorData(scopeCode, msgChatWrite))
				expectMessage(t, r, "nope "+s, 0)
				// Still connected and served: a room not granted is refused.
				expectAck(t, r, "join", 1, errorData(scopeCode, msgRoom))
			})
	}
	{
		s := sub()
		add("post refused without ack", "/chat", nil, grantsToken(t, s, readOnly),
			[]harness.Step{
				harness.Wait("connect", waitLong),
				harness.Emit("post", "nope "+s),
				harness.Wait("forbidden", waitShort),
				harness.Emit("say", say(room(s), "nope "+s)),
				harness.Wait("forbidden", waitShort),
				harness.ExpectNo(quiet, "disconnect"),
			},
			func(t *testing.T, _ combo, r harness.Result) {
				expectStayed(t, r)
				want := func(ev string) []any {
					d := errorData(scopeCode, msgChatWrite)
					d["event"] = ev
					return []any{d}
				}
				expectArgs(t, r, "forbidden", want("post"), want("say"))
				expectMessage(t, r, "nope "+s, 0)
			})
	}

	// Room rules.
	{
		s := sub()
		add("room allowed", "/chat", nil, grantsToken(t, s, team()),
			[]harness.Step{
				harness.Wait("connect", waitLong),
				harness.EmitAck("join", waitShort, joinArg(room(s))),
				harness.EmitAck("say", waitShort, say(room(s), "hi team")),
				harness.Sleep(quiet),
			},
			func(t *testing.T, _ combo, r harness.Result) {
				expectStayed(t, r)
				expectAck(t, r, "join", 1, okAck)
				expectAck(t, r, "say", 1, okAck)
				expectMessage(t, r, say(room(s), "hi team"), 1)
			})
	}
	{
		s := sub()
		other := "team:43:" + s
		add("room refused", "/chat", nil, grantsToken(t, s, team()),
			[]harness.Step{
				harness.Wait("connect", waitLong),
				harness.EmitAck("join", waitShort, joinArg(other)),
				harness.Emit("join", joinArg("team:4")),
				harness.Wait("forbidden", waitShort),
				harness.EmitAck("join", waitShort, joinArg("")),
				harness.EmitAck("say", waitShort, say(other, "not here")),
				harness.ExpectNo(quiet, "disconnect"),
			},
			func(t *testing.T, _ combo, r harness.Result) {
				expectStayed(t, r)
				expectAck(t, r, "join", 1, errorData(scopeCode, msgRoom))
				d := errorData(scopeCode, msgRoom)
				d["event"] = "join"
				expectArgs(t, r, "forbidden", []any{d})
				expectAck(t, r, "join", 2, errorData(scopeCode, msgRoom))
				expectAck(t, r, "say", 1, okAck)
				expectMessage(t, r, say(other, "not here"), 0)
			})
	}

	// Changed by a refresh.
	{
		s := sub()
		add("refresh drops chat:read", "/chat", nil, grantsToken(t, s, readWrite),
			append([]harness.Step{harness.Wait("connect", waitLong), harness.Authenticate(grantsToken(t, s, jwt.MapClaims{"scope": "chat:write"}))},
				cutSteps(waitShort)...),
			func(t *testing.T, _ combo, r harness.Result) {
				expectCut(t, r, scopeCode, msgChatRead)
				if n := r.Count("authenticated"); n != 0 {
					t.Fatalf("the refresh was accepted: %s", r)
				}
			})
	}
	{
		s := sub()
		add("refresh drops chat:write", "/chat", nil, grantsToken(t, s, readWrite),
			[]harness.Step{
				harness.Wait("connect", waitLong),
				harness.EmitAck("post", waitShort, "before "+s),
				harness.Authenticate(grantsToken(t, s, readOnly)),
				harness.Wait("authenticated", waitShort),
				harness.EmitAck("post", waitShort, "after "+s),
				harness.ExpectNo(quiet, "disconnect"),
			},
			func(t *testing.T, _ combo, r harness.Result) {
				expectStayed(t, r)
				expectAck(t, r, "post", 1, okAck)
				expectAck(t, r, "post", 2, errorData(scopeCode, msgChatWrite))
				expectMessage(t, r, "before "+s, 1)
				expectMessage(t, r, "after "+s, 0)
			})
	}
	{
		s := sub()
		add("refresh grants chat:write", "/chat", nil, grantsToken(t, s, readOnly),
			[]harness.Step{
				harness.Wait("connect", waitLong),
				harness.EmitAck("post", waitShort, "before "+s),
				harness.Authenticate(grantsToken(t, s, readWrite)),
				harness.Wait("authenticated", waitShort),
				harness.EmitAck("post", waitShort, "after "+s),
				harness.Sleep(quiet),
			},
			func(t *testing.T, _ combo, r harness.Result) {
				expectStayed(t, r)
				expectAck(t, r, "post", 1, errorData(scopeCode, msgChatWrite))
				expectAck(t, r, "post", 2, okAck)
				expectMessage(t, r, "before "+s, 0)
				expectMessage(t, r, "after "+s, 1)
			})
	}
	{
		s := sub()
		kept := "lobby:" + s
		add("refresh drops a room", "/chat", nil, grantsToken(t, s, team(kept)),
			[]harness.Step{
				harness.Wait("connect", waitLong),
				harness.EmitAck("join", waitShort, joinArg(room(s))),
				harness.EmitAck("join", waitShort, joinArg(kept)),
				harness.EmitAck("say", waitShort, say(room(s), "before")),
				harness.Authenticate(grantsToken(t, s, jwt.MapClaims{"scope": "chat:read chat:write", "rooms": []any{kept}})),
				harness.Wait("authenticated", waitShort),
				harness.EmitAck("say", waitShort, say(room(s), "gone")),
				harness.EmitAck("say", waitShort, say(kept, "kept")),
				harness.EmitAck("join", waitShort, joinArg(room(s))),
				harness.ExpectNo(quiet, "disconnect"),
			},
			func(t *testing.T, _ combo, r harness.Result) {
				expectStayed(t, r)
				expectAck(t, r, "join", 1, okAck)
				expectAck(t, r, "join", 2, okAck)
				expectAck(t, r, "join", 3, errorData(scopeCode, msgRoom))
				expectMessage(t, r, say(room(s), "before"), 1)
				expectMessage(t, r, say(room(s), "gone"), 0)
				expectMessage(t, r, say(kept, "kept"), 1)
			})
	}

	// Grants claims of the wrong shape grant nothing (the rest of the token
	// is valid). A 1 MB scope or a 10 000-entry array does not fit in a
	// token the server accepts (8 KiB): the binding's and package authz's
	// tests cover them.
	many := make([]any, 257)
	for i := range many {
		many[i] = "chat:read"
		if i > 0 {
			many[i] = fmt.Sprintf("g%d", i)
		}
	}
	// v4 only: socket.io-client 2.x sends the query (this 2.5 KB token) in
	// the namespace's CONNECT packet ("40/chat?token=…,"), and the server
	// library's parser closes the connection when that namespace string
	// exceeds its MaxNamespaceLength (512 bytes by default).
	v4 := []combo{combos[0], combos[1]}
	for _, bad := range []struct {
		name   string
		nsp    string
		only   []combo
		claims jwt.MapClaims
		msg    string
	}{
		{"scope a number", "/chat", nil, jwt.MapClaims{"scope": 42}, msgChatRead},
		{"scope a list of numbers", "/chat", nil, jwt.MapClaims{"scope": []any{1, 2}}, msgChatRead},
		{"roles an object", "/admin", nil, jwt.MapClaims{"roles": map[string]any{"admin": true}}, msgAdmin},
		{"roles a string", "/admin", nil, jwt.MapClaims{"roles": "admin"}, msgAdmin},
		{"permissions with a number", "/chat", nil, jwt.MapClaims{"permissions": []any{"chat:read", 1}}, msgChatRead},
		{"realm_access a list", "/admin", nil, jwt.MapClaims{"realm_access": []any{"admin"}}, msgAdmin},
		{"257 roles", "/chat", v4, jwt.MapClaims{"roles": many}, msgChatRead},
	} {
		add("bad claim "+bad.name, bad.nsp, bad.only, grantsToken(t, sub(), bad.claims), connectSteps, rejectedWith(bad.msg))
	}
	add("bad rooms claim", "/chat", nil, grantsToken(t, sub(), jwt.MapClaims{"scope": "chat:read", "rooms": "lobby"}),
		[]harness.Step{harness.Wait("connect", waitLong), harness.EmitAck("join", waitShort, joinArg("lobby"))},
		func(t *testing.T, _ combo, r harness.Result) {
			expectStayed(t, r)
			expectAck(t, r, "join", 1, errorData(scopeCode, msgRoom))
		})

}

// firstArgs returns the first argument of every event called name (with
// connection-state recovery on, the server appends the packet offset).
func firstArgs(t testing.TB, r harness.Result, name string) []any {
	t.Helper()
	var out []any
	for _, e := range r.Events {
		if e.Name == name && len(e.Args) > 0 {
			out = append(out, decodeArg(t, e, 0))
		}
	}
	return out
}

// TestAuthorizationRecovery: a socket restored by connection-state
// recovery is checked again against the token its v4 client sends on
// reconnect (an auth callback): a room no longer granted is left, a
// namespace no longer granted cuts the socket, and a room still granted
// is kept, which shows the socket was recovered rather than connected
// anew.
func TestAuthorizationRecovery(t *testing.T) {
	fx := harness.StartFixture(t, "-mode", "authz", "-recovery")
	var ss []harness.Scenario
	var names []string
	for _, c := range combos[:2] {
		for _, tc := range []struct {
			name  string
			fresh jwt.MapClaims
		}{
			{"room kept", jwt.MapClaims{"scope": "chat:read chat:write", "rooms": []any{"team:42:*"}}},
			{"room left", jwt.MapClaims{"scope": "chat:read chat:write"}},
			{"namespace cut", jwt.MapClaims{"scope": "chat:write", "rooms": []any{"team:42:*"}}},
		} {
			sub := "rec-" + strings.ReplaceAll(tc.name, " ", "-") + "-" + c.transport
			room := "team:42:" + sub
			first := grantsToken(t, sub, jwt.MapClaims{"scope": "chat:read chat:write", "rooms": []any{"team:42:*"}})
			steps := []harness.Step{
				harness.Wait("connect", waitLong),
				harness.EmitAck("join", waitShort, map[string]any{"room": room}),
				// The client must have received an event to be recovered.
				harness.EmitAck("say", waitShort, map[string]any{"room": room, "text": "before"}),
				harness.Wait("message", waitShort),
				harness.DropTransport(),
				harness.WaitAny(waitLong, "connect", "connect_error"),
			}
			if tc.name == "namespace cut" {
				steps = append(steps, cutSteps(waitShort)...)
			} else {
				steps = append(steps,
					harness.EmitAck("say", waitShort, map[string]any{"room": room, "text": "after"}),
					harness.ExpectNo(quiet, "disconnect"))
			}
			s := harness.Scenario{
				URL: fx.URL, Namespace: "/chat", Client: c.client, Transports: []string{c.transport},
				AuthFn:       []any{map[string]any{"token": first}, map[string]any{"token": grantsToken(t, sub, tc.fresh)}},
				Reconnection: true, ReconnectionDelay: 300 * time.Millisecond, ReconnectionDelayMax: 300 * time.Millisecond,
				NoReconnectionJitter: true, Steps: steps,
			}
			ss, names = append(ss, s), append(names, tc.name+"/"+c.String())
		}
	}
	results := harness.RunBatch(t, ss)
	for i, r := range results {
		t.Run(names[i], func(t *testing.T) {
			if r.Count("connect") != 2 || r.Count("connect_error") != 0 {
				t.Fatalf("want a recovered connection, not a new handshake: %s", r)
			}
			room := ss[i].Steps[1].Args[0].(map[string]any)["room"]
			msgs := firstArgs(t, r, "message")
			switch {
			case strings.HasPrefix(names[i], "namespace cut"):
				expectCut(t, r, scopeCode, msgChatRead)
			case strings.HasPrefix(names[i], "room kept"):
				expectOK(t, r)
				want := []any{map[string]any{"room": room, "text": "before"}, map[string]any{"room": room, "text": "after"}}
				if !reflect.DeepEqual(msgs, want) {
					t.Fatalf("messages %v, want %v: %s", msgs, want, r)
				}
			default:
				expectOK(t, r)
				if want := []any{map[string]any{"room": room, "text": "before"}}; !reflect.DeepEqual(msgs, want) {
					t.Fatalf("messages %v from a room no longer granted: %s", msgs, r)
				}
			}
		})
	}
}
