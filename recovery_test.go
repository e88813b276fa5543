package siojwt

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/authz"
	"github.com/siojwt/siojwt/core"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// TestRecoveryRefusedRoomDropsMissed: a socket restored with a token that
// no longer grants a room it had leaves it at the check, and the packets it
// missed are dropped (the server library does not say which room each was
// for): it used to get one sent to that room while it was away.
func TestRecoveryRefusedRoomDropsMissed(t *testing.T) {
	sopts := socket.DefaultServerOptions()
	sopts.SetConnectionStateRecovery(&socket.ConnectionStateRecovery{})
	sopts.ConnectionStateRecovery().SetMaxDisconnectionDuration(60_000)
	sopts.ConnectionStateRecovery().SetSkipMiddlewares(true)
	p := mustPolicy(t, authz.Rules{Rooms: authz.RoomsFunc("team", func(room string, _ authz.Grants, c *core.Claims) bool {
		m, _ := c.Map()
		team, _ := m["team"].(string)
		return room == "team:"+team
	})})
	var hooks hookLog
	ts := newTestServerWith(t, sopts, nil, []Option{WithHook(hooks.add)}, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets(), NamespaceAuthorization(p)); err != nil {
			t.Fatal(err)
		}
	})
	now := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := dropAfterTick(ctx, t, ts, token(t, now, time.Hour, jwt.MapClaims{"team": "a"}), func(s *socket.Socket) {
		if err := ts.auth.Join(s, "team:a"); err != nil {
			t.Fatal(err)
		}
	})
	ts.io.To("team:a").Emit("team-a-secret") // missed while away

	second, err := reconnectRecovering(ctx, t, ts, token(t, now, time.Hour, jwt.MapClaims{"team": "b"}), r)
	if err != nil {
		t.Fatal(err)
	}
	var pk string
	var got []string
	for {
		if pk, err = second.until(ctx, "40", "42["); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(pk, "40") {
			break
		}
		var ev []any
		if err := json.Unmarshal([]byte(pk[2:]), &ev); err != nil {
			t.Fatalf("%q: %v", pk, err)
		}
		got = append(got, ev[0].(string)+"(before CONNECT)")
		if ev[0] == "team-a-secret" {
			got = append(got, "team-a-secret")
		}
	}
	s2, _ := ts.io.Sockets().Sockets().Load(socket.SocketId(r.sid))
	eventually(t, 5*time.Second, "recheck", func() bool { return len(hooks.forbidden()) > 0 })
	t.Logf("rooms after recovery: %v, forbidden events: %d", s2.Rooms().Keys(), len(hooks.forbidden()))
	ts.io.Emit("after")
	for {
		pk, err = second.until(ctx, `42[`)
		if err != nil {
			t.Fatalf("got %v: %v", got, err)
		}
		var ev []any
		if err := json.Unmarshal([]byte(pk[2:]), &ev); err != nil {
			t.Fatalf("%q: %v", pk, err)
		}
		got = append(got, ev[0].(string))
		if strings.HasPrefix(pk, `42["after"`) {
			break
		}
	}
	t.Logf("recovered socket got %v", got)
	for _, g := range got {
		if g == "team-a-secret" {
			t.Fatalf("a socket whose recovered room team:a was refused got its missed packet: %v", got)
		}
	}
}

