package profile

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/bench/loadgen"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/metrics"
	"github.com/siojwt/siojwt/revoke"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// BenchmarkFeatures prices each part of the binding per connection, in
// process: the bare server, the bare server with a middleware that admits
// every socket (what the server library charges for running a middleware
// at all, which any handshake check pays), a bare golang-jwt middleware,
// the binding with
// every optional feature off (what is always on: the session, the
// connection count, the early-packet hold, the adapter wrapper, the token
// check), then one feature on at a time, then all of them (the fixture's
// configuration). Run it with -benchtime Nx (one iteration is one
// connection, 100 in flight, opened and closed):
//
//	go test -run '^$' -bench Features -benchtime 4000x -count 6 ./profile/
//
// Per iteration: B/op and allocs/op (client and server, same process: the
// client's share is the same in every row, so differences between rows are
// the server's), cpu-µs/op (the process's user+system CPU, client
// included) and heap-B/conn (live heap after a forced GC with every
// connection open, minus before: what the server keeps per open socket).
// Allocations and heap are exact; CPU moves with the machine's load.
func BenchmarkFeatures(b *testing.B) {
	mem, err := revoke.NewMemory()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = mem.Close() })
	collector, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil)) // Info: the fixture's level with -v off is none; this prices a logger at Info
	off := []siojwt.Option{siojwt.WithoutExpiry(), siojwt.WithoutFailureLimit()}
	with := func(o ...siojwt.Option) []siojwt.Option { return append(append([]siojwt.Option{}, off...), o...) }
	cases := []struct {
		name  string
		setup func(testing.TB, *socket.Server)
	}{
		{"bare", func(testing.TB, *socket.Server) {}},
		{"mw", func(_ testing.TB, s *socket.Server) { s.Sockets().Use(admitAll) }},
		{"jwt", func(_ testing.TB, s *socket.Server) { s.Sockets().Use(jwtMiddleware) }},
		{"siojwt-off", protected(off...)},
		{"siojwt+expiry", protected(siojwt.WithoutFailureLimit())},
		{"siojwt+limiter", protected(siojwt.WithoutExpiry())},
		{"siojwt+revocation", protected(with(siojwt.WithRevocationStore(mem))...)},
		{"siojwt+metrics", protected(with(siojwt.WithHook(collector.Observe))...)},
		{"siojwt+logger", protected(with(siojwt.WithLogger(logger))...)},
		{"siojwt-all", protected(siojwt.WithRevocationStore(mem), siojwt.WithHook(collector.Observe), siojwt.WithLogger(logger))},
	}
	tok := token(b, secret)
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			url := serve(b, c.setup)
			var before, open uint64
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU(b)
			res, err := loadgen.Run(context.Background(), loadgen.Config{
				URL: url, Conns: b.N, Concurrency: 100, Token: tok, Warmup: -1, Settle: time.Millisecond,
				Probe: func(s loadgen.Stage) {
					if s == loadgen.StageBase {
						before = liveHeap()
					} else {
						open = liveHeap()
					}
				},
			})
			if err != nil {
				b.Fatal(err)
			}
			cpu = processCPU(b) - cpu
			if f := res.Failures(); f > 0 || res.Connect.Connected != b.N {
				b.Fatalf("%d of %d connected, failures %v", res.Connect.Connected, b.N, res.Connect.Failures)
			}
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
			b.ReportMetric((float64(open)-float64(before))/float64(b.N), "heap-B/conn")
		})
	}
}

// TestFeatureServers checks that every server BenchmarkFeatures measures
// tells a good token from a bad one, so that no row prices a server that
// lets everyone in (the bare one excepted).
func TestFeatureServers(t *testing.T) {
	for name, setup := range map[string]func(testing.TB, *socket.Server){
		"jwt":    func(_ testing.TB, s *socket.Server) { s.Sockets().Use(jwtMiddleware) },
		"siojwt": protected(siojwt.WithoutExpiry(), siojwt.WithoutFailureLimit()),
	} {
		url := serve(t, setup)
		for tok, want := range map[string]int{token(t, secret): 10, token(t, "other"): 0} {
			res, err := loadgen.Run(context.Background(), loadgen.Config{URL: url, Conns: 10, Concurrency: 5, Token: tok, Warmup: -1, Settle: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if res.Connect.Connected != want {
				t.Errorf("%s: %d of 10 connected, want %d (failures %v)", name, res.Connect.Connected, want, res.Connect.Failures)
			}
		}
	}
}

// serve starts a Socket.IO server set up by setup on 127.0.0.1 and returns
// its base URL.
func serve(tb testing.TB, setup func(testing.TB, *socket.Server)) string {
	tb.Helper()
	opts := socket.DefaultServerOptions()
	sio := socket.NewServer(nil, opts)
	setup(tb, sio)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", sio.ServeHandler(opts))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			tb.Error(err)
		}
	}()
	tb.Cleanup(func() {
		sio.Close(nil)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

// protected returns a setup that protects the main namespace with the
// binding (HS256, the fixture's secret) built with opts.
func protected(opts ...siojwt.Option) func(testing.TB, *socket.Server) {
	return func(tb testing.TB, s *socket.Server) {
		v, err := core.New(core.WithSecretString(secret))
		if err != nil {
			tb.Fatal(err)
		}
		a, err := siojwt.New(s, v, opts...)
		if err != nil {
			tb.Fatal(err)
		}
		if err := a.Protect(s.Sockets()); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = a.Close() })
	}
}

var bareParser = jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}))

// admitAll is a middleware that lets every socket in.
func admitAll(_ *socket.Socket, next func(*socket.ExtendedError)) { next(nil) }

// jwtMiddleware is the bare golang-jwt check of the benchmark's go-jwt
// server (bench/cmd/baresrv -jwt), reading auth.token only.
func jwtMiddleware(s *socket.Socket, next func(*socket.ExtendedError)) {
	t, _ := s.Handshake().Auth["token"].(string)
	t = strings.TrimPrefix(t, "Bearer ")
	if _, err := bareParser.ParseWithClaims(t, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return []byte(secret), nil }); err != nil {
		next(socket.NewExtendedError("invalid token", map[string]any{"message": "invalid token", "code": "invalid_token", "type": "UnauthorizedError"}))
		return
	}
	next(nil)
}

// processCPU is the process's user and system CPU time so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// liveHeap is the heap in use after a forced collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
