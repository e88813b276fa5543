package siojwt

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/revoke"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// TestRevokedWhileChecked announces a token's revocation after its store
// lookup and before the binding installs it (from a key function or a
// refresh hook, which run in that window): the token must not go live.
// Before the revocation log, each path below let the socket in on the
// revoked token, for good: the announcement found the session holding the
// previous token (or none) and cut nothing.
func TestRevokedWhileChecked(t *testing.T) {
	revokeNew := func(ts *testServer) core.KeyFunc {
		return func(_ context.Context, r *core.KeyRequest) (any, error) {
			if r.Claims()["jti"] == "new" {
				ts.auth.DisconnectRevoked(revoke.Revocation{JTI: "new"})
			}
			return []byte(testSecret), nil
		}
	}
	ts := newTestServer(t, nil, nil, func(ts *testServer) {
		kv, err := core.New(core.WithAlgorithms("HS256"), core.WithKeyFunc(revokeNew(ts)))
		if err != nil {
			t.Fatal(err)
		}
		if err := ts.auth.Protect(ts.io.Of("/hs", nil), NamespaceVerifier(kv)); err != nil {
			t.Fatal(err)
		}
		if err := ts.auth.ProtectPostConnect(ts.io.Of("/pc", nil), nil, NamespaceVerifier(kv)); err != nil {
			t.Fatal(err)
		}
		refresh := ts.io.Of("/refresh", nil)
		if err := ts.auth.Protect(refresh, NamespaceOnRefresh(func(_ *socket.Socket, old, new *core.Result) error {
			// Revokes the new token, or the old one (jti "old-revoked").
			switch {
			case new.Claims.ID == "new":
				ts.auth.DisconnectRevoked(revoke.Revocation{JTI: "new"})
			case old.Claims.ID == "old-revoked":
				ts.auth.DisconnectRevoked(revoke.Revocation{JTI: "old-revoked"})
			}
			return nil
		})); err != nil {
			t.Fatal(err)
		}
		_ = refresh.On("connection", func(args ...any) {
			s := args[0].(*socket.Socket)
			_ = s.On("echo", func(args ...any) { _ = s.Emit("echo", args...) })
		})
	})
	now := time.Now()
	tok := func(jti string) string { return token(t, now, time.Hour, jwt.MapClaims{"jti": jti}) }

	t.Run("handshake", func(t *testing.T) {
		c := dial(t, ts.url, "/hs", map[string]any{"token": tok("new")})
		if data := connectErrorData(t, c.wait(t, "connect_error", 5*time.Second)); data["message"] != "jwt revoked" || data["code"] != core.CodeInvalidToken {
			t.Fatalf("connect_error %v, want jwt revoked", data)
		}
		dialConnected(t, ts.url, "/hs", map[string]any{"token": tok("other")}) // the control
	})
	t.Run("first authenticate", func(t *testing.T) {
		c := dialConnected(t, ts.url, "/pc", nil)
		_ = c.s.Emit("authenticate", map[string]any{"token": tok("new")})
		if e := c.wait(t, "unauthorized", 5*time.Second); firstMessage(e) != "jwt revoked" {
			t.Fatalf("unauthorized %v, want jwt revoked", e.args)
		}
		c.waitReason(t, "io server disconnect")
		if c.count("authenticated") != 0 {
			t.Fatalf("events %v: authenticated on a revoked token", c.names())
		}
	})
	t.Run("refresh", func(t *testing.T) {
		c := dialConnected(t, ts.url, "/refresh", map[string]any{"token": tok("old")})
		_ = c.s.Emit("authenticate", map[string]any{"token": tok("new")})
		if e := c.wait(t, "unauthorized", 5*time.Second); firstMessage(e) != "jwt revoked" {
			t.Fatalf("unauthorized %v, want jwt revoked", e.args)
		}
		c.waitReason(t, "io server disconnect")
		if c.count("authenticated") != 0 {
			t.Fatalf("events %v: the revoked token was accepted", c.names())
		}
	})
	t.Run("old token revoked during a refresh", func(t *testing.T) {
		// The cut queued for the old token runs after the refresh that
		// replaced it: the new token is not revoked, so the socket stays.
		c := dialConnected(t, ts.url, "/refresh", map[string]any{"token": tok("old-revoked")}, "echo")
		_ = c.s.Emit("authenticate", map[string]any{"token": tok("fresh")})
		c.wait(t, "authenticated", 5*time.Second)
		_ = c.s.Emit("echo", "after") // handled on the socket's queue after the queued cut
		c.wait(t, "echo", 5*time.Second)
		if slices.Contains(c.names(), "unauthorized") {
			t.Fatalf("events %v: cut for the token the refresh replaced", c.names())
		}
	})
}

