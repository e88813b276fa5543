package jwks

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/clock"
)

// TestFetchHookPanics: a panicking hook does not take the server down, in
// New or in a later fetch.
func TestFetchHookPanics(t *testing.T) {
	k := newRSA(0, "k")
	p := newIDP(t, keySet(t, k.jwk(t, nil)))
	var calls atomic.Int32
	s := newSetFor(t, p, clock.NewFake(t0), WithFetchHook(func(error) {
		calls.Add(1)
		panic("metrics broke")
	}))
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("hook called %d times, want 2", n)
	}
}

// TestClose: Close stops fetching, is idempotent, and leaves the cached
// keys usable; TestMain checks that no goroutine is left.
func TestClose(t *testing.T) {
	k := newRSA(0, "k")
	p := newIDP(t, keySet(t, k.jwk(t, nil)))
	clk := clock.NewFake(t0)
	s := newSetFor(t, p, clk)
	v := verifier(t, s)
	for range 2 {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if n := clk.Pending(); n != 0 {
		t.Fatalf("%d timers left", n)
	}
	clk.Advance(24 * time.Hour)
	check(t, v, k.sign(t, "RS256"), "", "")
	check(t, v, k.sign(t, "RS256", "other"), core.CodeInvalidSecret, notFoundMsg)
	if err := s.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh on a closed Set succeeded")
	}
	if n := p.hits.Load(); n != 1 {
		t.Fatalf("%d fetches after Close", n-1)
	}
}

// TestCloseDuringFetch: Close abandons a fetch in progress instead of
// waiting for the key server, waits for its goroutine to end, and a caller
// waiting for it is released.
func TestCloseDuringFetch(t *testing.T) {
	k := newRSA(0, "k")
	p := newIDP(t, keySet(t, k.jwk(t, nil)))
	release := p.holdRequests()
	defer release()
	var rec recorder
	s, err := New(context.Background(), p.url(), WithHTTPClient(p.srv.Client()), WithBackgroundStart(),
		WithFetchTimeout(time.Hour), WithFetchHook(rec.hook))
	if err != nil {
		t.Fatal(err)
	}
	v := verifier(t, s)
	waiter := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), k.sign(t, "RS256"), nil)
		waiter <- err
	}()
	eventually(t, "the fetch to reach the server", func() bool { return p.waiting.Load() == 1 })
	done := make(chan struct{})
	go func() {
		_ = s.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the key server")
	}
	// The fetch goroutine had ended when Close returned: it had reported.
	if errs := rec.all(); len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
		t.Fatalf("hook got %v when Close returned, want the canceled fetch", errs)
	}
	select {
	case err := <-waiter:
		if core.CodeOf(err) != core.CodeKeySetUnavailable {
			t.Fatalf("the waiting caller got %v, want keyset_unavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting caller was not released")
	}
}

// TestRefreshContext: Refresh gives up when its context ends, and the fetch
// goes on for the others.
func TestRefreshContext(t *testing.T) {
	k := newRSA(0, "k")
	p := newIDP(t, keySet(t, k.jwk(t, nil)))
	s := newSetFor(t, p, clock.NewFake(t0))
	release := p.holdRequests()
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Refresh(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Refresh: %v", err)
	}
	release()
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
}
