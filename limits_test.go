package siojwt

import (
	"testing"

	"github.com/siojwt/siojwt/core"
	"golang.org/x/time/rate"
)

// TestLimiterEviction: the limiter tracks at most maxAddrs addresses and
// forgets the one tracked the longest first; a failure of an address
// already tracked evicts nobody.
func TestLimiterEviction(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		fails   []string // in order, burst 1: one failure spends an address's budget
		limited []string // refused afterwards
		free    []string // allowed afterwards
	}{
		{"under the cap", 3, []string{"a", "b"}, []string{"a", "b"}, []string{"c"}},
		{"the oldest goes first", 2, []string{"a", "b", "c"}, []string{"b", "c"}, []string{"a"}},
		{"a repeat is not a new address", 2, []string{"a", "b", "a", "c"}, []string{"b", "c"}, []string{"a"}},
		{"eviction order is first failure, not last", 2, []string{"a", "b", "a", "c", "d"}, []string{"c", "d"}, []string{"a", "b"}},
		{"cap of one", 1, []string{"a", "b"}, []string{"b"}, []string{"a"}},
		{"empty address never tracked", 1, []string{"a", ""}, []string{"a"}, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A rate so slow that no token comes back during the test.
			l := newLimiter(rate.Limit(1e-9), 1, tt.max)
			for _, a := range tt.fails {
				l.fail(a)
			}
			if l.size() > tt.max {
				t.Fatalf("%d addresses tracked, cap %d", l.size(), tt.max)
			}
			if len(l.order) != len(l.addrs) {
				t.Fatalf("order %v out of step with %d tracked addresses", l.order, len(l.addrs))
			}
			for _, a := range tt.limited {
				if e := l.check(a); e == nil || e.Code != core.CodeRateLimited {
					t.Errorf("check(%q) = %v, want rate_limited", a, e)
				}
			}
			for _, a := range tt.free {
				if e := l.check(a); e != nil {
					t.Errorf("check(%q) = %v, want allowed", a, e)
				}
			}
		})
	}
}

func TestLimiterBurst(t *testing.T) {
	l := newLimiter(rate.Limit(1e-9), 3, 10)
	for i := range 3 {
		if e := l.check("a"); e != nil {
			t.Fatalf("refused after %d failures, burst 3", i)
		}
		l.fail("a")
	}
	if e := l.check("a"); e == nil {
		t.Fatal("allowed after the burst was spent")
	}
	e1, e2 := l.check("a"), l.check("a")
	if e1 == e2 || e1 == errRateLimited {
		t.Fatal("check returns a shared error value that a caller could change")
	}
}

func TestNilLimiter(t *testing.T) {
	var l *limiter
	l.fail("a")
	if e := l.check("a"); e != nil || l.size() != 0 {
		t.Fatalf("a nil limiter limits: %v, size %d", e, l.size())
	}
}

// TestPendingCount: the per-address cap on pending sockets counts up to n,
// refuses beyond it, and a release makes room again; addresses are
// counted apart and a released address leaves no entry behind.
func TestPendingCount(t *testing.T) {
	a := &Auth{pendingPerAddr: 2}
	for i := range 2 {
		if e := a.countPending("x"); e != nil {
			t.Fatalf("pending %d refused: %v", i+1, e)
		}
	}
	if e := a.countPending("x"); e == nil || e.Code != core.CodeRateLimited {
		t.Fatalf("third pending socket: %v, want rate_limited", e)
	}
	if e := a.countPending("y"); e != nil {
		t.Fatalf("another address refused: %v", e)
	}
	a.releasePending("x")
	if e := a.countPending("x"); e != nil {
		t.Fatalf("refused after a release: %v", e)
	}
	a.releasePending("x")
	a.releasePending("x")
	a.releasePending("y")
	if len(a.pending) != 0 {
		t.Fatalf("entries left after every release: %v", a.pending)
	}
	a.releasePending("never counted")
	if len(a.pending) != 0 {
		t.Fatalf("a release of an unknown address left %v", a.pending)
	}
}
