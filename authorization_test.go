package siojwt

import (
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/authz"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/syncbuf"
	"github.com/siojwt/siojwt/revoke"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

func mustPolicy(t testing.TB, r authz.Rules) *authz.Policy {
	t.Helper()
	p, err := authz.NewPolicy(r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// hookLog records the binding's events.
type hookLog struct {
	mu     sync.Mutex
	events []Event
}

func (h *hookLog) add(e Event) { h.mu.Lock(); h.events = append(h.events, e); h.mu.Unlock() }

func (h *hookLog) forbidden() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Event
	for _, e := range h.events {
		if e.Kind == EventForbidden {
			out = append(out, e)
		}
	}
	return out
}

func TestAuthorizationOptions(t *testing.T) {
	io := socket.NewServer(nil, nil)
	defer io.Close(nil)
	v, err := core.New(core.WithSecretString(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(io, v, WithGrantsExtractor(nil)); err == nil {
		t.Fatal("WithGrantsExtractor(nil) accepted")
	}
	a, err := New(io, v)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Protect(io.Of("/a", nil), NamespaceAuthorization(nil)); err == nil {
		t.Fatal("NamespaceAuthorization(nil) accepted")
	}
	own := mustPolicy(t, authz.Rules{Events: map[string]authz.Rule{AuthenticateEvent: authz.AllOf("x")}})
	err = a.Protect(io.Of("/b", nil), NamespaceAuthorization(own))
	if err == nil || !strings.Contains(err.Error(), AuthenticateEvent) {
		t.Fatalf("a policy with a rule for %q: %v, want an error naming it", AuthenticateEvent, err)
	}
}

// TestAuthorizationPostConnect: in post-connect mode a namespace refusal at
// the first authentication is "unauthorized" with insufficient_scope, then
// "io server disconnect"; the hook gets EventForbidden with the rule's
// name.
func TestAuthorizationPostConnect(t *testing.T) {
	var hooks hookLog
	p := mustPolicy(t, authz.Rules{Namespace: authz.AllOf("chat:read")})
	ts := newTestServer(t, nil, []Option{WithHook(hooks.add)}, func(ts *testServer) {
		if err := ts.auth.ProtectPostConnect(ts.io.Sockets(), nil, NamespaceAuthorization(p), NamespaceUnauthorizedWait(0)); err != nil {
			t.Fatal(err)
		}
	})
	c := dialConnected(t, ts.url, "/", nil)
	_ = c.s.Emit("authenticate", map[string]any{"token": token(t, time.Now(), time.Hour, jwt.MapClaims{"scope": "chat:write"})})
	e := c.wait(t, "unauthorized", 5*time.Second)
	data := e.args[0].(map[string]any)["data"].(map[string]any)
	if data["code"] != core.CodeInsufficientScope || data["message"] != "insufficient scope: chat:read required" {
		t.Fatalf("unauthorized data %v", data)
	}
	c.waitReason(t, "io server disconnect")
	f := hooks.forbidden()
	if len(f) != 1 || f[0].Denied != authz.KindNamespace || f[0].Rule != "chat:read" || f[0].Subject != "bob" || f[0].Code != core.CodeInsufficientScope || f[0].Failure != "" {
		t.Fatalf("forbidden events %+v", f)
	}
	if c.count("authenticated") != 0 {
		t.Fatal("authenticated was sent")
	}
}

// TestAuthorizationEvents: Grants, a refused event acknowledged with the
// refusal, "forbidden" with the event name cut to its bound, OnAny seeing
// refused events, and Join's refusals.
func TestAuthorizationEvents(t *testing.T) {
	var hooks hookLog
	p := mustPolicy(t, authz.Rules{
		Events:             map[string]authz.Rule{"post": authz.AllOf("chat:write"), "ping": authz.Allow()},
		DenyUnlistedEvents: true,
	})
	var mu sync.Mutex
	var handled, anySeen []string
	var srvSocket *socket.Socket
	ts := newTestServer(t, nil, []Option{WithHook(hooks.add)}, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets(), NamespaceAuthorization(p)); err != nil {
			t.Fatal(err)
		}
		_ = ts.io.Sockets().On("connection", func(args ...any) {
			s := args[0].(*socket.Socket)
			mu.Lock()
			srvSocket = s
			mu.Unlock()
			s.OnAny(func(args ...any) {
				mu.Lock()
				anySeen = append(anySeen, args[0].(string))
				mu.Unlock()
			})
			for _, ev := range []string{"post", "ping"} {
				_ = s.On(ev, func(args ...any) {
					mu.Lock()
					handled = append(handled, ev)
					mu.Unlock()
					if ack, ok := args[len(args)-1].(socket.Ack); ok {
						ack([]any{"ok"}, nil)
					}
				})
			}
		})
	})
	tok := token(t, time.Now(), time.Hour, jwt.MapClaims{"scope": "chat:read", "rooms": []any{"team:1:*"}})
	c := dialConnected(t, ts.url, "/", map[string]any{"token": tok}, "forbidden")
	acked := make(chan []any, 2)
	_ = c.s.Emit("post", "x", func(args []any, _ error) { acked <- args })
	select {
	case args := <-acked:
		d, _ := args[0].(map[string]any)
		if d["code"] != core.CodeInsufficientScope || d["message"] != "insufficient scope: chat:write required" || d["type"] != core.ErrorType {
			t.Fatalf("ack %v", args)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no ack; saw %v", c.names())
	}
	long := strings.Repeat("é", 100) // 200 bytes
	_ = c.s.Emit(long, 1)
	f := c.wait(t, "forbidden", 5*time.Second).args[0].(map[string]any)
	if ev := f["event"].(string); ev != strings.Repeat("é", MaxForbiddenEventName/2) {
		t.Fatalf("forbidden event name %q (%d bytes), want cut to %d bytes", ev, len(ev), MaxForbiddenEventName)
	}
	if f["message"] != authz.MessageUnlisted || f["code"] != core.CodeInsufficientScope {
		t.Fatalf("forbidden %v", f)
	}
	_ = c.s.Emit("ping", func([]any, error) { acked <- nil })
	select {
	case <-acked:
	case <-time.After(5 * time.Second):
		t.Fatal("ping not acknowledged")
	}
	mu.Lock()
	if len(handled) != 1 || handled[0] != "ping" {
		t.Fatalf("handlers ran for %v, want ping only", handled)
	}
	if len(anySeen) != 3 {
		t.Fatalf("OnAny saw %v, want all three events (it runs before the check)", anySeen)
	}
	s := srvSocket
	mu.Unlock()

	g, ok := ts.auth.Grants(s)
	if !ok || !g.Has("chat:read") || g.Has("chat:write") || !g.AllowsRoom("team:1:x") {
		t.Fatalf("Grants = %v, %v", g, ok)
	}
	for _, e := range hooks.forbidden() {
		if e.Denied != authz.KindEvent || (e.Rule != "chat:write" && e.Rule != authz.UnlistedRule) {
			t.Fatalf("forbidden event %+v", e)
		}
		if strings.Contains(e.Rule, "é") || e.Err == nil {
			t.Fatalf("forbidden event %+v carries client text or no cause", e)
		}
	}

	// Rooms.
	if err := ts.auth.Join(s, "team:1:a"); err != nil {
		t.Fatal(err)
	}
	if !s.Rooms().Has("team:1:a") {
		t.Fatal("not joined")
	}
	var r *authz.Refusal
	if err := ts.auth.Join(s, "team:2:a"); !errors.As(err, &r) || r.Kind() != authz.KindRoom || core.CodeOf(err) != core.CodeInsufficientScope {
		t.Fatalf("Join(team:2:a) = %v", err)
	}
	if err := ts.auth.Join(s, "team:1:"+strings.Repeat("x", MaxRoomName)); !errors.As(err, &r) || r.Rule() != RuleRoomName {
		t.Fatalf("Join(long) = %v", err)
	}
	if s.Rooms().Has("team:2:a") {
		t.Fatal("joined a refused room")
	}
	ts.auth.Leave(s, "team:1:a")
	if s.Rooms().Has("team:1:a") {
		t.Fatal("still in the room after Leave")
	}
	ss := sessionOf(ts.auth, string(s.Id()))
	ss.roomsMu.Lock()
	for i := len(ss.rooms); i < MaxJoinedRooms; i++ {
		ss.rooms["filler"+strconv.Itoa(i)] = struct{}{}
		s.Join(socket.Room("filler" + strconv.Itoa(i))) // a record of a room left is forgotten at the cap
	}
	ss.roomsMu.Unlock()
	if err := ts.auth.Join(s, "team:1:one-more"); !errors.As(err, &r) || r.Rule() != RuleRoomLimit {
		t.Fatalf("Join beyond %d rooms = %v", MaxJoinedRooms, err)
	}
}

// TestJoinNotAuthenticated: Join refuses a socket still pending in
// post-connect mode.
func TestJoinNotAuthenticated(t *testing.T) {
	got := make(chan error, 1)
	ts := newTestServer(t, nil, nil, func(ts *testServer) {
		if err := ts.auth.ProtectPostConnect(ts.io.Sockets(), nil, NamespaceOptional()); err != nil {
			t.Fatal(err)
		}
		_ = ts.io.Sockets().On("connection", func(args ...any) {
			got <- ts.auth.Join(args[0].(*socket.Socket), "lobby")
		})
	})
	dialConnected(t, ts.url, "/", nil)
	select {
	case err := <-got:
		if !errors.Is(err, ErrNotAuthenticated) {
			t.Fatalf("Join = %v, want ErrNotAuthenticated", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
	}
}

// TestBadGrantsClaims: claims no token of the default size limit can
// carry (a 1 MB scope, a 10 000-entry roles array) grant nothing, through
// the binding's extraction.
func TestBadGrantsClaims(t *testing.T) {
	ss := &session{a: &Auth{}, ns: &nsConfig{policy: mustPolicy(t, authz.Rules{Namespace: authz.AnyOf("admin", "chat:read")})}}
	many := make([]any, 10000)
	for i := range many {
		many[i] = "admin"
	}
	for name, claims := range map[string]map[string]any{
		"1 MB scope":        {"scope": "chat:read " + strings.Repeat("a", 1<<20)},
		"10 000 roles":      {"roles": many},
		"scope a number":    {"scope": 1},
		"roles an object":   {"roles": map[string]any{"admin": true}},
		"nested realm":      {"realm_access": map[string]any{"roles": map[string]any{"roles": []any{"admin"}}}},
		"permissions mix":   {"permissions": []any{"admin", nil}},
		"scp a number list": {"scp": []any{1.5}},
	} {
		c, err := core.NewClaims(claims)
		if err != nil {
			t.Fatal(err)
		}
		res := &core.Result{Claims: c, Token: "t"}
		g, r := ss.authorize(res)
		if r == nil || g.Len() != 0 {
			t.Errorf("%s: grants %v, refusal %v; want none and a refusal", name, g, r)
		}
	}
}

// BenchmarkEventCheck is the binding's per-event cost of an allowed event:
// the socket middleware's check against the socket's grants. A namespace
// without event rules installs no middleware: its cost is nil.
func BenchmarkEventCheck(b *testing.B) {
	g := authz.NewGrants([]string{"chat:read", "chat:write"}, nil)
	ack := socket.Ack(func([]any, error) {})
	post := map[string]authz.Rule{"post": authz.AllOf("chat:write"), "ping": authz.Allow()}
	for _, bc := range []struct {
		name  string
		rules authz.Rules
		event string
	}{
		{"event without a rule", authz.Rules{Events: post}, "other"},
		{"AllOf allowed", authz.Rules{Events: post}, "post"},
		{"Allow with DenyUnlistedEvents", authz.Rules{Events: post, DenyUnlistedEvents: true}, "ping"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ss := &session{a: &Auth{}, ns: &nsConfig{policy: mustPolicy(b, bc.rules)}}
			ss.grants.Store(&g)
			args := []any{bc.event, "hello", ack}
			b.ReportAllocs()
			for b.Loop() {
				if !ss.allowEvent(args) {
					b.Fatal("refused")
				}
			}
		})
	}
}

// TestAuthorizationRefresh: a refresh whose grants no longer allow a room
// leaves it at once (reported as a room refusal) and replaces the grants;
// one whose grants no longer allow the namespace cuts the socket, reported
// as a namespace refusal and not as a refresh.
func TestAuthorizationRefresh(t *testing.T) {
	var hooks hookLog
	p := mustPolicy(t, authz.Rules{Namespace: authz.AllOf("chat:read")})
	conns := make(chan *socket.Socket, 4)
	ts := newTestServer(t, nil, []Option{WithHook(hooks.add)}, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets(), NamespaceAuthorization(p), NamespaceUnauthorizedWait(0)); err != nil {
			t.Fatal(err)
		}
		_ = ts.io.Sockets().On("connection", func(args ...any) { conns <- args[0].(*socket.Socket) })
	})
	now := time.Now()
	first := token(t, now, time.Hour, jwt.MapClaims{"scope": "chat:read", "rooms": []any{"team:*"}})
	c := dialConnected(t, ts.url, "/", map[string]any{"token": first})
	var s *socket.Socket
	select {
	case s = <-conns:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
	}
	for _, room := range []string{"team:a", "team:b"} {
		if err := ts.auth.Join(s, room); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.s.Emit("authenticate", map[string]any{"token": token(t, now, 2*time.Hour, jwt.MapClaims{"scope": "chat:read chat:write", "rooms": []any{"team:b"}})})
	c.wait(t, "authenticated", 5*time.Second)
	if s.Rooms().Has("team:a") || !s.Rooms().Has("team:b") {
		t.Fatalf("rooms after the refresh: %v, want team:b only", s.Rooms().Keys())
	}
	if g, _ := ts.auth.Grants(s); !g.Has("chat:write") {
		t.Fatalf("grants after the refresh: %v", g)
	}
	f := hooks.forbidden()
	if len(f) != 1 || f[0].Denied != authz.KindRoom || f[0].Rule != "rooms" {
		t.Fatalf("forbidden events %+v, want one room refusal", f)
	}

	_ = c.s.Emit("authenticate", map[string]any{"token": token(t, now, 3*time.Hour, jwt.MapClaims{"scope": "chat:write"})})
	e := c.wait(t, "unauthorized", 5*time.Second)
	if data := e.args[0].(map[string]any)["data"].(map[string]any); data["code"] != core.CodeInsufficientScope {
		t.Fatalf("unauthorized %v", data)
	}
	c.waitReason(t, "io server disconnect")
	f = hooks.forbidden()
	if len(f) != 2 || f[1].Denied != authz.KindNamespace || f[1].Rule != "chat:read" {
		t.Fatalf("forbidden events %+v, want a namespace refusal last", f)
	}
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	refreshed := 0
	for _, e := range hooks.events {
		if e.Kind == EventRefreshed {
			refreshed++
		}
	}
	if refreshed != 1 {
		t.Fatalf("%d refreshed events, want 1 (the cut refresh is not one)", refreshed)
	}
}

// TestGrantsWithoutPolicy: in a handshake-mode namespace without a policy,
// the grants are read on first use, not at the handshake, and a refresh
// still replaces them; Join applies the token's room grants.
func TestGrantsWithoutPolicy(t *testing.T) {
	conns := make(chan *socket.Socket, 1)
	ts := newTestServer(t, nil, nil, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets()); err != nil {
			t.Fatal(err)
		}
		_ = ts.io.Sockets().On("connection", func(args ...any) { conns <- args[0].(*socket.Socket) })
	})
	now := time.Now()
	c := dialConnected(t, ts.url, "/", map[string]any{"token": token(t, now, time.Hour, jwt.MapClaims{"scope": "a b", "rooms": []any{"r:*"}})})
	var s *socket.Socket
	select {
	case s = <-conns:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
	}
	if g := sessionOf(ts.auth, string(s.Id())).grants.Load(); g != nil {
		t.Fatalf("grants extracted at the handshake: %v", *g)
	}
	if g, ok := ts.auth.Grants(s); !ok || !g.Has("a") || !g.Has("b") || !g.AllowsRoom("r:1") {
		t.Fatalf("Grants = %v, %v", g, ok)
	}
	if err := ts.auth.Join(s, "r:1"); err != nil {
		t.Fatal(err)
	}
	if err := ts.auth.Join(s, "x"); core.CodeOf(err) != core.CodeInsufficientScope {
		t.Fatalf("Join(x) = %v", err)
	}
	_ = c.s.Emit("authenticate", map[string]any{"token": token(t, now, 2*time.Hour, jwt.MapClaims{"scope": "c"})})
	c.wait(t, "authenticated", 5*time.Second)
	if g, _ := ts.auth.Grants(s); !g.Has("c") || g.Has("a") {
		t.Fatalf("grants after the refresh: %v", g)
	}
	if s.Rooms().Has("r:1") {
		t.Fatal("still in r:1, which the new token does not grant")
	}
}

// TestGuardAtAdmission checks that the binding's event check is in place as
// soon as it admits a socket, before the server library registers it: an
// event middleware the application adds on the socket in a later namespace
// middleware runs after it, and never sees a refused event. With the check
// installed on "connection" instead, a client's event read between the
// registration and the binding's "connection" handler passed unchecked.
func TestGuardAtAdmission(t *testing.T) {
	p := mustPolicy(t, authz.Rules{Events: map[string]authz.Rule{"ok": authz.Allow()}, DenyUnlistedEvents: true})
	var mu sync.Mutex
	var seen []string
	ts := newTestServer(t, nil, nil, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets(), NamespaceAuthorization(p)); err != nil {
			t.Fatal(err)
		}
		ts.io.Sockets().Use(func(s *socket.Socket, next func(*socket.ExtendedError)) {
			s.Use(func(args []any, next func(error)) {
				mu.Lock()
				seen = append(seen, args[0].(string))
				mu.Unlock()
				next(nil)
			})
			next(nil)
		})
		_ = ts.io.Sockets().On("connection", func(args ...any) {
			_ = args[0].(*socket.Socket).On("ok", func(args ...any) { args[len(args)-1].(socket.Ack)(nil, nil) })
		})
	})
	c := dialConnected(t, ts.url, "/", map[string]any{"token": token(t, time.Now(), time.Hour, nil)}, "forbidden")
	_ = c.s.Emit("secret", 1)
	c.wait(t, "forbidden", 5*time.Second)
	acked := make(chan struct{})
	_ = c.s.Emit("ok", func([]any, error) { close(acked) })
	select {
	case <-acked:
	case <-time.After(5 * time.Second):
		t.Fatal(`"ok" not acknowledged`)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, []string{"ok"}) {
		t.Fatalf("the application's socket middleware saw %v, want [ok]", seen)
	}
}

