package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/siojwt/siojwt/bench/loadgen"
)

// Variance is the part that looks for why the Go servers' cost per
// connection moves between runs and machines while Node's does not: the
// same servers, interleaved, under settings that each remove one suspect.
type Variance struct {
	// Settings in table order: the default first.
	Settings []*VarianceSetting
	// Traces are one run of each Go server with the scheduler's trace
	// (GODEBUG=schedtrace) on.
	Traces []*SchedTrace
}

// VarianceSetting is one configuration of the run, with one Stats per
// server (in the order of varianceKeys).
type VarianceSetting struct {
	Key, Label string
	Stats      []*Stats
}

// Keys of the variance settings.
const (
	varDefault  = "default"
	varOneP     = "gomaxprocs1"
	varGCOff    = "gcoff"
	varSeparate = "separate"
)

// varianceKeys are the servers of the variance part.
var varianceKeys = []string{"go-bare", "go-siojwt", refKey}

// schedInterval is the scheduler trace's period in the traced runs.
const schedInterval = 10 * time.Millisecond

// SchedTrace summarises a GODEBUG=schedtrace run over its connect phase.
type SchedTrace struct {
	Key string
	// Samples is the number of trace lines that fell in the connect
	// phase; GOMAXPROCS the gomaxprocs they show.
	Samples, GOMAXPROCS int
	// Spinning is the mean of spinningthreads, SpinningShare the share of
	// samples with at least one spinning thread; IdleProcs the mean of
	// idleprocs, Threads of threads, RunQueue of the global run queue.
	Spinning, SpinningShare, IdleProcs, Threads, RunQueue float64
	// CPU is the server's CPU per connection during the traced run (µs).
	CPU   float64
	Error string
}

func (v *Variance) setting(k string) *VarianceSetting {
	for _, s := range v.Settings {
		if s.Key == k {
			return s
		}
	}
	return nil
}

func (s *VarianceSetting) stats(key string) *Stats {
	if s == nil {
		return nil
	}
	return find(s.Stats, statsKey, key)
}

// variance runs the part: every setting and server interleaved within
// each repetition, then the traced runs.
func (d *driver) variance(ctx context.Context, hs []peer) *Variance {
	var base []peer
	for _, k := range varianceKeys {
		for _, p := range hs {
			if p.key == k {
				base = append(base, p)
			}
		}
	}
	v := &Variance{}
	settings := []struct {
		key, label string
		edit       func(p *peer)
	}{
		{varDefault, "GOMAXPROCS unset (the number of CPUs), load generator in the driver's process (as in every other part)", func(*peer) {}},
		{varOneP, "GOMAXPROCS=1 for the Go servers (Node is unaffected: the control), load generator in the driver's process", func(p *peer) {
			if !p.node {
				p.env = append(slices.Clone(p.env), "GOMAXPROCS=1")
			}
		}},
		{varGCOff, "GOGC=off for the Go servers: no collection during the run (Node is unaffected: the control), GOMAXPROCS unset, load generator in the driver's process", func(p *peer) {
			if !p.node {
				p.env = append(slices.Clone(p.env), "GOGC=off")
			}
		}},
		{varSeparate, "GOMAXPROCS unset, load generator in a process of its own (bench/cmd/loadgen -json)", func(p *peer) { p.external = true }},
	}
	var flat []peer
	for _, st := range settings {
		v.Settings = append(v.Settings, &VarianceSetting{Key: st.key, Label: st.label})
		for _, p := range base {
			p.argv = slices.Clone(p.argv)
			st.edit(&p)
			p.key = p.key + " @" + st.key
			flat = append(flat, p)
		}
	}
	stats := d.measure(ctx, "variance", flat, d.opt.Reps, loadgen.Config{Conns: d.opt.Conns, Concurrency: d.opt.Concurrency, CloseWait: 100 * time.Millisecond})
	for i, s := range stats {
		st := v.Settings[i/len(base)]
		s.Key, _, _ = strings.Cut(s.Key, " @")
		st.Stats = append(st.Stats, s)
	}
	for _, p := range base {
		if p.node || ctx.Err() != nil {
			continue
		}
		v.Traces = append(v.Traces, d.schedTrace(ctx, p))
	}
	return v
}

