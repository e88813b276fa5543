package main

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/leakcheck"
	"github.com/siojwt/siojwt/internal/syncbuf"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines (see leakcheck for what is ignored).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leakcheck.Options()...) }

const secret = "goclient test secret, 32 bytes or more"

// startServer runs a server built with the library: "/" in handshake mode,
// "/connect" in post-connect mode, both greeting with "welcome" and the
// verified subject, with the expiry warning 1 s before expiry.
func startServer(t *testing.T) string {
	t.Helper()
	v, err := core.New(core.WithSecretString(secret), core.WithAlgorithms("HS256"))
	if err != nil {
		t.Fatal(err)
	}
	io := socket.NewServer(nil, nil)
	auth, err := siojwt.New(io, v, siojwt.WithExpiryWarning(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	welcome := func(s *socket.Socket) { _ = s.Emit("welcome", auth.Claims(s).Subject) }
	root := io.Sockets()
	if err := auth.Protect(root); err != nil {
		t.Fatal(err)
	}
	_ = root.On("connection", func(args ...any) { welcome(args[0].(*socket.Socket)) })
	if err := auth.ProtectPostConnect(io.Of("/connect", nil), welcome, siojwt.NamespaceAuthenticateTimeout(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(io.ServeHandler(nil)) // 127.0.0.1, a free port
	t.Cleanup(func() {
		io.Close(nil)
		_ = auth.Close()
		srv.Close()
	})
	return srv.URL
}

func mint(t *testing.T, key, sub string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": sub, "iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	}).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRun(t *testing.T) {
	base := startServer(t)
	good := mint(t, secret, "gopher", time.Hour)
	tests := []struct {
		name      string
		path      string // namespace
		mode      string
		transport string // "" for websocket
		token     string
		fresh     time.Duration // when set, the token is minted as the case starts, valid this long
		stay      time.Duration
		want      Outcome
		lines     []string // in the output, in this order
	}{
		{
			name: "handshake, good token", mode: "handshake", token: good, stay: 300 * time.Millisecond,
			want:  Outcome{Authenticated: true},
			lines: []string{"connected: socket ", "event welcome [gopher]"},
		},
		{
			name: "handshake, wrong key", mode: "handshake", token: mint(t, "another secret", "gopher", time.Hour),
			want:  Outcome{Code: core.CodeInvalidToken, Message: "invalid signature"},
			lines: []string{"refused: invalid_token: invalid signature"},
		},
		{
			name: "handshake, expired", mode: "handshake", token: mint(t, secret, "gopher", -time.Minute),
			want:  Outcome{Code: core.CodeInvalidToken, Message: "jwt expired"},
			lines: []string{"refused: invalid_token: jwt expired"},
		},
		{
			name: "handshake, no token", mode: "handshake",
			want:  Outcome{Code: core.CodeCredentialsRequired, Message: "no token provided"},
			lines: []string{"refused: credentials_required: no token provided"},
		},
		{
			name: "handshake, not a JWT", mode: "handshake", token: "hello",
			want:  Outcome{Code: core.CodeInvalidToken, Message: "jwt malformed"},
			lines: []string{"refused: invalid_token: jwt malformed"},
		},
		{
			name: "handshake, polling", mode: "handshake", transport: "polling", token: good, stay: 300 * time.Millisecond,
			want:  Outcome{Authenticated: true},
			lines: []string{"connected: socket ", "event welcome [gopher]"},
		},
		{
			name: "handshake, polling, wrong key", mode: "handshake", transport: "polling", token: mint(t, "another secret", "gopher", time.Hour),
			want:  Outcome{Code: core.CodeInvalidToken, Message: "invalid signature"},
			lines: []string{"refused: invalid_token: invalid signature"},
		},
		{
			name: "connect, good token", path: "/connect", mode: "connect", token: good, stay: 300 * time.Millisecond,
			want:  Outcome{Authenticated: true},
			lines: []string{"connected: socket ", "authenticated", "event welcome [gopher]"},
		},
		{
			name: "connect, wrong key", path: "/connect", mode: "connect", token: mint(t, "another secret", "gopher", time.Hour),
			want:  Outcome{Code: core.CodeInvalidToken, Message: "invalid signature", Reason: "io server disconnect"},
			lines: []string{"connected: socket ", "unauthorized: invalid_token: invalid signature", "disconnected: io server disconnect"},
		},
		{
			// The token outlives an attempt the Go client loses (its
			// connect_error "timeout" after the 5 s wait, see
			// internal/testclient) and the next one.
			name: "handshake, expires while connected", mode: "handshake", fresh: 8 * time.Second,
			want: Outcome{Authenticated: true, Code: core.CodeInvalidToken, Message: "jwt expired", Reason: "io server disconnect"},
			lines: []string{"connected: socket ", "token_expiring: the token expires in ",
				"unauthorized: invalid_token: jwt expired", "disconnected: io server disconnect"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// One at a time: several Go clients connecting at once in one
			// process sometimes lose their connection.
			if tc.fresh > 0 {
				tc.token = mint(t, secret, "gopher", tc.fresh)
			}
			var (
				out *syncbuf.Buffer
				got Outcome
				err error
			)
			// No run again: the connections the server library closed right
			// after "connect" (a packet sent at once on connect) are held
			// off by the binding (earlyPackets).
			out = &syncbuf.Buffer{}
			cfg := config{url: base + tc.path, token: tc.token, mode: tc.mode, transport: tc.transport, stay: tc.stay, wait: 5 * time.Second, attempts: 3}
			got, err = run(context.Background(), cfg, out)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out)
			}
			if got.Authenticated != tc.want.Authenticated || got.Code != tc.want.Code || got.Message != tc.want.Message ||
				tc.want.Reason != "" && got.Reason != tc.want.Reason {
				t.Errorf("outcome %+v, want %+v\n%s", got, tc.want, out)
			}
			rest := out.String()
			for _, l := range tc.lines {
				i := strings.Index(rest, l)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", l, out)
				}
				rest = rest[i+len(l):]
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   string
		token string // the token chosen, when the flags are valid
		err   string // part of the error otherwise
	}{
		{name: "flag", args: []string{"-token", "a.b.c"}, env: "x.y.z", token: "a.b.c"},
		{name: "environment", env: "x.y.z", token: "x.y.z"},
		{name: "none", token: ""},
		{name: "bad mode", args: []string{"-mode", "query"}, err: "handshake or connect"},
		{name: "stray argument", args: []string{"now"}, err: "unexpected argument"},
		{name: "bad transport", args: []string{"-transport", "webtransport"}, err: "websocket or polling"},
		{name: "no attempt", args: []string{"-attempts", "0"}, err: "at least 1"},
		{name: "zero timeout", args: []string{"-timeout", "0s"}, err: "must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFlags(tc.args, tc.env, io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.token != tc.token {
				t.Errorf("token %q, want %q", c.token, tc.token)
			}
		})
	}
}

// TestRetry: a connection that fails before the server answers is tried
// again, up to -attempts times; a refusal is never retried, and ends the
// run.
func TestRetry(t *testing.T) {
	base := startServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() // nothing listens there any more
	_ = ln.Close()
	tests := []struct {
		name    string
		url     string
		token   string
		retries int // "retrying" lines
		code    string
	}{
		{name: "nothing listening", url: closed, token: "x", retries: 2},
		{name: "refused", url: base, token: mint(t, "another secret", "gopher", time.Hour), code: core.CodeInvalidToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := &syncbuf.Buffer{}
			cfg := config{url: tc.url, token: tc.token, mode: "handshake", transport: "websocket", wait: time.Second, attempts: 3}
			got, _ := run(context.Background(), cfg, out)
			text := out.String()
			if tc.code != "" {
				// The refusal ends the run. An attempt before it may have
				// timed out and been retried: the Go client v3.0.6 can
				// miss its own connection's "open" (see run).
				i := strings.Index(text, "refused: ")
				if i < 0 || strings.Count(text, "refused: ") != 1 || strings.Contains(text[i:], "retrying") {
					t.Errorf("want one refusal, not retried:\n%s", text)
				}
				if n := strings.Count(text[:max(i, 0)], "retrying"); n != strings.Count(text[:max(i, 0)], "connect_error: timeout") {
					t.Errorf("%d retries before the refusal, want one per timeout:\n%s", n, text)
				}
			} else if n := strings.Count(text, "retrying"); n != tc.retries {
				t.Errorf("%d retries, want %d:\n%s", n, tc.retries, text)
			}
			if got.Authenticated || got.Code != tc.code {
				t.Errorf("outcome %+v, want code %q", got, tc.code)
			}
		})
	}
}

// TestSplitURL: the connection's URL keeps everything but the path, which
// names the namespace.
func TestSplitURL(t *testing.T) {
	for _, c := range []struct{ in, base, nsp string }{
		{"http://127.0.0.1:3000", "http://127.0.0.1:3000", "/"},
		{"http://127.0.0.1:3000/chat", "http://127.0.0.1:3000", "/chat"},
		{"https://example.com/admin?x=1", "https://example.com?x=1", "/admin"},
	} {
		base, nsp, err := splitURL(c.in)
		if err != nil || base != c.base || nsp != c.nsp {
			t.Errorf("splitURL(%q) = %q, %q, %v; want %q, %q", c.in, base, nsp, err, c.base, c.nsp)
		}
	}
	if _, _, err := splitURL("http://[::1"); err == nil {
		t.Error("a malformed URL was accepted")
	}
}