// fixedStore answers every IsRevoked with revoked.
type fixedStore struct{ revoked bool }

func (f fixedStore) IsRevoked(context.Context, revoke.Token) (bool, error) { return f.revoked, nil }

// TestRevocationLogOverflow: when more revocations were announced during a
// check than the log keeps, the store is asked again, and without a store
// the token is refused with internal_error (a retry passes).
func TestRevocationLogOverflow(t *testing.T) {
	c, err := core.NewClaims(map[string]any{"sub": "bob", "jti": "j"})
	if err != nil {
		t.Fatal(err)
	}
	a := &Auth{ctx: context.Background()}
	mark := a.revoked.mark()
	a.revoked.add(revoke.Revocation{JTI: "j"})
	if e := a.revokedSince(mark, c); e == nil || e.Message != "jwt revoked" {
		t.Fatalf("revokedSince = %v, want jwt revoked", e)
	}
	mark = a.revoked.mark()
	for i := range revocationLogSize {
		a.revoked.add(revoke.Revocation{JTI: "x" + string(rune('a'+i%26))})
	}
	if e := a.revokedSince(mark, c); e != nil {
		t.Fatalf("revokedSince = %v with a full log that does not match", e)
	}
	a.revoked.add(revoke.Revocation{JTI: "y"})
	if e := a.revokedSince(mark, c); e == nil || e.Code != core.CodeInternal {
		t.Fatalf("revokedSince = %v past the log without a store, want internal_error", e)
	}
	for _, revoked := range []bool{false, true} {
		a.revocation = fixedStore{revoked}
		if e := a.revokedSince(mark, c); (e != nil) != revoked {
			t.Fatalf("revokedSince = %v past the log, store says revoked=%v", e, revoked)
		}
	}
}

