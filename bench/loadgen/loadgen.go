// Package loadgen is a Socket.IO load generator that speaks Engine.IO v4 /
// Socket.IO v5 over a bare websocket, without a Socket.IO client library,
// so that one Go process can open thousands of connections cheaply.
//
// A run opens Config.Conns connections with bounded concurrency,
// authenticates each one (token in the CONNECT auth payload, in the query,
// or with the "authenticate" event), holds them open while answering the
// server's pings, optionally sends one message per socket per interval
// (soak), optionally drops them all and reconnects them at once (storm),
// and reports connection rate, connect latency, failures by code and, when
// given the server's process id, the server's CPU time per connection and
// resident memory per open connection read from /proc. Every phase also
// records what the whole machine did meanwhile (Phase.Machine: CPU steal,
// busy time, the load generator's own CPU, the load average).
//
// Every dial and read has a deadline and a whole run is bounded by
// Config.MaxDuration. Only loopback servers are accepted.
package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Mode says how a client presents its token.
type Mode int

const (
	// ModeAuth sends the token in the CONNECT auth payload:
	// 40{"token":"<jwt>"} (socket.io-client v3/v4 `auth`).
	ModeAuth Mode = iota
	// ModeAuthBearer sends 40{"token":"Bearer <jwt>"}, the form
	// @thream/socketio-jwt requires.
	ModeAuthBearer
	// ModeQuery puts the token in the handshake URL (?token=<jwt>) and
	// sends a bare CONNECT (40), the form socketio-jwt reads.
	ModeQuery
	// ModeNone sends no token.
	ModeNone
	// ModeEvent connects without a token, then emits
	// 42["authenticate",{"token":"<jwt>"}] and waits for
	// 42["authenticated"] (the two-round-trip flow).
	ModeEvent
)

var modeNames = []string{"auth", "auth-bearer", "query", "none", "event"}

// String returns the name ParseMode accepts.
func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("Mode(%d)", int(m))
	}
	return modeNames[m]
}

// ParseMode parses "auth", "auth-bearer", "query", "none" or "event".
func ParseMode(s string) (Mode, error) {
	if i := slices.Index(modeNames, s); i >= 0 {
		return Mode(i), nil
	}
	return 0, fmt.Errorf("loadgen: unknown mode %q (want one of %s)", s, strings.Join(modeNames, ", "))
}

// Failure codes for failures that are not a server's rejection. A rejection
// is counted under the code the server sent (data.code of the CONNECT_ERROR
// or of the "unauthorized" event).
const (
	FailDial     = "dial"       // TCP or websocket handshake failed
	FailTimeout  = "timeout"    // no answer within Config.ConnectTimeout
	FailClosed   = "closed"     // the connection ended before the socket was connected
	FailProtocol = "protocol"   // an unexpected packet
	FailDisconn  = "disconnect" // the server sent a Socket.IO DISCONNECT
)

// Limits on a Config.
const (
	MaxConns       = 50000
	MaxRunDuration = time.Hour
)

