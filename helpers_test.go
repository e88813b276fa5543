package siojwt

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/clock"
	"github.com/siojwt/siojwt/internal/testclient"
	"github.com/zishang520/socket.io/clients/engine/v3/transports"
	client "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

const testSecret = "test secret"

type testServer struct {
	io   *socket.Server
	auth *Auth
	url  string
	hs   *httptest.Server
}

// newTestServer starts a server on 127.0.0.1 with an Auth; setup protects
// namespaces. clk, when not nil, drives both the binding and the verifier.
func newTestServer(t *testing.T, clk *clock.Fake, opts []Option, setup func(*testServer)) *testServer {
	t.Helper()
	return newTestServerWith(t, socket.DefaultServerOptions(), clk, opts, setup)
}

// newTestServerWith is newTestServer with the server library's options.
func newTestServerWith(t *testing.T, sopts *socket.ServerOptions, clk *clock.Fake, opts []Option, setup func(*testServer)) *testServer {
	t.Helper()
	io := socket.NewServer(nil, sopts)
	vopts := []core.Option{core.WithSecretString(testSecret)}
	if clk != nil {
		vopts = append(vopts, core.WithClock(clk.Now))
	}
	v, err := core.New(vopts...)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(io, v, append([]Option{WithoutFailureLimit()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if clk != nil {
		a.clock = clk
	}
	ts := &testServer{io: io, auth: a}
	setup(ts)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io.ServeHandler(sopts))
	ts.hs = httptest.NewServer(mux)
	ts.url = ts.hs.URL
	t.Cleanup(func() {
		io.Close(nil)
		ts.hs.Close()
		_ = a.Close()
	})
	return ts
}

func token(t testing.TB, now time.Time, ttl time.Duration, claims jwt.MapClaims) string {
	t.Helper()
	c := jwt.MapClaims{"sub": "bob", "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type event struct {
	name string
	args []any
}

// testClient is a Go socket.io client that records what it hears.
type testClient struct {
	s      *client.Socket
	events chan event
	mu     sync.Mutex
	seen   []event
}

// dial connects a Go client to nsp through testclient.Dial (which avoids the
// Go client's own races), recording the events named, and the usual ones.
func dial(t *testing.T, url, nsp string, auth map[string]any, names ...string) *testClient {
	t.Helper()
	return dialWithHeaders(t, url, nsp, auth, nil, names...)
}

// dialWithHeaders is dial with extra HTTP headers on the handshake (the
// websocket upgrade request), a Cookie for instance.
func dialWithHeaders(t *testing.T, url, nsp string, auth map[string]any, h http.Header, names ...string) *testClient {
	t.Helper()
	opts := client.DefaultOptions()
	opts.SetTransports(types.NewSet(transports.WebSocket))
	if auth != nil {
		opts.SetAuth(auth)
	}
	if h != nil {
		opts.SetExtraHeaders(h)
	}
	c := &testClient{events: make(chan event, 256)}
	s, err := testclient.Dial(url, nsp, opts, func(s *client.Socket) {
		for _, n := range append([]string{"connect", "connect_error", "disconnect", "authenticated", "unauthorized", "token_expiring"}, names...) {
			name := n
			_ = s.On(types.EventName(name), func(args ...any) {
				// Acknowledge what asks for it, as a real client does. (When
				// an acknowledgement times out, the server library reads the
				// packet on its timer goroutine unsynchronised: a data race
				// of its own.)
				if len(args) > 0 && name != "unauthorized" { // tests ack that one themselves
					if ack, ok := args[len(args)-1].(func([]any, error)); ok {
						ack(nil, nil)
					}
				}
				e := event{name: name, args: args}
				c.mu.Lock()
				c.seen = append(c.seen, e)
				c.mu.Unlock()
				select {
				case c.events <- e:
				default:
				}
			})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	c.s = s
	t.Cleanup(func() { s.Disconnect() })
	return c
}

// wait returns the next event named name, failing after d.
func (c *testClient) wait(t *testing.T, name string, d time.Duration) event {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case e := <-c.events:
			if e.name == name {
				return e
			}
		case <-deadline:
			t.Fatalf("no %q within %v; saw %v", name, d, c.names())
			return event{}
		}
	}
}

func (c *testClient) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.seen {
		out = append(out, e.name)
	}
	return out
}

func (c *testClient) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.seen {
		if e.name == name {
			n++
		}
	}
	return n
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// receive returns the next value from ch, failing after d with what
// did not happen.
func receive[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out: %s", what)
		var zero T
		return zero
	}
}

// dialConnected dials and waits for "connect".
func dialConnected(t *testing.T, url, nsp string, auth map[string]any, names ...string) *testClient {
	t.Helper()
	return dialUntil(t, url, nsp, auth, "connect", names...)
}

// dialUntil dials and waits for the first event named first (for example
// "connect_error"), failing on anything else that ends the connection.
func dialUntil(t *testing.T, url, nsp string, auth map[string]any, first string, names ...string) *testClient {
	t.Helper()
	c := dial(t, url, nsp, auth, names...)
	end := time.Now().Add(5 * time.Second)
	for c.count(first) == 0 {
		if time.Now().After(end) {
			t.Fatalf("no %q within 5s; saw %v", first, c.names())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c
}

// waitReason waits for a "disconnect" with the given reason. The Go client
// (v3.0.6) sometimes reports a disconnect twice, the transport's first:
// the real-client interop tests assert the first reason exactly.
func (c *testClient) waitReason(t *testing.T, reason string) {
	t.Helper()
	defer func() {
		if t.Failed() {
			c.mu.Lock()
			t.Logf("saw %v", c.seen)
			c.mu.Unlock()
		}
	}()
	eventually(t, 5*time.Second, "disconnect "+reason, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, e := range c.seen {
			if e.name == "disconnect" && len(e.args) > 0 && e.args[0] == reason {
				return true
			}
		}
		return false
	})
}

// authenticateOnce dials nsp, emits "authenticate" with tok and waits for
// "authenticated"; any other outcome fails the test.
func authenticateOnce(t *testing.T, url, nsp, tok string, names ...string) *testClient {
	t.Helper()
	c := dialConnected(t, url, nsp, nil, names...)
	_ = c.s.Emit("authenticate", map[string]any{"token": tok})
	c.wait(t, "authenticated", 5*time.Second)
	return c
}