// TestRevokedWhileRecovered: a socket restored by connection-state recovery
// (middlewares skipped) whose reconnect token is revoked while the binding
// checks it is cut, not restored on the revoked token.
func TestRevokedWhileRecovered(t *testing.T) {
	sopts := socket.DefaultServerOptions()
	sopts.SetConnectionStateRecovery(&socket.ConnectionStateRecovery{})
	sopts.ConnectionStateRecovery().SetMaxDisconnectionDuration(60_000)
	sopts.ConnectionStateRecovery().SetSkipMiddlewares(true)
	var hooks hookLog
	ts := newTestServerWith(t, sopts, nil, []Option{WithHook(hooks.add)}, func(ts *testServer) {
		kv, err := core.New(core.WithAlgorithms("HS256"), core.WithKeyFunc(func(_ context.Context, r *core.KeyRequest) (any, error) {
			if r.Claims()["jti"] == "new" {
				ts.auth.DisconnectRevoked(revoke.Revocation{JTI: "new"})
			}
			return []byte(testSecret), nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		if err := ts.auth.Protect(ts.io.Sockets(), NamespaceVerifier(kv)); err != nil {
			t.Fatal(err)
		}
	})
	now := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := dropAfterTick(ctx, t, ts, token(t, now, time.Hour, jwt.MapClaims{"jti": "old"}), nil)
	ts.io.Emit("missed") // while it is away: not for a revoked token

	second, err := reconnectRecovering(ctx, t, ts, token(t, now, time.Hour, jwt.MapClaims{"jti": "new"}), r)
	if err != nil {
		t.Fatal(err)
	}
	p, err := second.until(ctx, "40", "44", `42["missed"`) // the server library sends missed packets before the CONNECT answer
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p, "40") {
		t.Fatalf("reconnect answer %q", p)
	}
	if p, err = second.until(ctx, `42["unauthorized"`, `42["missed"`); err != nil {
		t.Fatalf("the recovered socket with a token revoked during its check was not cut: %v", err)
	}
	if strings.HasPrefix(p, `42["missed"`) {
		t.Fatalf("a socket restored with a revoked token got the packet it missed: %q", p)
	}
	if code := errorCode(p); code != core.CodeInvalidToken || !strings.Contains(p, "jwt revoked") {
		t.Fatalf("unauthorized %q", p)
	}
	// EventRevoked comes from the recovery path; a handshake refused for a
	// revocation during its check would be EventRejected and no "40".
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	var kinds []EventKind
	for _, e := range hooks.events {
		kinds = append(kinds, e.Kind)
	}
	if !slices.Equal(kinds, []EventKind{EventAuthenticated, EventClosed, EventRevoked}) {
		t.Fatalf("hook events %v, want authenticated, closed, revoked (by the recovery)", kinds)
	}
}

// TestRecoveryHoldsPackets: a socket restored by connection-state recovery
// gets, once its token passes its check, the packet it missed while away,
// then live ones, in that order and each with its recovery offset. The
// binding holds the missed packets until the end of the check, so that a
// token refused there hears none of them (TestRevokedWhileRecovered); a
// broadcast made during the check (from the key function here) does not
// reach it.
func TestRecoveryHoldsPackets(t *testing.T) {
	sopts := socket.DefaultServerOptions()
	sopts.SetConnectionStateRecovery(&socket.ConnectionStateRecovery{})
	sopts.ConnectionStateRecovery().SetMaxDisconnectionDuration(60_000)
	sopts.ConnectionStateRecovery().SetSkipMiddlewares(true)
	ts := newTestServerWith(t, sopts, nil, nil, func(ts *testServer) {
		kv, err := core.New(core.WithAlgorithms("HS256"), core.WithKeyFunc(func(_ context.Context, r *core.KeyRequest) (any, error) {
			if r.Claims()["jti"] == "back" {
				ts.io.Emit("during")
			}
			return []byte(testSecret), nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		if err := ts.auth.Protect(ts.io.Sockets(), NamespaceVerifier(kv)); err != nil {
			t.Fatal(err)
		}
	})
	now := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := dropAfterTick(ctx, t, ts, token(t, now, time.Hour, jwt.MapClaims{"jti": "first"}), nil)
	ts.io.Emit("missed")

	second, err := reconnectRecovering(ctx, t, ts, token(t, now, time.Hour, jwt.MapClaims{"jti": "back"}), r)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := second.until(ctx, "40", "44", "42["); err != nil || !strings.HasPrefix(p, "40") {
		t.Fatalf("reconnect answer %q: %v (an event before the CONNECT answer was not held)", p, err)
	}
	var got []string
	for _, want := range []string{"missed", "after"} {
		if want == "after" {
			ts.io.Emit("after")
		}
		p, err := second.until(ctx, `42[`)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		var ev []string
		if err := json.Unmarshal([]byte(p[2:]), &ev); err != nil || len(ev) != 2 || ev[1] == "" {
			t.Fatalf("%q: %v: want an event with its offset", p, err)
		}
		got = append(got, ev[0])
	}
	if !slices.Equal(got, []string{"missed", "after"}) {
		t.Fatalf("events %v, want missed, after", got)
	}
}
