package bench

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// logWriter sends the driver's progress lines to the test log.
type logWriter struct {
	t  *testing.T
	mu sync.Mutex
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestSmoke runs the whole driver with tiny counts: the Go servers and the
// Node reference server, both authentication flows, the features, key set
// and variance parts, a soak, a storm, the report and its plots. It fails
// (never skips) when node is missing.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Log("-short: running anyway, the smoke run is short")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := Run(ctx, Options{Root: "..", Smoke: true, Out: filepath.Join(dir, "BENCHMARKS.md"), Log: &logWriter{t: t}})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 4*time.Minute {
		t.Errorf("smoke run took %s, want about a minute (more under -race on a busy machine)", d)
	}
	if n := rep.Failures(); n != 0 {
		t.Errorf("%d failed connections or errored runs", n)
	}

	want := map[string]bool{"go-bare": false, refKey: false}
	if _, err := os.Stat(filepath.Join("..", "interop", "fixture")); err == nil {
		want["go-siojwt"] = false
	}
	for _, part := range [][]*Stats{rep.Handshake, rep.Event} {
		for _, s := range part {
			if _, ok := want[s.Key]; ok {
				want[s.Key] = true
			}
			if len(s.Errors) > 0 {
				t.Errorf("%s: %v", s.Key, s.Errors)
			}
			if len(s.Runs) == 0 || !(s.Rate > 0) {
				t.Errorf("%s: no connections per second (%d runs, rate %v)", s.Key, len(s.Runs), s.Rate)
			}
			if !(s.CPU > 0) || math.IsNaN(s.KB) {
				t.Errorf("%s: CPU %v µs/conn, %v KB/conn: server readings missing", s.Key, s.CPU, s.KB)
			}
			for _, r := range s.Runs {
				if m := r.Connect.Machine; m == nil || m.Total <= 0 || m.Busy > m.Total {
					t.Errorf("%s: machine load not read: %+v", s.Key, m)
				}
			}
		}
	}
	for _, s := range rep.Handshake {
		if !s.Node && (!(s.KBCollected > 0) || len(s.runs) == 0 || s.runs[0].collected == nil || s.runs[0].baseCollected == nil) {
			t.Errorf("%s: memory after a collection not read: %v KB/conn", s.Key, s.KBCollected)
		}
	}
	if len(rep.Loads) < len(rep.Handshake) {
		t.Errorf("%d machine readings for %d handshake servers", len(rep.Loads), len(rep.Handshake))
	}
	checkFeatures(t, rep)
	checkFeatureBench(t, rep)
	checkKeyset(t, rep)
	checkVariance(t, rep)
	for k, seen := range want {
		if !seen {
			t.Errorf("server %s was not measured", k)
		}
	}
	if len(rep.Event) < 1 {
		t.Error("no two-round-trip runs")
	}
	if len(rep.Hold) == 0 {
		t.Error("no hold runs")
	}
	for _, s := range rep.Hold {
		if s.Soak == nil || s.Soak.Sent == 0 || s.Soak.Received != s.Soak.Sent {
			t.Errorf("hold %s: %+v %s", s.Key, s.Soak, s.Error)
		}
	}
	if len(rep.Scale) == 0 {
		t.Error("no scaling runs")
	}
	for _, s := range rep.Scale {
		if s.Storm == nil || s.Storm.Connected != s.Storm.Conns || s.Storm.Conns == 0 {
			t.Errorf("storm %s: %+v", s.Key, s.Storm)
		}
	}

	if rep.Tuning == nil || len(rep.Tuning.Variants) < 4 {
		t.Fatalf("tuning part: %+v", rep.Tuning)
	}
	for _, v := range rep.Tuning.Variants {
		if len(v.Runs) == 0 || !(v.CPU > 0) || len(v.Errors) > 0 {
			t.Errorf("tuning %s: %d runs, CPU %v, errors %v", v.Key, len(v.Runs), v.CPU, v.Errors)
		}
		if !(v.Goroutines >= 1.5) {
			t.Errorf("tuning %s: %v goroutines per socket: /metrics not read", v.Key, v.Goroutines)
		}
	}
	if v := rep.Tuning.variant("bare-polling"); v == nil || len(v.Runs) == 0 {
		t.Error("no long-polling start measured")
	}
	if s := rep.Soak; s == nil || s.Err() != nil || s.Connected != s.Conns || s.Sent == 0 {
		t.Errorf("soak: %+v", s)
	}

	md, err := os.ReadFile(rep.Options.Out)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"# Benchmarks", "## Machine", "## Targets", "## Handshake mode", "## Reconnect storm", "## Tuning the server library", "### Recommended configuration", "## Soak:", "-core machine", "CPU µs/conn",
		"| Load during the runs | CPU steal ", "Machine during these runs: CPU steal", "judged round by round", "Our layer's CPU against a bare golang-jwt middleware", "server RSS over go-bare after a collection", "goroutine stacks", "KB/conn after a collection (range)",
		"## What each feature of the binding costs", "| **go-siojwt+revocation** |", "### In process, per feature (`BenchmarkFeatures`)", "| row | allocs/op | Δ vs bare |", "## Key sets", "| **go-siojwt-rs256-jwks-cache** |",
		"## Why the Go servers' cost moves between runs", "| gomaxprocs1 | go-bare |", "| gcoff | go-siojwt |", "GC cycles per run", "- GOGC=off, go-bare:", "As for the collector:", "| separate | node-socketio-jwt |", "GODEBUG=schedtrace=10", "Reading, from the figures above"} {
		if !bytes.Contains(md, []byte(s)) {
			t.Errorf("report lacks %q", s)
		}
	}
	if i := bytes.Index(md, []byte("%!")); i >= 0 {
		t.Errorf("report has a formatting error near %q", md[max(0, i-80):min(len(md), i+40)])
	}
	for name, rel := range rep.Plots {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(rep.Options.Out), rel))
		if err != nil || !bytes.HasPrefix(b, []byte("<svg")) {
			t.Errorf("plot %s: %v", name, err)
		}
		if !bytes.Contains(md, []byte(rel)) {
			t.Errorf("report does not show plot %s", rel)
		}
	}
	if len(rep.Plots) < 4 {
		t.Errorf("%d plots written, want at least 4", len(rep.Plots))
	}
}

