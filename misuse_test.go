package siojwt

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/core"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// bareAuth builds an Auth on a server that serves nothing, for the checks
// made at the calls.
func bareAuth(t *testing.T, sopts socket.ServerOptionsInterface, opts ...Option) (*socket.Server, *Auth, error) {
	t.Helper()
	io := socket.NewServer(nil, sopts)
	t.Cleanup(func() { io.Close(nil) })
	v, err := core.New(core.WithSecretString(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(io, v, opts...)
	if a != nil {
		t.Cleanup(func() { _ = a.Close() })
	}
	return io, a, err
}

// TestMisuseRefused checks that every combination of calls and options
// that cannot work is an error at the call, with its sentinel and a
// message naming the rule.
func TestMisuseRefused(t *testing.T) {
	noop := func(*socket.Socket) {}
	refresh := NamespaceOnRefresh(func(*socket.Socket, *core.Result, *core.Result) error { return nil })
	tests := []struct {
		name string
		call func(io *socket.Server, a *Auth) error
		want error
		says string
	}{
		{"Protect twice", func(io *socket.Server, a *Auth) error {
			_ = a.Protect(io.Sockets())
			return a.Protect(io.Sockets())
		}, ErrAlreadyProtected, "protected once"},
		{"Protect then ProtectPostConnect", func(io *socket.Server, a *Auth) error {
			_ = a.Protect(io.Sockets())
			return a.ProtectPostConnect(io.Sockets(), noop)
		}, ErrAlreadyProtected, "handshake mode"},
		{"ProtectPostConnect then Protect", func(io *socket.Server, a *Auth) error {
			_ = a.ProtectPostConnect(io.Of("/x", nil), noop)
			return a.Protect(io.Of("/x", nil))
		}, ErrAlreadyProtected, "connect mode"},
		{"ProtectPostConnect twice", func(io *socket.Server, a *Auth) error {
			_ = a.ProtectPostConnect(io.Sockets(), noop)
			return a.ProtectPostConnect(io.Sockets(), noop)
		}, ErrAlreadyProtected, "protected once"},
		{"Protect with NamespaceOptional", func(io *socket.Server, a *Auth) error {
			return a.Protect(io.Sockets(), NamespaceOptional())
		}, ErrOptionNotForMode, "NamespaceOptional needs ProtectPostConnect"},
		{"Protect with NamespaceAuthenticateTimeout", func(io *socket.Server, a *Auth) error {
			return a.Protect(io.Sockets(), NamespaceAuthenticateTimeout(time.Second))
		}, ErrOptionNotForMode, "NamespaceAuthenticateTimeout needs ProtectPostConnect"},
		{"Protect with the default timeout given", func(io *socket.Server, a *Auth) error {
			return a.Protect(io.Sockets(), NamespaceAuthenticateTimeout(DefaultAuthenticateTimeout))
		}, ErrOptionNotForMode, "NamespaceAuthenticateTimeout"},
		{"NamespaceOptional with a timeout", func(io *socket.Server, a *Auth) error {
			return a.ProtectPostConnect(io.Sockets(), noop, NamespaceOptional(), NamespaceAuthenticateTimeout(time.Second))
		}, ErrConflictingOptions, "no authenticate timeout"},
		{"NamespaceOnRefresh with NamespaceNoRefresh", func(io *socket.Server, a *Auth) error {
			return a.Protect(io.Sockets(), refresh, NamespaceNoRefresh())
		}, ErrConflictingOptions, "never called"},
		{"NamespaceOnRefresh twice", func(io *socket.Server, a *Auth) error {
			return a.Protect(io.Sockets(), refresh, refresh)
		}, ErrConflictingOptions, "given twice"},
		{"NamespaceVerifier twice", func(io *socket.Server, a *Auth) error {
			return a.Protect(io.Sockets(), NamespaceVerifier(a.Verifier()), NamespaceVerifier(a.Verifier()))
		}, ErrConflictingOptions, "given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, a, err := bareAuth(t, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = tt.call(io, a)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("err %q does not say %q", err, tt.says)
			}
		})
	}
	t.Run("a refused call installs nothing", func(t *testing.T) {
		io, a, err := bareAuth(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		nsp := io.Of("/y", nil)
		before := len(nsp.Listeners("connection"))
		if err := a.Protect(nsp, NamespaceOptional()); err == nil {
			t.Fatal("accepted")
		}
		if n := len(nsp.Listeners("connection")); n != before || nsp.Fns().Len() != 0 {
			t.Fatalf("%d connection handlers (was %d), %d middlewares", n, before, nsp.Fns().Len())
		}
		if err := a.ProtectPostConnect(nsp, noop, NamespaceOptional()); err != nil {
			t.Fatalf("the namespace is not free after a refused call: %v", err)
		}
	})
	t.Run("New twice on one server", func(t *testing.T) {
		io, _, err := bareAuth(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := core.New(core.WithSecretString(testSecret))
		_, err = New(io, v)
		if !errors.Is(err, ErrServerBound) || !strings.Contains(err.Error(), "once per server") {
			t.Fatalf("err %v, want ErrServerBound", err)
		}
	})
	t.Run("Protect after Close", func(t *testing.T) {
		io, a, err := bareAuth(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = a.Close()
		if err := a.Protect(io.Sockets()); !errors.Is(err, ErrClosed) {
			t.Fatalf("err %v, want ErrClosed", err)
		}
	})
	t.Run("SetAdapter after New", func(t *testing.T) {
		io, a, err := bareAuth(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.SetAdapter(&socket.AdapterBuilder{})
		if err := a.Protect(io.Of("/z", nil)); !errors.Is(err, ErrAdapterReplaced) || !strings.Contains(err.Error(), "after SetAdapter") {
			t.Fatalf("err %v, want ErrAdapterReplaced", err)
		}
	})
	t.Run("expiry warning without expiry", func(t *testing.T) {
		_, _, err := bareAuth(t, nil, WithExpiryWarning(time.Second), WithoutExpiry())
		if !errors.Is(err, ErrConflictingOptions) {
			t.Fatalf("err %v, want ErrConflictingOptions", err)
		}
	})
	t.Run("handler before Protect with recovery", func(t *testing.T) {
		sopts := socket.DefaultServerOptions()
		sopts.SetConnectionStateRecovery(&socket.ConnectionStateRecovery{})
		sopts.ConnectionStateRecovery().SetMaxDisconnectionDuration(60_000)
		sopts.ConnectionStateRecovery().SetSkipMiddlewares(true)
		io, a, err := bareAuth(t, sopts)
		if err != nil {
			t.Fatal(err)
		}
		// The binding's own connection counter is not an application
		// handler.
		if err := a.Protect(io.Of("/first", nil)); err != nil {
			t.Fatal(err)
		}
		late := io.Of("/late", nil)
		_ = late.On("connection", func(...any) {})
		if err := a.Protect(late); !errors.Is(err, ErrHandlerBeforeProtect) {
			t.Fatalf("err %v, want ErrHandlerBeforeProtect", err)
		}
		_ = io.Sockets().On("connection", func(...any) {})
		if err := a.ProtectPostConnect(io.Sockets(), noop); !errors.Is(err, ErrHandlerBeforeProtect) {
			t.Fatalf("err %v, want ErrHandlerBeforeProtect", err)
		}
	})
}

// TestIdentitySwitch reproduces the identity switch end to end: with a
// namespace protected by Protect and then ProtectPostConnect (the second
// call's error ignored), a socket that connected as alice emits
// "authenticate" with mallory's token. It must not become mallory.
func TestIdentitySwitch(t *testing.T) {
	var second error
	ts := newTestServer(t, nil, nil, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets()); err != nil {
			t.Fatal(err)
		}
		second = ts.auth.ProtectPostConnect(ts.io.Sockets(), func(*socket.Socket) {})
	})
	if !errors.Is(second, ErrAlreadyProtected) {
		t.Fatalf("ProtectPostConnect after Protect: %v, want ErrAlreadyProtected", second)
	}
	now := time.Now()
	func() {
		c := dialConnected(t, ts.url, "/", map[string]any{"token": token(t, now, time.Hour, jwt.MapClaims{"sub": "alice"})})
		var s *socket.Socket
		eventually(t, 5*time.Second, "the server socket", func() bool {
			if ss := sessionOf(ts.auth, string(c.s.Id())); ss != nil {
				s = ss.s
			}
			return s != nil
		})
		if got := ts.auth.Claims(s); got == nil || got.Subject != "alice" {
			t.Fatalf("claims %+v, want alice", got)
		}
		_ = c.s.Emit("authenticate", map[string]any{"token": token(t, now, time.Hour, jwt.MapClaims{"sub": "mallory"})})
		e := c.wait(t, "unauthorized", 5*time.Second)
		if c.count("authenticated") != 0 {
			t.Fatalf("mallory's token was accepted: %v", c.names())
		}
		if !strings.Contains(firstMessage(e), "jwt subject invalid. expected: alice") {
			t.Fatalf("unauthorized %v, want the subject rule", e.args)
		}
		if got := ts.auth.Claims(s); got != nil && got.Subject != "alice" {
			t.Fatalf("the socket became %q", got.Subject)
		}
	}()
}

func firstMessage(e event) string {
	if len(e.args) == 0 {
		return ""
	}
	m, _ := e.args[0].(map[string]any)
	s, _ := m["message"].(string)
	return s
}

// TestHandlerOrder checks that an application "connection" handler sees
// the claims (and the expiry) of a handshake-mode socket whether it was
// registered before Protect or after.
func TestHandlerOrder(t *testing.T) {
	for _, before := range []bool{true, false} {
		name := "after Protect"
		if before {
			name = "before Protect"
		}
		t.Run(name, func(t *testing.T) {
			type seen struct {
				sub string
				exp time.Time
			}
			got := make(chan seen, 1)
			ts := newTestServer(t, nil, nil, func(ts *testServer) {
				nsp := ts.io.Of("/app", nil)
				handler := func(args ...any) {
					s := args[0].(*socket.Socket)
					var v seen
					if c := ts.auth.Claims(s); c != nil {
						v.sub = c.Subject
					}
					if ss, ok := ts.auth.Session(s); ok {
						v.exp = ss.ExpiresAt
					}
					select { // a dial retried sends twice: keep the first
					case got <- v:
					default:
					}
				}
				if before {
					_ = nsp.On("connection", handler)
				}
				if err := ts.auth.Protect(nsp); err != nil {
					t.Fatal(err)
				}
				if !before {
					_ = nsp.On("connection", handler)
				}
			})
			now := time.Now()
			dialConnected(t, ts.url, "/app", map[string]any{"token": token(t, now, time.Hour, nil)})
			select {
			case v := <-got:
				if v.sub != "bob" {
					t.Fatalf("Claims(s) in the handler: sub %q, want bob", v.sub)
				}
				if v.exp.Unix() != now.Add(time.Hour).Unix() {
					t.Fatalf("ExpiresAt in the handler %v, want %v", v.exp, now.Add(time.Hour))
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the handler did not run")
			}
		})
	}
	t.Run("a handler before Protect that disconnects", func(t *testing.T) {
		ts := newTestServer(t, nil, nil, func(ts *testServer) {
			nsp := ts.io.Of("/app", nil)
			_ = nsp.On("connection", func(args ...any) { args[0].(*socket.Socket).Disconnect(false) })
			if err := ts.auth.Protect(nsp); err != nil {
				t.Fatal(err)
			}
		})
		c := dialConnected(t, ts.url, "/app", map[string]any{"token": token(t, time.Now(), time.Hour, nil)})
		c.waitReason(t, "io server disconnect")
		eventually(t, 5*time.Second, "the session forgotten", func() bool { return sessionCount(ts.auth) == 0 })
	})
}

func sessionCount(a *Auth) int {
	return a.sessions.len()
}

// TestCookieFallbackOnly checks that with core.WithCookie the token sent
// in "authenticate" wins over the handshake cookie, and that the cookie
// stands in only for an event that carries no token.
func TestCookieFallbackOnly(t *testing.T) {
	now := time.Now()
	stale := token(t, now.Add(-2*time.Hour), time.Hour, nil) // expired an hour ago
	fresh := token(t, now, time.Hour, jwt.MapClaims{"jti": "fresh"})
	ts := newTestServer(t, nil, nil, func(ts *testServer) {
		v, err := core.New(core.WithSecretString(testSecret), core.WithCookie("jwt"))
		if err != nil {
			t.Fatal(err)
		}
		if err := ts.auth.ProtectPostConnect(ts.io.Of("/pc", nil), nil, NamespaceVerifier(v)); err != nil {
			t.Fatal(err)
		}
		if err := ts.auth.Protect(ts.io.Of("/hs", nil), NamespaceVerifier(v)); err != nil {
			t.Fatal(err)
		}
	})
	// session returns the server's view of the client's socket.
	session := func(c *testClient) Session {
		t.Helper()
		ss := sessionOf(ts.auth, string(c.s.Id()))
		if ss == nil {
			t.Fatal("no session")
		}
		got, _ := ts.auth.Session(ss.s)
		return got
	}

	t.Run("event token over a stale cookie", func(t *testing.T) {
		c, _ := cookieAuthenticate(t, ts.url, "/pc", "jwt="+stale, map[string]any{"token": fresh}, "authenticated")
		if session(c).Token != fresh {
			t.Fatal("the socket holds the cookie's token, not the event's")
		}
	})
	t.Run("cookie when the event has no token", func(t *testing.T) {
		cookie := token(t, now, time.Hour, jwt.MapClaims{"jti": "cookie"})
		c, _ := cookieAuthenticate(t, ts.url, "/pc", "jwt="+cookie, map[string]any{}, "authenticated")
		if session(c).Token != cookie {
			t.Fatal("the cookie did not stand in for the missing token")
		}
	})
	t.Run("a token of the wrong type is not replaced by the cookie", func(t *testing.T) {
		_, e := cookieAuthenticate(t, ts.url, "/pc", "jwt="+fresh, map[string]any{"token": 42}, "unauthorized")
		if firstMessage(e) != "invalid token datatype" {
			t.Fatalf("unauthorized %v, want invalid token datatype", e.args)
		}
	})
	t.Run("refresh over a short-lived cookie keeps the refreshed token", func(t *testing.T) {
		short := token(t, now, time.Minute, jwt.MapClaims{"jti": "short"})
		c, _ := cookieAuthenticate(t, ts.url, "/hs", "jwt="+short, map[string]any{"token": fresh}, "authenticated")
		ss := session(c)
		if ss.Token != fresh {
			t.Fatal("the refresh kept the cookie's token")
		}
		if ss.ExpiresAt.Unix() != now.Add(time.Hour).Unix() {
			t.Fatalf("expires at %v, want the refreshed token's %v", ss.ExpiresAt, now.Add(time.Hour))
		}
	})
}

// cookieAuthenticate dials with a Cookie header, emits "authenticate" with
// payload and returns the first event called want.
func cookieAuthenticate(t *testing.T, url, nsp, cookie string, payload map[string]any, want string) (*testClient, event) {
	t.Helper()
	c := dialWithCookie(t, url, nsp, nil, cookie)
	_ = c.s.Emit(AuthenticateEvent, payload)
	return c, c.wait(t, want, 5*time.Second)
}

// dialWithCookie dials with a Cookie header and waits for "connect".
func dialWithCookie(t *testing.T, url, nsp string, auth map[string]any, cookie string) *testClient {
	t.Helper()
	h := http.Header{}
	h.Set("Cookie", cookie)
	return dialHeaders(t, url, nsp, auth, h)
}

// dialHeaders is dial with extra HTTP headers; it waits for "connect".
func dialHeaders(t *testing.T, url, nsp string, auth map[string]any, h http.Header) *testClient {
	t.Helper()
	c := dialWithHeaders(t, url, nsp, auth, h)
	c.wait(t, "connect", 5*time.Second)
	return c
}

// TestProtectWithConnectedSockets: a namespace whose sockets connected
// before it was protected is refused, in both modes; they would stay
// unauthenticated (and, in post-connect mode, never timed out).
func TestProtectWithConnectedSockets(t *testing.T) {
	ts := newTestServer(t, nil, nil, func(*testServer) {})
	nsp := ts.io.Of("/late", nil)
	c := dialConnected(t, ts.url, "/late", nil)
	if err := ts.auth.Protect(nsp); !errors.Is(err, ErrSocketsConnected) {
		t.Fatalf("Protect = %v, want ErrSocketsConnected", err)
	}
	if err := ts.auth.ProtectPostConnect(nsp, nil); !errors.Is(err, ErrSocketsConnected) {
		t.Fatalf("ProtectPostConnect = %v, want ErrSocketsConnected", err)
	}
	c.s.Disconnect()
	eventually(t, 5*time.Second, "the socket gone", func() bool { return nsp.Sockets().Len() == 0 })
	if err := ts.auth.Protect(nsp); err != nil {
		t.Fatalf("Protect once empty = %v", err)
	}
}

// TestAuthenticateAfterClose: after Close, a valid token is refused with
// internal_error, at the handshake and by "authenticate": revocations no
// longer reach new sockets. It used to be accepted with a static secret
// and no store (and refused with other codes otherwise).
func TestAuthenticateAfterClose(t *testing.T) {
	ts := newTestServer(t, nil, nil, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets()); err != nil {
			t.Fatal(err)
		}
		if err := ts.auth.ProtectPostConnect(ts.io.Of("/pc", nil), nil); err != nil {
			t.Fatal(err)
		}
	})
	tok := token(t, time.Now(), time.Hour, nil)
	dialConnected(t, ts.url, "/", map[string]any{"token": tok}) // before Close
	if err := ts.auth.Close(); err != nil {
		t.Fatal(err)
	}
	c := dial(t, ts.url, "/", map[string]any{"token": tok})
	if data := connectErrorData(t, c.wait(t, "connect_error", 5*time.Second)); data["code"] != core.CodeInternal {
		t.Fatalf("handshake after Close: %v, want internal_error", data)
	}
	p := dialConnected(t, ts.url, "/pc", nil)
	_ = p.s.Emit(AuthenticateEvent, map[string]any{"token": tok})
	if e := p.wait(t, "unauthorized", 5*time.Second); !strings.Contains(fmt.Sprint(e.args), core.CodeInternal) {
		t.Fatalf("authenticate after Close: %v, want internal_error", e.args)
	}
}

// TestProtectOtherServer: a namespace of another server is refused; its
// connections were all refused at run time, with a log line that blamed
// SetAdapter.
func TestProtectOtherServer(t *testing.T) {
	ts := newTestServer(t, nil, nil, func(*testServer) {})
	other := socket.NewServer(nil, nil)
	defer other.Close(nil)
	if err := ts.auth.Protect(other.Sockets()); !errors.Is(err, ErrOtherServer) {
		t.Fatalf("Protect of another server's namespace = %v, want ErrOtherServer", err)
	}
	if err := ts.auth.ProtectPostConnect(other.Of("/x", nil), nil); !errors.Is(err, ErrOtherServer) {
		t.Fatalf("ProtectPostConnect of another server's namespace = %v, want ErrOtherServer", err)
	}
}
