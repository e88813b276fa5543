package siojwt

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/clock"
	"github.com/siojwt/siojwt/internal/syncbuf"
	"github.com/siojwt/siojwt/revoke"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// kinds records the kinds of the events a hook sees, per socket.
type kinds struct {
	mu   sync.Mutex
	seen map[string][]EventKind
}

func (k *kinds) hook(e Event) {
	k.mu.Lock()
	if k.seen == nil {
		k.seen = map[string][]EventKind{}
	}
	k.seen[e.SocketID] = append(k.seen[e.SocketID], e.Kind)
	k.mu.Unlock()
}

// of returns the kinds seen for one socket.
func (k *kinds) of(id string) []EventKind {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]EventKind(nil), k.seen[id]...)
}

// TestCutBeforeConnection revokes a handshake-mode socket after the
// binding's middleware admitted it and before it connects (a later
// middleware calls DisconnectRevoked). A socket that then connects is cut
// at once; one that never connects is forgotten.
func TestCutBeforeConnection(t *testing.T) {
	clk := clock.NewFake(time.Now())
	revokeThen := func(ts *testServer, refuse bool) func(*socket.Socket, func(*socket.ExtendedError)) {
		return func(s *socket.Socket, next func(*socket.ExtendedError)) {
			ts.auth.DisconnectRevoked(revoke.Revocation{JTI: "j1"})
			if refuse {
				next(socket.NewExtendedError("refused by a later middleware", nil))
				return
			}
			next(nil)
		}
	}
	ts := newTestServer(t, clk, nil, func(ts *testServer) {
		for _, name := range []string{"/connects", "/connects-wait0", "/never"} {
			nsp := ts.io.Of(name, nil)
			wait := time.Second
			if name == "/connects-wait0" {
				wait = 0
			}
			if err := ts.auth.Protect(nsp, NamespaceUnauthorizedWait(wait)); err != nil {
				t.Fatal(err)
			}
			nsp.Use(revokeThen(ts, name == "/never"))
			_ = nsp.On("connection", func(args ...any) {
				s := args[0].(*socket.Socket)
				_ = s.On("echo", func(args ...any) { _ = s.Emit("echo", args...) })
			})
		}
	})
	tok := token(t, clk.Now(), time.Hour, jwt.MapClaims{"jti": "j1"})

	t.Run("connects", func(t *testing.T) {
		func() {
			c := dialConnected(t, ts.url, "/connects", map[string]any{"token": tok}, "echo")
			if e := c.wait(t, "unauthorized", 5*time.Second); firstMessage(e) != "jwt revoked" {
				t.Fatalf("unauthorized %v, want jwt revoked", e.args)
			}
			clk.Advance(time.Second) // the unauthorized wait
			c.waitReason(t, "io server disconnect")
			eventually(t, 5*time.Second, "the session forgotten", func() bool { return sessionCount(ts.auth) == 0 })
		}()
	})
	t.Run("connects, no unauthorized wait", func(t *testing.T) {
		// (The Go client loses an "unauthorized" followed at once by the
		// disconnect; the real clients do not: only the cut is checked.)
		c := dialConnected(t, ts.url, "/connects-wait0", map[string]any{"token": tok}, "echo")
		eventually(t, 5*time.Second, "the session forgotten", func() bool { return sessionCount(ts.auth) == 0 })
		c.waitReason(t, "io server disconnect")
	})
	t.Run("never connects", func(t *testing.T) {
		// Forgotten as the server library drops the socket: the fake
		// clock stands still.
		eventually(t, 5*time.Second, "earlier sessions forgotten", func() bool { return sessionCount(ts.auth) == 0 })
		dialUntil(t, ts.url, "/never", map[string]any{"token": tok}, "connect_error")
		eventually(t, 5*time.Second, "the session forgotten", func() bool { return sessionCount(ts.auth) == 0 })
	})
}