// schedTrace runs p once with GODEBUG=schedtrace and summarises the trace
// lines of the connect phase.
func (d *driver) schedTrace(ctx context.Context, p peer) *SchedTrace {
	t := &SchedTrace{Key: p.key}
	p.env = append(slices.Clone(p.env), fmt.Sprintf("GODEBUG=schedtrace=%d", schedInterval.Milliseconds()))
	p.trace = true
	res, err := d.once(ctx, p, loadgen.Config{Conns: d.opt.Conns, Concurrency: d.opt.Concurrency, CloseWait: 100 * time.Millisecond})
	if err != nil {
		t.Error = err.Error()
		d.logf("variance trace %s: error: %v", p.key, err)
		return t
	}
	c := &res.Connect
	t.CPU = us(c.CPUPerConn())
	// The trace's clock starts with the runtime, a few milliseconds after
	// the process was started.
	from := c.Start.Sub(res.started)
	samples := parseSchedTrace(res.stderr, from, from+c.Elapsed)
	summariseTrace(t, samples)
	if t.Samples == 0 {
		t.Error = "no scheduler trace line fell in the connect phase"
	}
	d.logf("variance trace %s: %d samples over %s, spinning threads %.2f on average (>0 in %.0f %%), idle Ps %.2f of %d, %.0f µs CPU/conn",
		p.key, t.Samples, c.Elapsed.Round(time.Millisecond), t.Spinning, 100*t.SpinningShare, t.IdleProcs, t.GOMAXPROCS, t.CPU)
	return t
}

// schedSample is one line of GODEBUG=schedtrace output.
type schedSample struct {
	at     time.Duration // since the runtime started
	fields map[string]int
}

var (
	schedLine  = regexp.MustCompile(`^SCHED (\d+)ms: (.*)$`)
	schedField = regexp.MustCompile(`(\w+)=(-?\d+)`)
)

// parseSchedTrace returns the schedtrace lines of out timed from..to.
func parseSchedTrace(out string, from, to time.Duration) []schedSample {
	var res []schedSample
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := schedLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		ms, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		at := time.Duration(ms) * time.Millisecond
		if at < from || at > to {
			continue
		}
		s := schedSample{at: at, fields: map[string]int{}}
		for _, f := range schedField.FindAllStringSubmatch(m[2], -1) {
			if n, err := strconv.Atoi(f[2]); err == nil {
				s.fields[f[1]] = n
			}
		}
		res = append(res, s)
	}
	return res
}

func summariseTrace(t *SchedTrace, samples []schedSample) {
	t.Samples = len(samples)
	if len(samples) == 0 {
		return
	}
	var spin, idle, threads, runq, spinning float64
	for _, s := range samples {
		spin += float64(s.fields["spinningthreads"])
		idle += float64(s.fields["idleprocs"])
		threads += float64(s.fields["threads"])
		runq += float64(s.fields["runqueue"])
		if s.fields["spinningthreads"] > 0 {
			spinning++
		}
		t.GOMAXPROCS = max(t.GOMAXPROCS, s.fields["gomaxprocs"])
	}
	n := float64(len(samples))
	t.Spinning, t.IdleProcs, t.Threads, t.RunQueue, t.SpinningShare = spin/n, idle/n, threads/n, runq/n, spinning/n
}

