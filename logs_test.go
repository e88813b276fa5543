package siojwt

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/clock"
	"github.com/siojwt/siojwt/internal/syncbuf"
)

// TestRefusalLogsBounded: a token whose header carries a 5 500-byte "kid"
// (quoted by the key function's error) makes no long log line, and 500
// such CONNECTs on one connection write at most the burst of lines, while
// hooks still see every refusal, each with its failure kind.
func TestRefusalLogsBounded(t *testing.T) {
	var buf syncbuf.Buffer
	clk := clock.NewFake(time.Now()) // frozen: the log's interval never ends
	var refused atomic.Int64
	var kinds sync.Map
	keyFails, err := core.New(core.WithAlgorithms("HS256"), core.WithKeyFunc(func(_ context.Context, r *core.KeyRequest) (any, error) {
		return nil, fmt.Errorf("no key %q", r.KeyID()) // as an application's key function may word it
	}))
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, clk, append(defaultLimits,
		WithLogger(slog.New(slog.NewTextHandler(&buf, nil))),
		WithHook(func(e Event) {
			if e.Kind == EventRejected {
				refused.Add(1)
				kinds.Store(e.Failure, true)
			}
		})), func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets(), NamespaceVerifier(keyFails)); err != nil {
			t.Fatal(err)
		}
	})
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "x"})
	tok.Header["kid"] = strings.Repeat("K", 5500)
	s, err := tok.SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := openEIO(ctx, newHTTPClient(4), ts.url)
	if err != nil {
		t.Fatal(err)
	}
	const n, batch = 500, 100 // a batch stays under the server's 1 MB payload limit
	pkts := make([]string, batch)
	for i := range pkts {
		pkts[i] = connectPacket(s)
	}
	for range n / batch {
		if err := c.send(ctx, pkts...); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "every CONNECT refused", func() bool { return refused.Load() == n })
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if refusals := strings.Count(buf.String(), "socket refused"); refusals > refusalLogBurst {
		t.Errorf("%d CONNECTs logged %d refusal lines (%d bytes in all), burst %d", n, refusals, len(buf.String()), refusalLogBurst)
	}
	for _, l := range lines {
		if len(l) > 1024 || strings.Contains(l, strings.Repeat("K", 600)) {
			t.Fatalf("a %d-byte log line carries the client's kid: %.300s…", len(l), l)
		}
	}
	if _, ok := kinds.Load(core.KindKeyUnavailable); !ok {
		t.Errorf("no refusal of kind %q reached the hooks", core.KindKeyUnavailable)
	}
	// After the interval, the next line counts what was left out.
	clk.Advance(refusalLogEvery)
	if err := c.send(ctx, connectPacket(s)); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("suppressed=%d", n-refusalLogBurst)
	eventually(t, 10*time.Second, "a line with "+want, func() bool { return strings.Contains(buf.String(), want) })
}

// TestUndeclaredProxyLoggedOnce: requests with X-Forwarded-For or
// Forwarded from a peer that is not a trusted proxy are reported once,
// with the option that fixes it; from a declared proxy, never.
func TestUndeclaredProxyLoggedOnce(t *testing.T) {
	for _, tt := range []struct {
		name  string
		opts  []Option
		lines int
	}{
		{"undeclared", nil, 1},
		{"declared", []Option{WithTrustedProxies("127.0.0.1")}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf syncbuf.Buffer
			ts := newTestServer(t, nil, append(tt.opts, WithLogger(slog.New(slog.NewTextHandler(&buf, nil)))), func(ts *testServer) {
				if err := ts.auth.Protect(ts.io.Sockets()); err != nil {
					t.Fatal(err)
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			hc := newHTTPClient(4)
			good := token(t, time.Now(), time.Hour, nil)
			for _, h := range [][]string{{"X-Forwarded-For", "203.0.113.7"}, {"Forwarded", "for=203.0.113.8"}, {"X-Forwarded-For", "203.0.113.9"}} {
				c, err := openEIO(ctx, hc, ts.url, h...)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.send(ctx, connectPacket(good)); err != nil {
					t.Fatal(err)
				}
				if p, err := c.until(ctx, "40", "44"); err != nil || errorCode(p) != "" {
					t.Fatalf("%v: %q, %v", h, p, err)
				}
			}
			if got := strings.Count(buf.String(), "WithTrustedProxies"); got != tt.lines {
				t.Fatalf("%d warnings, want %d: %s", got, tt.lines, buf.String())
			}
		})
	}
}

// TestPanicLogsBounded: a hook that panics on every event, with a long
// value, writes at most the burst of lines, each cut short, with the count
// of those left out; it used to write one unbounded line per event.
func TestPanicLogsBounded(t *testing.T) {
	var buf syncbuf.Buffer
	clk := clock.NewFake(time.Now()) // frozen: the log's interval never ends
	ts := newTestServer(t, clk, []Option{
		WithLogger(slog.New(slog.NewTextHandler(&buf, nil))),
		WithHook(func(e Event) { panic(strings.Repeat("x", 5000)) }),
	}, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets()); err != nil {
			t.Fatal(err)
		}
	})
	for range 3 * refusalLogBurst {
		c := dial(t, ts.url, "/", map[string]any{"token": "not.a.jwt"})
		c.wait(t, "connect_error", 5*time.Second)
		c.s.Disconnect()
	}
	lines := strings.Count(buf.String(), "hook panicked")
	if lines != refusalLogBurst {
		t.Fatalf("%d 'hook panicked' lines for %d events, want %d", lines, 3*refusalLogBurst, refusalLogBurst)
	}
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "hook panicked") && len(l) > 2*maxLoggedCause {
			t.Fatalf("a line of %d bytes: the panic value was not cut", len(l))
		}
	}
}