// Config describes one run. The zero value of each optional field picks the
// default given.
type Config struct {
	// URL is the server's base URL, for example http://127.0.0.1:9000.
	// The host must be a loopback address.
	URL string
	// Namespace to connect to (default "/").
	Namespace string
	// Conns is the number of connections to open (1..MaxConns).
	Conns int
	// Concurrency bounds the connection attempts in flight (default 100).
	Concurrency int
	// Mode says how the token is presented (default ModeAuth).
	Mode Mode
	// Token is the JWT to present (ignored with ModeNone).
	Token string
	// Tokens, when not empty, gives connection i the token
	// Tokens[i % len(Tokens)] instead of Token: one token per client, as
	// in real use (a server that caches verified tokens would otherwise
	// verify only once).
	Tokens []string
	// ConnectTimeout bounds each attempt, from dial to connected
	// (default 10 s).
	ConnectTimeout time.Duration
	// Retries is how many more times a connection that failed without a
	// server rejection (dial error, timeout, closed) is attempted, after a
	// randomised delay of RetryDelay to 2*RetryDelay (default delay 500 ms).
	Retries    int
	RetryDelay time.Duration
	// Warmup connections are opened and closed before any measurement
	// (default min(Conns, 100); negative for none).
	Warmup int
	// Settle is the pause after the connect phase before memory is read
	// (default 1 s).
	Settle time.Duration
	// Hold keeps the connections open this long after they connected.
	Hold time.Duration
	// MessageInterval, when positive, makes every socket emit
	// 42["echo",n] every interval while held; the server is expected to
	// answer 42["echo-response",n].
	MessageInterval time.Duration
	// Storm, when set, drops every open connection at once after the hold
	// and reconnects them all, StormConcurrency at a time (default: all).
	Storm            bool
	StormConcurrency int
	// StormDelay is the pause between dropping the sockets and
	// reconnecting them (default none): with it, the server's CPU of the
	// reconnections no longer includes the handling of the dropped
	// connections.
	StormDelay time.Duration
	// Compress asks for permessage-deflate (without context takeover) in
	// the websocket handshake, as browsers and the Node client do; the
	// server uses it only when configured to.
	Compress bool
	// Polling starts each connection as socket.io-client does with its
	// default transports: the Engine.IO open and the Socket.IO connect over
	// HTTP long-polling, then the upgrade to a websocket. Without it the
	// client dials the websocket directly (transports: ["websocket"]).
	Polling bool
	// CloseWait is how long after the last sockets are closed the server's
	// CPU is read again, for Result.CloseCPU (default 1 s).
	CloseWait time.Duration
	// Probe, when set, is called with StageBase after the warm-up, just
	// before the connect phase, with StageOpen once every connection of
	// the connect phase is open (after Settle), with StageBaseCollected
	// and StageCollected after Collect, and with StageHeld once the hold
	// is over, before any socket is closed: the moments the server's own
	// metrics are worth reading.
	Probe func(Stage)
	// Collect, when set, makes the server collect its garbage and return
	// the freed memory to the OS (the Go servers' /debug/free). It is
	// called before the warm-up and after the StageOpen probe, each time
	// followed by a reading and a probe (StageBaseCollected,
	// StageCollected): Result.RSSBaseCollected and RSSOpenCollected,
	// memory without the garbage not yet collected. Neither collection
	// falls within the connect phase or between the StageBase and
	// StageOpen probes.
	Collect func(context.Context) error
	// ServerPID is the server's process id for CPU and memory readings
	// (0: none).
	ServerPID int
	// MaxDuration caps the whole run (default 5 min, at most
	// MaxRunDuration).
	MaxDuration time.Duration
}

func (c *Config) defaults() error {
	if c.Conns < 1 || c.Conns > MaxConns {
		return fmt.Errorf("loadgen: Conns must be in 1..%d, got %d", MaxConns, c.Conns)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 100
	}
	c.Concurrency = min(c.Concurrency, c.Conns)
	if c.Namespace == "" {
		c.Namespace = "/"
	}
	if !strings.HasPrefix(c.Namespace, "/") || strings.ContainsAny(c.Namespace, ",?#") {
		return fmt.Errorf("loadgen: invalid namespace %q", c.Namespace)
	}
	if c.Mode < ModeAuth || c.Mode > ModeEvent {
		return fmt.Errorf("loadgen: invalid mode %d", c.Mode)
	}
	if c.Mode != ModeNone && c.Token == "" && len(c.Tokens) == 0 {
		return errors.New("loadgen: mode " + c.Mode.String() + " needs a token")
	}
	if slices.Contains(c.Tokens, "") {
		return errors.New("loadgen: empty string in Tokens")
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.Retries < 0 {
		return errors.New("loadgen: negative Retries")
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = 500 * time.Millisecond
	}
	if c.Warmup == 0 {
		c.Warmup = min(c.Conns, 100)
	}
	if c.Settle <= 0 {
		c.Settle = time.Second
	}
	if c.Hold < 0 || c.MessageInterval < 0 || c.StormDelay < 0 {
		return errors.New("loadgen: negative Hold, MessageInterval or StormDelay")
	}
	if c.CloseWait <= 0 {
		c.CloseWait = time.Second
	}
	if c.StormConcurrency <= 0 {
		c.StormConcurrency = c.Conns
	}
	c.StormConcurrency = min(c.StormConcurrency, c.Conns)
	if c.MaxDuration <= 0 {
		c.MaxDuration = 5 * time.Minute
	}
	if c.MaxDuration > MaxRunDuration {
		return fmt.Errorf("loadgen: MaxDuration above %s", MaxRunDuration)
	}
	return nil
}

// Stage is a moment of a run passed to Config.Probe.
type Stage int

// Stages of a run.
const (
	StageBase Stage = iota // after the warm-up, before the connect phase
	StageOpen              // every connection of the connect phase open
	StageHeld              // the hold over (Config.Hold), before any close
	// StageCollected: every connection open, after Config.Collect (only
	// with it), before the hold.
	StageCollected
	// StageBaseCollected: before the warm-up, after Config.Collect (only
	// with it).
	StageBaseCollected
)

// Phase is what one burst of connections measured.
type Phase struct {
	// Attempted and Connected count connections (not attempts: a retried
	// connection counts once).
	Attempted, Connected int
	// Failures counts the connections that never connected, by code.
	Failures map[string]int
	// Retries counts extra attempts.
	Retries int
	// Deflated counts the connected websockets on which the server
	// accepted permessage-deflate (Config.Compress).
	Deflated int
	// Start is when the first dial was made; Elapsed runs from then to
	// the last outcome.
	Start   time.Time
	Elapsed time.Duration
	// P50, P99 and Max are connect latencies (dial to connected, including
	// retries) of the connections that connected.
	P50, P99, Max time.Duration
	// ServerCPU is the server's CPU time consumed during the phase.
	ServerCPU time.Duration
	// Machine is what the whole machine did during the phase (nil when
	// /proc could not be read).
	Machine *MachineLoad
}

// Failed is the number of connections that did not connect.
func (p *Phase) Failed() int { return p.Attempted - p.Connected }

// Rate is connections per second over Elapsed.
func (p *Phase) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Connected) / p.Elapsed.Seconds()
}