// checkFeatures: every row of the features part ran, and the fixture's
// flags did what they say (the library's metrics only with the hook on).
func checkFeatures(t *testing.T, rep *Report) {
	t.Helper()
	want := []string{"go-bare", "go-jwt", featOff, "go-siojwt+expiry", "go-siojwt+revocation", "go-siojwt+metrics", "go-siojwt+limiter", featAll}
	if len(rep.Features) != len(want) {
		t.Fatalf("features part: %d rows, want %d", len(rep.Features), len(want))
	}
	for i, s := range rep.Features {
		if s.Key != want[i] {
			t.Errorf("features row %d: %s, want %s", i, s.Key, want[i])
		}
		if len(s.runs) == 0 || len(s.Errors) > 0 || !(s.CPU > 0) || math.IsNaN(s.Allocs) || !(s.Allocs > 0) {
			t.Errorf("features %s: %d runs, CPU %v, allocations %v, errors %v", s.Key, len(s.runs), s.CPU, s.Allocs, s.Errors)
			continue
		}
		_, hook := s.runs[0].open["siojwt_authenticated_sockets"]
		if wantHook := s.Key == "go-siojwt+metrics" || s.Key == featAll; hook != wantHook {
			t.Errorf("features %s: library metrics served %v, want %v", s.Key, hook, wantHook)
		}
		if off := find(rep.Features, statsKey, featOff); s != off && len(pairRounds(s, off, cpuDiff)) != len(s.runs) {
			t.Errorf("features %s: no per-round difference to %s", s.Key, featOff)
		}
	}
}

// checkKeyset: every key set row connected and reconnected all its sockets.
func checkKeyset(t *testing.T, rep *Report) {
	t.Helper()
	if len(rep.Keyset) != 7 {
		t.Fatalf("keyset part: %d rows, want 7 (go-bare, RS256 and ES256 each direct, key set, key set with cache)", len(rep.Keyset))
	}
	for _, s := range rep.Keyset {
		if len(s.runs) == 0 || len(s.Errors) > 0 || !(s.CPU > 0) {
			t.Errorf("keyset %s: %d runs, CPU %v, errors %v", s.Key, len(s.runs), s.CPU, s.Errors)
			continue
		}
		for _, r := range s.runs {
			if st := r.Storm; st == nil || st.Connected != st.Attempted || st.Connected != r.Connect.Connected || !(stormCPU(r) > 0) {
				t.Errorf("keyset %s: reconnections %+v", s.Key, st)
			}
		}
		if strings.Contains(s.Key, "-jwks") {
			if _, ok := directKey(rep.Keyset, s.Key); !ok {
				t.Errorf("keyset %s: no row with the key passed directly", s.Key)
			}
		}
	}
}

