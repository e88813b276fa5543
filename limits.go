package siojwt

import (
	"errors"
	"sync"

	"github.com/siojwt/siojwt/core"
	"golang.org/x/time/rate"
)

// Default limits.
const (
	// DefaultFailureRate and DefaultFailureBurst: failed authentications
	// allowed per client address (a token bucket).
	DefaultFailureRate  = rate.Limit(1)
	DefaultFailureBurst = 20
	// DefaultMaxLimitedAddrs bounds the limiter's memory.
	DefaultMaxLimitedAddrs = 10000
	// DefaultMaxPendingPerAddr caps unauthenticated sockets per address in
	// post-connect mode.
	DefaultMaxPendingPerAddr = 100
)

// WithFailureLimit rate-limits failed authentications per client address:
// after burst failures, an address may fail r times a second; beyond that
// its attempts are refused with code "rate_limited" before any token is
// checked. At most maxAddrs addresses are tracked (the oldest are
// forgotten first). The limit is on by default (DefaultFailureRate,
// DefaultFailureBurst); WithoutFailureLimit turns it off.
func WithFailureLimit(r rate.Limit, burst, maxAddrs int) Option {
	return func(a *Auth) error {
		if r <= 0 || burst <= 0 || maxAddrs <= 0 {
			return errors.New("siojwt: failure limit values must be positive")
		}
		a.limiter = newLimiter(r, burst, maxAddrs)
		return nil
	}
}

// WithoutFailureLimit turns the failure rate limit off.
func WithoutFailureLimit() Option { return func(a *Auth) error { a.limiter = nil; return nil } }

// WithMaxPendingPerAddr caps the sockets one address may hold open
// without authenticating in post-connect mode (default
// DefaultMaxPendingPerAddr); further ones are refused with "rate_limited".
func WithMaxPendingPerAddr(n int) Option {
	return func(a *Auth) error {
		if n <= 0 {
			return errors.New("siojwt: max pending must be positive")
		}
		a.pendingPerAddr = n
		return nil
	}
}

var errRateLimited = core.NewError(core.CodeRateLimited, "too many failed authentications, retry later", nil)

// limiter is a bounded map of per-address token buckets for failures.
type limiter struct {
	r        rate.Limit
	burst    int
	maxAddrs int

	mu    sync.Mutex
	addrs map[string]*rate.Limiter
	order []string // insertion order, for eviction
}

func newLimiter(r rate.Limit, burst, maxAddrs int) *limiter {
	return &limiter{r: r, burst: burst, maxAddrs: maxAddrs, addrs: make(map[string]*rate.Limiter)}
}

// check refuses an address whose failure budget is spent. A nil limiter
// allows everything.
func (l *limiter) check(addr string) *core.Error {
	if l == nil || addr == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.addrs[addr]
	if ok && b.Tokens() < 1 {
		return core.NewError(errRateLimited.Code, errRateLimited.Message, nil)
	}
	return nil
}

// fail spends one token of the address's failure budget. A new address
// beyond maxAddrs evicts the one tracked the longest.
func (l *limiter) fail(addr string) {
	if l == nil || addr == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.addrs[addr]
	if !ok {
		for len(l.addrs) >= l.maxAddrs && len(l.order) > 0 {
			delete(l.addrs, l.order[0])
			l.order = l.order[1:]
		}
		b = rate.NewLimiter(l.r, l.burst)
		l.addrs[addr] = b
		l.order = append(l.order, addr)
	}
	b.Allow()
}

// size returns the number of tracked addresses.
func (l *limiter) size() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.addrs)
}

// countPending counts a pending socket against its address's cap.
func (a *Auth) countPending(addr string) *core.Error {
	if a.pendingPerAddr <= 0 {
		return nil
	}
	a.pendingMu.Lock()
	defer a.pendingMu.Unlock()
	if a.pending[addr] >= a.pendingPerAddr {
		return core.NewError(core.CodeRateLimited, "too many unauthenticated connections, retry later", nil)
	}
	if a.pending == nil {
		a.pending = make(map[string]int)
	}
	a.pending[addr]++
	return nil
}

// releasePending undoes countPending once.
func (a *Auth) releasePending(addr string) {
	a.pendingMu.Lock()
	defer a.pendingMu.Unlock()
	if a.pending[addr] <= 1 {
		delete(a.pending, addr)
		return
	}
	a.pending[addr]--
}