// CPUPerConn is the server CPU time per connected connection.
func (p *Phase) CPUPerConn() time.Duration {
	if p.Connected == 0 {
		return 0
	}
	return p.ServerCPU / time.Duration(p.Connected)
}

// Soak is what the hold phase measured.
type Soak struct {
	// Duration is how long the sockets were held.
	Duration time.Duration
	// Sockets held open at the start of the hold.
	Sockets int
	// Sent echo messages and Received echo-response messages.
	Sent, Received int64
	// Dropped counts sockets that closed during the hold, and DropReasons
	// says how: the websocket close status, "EOF" for a connection closed
	// without one, the last Engine.IO or Socket.IO control packet seen
	// before, or the error.
	Dropped     int64
	DropReasons map[string]int
	// Drops describes the first MaxDrops dropped sockets, in the order
	// they closed.
	Drops []Drop
	// ServerCPU consumed during the hold.
	ServerCPU time.Duration
}

// MaxDrops is how many dropped sockets a Soak describes one by one.
const MaxDrops = 20

// Drop is what the load generator knew of one socket that closed on its
// own during the hold: enough to tell a missed heartbeat (no ping for a
// ping interval and a ping timeout, or a pong written late) from a close
// with the heartbeat in order. A duration that did not happen (no ping
// came, no message was sent) is -1.
type Drop struct {
	// At is when the socket closed, from the start of the hold; Age is
	// how long it had been connected then.
	At, Age time.Duration
	// Reason is how it ended, as counted in Soak.DropReasons.
	Reason string
	// LastPacket is the start (up to 40 bytes) of the last Engine.IO
	// packet received, SincePacket how long before the close it came.
	LastPacket  string
	SincePacket time.Duration
	// SincePing is how long before the close the last ping came, and
	// PongAfter how long after that ping its pong was written.
	SincePing, PongAfter time.Duration
	// SinceSent is how long before the close the last echo message was
	// written, timed as its write started.
	SinceSent time.Duration
}

// String is a one-line account of the drop.
func (d Drop) String() string {
	ms := func(v time.Duration) string { return v.Round(time.Millisecond).String() }
	b := &strings.Builder{}
	fmt.Fprintf(b, "at %s of the hold, %s after connecting: %s", ms(d.At), ms(d.Age), d.Reason)
	if d.SincePacket >= 0 {
		fmt.Fprintf(b, "; last packet %q %s before", d.LastPacket, ms(d.SincePacket))
	}
	switch {
	case d.SincePing < 0:
		b.WriteString("; no ping received")
	case d.PongAfter < 0:
		fmt.Fprintf(b, "; last ping %s before, pong not written", ms(d.SincePing))
	default:
		fmt.Fprintf(b, "; last ping %s before, pong written %s after it", ms(d.SincePing), d.PongAfter.Round(time.Microsecond))
	}
	if d.SinceSent >= 0 {
		fmt.Fprintf(b, "; last message sent %s before", ms(d.SinceSent))
	}
	return b.String()
}

// CPUPerMessage is the server CPU time per echoed message.
func (s *Soak) CPUPerMessage() time.Duration {
	if s.Received == 0 {
		return 0
	}
	return s.ServerCPU / time.Duration(s.Received)
}

// Result is the outcome of Run.
type Result struct {
	// Connect is the initial burst.
	Connect Phase
	// Soak is set when Config.Hold was positive.
	Soak *Soak
	// Storm is set when Config.Storm was set.
	Storm *Phase
	// Measured says whether server readings were taken (Config.ServerPID).
	Measured bool
	// RSSBase is the server's resident memory after warm-up, RSSOpen with
	// every connection of the connect phase open, RSSPeak the highest
	// reading taken.
	RSSBase, RSSOpen, RSSPeak int64
	// RSSBaseCollected and RSSOpenCollected are the same readings taken
	// after Config.Collect (0 without it).
	RSSBaseCollected, RSSOpenCollected int64
	// CloseCPU is the server CPU time spent closing every socket (measured
	// over Config.CloseWait).
	CloseCPU time.Duration
}

