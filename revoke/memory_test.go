package revoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siojwt/siojwt/internal/syncbuf"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// newTestMemory returns a Memory on a fake clock set to epoch, closed at the
// end of the test.
func newTestMemory(t testing.TB, opts ...MemoryOption) (*Memory, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: epoch()}
	m, err := NewMemory(append([]MemoryOption{WithClock(clock.Now)}, opts...)...)
	if err != nil {
		t.Fatalf("NewMemory: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m, clock
}

func TestMemoryIsRevoked(t *testing.T) {
	t0 := epoch()
	const life = 24 * time.Hour
	type check struct {
		at    time.Duration // after t0
		token Token
		want  bool
	}
	tests := []struct {
		name    string
		revoke  []Revocation // at t0, in order
		checks  []check
		wantErr error
	}{
		{
			name:   "jti",
			revoke: []Revocation{{JTI: "a", Expires: t0.Add(time.Hour)}},
			checks: []check{
				{at: 0, token: Token{JTI: "a"}, want: true},
				{at: 0, token: Token{JTI: "a", Subject: "s", IssuedAt: t0.Add(time.Minute)}, want: true},
				{at: 0, token: Token{JTI: "b"}, want: false},
				{at: 0, token: Token{Subject: "a"}, want: false},
				{at: 0, token: Token{}, want: false},
				{at: time.Hour - time.Nanosecond, token: Token{JTI: "a"}, want: true},
				{at: time.Hour, token: Token{JTI: "a"}, want: false},
			},
		},
		{
			// A JTI revocation without a horizon used to be kept for the
			// maximum token lifetime, and forgotten while a longer-lived
			// token still verified: it is refused, and nothing is recorded.
			name:    "jti without expiry is refused",
			revoke:  []Revocation{{JTI: "a"}},
			checks:  []check{{at: 0, token: Token{JTI: "a"}, want: false}},
			wantErr: ErrInvalid,
		},
		{
			name:   "jti for a token longer-lived than the maximum lifetime",
			revoke: []Revocation{ForToken(Token{JTI: "a", ExpiresAt: t0.Add(2 * life)}, 5*time.Second)},
			checks: []check{
				{at: life + time.Hour, token: Token{JTI: "a"}, want: true},
				{at: 2*life + 5*time.Second - time.Nanosecond, token: Token{JTI: "a"}, want: true},
				{at: 2*life + 5*time.Second, token: Token{JTI: "a"}, want: false},
			},
		},
		{
			name:   "jti for a token without exp",
			revoke: []Revocation{ForToken(Token{JTI: "a"}, 0)},
			checks: []check{
				{at: 100 * 365 * life, token: Token{JTI: "a"}, want: true},
			},
		},
		{
			name:   "jti later expiry wins",
			revoke: []Revocation{{JTI: "a", Expires: t0.Add(2 * time.Hour)}, {JTI: "a", Expires: t0.Add(time.Hour)}},
			checks: []check{
				{at: 90 * time.Minute, token: Token{JTI: "a"}, want: true},
				{at: 2 * time.Hour, token: Token{JTI: "a"}, want: false},
			},
		},
		{
			name:   "jti already expired",
			revoke: []Revocation{{JTI: "a", Expires: t0}},
			checks: []check{{at: 0, token: Token{JTI: "a"}, want: false}},
		},
		{
			name:   "subject now",
			revoke: []Revocation{{Subject: "s"}},
			checks: []check{
				{at: 0, token: Token{Subject: "s", IssuedAt: t0.Add(-time.Second)}, want: true},
				{at: 0, token: Token{Subject: "s", IssuedAt: t0.Add(-time.Nanosecond)}, want: true},
				{at: 0, token: Token{Subject: "s", IssuedAt: t0}, want: false},
				{at: 0, token: Token{Subject: "s", IssuedAt: t0.Add(time.Second)}, want: false},
				{at: 0, token: Token{Subject: "s"}, want: true},
				{at: 0, token: Token{Subject: "t", IssuedAt: t0.Add(-time.Hour)}, want: false},
				{at: 0, token: Token{JTI: "s", IssuedAt: t0.Add(-time.Hour)}, want: false},
				{at: life - time.Nanosecond, token: Token{Subject: "s", IssuedAt: t0.Add(-time.Second)}, want: true},
				{at: life, token: Token{Subject: "s", IssuedAt: t0.Add(-time.Second)}, want: false},
				{at: life, token: Token{Subject: "s"}, want: false},
			},
		},
		{
			name:   "subject past Before expires at Before plus lifetime",
			revoke: []Revocation{{Subject: "s", Before: t0.Add(-time.Hour)}},
			checks: []check{
				{at: 0, token: Token{Subject: "s", IssuedAt: t0.Add(-2 * time.Hour)}, want: true},
				{at: 0, token: Token{Subject: "s", IssuedAt: t0.Add(-time.Hour)}, want: false},
				{at: 0, token: Token{Subject: "s", IssuedAt: t0.Add(-30 * time.Minute)}, want: false},
				{at: life - time.Hour - time.Nanosecond, token: Token{Subject: "s", IssuedAt: t0.Add(-2 * time.Hour)}, want: true},
				{at: life - time.Hour, token: Token{Subject: "s", IssuedAt: t0.Add(-2 * time.Hour)}, want: false},
			},
		},
		{
			name:   "subject future Before",
			revoke: []Revocation{{Subject: "s", Before: t0.Add(time.Hour)}},
			checks: []check{
				{at: 30 * time.Minute, token: Token{Subject: "s", IssuedAt: t0.Add(30 * time.Minute)}, want: true},
				{at: time.Hour, token: Token{Subject: "s", IssuedAt: t0.Add(time.Hour)}, want: false},
			},
		},
		{
			name:   "subject later Before wins over an earlier one revoked after it",
			revoke: []Revocation{{Subject: "s", Before: t0.Add(-time.Hour)}, {Subject: "s", Before: t0.Add(-2 * time.Hour)}},
			checks: []check{
				{at: 0, token: Token{Subject: "s", IssuedAt: t0.Add(-90 * time.Minute)}, want: true},
				{at: 0, token: Token{Subject: "s", IssuedAt: t0.Add(-time.Hour)}, want: false},
			},
		},
		{
			name:   "subject later Before replaces an earlier one",
			revoke: []Revocation{{Subject: "s", Before: t0.Add(-2 * time.Hour)}, {Subject: "s", Before: t0.Add(-time.Hour)}},
			checks: []check{
				{at: 0, token: Token{Subject: "s", IssuedAt: t0.Add(-90 * time.Minute)}, want: true},
				// The entry lasts until the later of the two expiries.
				{at: life - time.Hour - time.Nanosecond, token: Token{Subject: "s", IssuedAt: t0.Add(-90 * time.Minute)}, want: true},
				{at: life - time.Hour, token: Token{Subject: "s", IssuedAt: t0.Add(-90 * time.Minute)}, want: false},
			},
		},
		{
			name:   "jti and subject entries are separate",
			revoke: []Revocation{{JTI: "x", Expires: t0.Add(time.Hour)}, {Subject: "x", Expires: t0.Add(2 * time.Hour)}},
			checks: []check{
				{at: 0, token: Token{JTI: "x"}, want: true},
				{at: 0, token: Token{Subject: "x", IssuedAt: t0.Add(-time.Second)}, want: true},
				{at: time.Hour, token: Token{JTI: "x"}, want: false},
				{at: time.Hour, token: Token{JTI: "x", Subject: "x", IssuedAt: t0.Add(-time.Second)}, want: true},
				{at: 2 * time.Hour, token: Token{JTI: "x", Subject: "x"}, want: false},
			},
		},
		{
			name:    "invalid",
			revoke:  []Revocation{{JTI: "a", Subject: "s"}},
			checks:  []check{{at: 0, token: Token{JTI: "a", Subject: "s"}, want: false}},
			wantErr: ErrInvalid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, clock := newTestMemory(t, WithMaxTokenLifetime(life), WithSweepInterval(0))
			for _, r := range tt.revoke {
				if err := m.Revoke(context.Background(), r); !errors.Is(err, tt.wantErr) {
					t.Fatalf("Revoke(%+v) error = %v, want %v", r, err, tt.wantErr)
				}
			}
			for _, c := range tt.checks {
				clock.Set(t0.Add(c.at))
				got, err := m.IsRevoked(context.Background(), c.token)
				if err != nil {
					t.Fatalf("IsRevoked: %v", err)
				}
				if got != c.want {
					t.Errorf("at t0+%v: IsRevoked(%+v) = %v, want %v", c.at, c.token, got, c.want)
				}
			}
		})
	}
}

func TestNewMemoryOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []MemoryOption
		wantErr bool
	}{
		{name: "defaults"},
		{name: "all valid", opts: []MemoryOption{WithClock(time.Now), WithMaxTokenLifetime(time.Hour), WithMaxEntries(10), WithSweepInterval(0), WithLogger(slog.New(slog.DiscardHandler))}},
		{name: "nil option", opts: []MemoryOption{nil}, wantErr: true},
		{name: "nil clock", opts: []MemoryOption{WithClock(nil)}, wantErr: true},
		{name: "zero lifetime", opts: []MemoryOption{WithMaxTokenLifetime(0)}, wantErr: true},
		{name: "negative entries", opts: []MemoryOption{WithMaxEntries(-1)}, wantErr: true},
		{name: "negative sweep interval", opts: []MemoryOption{WithSweepInterval(-time.Second)}, wantErr: true},
		{name: "nil logger", opts: []MemoryOption{WithLogger(nil)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMemory(tt.opts...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewMemory error = %v, want error: %v", err, tt.wantErr)
			}
			if m != nil {
				if err := m.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
		})
	}
}

// entries returns the number of entries m holds, expired or not.
func entries(m *Memory) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if len(m.jtis)+len(m.subjects) != len(m.byExpiry) {
		panic(fmt.Sprintf("index out of step: %d jtis + %d subjects, %d in heap", len(m.jtis), len(m.subjects), len(m.byExpiry)))
	}
	return len(m.byExpiry)
}

