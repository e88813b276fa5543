package jwks

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"golang.org/x/time/rate"

	"github.com/siojwt/siojwt/internal/clock"
)

// source is one remote key set: its keys, and the schedule of its fetches.
//
// jwkset can refresh a key set on its own, but not as a verifier needs it:
// its refresh goroutine cannot be waited for, it logs to slog.Default, and
// its refetch for an unknown kid runs on each caller's context with no
// de-duplication, so concurrent connections each fetch, or are refused
// while the fetch that would bring their key is in flight. source keeps
// jwkset's fetch and parser, and keyfunc's lookup, and schedules fetches
// itself: one at a time, shared by every caller, on a timer that Close
// stops. Refetches for an unknown kid are spaced as jwkset spaces them: by
// a rate limiter of one fetch per cooldown, which the other fetches (the
// first, the background ones, Refresh) do not draw on, so that the first
// unknown kid after any of them fetches at once.
type source struct {
	set    *Set
	issuer string // the "iss" it serves; "" for New

	// jwksURL is the key set's URL; with discovery, it is found by the
	// first successful one. Only the fetch in progress reads and writes
	// it: fetches of a source never overlap.
	jwksURL string

	store *jwkset.MemoryJWKSet // keys of the last successful fetch
	kf    keyfunc.Keyfunc      // lookups in store
	state atomic.Pointer[state]

	// unknownKID spaces the fetches started for unknown kids, and only
	// those: one per cooldown, read on the Set's clock under mu.
	unknownKID *rate.Limiter

	mu       sync.Mutex
	inflight chan struct{} // closed when the fetch in progress ends; nil when none
	forKID   bool          // the fetch in progress was started for an unknown kid
	waiting  atomic.Int32  // callers of refetch waiting for a fetch (for tests)
	timer    clock.Timer   // next background fetch
	closed   bool
}

// state is the outcome of a source's last fetch.
type state struct {
	err error // why it failed; nil if it succeeded (or before the first)
}

func newSource(s *Set, issuer, jwksURL string) (*source, error) {
	src := &source{set: s, issuer: issuer, jwksURL: jwksURL, store: jwkset.NewMemoryStorage(),
		unknownKID: rate.NewLimiter(rate.Every(s.cfg.cooldown), 1)}
	// keyfunc refuses keys whose "use" is not "sig", or absent.
	kf, err := keyfunc.New(keyfunc.Options{Storage: src.store, UseWhitelist: []jwkset.USE{jwkset.UseSig, ""}})
	if err != nil {
		return nil, err
	}
	src.kf = kf
	src.state.Store(&state{})
	return src, nil
}

// fetch fetches the key set once, discovering its URL first if needed, and
// records the outcome. A failed fetch keeps the keys of the last good one.
func (src *source) fetch(ctx context.Context) error {
	c := src.set.cfg
	err := src.load(ctx)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		// Canceled or timed out: say so, whatever the transport made of it.
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	src.state.Store(&state{err: err})
	if err != nil {
		c.logger.Warn("jwks: fetching a key set failed; cached keys stay in use", "issuer", src.issuer, "err", err)
	} else {
		c.logger.Debug("jwks: key set fetched", "issuer", src.issuer, "url", redact(src.jwksURL))
	}
	src.report(err)
	return err
}

func (src *source) load(ctx context.Context) error {
	s := src.set
	if src.jwksURL == "" {
		u, err := discover(ctx, s.client, src.issuer, s.cfg.insecureHTTP)
		if err != nil {
			return err
		}
		src.jwksURL = u
	}
	keys, skips, err := load(ctx, s.cfg, s.client, src.jwksURL)
	for _, sk := range skips {
		if sk.secret {
			s.cfg.logger.Error("jwks: key set publishes secret key material; key left out",
				"issuer", src.issuer, "url", redact(src.jwksURL), "kid", sk.kid, "reason", sk.reason)
		} else {
			s.cfg.logger.Debug("jwks: key left out", "issuer", src.issuer, "kid", sk.kid, "reason", sk.reason)
		}
	}
	if err != nil {
		return fmt.Errorf("jwks: key set %s: %w", redact(src.jwksURL), err)
	}
	return src.store.KeyReplaceAll(ctx, keys)
}

// report calls the fetch hook, which must not bring the server down.
func (src *source) report(err error) {
	c := src.set.cfg
	if c.hook == nil {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			c.logger.Error("jwks: fetch hook panicked", "panic", p)
		}
	}()
	c.hook(err)
}

// refetch fetches the key set for a token whose key is not cached, unless
// another such refetch started less than the cooldown ago, and returns the
// state after it. It joins the fetch in progress, if any, and waits for it
// no longer than ctx allows. again reports that the fetch joined was not
// started for an unknown kid (the first, a background one, Refresh) and
// succeeded: it may have started before the key was published, so the
// caller may try once more.
func (src *source) refetch(ctx context.Context) (st *state, again bool, err error) {
	src.mu.Lock()
	if src.inflight == nil {
		if src.closed || !src.unknownKID.AllowN(src.set.cfg.clock.Now(), 1) {
			src.mu.Unlock()
			return src.state.Load(), false, nil
		}
		src.startFetchLocked()
		src.forKID = true
	}
	done, again := src.inflight, !src.forKID
	src.mu.Unlock()
	src.waiting.Add(1)
	defer src.waiting.Add(-1)
	select {
	case <-done:
		st := src.state.Load()
		// After a failure, a second fetch now would only double the wait.
		return st, again && st.err == nil, nil
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// join starts a fetch unless one is in progress, and returns the channel
// closed when it ends (nil once the source is closed).
func (src *source) join() chan struct{} {
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.closed {
		return nil
	}
	if src.inflight == nil {
		src.startFetchLocked()
	}
	return src.inflight
}

// tick is the refresh timer's function.
func (src *source) tick() {
	src.mu.Lock()
	defer src.mu.Unlock()
	if !src.closed && src.inflight == nil {
		src.startFetchLocked()
	}
}

// startFetchLocked starts a fetch on a goroutine of its own, bounded by the
// fetch timeout and by Close, so that no caller's context can cut short a
// fetch that others wait for. When it ends, the refresh timer is re-armed:
// a full interval after a success, the cooldown after a failure.
func (src *source) startFetchLocked() {
	s := src.set
	done := make(chan struct{})
	src.inflight, src.forKID = done, false
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.fetchTimeout)
		err := src.fetch(ctx)
		cancel()
		src.mu.Lock()
		src.inflight = nil
		if !src.closed {
			next := s.cfg.refresh
			if err != nil {
				next = s.cfg.cooldown
			}
			src.timer.Reset(next)
		}
		src.mu.Unlock()
		close(done)
	}()
}

// stop stops the timer; the fetch in progress, if any, is canceled by the
// Set.
func (src *source) stop() {
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.closed {
		return
	}
	src.closed = true
	if src.timer != nil {
		src.timer.Stop()
	}
}

// redact returns u without its password, for logs and errors.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

// errClosed is Refresh's error on a closed Set.
var errClosed = errors.New("jwks: Refresh on a closed Set")