// MemPerConn is (RSSOpen - RSSBase) / Connect.Connected in bytes.
func (r *Result) MemPerConn() float64 {
	if r.Connect.Connected == 0 {
		return 0
	}
	return float64(r.RSSOpen-r.RSSBase) / float64(r.Connect.Connected)
}

// MemPerConnCollected is (RSSOpenCollected - RSSBaseCollected) /
// Connect.Connected in bytes: what each open connection keeps once the
// server has collected its garbage (NaN without Config.Collect).
func (r *Result) MemPerConnCollected() float64 {
	if r.Connect.Connected == 0 || r.RSSOpenCollected == 0 || r.RSSBaseCollected == 0 {
		return math.NaN()
	}
	return float64(r.RSSOpenCollected-r.RSSBaseCollected) / float64(r.Connect.Connected)
}

// Failures is the number of connections that failed in all phases.
func (r *Result) Failures() int {
	n := r.Connect.Failed()
	if r.Storm != nil {
		n += r.Storm.Failed()
	}
	return n
}

type runner struct {
	cfg    Config
	reqs   []request // one per token; connection i uses reqs[i%len(reqs)]
	prefix string    // namespace prefix in packets ("" for "/")
	client *http.Client
	// pollClient keeps HTTP connections alive between the long-polling
	// requests of one connection, as a browser does.
	pollClient *http.Client
	received   atomic.Int64
	sent       atomic.Int64
	dropped    atomic.Int64
	// dropMu guards dropReasons: how the sockets counted in dropped ended.
	dropMu      sync.Mutex
	dropReasons map[string]int
	drops       []Drop
	// holdStart is the start of the hold (UnixNano; 0 outside one).
	holdStart atomic.Int64
}

// request is what a connection sends for one token.
type request struct {
	wsURL   string
	pollURL string // Config.Polling only
	connect []byte // CONNECT packet
	authEvt []byte // authenticate event, ModeEvent only
}

// conn is an open, connected socket and its reader goroutine.
type conn struct {
	ws      *websocket.Conn
	deflate bool // permessage-deflate negotiated
	done    chan struct{}
	stop    atomic.Bool // set before a deliberate close
	// opened is when the socket connected; sent when its last echo
	// message was written (UnixNano, 0 for none).
	opened time.Time
	sent   atomic.Int64
}

// Run performs one run against cfg.URL. It returns an error only for a bad
// configuration or when the server's readings fail; failed connections are
// counted in the Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r, err := newRunner(cfg)
	if err != nil {
		return nil, err
	}
	defer r.client.CloseIdleConnections()
	defer r.pollClient.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, cfg.MaxDuration)
	defer cancel()
	return r.run(ctx)
}

// CheckLoopback returns an error unless rawURL's host is a loopback IP
// address or "localhost".
func CheckLoopback(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		return nil, fmt.Errorf("loadgen: refusing non-loopback host %q", host)
	}
	if u.Port() == "" {
		return nil, fmt.Errorf("loadgen: no port in %q", rawURL)
	}
	return u, nil
}

func newRunner(cfg Config) (*runner, error) {
	u, err := CheckLoopback(cfg.URL)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "http", "ws":
	default:
		return nil, fmt.Errorf("loadgen: unsupported scheme %q", u.Scheme)
	}
	r := &runner{cfg: cfg}
	if cfg.Namespace != "/" {
		r.prefix = cfg.Namespace + ","
	}
	tokens := cfg.Tokens
	if len(tokens) == 0 {
		tokens = []string{cfg.Token}
	}
	for _, tok := range tokens {
		r.reqs = append(r.reqs, r.request(u.Host, tok))
	}
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		// Close with a reset: thousands of sockets closed per run
		// would otherwise sit in TIME_WAIT and exhaust local ports.
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		return c, nil
	}
	r.client = &http.Client{Transport: &http.Transport{
		DialContext:        dial,
		DisableCompression: true,
		MaxIdleConns:       1,
	}}
	// Long-polling requests ask for compressed answers (Accept-Encoding:
	// gzip), as browsers do.
	r.pollClient = &http.Client{Transport: &http.Transport{
		DialContext:         dial,
		MaxIdleConns:        cfg.Concurrency,
		MaxIdleConnsPerHost: cfg.Concurrency,
	}}
	return r, nil
}