// TestFailedRefreshDuringCut makes an expiry cut happen while a refresh is
// being checked (the refresh hook moves the fake clock to the token's
// expiry, then refuses): the refresh failure must not cut the socket a
// second time (a second "unauthorized", a second event).
func TestFailedRefreshDuringCut(t *testing.T) {
	clk := clock.NewFake(time.Now())
	var k kinds
	handled := make(chan string, 8) // socket IDs whose "authenticate" was handled
	ts := newTestServer(t, clk, []Option{WithHook(k.hook)}, func(ts *testServer) {
		nsp := ts.io.Of("/b", nil)
		refuse := NamespaceOnRefresh(func(*socket.Socket, *core.Result, *core.Result) error {
			clk.Advance(time.Hour) // to the expiry, not past the unauthorized wait
			return errors.New("refused")
		})
		if err := ts.auth.Protect(nsp, refuse, NamespaceUnauthorizedWait(time.Second)); err != nil {
			t.Fatal(err)
		}
		_ = nsp.On("connection", func(args ...any) {
			s := args[0].(*socket.Socket)
			// Runs after the binding's "authenticate" handler returned.
			_ = s.On(AuthenticateEvent, func(...any) { handled <- string(s.Id()) })
		})
	})
	func() {
		c := dialConnected(t, ts.url, "/b", map[string]any{"token": token(t, clk.Now(), time.Hour, nil)})
		id := string(c.s.Id())
		_ = c.s.Emit(AuthenticateEvent, map[string]any{"token": token(t, clk.Now(), 3*time.Hour, jwt.MapClaims{"jti": "new"})})
		eventually(t, 5*time.Second, "the refresh handled", func() bool {
			select {
			case got := <-handled:
				return got == id
			default:
				return false
			}
		})
		got := k.of(id)
		want := []EventKind{EventAuthenticated, EventExpired}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("events %v, want %v (one cut)", got, want)
		}
		if e := c.wait(t, "unauthorized", 5*time.Second); firstMessage(e) != "jwt expired" {
			t.Fatalf("unauthorized %v, want jwt expired", e.args)
		}
		clk.Advance(time.Second) // the unauthorized wait
		c.waitReason(t, "io server disconnect")
		if n := c.count("unauthorized"); n != 1 {
			t.Fatalf("%d unauthorized, want 1", n)
		}
	}()
}

// TestCutsLoggedAsCuts checks that the cut of a live socket is logged as a
// cut with its reason, and a refusal at the handshake as a refusal.
func TestCutsLoggedAsCuts(t *testing.T) {
	clk := clock.NewFake(time.Now())
	var buf syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ts := newTestServer(t, clk, []Option{WithLogger(log)}, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets(), NamespaceUnauthorizedWait(time.Second)); err != nil {
			t.Fatal(err)
		}
	})
	func() {
		c := dialConnected(t, ts.url, "/", map[string]any{"token": token(t, clk.Now(), time.Minute, nil)})
		eventually(t, 5*time.Second, "the expiry timer", func() bool {
			ss := sessionOf(ts.auth, c.s.Id())
			if ss == nil {
				return false
			}
			return ts.auth.scheduled(ss)
		})
		clk.Advance(time.Minute) // to the expiry, not past the unauthorized wait
		c.wait(t, "unauthorized", 5*time.Second)
	}()
	out := buf.String()
	if !strings.Contains(out, `msg="siojwt: socket cut"`) || !strings.Contains(out, `reason="jwt expired"`) {
		t.Fatalf("no cut with its reason in the log:\n%s", out)
	}
	if strings.Contains(out, "socket refused") {
		t.Fatalf("the cut was logged as a refusal:\n%s", out)
	}
	dialUntil(t, ts.url, "/", map[string]any{"token": "abc"}, "connect_error")
	eventually(t, 5*time.Second, "the refusal logged", func() bool {
		return strings.Contains(buf.String(), `msg="siojwt: socket refused"`)
	})
}

// TestShortSecretWarned checks that New logs a warning for an HMAC secret
// shorter than RFC 7518 §3.2 requires, and none for one long enough.
func TestShortSecretWarned(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []core.Option
		warn bool
	}{
		{"11 bytes", []core.Option{core.WithSecretString(testSecret)}, true},
		{"32 bytes for HS256", []core.Option{core.WithSecretString(strings.Repeat("k", 32)), core.WithAlgorithms("HS256")}, false},
		{"32 bytes for HS512", []core.Option{core.WithSecretString(strings.Repeat("k", 32)), core.WithAlgorithms("HS512")}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf syncbuf.Buffer
			io := socket.NewServer(nil, nil)
			defer io.Close(nil)
			v, err := core.New(tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			a, err := New(io, v, WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			out := buf.String()
			if got := strings.Contains(out, "level=WARN") && strings.Contains(out, "RFC 7518"); got != tt.warn {
				t.Fatalf("warned %v, want %v:\n%s", got, tt.warn, out)
			}
		})
	}
	t.Run("namespace verifier", func(t *testing.T) {
		var buf syncbuf.Buffer
		io := socket.NewServer(nil, nil)
		defer io.Close(nil)
		strong, _ := core.New(core.WithSecretString(strings.Repeat("k", 64)))
		weak, _ := core.New(core.WithSecretString("short"))
		a, err := New(io, strong, WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if buf.String() != "" {
			t.Fatalf("warned about a 64-byte secret:\n%s", buf.String())
		}
		if err := a.Protect(io.Of("/weak", nil), NamespaceVerifier(weak)); err != nil {
			t.Fatal(err)
		}
		if out := buf.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "namespace=/weak") {
			t.Fatalf("no warning for the namespace's secret:\n%s", out)
		}
	})
}

