package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siojwt/siojwt/internal/leakcheck"
	"github.com/siojwt/siojwt/internal/syncbuf"
	"github.com/siojwt/siojwt/internal/testclient"
	client "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines (see leakcheck for what is ignored).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leakcheck.Options()...) }

// startDemo runs the demo in this process on a free port with the given
// flags, until the test ends, and returns its base URL.
func startDemo(t *testing.T, args ...string) string {
	t.Helper()
	cfg, err := parseConfig(append([]string{"-addr", "127.0.0.1:0"}, args...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, stdout, stderr) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("demo did not stop within 15s")
		}
		if t.Failed() {
			t.Logf("demo log:\n%s", stderr.String())
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if line, ok := strings.CutPrefix(stdout.String(), "listening on "); ok {
			t.Cleanup(stop)
			return strings.TrimSpace(line)
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("demo stopped before listening: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatal("demo not listening within 30s")
		}
	}
}

// post sends a POST with an optional JSON body and bearer token, and
// decodes the JSON answer.
func post(t *testing.T, url, body, token string) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(http.MethodPost, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("POST %s: Content-Type %q, want application/json", url, ct)
	}
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("POST %s: answer is not JSON: %v", url, err)
	}
	return res.StatusCode, out
}

// login returns a token from the demo at base.
func login(t *testing.T, base, name string, admin bool) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"username": name, "admin": admin})
	status, out := post(t, base+"/login", string(body), "")
	tok, _ := out["token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("login %s: %d %v", name, status, out)
	}
	return tok
}

// session is a Go client socket with what it received.
type session struct {
	c       *client.Socket
	events  chan event
	pending []event // received, not yet waited for
}

// event is one thing a socket reported.
type event struct {
	name string
	args []any
}

// dial connects to namespace ns of base with token in the handshake
// payload, waits until the server admits or refuses it, and records
// "connect", "connect_error", "welcome", "users", "unauthorized" and
// "disconnect". The Go client sometimes misses the opening of its own
// connection and times out: such an attempt, which never reached the
// server's middleware, is made again.
// dial connects a Go client to namespace ns of the demo at base, through
// testclient.Dial (which avoids the Go client's own races), with token in
// the handshake payload, and waits for "connect" or connect_error (kept for
// wait).
func dial(t *testing.T, base, ns, token string) *session {
	t.Helper()
	opts := client.DefaultOptions()
	opts.SetAuth(map[string]any{"token": token})
	opts.SetTransports(types.NewSet(client.WebSocket))
	opts.SetTimeout(3 * time.Second)
	s := &session{events: make(chan event, 64)}
	c, err := testclient.Dial(base, ns, opts, func(c *client.Socket) {
		for _, name := range []string{"connect", "connect_error", "welcome", "users", "unauthorized", "disconnect"} {
			_ = c.On(types.EventName(name), func(args ...any) {
				select {
				case s.events <- event{name: name, args: args}:
				default:
				}
			})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	s.c = c
	t.Cleanup(func() { c.Disconnect() })
	s.pending = append(s.pending, s.wait(t, "connect", "connect_error"))
	return s
}

// wait returns the first event among names, failing after 10 s.
func (s *session) wait(t *testing.T, names ...string) event {
	t.Helper()
	for len(s.pending) > 0 {
		e := s.pending[0]
		s.pending = s.pending[1:]
		if slices.Contains(names, e.name) {
			return e
		}
	}
	timeout := time.After(10 * time.Second)
	var skipped []string
	for {
		select {
		case e := <-s.events:
			if slices.Contains(names, e.name) {
				return e
			}
			skipped = append(skipped, fmt.Sprint(e.name, e.args))
		case <-timeout:
			t.Fatalf("none of %v within 10s; saw %v", names, skipped)
			return event{}
		}
	}
}

// refusal returns the {code, message} of a connect_error or unauthorized
// event.
func refusal(t *testing.T, e event) (code, message string) {
	t.Helper()
	if len(e.args) == 0 {
		t.Fatalf("%s without arguments", e.name)
	}
	var data any
	switch e.name {
	case "connect_error":
		var xe *types.ExtendedError
		err, _ := e.args[0].(error)
		if !errors.As(err, &xe) {
			t.Fatalf("connect_error %T %v: not an extended error", e.args[0], e.args[0])
		}
		data = xe.Data
	case "unauthorized":
		m, _ := e.args[0].(map[string]any)
		data = m["data"]
	default:
		t.Fatalf("%s is not a refusal", e.name)
	}
	m, _ := data.(map[string]any)
	code, _ = m["code"].(string)
	message, _ = m["message"].(string)
	if m["type"] != "UnauthorizedError" {
		t.Errorf("%s data %v: type is not UnauthorizedError", e.name, data)
	}
	return code, message
}
