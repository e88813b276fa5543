package logs

import (
	"strings"
	"testing"
	"time"
)

func TestRate(t *testing.T) {
	r := &Rate{Every: 10 * time.Second, Burst: 2}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at         time.Duration
		ok         bool
		suppressed int
	}{
		{0, true, 0},
		{time.Second, true, 0},
		{2 * time.Second, false, 0},
		{3 * time.Second, false, 0},
		{10 * time.Second, true, 2},
		{11 * time.Second, true, 0},
		{12 * time.Second, false, 0},
		{time.Second, true, 1}, // the clock went back: a new interval
	}
	for i, s := range steps {
		n, ok := r.Allow(t0.Add(s.at))
		if ok != s.ok || n != s.suppressed {
			t.Fatalf("step %d: Allow = %d, %v; want %d, %v", i, n, ok, s.suppressed, s.ok)
		}
	}
}

func TestClip(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"short", "short"},
		{"exactly10!", "exactly10!"},
		{strings.Repeat("a", 11), "aaaaaaaaaa…(11 bytes)"},
		{"ééééééé", "ééééé…(14 bytes)"}, // 14 bytes, cut on a rune boundary
		{"aéééééé", "aéééé…(13 bytes)"}, // byte 10 is inside a rune
	}
	for _, tt := range tests {
		if got := Clip(tt.in, 10); got != tt.want {
			t.Errorf("Clip(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := Clip(strings.Repeat("x", 5500), 64)
	if len(long) > 64+len("…(5500 bytes)") {
		t.Fatalf("clipped to %d bytes", len(long))
	}
}