// TestCutSocketIsDeaf checks that once a cut has started (here a
// revocation, with the unauthorized wait still running) the socket is no
// longer authenticated and its events reach no handler, in both modes.
func TestCutSocketIsDeaf(t *testing.T) {
	for _, mode := range []Mode{ModeHandshake, ModePostConnect} {
		t.Run(string(mode), func(t *testing.T) {
			clk := clock.NewFake(time.Now())
			var mu sync.Mutex
			heard := 0
			barrier := make(chan struct{}, 4)
			handlers := func(s *socket.Socket) {
				_ = s.On("echo", func(...any) { mu.Lock(); heard++; mu.Unlock() })
				// Runs after the binding's own "authenticate" handler: every
				// event sent before has been handled (or dropped) by then.
				_ = s.On(AuthenticateEvent, func(...any) { barrier <- struct{}{} })
			}
			ts := newTestServer(t, clk, nil, func(ts *testServer) {
				if mode == ModeHandshake {
					if err := ts.auth.Protect(ts.io.Sockets()); err != nil {
						t.Fatal(err)
					}
					_ = ts.io.Sockets().On("connection", func(args ...any) { handlers(args[0].(*socket.Socket)) })
					return
				}
				if err := ts.auth.ProtectPostConnect(ts.io.Sockets(), handlers); err != nil {
					t.Fatal(err)
				}
			})
			func() {
				tok := token(t, clk.Now(), time.Hour, jwt.MapClaims{"jti": "j1"})
				var c *testClient
				if mode == ModeHandshake {
					c = dialConnected(t, ts.url, "/", map[string]any{"token": tok})
				} else {
					c = authenticateOnce(t, ts.url, "/", tok)
				}
				var s *socket.Socket
				eventually(t, 5*time.Second, "the server socket", func() bool {
					if ss := sessionOf(ts.auth, string(c.s.Id())); ss != nil {
						s = ss.s
					}
					return s != nil
				})
				mu.Lock()
				heard = 0
				mu.Unlock()
				drain(barrier)
				_ = c.s.Emit("echo", "before")
				_ = c.s.Emit(AuthenticateEvent, map[string]any{"token": tok}) // a refresh: the barrier
				eventually(t, 5*time.Second, "the barrier", func() bool { return len(barrier) > 0 })
				<-barrier
				c.wait(t, "authenticated", 5*time.Second)
				ts.auth.DisconnectRevoked(revoke.Revocation{JTI: "j1"})
				c.wait(t, "unauthorized", 5*time.Second)
				if ts.auth.Authenticated(s) || ts.auth.Claims(s) != nil {
					t.Fatal("a socket being cut still reads as authenticated")
				}
				_ = c.s.Emit("echo", "after the cut")
				_ = c.s.Emit(AuthenticateEvent, map[string]any{"token": tok})
				select {
				case <-barrier:
				case <-time.After(5 * time.Second):
					t.Fatal("the barrier event was not handled")
				}
				mu.Lock()
				n := heard
				mu.Unlock()
				if n != 1 {
					t.Fatalf("%d echo events reached the handler, want 1 (none after the cut)", n)
				}
				clk.Advance(DefaultUnauthorizedWait)
				c.waitReason(t, "io server disconnect")
			}()
		})
	}
}

func drain(ch chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// TestDroppedBeforeConnect: a socket the binding admitted, whose connection
// closed while the middlewares ran, is dropped by the server library; its
// session goes at once (the fake clock stands still), with its
// authentication reported closed.
func TestDroppedBeforeConnect(t *testing.T) {
	clk := clock.NewFake(time.Now())
	var k kinds
	ts := newTestServer(t, clk, []Option{WithHook(k.hook)}, func(ts *testServer) {
		nsp := ts.io.Of("/app", nil)
		// Before the binding's: closes the connection (a forced close is
		// done when Close returns), then goes on.
		nsp.Use(func(s *socket.Socket, next func(*socket.ExtendedError)) {
			go func() {
				s.Conn().Close(true)
				next(nil)
			}()
		})
		if err := ts.auth.Protect(nsp); err != nil {
			t.Fatal(err)
		}
	})
	c := dial(t, ts.url, "/app", map[string]any{"token": token(t, clk.Now(), time.Hour, nil)})
	eventually(t, 5*time.Second, "the socket admitted, then its session closed", func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, seen := range k.seen {
			if slices.Equal(seen, []EventKind{EventAuthenticated, EventClosed}) {
				return true
			}
		}
		return false
	})
	if n := sessionCount(ts.auth); n != 0 {
		t.Fatalf("%d sessions left, want 0", n)
	}
	if n := c.count("connect"); n != 0 {
		t.Fatalf("the client connected %d times, want 0", n)
	}
}

