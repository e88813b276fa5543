package bench

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/siojwt/siojwt/bench/loadgen"
)

// fakeRun is a run with a connect phase of n connections that cost the
// server cpu µs each and kb KB each, as found and after a collection.
func fakeRun(cpu, kb float64) *run {
	const n = 1000
	return &run{Result: &loadgen.Result{
		Connect: loadgen.Phase{Attempted: n, Connected: n, ServerCPU: time.Duration(cpu*n) * time.Microsecond},
		RSSOpen: int64(kb * 1024 * n), RSSBaseCollected: 1 << 20, RSSOpenCollected: 1<<20 + int64(kb*1024*n),
	}}
}

// fakeStats holds one run per round; a negative cpu leaves the round out
// (an errored repetition).
func fakeStats(key string, cpus ...float64) *Stats {
	s := &Stats{Key: key, rounds: make([]*run, len(cpus))}
	for i, c := range cpus {
		if c < 0 {
			continue
		}
		s.rounds[i] = fakeRun(c, 40)
		s.runs = append(s.runs, s.rounds[i])
	}
	return s
}

func TestRoundJudging(t *testing.T) {
	lib := fakeStats("go-siojwt", 380, 300, -1, 420)
	ref := fakeStats(refKey, 1000, 1000, 1000, 1000)
	// Round 3 errored for lib: only rounds 1, 2 and 4 pair up.
	r := pairRounds(lib, ref, cpuRatio)
	if len(r) != 3 || math.Abs(r[0]-0.38) > 1e-9 || math.Abs(r[2]-0.42) > 1e-9 {
		t.Fatalf("pairRounds = %v", r)
	}
	for _, c := range []struct {
		goal    float64
		verdict string
	}{
		{0.45, "met in every round (3 of 3)"},
		{0.4, "**not shown**: met in 2 of 3 rounds."},
		{0.25, "**not shown**: missed in every round (3)."},
	} {
		tg := target{}
		tg.judged(judgeRounds(r, func(v float64) bool { return v <= c.goal }))
		if got := tg.verdict(); got != c.verdict {
			t.Errorf("goal %v: verdict %q, want %q", c.goal, got, c.verdict)
		}
	}
	if got := judgeRounds(r, nil2).span("%.2f×"); got != "median 0.38×, range 0.30× to 0.42× over 3 rounds" {
		t.Errorf("span = %q", got)
	}
	if got := judgeRounds([]float64{0.5}, nil2).span("%.2f×"); got != "0.50× (one round)" {
		t.Errorf("span of one round = %q", got)
	}
	if judgeRounds(nil, nil2) != nil {
		t.Error("no rounds judged as some")
	}
	// A reason after a full stop starts a sentence, whatever case it was
	// written in.
	lower := target{why: "the heap grew."}
	lower.judged(judgeRounds(r, func(v float64) bool { return v <= 0.4 }))
	if got := lower.verdict(); got != "**not shown**: met in 2 of 3 rounds. The heap grew." {
		t.Errorf("verdict with a lower-case reason: %q", got)
	}
	var none target
	none.judged(nil)
	if none.known || none.verdict() != "not measured in this run" {
		t.Errorf("unmeasured target: %+v", none)
	}
	missed := target{known: true, why: "too slow."}
	if missed.verdict() != "**missed**: too slow." {
		t.Errorf("a single measurement's verdict: %q", missed.verdict())
	}
	if d := pairRounds(lib, ref, kbDiff); len(d) != 3 || d[0] != 0 {
		t.Errorf("kbDiff = %v", d)
	}
}

func nil2(float64) bool { return true }

