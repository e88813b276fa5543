package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/siojwt/siojwt/bench/loadgen"
)

// SoakConfig configures Soak. Zero fields take the defaults given.
type SoakConfig struct {
	// Root is the module root (default: found from the working directory).
	Root string
	// Fixture is a built fixture binary (default: built from Root into a
	// temporary directory).
	Fixture string
	// Conns authenticated sockets (default 10000) are held For (default
	// 1 min), each sending a message every Interval (default 1 s).
	Conns    int
	For      time.Duration
	Interval time.Duration
	// Concurrency bounds the connection attempts in flight (default 100).
	Concurrency int
	// Settle bounds the wait for the server's goroutines to come back
	// after the sockets close (default 30 s); Slack is how many goroutines
	// above the baseline still count as back (default 5).
	Settle time.Duration
	Slack  int
	// Log receives progress lines (default: discarded).
	Log io.Writer
}

func (c *SoakConfig) defaults() error {
	root, err := findRoot(c.Root)
	if err != nil {
		return err
	}
	c.Root = root
	if c.Conns == 0 {
		c.Conns = 10000
	}
	if c.Conns < 1 || c.Conns > loadgen.MaxConns {
		return fmt.Errorf("bench: soak of %d sockets out of range 1..%d", c.Conns, loadgen.MaxConns)
	}
	if c.For == 0 {
		c.For = time.Minute
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.For < 0 || c.Interval < 0 || c.For > 30*time.Minute {
		return errors.New("bench: soak duration must be in 0..30m and the interval positive")
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 100
	}
	if c.Settle <= 0 {
		c.Settle = 30 * time.Second
	}
	if c.Slack <= 0 {
		c.Slack = 5
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return nil
}

// SoakReading is the fixture's state at one moment.
type SoakReading struct {
	// Goroutines is go_goroutines of the fixture's /metrics.
	Goroutines float64
	// RSS is VmRSS of /proc/PID/status; MetricRSS the fixture's own
	// process_resident_memory_bytes.
	RSS       int64
	MetricRSS float64
	// HeapAlloc is go_memstats_heap_alloc_bytes (live objects plus garbage
	// not yet collected).
	HeapAlloc float64
}

// SoakResult is what Soak measured.
type SoakResult struct {
	Conns, Connected int
	Failures         map[string]int
	Hold, Interval   time.Duration
	// Sent and Answered messages (echo / echo-response); Dropped sockets
	// closed by the server during the hold.
	Sent, Answered, Dropped int64
	// DropReasons says how the dropped sockets ended as the load
	// generator saw them, and Drops describes the first of them
	// (loadgen.Soak).
	DropReasons map[string]int
	Drops       []loadgen.Drop
	// ServerCloses counts the Engine.IO connections the server closed
	// during the hold, by the server library's reason (the fixture's
	// fixture_engine_closes_total, -close-reasons; nil when it could not
	// be read).
	ServerCloses map[string]int
	// ConnectCPU is server CPU per connection (µs), MessageCPU per
	// answered message (µs).
	ConnectCPU, MessageCPU float64
	// Before: after a warm-up and a forced GC, no socket open. Open: every
	// socket open. Peak: the highest goroutines and RSS seen during the
	// hold. After: once the goroutines were back (or Settle ran out),
	// before any forced GC. AfterGC: after a forced GC and the runtime's
	// return of freed memory to the OS.
	Before, Open, Peak, After, AfterGC SoakReading
	// BackIn is the time from the close of the last socket until the
	// goroutines were back within Slack of the baseline (-1: never).
	BackIn time.Duration
	// Slack is the tolerance used for BackIn.
	Slack int
	// SecondHeap is the heap after a forced GC after a second cycle of
	// Conns sockets (connect, close, no messages): a leak grows it.
	SecondHeap float64
	// FileLimit is the open-file limit the soak ran with.
	FileLimit uint64
	// Elapsed is the whole soak, build excluded.
	Elapsed time.Duration
	// Problems lists what failed; empty when the soak passed.
	Problems []string
}

// Err returns the problems as an error, or nil.
func (r *SoakResult) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	return fmt.Errorf("soak: %v", r.Problems)
}

// GoroutinesPerSocket is the fixture's goroutines per open socket.
func (r *SoakResult) GoroutinesPerSocket() float64 {
	if r.Connected == 0 {
		return math.NaN()
	}
	return (r.Open.Goroutines - r.Before.Goroutines) / float64(r.Connected)
}

// soakGrowthLimit is the heap growth over a second cycle above which the
// soak reports a leak: 256 bytes per socket, at least 2 MB.
func soakGrowthLimit(conns int) float64 { return math.Max(2<<20, 256*float64(conns)) }

// Soak starts the fixture (handshake mode, HS256, with -pprof and
// -close-reasons), opens
// Conns authenticated sockets, holds them For while each sends a message
// every Interval, closes them, and checks that nothing failed, that every
// message was answered and that the server's goroutines came back to the
// baseline; then it forces a GC to read the live heap, and runs a second
// connect/close cycle to see whether the heap keeps growing. It raises the
// process's open-file limit (the fixture inherits it).
func Soak(ctx context.Context, cfg SoakConfig) (*SoakResult, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(cfg.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	res := &SoakResult{Conns: cfg.Conns, Hold: cfg.For, Interval: cfg.Interval, Slack: cfg.Slack, BackIn: -1}
	lim, err := raiseFileLimit(uint64(cfg.Conns) + 1024)
	if err != nil {
		return nil, err
	}
	res.FileLimit = lim
	bin := cfg.Fixture
	if bin == "" {
		tmp, err := os.MkdirTemp("", "siojwt-soak-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		bin = filepath.Join(tmp, "fixture")
		logf("soak: build ./interop/fixture")
		if _, err := goIn(ctx, cfg.Root, "./interop/fixture", "build", "-o", bin); err != nil {
			return nil, err
		}
	}
	tokens, err := mintTokens(0, cfg.Conns+100)
	if err != nil {
		return nil, err
	}
	pr, err := start(ctx, cfg.Root, []string{bin, "-mode", "handshake", "-pprof", "-close-reasons", "-addr", "127.0.0.1:0"}, nil)
	if err != nil {
		return nil, err
	}
	defer pr.stop()
	began := time.Now()
	read := func() (SoakReading, error) {
		m, err := scrape(ctx, pr.url)
		if err != nil {
			return SoakReading{}, err
		}
		ps, err := loadgen.ReadProc(pr.pid())
		if err != nil {
			return SoakReading{}, err
		}
		r := SoakReading{Goroutines: metricOr(m, mGoroutines), RSS: ps.RSS, MetricRSS: metricOr(m, mRSS), HeapAlloc: metricOr(m, mHeapAlloc)}
		if math.IsNaN(r.Goroutines) || math.IsNaN(r.MetricRSS) || math.IsNaN(r.HeapAlloc) {
			return r, errors.New("bench: the fixture's /metrics lacks go_goroutines, go_memstats_heap_alloc_bytes or process_resident_memory_bytes (Go and process collectors)")
		}
		return r, nil
	}
	base := loadgen.Config{URL: pr.url, Mode: loadgen.ModeAuth, Concurrency: cfg.Concurrency, ServerPID: pr.pid(),
		Warmup: -1, Settle: time.Second, CloseWait: 100 * time.Millisecond, MaxDuration: cfg.For + 10*time.Minute,
		ConnectTimeout: 30 * time.Second}

	// Warm-up: whatever the server starts lazily is part of the baseline.
	warm := base
	warm.Conns, warm.Tokens = 100, tokens[cfg.Conns:]
	if _, err := loadgen.Run(ctx, warm); err != nil {
		return nil, err
	}
	time.Sleep(500 * time.Millisecond)
	if err := forceGC(ctx, pr.url); err != nil {
		return nil, err
	}
	if res.Before, err = read(); err != nil {
		return nil, err
	}
	logf("soak: baseline %0.f goroutines, RSS %.1f MB, heap %.1f MB", res.Before.Goroutines, mib(res.Before.RSS), res.Before.HeapAlloc/(1<<20))

	// The soak: sample the server every second while it runs.
	soak := base
	soak.Conns, soak.Tokens, soak.Hold, soak.MessageInterval = cfg.Conns, tokens[:cfg.Conns], cfg.For, cfg.Interval
	var (
		mu                       sync.Mutex
		openErr                  error
		closesOpen, closesHeld   map[string]float64
		closesOpenE, closesHeldE error
	)
	soak.Probe = func(s loadgen.Stage) {
		switch s {
		case loadgen.StageOpen:
			r, err := read()
			c, cerr := scrapeCloses(ctx, pr.url)
			mu.Lock()
			res.Open, openErr, closesOpen, closesOpenE = r, err, c, cerr
			mu.Unlock()
		case loadgen.StageHeld:
			c, cerr := scrapeCloses(ctx, pr.url)
			mu.Lock()
			closesHeld, closesHeldE = c, cerr
			mu.Unlock()
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			r, err := read()
			if err != nil {
				continue
			}
			mu.Lock()
			res.Peak.Goroutines = math.Max(res.Peak.Goroutines, r.Goroutines)
			res.Peak.RSS = max(res.Peak.RSS, r.RSS)
			res.Peak.MetricRSS = math.Max(res.Peak.MetricRSS, r.MetricRSS)
			res.Peak.HeapAlloc = math.Max(res.Peak.HeapAlloc, r.HeapAlloc)
			mu.Unlock()
		}
	})
	logf("soak: %d sockets for %s, a message every %s each", cfg.Conns, cfg.For, cfg.Interval)
	out, err := loadgen.Run(ctx, soak)
	closed := time.Now()
	close(stop)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if openErr != nil {
		return nil, openErr
	}
	c := &out.Connect
	res.Connected, res.Failures, res.ConnectCPU = c.Connected, c.Failures, us(c.CPUPerConn())
	if s := out.Soak; s != nil {
		res.Sent, res.Answered, res.Dropped, res.MessageCPU = s.Sent, s.Received, s.Dropped, us(s.CPUPerMessage())
		res.DropReasons, res.Drops = s.DropReasons, s.Drops
	}
	if closesOpenE == nil && closesHeldE == nil && closesHeld != nil {
		res.ServerCloses = closesDuring(closesOpen, closesHeld)
	} else {
		logf("soak: the server's close reasons could not be read: %v", errors.Join(closesOpenE, closesHeldE))
	}
	res.Peak.Goroutines = math.Max(res.Peak.Goroutines, res.Open.Goroutines)
	res.Peak.RSS = max(res.Peak.RSS, res.Open.RSS, out.RSSPeak)
	logf("soak: %d/%d connected, %d sent, %d answered, %d dropped; peak %.0f goroutines, RSS %.0f MB",
		res.Connected, res.Conns, res.Sent, res.Answered, res.Dropped, res.Peak.Goroutines, mib(res.Peak.RSS))

	// After the close: wait for the goroutines.
	limit := res.Before.Goroutines + float64(cfg.Slack)
	deadline := closed.Add(cfg.Settle)
	for {
		if res.After, err = read(); err != nil {
			return nil, err
		}
		if res.After.Goroutines <= limit {
			res.BackIn = time.Since(closed)
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if res.AfterGC, err = afterGC(ctx, pr.url, read); err != nil {
		return nil, err
	}
	logf("soak: after close %.0f goroutines (back in %s), RSS %.0f MB; after a forced GC heap %.1f MB, RSS %.0f MB",
		res.After.Goroutines, res.BackIn.Round(time.Millisecond), mib(res.After.RSS), res.AfterGC.HeapAlloc/(1<<20), mib(res.AfterGC.RSS))

	// A second cycle without messages: a leak would grow the heap again.
	again := base
	again.Conns, again.Tokens = cfg.Conns, tokens[:cfg.Conns]
	if _, err := loadgen.Run(ctx, again); err != nil {
		return nil, err
	}
	for end := time.Now().Add(cfg.Settle); time.Now().Before(end) && ctx.Err() == nil; time.Sleep(200 * time.Millisecond) {
		if r, err := read(); err == nil && r.Goroutines <= limit {
			break
		}
	}
	if err := forceGC(ctx, pr.url); err != nil {
		return nil, err
	}
	second, err := read()
	if err != nil {
		return nil, err
	}
	res.SecondHeap = second.HeapAlloc
	res.Elapsed = time.Since(began)

	if n := res.Conns - res.Connected; n > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d sockets failed to connect: %v", n, res.Failures))
	}
	if res.Sent == 0 && cfg.For >= cfg.Interval && cfg.Interval > 0 {
		res.Problems = append(res.Problems, "no message sent")
	}
	if res.Answered < res.Sent {
		res.Problems = append(res.Problems, fmt.Sprintf("%d of %d messages unanswered", res.Sent-res.Answered, res.Sent))
	}
	if res.Dropped > 0 {
		res.Problems = append(res.Problems, dropProblem(res))
	}
	if res.BackIn < 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("goroutines not back within %s: %.0f after close, %.0f before", cfg.Settle, res.After.Goroutines, res.Before.Goroutines))
	}
	if g := res.SecondHeap - res.AfterGC.HeapAlloc; g > soakGrowthLimit(cfg.Conns) {
		res.Problems = append(res.Problems, fmt.Sprintf("heap grew by %.1f MB over a second cycle of %d sockets", g/(1<<20), cfg.Conns))
	}
	if err := pr.alive(); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	return res, nil
}

// pongReceived is the fixture's reason for a "ping timeout" close of a
// connection that had answered the last ping (see the fixture's countCloses).
const pongReceived = "ping timeout (pong received)"

// pongReceivedText explains pongReceived in a report.
const pongReceivedText = "A `ping timeout (pong received)` is a close the server library made although the socket's pong had come: " +
	"its Engine.IO socket sends each ping before it arms the ping timeout (`schedulePing`: `sendPacket(PING)`, then `resetPingTimeout()`, on a timer goroutine), " +
	"and a pong that the connection's reader handles in between clears no timer, so the timeout armed after it closes the socket a ping timeout (20 s) later, with no packet. " +
	"This is in github.com/zishang520/socket.io/servers/engine/v3, not in the binding; the load generator's account of such a drop shows the ping answered within microseconds, 20 s or more before the close."

// closesDuring returns the closes counted in after and not in before, by
// reason.
func closesDuring(before, after map[string]float64) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if n := int(v - before[k]); n > 0 {
			out[k] = n
		}
	}
	return out
}

