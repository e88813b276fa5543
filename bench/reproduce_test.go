package bench

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReproduction checks the record's round trip and the comparison: a
// target reproduces when this run's median lies within the previous run's
// range, two runs on one day are said to be on the same day, and a target
// the previous run judged and this one did not is listed.
func TestReproduction(t *testing.T) {
	day := time.Date(2026, 11, 30, 6, 19, 0, 0, time.UTC)
	ratio := func(med, lo, hi float64) TargetResult {
		return TargetResult{What: "ratio", Goal: "≤ 0.4×", Format: "%.2f×", Scale: 1, Med: med, Lo: lo, Hi: hi, Rounds: 5}
	}
	share := TargetResult{What: "layer", Goal: "≤ 5 %", Format: "%+.0f %%", Scale: 100, Med: 0.20, Lo: 0.07, Hi: 0.22, Rounds: 5}
	gone := TargetResult{What: "gone", Goal: "≤ 2 KB", Format: "%+.1f KB", Scale: 1, Med: 5, Lo: 4, Hi: 6, Rounds: 5}
	prev := &Results{Started: day, Commit: "abc1234", Load: "1.50", Targets: []TargetResult{ratio(0.42, 0.35, 0.54), share, gone}}
	path := filepath.Join(t.TempDir(), "results.json")
	if err := writeResults(path, prev); err != nil {
		t.Fatal(err)
	}
	got, err := readResults(path)
	if err != nil || got == nil || len(got.Targets) != 3 || got.Targets[1] != share || !got.Started.Equal(day) {
		t.Fatalf("read back %+v, %v", got, err)
	}
	if r, err := readResults(filepath.Join(t.TempDir(), "none.json")); r != nil || err != nil {
		t.Errorf("missing record: %v, %v", r, err)
	}

	later := share
	later.Med = 0.25
	now := &Results{Started: day.Add(3 * time.Hour), Targets: []TargetResult{ratio(0.50, 0.40, 0.60), later, {What: "new", Format: "%.2f", Scale: 1}}}
	d := &driver{opt: Options{Root: "/r", Out: "/r/BENCHMARKS.md"}}
	var b strings.Builder
	d.reproductionSection(func(f string, a ...any) { b.WriteString(fmt.Sprintf(f, a...)) }, got, now)
	out := b.String()
	for _, want := range []string{
		"| ratio | 0.42× (0.35× to 0.54×, 5 rounds) | 0.50× (0.40× to 0.60×, 5 rounds) | reproduces |",
		"| layer | +20 % (+7 % to +22 %, 5 rounds) | +25 % (+7 % to +22 %, 5 rounds) | **outside** the previous range |",
		"| new | not in the previous run |",
		"| gone | +5.0 KB (+4.0 KB to +6.0 KB, 5 rounds) | not judged in this run | |",
		"1 of 2 targets reproduce.",
		"a rerun on the same day",
		"`bench/results.json`",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("section lacks %q:\n%s", want, out)
		}
	}
	now.Started = day.Add(30 * time.Hour)
	b.Reset()
	d.reproductionSection(func(f string, a ...any) { b.WriteString(fmt.Sprintf(f, a...)) }, got, now)
	if strings.Contains(b.String(), "same day") {
		t.Errorf("runs on two days called the same day:\n%s", b.String())
	}
}

// TestServerLibReading checks both readings of the layer target: within
// the goal once the server-library calls are taken out, and over it.
func TestServerLibReading(t *testing.T) {
	pr := &Profile{Total: 1100 * time.Millisecond, Client: 0, Library: 100 * time.Millisecond,
		Layer: []Category{{Name: kindServerLib, Time: 60 * time.Millisecond}, {Name: kindOwn, Time: 40 * time.Millisecond}}}
	// Rest of the server: 1000 ms. Layer +10 %, 6 points in the server library.
	got := serverLibReading(pr, 0.05)
	for _, want := range []string{"the layer is +10.0 %", "6.0 points are calls into the server library", "Without them the layer is +4.0 %, within the goal"} {
		if !strings.Contains(got, want) {
			t.Errorf("reading lacks %q: %s", want, got)
		}
	}
	pr.Layer[0].Time, pr.Layer[1].Time = 20*time.Millisecond, 80*time.Millisecond
	if got := serverLibReading(pr, 0.05); !strings.Contains(got, "still +8.0 %: 3.0 points over the goal") {
		t.Errorf("over the goal: %s", got)
	}
	if got := serverLibReading(&Profile{}, 0.05); got != "" {
		t.Errorf("no profile: %q", got)
	}
}
