package bench

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/siojwt/siojwt/bench/loadgen"
)

// write renders the plots and the Markdown report, and replaces the
// previous run's target record with this run's after comparing the two.
func (d *driver) write(ctx context.Context) error {
	if err := os.MkdirAll(d.opt.PlotDir, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(d.opt.Out), 0o755); err != nil {
		return err
	}
	if err := d.plots(); err != nil {
		return err
	}
	path := d.resultsPath()
	prev, err := readResults(path)
	if err != nil {
		d.rep.Notes = append(d.rep.Notes, fmt.Sprintf("The previous run's record could not be read, so this run is not compared with it: %v.", err))
	}
	d.prev, d.now = prev, d.results(ctx)
	if err := os.WriteFile(d.opt.Out, d.markdown(), 0o644); err != nil {
		return err
	}
	if len(d.now.Targets) == 0 {
		return nil // nothing judged on rounds: keep the previous record
	}
	return writeResults(path, d.now)
}

func (d *driver) savePlot(name string, svg []byte) error {
	p := filepath.Join(d.opt.PlotDir, name)
	if err := os.WriteFile(p, svg, 0o644); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(d.opt.Out), p)
	if err != nil {
		rel = p
	}
	d.rep.Plots[name] = filepath.ToSlash(rel)
	return nil
}

func (d *driver) plots() error {
	r := d.rep
	if len(r.Handshake) > 0 {
		var rate, cpu, mem []bar
		for _, s := range r.Handshake {
			c := peerColor(s.Key, s.Node)
			rate = append(rate, bar{s.Key, s.Rate, c})
			cpu = append(cpu, bar{s.Key, s.CPU, c})
			mem = append(mem, bar{s.Key, s.KB, c})
		}
		n := fmt.Sprintf("Handshake mode, %d connections, %d in flight, median of %d runs, %d-core machine", d.opt.Conns, d.opt.Concurrency, d.opt.TargetReps, d.rep.Machine.CPUs)
		if err := d.savePlot("handshake-rate.svg", barChart("Connections per second", n, "connections/s (higher is better)", rate)); err != nil {
			return err
		}
		if err := d.savePlot("handshake-cpu.svg", barChart("Server CPU per connection", n, "µs of server CPU per connection (lower is better)", cpu)); err != nil {
			return err
		}
		if err := d.savePlot("handshake-memory.svg", barChart("Server memory per open connection", n, "KB of resident memory per open connection (lower is better)", mem)); err != nil {
			return err
		}
	}
	if len(r.Scale) > 0 {
		var memS, cpuS []series
		for _, s := range r.Scale {
			col := peerColor(s.Key, s.Node)
			m := series{name: s.Key, color: col}
			c := series{name: s.Key, color: col}
			for j, p := range s.Points {
				if j == 0 {
					m.pts = append(m.pts, [2]float64{0, p.BaseMB})
				}
				m.pts = append(m.pts, [2]float64{float64(p.Conns), nanIf(p.Connected == 0, p.OpenMB)})
				c.pts = append(c.pts, [2]float64{float64(p.Conns), nanIf(p.Connected == 0, p.CPU)})
			}
			memS, cpuS = append(memS, m), append(cpuS, c)
		}
		if err := d.savePlot("scale-memory.svg", lineChart("Server resident memory vs open sockets", "open sockets", "RSS (MB)", memS)); err != nil {
			return err
		}
		if err := d.savePlot("scale-cpu.svg", lineChart("Server CPU per connection vs open sockets", "open sockets", "µs per connection", cpuS)); err != nil {
			return err
		}
	}
	return nil
}

func nanIf(c bool, v float64) float64 {
	if c {
		return math.NaN()
	}
	return v
}

func find[T any](xs []*T, key func(*T) string, k string) *T {
	for _, x := range xs {
		if key(x) == k {
			return x
		}
	}
	return nil
}

func statsKey(s *Stats) string { return s.Key }

func f0(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", v)
}

func f1(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", v)
}

// ratio formats v/ref as "0.52×".
func ratio(v, ref float64) string {
	if math.IsNaN(v) || math.IsNaN(ref) || ref == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", v/ref)
}

func failText(m map[string]int, errs []string) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	if len(errs) > 0 {
		parts = append(parts, fmt.Sprintf("%d run(s) errored", len(errs)))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}

