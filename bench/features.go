package bench

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
)

// Keys of the features part's reference rows.
const (
	featOff = "go-siojwt-off"
	featAll = "go-siojwt"
)

// featureOff are the fixture flags that switch every optional feature of
// the binding off (the failure limiter is off unless -fail-limit).
var featureOff = []string{"-no-revocation", "-no-metrics", "-no-expiry"}

// featurePeers are the rows of the features part: the bare servers, the
// fixture with every optional feature off, with each one on alone, and
// with the fixture's defaults.
func (d *driver) featurePeers() []peer {
	bare := filepath.Join(d.bin, "baresrv")
	fixture := filepath.Join(d.bin, "fixture")
	addr := []string{"-addr", "127.0.0.1:0"}
	without := func(flag string) []string {
		return slices.DeleteFunc(slices.Clone(featureOff), func(f string) bool { return f == flag })
	}
	peers := []peer{
		{key: "go-bare", label: "Go socket.io, no auth", argv: append([]string{bare}, addr...)},
		{key: "go-jwt", label: "Go socket.io + bare golang-jwt HS256 check in a middleware", argv: append([]string{bare, "-jwt"}, addr...)},
	}
	for _, r := range []struct {
		key, label string
		args       []string
	}{
		{featOff, "fixture, HS256, every optional feature off: no revocation store, no metrics hook, no expiry timer, no failure limiter (`-no-revocation -no-metrics -no-expiry`)", featureOff},
		{"go-siojwt+expiry", "+ expiry: each socket's deadline in the one queue that cuts it when its token expires (`siojwt` default)", without("-no-expiry")},
		{"go-siojwt+revocation", "+ revocation: the token checked against an in-memory revocation store (`WithRevocationStore(revoke.NewMemory())`)", without("-no-revocation")},
		{"go-siojwt+metrics", "+ metrics: the Prometheus hook of package metrics (`WithHook(collector.Observe)`)", without("-no-metrics")},
		{"go-siojwt+limiter", "+ failure limiter (`WithFailureLimit`, `-fail-limit 20`): it counts failed authentications only", append(slices.Clone(featureOff), "-fail-limit", "20")},
		{featAll, "the fixture's defaults: expiry, revocation and metrics on, no failure limiter (the handshake table's go-siojwt)", nil},
	} {
		argv := append([]string{fixture, "-mode", "handshake"}, addr...)
		peers = append(peers, peer{key: r.key, label: r.label, argv: append(argv, r.args...)})
	}
	for i := range peers {
		peers[i].metrics = true // the Go collector: allocations per connection
	}
	return peers
}

// roundsText is "median (lowest…highest)" of the per-round values, or
// "n/a".
func roundsText(vals []float64, format string) string {
	if len(vals) == 0 {
		return "n/a"
	}
	lo, hi := slices.Min(vals), slices.Max(vals)
	if len(vals) == 1 {
		return fmt.Sprintf(format, vals[0])
	}
	return fmt.Sprintf(format+" ("+format+"…"+format+")", median(vals), lo, hi)
}

// allocDiff is the difference in heap allocations per connection of two
// runs of one round (from the servers' /metrics).
func allocDiff(x, y *run) float64 { return x.perConn(mMallocs) - y.perConn(mMallocs) }

// beyond says whether every round's value has the median's sign (and is
// not zero): the difference showed in every round.
func beyond(vals []float64) bool {
	if len(vals) == 0 {
		return false
	}
	m := median(vals)
	for _, v := range vals {
		if v == 0 || (v > 0) != (m > 0) {
			return false
		}
	}
	return true
}

func (d *driver) featuresSection(p func(string, ...any)) {
	fs := d.rep.Features
	if len(fs) == 0 && d.rep.FeatureBench == nil {
		return
	}
	p("## What each feature of the binding costs\n\n")
	if len(fs) > 0 {
		d.featuresSockets(p, fs)
	}
	d.featureBenchSection(p)
}

