package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/zishang520/socket.io/servers/engine/v3"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

const good = "good-token"

func reject(next func(*socket.ExtendedError), code string) {
	next(socket.NewExtendedError("no", map[string]any{"message": "no", "code": code, "type": "UnauthorizedError"}))
}

// testServer is a Socket.IO server with a fast ping: "/" checks the token
// in the handshake (auth.token, "Bearer " accepted, or query token), "/ev"
// expects the "authenticate" event. Both echo.
func testServer(t *testing.T) string {
	t.Helper()
	return testServerWith(t, nil)
}

// testServerWith is testServer with more server options set by set.
func testServerWith(t *testing.T, set func(*socket.ServerOptions)) string {
	t.Helper()
	opts := socket.DefaultServerOptions()
	// Short pings, so that a hold spans several; a pong may come up to 1 s
	// late, which a loaded machine needs (500 ms was seen to cut one).
	opts.SetPingInterval(250 * time.Millisecond)
	opts.SetPingTimeout(time.Second)
	if set != nil {
		set(opts)
	}
	sio := socket.NewServer(nil, opts)
	echo := func(s *socket.Socket) {
		_ = s.On("echo", func(m ...any) { _ = s.Emit("echo-response", m...) })
	}
	root := sio.Of("/", nil)
	root.Use(func(s *socket.Socket, next func(*socket.ExtendedError)) {
		tok, _ := s.Handshake().Auth["token"].(string)
		if tok == "" {
			if q, ok := s.Handshake().Query["token"].([]string); ok && len(q) > 0 {
				tok = q[0]
			}
		}
		switch strings.TrimPrefix(tok, "Bearer ") {
		case good:
			next(nil)
		case "":
			reject(next, "credentials_required")
		default:
			reject(next, "invalid_token")
		}
	})
	_ = root.On("connection", func(a ...any) { echo(a[0].(*socket.Socket)) })
	ev := sio.Of("/ev", nil)
	_ = ev.On("connection", func(a ...any) {
		s := a[0].(*socket.Socket)
		_ = s.On("authenticate", func(m ...any) {
			if d, ok := m[0].(map[string]any); ok && d["token"] == good {
				echo(s)
				_ = s.Emit("authenticated")
				return
			}
			_ = s.Emit("unauthorized", map[string]any{"message": "bad", "data": map[string]any{"message": "bad", "code": "invalid_token", "type": "UnauthorizedError"}})
		})
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", sio.ServeHandler(opts))
	return serve(t, mux, func() { sio.Close(nil) })
}

func serve(t *testing.T, h http.Handler, closeFn func()) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	}()
	t.Cleanup(func() {
		if closeFn != nil {
			closeFn()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

// dialAgainAfterRace makes cfg dial again (at most twice) a connection that
// failed without an answer from the server, "closed" included. The cause is
// known and is not the load generator's: the test server is the bare server
// library, without the binding, and the library acknowledges CONNECT before
// it registers the socket, so a packet sent at once on "40" ("authenticate",
// as the load generator sends it, or a first message) can arrive in between;
// the library then closes the connection ("invalid state"). The
// binding holds such packets (earlypacket.go in the library's root package;
// internal/testclient TestEarlyPacket shows the race against the bare
// library); this fake server does not. Seen in about one dial of 3 500 under
// load (a `make test` beside a CPU burner: one "closed" in TestRun/event_bad).
func dialAgainAfterRace(cfg *Config) { cfg.Retries, cfg.RetryDelay = 2, 20*time.Millisecond }

func TestRun(t *testing.T) {
	url := testServer(t)
	pid := os.Getpid()
	cases := []struct {
		name      string
		cfg       Config
		connected int
		failures  map[string]int
	}{
		{"auth", Config{Mode: ModeAuth, Token: good}, 30, nil},
		{"bearer", Config{Mode: ModeAuthBearer, Token: good}, 30, nil},
		{"query", Config{Mode: ModeQuery, Token: good}, 30, nil},
		{"none", Config{Mode: ModeNone}, 0, map[string]int{"credentials_required": 30}},
		{"bad token", Config{Mode: ModeAuth, Token: "bad"}, 0, map[string]int{"invalid_token": 30}},
		{"event", Config{Mode: ModeEvent, Token: good, Namespace: "/ev"}, 30, nil},
		{"tokens", Config{Mode: ModeQuery, Tokens: []string{good, "bad", good}}, 20, map[string]int{"invalid_token": 10}},
		{"tokens event", Config{Mode: ModeEvent, Tokens: []string{"bad", good}, Namespace: "/ev"}, 15, map[string]int{"invalid_token": 15}},
		{"event bad", Config{Mode: ModeEvent, Token: "bad", Namespace: "/ev"}, 0, map[string]int{"invalid_token": 30}},
		{"polling", Config{Mode: ModeAuth, Token: good, Polling: true}, 30, nil},
		{"polling query", Config{Mode: ModeQuery, Token: good, Polling: true}, 30, nil},
		{"polling bad token", Config{Mode: ModeAuth, Token: "bad", Polling: true}, 0, map[string]int{"invalid_token": 30}},
		{"polling event", Config{Mode: ModeEvent, Tokens: []string{"bad", good}, Namespace: "/ev", Polling: true}, 15, map[string]int{"invalid_token": 15}},
		{"compress", Config{Mode: ModeAuth, Token: good, Compress: true}, 30, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.URL, cfg.Conns, cfg.Concurrency, cfg.ServerPID = url, 30, 8, pid
			cfg.Settle, cfg.Warmup, cfg.CloseWait = 10*time.Millisecond, -1, 10*time.Millisecond
			if cfg.Mode == ModeEvent {
				dialAgainAfterRace(&cfg)
			}
			var stages []Stage
			cfg.Probe = func(s Stage) { stages = append(stages, s) }
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(stages) != 2 || stages[0] != StageBase || stages[1] != StageOpen {
				t.Errorf("probe called with %v, want [StageBase StageOpen]", stages)
			}
			p := res.Connect
			if p.Connected != c.connected || p.Attempted != 30 {
				t.Fatalf("connected %d of %d, want %d; failures %v", p.Connected, p.Attempted, c.connected, p.Failures)
			}
			for code, n := range c.failures {
				if p.Failures[code] != n {
					t.Errorf("failures %v, want %s: %d", p.Failures, code, n)
				}
			}
			if c.failures == nil && len(p.Failures) != 0 {
				t.Errorf("unexpected failures %v", p.Failures)
			}
			if c.connected > 0 && (p.P50 <= 0 || p.P99 < p.P50 || p.Max < p.P99 || p.Rate() <= 0) {
				t.Errorf("latencies p50 %s p99 %s max %s, rate %v", p.P50, p.P99, p.Max, p.Rate())
			}
			if !res.Measured || res.RSSBase <= 0 || res.RSSOpen <= 0 {
				t.Errorf("no process readings: %+v", res)
			}
			if v := res.MemPerConnCollected(); !math.IsNaN(v) {
				t.Errorf("memory after a collection without Config.Collect: %v", v)
			}
			if m := p.Machine; m == nil || m.Total < 0 || m.Busy < 0 || m.Busy > m.Total || m.Steal < 0 || m.Load1 < 0 || p.Start.IsZero() {
				t.Errorf("machine load over the phase: %+v, start %v", m, p.Start)
			}
		})
	}
}

// TestCollect checks when Config.Collect runs: before the warm-up and
// after the StageOpen probe, each time followed by a reading and its probe;
// and that its error ends the run.
func TestCollect(t *testing.T) {
	// Dials are counted on their way to the server, so that each
	// collection says how many connections came before it.
	target, err := url.Parse(testServer(t))
	if err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dials.Add(1)
		proxy.ServeHTTP(w, r)
	}), func() {})
	var calls []string
	cfg := Config{URL: front, Mode: ModeAuth, Token: good, Conns: 20, Concurrency: 5, ServerPID: os.Getpid(),
		Settle: 10 * time.Millisecond, Warmup: 5, CloseWait: 10 * time.Millisecond,
		Probe: func(s Stage) { calls = append(calls, fmt.Sprint("probe ", s)) },
		Collect: func(context.Context) error {
			calls = append(calls, fmt.Sprint("collect after ", dials.Load()))
			debug.FreeOSMemory() // the server is this process
			return nil
		},
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"collect after 0", fmt.Sprint("probe ", StageBaseCollected), fmt.Sprint("probe ", StageBase), fmt.Sprint("probe ", StageOpen), "collect after 25", fmt.Sprint("probe ", StageCollected)}
	if !slices.Equal(calls, want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
	if res.Connect.Connected != 20 || res.RSSBaseCollected <= 0 || res.RSSOpenCollected <= 0 || math.IsNaN(res.MemPerConnCollected()) {
		t.Errorf("readings after a collection: %+v", res)
	}
	cfg.Collect = func(context.Context) error { return errors.New("no /debug/free") }
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "no /debug/free") {
		t.Errorf("a failed collection: %v", err)
	}
}