func modeText(m loadgen.Mode) string {
	switch m {
	case loadgen.ModeAuth:
		return "`auth: {token}`"
	case loadgen.ModeAuthBearer:
		return "`auth: {token: \"Bearer …\"}`"
	case loadgen.ModeQuery:
		return "`?token=` query"
	case loadgen.ModeEvent:
		return "`authenticate` event"
	}
	return "none"
}

func (d *driver) markdown() []byte {
	r := d.rep
	o := d.opt
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("# Benchmarks\n\n")
	if o.Smoke {
		p("**Smoke run: tiny counts, figures meaningless.**\n\n")
	}
	p("Written by the benchmark driver (`bench/`), %s, in %s. Command, from the repository root:\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Duration.Round(time.Second))
	p("```sh\n%s\n```\n\n", o.Command)
	p("The figures come from a **%d-core machine** on which the servers, the load generator and other work shared the CPUs: ", r.Machine.CPUs)
	p("read them as ratios between servers measured the same way, not as absolute capacity. ")
	p("Server CPU per connection (read from the server's own `/proc/PID/stat`) ranks the servers better than connections per second, which the shared CPUs cap.\n\n")

	p("## Machine\n\n| | |\n|---|---|\n")
	p("| CPUs (nproc) | %d |\n| CPU model | %s |\n| Memory | %d MB |\n| Kernel | %s |\n| Go | %s |\n| Node | %s |\n| Load average at start | %s |\n| Open-file limit | %d |\n",
		r.Machine.CPUs, r.Machine.CPUModel, r.Machine.MemoryMB, r.Machine.Kernel, strings.TrimPrefix(r.Machine.GoVersion, "go version "), r.Machine.Node, r.Machine.Load, r.FileLimit)
	if t := spanOf(r.Loads).text(r.Machine.CPUs); t != "" {
		p("| Load during the runs | %s |\n", t)
	}
	p("\n")

	d.summary(p)
	d.targetsSection(p)
	d.reproductionSection(p, d.prev, d.now)

	p("## How it was measured\n\n")
	p("- **Load generator**: `bench/loadgen`, a Go client that speaks Engine.IO v4 / Socket.IO v5 over a bare websocket (github.com/coder/websocket), ")
	p("in the driver's process on the same machine. Per connection: websocket dial, Engine.IO open (`0{…}`), Socket.IO CONNECT with the token, then `40{\"sid\"…}` is success and `44{…}` a failure counted by `data.code`; ")
	p("in the two-round-trip flow, CONNECT without a token, then `42[\"authenticate\",{token}]` until `42[\"authenticated\"]`. Pings are answered. Latency runs from dial to connected.\n")
	p("- **Servers**: each run starts a fresh server process on 127.0.0.1 port 0, fetches a token from its `POST /login`, opens %d warm-up connections and closes them, then measures. ", min(100, o.Conns))
	p("Servers are interleaved round-robin, %d repetition(s) each in the parts whose rounds judge the targets (handshake, key sets), %d in the other parts; tables show medians.\n", o.TargetReps, o.Reps)
	p("- **CPU per connection**: server utime+stime consumed while the connections were being opened, divided by the connections opened (CLK_TCK %d: 10 ms resolution). ", loadgen.ClockTicks())
	p("**Memory per connection**: server VmRSS with every connection open (after a %s pause) minus VmRSS after the warm-up, divided by the open connections; it includes garbage not yet collected (Go) and heap growth (V8). For the Go servers of the handshake table, memory is read a second time, after the server collected its garbage and returned the freed memory to the OS (`POST /debug/free` of `-pprof`, `debug.FreeOSMemory`), before the warm-up and with every connection open: what the open connections keep, whatever the collector's phase when the first reading was taken (the baseline before the warm-up also leaves out what the server sets up lazily at its first connections, which the per-connection figure then includes); the connect phase starts on the heap the warm-up left, as without the collections.\n", d.settle())
	p("- **The machine during each run**: the aggregate `cpu` line of `/proc/stat` read at the start and the end of the connect phase gives the CPU steal (time the hypervisor gave the virtual CPUs to someone else), the busy time, and, after taking off the server's and the load generator's own CPU, what other processes used; `/proc/loadavg` gives the 1-minute load average at the start. Each table gives their range over its runs.\n")
	p("- Token presentation differs by server, as each package reads it: ")
	var tp []string
	for _, s := range d.allPeers() {
		tp = append(tp, fmt.Sprintf("%s %s", s.key, modeText(s.mode)))
	}
	p("%s.\n\n", strings.Join(tp, "; "))

	d.handshakeSection(p)
	d.featuresSection(p)
	d.keysetSection(p)
	d.eventSection(p)
	d.holdSection(p)
	d.scaleSection(p)
	d.tuningSection(p)
	d.varianceSection(p)
	d.soakSection(p)
	d.microSection(p)
	d.profileSection(p)

	p("## Notes and gaps\n\n")
	notes := slices.Clone(r.Notes)
	if n := r.Failures(); n > 0 {
		notes = append(notes, fmt.Sprintf("%d connection(s) failed or run(s) errored in this run; the tables give them by code (`closed`: the server closed the connection before the socket was connected; `timeout`: no answer within the deadline).", n))
	}
	pair := "The load generator runs on the same two cores as the server: connections per second measure the pair, not the server alone."
	if r.Variance != nil {
		pair += " \"Why the Go servers' cost moves between runs\" measures what moving it to a process of its own changes."
	}
	notes = append(notes,
		pair,
		"Go servers listen with the kernel's somaxconn backlog; Node's `listen()` uses a backlog of 511. In the reconnect storm, SYNs beyond the backlog are retried by the kernel (1 s, 3 s), which shows in the settle time and not as failures.",
	)
	for _, n := range notes {
		p("- %s\n", n)
	}
	return b.Bytes()
}

// allPeers lists every peer once, for the token-presentation line.
func (d *driver) allPeers() []peer {
	hs, ev := d.peers()
	out := slices.Clone(hs)
	for _, e := range ev {
		e.key += " (connect mode)"
		out = append(out, e)
	}
	return out
}

func (d *driver) img(p func(string, ...any), name, alt string) {
	if rel, ok := d.rep.Plots[name]; ok {
		p("![%s](%s)\n\n", alt, rel)
	}
}

func (d *driver) summary(p func(string, ...any)) {
	r := d.rep
	lib := find(r.Handshake, statsKey, "go-siojwt")
	ref := find(r.Handshake, statsKey, refKey)
	th := find(r.Handshake, statsKey, threamKey)
	bare := find(r.Handshake, statsKey, "go-bare")
	gj := find(r.Handshake, statsKey, "go-jwt")
	if lib == nil && r.Tuning == nil && r.Soak == nil && len(r.Features) == 0 && len(r.Keyset) == 0 && r.Variance == nil {
		return
	}
	p("## Summary\n\n")
	if lib != nil && ref != nil {
		p("- Handshake mode, server CPU per connection: **%s µs** for Go + siojwt against %s µs for Node + socketio-jwt (**%s**)", f0(lib.CPU), f0(ref.CPU), ratio(lib.CPU, ref.CPU))
		if th != nil {
			p(" and %s µs for Node + @thream/socketio-jwt (**%s**)", f0(th.CPU), ratio(lib.CPU, th.CPU))
		}
		p(".\n")
		p("- Memory per open connection: %s KB against %s KB (Node + socketio-jwt)", f1(lib.KB), f1(ref.KB))
		if th != nil {
			p(" and %s KB (Node + @thream)", f1(th.KB))
		}
		p(". Connections per second: %s against %s", f0(lib.Rate), f0(ref.Rate))
		if th != nil {
			p(" and %s", f0(th.Rate))
		}
		p(" (%s, shared CPUs).\n", ratio(lib.Rate, ref.Rate)+" of socketio-jwt")
	}
	if lib != nil && bare != nil {
		p("- Authentication's share of the CPU per connection, against the bare Go server (%s µs): siojwt %s", f0(bare.CPU), added(lib, bare))
		if gj != nil {
			p("; a bare golang-jwt check in a middleware %s", added(gj, bare))
		}
		p(". The profile below puts the library's own share at a few per cent of the server's CPU.\n")
	}
	ev := find(r.Event, statsKey, "go-siojwt")
	evRef := find(r.Event, statsKey, refKey)
	if ev != nil && evRef != nil {
		p("- Two-round-trip flow (`authenticate` event): %s µs against %s µs for Node + socketio-jwt (%s).\n", f0(ev.CPU), f0(evRef.CPU), ratio(ev.CPU, evRef.CPU))
	}
	var algs []string
	for _, s := range r.Handshake {
		if alg, ok := strings.CutPrefix(s.Key, "go-siojwt-"); ok && alg != "cache" {
			name := strings.ToUpper(alg)
			if alg == "eddsa" {
				name = "EdDSA"
			}
			algs = append(algs, fmt.Sprintf("%s %s µs", name, f0(s.CPU)))
		}
	}
	if len(algs) > 0 && lib != nil {
		p("- Other algorithms (fixture `-alg`, handshake mode), CPU per connection: %s (HS256 %s µs); the Node servers verify HS256 only here.\n", strings.Join(algs, ", "), f0(lib.CPU))
	}
	if off := find(r.Features, statsKey, featOff); off != nil {
		var parts []string
		for _, s := range r.Features {
			if strings.HasPrefix(s.Key, "go-siojwt+") || s.Key == featAll {
				name := strings.TrimPrefix(s.Key, "go-siojwt")
				if s.Key == featAll {
					name = "all of the fixture's"
				}
				parts = append(parts, fmt.Sprintf("%s %s", name, roundsText(pairRounds(s, off, cpuDiff), "%+.0f")))
			}
		}
		p("- Features of the binding, CPU per connection against the fixture with every optional feature off (%s µs; median per round, lowest…highest): %s µs.\n", f0(off.CPU), strings.Join(parts, ", "))
	}
	for _, alg := range keysetAlgs {
		k := "go-siojwt-" + strings.ToLower(alg)
		set, cached := find(r.Keyset, statsKey, k+"-jwks"), find(r.Keyset, statsKey, k+"-jwks-cache")
		if set == nil || cached == nil {
			continue
		}
		sm, _, _ := stormStats(set)
		cm, _, _ := stormStats(cached)
		p("- %s through a key set: %s µs per first connection (%s with the verified-token cache, which a new token cannot hit), %s µs per reconnection with the same token (%s with the cache).\n", alg, f0(set.CPU), f0(cached.CPU), f0(sm), f0(cm))
	}
	if v := r.Variance; v != nil {
		def, one := v.setting(varDefault), v.setting(varOneP)
		if b, b1 := def.stats("go-bare"), one.stats("go-bare"); b != nil && b1 != nil {
			n := def.stats(refKey)
			p("- Run-to-run movement: go-bare %s µs per connection (range %s %% of the median) with GOMAXPROCS unset, %s µs (range %s %%) with GOMAXPROCS=1", f0(b.CPU), f0(spreadPct(b)), f0(b1.CPU), f0(spreadPct(b1)))
			if n != nil {
				p("; node-socketio-jwt's range %s %%", f0(spreadPct(n)))
			}
			p(" (\"Why the Go servers' cost moves between runs\").\n")
		}
	}
	if t := r.Tuning; t != nil {
		for _, pair := range [][2]string{{"fixture-tuned", "fixture"}, {"bare-tuned", "bare"}} {
			tv, b := t.variant(pair[0]), t.variant(pair[1])
			if tv == nil || b == nil {
				continue
			}
			delta, _ := tuneDelta(tv.Stats, b.Stats)
			p("- Server library tuned (the recommended configuration of \"Tuning the server library\"), %s: %s µs per connection against %s µs with the server's defaults (%s)", pair[1], f0(tv.CPU), f0(b.CPU), delta)
			if pv := t.variant(pair[1] + "-polling"); pv != nil {
				dp, _ := tuneDelta(tv.Stats, pv.Stats)
				p(" and %s µs with socket.io-client's default long-polling start (%s)", f0(pv.CPU), dp)
			}
			p(". No server option changes the cost of a direct websocket connection much; the client's transports do.\n")
			break
		}
	}
	if s := r.Soak; s != nil {
		p("- Soak: %d authenticated sockets for %s, a message a second each: %d of %d connected, %d of %d messages answered; goroutines %.0f → %.0f → %.0f (before, peak, after close). %s.\n",
			s.Conns, durText(s.Hold), s.Connected, s.Conns, s.Answered, s.Sent, s.Before.Goroutines, s.Peak.Goroutines, s.After.Goroutines, "Result: "+strings.SplitN(soakVerdict(s), ":", 2)[0])
	}
	for _, s := range r.Scale {
		if (s.Key == "go-siojwt" || s.Key == "go-siojwt-cache") && s.Storm != nil {
			st := s.Storm
			what := "siojwt"
			if s.Key == "go-siojwt-cache" {
				what = "siojwt with the verified-token cache"
			}
			p("- Reconnect storm, %s: %d sockets dropped at once and reconnected at once with valid tokens: %d authenticated, %d failed, settled in %s (%d retried dials, %s µs CPU per reconnection).\n",
				what, st.Conns, st.Connected, st.Conns-st.Connected, st.Settle.Round(10*time.Millisecond), st.Retries, f0(st.CPU))
		}
	}
	p("\n")
}

// added describes s.CPU - base.CPU, or says that the difference is within
// the run-to-run spread of either server.
func added(s, base *Stats) string {
	diff := s.CPU - base.CPU
	spread := math.Max(s.CPUHi-s.CPULo, base.CPUHi-base.CPULo)
	if math.IsNaN(diff) {
		return "n/a"
	}
	if math.Abs(diff) <= spread/2 || math.IsNaN(spread) {
		return fmt.Sprintf("%+.0f µs, within the run-to-run spread (up to %s µs)", diff, f0(spread))
	}
	if diff < 0 {
		return fmt.Sprintf("uses %.0f µs less (run-to-run spread up to %s µs)", -diff, f0(spread))
	}
	return fmt.Sprintf("adds %.0f µs (run-to-run spread up to %s µs)", diff, f0(spread))
}

func (d *driver) statsTable(p func(string, ...any), stats []*Stats) {
	p("| server | conn/s | p50 ms | p99 ms | CPU µs/conn | CPU range | KB/conn | KB/conn after a collection (range) | failures |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, s := range stats {
		collected := ""
		if !math.IsNaN(s.KBCollected) {
			collected = fmt.Sprintf("%s (%s–%s)", f1(s.KBCollected), f1(s.KBCollectedLo), f1(s.KBCollectedHi))
		}
		p("| **%s**: %s | %s | %s | %s | %s | %s–%s | %s | %s | %s |\n", s.Key, s.Label, f0(s.Rate), f1(s.P50), f1(s.P99), f0(s.CPU), f0(s.CPULo), f0(s.CPUHi), f1(s.KB), collected, failText(s.Failures, s.Errors))
	}
	p("\n")
	for _, s := range stats {
		for _, e := range s.Errors {
			p("- %s: `%s`\n", s.Key, oneLine(e))
		}
	}
	d.loadLine(p, statsLoads(stats))
	var refs []*Stats
	for _, k := range []string{refKey, threamKey} {
		if r := find(stats, statsKey, k); r != nil {
			refs = append(refs, r)
		}
	}
	if len(refs) == 0 {
		return
	}
	p("Ratios to the Node servers (this server's figure divided by theirs; conn/s above 1× is faster, CPU and KB below 1× are cheaper):\n\n")
	p("| server |")
	for _, m := range []string{"conn/s", "CPU/conn", "KB/conn"} {
		for _, r := range refs {
			p(" %s ÷ %s |", m, r.Key)
		}
	}
	p("\n|---|")
	for range 3 * len(refs) {
		p("---:|")
	}
	p("\n")
	for _, s := range stats {
		p("| %s |", s.Key)
		for _, r := range refs {
			p(" %s |", ratio(s.Rate, r.Rate))
		}
		for _, r := range refs {
			p(" %s |", ratio(s.CPU, r.CPU))
		}
		for _, r := range refs {
			p(" %s |", ratio(s.KB, r.KB))
		}
		p("\n")
	}
	p("\n")
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return strings.ReplaceAll(s, "`", "'")
}

func (d *driver) handshakeSection(p func(string, ...any)) {
	if len(d.rep.Handshake) == 0 {
		return
	}
	p("## Handshake mode (token checked before the socket connects)\n\n")
	p("%d connections per run, %d in flight, median of %d interleaved runs; CPU range is the lowest and highest run. ", d.opt.Conns, d.opt.Concurrency, d.opt.TargetReps)
	p("On this shared machine differences smaller than the ranges are noise.\n\n")
	d.statsTable(p, d.rep.Handshake)
	d.img(p, "handshake-rate.svg", "connections per second by server")
	d.img(p, "handshake-cpu.svg", "server CPU per connection by server")
	d.img(p, "handshake-memory.svg", "server memory per open connection by server")
}

func (d *driver) eventSection(p func(string, ...any)) {
	if len(d.rep.Event) == 0 {
		return
	}
	p("## Two round trips (`authenticate` event after connecting)\n\n")
	p("%d connections per run, %d in flight (the library caps unauthenticated sockets per address at 100), median of %d interleaved runs. ", d.opt.Conns, d.opt.EventConcurrency, d.opt.Reps)
	p("@thream/socketio-jwt has no such flow. The Node reference runs socketio-jwt's post-connect flow with its one shim for socket.io 4 (see interop/reference/server.js).\n\n")
	d.statsTable(p, d.rep.Event)
}

func (d *driver) holdSection(p func(string, ...any)) {
	if len(d.rep.Hold) == 0 {
		return
	}
	p("## Messages on held sockets, by server\n\n")
	p("%d sockets held for %s, each emitting `echo` every %s; the server answers `echo-response`.\n\n", d.opt.HoldConns, d.opt.HoldFor, d.opt.HoldInterval)
	p("| server | sent | answered | sockets dropped | server CPU µs/message | problems |\n|---|---:|---:|---:|---:|---|\n")
	for _, s := range d.rep.Hold {
		if s.Soak == nil {
			p("| %s | | | | | %s |\n", s.Key, oneLine(s.Error))
			continue
		}
		p("| %s | %d | %d | %d | %.1f | %s |\n", s.Key, s.Soak.Sent, s.Soak.Received, s.Soak.Dropped, us(s.Soak.CPUPerMessage()), oneLine(s.Error))
	}
	p("\n")
}

func (d *driver) scaleSection(p func(string, ...any)) {
	if len(d.rep.Scale) == 0 {
		return
	}
	sizes := slices.Clone(d.opt.ScaleSizes)
	sort.Ints(sizes)
	p("## Scaling: cost per connection with 1k to 10k open sockets\n\n")
	p("One run per server and size (%d in flight; dial errors and timeouts retried up to 3 times). Memory is the server's RSS with every socket open.\n\n", d.opt.Concurrency)
	p("| server | open sockets | connected | conn/s | CPU µs/conn | KB/conn | RSS base → open (MB) | failures |\n|---|---:|---:|---:|---:|---:|---|---|\n")
	var loads []PhaseLoad
	for _, s := range d.rep.Scale {
		for _, pt := range s.Points {
			var errs []string
			if pt.Error != "" {
				errs = []string{pt.Error}
			}
			p("| %s | %d | %d | %s | %s | %s | %.0f → %.0f | %s |\n", s.Key, pt.Conns, pt.Connected, f0(pt.Rate), f0(pt.CPU), f1(pt.KB), pt.BaseMB, pt.OpenMB, failText(pt.Failures, errs))
			if pt.Load != nil {
				loads = append(loads, *pt.Load)
			}
		}
	}
	p("\n")
	d.loadLine(p, loads)
	d.img(p, "scale-memory.svg", "server memory vs open sockets")
	d.img(p, "scale-cpu.svg", "server CPU per connection vs open sockets")
	p("### Reconnect storm\n\n")
	p("After the %d-socket run, every socket is dropped at once (TCP reset) and all %d reconnect at once with valid tokens (no limit on attempts in flight). ", sizes[len(sizes)-1], sizes[len(sizes)-1])
	p("Settle time runs from the first dial to the last socket connected.\n\n")
	p("| server | reconnected | failed | settle time | p50 | p99 | retried dials | CPU µs/conn | peak RSS MB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range d.rep.Scale {
		st := s.Storm
		if st == nil {
			p("| %s | | | | | | | | (no storm: the largest run failed) |\n", s.Key)
			continue
		}
		p("| %s | %d / %d | %s | %s | %s | %s | %d | %s | %.0f |\n", s.Key, st.Connected, st.Conns, failText(st.Failures, nil),
			st.Settle.Round(10*time.Millisecond), st.P50.Round(time.Millisecond), st.P99.Round(time.Millisecond), st.Retries, f0(st.CPU), st.PeakMB)
	}
	p("\n")
}

func (d *driver) microSection(p func(string, ...any)) {
	m := d.rep.Micro
	if m == nil {
		return
	}
	p("## Verification micro-benchmark (one token, µs per verify)\n\n")
	p("Go: `cd bench && go test -run '^$' -bench . ./verify/` (bare golang-jwt `ParseWithClaims` into `MapClaims`, key parsed once) and the library's `BenchmarkVerify` in core/ (and `BenchmarkVerifyCached`: a token seen before, with the optional verified-token cache, signature check skipped). ")
	p("Node: `node bench/node/verify.js` (`jwt.verify` with the algorithm allowed explicitly), with the key as a `KeyObject` built once and as the secret or PEM string applications usually pass; jsonwebtoken parses a string key on every call. ")
	p("socketio-jwt 4.6.2 verifies with jsonwebtoken 8.5.1 and @thream/socketio-jwt 3.1.4 with its own copy of jsonwebtoken 9.0.2, both given the secret as a string. RSA 2048, P-256, Ed25519 keys. Each figure is the lowest of %d runs: on a shared machine interference only ever adds time.\n\n", microCount)
	p("| algorithm |")
	for _, im := range MicroImpls {
		p(" %s |", im)
	}
	p("\n|---|")
	for range MicroImpls {
		p("---:|")
	}
	p("\n")
	for _, alg := range MicroAlgs {
		p("| %s |", alg)
		for _, im := range MicroImpls {
			v := m.NS[alg][im]
			switch {
			case v > 0:
				p(" %s |", fmtNS(v))
			case m.Unsupported[alg][im] != "":
				p(" unsupported |")
			default:
				p(" n/a |")
			}
		}
		p("\n")
	}
	p("\n")
	if obj, txt := m.NS["HS256"][implJWT9Obj], m.NS["HS256"][implJWT9Text]; obj > 0 && txt > 0 {
		p("jsonwebtoken 9 handed a string secret first tries `crypto.createPublicKey` on it and falls back to `createSecretKey` when that throws, on every call: HS256 costs %s with a string against %s with a KeyObject. ", fmtNS(txt), fmtNS(obj))
		p("That is what @thream/socketio-jwt pays per connection; jsonwebtoken 8 (socketio-jwt) has no such step.\n\n")
	}
	if m.Authenticate > 0 {
		p("The library's whole handshake check (`core` `BenchmarkAuthenticate`: token extraction plus HS256 verification): %s.\n\n", fmtNS(m.Authenticate))
	}
	if len(m.Unsupported) > 0 {
		p("Unsupported: jsonwebtoken 8 and 9 reject `EdDSA` (`%s`).\n\n", oneLine(firstUnsupported(m)))
	}
	for _, e := range m.Errors {
		p("- error: `%s`\n", oneLine(e))
	}
}

func firstUnsupported(m *Micro) string {
	for _, alg := range MicroAlgs {
		for _, im := range MicroImpls {
			if e := m.Unsupported[alg][im]; e != "" {
				return e
			}
		}
	}
	return ""
}

func (d *driver) profileSection(p func(string, ...any)) {
	pr := d.rep.Profile
	if pr == nil {
		return
	}
	p("## Where the time goes: CPU profile of the handshake path\n\n")
	p("Taken with:\n\n```sh\n%s\ngo tool pprof -top -ignore 'coder/websocket|bench/loadgen' profile.test cpu.out\n```\n\n", pr.Command)
	if pr.Error != "" {
		p("Profiling failed: `%s`\n\n", oneLine(pr.Error))
		return
	}
	p("An in-process server built like the fixture's handshake mode (HS256 secret, in-memory revocation store) accepts %d connections from the load generator, 100 in flight (%.0f conn/s with client and server in one process). ", pr.Conns, pr.Rate)
	p("%s of CPU were sampled, %s of it in the load generator's goroutines; the shares below are of the server's %s. ", pr.Total, pr.Client, pr.Total-pr.Client)
	p("Each sample is charged to the first frame, from the leaf up, in a package of interest (so an allocation or a syscall is charged to the code that made it).\n\n")
	p("| where | share of server CPU |\n|---|---:|\n")
	for _, c := range pr.Categories {
		p("| %s | %.0f %% |\n", c.Name, 100*c.Share)
	}
	p("\n")
	p("Reading: %s\n\n", d.profileReading())
	d.layerSection(p)
	p("<details><summary><code>go tool pprof -top</code> (server samples only: <code>-ignore 'coder/websocket|bench/loadgen'</code>)</summary>\n\n```\n%s\n```\n\n</details>\n\n", pr.Top)
}

// layerSection splits the time under the library's frames by what the
// innermost library frame was doing.
func (d *driver) layerSection(p func(string, ...any)) {
	pr := d.rep.Profile
	server := pr.Total - pr.Client
	if len(pr.Layer) == 0 || server <= 0 || pr.Conns == 0 {
		return
	}
	p("### What runs under the library's frames\n\n")
	p("Every server sample with a frame of the library on its stack (%s, %.1f µs per connection, %.1f %% of the server's CPU: %.1f %% over the rest of the server's work), split by what the innermost library frame was doing: the frames it called decide (a call into the server library, into golang-jwt or crypto, an allocation, a timer or clock read, a lock), and samples in the library's own frames go to its core or to the binding. Work the adapter wrapper only passes on to the wrapped adapter of the server library, which the bare server does as well, is left out. ", pr.Library, us(pr.Library)/float64(pr.Conns), 100*float64(pr.Library)/float64(server), 100*float64(pr.Library)/float64(server-pr.Library))
	p("The profile samples 100 times a second (10 ms a sample); the kernel delivers the profiling signal at most once a tick, so a finer profile needs more connections, not a higher rate: %d connections give the library's frames about %.0f samples.\n\n", pr.Conns, float64(pr.Library)/float64(10*time.Millisecond))
	p("| what the library's frames were doing | µs per connection | share of the server's CPU | samples |\n|---|---:|---:|---:|\n")
	for _, c := range pr.Layer {
		p("| %s | %.1f | %.2f %% | %.0f |\n", c.Name, us(c.Time)/float64(pr.Conns), 100*c.Share, float64(c.Time)/float64(10*time.Millisecond))
	}
	p("\n")
	share := map[string]float64{}
	for _, c := range pr.Layer {
		share[c.Name] = 100 * c.Share
	}
	check := share[kindVerify] + share[kindCore]
	lib := share[kindServerLib]
	own := 100*float64(pr.Library)/float64(server) - check - lib
	p("Reading: of the %.1f %% under the library's frames, the token check itself (signature, parsing, claims) is %.1f points; calls the binding makes into the server library are %.1f points; the binding's own work (its code, its allocations, locks, timers and clock reads) is %.1f points. ", 100*float64(pr.Library)/float64(server), check, lib, own)
	p("The server-library calls are how a binding has to reach a socket's life in zishang520 v3.0.6: it tells of a socket's events only through listeners on its event emitters (`On`, `Once`, `RemoveListener`, each a locked map and slice per event name), and the early-packet hold (`earlypacket.go`) works around its CONNECT-before-register race with a listener on the connection. Their cost is the emitter's, and it cannot be lowered from outside the server library. ")
	p("Not in the table: the collector's background work for the binding's allocations, charged to the garbage collector above (the binding's share of the bytes allocated per connection is in \"In process, per feature\").\n\n")
	if len(pr.Parts) == 0 {
		return
	}
	p("The same samples by the part of the library they ran in (the innermost library frame, its clock and recover helpers passed over), each with what it calls in the server library, the runtime and golang-jwt: the price of each part per connection, the parts that are always on included. A part with a handful of samples is priced to within a few tenths of a µs at best.\n\n")
	p("| part of the library | µs per connection | share of the server's CPU | samples |\n|---|---:|---:|---:|\n")
	for _, c := range pr.Parts {
		p("| %s | %.1f | %.2f %% | %.0f |\n", c.Name, us(c.Time)/float64(pr.Conns), 100*c.Share, float64(c.Time)/float64(10*time.Millisecond))
	}
	p("\n")
}

// profileReading turns the category shares into a few sentences.
func (d *driver) profileReading() string {
	pr := d.rep.Profile
	share := map[string]float64{}
	for _, c := range pr.Categories {
		share[c.Name] = 100 * c.Share
	}
	lib := share["token verification (golang-jwt, crypto)"] + share["siojwt core (extraction, claims, checks)"] + share["siojwt binding (sessions, revocation, isolation)"]
	transport := share["Socket.IO / Engine.IO server (zishang520)"] + share["websocket server (gorilla/websocket)"] + share["net/http (accept, request parsing)"]
	rt := share[catRuntime] + share[catGC]
	var parts []string
	parts = append(parts, fmt.Sprintf("charged to the code that did the work, authentication (golang-jwt, the core and the binding) is %.0f %% of the server's CPU, of which the signature check and JWT parsing in golang-jwt are %.0f points.", lib, share["token verification (golang-jwt, crypto)"]))
	if server := pr.Total - pr.Client; server > 0 {
		parts = append(parts, fmt.Sprintf("Counting everything that runs under a frame of the library (including what it calls in the server library, allocation and timers), it is %.0f %% (%.0f µs per connection).",
			100*float64(pr.Library)/float64(server), us(pr.Library)/float64(pr.Conns)))
	}
	parts = append(parts, fmt.Sprintf("The transport stack (HTTP upgrade, websocket, Engine.IO and Socket.IO in zishang520) takes %.0f %%, and the Go runtime (scheduling, network polling, syscalls, background GC) %.0f %%.", transport, rt))
	if lib < transport {
		parts = append(parts, "Making the token check cheaper would change the cost of a connection little: the server library's own per-connection work dominates.")
	} else {
		parts = append(parts, "The token check dominates the cost of a connection: this is where optimisation would pay.")
	}
	return strings.Join(parts, " ")
}

// settle is the pause before memory is read (see driver.once).
func (d *driver) settle() time.Duration {
	if d.opt.Smoke {
		return 200 * time.Millisecond
	}
	return time.Second
}