// TestRuleFuncPanics: a room function that panics at a refresh (on a token
// without the claim it reads) refuses the room instead of leaving the
// rooms lock held: the refresh is answered, the room is left, Join and
// Leave still return, the panic is logged at Error level and reported
// through the hook, and the socket closes. A namespace rule that panics in
// handshake mode refuses the handshake instead of leaving the client
// without an answer. Before the fix, Join blocked for good.
func TestRuleFuncPanics(t *testing.T) {
	var hooks hookLog
	var buf syncbuf.Buffer
	p := mustPolicy(t, authz.Rules{Rooms: authz.RoomsFunc("team", func(room string, _ authz.Grants, c *core.Claims) bool {
		m, _ := c.Map()
		return room == "team:"+m["team"].(string) // panics when the claim is missing
	})})
	crash := mustPolicy(t, authz.Rules{Namespace: authz.Func("crash", func(authz.Grants, *core.Claims) bool { panic("rule bug") })})
	conns := make(chan *socket.Socket, 4)
	ts := newTestServer(t, nil, []Option{WithHook(hooks.add), WithLogger(slog.New(slog.NewTextHandler(&buf, nil)))}, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets(), NamespaceAuthorization(p)); err != nil {
			t.Fatal(err)
		}
		if err := ts.auth.Protect(ts.io.Of("/crash", nil), NamespaceAuthorization(crash)); err != nil {
			t.Fatal(err)
		}
		_ = ts.io.Sockets().On("connection", func(args ...any) { conns <- args[0].(*socket.Socket) })
	})
	now := time.Now()
	c := dialConnected(t, ts.url, "/", map[string]any{"token": token(t, now, time.Hour, jwt.MapClaims{"team": "a"})})
	s := receive(t, conns, 5*time.Second, "connection")
	if err := ts.auth.Join(s, "team:a"); err != nil {
		t.Fatal(err)
	}
	_ = c.s.Emit("authenticate", map[string]any{"token": token(t, now, 2*time.Hour, nil)})
	c.wait(t, "authenticated", 5*time.Second)
	if s.Rooms().Has("team:a") {
		t.Fatal("still in team:a after a refresh whose room check panicked")
	}
	done := make(chan error, 1)
	go func() {
		err := ts.auth.Join(s, "team:b")
		ts.auth.Leave(s, "team:b")
		done <- err
	}()
	if err := receive(t, done, 5*time.Second, "Join and Leave"); core.CodeOf(err) != core.CodeInsufficientScope || !errors.Is(err, authz.ErrPanic) {
		t.Fatalf("Join = %v, want a refusal wrapping authz.ErrPanic", err)
	}
	f := hooks.forbidden()
	if len(f) != 2 || f[0].Rule != "team" || !errors.Is(f[0].Err, authz.ErrPanic) {
		t.Fatalf("forbidden events %+v, want two refusals by the panicking rule", f)
	}
	if n := strings.Count(buf.String(), "authorization rule panicked"); n != 2 {
		t.Fatalf("%d error lines for the panics, want 2:\n%s", n, buf.String())
	}
	c.s.Disconnect()
	eventually(t, 5*time.Second, "the socket closed", func() bool { return !s.Connected() && sessionOf(ts.auth, string(s.Id())) == nil })

	x := dial(t, ts.url, "/crash", map[string]any{"token": token(t, now, time.Hour, nil)})
	e := x.wait(t, "connect_error", 5*time.Second)
	if data := connectErrorData(t, e); data["code"] != core.CodeInsufficientScope || data["message"] != "insufficient scope: crash required" {
		t.Fatalf("connect_error %v", data)
	}
}

