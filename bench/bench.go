// Package bench is the benchmark driver: it builds the servers under test,
// starts each one as a child process on 127.0.0.1 (port 0), loads it with
// the load generator of package loadgen, reads its CPU time and memory from
// /proc, runs the JWT verification micro-benchmarks (Go and Node), profiles
// the library's handshake path, and writes BENCHMARKS.md with SVG plots.
//
// The full run is one command, bench/run.sh (go run ./bench/cmd/benchall).
// Options.Smoke runs tiny counts in well under a minute; TestSmoke runs it
// as part of go test ./... so the suite cannot rot.
//
// Servers (peers), interleaved round-robin within each part of the run:
//
//	go-bare            bench/cmd/baresrv: zishang520 socket.io, no auth
//	go-jwt             bench/cmd/baresrv -jwt: a bare golang-jwt check in a middleware
//	go-siojwt          interop/fixture (this library, handshake mode, HS256)
//	node-bare          bench/node/baresrv.js: socket.io 4.8.4, no auth
//	node-socketio-jwt  interop/reference/server.js: socket.io 4.8.4 + socketio-jwt 4.6.2
//	node-thream        interop/reference/server.js -impl thream: + @thream/socketio-jwt 3.1.4
//
// and, for the two-round-trip flow, the fixture and the reference server
// in -mode connect. The features part runs the fixture with each optional
// feature of the binding switched on alone (features.go); the keyset part
// verifies RS256 and ES256 through a key set, with and without the
// verified-token cache, on first connects and on reconnects (keyset.go);
// the variance part runs go-bare, go-siojwt and node-socketio-jwt with
// GOMAXPROCS=1, with GOGC=off and with the load generator in a process of
// its own, counts the Go servers' collections, and traces the Go scheduler
// (variance.go). The tuning part runs the bare
// server and the fixture with the server library's options varied one at a
// time; the soak (Soak, also bench/cmd/soak) holds 10 000 authenticated
// sockets on the fixture for a minute. Every run records the machine's CPU
// steal and busy time and its load average (loadgen.MachineLoad).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/siojwt/siojwt/bench/loadgen"
)

// Options configure a driver run. Zero fields take the defaults of the
// full run, or of the smoke run when Smoke is set.
type Options struct {
	// Root is the module root (default: found from the working directory).
	Root string
	// Smoke runs tiny counts: the Go peers and one Node peer, no
	// micro-benchmarks or profile, output in a temporary directory.
	Smoke bool
	// Out is the Markdown report (default Root/BENCHMARKS.md; smoke: a
	// temporary directory). PlotDir receives the SVG plots (default
	// Root/bench/plots; smoke: next to Out).
	Out, PlotDir string
	// Log receives progress lines (default: discarded).
	Log io.Writer
	// TargetReps is the number of interleaved repetitions (rounds) of the
	// parts whose rounds judge the targets, handshake and keyset (default
	// 9; smoke 1): a next run reproduces a target when its median falls
	// within the range of these rounds, which five rounds estimate too
	// narrowly.
	TargetReps int
	// Reps is the number of interleaved repetitions of the other rate
	// parts: features, event, variance (default 5; smoke 1).
	Reps int
	// Conns and Concurrency of the rate runs (default 2000 and 100).
	Conns, Concurrency int
	// EventConcurrency bounds attempts in flight in the two-round-trip
	// runs (default 50: the library caps unauthenticated sockets per
	// address at 100).
	EventConcurrency int
	// ScaleSizes are the open-socket counts of the scaling runs (default
	// 1000, 5000, 10000); the largest run ends with the reconnect storm.
	ScaleSizes []int
	// HoldConns sockets held for HoldFor by each server, each sending one
	// message per HoldInterval (default 1000, 10 s, 1 s).
	HoldConns    int
	HoldFor      time.Duration
	HoldInterval time.Duration
	// TuneReps and TuneConns are the repetitions and connections per run
	// of the server-library tuning part (default 4 and 1500).
	TuneReps, TuneConns int
	// SoakConns authenticated sockets held for SoakFor by the fixture,
	// each sending a message a second (default 10000 and 1 min; smoke 50
	// and 3 s).
	SoakConns int
	SoakFor   time.Duration
	// Only, when not empty, runs only these parts (see Parts); the report
	// then holds only them.
	Only []string
	// MicroTime is the time per micro-benchmark (default 1 s).
	MicroTime time.Duration
	// ProfileConns is the connection count of the profiled run (default 5000).
	ProfileConns int
	// ProfileRuns is how many times the in-process profile runs them, into
	// one profile (default 40: the kernel delivers CPU-profile signals at
	// most at its tick rate, so only more connections give more samples).
	ProfileRuns int
	// Command is the command line shown in the report.
	Command string
}