func (r *runner) request(host, tok string) request {
	q := url.Values{"EIO": {"4"}, "transport": {"websocket"}}
	if r.cfg.Mode == ModeQuery {
		q.Set("token", tok)
	}
	req := request{wsURL: "ws://" + host + "/socket.io/?" + q.Encode()}
	if r.cfg.Polling {
		q.Set("transport", "polling")
		req.pollURL = "http://" + host + "/socket.io/?" + q.Encode()
	}
	var auth []byte
	switch r.cfg.Mode {
	case ModeAuth:
		auth, _ = json.Marshal(map[string]string{"token": tok})
	case ModeAuthBearer:
		auth, _ = json.Marshal(map[string]string{"token": "Bearer " + tok})
	case ModeEvent:
		evt, _ := json.Marshal([]any{"authenticate", map[string]string{"token": tok}})
		req.authEvt = append([]byte("42"+r.prefix), evt...)
	}
	req.connect = append([]byte("40"+r.prefix), auth...)
	return req
}

func (r *runner) sample() (ProcSample, error) {
	if r.cfg.ServerPID == 0 {
		return ProcSample{}, nil
	}
	return ReadProc(r.cfg.ServerPID)
}

// collect calls Config.Collect, reads the server's RSS, then probes stage.
func (r *runner) collect(ctx context.Context, stage Stage) (int64, error) {
	if err := r.cfg.Collect(ctx); err != nil {
		return 0, fmt.Errorf("loadgen: collect: %w", err)
	}
	c, err := r.sample()
	if err != nil {
		return 0, err
	}
	r.probe(stage)
	return c.RSS, nil
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	res := &Result{Measured: r.cfg.ServerPID != 0}
	if r.cfg.Collect != nil {
		// Before the warm-up, so that the connect phase starts on the
		// heap the warm-up left, as it does without a collection.
		var err error
		if res.RSSBaseCollected, err = r.collect(ctx, StageBaseCollected); err != nil {
			return nil, err
		}
	}
	if r.cfg.Warmup > 0 {
		var w Phase
		// Warm-up connections take the tokens after the measured ones.
		conns := r.burst(ctx, r.cfg.Warmup, min(r.cfg.Concurrency, r.cfg.Warmup), &w, r.cfg.Conns)
		closeAll(conns)
		sleep(ctx, 300*time.Millisecond)
	}
	r.probe(StageBase)
	base, err := r.sample()
	if err != nil {
		return nil, err
	}
	res.RSSBase, res.RSSPeak = base.RSS, base.RSS
	mark := markMachine()
	conns := r.burst(ctx, r.cfg.Conns, r.cfg.Concurrency, &res.Connect, 0)
	defer func() { closeAll(conns) }()
	after, err := r.sample()
	if err != nil {
		return nil, err
	}
	res.Connect.Machine = mark.since()
	res.Connect.ServerCPU = after.CPU - base.CPU
	sleep(ctx, r.cfg.Settle)
	open, err := r.sample()
	if err != nil {
		return nil, err
	}
	res.RSSOpen = open.RSS
	res.RSSPeak = max(res.RSSPeak, open.RSS)
	r.probe(StageOpen)
	if r.cfg.Collect != nil {
		if res.RSSOpenCollected, err = r.collect(ctx, StageCollected); err != nil {
			return nil, err
		}
	}

	if r.cfg.Hold > 0 {
		res.Soak = r.soak(ctx, conns)
		r.probe(StageHeld)
		end, err := r.sample()
		if err != nil {
			return nil, err
		}
		res.Soak.ServerCPU = end.CPU - open.CPU
		res.RSSPeak = max(res.RSSPeak, end.RSS)
	}

	if r.cfg.Storm {
		closeAll(conns)
		if r.cfg.StormDelay > 0 {
			sleep(ctx, r.cfg.StormDelay)
		}
		start, err := r.sample()
		if err != nil {
			return nil, err
		}
		res.Storm = &Phase{}
		mark := markMachine()
		conns = r.burst(ctx, r.cfg.Conns, r.cfg.StormConcurrency, res.Storm, 0)
		end, err := r.sample()
		if err != nil {
			return nil, err
		}
		res.Storm.Machine = mark.since()
		res.Storm.ServerCPU = end.CPU - start.CPU
		res.RSSPeak = max(res.RSSPeak, end.RSS)
	}

	before, err := r.sample()
	if err != nil {
		return nil, err
	}
	closeAll(conns)
	conns = nil
	sleep(ctx, r.cfg.CloseWait)
	end, err := r.sample()
	if err != nil {
		return nil, err
	}
	res.CloseCPU = end.CPU - before.CPU
	return res, nil
}