func TestTargetsPerRound(t *testing.T) {
	d := &driver{rep: &Report{Handshake: []*Stats{
		fakeStats("go-bare", 300, 300, 300),
		fakeStats("go-jwt", 340, 340, 340),
		fakeStats("go-siojwt", 310, 330, 360),
	}}}
	for _, s := range d.rep.Handshake {
		s.CPU = median(pairRounds(s, s, func(x, _ *run) float64 { return cpuOf(x) }))
	}
	got := map[string]target{}
	for _, tg := range d.targets() {
		got[tg.what] = tg
	}
	hs := got["What authentication adds to a bare connect, HS256"]
	if !hs.known || hs.met || hs.rounds.met != 2 || !strings.Contains(hs.verdict(), "met in 2 of 3 rounds") {
		t.Errorf("HS256 share (+3, +10, +20 %% against ≤ 10 %%): %+v, %q", hs, hs.verdict())
	}
	our := got["Our layer's CPU over a bare connect, HS256"]
	if our.rounds == nil || our.rounds.met != 1 {
		t.Errorf("≤ 5 %%: %+v", our)
	}
	jwt := got["Our layer's CPU against a bare golang-jwt middleware (go-jwt), HS256"]
	if jwt.rounds == nil || jwt.rounds.met != 2 || jwt.met || !strings.Contains(jwt.measured, "over 3 rounds") {
		t.Errorf("against go-jwt (310, 330, 360 against 340): %+v", jwt)
	}
	mem := got["Memory our layer adds per socket, server RSS over go-bare after a collection"]
	if !mem.met || mem.rounds.n != 3 || !strings.Contains(mem.measured, "as found") {
		t.Errorf("memory (equal RSS): %+v", mem)
	}
	// The parts read from /metrics after the collection: per socket, the
	// binding's server holds 1.5 KB more live heap, 2.0 KB more heap spans
	// and 0.3 KB more stack than the bare one.
	for i, s := range []*Stats{d.rep.Handshake[0], d.rep.Handshake[2]} {
		for _, r := range s.rounds {
			n := float64(r.Connect.Connected) * 1024 * float64(i)
			r.baseCollected = map[string]float64{mHeapAlloc: 1e6, mHeapInuse: 2e6, mStackInuse: 1e5}
			r.collected = map[string]float64{mHeapAlloc: 1e6 + 1.5*n, mHeapInuse: 2e6 + 2.0*n, mStackInuse: 1e5 + 0.3*n}
		}
	}
	for _, tg := range d.targets() {
		got[tg.what] = tg
	}
	if mem := got["Memory our layer adds per socket, server RSS over go-bare after a collection"]; !strings.Contains(mem.measured, "live heap +1.5 KB, heap spans in use beyond the live objects +0.5 KB, goroutine stacks +0.3 KB") {
		t.Errorf("memory parts: %s", mem.measured)
	}
	// After a collection the binding's server keeps 3 KB more per socket
	// in rounds 1 and 2: missed there, whatever RSS read as found.
	for _, r := range d.rep.Handshake[2].rounds[:2] {
		r.RSSOpenCollected += 3 * 1024 * int64(r.Connect.Connected)
	}
	for _, tg := range d.targets() {
		got[tg.what] = tg
	}
	if mem := got["Memory our layer adds per socket, server RSS over go-bare after a collection"]; mem.met || mem.rounds.met != 1 || mem.rounds.med != 3 {
		t.Errorf("memory (+3, +3, +0 KB after a collection): %+v", mem)
	}
	if node := got["Server CPU per authenticated connection (handshake mode, HS256) against Node + socketio-jwt 4.6.2"]; node.known {
		t.Errorf("no Node server, yet judged: %+v", node)
	}
}