// TestLeftBeforeConnection covers the moment the server library drops a
// socket between registering it and the binding's "connection" handler:
// the isolating adapter tells the binding (socketLeft) while the session
// is not joined, and the socket may still read as connected when the
// handler runs. The session is cleaned up there all the same: with the
// handler trusting Connected alone, it stayed for the socket's life. Here
// a later middleware stands in for that moment: socketLeft is called while
// it holds the socket, which then connects.
func TestLeftBeforeConnection(t *testing.T) {
	var ts *testServer
	left := make(chan struct{}, 1)
	ts, _ = laterMiddlewareServer(t, nil, func(s *socket.Socket, next func(*socket.ExtendedError)) {
		ts.auth.socketLeft(s, false)
		left <- struct{}{}
		next(nil)
	})
	dialConnected(t, ts.url, "/a", map[string]any{"token": token(t, time.Now(), time.Hour, nil)})
	select {
	case <-left:
	default:
		t.Fatal("the middleware did not run")
	}
	eventually(t, 5*time.Second, "the session cleaned up", func() bool { return sessionCount(ts.auth) == 0 })
}

// TestCutSocketHearsNoBroadcast: a socket being cut (revoked) is out of
// broadcasts from the moment its cut starts, not once its client
// acknowledges "unauthorized" or the wait ends: a client that never
// acknowledges heard every broadcast for the whole wait.
func TestCutSocketHearsNoBroadcast(t *testing.T) {
	conns := make(chan *socket.Socket, 2)
	ts := newTestServer(t, nil, nil, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets(), NamespaceUnauthorizedWait(5*time.Second)); err != nil {
			t.Fatal(err)
		}
		_ = ts.io.Sockets().On("connection", func(args ...any) { conns <- args[0].(*socket.Socket) })
	})
	now := time.Now()
	cut := dialConnected(t, ts.url, "/", map[string]any{"token": token(t, now, time.Hour, jwt.MapClaims{"jti": "j1"})}, "news", "marker")
	s := receive(t, conns, 5*time.Second, "connection")
	other := dialConnected(t, ts.url, "/", map[string]any{"token": token(t, now, time.Hour, jwt.MapClaims{"jti": "j2"})}, "news")
	ts.auth.DisconnectRevoked(revoke.Revocation{JTI: "j1"})
	cut.wait(t, "unauthorized", 5*time.Second) // not acknowledged: the Go client has no ack for it
	ts.io.Emit("news")
	other.wait(t, "news", 5*time.Second)
	_ = s.Emit("marker") // written to the cut socket after the broadcast, on the same connection
	cut.wait(t, "marker", 5*time.Second)
	if cut.count("news") != 0 {
		t.Fatalf("the socket being cut heard a broadcast: %v", cut.names())
	}
}

// TestClosedAfterAuthenticated: a connection that closes right after its
// socket authenticated (post-connect mode) is cleaned up on another
// goroutine than the one that reports the authentication; with a hook that
// takes a while on EventAuthenticated, "closed" was reported first, and the
// metrics' gauge of authenticated sockets counted the socket for good. Every
// socket's hooks now see "authenticated", then one "closed".
func TestClosedAfterAuthenticated(t *testing.T) {
	var k kinds
	slow := func(e Event) {
		if e.Kind == EventAuthenticated {
			time.Sleep(20 * time.Millisecond) // an audit hook writing to a database, say
		}
	}
	ts := newTestServer(t, nil, []Option{WithHook(slow), WithHook(k.hook)}, func(ts *testServer) {
		if err := ts.auth.ProtectPostConnect(ts.io.Sockets(), nil); err != nil {
			t.Fatal(err)
		}
	})
	tok := token(t, time.Now(), time.Hour, nil)
	var ids []string
	for range 5 {
		c := dialConnected(t, ts.url, "/", nil)
		ids = append(ids, string(c.s.Id()))
		_ = c.s.Emit(AuthenticateEvent, map[string]any{"token": tok})
		c.wait(t, "authenticated", 5*time.Second)
		c.s.Io().Engine().Close() // the network drops at once
	}
	for _, id := range ids {
		eventually(t, 5*time.Second, "the socket's closed event", func() bool { return slices.Contains(k.of(id), EventClosed) })
		if got := k.of(id); !slices.Equal(got, []EventKind{EventAuthenticated, EventClosed}) {
			t.Fatalf("socket %s: events %v, want authenticated, closed", id, got)
		}
	}
}