// TestRecoveredClosedDuringCheck: a restored socket whose connection closes
// during its check is not authenticated after its close: hooks saw
// "authenticated" after "closed", never followed by another "closed", and
// the metrics gauge kept the socket for good.
func TestRecoveredClosedDuringCheck(t *testing.T) {
	sopts := socket.DefaultServerOptions()
	sopts.SetConnectionStateRecovery(&socket.ConnectionStateRecovery{})
	sopts.ConnectionStateRecovery().SetMaxDisconnectionDuration(60_000)
	sopts.ConnectionStateRecovery().SetSkipMiddlewares(true)
	var hooks hookLog
	var sid string
	ts := newTestServerWith(t, sopts, nil, []Option{WithHook(hooks.add)}, func(ts *testServer) {
		kv, err := core.New(core.WithAlgorithms("HS256"), core.WithKeyFunc(func(_ context.Context, r *core.KeyRequest) (any, error) {
			if r.Claims()["jti"] == "back" {
				if s, ok := ts.io.Sockets().Sockets().Load(socket.SocketId(sid)); ok {
					s.Conn().Close(true) // the client goes away during the check
				}
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
	sid = r.sid
	// The POST carrying the CONNECT is answered once the server library
	// has handled it, the binding's check (and its key function) included;
	// the key function closes this connection meanwhile, so it is answered
	// 429.
	_, _ = reconnectRecovering(ctx, t, ts, token(t, now, time.Hour, jwt.MapClaims{"jti": "back"}), r)
	waitRemoved(t, ts, sid)
	hooks.mu.Lock()
	var kinds []EventKind
	for _, e := range hooks.events {
		kinds = append(kinds, e.Kind)
	}
	hooks.mu.Unlock()
	// The first connection's; the restored socket, gone during its check,
	// was never authenticated.
	if !slices.Equal(kinds, []EventKind{EventAuthenticated, EventClosed}) {
		t.Fatalf("events %v, want authenticated, closed (nothing for the socket gone during its check)", kinds)
	}
}

// TestRecoveryDroppedDuringCheck: a restored socket whose connection drops
// again during its check keeps its rooms and what was broadcast to them:
// recovered a second time from the same offset, it gets the packet
// broadcast during the first check, then those of its room. The held
// socket used to be persisted in PendingRoom alone, and lost both.
func TestRecoveryDroppedDuringCheck(t *testing.T) {
	sopts := socket.DefaultServerOptions()
	sopts.SetConnectionStateRecovery(&socket.ConnectionStateRecovery{})
	sopts.ConnectionStateRecovery().SetMaxDisconnectionDuration(60_000)
	sopts.ConnectionStateRecovery().SetSkipMiddlewares(true)
	var sid string
	ts := newTestServerWith(t, sopts, nil, nil, func(ts *testServer) {
		kv, err := core.New(core.WithAlgorithms("HS256"), core.WithKeyFunc(func(_ context.Context, r *core.KeyRequest) (any, error) {
			if r.Claims()["jti"] == "back" {
				ts.io.Emit("during")
				if s, ok := ts.io.Sockets().Sockets().Load(socket.SocketId(sid)); ok {
					s.Conn().Close(true) // dropped again during the check (recoverable)
				}
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
	r := dropAfterTick(ctx, t, ts, token(t, now, time.Hour, jwt.MapClaims{"jti": "first"}), func(s *socket.Socket) { s.Join("r") })
	sid = r.sid

	_, _ = reconnectRecovering(ctx, t, ts, token(t, now, time.Hour, jwt.MapClaims{"jti": "back"}), r) // the key function closes this connection while the server handles the POST, which is then answered 429
	waitRemoved(t, ts, sid)                                                                           // removed after the server library persisted the session again

	third, err := reconnectRecovering(ctx, t, ts, token(t, now, time.Hour, jwt.MapClaims{"jti": "third"}), r)
	if err != nil {
		t.Fatal(err)
	}
	var p string
	var got []string
	for {
		if p, err = third.until(ctx, "40", "42[", "44"); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(p, "40") {
			var c struct{ Sid string }
			if err := json.Unmarshal([]byte(p[2:]), &c); err != nil {
				t.Fatalf("%q: %v", p, err)
			}
			if c.Sid != sid {
				t.Fatalf("not recovered: %q", p)
			}
			break
		}
		got = append(got, p)
	}
	s3, _ := ts.io.Sockets().Sockets().Load(socket.SocketId(sid))
	eventually(t, 5*time.Second, "out of pending", func() bool { return !s3.Rooms().Has(PendingRoom) })
	t.Logf("third socket rooms: %v", s3.Rooms().Keys())
	ts.io.To("r").Emit("room-r")
	ts.io.Emit("after")
	for {
		if p, err = third.until(ctx, "42["); err != nil {
			t.Fatalf("got %v: %v", got, err)
		}
		var ev []any
		if err := json.Unmarshal([]byte(p[2:]), &ev); err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		got = append(got, ev[0].(string))
		if ev[0] == "after" {
			break
		}
	}
	t.Logf("third connection got %v", got)
	if strings.Join(got, ",") != "during,room-r,after" {
		t.Fatalf("got %v, want [during room-r after]", got)
	}
}

// TestRecoveryIdentityAfterDrop: a restored socket whose connection drops
// again during its check keeps the identity it must match: a third
// reconnect with another subject's token is cut, where it used to take the
// socket over (the binding forgot the identity as the check began).
func TestRecoveryIdentityAfterDrop(t *testing.T) {
	sopts := socket.DefaultServerOptions()
	sopts.SetConnectionStateRecovery(&socket.ConnectionStateRecovery{})
	sopts.ConnectionStateRecovery().SetMaxDisconnectionDuration(60_000)
	sopts.ConnectionStateRecovery().SetSkipMiddlewares(true)
	var sid string
	ts := newTestServerWith(t, sopts, nil, nil, func(ts *testServer) {
		kv, err := core.New(core.WithAlgorithms("HS256"), core.WithKeyFunc(func(_ context.Context, r *core.KeyRequest) (any, error) {
			if r.Claims()["jti"] == "back" {
				ts.io.Emit("during")
				if s, ok := ts.io.Sockets().Sockets().Load(socket.SocketId(sid)); ok {
					s.Conn().Close(true) // dropped again during the check (recoverable)
				}
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
	r := dropAfterTick(ctx, t, ts, token(t, now, time.Hour, jwt.MapClaims{"jti": "first"}), func(s *socket.Socket) { s.Join("r") })
	sid = r.sid

	_, _ = reconnectRecovering(ctx, t, ts, token(t, now, time.Hour, jwt.MapClaims{"jti": "back"}), r) // the key function closes this connection while the server handles the POST, which is then answered 429
	waitRemoved(t, ts, sid)                                                                           // removed after the server library persisted the session again

	third, err := reconnectRecovering(ctx, t, ts, token(t, now, time.Hour, jwt.MapClaims{"jti": "third", "sub": "mallory"}), r)
	if err != nil {
		t.Fatal(err)
	}
	var p string
	p, err = third.until(ctx, `42["unauthorized"`, `42["room-r"`, `42["during"`)
	if err != nil {
		t.Fatalf("the socket restored for another subject was not cut: %v", err)
	}
	if !strings.Contains(p, "jwt subject invalid. expected: bob") {
		t.Fatalf("got %q, want unauthorized: jwt subject invalid. expected: bob", p)
	}
}

// recoverySession is what a raw client's first connection to a server with
// connection-state recovery leaves: its socket's ID, its private session ID
// and the offset of a packet it got, which a reconnect names.
type recoverySession struct{ sid, pid, offset string }

// dropAfterTick connects a raw client with tok, hands its server socket to
// setup (when not nil), makes it receive one broadcast, then closes its
// connection for a reason the server library recovers from, and waits until
// the library has removed the socket (it persisted the session before).
func dropAfterTick(ctx context.Context, t *testing.T, ts *testServer, tok string, setup func(*socket.Socket)) recoverySession {
	t.Helper()
	c, err := openEIO(ctx, newHTTPClient(2), ts.url)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.send(ctx, connectPacket(tok)); err != nil {
		t.Fatal(err)
	}
	p, err := c.until(ctx, "40")
	if err != nil {
		t.Fatal(err)
	}
	var connected struct{ Sid, Pid string }
	if err := json.Unmarshal([]byte(p[2:]), &connected); err != nil || connected.Pid == "" {
		t.Fatalf("CONNECT answer %q: %v (no pid: recovery off?)", p, err)
	}
	s, ok := ts.io.Sockets().Sockets().Load(socket.SocketId(connected.Sid))
	if !ok {
		t.Fatal("no server socket")
	}
	if setup != nil {
		setup(s)
	}
	ts.io.Emit("tick")
	if p, err = c.until(ctx, `42["tick"`); err != nil {
		t.Fatal(err)
	}
	var tick []string
	if err := json.Unmarshal([]byte(p[2:]), &tick); err != nil || len(tick) != 2 {
		t.Fatalf("tick %q: %v", p, err)
	}
	s.Conn().Close(true)
	waitRemoved(t, ts, connected.Sid)
	return recoverySession{sid: connected.Sid, pid: connected.Pid, offset: tick[1]}
}

// waitRemoved waits until the server library has removed the socket sid
// from the main namespace: it persists a recoverable session before that.
func waitRemoved(t *testing.T, ts *testServer, sid string) {
	t.Helper()
	eventually(t, 5*time.Second, "the socket removed", func() bool {
		_, ok := ts.io.Sockets().Sockets().Load(socket.SocketId(sid))
		return !ok
	})
}

// reconnectRecovering opens a raw client that asks, with tok, to recover r,
// and returns it with the error of the POST that carries the CONNECT.
func reconnectRecovering(ctx context.Context, t *testing.T, ts *testServer, tok string, r recoverySession) (*eio, error) {
	t.Helper()
	c, err := openEIO(ctx, newHTTPClient(2), ts.url)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{"token": tok, "pid": r.pid, "offset": r.offset})
	if err != nil {
		t.Fatal(err)
	}
	return c, c.send(ctx, "40"+string(b))
}