func (o *Options) defaults() error {
	root, err := findRoot(o.Root)
	if err != nil {
		return err
	}
	o.Root = root
	if o.Log == nil {
		o.Log = io.Discard
	}
	def := func(v *int, full, smoke int) {
		if *v == 0 {
			*v = full
			if o.Smoke {
				*v = smoke
			}
		}
	}
	def(&o.TargetReps, 9, 1)
	def(&o.Reps, 5, 1)
	def(&o.Conns, 2000, 200) // enough server CPU to read at 10 ms resolution
	def(&o.Concurrency, 100, 10)
	def(&o.EventConcurrency, 50, 10)
	def(&o.HoldConns, 1000, 20)
	def(&o.ProfileConns, 5000, 0)
	def(&o.ProfileRuns, 40, 1)
	def(&o.TuneReps, 4, 1)
	def(&o.TuneConns, 1500, 150)
	def(&o.SoakConns, 10000, 50)
	if o.SoakFor == 0 {
		o.SoakFor = time.Minute
		if o.Smoke {
			o.SoakFor = 3 * time.Second
		}
	}
	if len(o.Only) > 0 && o.Out == "" && !o.Smoke {
		return errors.New("bench: a run of some parts only writes a partial report: give its path (Out, -out)")
	}
	for _, p := range o.Only {
		if !slices.Contains(Parts, p) {
			return fmt.Errorf("bench: unknown part %q (want %s)", p, strings.Join(Parts, ", "))
		}
	}
	if o.ScaleSizes == nil {
		o.ScaleSizes = []int{1000, 5000, 10000}
		if o.Smoke {
			o.ScaleSizes = []int{60}
		}
	}
	if o.HoldFor == 0 {
		o.HoldFor = 10 * time.Second
		if o.Smoke {
			o.HoldFor = 1500 * time.Millisecond
		}
	}
	if o.HoldInterval == 0 {
		o.HoldInterval = time.Second
		if o.Smoke {
			o.HoldInterval = 500 * time.Millisecond
		}
	}
	if o.MicroTime == 0 && !o.Smoke {
		o.MicroTime = time.Second
	}
	if o.Command == "" {
		o.Command = "./bench/run.sh"
	}
	for _, n := range append([]int{o.Conns, o.HoldConns, o.TuneConns, o.SoakConns}, o.ScaleSizes...) {
		if n < 1 || n > loadgen.MaxConns {
			return fmt.Errorf("bench: connection count %d out of range 1..%d", n, loadgen.MaxConns)
		}
	}
	for _, n := range []int{o.TargetReps, o.Reps, o.TuneReps} {
		if n < 1 || n > 20 {
			return fmt.Errorf("bench: TargetReps %d, Reps %d or TuneReps %d out of range 1..20", o.TargetReps, o.Reps, o.TuneReps)
		}
	}
	return nil
}

// Parts are the parts of a run, in order.
var Parts = []string{"handshake", "features", "keyset", "event", "hold", "scale", "tuning", "variance", "soak", "micro", "profile"}

// part reports whether part p runs.
func (o *Options) part(p string) bool {
	return len(o.Only) == 0 || slices.Contains(o.Only, p)
}

// Stats summarises one server over the repetitions of one part of the run.
type Stats struct {
	Key, Label string
	Node       bool
	// Runs holds each repetition's result (nil when it errored).
	Runs []*loadgen.Result
	// Errors holds the repetitions' errors (server crash, bad token).
	Errors []string
	// Medians over the runs that completed.
	Rate, P50, P99, CPU, KB float64 // conn/s, ms, ms, µs per connection, KB per open connection
	// CPULo and CPUHi are the lowest and highest CPU per connection of
	// the runs: the run-to-run spread.
	CPULo, CPUHi float64
	// KBLo and KBHi are the lowest and highest memory per connection.
	KBLo, KBHi float64
	// KBCollected is the median memory per open connection read after the
	// server collected its garbage (peer.collect; NaN otherwise), with
	// its lowest and highest run.
	KBCollected, KBCollectedLo, KBCollectedHi float64
	// Attempted and Failures add up every run.
	Attempted int
	Failures  map[string]int
	// Goroutines, Allocs and AllocKB are medians, per open connection, of
	// the server's goroutines and of its heap allocations (count and KB)
	// while connecting, from its /metrics (NaN: not read).
	Goroutines, Allocs, AllocKB float64
	// HoldCPU is the median server CPU (µs) per socket and second of an
	// idle hold (peer.hold; NaN otherwise); PingInterval the server's ping
	// interval during it when not the default.
	HoldCPU      float64
	PingInterval time.Duration
	runs         []*run
	// rounds holds repetition i's run at index i (nil when it errored),
	// for comparisons within an interleaved round.
	rounds []*run
}