func (r *runner) probe(s Stage) {
	if r.cfg.Probe != nil {
		r.cfg.Probe(s)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// closeAll drops every connection at once and waits for the readers.
func closeAll(conns []*conn) {
	for _, c := range conns {
		if c != nil {
			c.stop.Store(true)
			_ = c.ws.CloseNow()
		}
	}
	for _, c := range conns {
		if c != nil {
			<-c.done
		}
	}
}

type outcome struct {
	c       *conn
	latency time.Duration
	fail    string
	retries int
}

// burst opens n connections, conc at a time, and fills p. Connection i
// presents token number first+i (modulo the tokens).
func (r *runner) burst(ctx context.Context, n, conc int, p *Phase, first int) []*conn {
	p.Attempted = n
	p.Failures = map[string]int{}
	idx := make(chan int)
	out := make([]outcome, n)
	var wg sync.WaitGroup
	start := time.Now()
	p.Start = start
	for range conc {
		wg.Go(func() {
			for i := range idx {
				out[i] = r.connectRetrying(ctx, &r.reqs[(first+i)%len(r.reqs)])
			}
		})
	}
	for i := range n {
		idx <- i
	}
	close(idx)
	wg.Wait()
	p.Elapsed = time.Since(start)
	conns := make([]*conn, 0, n)
	lat := make([]time.Duration, 0, n)
	for _, o := range out {
		p.Retries += o.retries
		if o.c == nil {
			p.Failures[o.fail]++
			continue
		}
		conns = append(conns, o.c)
		lat = append(lat, o.latency)
		if o.c.deflate {
			p.Deflated++
		}
	}
	p.Connected = len(conns)
	p.P50, p.P99, p.Max = percentiles(lat)
	return conns
}

// percentiles returns the nearest-rank 50th and 99th percentiles and the
// maximum.
func percentiles(d []time.Duration) (p50, p99, mx time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	rank := func(p int) time.Duration {
		i := (p*len(d)+99)/100 - 1
		return d[max(0, min(i, len(d)-1))]
	}
	return rank(50), rank(99), d[len(d)-1]
}

func retryable(fail string) bool {
	return fail == FailDial || fail == FailTimeout || fail == FailClosed
}

func (r *runner) connectRetrying(ctx context.Context, req *request) outcome {
	start := time.Now()
	var o outcome
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			o.fail = FailTimeout
			return o
		}
		o.c, o.fail = r.connectOne(ctx, req)
		if o.c != nil {
			o.latency = time.Since(start)
			return o
		}
		if attempt >= r.cfg.Retries || !retryable(o.fail) {
			return o
		}
		o.retries++
		sleep(ctx, r.cfg.RetryDelay+rand.N(r.cfg.RetryDelay))
	}
}

// connectOne dials, performs the Engine.IO open and the Socket.IO connect
// (and authenticate, in ModeEvent), and starts the reader on success.
func (r *runner) connectOne(ctx context.Context, req *request) (*conn, string) {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
	defer cancel()
	var ws *websocket.Conn
	var deflate bool
	var fail string
	if r.cfg.Polling {
		if ws, deflate, fail = r.connectPolling(cctx, req); fail != "" {
			return nil, fail
		}
	} else {
		if ws, deflate, fail = r.dial(cctx, req.wsURL); fail != "" {
			return nil, fail
		}
		if fail = r.handshake(cctx, ws, req); fail != "" {
			_ = ws.CloseNow()
			return nil, fail
		}
	}
	c := &conn{ws: ws, done: make(chan struct{}), deflate: deflate, opened: time.Now()}
	go r.read(ctx, c)
	return c, ""
}

// dial opens a websocket to u and reports whether the server accepted
// permessage-deflate.
func (r *runner) dial(ctx context.Context, u string) (*websocket.Conn, bool, string) {
	opts := &websocket.DialOptions{HTTPClient: r.client}
	if r.cfg.Compress {
		opts.CompressionMode = websocket.CompressionNoContextTakeover
	}
	ws, resp, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, false, fmt.Sprintf("http_%d", resp.StatusCode)
		}
		if ctx.Err() != nil {
			return nil, false, FailTimeout
		}
		return nil, false, FailDial
	}
	ws.SetReadLimit(1 << 20)
	return ws, strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate"), ""
}

func readFailure(ctx context.Context) string {
	if ctx.Err() != nil {
		return FailTimeout
	}
	return FailClosed
}

func (r *runner) handshake(ctx context.Context, ws *websocket.Conn, req *request) string {
	h := hsState{r: r, req: req}
	for {
		typ, msg, err := ws.Read(ctx)
		if err != nil {
			return readFailure(ctx)
		}
		if typ != websocket.MessageText || len(msg) == 0 {
			return FailProtocol
		}
		out, done, fail := h.handle(msg)
		if out != nil {
			if err := ws.Write(ctx, websocket.MessageText, out); err != nil {
				return readFailure(ctx)
			}
		}
		if done {
			return fail
		}
	}
}