// TestHoldAnswersPings holds sockets over several ping intervals with
// messages: none may drop, every echo must come back. A client that did not
// answer pings would be cut after 1.25 s, within the 2 s hold.
func TestHoldAnswersPings(t *testing.T) {
	url := testServer(t)
	for _, nsp := range []string{"/", "/ev"} {
		cfg := Config{
			URL: url, Namespace: nsp, Mode: ModeAuth, Token: good, Conns: 10, Concurrency: 5, Warmup: -1,
			Settle: 10 * time.Millisecond, CloseWait: 10 * time.Millisecond, Hold: 2 * time.Second, MessageInterval: 100 * time.Millisecond, Storm: true,
		}
		if nsp == "/ev" {
			cfg.Mode = ModeEvent
		}
		dialAgainAfterRace(&cfg)
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.Connect.Connected != 10 || res.Connect.Failed() != 0 {
			t.Fatalf("%s: connect %+v", nsp, res.Connect)
		}
		if res.Connect.Retries > 0 {
			t.Logf("%s: %d connection(s) retried", nsp, res.Connect.Retries)
		}
		s := res.Soak
		if s == nil || s.Dropped != 0 || s.Sent < 100 || s.Received != s.Sent {
			t.Fatalf("%s: soak %+v", nsp, s)
		}
		if res.Storm == nil || res.Storm.Connected != 10 || res.Failures() != 0 {
			t.Fatalf("%s: storm %+v", nsp, res.Storm)
		}
	}
}

