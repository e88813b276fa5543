package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/leakcheck"
	"github.com/siojwt/siojwt/internal/syncbuf"
	"github.com/siojwt/siojwt/internal/testclient"
	client "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines (see leakcheck for what is ignored).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leakcheck.Options()...) }

const testSecret = "0123456789abcdef0123456789abcdef-test"

// record is one audit line.
type record struct {
	Time        time.Time `json:"time"`
	Level       string    `json:"level"`
	Msg         string    `json:"msg"`
	Kind        string    `json:"kind"`
	Mode        string    `json:"mode"`
	Namespace   string    `json:"namespace"`
	Socket      string    `json:"socket"`
	Remote      string    `json:"remote"`
	Code        string    `json:"code"`
	Sub         string    `json:"sub"`
	Fingerprint string    `json:"fingerprint"`
	Cause       string    `json:"cause"`
	DurationUS  *int64    `json:"duration_us"`
}

// records parses the log, failing on any line that is not a JSON object.
func records(t *testing.T, log string) []record {
	t.Helper()
	var out []record
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line is not JSON: %v: %q", err, sc.Text())
		}
		out = append(out, r)
	}
	return out
}

// waitFor polls the log until cond holds for its records.
func waitFor(t *testing.T, log *syncbuf.Buffer, what string, cond func([]record) bool) []record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs := records(t, log.String())
		if cond(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; log:\n%s", what, log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func count(recs []record, kind string) int {
	n := 0
	for _, r := range recs {
		if r.Kind == kind {
			n++
		}
	}
	return n
}

func find(recs []record, kind string) record {
	for _, r := range recs {
		if r.Kind == kind {
			return r
		}
	}
	return record{}
}

// outcome is what a client saw: the first argument of "hello", or the
// connect_error.
type outcome struct {
	hello string
	err   error
}

