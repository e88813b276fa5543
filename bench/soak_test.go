package bench

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

// TestSoakShort is the soak in small: 200 authenticated sockets on the
// fixture for 5 s, a message a second each. Nothing may fail, every
// message must be answered, the fixture's goroutines must rise with the
// sockets (two per socket, from the server library) and come back to the
// baseline within 15 s of the close. It builds the fixture; it fails,
// never skips, when something is missing.
func TestSoakShort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const n = 200
	res, err := Soak(ctx, SoakConfig{Root: "..", Conns: n, For: 5 * time.Second, Concurrency: 50, Settle: 15 * time.Second, Log: &logWriter{t: t}})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"every socket connected", res.Connected == n},
		{"messages sent, about one a second per socket", res.Sent >= 3*n && res.Sent <= 7*n},
		{"every message answered", res.Answered == res.Sent},
		{"no socket dropped", res.Dropped == 0 && len(res.Drops) == 0},
		{"the server's close reasons read, none during the hold", res.ServerCloses != nil && len(res.ServerCloses) == 0},
		{"goroutines rose with the sockets", res.Peak.Goroutines >= res.Before.Goroutines+n},
		{"no more than the server library's two goroutines per socket", res.GoroutinesPerSocket() <= 2.05},
		{"goroutines back to the baseline", res.BackIn >= 0 && res.After.Goroutines <= res.Before.Goroutines+float64(res.Slack)},
		{"memory read from /proc and /metrics", res.Before.RSS > 0 && res.Before.MetricRSS > 0 && res.Before.HeapAlloc > 0 && res.Peak.RSS >= res.Before.RSS},
		{"a second cycle measured", res.SecondHeap > 0},
	} {
		if !c.ok {
			t.Errorf("%s: %+v", c.name, res)
		}
	}
}

// TestParseMetrics reads the unlabelled samples of an exposition.
func TestParseMetrics(t *testing.T) {
	in := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 11
go_gc_duration_seconds{quantile="0"} 1.2e-05
process_resident_memory_bytes 1.6777216e+07
siojwt_sockets 0 1700000000000
`
	m, err := parseMetrics(stringsReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"go_goroutines": 11, "process_resident_memory_bytes": 16777216, "siojwt_sockets": 0}
	if len(m) != len(want) {
		t.Errorf("got %v, want %v", m, want)
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (%v), want %v", k, got, ok, v)
		}
	}
	if _, err := parseMetrics(stringsReader("go_goroutines many\n")); err == nil {
		t.Error("a bad value was accepted")
	}
}

// TestParseCloses reads the fixture's closes by reason, and a soak with
// drops names both sides' reasons.
func TestParseCloses(t *testing.T) {
	in := `# HELP fixture_engine_closes_total Engine.IO connections closed, by the server library's reason.
# TYPE fixture_engine_closes_total counter
fixture_engine_closes_total{reason="ping timeout (pong received)"} 2
fixture_engine_closes_total{reason="transport close"} 10100
go_goroutines 11
`
	before, err := parseCloses(stringsReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 2 || before[pongReceived] != 2 || before["transport close"] != 10100 {
		t.Fatalf("closes %v", before)
	}
	after := map[string]float64{pongReceived: 3, "transport close": 10100, "ping timeout": 1}
	got := closesDuring(before, after)
	if len(got) != 2 || got[pongReceived] != 1 || got["ping timeout"] != 1 {
		t.Errorf("closes during %v", got)
	}
	res := &SoakResult{Dropped: 2, DropReasons: map[string]int{"EOF": 2}, ServerCloses: got}
	if p, want := dropProblem(res), "2 socket(s) closed by the server during the hold (load generator: EOF: 2; server library: ping timeout: 1, ping timeout (pong received): 1)"; p != want {
		t.Errorf("problem %q, want %q", p, want)
	}
	res.ServerCloses = nil
	if p := dropProblem(res); !strings.HasSuffix(p, "server library: not read)") {
		t.Errorf("problem %q", p)
	}
	if _, err := parseCloses(stringsReader(`fixture_engine_closes_total{reason="x"} many` + "\n")); err == nil {
		t.Error("a bad value was accepted")
	}
}