// hsState is the client side of the Engine.IO open and Socket.IO connect
// (and authenticate, in ModeEvent), fed one Engine.IO packet at a time
// whatever the transport.
type hsState struct {
	r                 *runner
	req               *request
	opened, connected bool
}

// handle takes one Engine.IO packet and returns the packet to send back
// (nil: none) and, when the handshake is over, done with the failure code
// ("" on success).
func (h *hsState) handle(msg []byte) (out []byte, done bool, fail string) {
	if len(msg) == 0 {
		return nil, true, FailProtocol
	}
	switch msg[0] {
	case '0': // Engine.IO open
		if h.opened {
			return nil, true, FailProtocol
		}
		h.opened = true
		return h.req.connect, false, ""
	case '2': // Engine.IO ping
		return []byte("3"), false, ""
	case '1': // Engine.IO close
		return nil, true, FailClosed
	case '4': // Engine.IO message: a Socket.IO packet
	default:
		return nil, false, ""
	}
	if !h.opened || len(msg) < 2 {
		return nil, true, FailProtocol
	}
	body, ok := strings.CutPrefix(string(msg[2:]), h.r.prefix)
	if !ok {
		return nil, false, "" // another namespace
	}
	switch msg[1] {
	case '0': // CONNECT
		if h.req.authEvt == nil {
			return nil, true, ""
		}
		if h.connected {
			return nil, true, FailProtocol
		}
		h.connected = true
		return h.req.authEvt, false, ""
	case '4': // CONNECT_ERROR
		return nil, true, errorCode([]byte(body), "connect_error")
	case '1': // DISCONNECT
		return nil, true, FailDisconn
	case '2': // EVENT
		if !h.connected {
			return nil, false, ""
		}
		name, arg := event(body)
		switch name {
		case "authenticated":
			return nil, true, ""
		case "unauthorized":
			return nil, true, errorCode(arg, "unauthorized")
		}
	}
	return nil, false, ""
}

// event splits an EVENT body (an optional ack id, then a JSON array) into
// the event name and its first argument.
func event(body string) (string, []byte) {
	body = strings.TrimLeft(body, "0123456789")
	var arr []json.RawMessage
	if json.Unmarshal([]byte(body), &arr) != nil || len(arr) == 0 {
		return "", nil
	}
	var name string
	if json.Unmarshal(arr[0], &name) != nil {
		return "", nil
	}
	if len(arr) < 2 {
		return name, nil
	}
	return name, arr[1]
}

// errorCode returns data.code of an error object {"message", "data":
// {"code"}}, or fallback.
func errorCode(b []byte, fallback string) string {
	var e struct {
		Data struct {
			Code string `json:"code"`
		} `json:"data"`
	}
	if json.Unmarshal(b, &e) != nil || e.Data.Code == "" {
		return fallback
	}
	return e.Data.Code
}

// read runs for the life of a connected socket: it answers pings and counts
// echo responses.
func (r *runner) read(ctx context.Context, c *conn) {
	defer close(c.done)
	defer func() { _ = c.ws.CloseNow() }()
	echo := "42" + r.prefix + `["echo-response"`
	last := "" // the last control packet seen
	// What a drop is described with (see Drop).
	var (
		packet           []byte
		packetAt, pingAt time.Time
		pongAt           time.Time
	)
	dropped := func(reason string) {
		if c.stop.Load() || ctx.Err() != nil {
			return
		}
		now := time.Now()
		since := func(t time.Time) time.Duration {
			if t.IsZero() {
				return -1
			}
			return now.Sub(t)
		}
		d := Drop{Age: now.Sub(c.opened), Reason: reason, LastPacket: string(packet), SincePacket: since(packetAt),
			SincePing: since(pingAt), PongAfter: -1, SinceSent: -1}
		if !pingAt.IsZero() && !pongAt.Before(pingAt) {
			d.PongAfter = pongAt.Sub(pingAt)
		}
		if t := c.sent.Load(); t != 0 {
			d.SinceSent = now.Sub(time.Unix(0, t))
		}
		if t := r.holdStart.Load(); t != 0 {
			d.At = now.Sub(time.Unix(0, t))
		}
		r.drop(d)
	}
	for {
		_, msg, err := c.ws.Read(ctx)
		if err != nil {
			dropped(dropReason(err, last))
			return
		}
		packetAt = time.Now()
		packet = append(packet[:0], msg[:min(len(msg), 40)]...)
		switch {
		case len(msg) == 1 && msg[0] == '2':
			pingAt = packetAt
			wctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
			err := c.ws.Write(wctx, websocket.MessageText, []byte("3"))
			cancel()
			if err != nil {
				dropped("pong not written: " + dropReason(err, last))
				return
			}
			pongAt = time.Now()
		case strings.HasPrefix(string(msg), echo):
			r.received.Add(1)
		case len(msg) >= 1 && (msg[0] == '1' || msg[0] == '6') || strings.HasPrefix(string(msg), "41"):
			last = string(msg[:min(len(msg), 2)]) // Engine.IO close or noop, Socket.IO DISCONNECT
		}
	}
}