// TestGrantsWhileCut: from the moment a cut starts, Grants says the socket
// is not authenticated, as Session does, although its "disconnect" has not
// come yet: an OnAny listener that checks Grants refuses its events.
func TestGrantsWhileCut(t *testing.T) {
	conns := make(chan *socket.Socket, 1)
	ts := newTestServer(t, nil, nil, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets(), NamespaceUnauthorizedWait(3*time.Second)); err != nil {
			t.Fatal(err)
		}
		_ = ts.io.Sockets().On("connection", func(args ...any) { conns <- args[0].(*socket.Socket) })
	})
	now := time.Now()
	c := dialConnected(t, ts.url, "/", map[string]any{"token": token(t, now, time.Hour, jwt.MapClaims{"scope": "admin", "jti": "j1"})})
	s := receive(t, conns, 5*time.Second, "connection")
	if g, ok := ts.auth.Grants(s); !ok || !g.Has("admin") {
		t.Fatalf("Grants = %v, %v before the cut", g, ok)
	}
	ts.auth.DisconnectRevoked(revoke.Revocation{JTI: "j1", Expires: now.Add(2 * time.Hour)})
	c.wait(t, "unauthorized", 5*time.Second)
	if !s.Connected() {
		t.Fatal("disconnected already: the check below would not be during the cut")
	}
	if g, ok := ts.auth.Grants(s); ok || g.Has("admin") {
		t.Fatalf("Grants = %v, %v while the socket is cut", g, ok)
	}
}