// featuresSockets writes the socket-level table of the features part.
func (d *driver) featuresSockets(p func(string, ...any), fs []*Stats) {
	off, bare := find(fs, statsKey, featOff), find(fs, statsKey, "go-bare")
	p("The fixture (handshake mode, HS256) with every optional feature of the binding switched off, then with each switched on alone, against the bare servers and the fixture's defaults: %d connections per run, %d in flight, %d interleaved repetition(s), medians. ", d.opt.Conns, d.opt.Concurrency, d.opt.Reps)
	p("Differences are taken round by round (repetition *i* of a row against repetition *i* of the reference, run in the same round) and given as the median with the lowest and highest round in brackets; a difference is **bold** when every round had the same sign. ")
	p("Allocations per connection come from each server's `/metrics` (Go collector) and are far steadier than CPU time at this resolution (%d connections: %.0f µs per 10 ms clock tick).\n\n", d.opt.Conns, 1e4/float64(d.opt.Conns))
	p("| row | what | CPU µs/conn | CPU range | Δ CPU vs %s | Δ CPU vs go-bare | KB/conn | KB range | Δ KB vs %s | allocations / conn | Δ allocations vs %s | failures |\n", featOff, featOff, featOff)
	p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	bold := func(vals []float64, format string) string {
		t := roundsText(vals, format)
		if len(vals) > 1 && beyond(vals) {
			return "**" + t + "**"
		}
		return t
	}
	for _, s := range fs {
		dOff, dBare, dKB, dAlloc := "", "", "", ""
		if off != nil && s != off {
			dOff = bold(pairRounds(s, off, cpuDiff), "%+.0f")
			dKB = bold(pairRounds(s, off, kbDiff), "%+.1f")
			dAlloc = bold(pairRounds(s, off, allocDiff), "%+.0f")
		}
		if bare != nil && s != bare {
			dBare = bold(pairRounds(s, bare, cpuDiff), "%+.0f")
		}
		allocs := "n/a"
		if !math.IsNaN(s.Allocs) {
			allocs = f0(s.Allocs)
		}
		p("| **%s** | %s | %s | %s–%s | %s | %s | %s | %s–%s | %s | %s | %s | %s |\n", s.Key, s.Label, f0(s.CPU), f0(s.CPULo), f0(s.CPUHi), dOff, dBare,
			f1(s.KB), f1(s.KBLo), f1(s.KBHi), dKB, allocs, dAlloc, failText(s.Failures, s.Errors))
	}
	p("\n")
	for _, s := range fs {
		for _, e := range s.Errors {
			p("- %s: `%s`\n", s.Key, oneLine(e))
		}
	}
	d.loadLine(p, statsLoads(fs))
	var rows []string
	if off != nil {
		for _, s := range fs {
			if !strings.HasPrefix(s.Key, "go-siojwt+") && s.Key != featAll {
				continue
			}
			cpu, allocs := pairRounds(s, off, cpuDiff), pairRounds(s, off, allocDiff)
			if len(cpu) == 0 {
				continue
			}
			seen := "within the run-to-run noise"
			if len(cpu) > 1 && beyond(cpu) {
				seen = "the same sign in every round"
			}
			name := strings.TrimPrefix(s.Key, "go-siojwt")
			if s.Key == featAll {
				name = "the fixture's defaults"
			}
			row := fmt.Sprintf("%s: %s µs of CPU per connection (%s)", name, roundsText(cpu, "%+.0f"), seen)
			if len(allocs) > 0 {
				row += fmt.Sprintf(", %s allocations", roundsText(allocs, "%+.0f"))
			}
			rows = append(rows, row)
		}
	}
	if len(rows) > 0 {
		p("Against %s, per round: %s.\n\n", featOff, strings.Join(rows, "; "))
	}
	p("What cannot be switched off from outside: the binding always keeps a session per authenticated socket (the session map), tracks the connection the socket rides on (connection tracking), wraps the namespace's adapter to keep broadcasts within what each socket may receive (the isolation adapter wrapper), and holds the packets a client sends before its socket is registered (early-packet hold). ")
	p("They are in every row above, %s included; the in-process table below prices them and each feature without the sockets' noise. ", featOff)
	p("The failure limiter counts failed authentications only: with valid tokens, as here, it has nothing to do per connection.\n\n")
}