// runExternal runs the built load generator (bench/cmd/loadgen) as a
// process of its own with cfg, and reads its JSON result. The tokens go
// through a file; Probe, Hold and Storm are not supported.
func (d *driver) runExternal(ctx context.Context, key string, cfg loadgen.Config) (*loadgen.Result, error) {
	if cfg.Hold > 0 || cfg.Storm || cfg.Polling || cfg.Compress {
		return nil, errors.New("bench: the separate load generator runs connect phases only")
	}
	f, err := os.CreateTemp(d.tmp, "tokens-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(strings.Join(cfg.Tokens, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	args := []string{
		"-url", cfg.URL, "-n", strconv.Itoa(cfg.Conns), "-c", strconv.Itoa(cfg.Concurrency), "-mode", cfg.Mode.String(),
		"-tokens-file", f.Name(), "-pid", strconv.Itoa(cfg.ServerPID), "-settle", cfg.Settle.String(),
		"-max", cfg.MaxDuration.String(), "-json",
	}
	if cfg.CloseWait > 0 {
		args = append(args, "-close-wait", cfg.CloseWait.String())
	}
	if cfg.ConnectTimeout > 0 {
		args = append(args, "-timeout", cfg.ConnectTimeout.String())
	}
	rctx, cancel := context.WithTimeout(ctx, cfg.MaxDuration+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(rctx, filepath.Join(d.bin, "loadgen"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) { // 1: some connections failed
		return nil, fmt.Errorf("bench: load generator for %s: %w: %s", key, err, tail(stderr.String(), 2000))
	}
	var res loadgen.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("bench: load generator for %s: result: %w: %s", key, err, tail(stdout.String(), 500))
	}
	return &res, nil
}

// spreadPct is the run-to-run range of s's CPU per connection, as a
// share of its median.
func spreadPct(s *Stats) float64 {
	if s == nil || !(s.CPU > 0) {
		return math.NaN()
	}
	return 100 * (s.CPUHi - s.CPULo) / s.CPU
}

// gomaxprocsOf is the GOMAXPROCS a server's /metrics showed
// (go_sched_gomaxprocs_threads; NaN when not read).
func gomaxprocsOf(s *Stats) float64 {
	var xs []float64
	for _, r := range s.runs {
		if r.base != nil {
			if v, ok := r.base[mGOMAXPROCS]; ok {
				xs = append(xs, v)
			}
		}
	}
	return median(xs)
}

// gcCycles are the collections a Go server ran over each run's connect
// phase (go_gc_duration_seconds_count with every connection open, minus
// before), for the runs whose /metrics were read both times.
func gcCycles(s *Stats) []float64 {
	var xs []float64
	if s == nil {
		return nil
	}
	for _, r := range s.runs {
		if v := r.perConn(mGCCycles); !math.IsNaN(v) {
			xs = append(xs, v*float64(r.Connect.Connected))
		}
	}
	return xs
}

// gcText is "median (lowest–highest)" of s's collections per run, or
// "n/a".
func gcText(s *Stats) string {
	xs := gcCycles(s)
	switch len(xs) {
	case 0:
		return "n/a"
	case 1:
		return f0(xs[0])
	}
	return fmt.Sprintf("%s (%s–%s)", f0(median(xs)), f0(slices.Min(xs)), f0(slices.Max(xs)))
}

// compare describes b against a (a setting against the default) for one
// server: medians and the per-round difference.
type comparison struct {
	from, to         float64 // medians, µs
	diff             *rounds // per-round differences, µs
	lower, higher    bool    // in every round
	spreadA, spreadB float64
}

func compareStats(b, a *Stats) *comparison {
	if a == nil || b == nil {
		return nil
	}
	r := judgeRounds(pairRounds(b, a, cpuDiff), func(v float64) bool { return v < 0 })
	if r == nil {
		return nil
	}
	// "Every round" needs two rounds at least.
	return &comparison{from: a.CPU, to: b.CPU, diff: r, lower: r.n > 1 && r.met == r.n, higher: r.n > 1 && r.lo > 0,
		spreadA: spreadPct(a), spreadB: spreadPct(b)}
}

func (c *comparison) text() string {
	var how string
	switch {
	case c.lower:
		how = fmt.Sprintf("**lower in every round** (%d)", c.diff.n)
	case c.higher:
		how = fmt.Sprintf("**higher in every round** (%d)", c.diff.n)
	case c.diff.n == 1:
		how = "one round: no verdict"
	default:
		how = fmt.Sprintf("within the run-to-run noise (lower in %d of %d rounds)", c.diff.met, c.diff.n)
	}
	return fmt.Sprintf("%s → %s µs; per-round difference %s, %s; range %s → %s %% of the median", f0(c.from), f0(c.to), c.diff.span("%+.0f µs"), how, f0(c.spreadA), f0(c.spreadB))
}

func (d *driver) varianceSection(p func(string, ...any)) {
	v := d.rep.Variance
	if v == nil || len(v.Settings) == 0 {
		return
	}
	def := v.setting(varDefault)
	p("## Why the Go servers' cost moves between runs\n\n")
	p("Between full runs and between machines, the Go servers' CPU per connection has moved more than Node's. This part looks for the cause: go-bare, go-siojwt and node-socketio-jwt, interleaved (each repetition runs every setting and server in turn), %d connections per run, %d in flight, %d repetition(s), under settings that each remove one suspect: ", d.opt.Conns, d.opt.Concurrency, d.opt.Reps)
	p("the Go runtime's scheduling across several Ps (`GOMAXPROCS=1`: one P, so no thread spins looking for work and none is woken for a second P), the garbage collector (`GOGC=off`: no collection during the run, so neither its work nor where its cycles fall among the connections counts; each run is a fresh process with %d connections, whose heap fits in memory), and the load generator sharing the driver's process (a separate `bench/cmd/loadgen -json` process instead). ", d.opt.Conns)
	p("Node runs one JavaScript thread and its own collector whatever GOMAXPROCS and GOGC say: its figures under each setting measure the machine's drift. ")
	p("For the Go servers, the collections each run held over its connect phase are counted from their `/metrics` (`go_gc_duration_seconds_count` with every connection open, minus before; not read with the load generator in a process of its own). ")
	p("Each run also records the machine's CPU steal, its busy time and the share of it that went to neither the server nor the load generator (/proc/stat over the connect phase).\n\n")
	p("| setting | server | CPU µs/conn | CPU range | range, %% of median | GC cycles per run | others' share of the CPUs | steal | GOMAXPROCS seen | failures |\n")
	p("|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, st := range v.Settings {
		for _, s := range st.Stats {
			sp := spanOf(statsLoads([]*Stats{s}))
			others, steal := "n/a", "n/a"
			if sp.n > 0 {
				others, steal = rangeText(sp.others, "%.0f")+" %", rangeText(sp.steal, "%.1f")+" %"
			}
			gmp := "n/a"
			if g := gomaxprocsOf(s); !math.IsNaN(g) {
				gmp = f0(g)
			}
			gc := gcText(s)
			if s.Node {
				gmp, gc = "(Node)", "(Node)"
			}
			p("| %s | %s | %s | %s–%s | %s | %s | %s | %s | %s | %s |\n", st.Key, s.Key, f0(s.CPU), f0(s.CPULo), f0(s.CPUHi), f0(spreadPct(s)), gc, others, steal, gmp, failText(s.Failures, s.Errors))
		}
	}
	p("\nSettings: ")
	var labels []string
	for _, st := range v.Settings {
		labels = append(labels, fmt.Sprintf("`%s`: %s", st.Key, st.Label))
	}
	p("%s.\n\n", strings.Join(labels, "; "))
	for _, st := range v.Settings {
		for _, s := range st.Stats {
			for _, e := range s.Errors {
				p("- %s %s: `%s`\n", st.Key, s.Key, oneLine(e))
			}
		}
	}
	var all []*Stats
	for _, st := range v.Settings {
		all = append(all, st.Stats...)
	}
	d.loadLine(p, statsLoads(all))

	if len(v.Traces) > 0 {
		p("Scheduler trace: one more run of each Go server at the default GOMAXPROCS with `GODEBUG=schedtrace=%d`, the runtime printing its scheduler's state every %s; the lines that fall in the connect phase (timed from the process's start) are summarised. A line is a snapshot, not a count of events: it shows how often threads were caught spinning, not how long they spun.\n\n", schedInterval.Milliseconds(), schedInterval)
		p("| server | samples | GOMAXPROCS | spinning threads, mean | samples with a spinning thread | idle Ps, mean | threads, mean | global run queue, mean | CPU µs/conn of the traced run |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, t := range v.Traces {
			if t.Error != "" && t.Samples == 0 {
				p("| %s | | | | | | | | %s |\n", t.Key, oneLine(t.Error))
				continue
			}
			p("| %s | %d | %d | %.2f | %.0f %% | %.2f | %.1f | %.1f | %s |\n", t.Key, t.Samples, t.GOMAXPROCS, t.Spinning, 100*t.SpinningShare, t.IdleProcs, t.Threads, t.RunQueue, f0(t.CPU))
		}
		p("\n")
	}
	if def == nil {
		return
	}
	p("Reading, from the figures above:\n\n")
	spreads := []string{}
	for _, s := range def.Stats {
		spreads = append(spreads, fmt.Sprintf("%s %s %%", s.Key, f0(spreadPct(s))))
	}
	p("- Run-to-run range of the CPU per connection at the default setting, as a share of the median: %s.\n", strings.Join(spreads, ", "))
	oneP, sep := v.setting(varOneP), v.setting(varSeparate)
	goCut := true // GOMAXPROCS=1 lowered every Go server in every round
	for _, k := range varianceKeys {
		c := compareStats(oneP.stats(k), def.stats(k))
		if c == nil {
			goCut = false
			continue
		}
		if k != refKey && !c.lower {
			goCut = false
		}
		who := k
		if k == refKey {
			who = k + " (unaffected by GOMAXPROCS: the machine's drift)"
		}
		p("- GOMAXPROCS=1, %s: %s.\n", who, c.text())
	}
	gcOff := v.setting(varGCOff)
	gcLower, gcNarrow, gcHalved, gcRounds := true, true, true, 0 // over the Go servers
	var gcFrom, gcTo, gcSpread []string
	for _, k := range varianceKeys {
		c := compareStats(gcOff.stats(k), def.stats(k))
		if c == nil {
			if k != refKey {
				gcLower = false
			}
			continue
		}
		who := k
		if k == refKey {
			who = k + " (unaffected by GOGC: the machine's drift)"
			gcSpread = append(gcSpread, fmt.Sprintf("Node's, the control, %s → %s %%", f0(c.spreadA), f0(c.spreadB)))
		} else {
			gcRounds = max(gcRounds, c.diff.n)
			gcLower = gcLower && c.lower
			gcNarrow = gcNarrow && c.spreadB < c.spreadA
			gcHalved = gcHalved && c.spreadB <= c.spreadA/2
			gcFrom = append(gcFrom, fmt.Sprintf("%s %s → %s µs", k, f0(c.from), f0(c.to)))
			gcSpread = slices.Insert(gcSpread, len(gcFrom)-1, fmt.Sprintf("%s %s → %s %%", k, f0(c.spreadA), f0(c.spreadB)))
			gcTo = append(gcTo, fmt.Sprintf("%s %s", k, gcText(def.stats(k))))
		}
		p("- GOGC=off, %s: %s.\n", who, c.text())
	}
	if len(gcTo) > 0 {
		p("- Collections per run over the connect phase at the default setting (median, lowest–highest): %s.\n", strings.Join(gcTo, ", "))
	}
	for _, k := range varianceKeys {
		if c := compareStats(sep.stats(k), def.stats(k)); c != nil {
			p("- Load generator in a process of its own, %s: %s.\n", k, c.text())
		}
	}
	// Does the cost follow the other processes' use of the machine?
	for _, k := range varianceKeys {
		var cpu, others []float64
		for _, st := range []*VarianceSetting{def, sep} {
			s := st.stats(k)
			if s == nil {
				continue
			}
			for _, r := range s.runs {
				if m := r.Connect.Machine; m != nil {
					cpu = append(cpu, cpuOf(r))
					others = append(others, m.OthersPct(r.Connect.ServerCPU))
				}
			}
		}
		if rr := pearson(cpu, others); !math.IsNaN(rr) {
			how := "weakly"
			switch {
			case math.Abs(rr) >= 0.7:
				how = "closely"
			case math.Abs(rr) < 0.3:
				how = "hardly"
			}
			p("- %s, over its %d runs at the default GOMAXPROCS (both load generator placements): CPU per connection and the share of the machine other processes used moved together %s (correlation %+.2f).\n", k, len(cpu), how, rr)
		}
	}
	var spin []string
	for _, t := range v.Traces {
		if t.Samples > 0 {
			spin = append(spin, fmt.Sprintf("%s had a spinning thread in %.0f %% of the samples and %.2f of its %d Ps idle on average", t.Key, 100*t.SpinningShare, t.IdleProcs, t.GOMAXPROCS))
		}
	}
	if len(spin) > 0 {
		p("- Scheduler trace: %s.\n", strings.Join(spin, "; "))
	}
	bare, bare1 := def.stats("go-bare"), oneP.stats("go-bare")
	node := def.stats(refKey)
	spinSeen := slices.ContainsFunc(v.Traces, func(t *SchedTrace) bool { return t.SpinningShare > 0 })
	switch {
	case goCut && spinSeen && bare != nil && bare1 != nil:
		p("\nSo: with one P, every Go server was cheaper in every round (go-bare %s → %s µs), and the trace caught threads spinning at the default setting: ", f0(bare.CPU), f0(bare1.CPU))
		p("part of the Go servers' cost is the runtime's work for a second P (threads woken to run goroutines on it or to look for work, spinning before they park), work Node's single event loop does not do. ")
		if spreadPct(bare1) < spreadPct(bare) {
			p("go-bare's range also narrowed with one P (%s → %s %% of the median", f0(spreadPct(bare)), f0(spreadPct(bare1)))
			if node != nil {
				p("; Node's was %s %%", f0(spreadPct(node)))
			}
			p("): that work is the part that moved between runs here. The runtime does it only while a P is idle, so how much of it a connection costs depends on what else keeps the other core busy: the load generator, and whatever else runs on the machine.\n\n")
		} else {
			p("go-bare's range did not narrow with one P (%s → %s %% of the median): the movement between runs is not explained by that work alone.\n\n", f0(spreadPct(bare)), f0(spreadPct(bare1)))
		}
	case goCut && bare != nil && bare1 != nil:
		p("\nSo: with one P, every Go server was cheaper in every round (go-bare %s → %s µs), but the trace did not catch threads spinning: the saving is the runtime's work for a second P, not shown here to be spinning.\n\n", f0(bare.CPU), f0(bare1.CPU))
	default:
		p("\nSo: GOMAXPROCS=1 did not make every Go server cheaper in every round, so these runs do not show the scheduler's work for a second P as the cause of the movement; the rows above give what each setting changed.\n\n")
	}
	if gcOff == nil || len(gcFrom) == 0 {
		return
	}
	cycles := ""
	if b := gcCycles(bare); len(b) > 0 {
		cycles = fmt.Sprintf(" (go-bare: %s at the default setting)", gcText(bare))
	}
	switch {
	case gcRounds < 2:
		p("As for the collector: one round only, no verdict (%s; range %s of the median).\n\n", strings.Join(gcFrom, ", "), strings.Join(gcSpread, ", "))
	case gcLower && gcNarrow:
		how := "most of its movement between runs"
		if !gcHalved {
			how = "part of its movement between runs (the range narrowed, but not by half for every Go server)"
		}
		p("As for the collector: with GOGC=off every Go server was cheaper in every round (%s) and its run-to-run range narrowed (%s of the median). ", strings.Join(gcFrom, ", "), strings.Join(gcSpread, ", "))
		p("The collector's work is part of each Go connection's cost and %s: a run of %d connections holds only a few collections%s, and where they fall moves the per-connection figure. Node's collector runs in small incremental steps.\n\n", how, d.opt.Conns, cycles)
	case gcLower:
		p("As for the collector: with GOGC=off every Go server was cheaper in every round (%s), so its work is part of each Go connection's cost; but the run-to-run range did not narrow for every Go server (%s of the median), so these runs do not show it as the cause of the movement between runs.\n\n", strings.Join(gcFrom, ", "), strings.Join(gcSpread, ", "))
	default:
		p("As for the collector: GOGC=off did not make every Go server cheaper in every round (%s; range %s of the median), so these runs show neither its work as a cost of each connection nor its cycles as the cause of the movement; the rows above give what it changed.\n\n", strings.Join(gcFrom, ", "), strings.Join(gcSpread, ", "))
	}
}
