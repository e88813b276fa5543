package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/siojwt/siojwt/bench/loadgen"
)

// Tuning is the server-library part of the run: each option of
// zishang520/socket.io priced per connection on the bare server and on the
// fixture, and a CPU profile of the bare server.
type Tuning struct {
	// Variants in table order; each is compared with its Base.
	Variants []*TuneVariant
	// Profile is the bare server's CPU profile under connections.
	Profile *ServerProfile
}

// TuneVariant is one configuration of one server.
type TuneVariant struct {
	*Stats
	// Server is "bare" (bench/cmd/baresrv) or "fixture" (the library).
	Server string
	// Change is what differs from Base, as Go or as an environment
	// variable; empty for a default.
	Change string
	// Base is the key of the variant this one is compared with (empty for
	// a default).
	Base string
	// Tuned marks the recommended configuration.
	Tuned bool
}

// ServerProfile is a CPU profile of the bare server while it accepts
// connections.
type ServerProfile struct {
	Command string
	Conns   int
	// CPU is the server's CPU per connection during the profiled run.
	CPU float64
	// Rows are `go tool pprof -top -cum` lines of the server library,
	// gorilla/websocket, net/http and the runtime's stack growth and GC.
	Rows []ProfileRow
	// Sampled is the profile's total sampled time.
	Sampled time.Duration
	Error   string
}

// ProfileRow is one function of a profile: its own and cumulative share.
type ProfileRow struct {
	Func            string
	Flat, Cum       time.Duration
	FlatPct, CumPct float64
}

// tuneSettle is the pause before memory is read in the tuning runs.
const tuneSettle = 500 * time.Millisecond

// tunedBareArgs is the recommended configuration: websocket only with no
// HTTP compression, and a 64 KB message limit (the fixture: -ws-only).
var tunedBareArgs = []string{"-transports", "websocket", "-http-compression", "-1", "-max-buffer", "65536"}

