package bench

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/siojwt/siojwt/bench/loadgen"
)

// deflated is the median share of connections on which permessage-deflate
// was negotiated.
func deflated(s *Stats) float64 {
	var xs []float64
	for _, r := range s.Runs {
		if r.Connect.Connected > 0 {
			xs = append(xs, float64(r.Connect.Deflated)/float64(r.Connect.Connected))
		}
	}
	return median(xs)
}

func (d *driver) tuningSection(p func(string, ...any)) {
	t := d.rep.Tuning
	if t == nil || len(t.Variants) == 0 {
		return
	}
	p("## Tuning the server library\n\n")
	bare := t.variant("bare")
	p("The bare Go server (zishang520/socket.io v3.0.6, no authentication) is most of a connection's cost. ")
	p("Each option of its server types (`socket.ServerOptions` of servers/socket/v3, engine `config.ServerOptions` of servers/engine/v3) that can change the work per connection, and two Go runtime settings, ")
	p("priced on the bare server (`bench/cmd/baresrv` flags) and on the fixture: %d connections per run, %d in flight, %d interleaved repetition(s), medians; memory read after a %s pause. ", d.opt.TuneConns, d.opt.Concurrency, d.opt.TuneReps, tuneSettle)
	p("Δ is against the server's default (or the row named); it is **bold** when the CPU ranges of the two do not overlap (every run of one cheaper than every run of the other), \"within noise\" otherwise. ")
	p("Goroutines and heap allocations per connection come from the server's own `/metrics` (Go collector), read just before the connect phase and with every connection open.\n\n")
	p("| variant | change | CPU µs/conn | CPU range | Δ CPU | KB/conn | Δ KB | goroutines / socket | allocations / conn | failures |\n")
	p("|---|---|---:|---:|---|---:|---:|---:|---:|---|\n")
	for _, v := range t.Variants {
		delta, dkb := "", ""
		if b := t.variant(v.Base); b != nil && v.Base != "" {
			delta, _ = tuneDelta(v.Stats, b.Stats)
			if v.Base != v.Server {
				delta += " vs " + v.Base
			}
			dkb = fmt.Sprintf("%+.1f", v.KB-b.KB)
		}
		change := v.Change
		if change == "" {
			change = "(default)"
		}
		name := v.Key
		if v.Tuned {
			name = "**" + name + "**"
		}
		p("| %s: %s | %s | %s | %s–%s | %s | %s | %s | %s | %s | %s |\n", name, v.Label, change, f0(v.CPU), f0(v.CPULo), f0(v.CPUHi), delta,
			f1(v.KB), dkb, f2(v.Goroutines), allocText(v.Stats), failText(v.Failures, v.Errors))
	}
	p("\n")
	for _, v := range t.Variants {
		for _, e := range v.Errors {
			p("- %s: `%s`\n", v.Key, oneLine(e))
		}
	}
	var vs []*Stats
	for _, v := range t.Variants {
		vs = append(vs, v.Stats)
	}
	d.loadLine(p, statsLoads(vs))
	if v, idle := t.variant("bare-ping"), bare; v != nil && idle != nil && !math.IsNaN(v.HoldCPU) && !math.IsNaN(idle.HoldCPU) && v.PingInterval > 0 {
		ping := (v.HoldCPU - idle.HoldCPU) * v.PingInterval.Seconds()
		p("- Heartbeat: held idle for 4 s, the bare server spent %.1f µs per socket and second with the default ping (none falls in 4 s) and %.1f µs with a ping every %s: %.1f µs per ping round trip (ping written, pong read, timers re-armed). At the default 25 s interval that is %.1f µs per socket per minute, %.2f %% of a core for 10 000 sockets: the interval is a liveness choice, not a cost one.\n",
			idle.HoldCPU, v.HoldCPU, v.PingInterval, ping, ping*60/25, ping*10000/25/1e4)
	}
	if v := t.variant("bare-deflate"); v != nil && len(v.Runs) > 0 {
		p("- permessage-deflate was negotiated on %.0f %% of the connections of its row. gorilla/websocket compresses without context takeover, with pooled compressors, and the server compresses only messages of at least the threshold (1 KB here): a handshake's packets are smaller, so the connection itself costs about the same; the price is paid per large message.\n", 100*deflated(v.Stats))
	}
	if pv, b := t.variant("bare-polling"), bare; pv != nil && b != nil {
		p("- The largest factor is not a server option but the client's transports: starting with long-polling (socket.io-client's default `[\"polling\", \"websocket\"]`: an HTTP handshake, the CONNECT over a POST and a GET, then the websocket probe and upgrade) costs %s µs per connection on the bare server against %s µs for a direct websocket (%s).", f0(pv.CPU), f0(b.CPU), ratio(pv.CPU, b.CPU))
		if fp, f := t.variant("fixture-polling"), t.variant("fixture"); fp != nil && f != nil {
			p(" On the fixture: %s µs against %s µs (%s).", f0(fp.CPU), f0(f.CPU), ratio(fp.CPU, f.CPU))
		}
		p(" Serving only websocket (`SetTransports`) makes clients that do not ask for `transports: [\"websocket\"]` fail, so it is a decision about the clients.\n")
	}
	p("- Not priced, from the server library's source: `SetServeClient` attaches the client bundle only when the Socket.IO server owns the HTTP server (`Listen`/`Attach`), not with `ServeHandler` as mounted here and by the library; `SetCleanupEmptyChildNamespaces` concerns child namespaces of dynamic (regexp or function) parents only; the connect timeout is one timer set when the Engine.IO connection opens and cleared at the first namespace CONNECT whatever its value; `SetUpgradeTimeout` and `SetAllowUpgrades` matter only with a long-polling start.\n\n")

	p("### Recommended configuration\n\n")
	p("```go\n")
	p("opts := socket.DefaultServerOptions()\n")
	p("// Websocket only: clients connect with transports: [\"websocket\"]. A long-polling\n// start costs about %s more per connection (table above).\n", ratioText(t.variant("bare-polling"), bare))
	p("opts.SetTransports(types.NewSet(engine.WebSocket))\n")
	p("opts.SetHttpCompression(nil)        // no long-polling answers left to compress\n")
	p("opts.SetMaxHttpBufferSize(64 << 10) // 64 KB messages: a smaller denial-of-service surface, same CPU\n")
	p("// Leave unset unless needed: SetPerMessageDeflate (costs per large message),\n// SetConnectionStateRecovery (keeps sessions and packets; the library re-checks\n// recovered sockets). Keep the ping at 25 s / 20 s.\n")
	p("io := socket.NewServer(nil, opts)\n")
	p("mux.Handle(\"/socket.io/\", io.ServeHandler(opts))\n")
	g := t.variant("bare-gogc200")
	gcHelps := false
	if g != nil && bare != nil {
		delta, beyond := tuneDelta(g.Stats, bare.Stats)
		gcHelps = beyond && g.CPU < bare.CPU
		if gcHelps {
			p("\n// GOGC=200 (or, at start-up, debug.SetGCPercent(200)) measured %s per connection\n// for %+.1f KB: fewer collections for a larger heap. With a memory limit, so that\n// the heap cannot outgrow the machine:\ndebug.SetGCPercent(200)\ndebug.SetMemoryLimit(limit) // for example 80 %% of the memory the process may use\n", strings.Trim(delta, "*"), g.KB-bare.KB)
		} else {
			p("\n// The Go GC stays at its default: GOGC=200 measured %s per connection here.\n", strings.Trim(delta, "*"))
		}
	}
	p("```\n\n")
	p("Gain of the recommended configuration, per connection:\n\n")
	for _, c := range [][3]string{{"bare-tuned", "bare", "bare-polling"}, {"fixture-tuned", "fixture", "fixture-polling"}} {
		tv, b, pv := t.variant(c[0]), t.variant(c[1]), t.variant(c[2])
		if tv == nil || b == nil {
			continue
		}
		delta, _ := tuneDelta(tv.Stats, b.Stats)
		p("- %s: %s µs, against %s µs with the server's defaults and clients that dial the websocket directly (%s; %s KB per open connection against %s KB)", c[1], f0(tv.CPU), f0(b.CPU), delta, f1(tv.KB), f1(b.KB))
		if pv != nil {
			dp, _ := tuneDelta(tv.Stats, pv.Stats)
			p(", and against %s µs with the defaults of both sides, socket.io-client starting with long-polling (%s)", f0(pv.CPU), dp)
		}
		p(".\n")
	}
	if tv := t.variant("bare-tuned"); tv != nil && bare != nil {
		if delta, beyond := tuneDelta(tv.Stats, bare.Stats); beyond && tv.CPU < bare.CPU {
			p("\nThe configuration also made a direct websocket connection to the bare server cheaper in this run (%s); beyond that, ", strings.Trim(delta, "*"))
		} else {
			p("\nFor clients that already dial the websocket, no server option makes a connection measurably cheaper (bare server: %s); ", delta)
		}
		p("what the configuration buys is the removal of the long-polling path (its CPU, its HTTP compression, its sticky-session needs), a smaller message limit, and nothing that costs per connection. ")
	}
	if g != nil && bare != nil {
		delta, _ := tuneDelta(g.Stats, bare.Stats)
		p("GOGC=200 measured %s on the bare server for %+.1f KB per open connection.", strings.Trim(delta, "*"), g.KB-bare.KB)
	}
	p("\n\n")
	d.upstreamSection(p)
}