// Failed is the number of failed connections plus errored runs.
func (s *Stats) Failed() int {
	n := len(s.Errors)
	for _, v := range s.Failures {
		n += v
	}
	return n
}

// HoldStats is one server's hold with messages.
type HoldStats struct {
	Key, Label string
	Node       bool
	Soak       *loadgen.Soak
	Error      string
}

// ScalePoint is one server at one open-socket count.
type ScalePoint struct {
	Conns, Connected int
	Rate, CPU, KB    float64 // conn/s, µs per connection, KB per open connection
	BaseMB, OpenMB   float64 // resident memory before and with the sockets open
	Failures         map[string]int
	Error            string
	// Load is the machine's load during the connect phase.
	Load *PhaseLoad
}

// StormStats is the reconnect storm: every socket dropped at once and
// reconnected at once.
type StormStats struct {
	Conns, Connected, Retries int
	Settle, P50, P99          time.Duration
	CPU                       float64 // µs per connection
	PeakMB                    float64
	Failures                  map[string]int
}

// ScaleStats is one server across ScaleSizes.
type ScaleStats struct {
	Key, Label string
	Node       bool
	Points     []ScalePoint
	Storm      *StormStats
}

// Report is everything a run measured.
type Report struct {
	Options   Options
	Machine   Machine
	FileLimit uint64
	Started   time.Time
	Duration  time.Duration
	Handshake []*Stats
	Event     []*Stats
	Hold      []*HoldStats
	Scale     []*ScaleStats
	Micro     *Micro
	Profile   *Profile
	Tuning    *Tuning
	Soak      *SoakResult
	// Features prices the binding's optional features one at a time;
	// Keyset verifies through a key set; Variance looks for why the Go
	// servers' cost moves between runs.
	Features []*Stats
	// FeatureBench is the features part's in-process benchmark.
	FeatureBench *FeatureBench
	Keyset       []*Stats
	Variance     *Variance
	// Loads is the machine's load during the connect phase of every run.
	Loads []PhaseLoad
	// Notes lists what could not be measured and why.
	Notes []string
	// Plots are the written SVG files, relative to the report.
	Plots map[string]string
}

// Failures counts failed connections and errored runs in every part.
func (r *Report) Failures() int {
	n := 0
	all := slices.Concat(r.Handshake, r.Event, r.Features, r.Keyset)
	if r.Variance != nil {
		for _, st := range r.Variance.Settings {
			all = append(all, st.Stats...)
		}
		for _, t := range r.Variance.Traces {
			if t.Error != "" {
				n++
			}
		}
	}
	for _, s := range all {
		n += s.Failed()
	}
	if r.FeatureBench != nil && r.FeatureBench.Error != "" {
		n++
	}
	for _, s := range r.Hold {
		if s.Error != "" {
			n++
		}
	}
	for _, s := range r.Scale {
		for _, p := range s.Points {
			if p.Error != "" {
				n++
			}
			for _, v := range p.Failures {
				n += v
			}
		}
		if s.Storm != nil {
			for _, v := range s.Storm.Failures {
				n += v
			}
		}
	}
	if r.Tuning != nil {
		for _, v := range r.Tuning.Variants {
			n += v.Failed()
		}
		if r.Tuning.Profile != nil && r.Tuning.Profile.Error != "" {
			n++
		}
	}
	if r.Soak != nil {
		n += len(r.Soak.Problems)
	}
	return n
}

type driver struct {
	minted  []string // HS256 tokens, one per client
	opt     Options
	tmp     string   // the run's temporary directory
	bin     string   // built Go binaries
	fixture bool     // interop/fixture exists
	algs    []string // other algorithms the fixture can run (its -alg flag)
	cache   bool     // the fixture has -verified-cache
	rep     *Report
	// prev and now are the previous run's and this run's target records
	// (reproduce.go); prev is nil when there is none.
	prev, now *Results
}