// tuneVariants lists the configurations measured. The load generator's
// clients dial the websocket directly unless polling is set.
func (d *driver) tuneVariants() ([]*TuneVariant, []peer) {
	bare := filepath.Join(d.bin, "baresrv")
	fixture := filepath.Join(d.bin, "fixture")
	addr := []string{"-addr", "127.0.0.1:0"}
	type v struct {
		key, label, change, base string
		args, env                []string
		polling, compress, tuned bool
		hold, ping               time.Duration
		fixture                  bool
	}
	vs := []v{
		{key: "bare", label: "bare server, `socket.DefaultServerOptions()`: polling + websocket, upgrades, no permessage-deflate, HTTP compression from 1 KB, ping 25 s / 20 s, no recovery, maxHttpBufferSize 1 MB, connect timeout 45 s; sockets then held idle 4 s", hold: 4 * time.Second},
		{key: "bare-ws-only", label: "websocket transport only", change: "`opts.SetTransports(types.NewSet(engine.WebSocket))`", args: []string{"-transports", "websocket"}},
		{key: "bare-deflate", label: "permessage-deflate on (the clients offer it, as browsers do)", change: "`opts.SetPerMessageDeflate(&types.PerMessageDeflate{Threshold: 1024})`", args: []string{"-deflate", "1024"}, compress: true},
		{key: "bare-recovery", label: "connection-state recovery", change: "`opts.SetConnectionStateRecovery(socket.DefaultConnectionStateRecovery())`", args: []string{"-recovery"}},
		{key: "bare-max-buffer", label: "message limit 64 KB instead of 1 MB", change: "`opts.SetMaxHttpBufferSize(64 << 10)`", args: []string{"-max-buffer", "65536"}},
		{key: "bare-ping", label: "ping every 500 ms, sockets held idle 4 s (cost per ping)", change: "`opts.SetPingInterval(500 * time.Millisecond)`", args: []string{"-ping-interval", "500ms", "-ping-timeout", "5s"}, hold: 4 * time.Second, ping: 500 * time.Millisecond},
		{key: "bare-gogc200", label: "Go GC target 200 % (heap may grow to 3× the live heap)", change: "`GOGC=200` or `debug.SetGCPercent(200)`", env: []string{"GOGC=200"}},
		{key: "bare-polling", label: "clients start with long-polling and upgrade (socket.io-client's default transports)", change: "client `transports: [\"polling\", \"websocket\"]`", polling: true},
		{key: "bare-polling-no-gzip", label: "long-polling start, HTTP compression off", change: "`opts.SetHttpCompression(nil)`", args: []string{"-http-compression", "-1"}, polling: true, base: "bare-polling"},
		{key: "bare-tuned", label: "recommended: websocket only, no HTTP compression, 64 KB limit", change: "all of the recommended configuration", args: tunedBareArgs, tuned: true},
		{key: "fixture", label: "fixture (siojwt, handshake mode, HS256), server library defaults", fixture: true},
		{key: "fixture-polling", label: "fixture, clients start with long-polling and upgrade", change: "client `transports: [\"polling\", \"websocket\"]`", fixture: true, polling: true},
		{key: "fixture-tuned", label: "fixture, recommended: `-ws-only` (websocket only, no HTTP compression)", change: "all of the recommended configuration", args: []string{"-ws-only"}, fixture: true, tuned: true},
	}
	if d.opt.Smoke {
		keep := map[string]bool{"bare": true, "bare-ping": true, "bare-polling": true, "fixture": true, "fixture-tuned": true}
		var small []v
		for _, x := range vs {
			if keep[x.key] {
				small = append(small, x)
			}
		}
		vs = small
	}
	var out []*TuneVariant
	var peers []peer
	for _, x := range vs {
		server, argv := "bare", append([]string{bare}, addr...)
		if x.fixture {
			if !d.fixture {
				continue
			}
			server, argv = "fixture", append([]string{fixture, "-mode", "handshake"}, addr...)
		}
		base := x.base
		if base == "" && x.change != "" {
			base = server
		}
		p := peer{key: x.key, label: x.label, argv: append(argv, x.args...), env: x.env, mode: loadgen.ModeAuth,
			polling: x.polling, compress: x.compress, hold: x.hold, ping: x.ping, metrics: true}
		out = append(out, &TuneVariant{Stats: &Stats{Key: x.key, Label: x.label}, Server: server, Change: x.change, Base: base, Tuned: x.tuned})
		peers = append(peers, p)
	}
	return out, peers
}

func (d *driver) tune(ctx context.Context, tmp string) *Tuning {
	vs, peers := d.tuneVariants()
	t := &Tuning{Variants: vs}
	stats := d.measure(ctx, "tuning", peers, d.opt.TuneReps, loadgen.Config{
		Conns: d.opt.TuneConns, Concurrency: d.opt.Concurrency, CloseWait: 100 * time.Millisecond, Settle: tuneSettle,
	})
	for i, s := range stats {
		t.Variants[i].Stats = s
	}
	if d.opt.ProfileConns > 0 && ctx.Err() == nil {
		t.Profile = d.serverProfile(ctx, tmp)
	}
	return t
}

// variant returns the variant with key k, or nil.
func (t *Tuning) variant(k string) *TuneVariant {
	for _, v := range t.Variants {
		if v.Key == k {
			return v
		}
	}
	return nil
}

// profileKeep selects the rows of the bare server's profile worth
// reporting upstream.
var profileKeep = regexp.MustCompile(`zishang520/|gorilla/websocket|^net/http\.\(\*conn\)\.serve$|^runtime\.(newstack|copystack|gcBgMarkWorker|gcAssistAlloc|mallocgc|newproc1?)$`)