func ratioText(v, base *TuneVariant) string {
	if v == nil || base == nil {
		return "twice as much"
	}
	return ratio(v.CPU, base.CPU)
}

func allocText(s *Stats) string {
	if math.IsNaN(s.Allocs) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f (%.1f KB)", s.Allocs, s.AllocKB)
}

func f2(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", v)
}

// upstreamSection reports where the server library's own work dominates,
// from the bare server's profile.
func (d *driver) upstreamSection(p func(string, ...any)) {
	t := d.rep.Tuning
	sp := t.Profile
	if sp == nil {
		return
	}
	p("### Where the server library dominates (for an upstream report)\n\n")
	if sp.Error != "" {
		p("Profiling the bare server failed: `%s`\n\n", oneLine(sp.Error))
		return
	}
	bare := t.variant("bare")
	var moved []string
	for _, v := range t.Variants {
		if b := t.variant(v.Base); b != nil && v.Base == "bare" && strings.HasPrefix(v.Change, "`opts.") && v.PingInterval == 0 {
			if text, beyond := tuneDelta(v.Stats, b.Stats); beyond {
				moved = append(moved, fmt.Sprintf("%s (%s)", v.Change, strings.Trim(text, "*")))
			}
		}
	}
	if len(moved) == 0 {
		p("No server option changes the cost of a direct websocket connection beyond the run-to-run noise: the cost is the server library's own work. ")
	} else {
		p("Of the server options, only %s changed the cost of a direct websocket connection beyond the run-to-run noise in this run; the rest of the cost is the server library's own work. ", strings.Join(moved, ", "))
	}
	if bare != nil {
		p("Per websocket connection the bare server spends %s µs of CPU, makes %s heap allocations and starts %s goroutines that live as long as the socket. ", f0(bare.CPU), allocText(bare.Stats), f2(bare.Goroutines))
	}
	p("A CPU profile of the bare server accepting %d connections (%s µs per connection during the profile; %s sampled, shares of all samples):\n\n", sp.Conns, f0(sp.CPU), sp.Sampled)
	p("```sh\n%s\n```\n\n", sp.Command)
	p("| function | cumulative | own |\n|---|---:|---:|\n")
	for _, r := range sp.Rows {
		p("| `%s` | %.1f %% | %.1f %% |\n", r.Func, r.CumPct, r.FlatPct)
	}
	p("\n")
	var parts []string
	find := func(name string) *ProfileRow {
		for i := range sp.Rows {
			if sp.Rows[i].Func == name {
				return &sp.Rows[i]
			}
		}
		return nil
	}
	if r := find("runtime.newstack"); r != nil {
		parts = append(parts, fmt.Sprintf("goroutine stack growth (`runtime.newstack`, %.0f %%): the per-connection goroutines outgrow their initial stack in the deep, callback-based call chains of the event emitter and the transports (`types.(*emmiter).Emit`, `transports.StartReader`, `queue.(*Queue).loop`), although the runtime already starts goroutines at the average stack size it has seen (`GODEBUG=adaptivestackstart`, on by default)", r.CumPct))
	}
	if r := find("runtime.mallocgc"); r != nil {
		gc := find("runtime.gcBgMarkWorker")
		g := 0.0
		if gc != nil {
			g = gc.CumPct
		}
		parts = append(parts, fmt.Sprintf("allocation (`runtime.mallocgc`, %.0f %%) and the collections it causes (background marking %.0f %%): string and buffer copies of every packet (`types.NewStringBuffer`, the parsers' encode and decode), maps and event-emitter listener slices per socket", r.CumPct, g))
	}
	if len(parts) > 0 {
		p("Reading: %s. These are in the server library and cannot be tuned from outside; reducing the allocations per packet and the depth of the emitter chains would cut the cost of a connection for every user.\n\n", strings.Join(parts, "; "))
	}
}

