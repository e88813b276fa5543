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
		{"no socket dropped", res.Dropped == 0},
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