// dial connects to url with token in the handshake payload, through
// testclient.Dial (which avoids the Go client's own races), and waits for
// "hello" or connect_error. The returned function disconnects.
func dial(t *testing.T, url, token string) (o outcome, hangUp func()) {
	t.Helper()
	opts := client.DefaultOptions()
	opts.SetAuth(map[string]any{"token": token})
	opts.SetTransports(types.NewSet(client.WebSocket))
	opts.SetTimeout(5 * time.Second)
	ch := make(chan outcome, 3)
	c, err := testclient.Dial(url, "/", opts, func(c *client.Socket) {
		_ = c.On("hello", func(args ...any) {
			s, _ := args[0].(string)
			ch <- outcome{hello: s}
		})
		_ = c.On("connect_error", func(args ...any) {
			err, _ := args[0].(error)
			ch <- outcome{err: err}
		})
		_ = c.On("disconnect", func(args ...any) {
			r, _ := args[0].(string)
			ch <- outcome{err: errors.New("disconnected: " + r)}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-ch:
		return o, func() { c.Disconnect() }
	case <-time.After(5 * time.Second):
		c.Disconnect()
		t.Fatal("no hello and no connect_error within 5s")
		return outcome{}, nil
	}
}

func TestAuditLog(t *testing.T) {
	log := &syncbuf.Buffer{}
	app, err := newServer([]byte(testSecret), log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app) // listens on 127.0.0.1:0
	defer func() {
		app.Close()
		srv.Close()
	}()

	now := time.Now()
	good, err := mint([]byte(testSecret), "alice", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := mint([]byte("another secret, not the server's one"), "mallory", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	o, hangUp := dial(t, srv.URL, good)
	if o.err != nil || o.hello != "alice" {
		t.Fatalf("valid token: got %+v, want hello alice", o)
	}
	hangUp()

	o, hangUp = dial(t, srv.URL, bad)
	hangUp()
	var xe *types.ExtendedError
	if o.err == nil {
		t.Fatal("bad token: connected")
	} else if !errors.As(o.err, &xe) {
		t.Fatalf("bad token: connect_error %T %v, want an extended error", o.err, o.err)
	} else if data, _ := xe.Data.(map[string]any); data["code"] != core.CodeInvalidToken {
		t.Errorf("bad token: connect_error data %v, want code %s", xe.Data, core.CodeInvalidToken)
	}

	recs := waitFor(t, log, "authenticated, closed and rejected lines", func(r []record) bool {
		return count(r, "authenticated") >= 1 && count(r, "closed") >= 1 && count(r, "rejected") >= 1
	})
	if n := count(recs, "authenticated"); n != 1 {
		t.Errorf("%d authenticated lines, want 1", n)
	}
	if n := count(recs, "rejected"); n != 1 {
		t.Errorf("%d rejected lines, want 1", n)
	}

	ok := find(recs, "authenticated")
	fp := regexp.MustCompile(`^[0-9a-f]{16}$`)
	if ok.Sub != "alice" || !fp.MatchString(ok.Fingerprint) || ok.Fingerprint != siojwt.Fingerprint(good) {
		t.Errorf("authenticated line: sub %q fingerprint %q, want alice and %s", ok.Sub, ok.Fingerprint, siojwt.Fingerprint(good))
	}
	if ok.Mode != "handshake" || ok.Namespace != "/" || ok.Remote == "" || ok.Code != "" || ok.Level != "INFO" || ok.Msg != "auth" {
		t.Errorf("authenticated line: %+v", ok)
	}
	if ok.DurationUS == nil || *ok.DurationUS < 0 {
		t.Errorf("authenticated line: no duration_us")
	}
	if ok.Time.IsZero() || ok.Time.Before(now.Add(-time.Minute)) {
		t.Errorf("authenticated line: time %v", ok.Time)
	}
	if cl := find(recs, "closed"); cl.Fingerprint != ok.Fingerprint || cl.Socket != ok.Socket || cl.Sub != "alice" {
		t.Errorf("closed line %+v does not match the authenticated one %+v", cl, ok)
	}

	rej := find(recs, "rejected")
	if rej.Code != core.CodeInvalidToken || rej.Level != "WARN" || rej.Mode != "handshake" || rej.Remote == "" {
		t.Errorf("rejected line: %+v, want code %s at WARN", rej, core.CodeInvalidToken)
	}
	if rej.Cause == "" {
		t.Errorf("rejected line: no cause")
	}
	if rej.Sub != "" || rej.Fingerprint != "" {
		t.Errorf("rejected line names an unverified token: %+v", rej)
	}

	// The token text never appears, whole or in part.
	text := log.String()
	for name, tok := range map[string]string{"valid": good, "bad": bad} {
		parts := strings.Split(tok, ".")
		for _, s := range []string{tok, parts[1], parts[2]} {
			if strings.Contains(text, s) {
				t.Errorf("the %s token appears in the audit log", name)
			}
		}
	}
}

func TestAuditHookFields(t *testing.T) {
	var buf syncbuf.Buffer
	hook := auditHook(slog.New(slog.NewJSONHandler(&buf, nil)))
	hook(siojwt.Event{Kind: siojwt.EventRevoked, Mode: siojwt.ModePostConnect, Namespace: "/chat\n{\"kind\":\"forged\"}",
		SocketID: "s1", RemoteAddr: "192.0.2.7", Code: core.CodeInvalidToken, Subject: "bob", Fingerprint: "00112233445566ff"})
	recs := records(t, buf.String())
	if len(recs) != 1 {
		t.Fatalf("%d lines, want 1: a client-chosen namespace broke the line:\n%s", len(recs), buf.String())
	}
	r := recs[0]
	if r.Kind != "revoked" || r.Level != "WARN" || r.Mode != "connect" || r.Socket != "s1" || r.Remote != "192.0.2.7" ||
		r.Code != core.CodeInvalidToken || r.Sub != "bob" || r.Fingerprint != "00112233445566ff" {
		t.Errorf("record %+v", r)
	}
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	var out, errs bytes.Buffer
	if err := run(ctx, []string{"-token", "alice"}, "short", &out, &errs); err == nil {
		t.Error("a secret shorter than 32 bytes was accepted")
	}
	out.Reset()
	if err := run(ctx, []string{"-token", "alice"}, testSecret, &out, &errs); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())
	v, err := core.New(core.WithSecretString(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(ctx, tok, nil)
	if err != nil {
		t.Fatalf("minted token does not verify: %v", err)
	}
	if res.Claims.Subject != "alice" || res.Claims.ExpiresAt.IsZero() {
		t.Errorf("claims %+v, want sub alice and an expiry", res.Claims)
	}
	if err := run(ctx, []string{"-nope"}, testSecret, &out, &errs); err == nil {
		t.Error("unknown flag accepted")
	}
}

func TestRunServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, testSecret, &syncbuf.Buffer{}, w) }()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if !strings.HasPrefix(s, "listening on http://127.0.0.1:") {
			t.Errorf("first line %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no listening line within 5s")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	_ = w.Close()
}

// TestClip: an audit line's cause is cut short at a character boundary (a
// client's 5 KB key ID would otherwise reach the audit log whole).
func TestClip(t *testing.T) {
	if got := clip(strings.Repeat("é", 200), maxCause); len(got) > maxCause+len("…") || !utf8.ValidString(got) {
		t.Fatalf("clip: %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
	if got := clip("short", maxCause); got != "short" {
		t.Fatalf("clip(short) = %q", got)
	}
}