func (d *driver) logf(format string, args ...any) {
	fmt.Fprintf(d.opt.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// Run performs a benchmark run and writes the report. The report is
// returned even when writing it fails.
func Run(ctx context.Context, opt Options) (*Report, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	d := &driver{opt: opt, rep: &Report{Options: opt, Started: time.Now(), Plots: map[string]string{}}}
	tmp, err := os.MkdirTemp("", "siojwt-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	d.tmp, d.bin = tmp, filepath.Join(tmp, "bin")
	if d.opt.Out == "" {
		if opt.Smoke {
			// A directory of its own: tmp goes when the run ends.
			out, err := os.MkdirTemp("", "siojwt-bench-smoke-")
			if err != nil {
				return nil, err
			}
			d.opt.Out = filepath.Join(out, "BENCHMARKS.md")
		} else {
			d.opt.Out = filepath.Join(opt.Root, "BENCHMARKS.md")
		}
	}
	if d.opt.PlotDir == "" {
		if opt.Smoke {
			d.opt.PlotDir = filepath.Join(filepath.Dir(d.opt.Out), "plots")
		} else {
			d.opt.PlotDir = filepath.Join(opt.Root, "bench", "plots")
		}
	}
	d.rep.Options = d.opt

	if d.rep.Machine, err = machine(ctx, opt.Root); err != nil {
		return nil, err
	}
	// Each server is its own process; this one holds the client side of
	// every socket, and the profiled run (a child) both sides.
	need := uint64(max(slices.Max(append(slices.Clone(opt.ScaleSizes), opt.Conns, opt.HoldConns, opt.SoakConns)), 2*opt.ProfileConns) + 1024)
	if d.rep.FileLimit, err = raiseFileLimit(need); err != nil {
		return nil, err
	}
	d.logf("machine: %d CPUs, %s, %s, node %s; open files %d", d.rep.Machine.CPUs, d.rep.Machine.CPUModel, d.rep.Machine.GoVersion, d.rep.Machine.Node, d.rep.FileLimit)
	if err := d.build(ctx); err != nil {
		return nil, err
	}

	hs, ev := d.peers()
	if opt.part("handshake") {
		d.rep.Handshake = d.measure(ctx, "handshake", hs, opt.TargetReps, loadgen.Config{Conns: opt.Conns, Concurrency: opt.Concurrency})
	}
	if opt.part("features") && d.fixture {
		d.rep.Features = d.measure(ctx, "features", d.featurePeers(), opt.Reps, loadgen.Config{Conns: opt.Conns, Concurrency: opt.Concurrency, CloseWait: 100 * time.Millisecond})
	}
	if opt.part("features") && ctx.Err() == nil {
		d.rep.FeatureBench = d.featureBench(ctx)
	}
	if opt.part("keyset") && d.fixture && len(d.algs) > 0 {
		d.rep.Keyset = d.keyset(ctx)
	}
	if opt.part("event") {
		d.rep.Event = d.measure(ctx, "two round trips", ev, opt.Reps, loadgen.Config{Conns: opt.Conns, Concurrency: opt.EventConcurrency})
	}
	if opt.part("hold") {
		d.rep.Hold = d.hold(ctx, holdPeers(hs))
	}
	if opt.part("scale") {
		d.rep.Scale = d.scale(ctx, scalePeers(hs))
	}
	if opt.part("tuning") {
		d.rep.Tuning = d.tune(ctx, tmp)
	}
	if opt.part("variance") && d.fixture {
		d.rep.Variance = d.variance(ctx, hs)
	}
	if opt.part("soak") && d.fixture && ctx.Err() == nil {
		d.rep.Soak = d.soak(ctx)
	}
	if ctx.Err() != nil {
		return d.rep, ctx.Err()
	}
	if opt.MicroTime > 0 && opt.part("micro") {
		d.rep.Micro = d.micro(ctx, tmp)
	}
	if opt.ProfileConns > 0 && opt.part("profile") {
		d.rep.Profile = d.profile(ctx, tmp)
	}
	d.rep.Duration = time.Since(d.rep.Started)
	if err := d.write(ctx); err != nil {
		return d.rep, err
	}
	d.logf("wrote %s in %s", d.opt.Out, d.rep.Duration.Round(time.Second))
	return d.rep, ctx.Err()
}

// build compiles the Go servers.
func (d *driver) build(ctx context.Context) error {
	targets := [][2]string{{"baresrv", "./bench/cmd/baresrv"}}
	if d.opt.part("variance") {
		targets = append(targets, [2]string{"loadgen", "./bench/cmd/loadgen"}) // a load generator of its own
	}
	if st, err := os.Stat(filepath.Join(d.opt.Root, "interop", "fixture")); err == nil && st.IsDir() {
		d.fixture = true
		targets = append(targets, [2]string{"fixture", "./interop/fixture"})
	} else {
		d.note("The fixture (interop/fixture) does not exist in this tree: the library was not measured.")
	}
	for _, t := range targets {
		d.logf("build %s", t[1])
		if _, err := goIn(ctx, d.opt.Root, t[1], "build", "-o", filepath.Join(d.bin, t[0])); err != nil {
			return fmt.Errorf("bench: build %s: %w", t[1], err)
		}
	}
	if !d.fixture {
		return nil
	}
	// Flags the fixture may grow: other algorithms, a verified-token cache.
	help := helpText(ctx, filepath.Join(d.bin, "fixture"))
	d.cache = strings.Contains(help, "-verified-cache")
	if strings.Contains(help, "-alg") {
		d.algs = []string{"RS256", "ES256", "EdDSA"}
	} else {
		d.note("The fixture has no flag to sign and verify with RS256, ES256 or EdDSA keys (an `-alg` flag): socket-level figures are HS256 only; the micro-benchmark covers the other algorithms.")
	}
	return nil
}

func (d *driver) note(s string) {
	if !slices.Contains(d.rep.Notes, s) {
		d.rep.Notes = append(d.rep.Notes, s)
	}
}

func (d *driver) peers() (handshake, event []peer) {
	node := "node"
	ref := filepath.Join(d.opt.Root, "interop", "reference", "server.js")
	addr := []string{"-addr", "127.0.0.1:0"}
	bare := filepath.Join(d.bin, "baresrv")
	fixture := filepath.Join(d.bin, "fixture")
	handshake = append(handshake,
		peer{key: "go-bare", label: "Go socket.io (zishang520 v3.0.6), no auth", argv: append([]string{bare, "-pprof"}, addr...), mode: loadgen.ModeAuth, metrics: true, collect: true},
		peer{key: "go-jwt", label: "Go socket.io + bare golang-jwt HS256 check in a middleware", argv: append([]string{bare, "-jwt", "-pprof"}, addr...), mode: loadgen.ModeAuth, metrics: true, collect: true})
	if d.fixture {
		handshake = append(handshake,
			peer{key: "go-siojwt", label: "Go socket.io + siojwt (fixture, handshake mode, HS256)", argv: append([]string{fixture, "-mode", "handshake", "-pprof"}, addr...), mode: loadgen.ModeAuth, metrics: true, collect: true})
		if d.cache {
			handshake = append(handshake,
				peer{key: "go-siojwt-cache", label: "Go socket.io + siojwt (fixture, HS256, verified-token cache of 20000; first connects with a distinct token each, which the cache cannot help: it shows what the cache costs)",
					argv: append([]string{fixture, "-mode", "handshake", "-verified-cache", "20000", "-pprof"}, addr...), mode: loadgen.ModeAuth, metrics: true, collect: true})
		}
		for _, alg := range d.algs {
			handshake = append(handshake,
				peer{key: "go-siojwt-" + strings.ToLower(alg), label: "Go socket.io + siojwt (fixture, handshake mode, " + alg + ")",
					argv: append([]string{fixture, "-mode", "handshake", "-alg", alg, "-pprof"}, addr...), mode: loadgen.ModeAuth, login: true, metrics: true, collect: true})
		}
		event = append(event,
			peer{key: "go-siojwt", label: "Go socket.io + siojwt (fixture, connect mode)", argv: append([]string{fixture, "-mode", "connect", "-timeout", "30s"}, addr...), mode: loadgen.ModeEvent, metrics: true})
	}
	if !d.opt.Smoke {
		handshake = append(handshake,
			peer{key: "node-bare", label: "Node socket.io 4.8.4, no auth", argv: append([]string{node, filepath.Join(d.opt.Root, "bench", "node", "baresrv.js")}, addr...), mode: loadgen.ModeQuery, node: true})
	}
	handshake = append(handshake,
		peer{key: refKey, label: "Node socket.io 4.8.4 + socketio-jwt 4.6.2", argv: append([]string{node, ref, "-mode", "handshake"}, addr...), mode: loadgen.ModeQuery, node: true})
	if !d.opt.Smoke {
		handshake = append(handshake,
			peer{key: threamKey, label: "Node socket.io 4.8.4 + @thream/socketio-jwt 3.1.4", argv: append([]string{node, ref, "-mode", "handshake", "-impl", "thream"}, addr...), mode: loadgen.ModeAuthBearer, node: true})
	}
	event = append(event,
		peer{key: refKey, label: "Node socket.io 4.8.4 + socketio-jwt 4.6.2 (connect mode)", argv: append([]string{node, ref, "-mode", "connect", "-timeout", "30s", "-callback", "false"}, addr...), mode: loadgen.ModeEvent, node: true})
	return handshake, event
}

// Keys of the two Node reference servers the ratios are taken against.
const (
	refKey    = "node-socketio-jwt"
	threamKey = "node-thream"
)

func holdPeers(hs []peer) []peer {
	var out []peer
	for _, p := range hs {
		if p.key != "go-jwt" && p.key != "go-siojwt-cache" && !p.login {
			out = append(out, p)
		}
	}
	return out
}

func scalePeers(hs []peer) []peer {
	var out []peer
	for _, p := range hs {
		if p.key == "go-bare" || p.key == "go-siojwt" || p.key == "go-siojwt-cache" || p.node && p.key != "node-bare" {
			out = append(out, p)
		}
	}
	return out
}

// run is one run against one server: the load generator's result and,
// for servers with the Go collector, their /metrics before the connect
// phase and with every connection open.
type run struct {
	*loadgen.Result
	// base, open, baseCollected and collected are the server's /metrics
	// at loadgen.StageBase, StageOpen (or StageHeld), StageBaseCollected
	// and StageCollected.
	base, open, baseCollected, collected map[string]float64
	// stderr is the server's standard error and started when it was
	// started (peer.trace only).
	stderr  string
	started time.Time
}

// perConn returns (open[name] - base[name]) per connected connection, or
// NaN when not read.
func (r *run) perConn(name string) float64 {
	if r.base == nil || r.open == nil || r.Connect.Connected == 0 {
		return math.NaN()
	}
	return (metricOr(r.open, name) - metricOr(r.base, name)) / float64(r.Connect.Connected)
}

// perConnCollected is perConn read after the collections, before the
// warm-up and with every connection open, or NaN when not read.
func (r *run) perConnCollected(name string) float64 {
	if r.baseCollected == nil || r.collected == nil || r.Connect.Connected == 0 {
		return math.NaN()
	}
	return (metricOr(r.collected, name) - metricOr(r.baseCollected, name)) / float64(r.Connect.Connected)
}

// once starts p, fetches a token from it, runs cfg against it and stops it.
func (d *driver) once(ctx context.Context, p peer, cfg loadgen.Config) (*run, error) {
	stderrMax := 8 << 10
	if p.trace {
		stderrMax = 8 << 20
	}
	pr, err := startCapture(ctx, d.opt.Root, p.argv, p.env, stderrMax)
	if err != nil {
		return nil, err
	}
	defer pr.stop()
	cfg.URL = pr.url
	cfg.Mode = p.mode
	cfg.ServerPID = pr.pid()
	if cfg.Settle == 0 {
		cfg.Settle = d.settle()
	}
	cfg.Polling, cfg.Compress = p.polling, p.compress
	if p.hold > 0 {
		cfg.Hold = p.hold
	}
	if p.storm {
		cfg.Storm, cfg.StormConcurrency, cfg.StormDelay = true, cfg.Concurrency, cfg.Settle
	}
	out := &run{}
	if p.metrics && p.external {
		// The separate load generator cannot call back: read the
		// server's metrics once, before it starts (GOMAXPROCS, for one).
		if out.base, err = scrape(ctx, pr.url); err != nil {
			d.logf("%s: %v", p.key, err)
		}
	}
	if p.collect {
		cfg.Collect = func(ctx context.Context) error { return freeMemory(ctx, pr.url) }
	}
	if p.metrics && !p.external {
		cfg.Probe = func(s loadgen.Stage) {
			m, err := scrape(ctx, pr.url)
			if err != nil {
				d.logf("%s: %v", p.key, err)
				return
			}
			switch s {
			case loadgen.StageBase:
				out.base = m
			case loadgen.StageBaseCollected:
				out.baseCollected = m
			case loadgen.StageCollected:
				out.collected = m
			default:
				out.open = m
			}
		}
	}
	if cfg.MaxDuration == 0 {
		cfg.MaxDuration = 10 * time.Minute
	}
	if p.mode != loadgen.ModeNone {
		// The server's own /login must work; the connections then present
		// one token each (the warm-up's are others again), minted here the
		// same way or, for keys only the server has, from its /login.
		if cfg.Token, err = loadgen.FetchToken(ctx, pr.url, "bench"); err != nil {
			return nil, err
		}
		n := cfg.Conns + min(cfg.Conns, 100)
		if p.login {
			cfg.Tokens, err = fetchTokens(ctx, pr.url, n)
		} else {
			cfg.Tokens, err = d.tokens(n)
		}
		if err != nil {
			return nil, err
		}
	}
	var res *loadgen.Result
	if p.external {
		res, err = d.runExternal(ctx, p.key, cfg)
	} else {
		res, err = loadgen.Run(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	out.Result = res
	if p.trace {
		out.stderr, out.started = pr.stderr.String(), pr.started
	}
	for _, ph := range []*loadgen.Phase{&res.Connect, res.Storm} {
		if ph != nil && ph.Machine != nil {
			d.rep.Loads = append(d.rep.Loads, PhaseLoad{Machine: *ph.Machine, Server: ph.ServerCPU})
		}
	}
	if err := pr.alive(); err != nil {
		return out, err
	}
	return out, nil
}

func (d *driver) measure(ctx context.Context, part string, peers []peer, reps int, cfg loadgen.Config) []*Stats {
	stats := make([]*Stats, len(peers))
	for i, p := range peers {
		stats[i] = &Stats{Key: p.key, Label: p.label, Node: p.node, Failures: map[string]int{}}
	}
	for _, s := range stats {
		s.rounds = make([]*run, reps)
	}
	for rep := range reps {
		for i, p := range peers {
			if ctx.Err() != nil {
				return stats
			}
			s := stats[i]
			res, err := d.once(ctx, p, cfg)
			s.Attempted += cfg.Conns
			if err != nil {
				s.Errors = append(s.Errors, err.Error())
				d.logf("%s %s rep %d: error: %v", part, p.key, rep+1, err)
				continue
			}
			s.Runs = append(s.Runs, res.Result)
			s.runs = append(s.runs, res)
			s.rounds[rep] = res
			for c, n := range res.Connect.Failures {
				s.Failures[c] += n
			}
			c := &res.Connect
			collected := ""
			if kb := res.MemPerConnCollected() / 1024; !math.IsNaN(kb) {
				collected = fmt.Sprintf(" (%.1f after a collection)", kb)
			}
			d.logf("%s %s rep %d: %d/%d, %.0f conn/s, p50 %s p99 %s, %.0f µs CPU/conn, %.1f KB/conn%s",
				part, p.key, rep+1, c.Connected, c.Attempted, c.Rate(), c.P50.Round(time.Millisecond/10), c.P99.Round(time.Millisecond/10), us(c.CPUPerConn()), res.MemPerConn()/1024, collected)
			if st := res.Storm; st != nil {
				for c, n := range st.Failures {
					s.Failures["reconnect "+c] += n
				}
				d.logf("%s %s rep %d: then reconnected %d/%d with the same tokens, %.0f µs CPU/conn", part, p.key, rep+1, st.Connected, st.Attempted, us(st.CPUPerConn()))
			}
		}
	}
	for i, s := range stats {
		var rate, p50, p99, cpu, kb, kbc, gor, allocs, allocKB, hold []float64
		for _, r := range s.runs {
			rate = append(rate, r.Connect.Rate())
			p50 = append(p50, ms(r.Connect.P50))
			p99 = append(p99, ms(r.Connect.P99))
			cpu = append(cpu, us(r.Connect.CPUPerConn()))
			kb = append(kb, r.MemPerConn()/1024)
			if c := r.MemPerConnCollected(); !math.IsNaN(c) {
				kbc = append(kbc, c/1024)
			}
			if g := r.perConn(mGoroutines); !math.IsNaN(g) {
				gor = append(gor, g)
				allocs = append(allocs, r.perConn(mMallocs))
				allocKB = append(allocKB, r.perConn(mAllocBytes)/1024)
			}
			if h := r.Soak; h != nil && h.Sockets > 0 && h.Duration > 0 {
				hold = append(hold, us(h.ServerCPU)/float64(h.Sockets)/h.Duration.Seconds())
			}
		}
		s.Rate, s.P50, s.P99, s.CPU, s.KB = median(rate), median(p50), median(p99), median(cpu), median(kb)
		s.Goroutines, s.Allocs, s.AllocKB, s.HoldCPU = median(gor), median(allocs), median(allocKB), median(hold)
		s.PingInterval = peers[i].ping
		s.CPULo, s.CPUHi, s.KBLo, s.KBHi = math.NaN(), math.NaN(), math.NaN(), math.NaN()
		if len(cpu) > 0 {
			s.CPULo, s.CPUHi = slices.Min(cpu), slices.Max(cpu)
			s.KBLo, s.KBHi = slices.Min(kb), slices.Max(kb)
		}
		s.KBCollected, s.KBCollectedLo, s.KBCollectedHi = median(kbc), math.NaN(), math.NaN()
		if len(kbc) > 0 {
			s.KBCollectedLo, s.KBCollectedHi = slices.Min(kbc), slices.Max(kbc)
		}
	}
	return stats
}

func (d *driver) hold(ctx context.Context, peers []peer) []*HoldStats {
	var out []*HoldStats
	for _, p := range peers {
		if ctx.Err() != nil {
			break
		}
		s := &HoldStats{Key: p.key, Label: p.label, Node: p.node}
		out = append(out, s)
		res, err := d.once(ctx, p, loadgen.Config{
			Conns: d.opt.HoldConns, Concurrency: d.opt.Concurrency,
			Hold: d.opt.HoldFor, MessageInterval: d.opt.HoldInterval,
		})
		switch {
		case err != nil:
			s.Error = err.Error()
		case res.Soak == nil:
			s.Error = "no hold phase"
		case res.Connect.Failed() > 0:
			s.Error = fmt.Sprintf("%d connections failed: %v", res.Connect.Failed(), res.Connect.Failures)
		}
		if res != nil && res.Soak != nil {
			s.Soak = res.Soak
			if s.Error == "" && (s.Soak.Received < s.Soak.Sent || s.Soak.Dropped > 0) {
				s.Error = fmt.Sprintf("%d of %d messages unanswered, %d socket(s) dropped (%s)", s.Soak.Sent-s.Soak.Received, s.Soak.Sent, s.Soak.Dropped, failText(s.Soak.DropReasons, nil))
			}
			d.logf("hold %s: %d sockets for %s, %d/%d echoed, %.1f µs CPU/message", p.key, s.Soak.Sockets, s.Soak.Duration.Round(time.Millisecond), s.Soak.Received, s.Soak.Sent, us(s.Soak.CPUPerMessage()))
		}
		if s.Error != "" {
			d.logf("hold %s: error: %s", p.key, s.Error)
		}
	}
	return out
}

func (d *driver) scale(ctx context.Context, peers []peer) []*ScaleStats {
	out := make([]*ScaleStats, len(peers))
	for i, p := range peers {
		out[i] = &ScaleStats{Key: p.key, Label: p.label, Node: p.node}
	}
	largest := slices.Max(d.opt.ScaleSizes)
	sizes := slices.Clone(d.opt.ScaleSizes)
	sort.Ints(sizes)
	for _, n := range sizes {
		for i, p := range peers {
			if ctx.Err() != nil {
				return out
			}
			cfg := loadgen.Config{
				Conns: n, Concurrency: d.opt.Concurrency, ConnectTimeout: 30 * time.Second,
				Retries: 3, RetryDelay: time.Second, Storm: n == largest,
			}
			res, err := d.once(ctx, p, cfg)
			pt := ScalePoint{Conns: n}
			if err != nil {
				pt.Error = err.Error()
				d.logf("scale %s %d: error: %v", p.key, n, err)
			}
			if res != nil {
				c := &res.Connect
				pt.Connected, pt.Rate, pt.CPU, pt.KB = c.Connected, c.Rate(), us(c.CPUPerConn()), res.MemPerConn()/1024
				pt.BaseMB, pt.OpenMB = mib(res.RSSBase), mib(res.RSSOpen)
				pt.Failures = c.Failures
				if ls := loadsOf([]*loadgen.Result{res.Result}); len(ls) > 0 {
					pt.Load = &ls[0]
				}
				d.logf("scale %s %d: %d/%d, %.0f conn/s, %.0f µs CPU/conn, %.1f KB/conn, RSS %.0f→%.0f MB, %d retries",
					p.key, n, c.Connected, n, c.Rate(), pt.CPU, pt.KB, pt.BaseMB, pt.OpenMB, c.Retries)
				if st := res.Storm; st != nil {
					out[i].Storm = &StormStats{
						Conns: st.Attempted, Connected: st.Connected, Retries: st.Retries,
						Settle: st.Elapsed, P50: st.P50, P99: st.P99, CPU: us(st.CPUPerConn()),
						PeakMB: mib(res.RSSPeak), Failures: st.Failures,
					}
					d.logf("storm %s %d: %d/%d reconnected in %s, p99 %s, %d retries, failures %v",
						p.key, n, st.Connected, st.Attempted, st.Elapsed.Round(time.Millisecond), st.P99.Round(time.Millisecond), st.Retries, st.Failures)
				}
			}
			out[i].Points = append(out[i].Points, pt)
		}
	}
	return out
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(b int64) float64        { return float64(b) / (1 << 20) }

// median of xs; NaN when empty.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