// serverProfile profiles the bare server (baresrv -cpuprofile) while it
// accepts ProfileConns connections.
func (d *driver) serverProfile(ctx context.Context, tmp string) *ServerProfile {
	prof := filepath.Join(tmp, "bare-cpu.out")
	bin := filepath.Join(d.bin, "baresrv")
	sp := &ServerProfile{Conns: d.opt.ProfileConns,
		Command: fmt.Sprintf("bin/baresrv -cpuprofile cpu.out & bin/loadgen -url … -n %d -c %d; kill %%1\ngo tool pprof -top -cum bin/baresrv cpu.out", d.opt.ProfileConns, d.opt.Concurrency)}
	d.logf("server profile: %d connections to the bare server", sp.Conns)
	p := peer{key: "bare-profile", argv: []string{bin, "-addr", "127.0.0.1:0", "-cpuprofile", prof}, mode: loadgen.ModeAuth}
	res, err := d.once(ctx, p, loadgen.Config{Conns: sp.Conns, Concurrency: d.opt.Concurrency, CloseWait: 100 * time.Millisecond})
	if err != nil {
		sp.Error = err.Error()
		return sp
	}
	sp.CPU = us(res.Connect.CPUPerConn())
	if _, err := os.Stat(prof); err != nil {
		sp.Error = "no profile written: " + err.Error()
		return sp
	}
	out, err := commandOutput(ctx, d.opt.Root, "go", "tool", "pprof", "-top", "-cum", "-nodecount", "400", bin, prof)
	if err != nil {
		sp.Error = err.Error()
		return sp
	}
	sp.Sampled, sp.Rows = parseTop(out)
	var keep []ProfileRow
	for _, r := range sp.Rows {
		if profileKeep.MatchString(r.Func) && len(keep) < 24 {
			keep = append(keep, r)
		}
	}
	sp.Rows = keep
	return sp
}

var (
	topTotal = regexp.MustCompile(`Total samples = ([0-9.]+[a-zµ]*s)`)
	topLine  = regexp.MustCompile(`^\s*([0-9.]+[a-zµ]*s|0)\s+([0-9.]+)%\s+[0-9.]+%\s+([0-9.]+[a-zµ]*s|0)\s+([0-9.]+)%\s+(.+)$`)
)

// parseTop reads `go tool pprof -top` output: the total sampled time and
// one row per function.
func parseTop(out string) (time.Duration, []ProfileRow) {
	var total time.Duration
	if m := topTotal.FindStringSubmatch(out); m != nil {
		total, _ = parseDur(m[1])
	}
	var rows []ProfileRow
	for line := range strings.SplitSeq(out, "\n") {
		m := topLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		flat, err1 := parseDur(m[1])
		cum, err2 := parseDur(m[3])
		fp, err3 := strconv.ParseFloat(m[2], 64)
		cp, err4 := strconv.ParseFloat(m[4], 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			continue
		}
		rows = append(rows, ProfileRow{Func: strings.TrimSuffix(strings.TrimSpace(m[5]), " (inline)"), Flat: flat, Cum: cum, FlatPct: fp, CumPct: cp})
	}
	return total, rows
}

// parseDur parses pprof's durations ("0", "10ms", "1.5s", "30µs").
func parseDur(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	return time.ParseDuration(strings.Replace(s, "µ", "u", 1))
}

// tuneDelta describes v.CPU - base.CPU and whether it is beyond the
// noise: whether every run of one was cheaper than every run of the other
// (the CPU ranges do not overlap).
func tuneDelta(v, base *Stats) (text string, beyondNoise bool) {
	diff := v.CPU - base.CPU
	if math.IsNaN(diff) {
		return "n/a", false
	}
	pct := 100 * diff / base.CPU
	if !(v.CPUHi < base.CPULo || v.CPULo > base.CPUHi) {
		return fmt.Sprintf("%+.0f µs (%+.0f %%), within noise", diff, pct), false
	}
	return fmt.Sprintf("**%+.0f µs (%+.0f %%)**", diff, pct), true
}
