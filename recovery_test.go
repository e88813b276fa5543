package siojwt

import (
	"context"
	"encoding/json"
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
	first, err := openEIO(ctx, newHTTPClient(2), ts.url)
	if err != nil {
		t.Fatal(err)
	}
	_ = first.send(ctx, connectPacket(token(t, now, time.Hour, jwt.MapClaims{"team": "a"})))
	pk, err := first.until(ctx, "40")
	if err != nil {
		t.Fatal(err)
	}
	var connected struct{ Sid, Pid string }
	_ = json.Unmarshal([]byte(pk[2:]), &connected)
	s, _ := ts.io.Sockets().Sockets().Load(socket.SocketId(connected.Sid))
	if err := ts.auth.Join(s, "team:a"); err != nil {
		t.Fatal(err)
	}
	ts.io.Emit("tick")
	if pk, err = first.until(ctx, `42["tick"`); err != nil {
		t.Fatal(err)
	}
	var tick []string
	_ = json.Unmarshal([]byte(pk[2:]), &tick)
	s.Conn().Close(true)
	eventually(t, 5*time.Second, "the socket gone", func() bool { _, ok := ts.io.Sockets().Sockets().Load(s.Id()); return !ok })
	ts.io.To("team:a").Emit("team-a-secret") // missed while away

	second, err := openEIO(ctx, newHTTPClient(2), ts.url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{"token": token(t, now, time.Hour, jwt.MapClaims{"team": "b"}), "pid": connected.Pid, "offset": tick[1]})
	_ = second.send(ctx, "40"+string(b))
	var got []string
	for {
		if pk, err = second.until(ctx, "40", "42["); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(pk, "40") {
			break
		}
		var ev []any
		_ = json.Unmarshal([]byte(pk[2:]), &ev)
		got = append(got, ev[0].(string)+"(before CONNECT)")
		if ev[0] == "team-a-secret" {
			got = append(got, "team-a-secret")
		}
	}
	s2, _ := ts.io.Sockets().Sockets().Load(socket.SocketId(connected.Sid))
	eventually(t, 5*time.Second, "recheck", func() bool { return len(hooks.forbidden()) > 0 })
	t.Logf("rooms after recovery: %v, forbidden events: %d", s2.Rooms().Keys(), len(hooks.forbidden()))
	ts.io.Emit("after")
	for {
		pk, err = second.until(ctx, `42[`)
		if err != nil {
			t.Fatalf("got %v: %v", got, err)
		}
		var ev []any
		_ = json.Unmarshal([]byte(pk[2:]), &ev)
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
				s, ok := ts.io.Sockets().Sockets().Load(socket.SocketId(sid))
				t.Logf("keyfunc: socket found %v", ok)
				if ok {
					s.Conn().Close(true)
					t.Logf("state %s connected %v", s.Conn().ReadyState(), s.Connected()) // the client goes away during the check
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
	first, _ := openEIO(ctx, newHTTPClient(2), ts.url)
	_ = first.send(ctx, connectPacket(token(t, now, time.Hour, jwt.MapClaims{"jti": "first"})))
	p, err := first.until(ctx, "40")
	if err != nil {
		t.Fatal(err)
	}
	var connected struct{ Sid, Pid string }
	_ = json.Unmarshal([]byte(p[2:]), &connected)
	sid = connected.Sid
	ts.io.Emit("tick")
	p, _ = first.until(ctx, `42["tick"`)
	var tick []string
	_ = json.Unmarshal([]byte(p[2:]), &tick)
	s, _ := ts.io.Sockets().Sockets().Load(socket.SocketId(connected.Sid))
	s.Conn().Close(true)
	eventually(t, 5*time.Second, "the socket gone", func() bool { _, ok := ts.io.Sockets().Sockets().Load(s.Id()); return !ok })
	second, _ := openEIO(ctx, newHTTPClient(2), ts.url)
	b, _ := json.Marshal(map[string]string{"token": token(t, now, time.Hour, jwt.MapClaims{"jti": "back"}), "pid": connected.Pid, "offset": tick[1]})
	_ = second.send(ctx, "40"+string(b))
	eventually(t, 5*time.Second, "the recovered socket gone", func() bool {
		s2, ok := ts.io.Sockets().Sockets().Load(socket.SocketId(sid))
		return !ok || !s2.Connected()
	})
	time.Sleep(300 * time.Millisecond)
	hooks.mu.Lock()
	var kinds []EventKind
	for _, e := range hooks.events {
		kinds = append(kinds, e.Kind)
	}
	hooks.mu.Unlock()
	t.Logf("events %v; session left: %v", kinds, sessionOf(ts.auth, sid) != nil)
	if kinds[len(kinds)-1] != EventClosed {
		t.Fatalf("events %v: the recovered socket's 'authenticated' is never followed by 'closed'", kinds)
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
	first, _ := openEIO(ctx, newHTTPClient(2), ts.url)
	_ = first.send(ctx, connectPacket(token(t, now, time.Hour, jwt.MapClaims{"jti": "first"})))
	p, err := first.until(ctx, "40")
	if err != nil {
		t.Fatal(err)
	}
	var connected struct{ Sid, Pid string }
	_ = json.Unmarshal([]byte(p[2:]), &connected)
	sid = connected.Sid
	s, _ := ts.io.Sockets().Sockets().Load(socket.SocketId(sid))
	s.Join("r")
	ts.io.Emit("tick")
	p, _ = first.until(ctx, `42["tick"`)
	var tick []string
	_ = json.Unmarshal([]byte(p[2:]), &tick)
	s.Conn().Close(true)
	eventually(t, 5*time.Second, "the socket gone", func() bool { _, ok := ts.io.Sockets().Sockets().Load(s.Id()); return !ok })

	second, _ := openEIO(ctx, newHTTPClient(2), ts.url)
	b, _ := json.Marshal(map[string]string{"token": token(t, now, time.Hour, jwt.MapClaims{"jti": "back"}), "pid": connected.Pid, "offset": tick[1]})
	_ = second.send(ctx, "40"+string(b))
	eventually(t, 5*time.Second, "the second socket gone", func() bool {
		s2, ok := ts.io.Sockets().Sockets().Load(socket.SocketId(sid))
		return !ok || !s2.Connected()
	})
	time.Sleep(100 * time.Millisecond)

	third, _ := openEIO(ctx, newHTTPClient(2), ts.url)
	b, _ = json.Marshal(map[string]string{"token": token(t, now, time.Hour, jwt.MapClaims{"jti": "third"}), "pid": connected.Pid, "offset": tick[1]})
	_ = third.send(ctx, "40"+string(b))
	var got []string
	for {
		if p, err = third.until(ctx, "40", "42[", "44"); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(p, "40") {
			var c struct{ Sid string }
			_ = json.Unmarshal([]byte(p[2:]), &c)
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
		_ = json.Unmarshal([]byte(p[2:]), &ev)
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
	first, _ := openEIO(ctx, newHTTPClient(2), ts.url)
	_ = first.send(ctx, connectPacket(token(t, now, time.Hour, jwt.MapClaims{"jti": "first"})))
	p, err := first.until(ctx, "40")
	if err != nil {
		t.Fatal(err)
	}
	var connected struct{ Sid, Pid string }
	_ = json.Unmarshal([]byte(p[2:]), &connected)
	sid = connected.Sid
	s, _ := ts.io.Sockets().Sockets().Load(socket.SocketId(sid))
	s.Join("r")
	ts.io.Emit("tick")
	p, _ = first.until(ctx, `42["tick"`)
	var tick []string
	_ = json.Unmarshal([]byte(p[2:]), &tick)
	s.Conn().Close(true)
	eventually(t, 5*time.Second, "the socket gone", func() bool { _, ok := ts.io.Sockets().Sockets().Load(s.Id()); return !ok })

	second, _ := openEIO(ctx, newHTTPClient(2), ts.url)
	b, _ := json.Marshal(map[string]string{"token": token(t, now, time.Hour, jwt.MapClaims{"jti": "back"}), "pid": connected.Pid, "offset": tick[1]})
	_ = second.send(ctx, "40"+string(b))
	eventually(t, 5*time.Second, "the second socket gone", func() bool {
		s2, ok := ts.io.Sockets().Sockets().Load(socket.SocketId(sid))
		return !ok || !s2.Connected()
	})
	time.Sleep(100 * time.Millisecond)

	third, _ := openEIO(ctx, newHTTPClient(2), ts.url)
	b, _ = json.Marshal(map[string]string{"token": token(t, now, time.Hour, jwt.MapClaims{"jti": "third", "sub": "mallory"}), "pid": connected.Pid, "offset": tick[1]})
	_ = third.send(ctx, "40"+string(b))
	p, err = third.until(ctx, `42["unauthorized"`, `42["room-r"`, `42["during"`)
	if err != nil {
		t.Fatalf("the socket restored for another subject was not cut: %v", err)
	}
	if !strings.Contains(p, "jwt subject invalid. expected: bob") {
		t.Fatalf("got %q, want unauthorized: jwt subject invalid. expected: bob", p)
	}
}