// checkVariance: every setting ran every server, GOMAXPROCS and GOGC took
// effect, and the scheduler trace was read.
func checkVariance(t *testing.T, rep *Report) {
	t.Helper()
	v := rep.Variance
	if v == nil || len(v.Settings) != 4 {
		t.Fatalf("variance part: %+v", v)
	}
	for _, st := range v.Settings {
		if len(st.Stats) != len(varianceKeys) {
			t.Errorf("variance %s: %d servers", st.Key, len(st.Stats))
		}
		for _, s := range st.Stats {
			if len(s.runs) == 0 || len(s.Errors) > 0 || !(s.CPU > 0) {
				t.Errorf("variance %s %s: %d runs, CPU %v, errors %v", st.Key, s.Key, len(s.runs), s.CPU, s.Errors)
				continue
			}
			if m := s.runs[0].Connect.Machine; m == nil || m.Total <= 0 {
				t.Errorf("variance %s %s: machine load not read", st.Key, s.Key)
			}
			if s.Node {
				continue
			}
			want := float64(runtime.GOMAXPROCS(0)) // the servers inherit this process's environment and limits
			if st.Key == varOneP {
				want = 1
			}
			if g := gomaxprocsOf(s); g != want {
				t.Errorf("variance %s %s: GOMAXPROCS %v, want %v", st.Key, s.Key, g, want)
			}
			if st.Key == varSeparate {
				continue // the separate load generator cannot call back: no second reading
			}
			gc := gcCycles(s)
			if len(gc) != len(s.runs) {
				t.Errorf("variance %s %s: GC cycles read in %d of %d runs", st.Key, s.Key, len(gc), len(s.runs))
			}
			if st.Key == varGCOff && slices.ContainsFunc(gc, func(n float64) bool { return n != 0 }) {
				t.Errorf("variance %s %s: %v collections with GOGC=off", st.Key, s.Key, gc)
			}
		}
	}
	if len(v.Traces) != 2 {
		t.Fatalf("%d scheduler traces, want 2 (go-bare, go-siojwt)", len(v.Traces))
	}
	for _, tr := range v.Traces {
		if tr.Error != "" || tr.Samples == 0 || tr.GOMAXPROCS != runtime.GOMAXPROCS(0) || tr.Threads < 1 || !(tr.CPU > 0) {
			t.Errorf("scheduler trace %s: %+v", tr.Key, tr)
		}
	}
}

// checkFeatureBench: the in-process benchmark ran, its bare and siojwt-off
// rows have figures, and the report's table shows them.
func checkFeatureBench(t *testing.T, rep *Report) {
	t.Helper()
	b := rep.FeatureBench
	if b == nil || b.Error != "" {
		t.Fatalf("in-process features benchmark: %+v", b)
	}
	md, err := os.ReadFile(rep.Options.Out)
	if err != nil {
		t.Fatal(err)
	}
	num := `-?\d+`
	for _, name := range []string{"bare", "siojwt-off"} {
		r := b.row(name)
		if r == nil || !(r.Allocs > 0) || !(r.Bytes > 0) || math.IsNaN(r.Heap) || !(r.CPU > 0) {
			t.Errorf("in-process features %s: %+v", name, r)
			continue
		}
		// allocs/op, B/op and heap B/conn each with their differences, then cpu-µs/op.
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(name) + "` \\| " + num + " \\|.*\\| " + num + " \\|.*\\| " + num + "(?: \\(" + num + "–" + num + "\\))? \\|.*\\| " + num + "(?: \\(" + num + "–" + num + "\\))? \\|$")
		if !row.Match(md) {
			t.Errorf("report lacks the in-process row %s with numeric values", name)
		}
	}
	if off, bare := b.row("siojwt-off"), b.row("bare"); off != nil && bare != nil && !(off.Allocs > bare.Allocs) {
		t.Errorf("in-process: siojwt-off %v allocations per connection, not more than bare's %v", off.Allocs, bare.Allocs)
	}
}