// TestTransports holds sockets with echo messages on servers configured
// for permessage-deflate (every message compressed) or websocket only,
// reached directly or by a polling start and an upgrade: every echo must
// come back, and a polling start fails where upgrades are not offered.
func TestTransports(t *testing.T) {
	deflate := testServerWith(t, func(o *socket.ServerOptions) {
		o.SetPerMessageDeflate(&types.PerMessageDeflate{Threshold: 0})
	})
	wsOnly := testServerWith(t, func(o *socket.ServerOptions) {
		o.SetTransports(types.NewSet[engine.TransportCtor](engine.WebSocket))
	})
	noUpgrade := testServerWith(t, func(o *socket.ServerOptions) { o.SetAllowUpgrades(false) })
	for _, c := range []struct {
		name              string
		url               string
		compress, polling bool
		connected         int
		deflated          int
		failures          map[string]int
	}{
		{name: "deflate", url: deflate, compress: true, connected: 10, deflated: 10},
		{name: "deflate polling", url: deflate, compress: true, polling: true, connected: 10, deflated: 10},
		{name: "deflate not asked", url: deflate, connected: 10},
		{name: "deflate not offered", url: wsOnly, compress: true, connected: 10},
		{name: "websocket only", url: wsOnly, connected: 10},
		{name: "websocket only polling", url: wsOnly, polling: true, failures: map[string]int{"http_400": 10}},
		{name: "no upgrades polling", url: noUpgrade, polling: true, failures: map[string]int{"no_upgrade": 10}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := Run(context.Background(), Config{
				URL: c.url, Mode: ModeAuth, Token: good, Conns: 10, Concurrency: 5, Warmup: -1,
				Settle: 10 * time.Millisecond, CloseWait: 10 * time.Millisecond,
				Hold: 600 * time.Millisecond, MessageInterval: 100 * time.Millisecond,
				Compress: c.compress, Polling: c.polling,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Connect.Connected != c.connected {
				t.Fatalf("connected %d of 10, want %d: %v", res.Connect.Connected, c.connected, res.Connect.Failures)
			}
			if res.Connect.Deflated != c.deflated {
				t.Errorf("permessage-deflate on %d connections, want %d", res.Connect.Deflated, c.deflated)
			}
			for code, n := range c.failures {
				if res.Connect.Failures[code] != n {
					t.Errorf("failures %v, want %s: %d", res.Connect.Failures, code, n)
				}
			}
			if s := res.Soak; c.connected > 0 && (s == nil || s.Dropped != 0 || s.Sent < 20 || s.Received != s.Sent) {
				t.Fatalf("hold %+v", s)
			}
		})
	}
}

// TestDropReasons holds sockets on a server that pings each one once,
// then, at the first message of the hold, sends a Socket.IO DISCONNECT
// and closes with "going away": every socket is counted as dropped, with
// that reason, and described with its answered ping.
func TestDropReasons(t *testing.T) {
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		if c.Write(ctx, websocket.MessageText, []byte(`0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000}`)) != nil {
			return
		}
		if _, _, err := c.Read(ctx); err != nil {
			return
		}
		if c.Write(ctx, websocket.MessageText, []byte(`40{"sid":"t"}`)) != nil {
			return
		}
		if c.Write(ctx, websocket.MessageText, []byte("2")) != nil {
			return
		}
		for {
			_, m, err := c.Read(ctx)
			if err != nil {
				return
			}
			if strings.HasPrefix(string(m), `42["echo"`) {
				break
			}
		}
		_ = c.Write(ctx, websocket.MessageText, []byte("41"))
		_ = c.Close(websocket.StatusGoingAway, "bye")
	}), nil)
	res, err := Run(context.Background(), Config{
		URL: url, Mode: ModeAuth, Token: good, Conns: 5, Concurrency: 5, Warmup: -1,
		Settle: time.Millisecond, CloseWait: time.Millisecond, Hold: time.Second, MessageInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Soak
	const reason = "close status 1001 after packet 41"
	if res.Connect.Connected != 5 || s == nil || s.Dropped != 5 || s.DropReasons[reason] != 5 || len(s.Drops) != 5 {
		t.Fatalf("connected %d, hold %+v", res.Connect.Connected, s)
	}
	for _, d := range s.Drops {
		if d.Reason != reason || d.LastPacket != "41" || d.At <= 0 || d.At > time.Second || d.Age < d.At ||
			d.SincePacket < 0 || d.SincePing < d.SincePacket || d.PongAfter < 0 || d.PongAfter > d.SincePing || d.SinceSent < 0 {
			t.Errorf("drop %+v", d)
		}
		if str := d.String(); !strings.Contains(str, reason) || !strings.Contains(str, "pong written") {
			t.Errorf("drop text %q", str)
		}
	}
	if got := dropReason(io.EOF, ""); got != "EOF" {
		t.Errorf("dropReason(EOF) = %q", got)
	}
}

// TestBadServers: a server that never answers times out, one that speaks
// something else is a protocol failure, a closed port is a dial failure,
// and a retry is counted.
func TestBadServers(t *testing.T) {
	silent := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, _, _ = c.Read(r.Context())
	}), nil)
	garbage := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_ = c.Write(r.Context(), websocket.MessageBinary, []byte{0xff})
		_, _, _ = c.Read(r.Context())
	}), nil)
	notWS := serve(t, http.NotFoundHandler(), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	for _, c := range []struct {
		url, code string
		retries   int
	}{
		{silent, FailTimeout, 1},
		{garbage, FailProtocol, 0},
		{notWS, "http_404", 0},
		{closed, FailDial, 1},
	} {
		res, err := Run(context.Background(), Config{
			URL: c.url, Mode: ModeNone, Conns: 3, Concurrency: 3, Warmup: -1, Settle: time.Millisecond, CloseWait: time.Millisecond,
			ConnectTimeout: 300 * time.Millisecond, Retries: 1, RetryDelay: 10 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Connect.Failures[c.code] != 3 || res.Connect.Retries != 3*c.retries {
			t.Errorf("%s: failures %v, %d retries; want %s: 3, %d retries", c.url, res.Connect.Failures, res.Connect.Retries, c.code, 3*c.retries)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{URL: "http://127.0.0.1:1", Conns: 0},
		{URL: "http://127.0.0.1:1", Conns: MaxConns + 1},
		{URL: "http://10.0.0.1:80", Conns: 1, Mode: ModeNone},
		{URL: "http://example.com:80", Conns: 1, Mode: ModeNone},
		{URL: "http://127.0.0.1", Conns: 1, Mode: ModeNone},
		{URL: "https://127.0.0.1:1", Conns: 1, Mode: ModeNone},
		{URL: "http://127.0.0.1:1", Conns: 1, Mode: ModeAuth},
		{URL: "http://127.0.0.1:1", Conns: 1, Mode: Mode(42), Token: "x"},
		{URL: "http://127.0.0.1:1", Conns: 1, Mode: ModeNone, Namespace: "x"},
		{URL: "http://127.0.0.1:1", Conns: 1, Mode: ModeNone, MaxDuration: 2 * MaxRunDuration},
		{URL: "http://127.0.0.1:1", Conns: 1, Mode: ModeNone, Retries: -1},
		{URL: "http://127.0.0.1:1", Conns: 1, Mode: ModeAuth, Tokens: []string{"a", ""}},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

func TestParseMode(t *testing.T) {
	for m := ModeAuth; m <= ModeEvent; m++ {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseMode("cookie"); err == nil {
		t.Error("ParseMode(cookie): no error")
	}
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	p50, p99, mx := percentiles(d)
	if p50 != 50*time.Millisecond || p99 != 99*time.Millisecond || mx != 100*time.Millisecond {
		t.Errorf("got %s %s %s", p50, p99, mx)
	}
	if a, b, c := percentiles(nil); a != 0 || b != 0 || c != 0 {
		t.Error("empty input")
	}
	if a, b, c := percentiles([]time.Duration{7}); a != 7 || b != 7 || c != 7 {
		t.Error("one value")
	}
}

func TestEventAndErrorCode(t *testing.T) {
	for _, c := range []struct {
		body, name, arg string
	}{
		{`["authenticated"]`, "authenticated", ""},
		{`12["unauthorized",{"data":{"code":"x"}}]`, "unauthorized", `{"data":{"code":"x"}}`},
		{`not json`, "", ""},
		{`[]`, "", ""},
		{`[1]`, "", ""},
	} {
		name, arg := event(c.body)
		if name != c.name || string(arg) != c.arg {
			t.Errorf("event(%q) = %q, %q", c.body, name, arg)
		}
	}
	for _, c := range []struct{ in, want string }{
		{`{"message":"m","data":{"code":"invalid_token"}}`, "invalid_token"},
		{`{"message":"m"}`, "fb"},
		{`{"data":{"code":5}}`, "fb"},
		{`garbage`, "fb"},
	} {
		if got := errorCode([]byte(c.in), "fb"); got != c.want {
			t.Errorf("errorCode(%s) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestProcParsing(t *testing.T) {
	stat := []byte("1234 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0\n")
	d, err := parseStatCPU(stat, 100)
	if err != nil || d != 3*time.Second {
		t.Errorf("parseStatCPU = %s, %v; want 3s", d, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 u s"} {
		if _, err := parseStatCPU([]byte(bad), 100); err == nil {
			t.Errorf("parseStatCPU(%q): no error", bad)
		}
	}
	rss, err := parseStatusRSS([]byte("Name:\tx\nVmRSS:\t   2048 kB\n"))
	if err != nil || rss != 2048*1024 {
		t.Errorf("parseStatusRSS = %d, %v", rss, err)
	}
	for _, bad := range []string{"", "VmRSS: 12 MB\n", "VmRSS: x kB\n"} {
		if _, err := parseStatusRSS([]byte(bad)); err == nil {
			t.Errorf("parseStatusRSS(%q): no error", bad)
		}
	}
	s, err := ReadProc(os.Getpid())
	if err != nil || s.RSS <= 0 {
		t.Errorf("ReadProc(self) = %+v, %v", s, err)
	}
	if _, err := ReadProc(0); err == nil {
		t.Error("ReadProc(0): no error")
	}
}

func TestMachineParsing(t *testing.T) {
	stat := []byte("cpu  100 20 30 500 10 5 5 30 7 0\ncpu0 50 10 15 250 5 2 3 15 0 0\nintr 1\n")
	c, err := parseCPULine(stat, 100)
	if err != nil {
		t.Fatal(err)
	}
	// busy: user+nice+system+irq+softirq = 160 ticks; total adds idle,
	// iowait and steal (guest is inside user): 700 ticks.
	if c.busy != 1600*time.Millisecond || c.total != 7*time.Second || c.steal != 300*time.Millisecond {
		t.Errorf("parseCPULine = %+v", c)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8\n", "cpu 1 2 3\n", "cpu 1 2 3 x 5 6 7 8\n"} {
		if _, err := parseCPULine([]byte(bad), 100); err == nil {
			t.Errorf("parseCPULine(%q): no error", bad)
		}
	}
	if l, err := parseLoad1([]byte("1.25 0.50 0.10 1/100 42\n")); err != nil || l != 1.25 {
		t.Errorf("parseLoad1 = %v, %v", l, err)
	}
	m := MachineLoad{Total: 2 * time.Second, Busy: 1500 * time.Millisecond, Steal: 100 * time.Millisecond, Client: 400 * time.Millisecond}
	if m.StealPct() != 5 || m.BusyPct() != 75 || m.OthersPct(600*time.Millisecond) != 25 || m.OthersPct(2*time.Second) != 0 {
		t.Errorf("steal %v busy %v others %v", m.StealPct(), m.BusyPct(), m.OthersPct(600*time.Millisecond))
	}
	if (&MachineLoad{}).BusyPct() != 0 {
		t.Error("an empty reading is not 0 % busy")
	}
	mark := markMachine()
	if !mark.ok {
		t.Fatal("no /proc readings on this machine")
	}
	time.Sleep(50 * time.Millisecond) // several clock ticks on every CPU
	if l := mark.since(); l == nil || l.Total <= 0 || l.Busy > l.Total || l.Load1 < 0 {
		t.Errorf("since = %+v", l)
	}
}