func TestMemoryPrune(t *testing.T) {
	t0 := epoch()
	tests := []struct {
		name  string
		sweep time.Duration
		// trigger makes the Memory notice the time.
		trigger func(t *testing.T, m *Memory)
	}{
		{
			name:  "by Revoke",
			sweep: 0,
			trigger: func(t *testing.T, m *Memory) {
				if err := m.Revoke(context.Background(), Revocation{JTI: "new", Expires: t0.Add(10 * time.Hour)}); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name:    "by the sweeper",
			sweep:   time.Millisecond,
			trigger: func(*testing.T, *Memory) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, clock := newTestMemory(t, WithSweepInterval(tt.sweep))
			ctx := context.Background()
			for i := range 100 {
				r := Revocation{JTI: fmt.Sprint("j", i), Expires: t0.Add(time.Duration(i+1) * time.Minute)}
				if i%2 == 1 {
					r = Revocation{Subject: fmt.Sprint("s", i), Before: t0, Expires: t0.Add(time.Duration(i+1) * time.Minute)}
				}
				if err := m.Revoke(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			clock.Set(t0.Add(50 * time.Minute)) // the first 50 expire
			tt.trigger(t, m)
			want := 50
			if tt.sweep == 0 {
				want++ // the entry Revoke added
			}
			deadline := time.Now().Add(5 * time.Second)
			for entries(m) != want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := entries(m); got != want {
				t.Fatalf("%d entries after pruning, want %d", got, want)
			}
			for _, tok := range []Token{{JTI: "j50"}, {Subject: "s51", IssuedAt: t0.Add(-time.Second)}} {
				if ok, _ := m.IsRevoked(ctx, tok); !ok {
					t.Errorf("IsRevoked(%+v) = false after pruning, want true", tok)
				}
			}
		})
	}
}

func TestMemoryMaxEntries(t *testing.T) {
	t0 := epoch()
	var logs syncbuf.Buffer
	m, clock := newTestMemory(t, WithMaxEntries(2), WithSweepInterval(0),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	ctx := context.Background()
	revoke := func(r Revocation) {
		t.Helper()
		if err := m.Revoke(ctx, r); err != nil {
			t.Fatalf("Revoke(%+v): %v", r, err)
		}
	}
	revoked := func(tok Token) bool {
		t.Helper()
		ok, err := m.IsRevoked(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	revoke(Revocation{JTI: "a", Expires: t0.Add(time.Hour)})
	revoke(Revocation{JTI: "b", Expires: t0.Add(3 * time.Hour)})
	revoke(Revocation{JTI: "a", Expires: t0.Add(2 * time.Hour)}) // same key: no eviction
	steps := []struct {
		name   string
		at     time.Duration
		revoke Revocation
		want   map[string]bool // jti -> revoked
	}{
		{name: "cap reached, the earliest expiry is evicted", revoke: Revocation{JTI: "c", Expires: t0.Add(4 * time.Hour)}, want: map[string]bool{"a": false, "b": true, "c": true}},
		{name: "cap reached, the new one expires first", revoke: Revocation{JTI: "d", Expires: t0.Add(time.Hour)}, want: map[string]bool{"b": true, "c": true, "d": false}},
		{name: "expired entries go first", at: 3 * time.Hour, revoke: Revocation{JTI: "e", Expires: t0.Add(5 * time.Hour)}, want: map[string]bool{"b": false, "c": true, "e": true}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clock.Set(t0.Add(s.at))
			revoke(s.revoke)
			for jti, want := range s.want {
				if got := revoked(Token{JTI: jti}); got != want {
					t.Errorf("IsRevoked(%q) = %v, want %v", jti, got, want)
				}
			}
			if n := entries(m); n > 2 {
				t.Errorf("%d entries, want at most 2", n)
			}
		})
	}
	if got := strings.Count(logs.String(), "entry cap reached"); got != 2 {
		t.Errorf("%d cap warnings logged, want 2; log:\n%s", got, logs.String())
	}
}

func TestMemoryWatch(t *testing.T) {
	t0 := epoch()
	m, _ := newTestMemory(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const watchers = 2
	got := make([]chan Revocation, watchers)
	done := make(chan error, watchers)
	for i := range got {
		got[i] = make(chan Revocation, 10)
		go func() {
			done <- m.Watch(ctx, func(r Revocation) { got[i] <- r })
		}()
	}
	waitWatchers(t, m, watchers)

	sent := []Revocation{
		{JTI: "a", Expires: t0.Add(time.Hour)},
		{Subject: "s"},
		{Subject: "old", Expires: t0}, // already expired: delivered, not recorded
	}
	want := []Revocation{
		{JTI: "a", Expires: t0.Add(time.Hour)},
		{Subject: "s", Before: t0, Expires: t0.Add(DefaultMaxTokenLifetime)},
		{Subject: "old", Before: t0, Expires: t0},
	}
	for _, r := range sent {
		if err := m.Revoke(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for i, ch := range got {
		for _, w := range want {
			select {
			case r := <-ch:
				if r != w {
					t.Errorf("watcher %d got %+v, want %+v", i, r, w)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("watcher %d: no revocation within 5s, want %+v", i, w)
			}
		}
	}
	cancel()
	for range watchers {
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Watch returned %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Watch did not return within 5s of cancel")
		}
	}
	if n := watcherCount(m); n != 0 {
		t.Errorf("%d watchers registered after return, want 0", n)
	}
}

func TestMemoryWatchSlowFunctionDoesNotBlockRevoke(t *testing.T) {
	t0 := epoch()
	m, _ := newTestMemory(t)
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	var calls sync.WaitGroup
	calls.Add(1)
	done := make(chan error, 1)
	var n int
	go func() {
		done <- m.Watch(ctx, func(Revocation) {
			n++
			if n == 1 {
				calls.Done()
				<-release
			}
		})
	}()
	waitWatchers(t, m, 1)
	if err := m.Revoke(ctx, JTI("first", t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	calls.Wait() // fn is now blocked
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for i := range 1000 {
			if err := m.Revoke(ctx, JTI(fmt.Sprint(i), t0.Add(time.Hour))); err != nil {
				t.Error(err)
			}
		}
	}()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("Revoke blocked behind a slow Watch function")
	}
	close(release)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Watch returned %v, want context.Canceled", err)
	}
}

func TestMemoryClose(t *testing.T) {
	t0 := epoch()
	m, _ := newTestMemory(t, WithSweepInterval(time.Millisecond))
	ctx := context.Background()
	if err := m.Revoke(ctx, Revocation{JTI: "a", Expires: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Watch(ctx, func(Revocation) {}) }()
	waitWatchers(t, m, 1)

	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("running Watch returned %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch still running 5s after Close")
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := m.Revoke(ctx, JTI("b", t0.Add(time.Hour))); !errors.Is(err, ErrClosed) {
		t.Errorf("Revoke after Close = %v, want ErrClosed", err)
	}
	if err := m.Watch(ctx, func(Revocation) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Watch after Close = %v, want ErrClosed", err)
	}
	if ok, err := m.IsRevoked(ctx, Token{JTI: "a"}); !ok || err != nil {
		t.Errorf("IsRevoked after Close = %v, %v; want true, nil", ok, err)
	}
}

func TestMemoryWatchNilFunction(t *testing.T) {
	m, _ := newTestMemory(t)
	if err := m.Watch(context.Background(), nil); err == nil {
		t.Error("Watch(ctx, nil) = nil, want an error")
	}
}

func TestMemoryConcurrent(t *testing.T) {
	m, err := NewMemory(WithSweepInterval(time.Millisecond), WithMaxEntries(50))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	watchDone := make(chan error, 1)
	var seen atomic.Int64
	go func() { watchDone <- m.Watch(ctx, func(Revocation) { seen.Add(1) }) }()
	waitWatchers(t, m, 1)

	const workers, rounds = 4, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range rounds {
				r := Revocation{JTI: fmt.Sprint(w, "-", i), Expires: time.Now().Add(time.Duration(i%5) * time.Millisecond)}
				if i%3 == 0 {
					r = Revocation{Subject: fmt.Sprint("s", i%7)}
				}
				if err := m.Revoke(ctx, r); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range rounds {
				if _, err := m.IsRevoked(ctx, Token{JTI: fmt.Sprint(w, "-", i), Subject: fmt.Sprint("s", i%7), IssuedAt: time.Now().Add(-time.Second)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := entries(m); n > 50 {
		t.Errorf("%d entries, want at most 50", n)
	}
	ok, err := m.IsRevoked(ctx, Token{Subject: "s0", IssuedAt: time.Now().Add(-time.Hour)})
	if !ok || err != nil {
		t.Errorf("IsRevoked(s0) = %v, %v; want true, nil", ok, err)
	}
	// The watcher runs on its own goroutine: give it time to be told.
	deadline := time.Now().Add(5 * time.Second)
	for seen.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-watchDone
	if seen.Load() == 0 {
		t.Error("the watcher saw no revocation")
	}
}

func TestMemoryIsRevokedDoesNotAllocate(t *testing.T) {
	m := benchMemory(t)
	ctx := context.Background()
	t0 := epoch()
	tokens := []struct {
		name  string
		token Token
		want  bool
	}{
		{name: "jti hit", token: Token{JTI: "jti-500", Subject: "nobody", IssuedAt: t0}, want: true},
		{name: "subject hit", token: Token{JTI: "unknown", Subject: "subject-500", IssuedAt: t0.Add(-time.Hour)}, want: true},
		{name: "miss", token: Token{JTI: "unknown", Subject: "nobody", IssuedAt: t0}, want: false},
	}
	for _, tt := range tokens {
		t.Run(tt.name, func(t *testing.T) {
			var got bool
			allocs := testing.AllocsPerRun(1000, func() { got, _ = m.IsRevoked(ctx, tt.token) })
			if got != tt.want {
				t.Errorf("IsRevoked = %v, want %v", got, tt.want)
			}
			if allocs != 0 {
				t.Errorf("IsRevoked allocates %v times per call, want 0", allocs)
			}
		})
	}
}

// benchMemory returns a Memory holding 10,000 JTI and 10,000 subject entries.
func benchMemory(tb testing.TB) *Memory {
	tb.Helper()
	m, _ := newTestMemory(tb, WithSweepInterval(0))
	t0 := epoch()
	for i := range 10000 {
		for _, r := range []Revocation{
			{JTI: fmt.Sprint("jti-", i), Expires: t0.Add(time.Hour)},
			{Subject: fmt.Sprint("subject-", i), Before: t0},
		} {
			if err := m.Revoke(context.Background(), r); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return m
}

func BenchmarkMemoryIsRevoked(b *testing.B) {
	m := benchMemory(b)
	ctx := context.Background()
	t0 := epoch()
	tokens := []struct {
		name  string
		token Token
	}{
		{name: "hit", token: Token{JTI: "jti-500", Subject: "subject-500", IssuedAt: t0.Add(-time.Hour)}},
		{name: "miss", token: Token{JTI: "unknown", Subject: "nobody", IssuedAt: t0}},
	}
	for _, tt := range tokens {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := m.IsRevoked(ctx, tt.token); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// waitWatchers waits until n Watch calls are registered on m.
func waitWatchers(t *testing.T, m *Memory, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for watcherCount(m) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d watchers registered after 5s, want %d", watcherCount(m), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func watcherCount(m *Memory) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.watchers)
}

// A flood of revocations past the entry cap writes a few warnings per
// interval, then one line with the count of those left out.
func TestMemoryCapWarningsThrottled(t *testing.T) {
	t0 := epoch()
	var logs syncbuf.Buffer
	m, clock := newTestMemory(t, WithMaxEntries(1), WithSweepInterval(0),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	ctx := context.Background()
	for i := range 1000 {
		r := Revocation{JTI: fmt.Sprintf("j%d", i), Expires: t0.Add(time.Duration(i+1) * time.Minute)}
		if err := m.Revoke(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(logs.String(), "entry cap reached"); got != 5 {
		t.Errorf("%d cap warnings for 999 evictions in one interval, want 5; log:\n%s", got, logs.String())
	}
	clock.Set(t0.Add(11 * time.Second))
	if err := m.Revoke(ctx, Revocation{JTI: "late", Expires: t0.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "suppressed=994") {
		t.Errorf("the next interval's warning does not count the 994 left out; log:\n%s", logs.String())
	}
}