// drop counts a socket that closed on its own, with how.
func (r *runner) drop(d Drop) {
	r.dropped.Add(1)
	r.dropMu.Lock()
	defer r.dropMu.Unlock()
	if r.dropReasons == nil {
		r.dropReasons = map[string]int{}
	}
	r.dropReasons[d.Reason]++
	if len(r.drops) < MaxDrops {
		r.drops = append(r.drops, d)
	}
}

// dropReason names how a connection ended: its websocket close status,
// EOF, or the error, after the last control packet seen ("" for none).
func dropReason(err error, last string) string {
	var why string
	switch st := websocket.CloseStatus(err); {
	case st != -1:
		why = fmt.Sprintf("close status %d", int(st))
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		why = "EOF"
	default:
		why = err.Error()
		if len(why) > 80 {
			why = why[:80] + "…"
		}
	}
	if last != "" {
		why += " after packet " + last
	}
	return why
}

// soak holds conns open for Config.Hold, sending echo messages when
// Config.MessageInterval is set, then waits (up to 3 s) for the answers.
func (r *runner) soak(ctx context.Context, conns []*conn) *Soak {
	s := &Soak{Sockets: len(conns)}
	r.sent.Store(0)
	r.received.Store(0)
	r.dropped.Store(0)
	r.dropMu.Lock()
	r.dropReasons, r.drops = nil, nil
	r.dropMu.Unlock()
	start := time.Now()
	r.holdStart.Store(start.UnixNano())
	defer r.holdStart.Store(0)
	hctx, cancel := context.WithTimeout(ctx, r.cfg.Hold)
	defer cancel()
	var wg sync.WaitGroup
	if iv := r.cfg.MessageInterval; iv > 0 {
		for _, c := range conns {
			wg.Go(func() { r.emitLoop(ctx, hctx, c, iv) })
		}
	}
	<-hctx.Done()
	wg.Wait()
	s.Duration = time.Since(start)
	deadline := time.Now().Add(3 * time.Second)
	for r.received.Load() < r.sent.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	s.Sent, s.Received, s.Dropped = r.sent.Load(), r.received.Load(), r.dropped.Load()
	r.dropMu.Lock()
	s.DropReasons, s.Drops = r.dropReasons, r.drops
	r.dropReasons, r.drops = nil, nil
	r.dropMu.Unlock()
	return s
}

// emitLoop sends echo messages on c every iv until hold is done. Writes
// are bounded by ctx (the run), not by hold: coder/websocket closes a
// connection whose write context ends mid-write.
func (r *runner) emitLoop(ctx, hold context.Context, c *conn, iv time.Duration) {
	// Spread the sockets over the interval.
	sleep(hold, rand.N(iv))
	t := time.NewTicker(iv)
	defer t.Stop()
	for n := 0; hold.Err() == nil; n++ {
		msg := fmt.Appendf(nil, `42%s["echo",%d]`, r.prefix, n)
		wctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
		// Stored before the write: the server's answer, a close included,
		// can be read before Write returns.
		c.sent.Store(time.Now().UnixNano())
		err := c.ws.Write(wctx, websocket.MessageText, msg)
		cancel()
		if err != nil {
			return
		}
		r.sent.Add(1)
		select {
		case <-hold.Done():
		case <-c.done:
			return
		case <-t.C:
		}
	}
}

// FetchToken asks a fixture server for a token: POST /login with
// {"username": username}, answer {"token": "<jwt>"}.
func FetchToken(ctx context.Context, baseURL, username string) (string, error) {
	u, err := CheckLoopback(baseURL)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"username": username})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.Scheme+"://"+u.Host+"/login", strings.NewReader(string(body)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("loadgen: login: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("loadgen: login: status %s", resp.Status)
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&out); err != nil {
		return "", fmt.Errorf("loadgen: login: %w", err)
	}
	if out.Token == "" {
		return "", errors.New("loadgen: login: no token in the answer")
	}
	return out.Token, nil
}