func (d *driver) soakSection(p func(string, ...any)) {
	s := d.rep.Soak
	if s == nil {
		return
	}
	p("## Soak: %d authenticated sockets for %s\n\n", s.Conns, durText(s.Hold))
	p("```sh\ncd bench && go run ./cmd/soak -n %d -for %s\n```\n\n", s.Conns, durText(s.Hold))
	p("The fixture (handshake mode, HS256, `-pprof`, `-close-reasons`) accepts %d sockets from the load generator, each with its own token; every socket emits `echo` every %s for %s and the server answers each with `echo-response`. ", s.Conns, durText(s.Interval), durText(s.Hold))
	p("Then every socket closes. Goroutines and memory are read from the fixture's `/metrics` (Prometheus Go and process collectors) and its `/proc/PID/status`; the baseline is taken after 100 warm-up connections and a forced garbage collection (`/debug/pprof/heap?gc=1`). ")
	p("A short version (200 sockets for 5 s) runs in the bench module's `go test .` (`TestSoakShort`). Open-file limit: %d (raised in-process). A socket the server closes during the hold fails the soak; the report gives how the load generator saw it end (with its last packet and its last ping and pong) and the server library's reason for the closes of the hold (the fixture's `fixture_engine_closes_total`).\n\n", s.FileLimit)
	if s.Connected == 0 && len(s.Problems) > 0 {
		p("The soak could not run: `%s`\n\n", oneLine(strings.Join(s.Problems, "; ")))
		return
	}
	p("| | |\n|---|---|\n")
	p("| sockets | %d connected of %d, failures: %s |\n", s.Connected, s.Conns, failText(s.Failures, nil))
	p("| messages | %d sent, %d answered |\n", s.Sent, s.Answered)
	p("| sockets closed by the server during the hold | %d", s.Dropped)
	if s.Dropped > 0 {
		p(" (%s)", oneLine(dropCauses(s)))
	}
	p(" |\n")
	p("| server CPU | %.0f µs per connection, %.1f µs per message |\n", s.ConnectCPU, s.MessageCPU)
	p("| goroutines per open socket | %.2f (the server library's reader and writer; the library adds none) |\n", s.GoroutinesPerSocket())
	p("| whole soak | %s |\n", s.Elapsed.Round(time.Second))
	p("| result | %s |\n\n", soakVerdict(s))
	if len(s.Drops) > 0 {
		p("The dropped sockets, as the load generator saw them (the first %d):\n\n", loadgen.MaxDrops)
		for _, d := range s.Drops {
			p("- %s\n", oneLine(d.String()))
		}
		p("\n")
	}
	if s.ServerCloses[pongReceived] > 0 {
		p("%s\n\n", pongReceivedText)
	}
	p("| | before | during (peak) | after close | after a forced GC |\n|---|---:|---:|---:|---:|\n")
	back := "not back"
	if s.BackIn >= 0 {
		back = "back in " + s.BackIn.Round(time.Millisecond).String()
	}
	p("| goroutines | %.0f | %.0f | %.0f (%s) | %.0f |\n", s.Before.Goroutines, s.Peak.Goroutines, s.After.Goroutines, back, s.AfterGC.Goroutines)
	p("| RSS, /proc VmRSS | %.1f MB | %.1f MB | %.1f MB | %.1f MB |\n", mib(s.Before.RSS), mib(s.Peak.RSS), mib(s.After.RSS), mib(s.AfterGC.RSS))
	p("| RSS, process_resident_memory_bytes | %.1f MB | %.1f MB | %.1f MB | %.1f MB |\n", s.Before.MetricRSS/(1<<20), s.Peak.MetricRSS/(1<<20), s.After.MetricRSS/(1<<20), s.AfterGC.MetricRSS/(1<<20))
	p("| Go heap, go_memstats_heap_alloc_bytes | %.1f MB | %.1f MB | %.1f MB | %.1f MB |\n\n", s.Before.HeapAlloc/(1<<20), s.Peak.HeapAlloc/(1<<20), s.After.HeapAlloc/(1<<20), s.AfterGC.HeapAlloc/(1<<20))
	growth := s.SecondHeap - s.AfterGC.HeapAlloc
	if s.BackIn >= 0 {
		p("Reading: the goroutines come back to the baseline (within %d) %s after the last socket closed. ", s.Slack, s.BackIn.Round(time.Millisecond))
	} else {
		p("Reading: **the goroutines did not come back to the baseline** (within %d). ", s.Slack)
	}
	p("Memory does not return at once: right after the close the heap still holds the closed sockets' garbage and RSS stays at its high-water mark until a collection runs (an idle Go program collects at least every two minutes); ")
	p("after a forced collection the runtime hands the freed pages back to the OS within seconds (%.0f MB → %.0f MB). ", mib(s.After.RSS), mib(s.AfterGC.RSS))
	p("The live heap then is %.1f MB against %.1f MB at the start: the runtime keeps the descriptors of exited goroutines for reuse and maps keep their high-water size. ", s.AfterGC.HeapAlloc/(1<<20), s.Before.HeapAlloc/(1<<20))
	if growth <= soakGrowthLimit(s.Conns) {
		p("It is not a leak: a second cycle of %d sockets (connect, close, no messages) changed it by %+.1f MB (a leak of 256 bytes per socket would be %+.1f MB).\n\n", s.Conns, growth/(1<<20), 256*float64(s.Conns)/(1<<20))
	} else {
		p("**It keeps growing**: a second cycle of %d sockets (connect, close, no messages) added %.1f MB, %.0f bytes per socket.\n\n", s.Conns, growth/(1<<20), growth/float64(s.Conns))
	}
}

func soakVerdict(s *SoakResult) string {
	if len(s.Problems) == 0 {
		return "passed: 0 failures, every message answered, goroutines back to the baseline"
	}
	return "**failed**: " + oneLine(strings.Join(s.Problems, "; "))
}

// durText prints 1m0s as 1m and 5s as 5s.
func durText(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "m0s")
	if s != d.String() {
		s += "m"
	}
	return s
}