func TestSchedTrace(t *testing.T) {
	out := `listening on http://127.0.0.1:1
SCHED 0ms: gomaxprocs=2 idleprocs=2 threads=4 spinningthreads=0 needspinning=0 idlethreads=1 runqueue=0 [ 0 0 ] schedticks=[ 0 0 ]
SCHED 1010ms: gomaxprocs=2 idleprocs=0 threads=6 spinningthreads=1 needspinning=0 idlethreads=2 runqueue=3 [ 1 0 ] schedticks=[ 5 3 ]
SCHED 1020ms: gomaxprocs=2 idleprocs=1 threads=6 spinningthreads=0 needspinning=1 idlethreads=2 runqueue=1 [ 0 0 ] schedticks=[ 9 4 ]
not a trace line
SCHED 1030ms: gomaxprocs=2 idleprocs=1 threads=8 spinningthreads=2 needspinning=0 idlethreads=3 runqueue=0 [ 0 0 ] schedticks=[ 12 9 ]
SCHED 2000ms: gomaxprocs=2 idleprocs=2 threads=8 spinningthreads=0 needspinning=0 idlethreads=5 runqueue=0 [ 0 0 ] schedticks=[ 20 20 ]
`
	s := parseSchedTrace(out, time.Second, 1500*time.Millisecond)
	if len(s) != 3 || s[0].at != 1010*time.Millisecond || s[2].fields["threads"] != 8 {
		t.Fatalf("parseSchedTrace = %+v", s)
	}
	var tr SchedTrace
	summariseTrace(&tr, s)
	if tr.Samples != 3 || tr.GOMAXPROCS != 2 || tr.Spinning != 1 || math.Abs(tr.SpinningShare-2.0/3) > 1e-9 || math.Abs(tr.IdleProcs-2.0/3) > 1e-9 || tr.RunQueue != 4.0/3 {
		t.Errorf("summary = %+v", tr)
	}
	var empty SchedTrace
	summariseTrace(&empty, nil)
	if empty.Samples != 0 || empty.Spinning != 0 {
		t.Errorf("empty summary = %+v", empty)
	}
}

func TestMachineLoadText(t *testing.T) {
	ls := []PhaseLoad{
		{Machine: loadgen.MachineLoad{Total: 2 * time.Second, Busy: 1800 * time.Millisecond, Steal: 20 * time.Millisecond, Client: 600 * time.Millisecond, Load1: 1.5}, Server: 800 * time.Millisecond},
		{Machine: loadgen.MachineLoad{Total: 2 * time.Second, Busy: 2 * time.Second, Client: 700 * time.Millisecond, Load1: 2.25}, Server: 900 * time.Millisecond},
	}
	got := spanOf(ls).text(2)
	for _, want := range []string{"CPU steal 0.0–1.0 %", "busy 90–100 %", "of which 20 % went to neither", "1-minute load average 1.50–2.25", "(2 run(s)"} {
		if !strings.Contains(got, want) {
			t.Errorf("text %q lacks %q", got, want)
		}
	}
	if spanOf(nil).text(2) != "" {
		t.Error("no runs, yet a text")
	}
	if r := pearson([]float64{1, 2, 3, 4}, []float64{2, 4, 6, 8}); math.Abs(r-1) > 1e-9 {
		t.Errorf("pearson of a line = %v", r)
	}
	if r := pearson([]float64{1, 2, 3}, []float64{3, 2, 1}); math.Abs(r+1) > 1e-9 {
		t.Errorf("pearson of a falling line = %v", r)
	}
	if !math.IsNaN(pearson([]float64{1, 2}, []float64{1, 2})) || !math.IsNaN(pearson([]float64{1, 1, 1}, []float64{1, 2, 3})) {
		t.Error("pearson of too few or constant values is a number")
	}
}

func TestRoundsText(t *testing.T) {
	if got := roundsText([]float64{5, -3, 12}, "%+.0f"); got != "+5 (-3…+12)" {
		t.Errorf("roundsText = %q", got)
	}
	if got := roundsText([]float64{7}, "%+.0f"); got != "+7" {
		t.Errorf("roundsText of one = %q", got)
	}
	if roundsText(nil, "%.0f") != "n/a" {
		t.Error("roundsText of none")
	}
	if !beyond([]float64{3, 1, 9}) || !beyond([]float64{-3, -1}) || beyond([]float64{3, -1, 4}) || beyond([]float64{0, 2, 3}) || beyond(nil) {
		t.Error("beyond")
	}
	ks := []*Stats{{Key: "go-siojwt-rs256"}, {Key: "go-siojwt-rs256-jwks"}, {Key: "go-siojwt-rs256-jwks-cache"}}
	for _, k := range []string{"go-siojwt-rs256-jwks", "go-siojwt-rs256-jwks-cache"} {
		if s, ok := directKey(ks, k); !ok || s.Key != "go-siojwt-rs256" {
			t.Errorf("directKey(%s) = %v, %v", k, s, ok)
		}
	}
	if _, ok := directKey(ks, "go-siojwt-rs256"); ok {
		t.Error("the direct row has a direct row")
	}
}