// dropProblem says how many sockets the server closed during the hold and
// why (dropCauses).
func dropProblem(res *SoakResult) string {
	return fmt.Sprintf("%d socket(s) closed by the server during the hold (%s)", res.Dropped, dropCauses(res))
}

// dropCauses says how the load generator saw the dropped sockets end and,
// when known, the server library's reasons for the closes of the hold.
func dropCauses(res *SoakResult) string {
	server := "not read"
	if res.ServerCloses != nil {
		server = failText(res.ServerCloses, nil)
	}
	return fmt.Sprintf("load generator: %s; server library: %s", failText(res.DropReasons, nil), server)
}

// afterGC forces a collection, then reads the server until its RSS stops
// falling (the runtime returns freed memory to the OS over seconds), for at
// most 20 s.
func afterGC(ctx context.Context, url string, read func() (SoakReading, error)) (SoakReading, error) {
	if err := forceGC(ctx, url); err != nil {
		return SoakReading{}, err
	}
	r, err := read()
	if err != nil {
		return r, err
	}
	steady := 0
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end) && steady < 3 && ctx.Err() == nil; {
		time.Sleep(time.Second)
		next, err := read()
		if err != nil {
			return r, err
		}
		if next.RSS >= r.RSS-(1<<20) {
			steady++
		} else {
			steady = 0
		}
		r = next
	}
	return r, nil
}

// soak runs the soak part of a driver run with the fixture it built.
func (d *driver) soak(ctx context.Context) *SoakResult {
	res, err := Soak(ctx, SoakConfig{Root: d.opt.Root, Fixture: filepath.Join(d.bin, "fixture"), Conns: d.opt.SoakConns, For: d.opt.SoakFor, Log: d.opt.Log})
	if err != nil {
		d.logf("soak: error: %v", err)
		return &SoakResult{Conns: d.opt.SoakConns, Hold: d.opt.SoakFor, Problems: []string{err.Error()}, BackIn: -1}
	}
	return res
}