// TestJoinAfterOtherLeave: a room joined through Join and then left some
// other way (SocketsLeave) is joined again by the next Join, which used to
// return nil without joining; such stale records do not count against
// MaxJoinedRooms either.
func TestJoinAfterOtherLeave(t *testing.T) {
	conns := make(chan *socket.Socket, 1)
	ts := newTestServer(t, nil, nil, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets()); err != nil {
			t.Fatal(err)
		}
		_ = ts.io.Sockets().On("connection", func(args ...any) { conns <- args[0].(*socket.Socket) })
	})
	now := time.Now()
	dialConnected(t, ts.url, "/", map[string]any{"token": token(t, now, time.Hour, jwt.MapClaims{"rooms": []any{"r*"}})})
	s := receive(t, conns, 5*time.Second, "connection")
	if err := ts.auth.Join(s, "r"); err != nil {
		t.Fatal(err)
	}
	ts.io.In("r").SocketsLeave("r")
	eventually(t, 2*time.Second, "r left", func() bool { return !s.Rooms().Has("r") })
	if err := ts.auth.Join(s, "r"); err != nil || !s.Rooms().Has("r") {
		t.Fatalf("Join again = %v, in r: %v", err, s.Rooms().Has("r"))
	}
	for i := range MaxJoinedRooms {
		room := socket.Room("r" + strconv.Itoa(i))
		if err := ts.auth.Join(s, string(room)); err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
		s.Leave(room)
	}
	if err := ts.auth.Join(s, "r-last"); err != nil || !s.Rooms().Has("r-last") {
		t.Fatalf("Join after %d rooms left with socket.Leave = %v", MaxJoinedRooms, err)
	}
}
