// Package profile runs the library's handshake mode in-process under load
// so that a CPU profile can show where a connection's time goes:
//
//	go test -run '^$' -bench Handshake -benchtime 3000x -cpuprofile cpu.out ./bench/profile/
//	go tool pprof -top cpu.out
//
// The server is built like the fixture's handshake mode (HS256 secret,
// in-memory revocation store, Prometheus metrics hook, no failure limit);
// the clients are the load
// generator's bare websockets, in the same process (their frames are in
// packages coder/websocket and bench/loadgen, the server's in gorilla/websocket
// and zishang520/socket.io).
package profile

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/bench/loadgen"
	"github.com/siojwt/siojwt/metrics"
	"github.com/siojwt/siojwt/revoke"
)

const secret = "aaafoo super sercret"

// server starts the library-protected server on 127.0.0.1 (built like the
// fixture's handshake mode) and returns its base URL.
func server(tb testing.TB) string {
	tb.Helper()
	mem, err := revoke.NewMemory()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = mem.Close() })
	collector, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	return serve(tb, protected(siojwt.WithRevocationStore(mem), siojwt.WithHook(collector.Observe), siojwt.WithoutFailureLimit()))
}

func token(tb testing.TB, key string) string {
	tb.Helper()
	now := time.Now()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"first_name": "John", "last_name": "Doe", "email": "john@doe.com", "id": 123, "sub": "bench",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}).SignedString([]byte(key))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestServer checks the profiled server accepts a good token and rejects a
// bad one, so the profile measures the success path of a working server.
func TestServer(t *testing.T) {
	url := server(t)
	ctx := context.Background()
	res, err := loadgen.Run(ctx, loadgen.Config{URL: url, Conns: 20, Concurrency: 5, Token: token(t, secret), Warmup: -1, Settle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Connect.Connected != 20 {
		t.Fatalf("connected %d of 20: %v", res.Connect.Connected, res.Connect.Failures)
	}
	res, err = loadgen.Run(ctx, loadgen.Config{URL: url, Conns: 5, Concurrency: 5, Token: token(t, "other"), Warmup: -1, Settle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Connect.Failures["invalid_token"] != 5 {
		t.Fatalf("bad tokens: %v, want 5 invalid_token", res.Connect.Failures)
	}
}

// BenchmarkHandshake opens b.N authenticated connections, 100 in flight,
// and closes them. Run it with -benchtime Nx: one iteration is one
// connection.
func BenchmarkHandshake(b *testing.B) {
	url := server(b)
	tok := token(b, secret)
	b.ResetTimer()
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: url, Conns: b.N, Concurrency: 100, Token: tok, Warmup: -1, Settle: time.Millisecond,
	})
	if err != nil {
		b.Fatal(err)
	}
	if f := res.Failures(); f > 0 {
		b.Fatalf("%d failures: %v", f, res.Connect.Failures)
	}
	b.ReportMetric(res.Connect.Rate(), "conn/s")
}
