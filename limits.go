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
	// counted per client address (a token bucket) before that address's
	// failures are answered "rate_limited".
	DefaultFailureRate  = rate.Limit(1)
	DefaultFailureBurst = 20
	// DefaultMaxLimitedAddrs bounds the limiter's memory.
	DefaultMaxLimitedAddrs = 10000
	// DefaultMaxPendingPerAddr caps unauthenticated sockets per address in
	// post-connect mode. A socket is pending for at most the authenticate
	// timeout (DefaultAuthenticateTimeout, 5 s), and a slot is freed as
	// soon as its connection ends: 10 000 admits a reverse proxy (every
	// client on one address) taking 2 000 new sockets a second, or all its
	// clients reconnecting at once. With WithTrustedProxies each client
	// has its own address: a much lower cap then fits.
	DefaultMaxPendingPerAddr = 10000
)

// WithFailureLimit rate-limits failed authentications per client address:
// after burst failures, an address may fail r times a second; beyond that
// its failures are answered with code "rate_limited" instead of their own
// code. Every token is verified first: a valid token is never refused,
// whatever other clients on the same address (behind the same proxy) did,
// and an attempt without a token is no failure. The limit keeps a prober
// from learning why its tokens fail, and tells clients that keep failing
// to back off; verification itself costs microseconds, rejection log
// lines are rate-limited on their own, and key sets are fetched for
// unknown key IDs at most once per cooldown whoever asks (see package
// jwks). At most maxAddrs addresses are tracked (the oldest are forgotten
// first). The limit is on by default (DefaultFailureRate,
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
// A socket holds its slot until it authenticates, is disconnected, or its
// connection ends, whichever comes first.
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

// failed counts a failed authentication from addr, and returns what to
// answer the client: err itself, or "rate_limited" when the address had
// spent its failure budget already (the event keeps err). An attempt
// without a token is not a failure: it is neither counted nor limited.
func (a *Auth) failed(addr string, err error) *core.Error {
	e := core.AsError(err)
	if a.limiter == nil || errors.Is(err, core.ErrCredentialsRequired) {
		return e
	}
	key := limitKey(addr)
	limited := a.limiter.check(key)
	a.limiter.fail(key)
	if limited != nil {
		return limited
	}
	return e
}

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
	addr = limitKey(addr)
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
	addr = limitKey(addr)
	a.pendingMu.Lock()
	defer a.pendingMu.Unlock()
	if a.pending[addr] <= 1 {
		delete(a.pending, addr)
		return
	}
	a.pending[addr]--
}

// holdPending makes ss hold the pending slot counted for addr until it
// authenticates, is cleaned up, or its connection ends. A client that
// sends CONNECT and goes away before the server library connects the
// socket gets no "disconnect": the end of its connection frees the slot.
func (a *Auth) holdPending(ss *session, addr string) {
	ss.mu.Lock()
	ss.pendAddr = addr
	ss.mu.Unlock()
	conn := ss.s.Conn()
	id := conn.Id()
	a.pendingMu.Lock()
	if a.pendingConns == nil {
		a.pendingConns = make(map[string]map[*session]struct{})
	}
	held, watched := a.pendingConns[id]
	if !watched {
		held = make(map[*session]struct{})
		a.pendingConns[id] = held
	}
	held[ss] = struct{}{}
	a.pendingMu.Unlock()
	if !watched {
		// One listener per connection, however many sockets it opens
		// (the server library removes listeners by function, not by
		// closure, so per-socket listeners could not be removed one by
		// one).
		_ = conn.Once("close", func(...any) { a.connClosed(id) })
	}
	if conn.ReadyState() == "closed" {
		a.connClosed(id) // closed before the listener was in place
	}
}

// releasePendingOf undoes holdPending for ss once addr was taken from it.
func (a *Auth) releasePendingOf(ss *session, addr string) {
	a.releasePending(addr)
	a.pendingMu.Lock()
	defer a.pendingMu.Unlock()
	if held, ok := a.pendingConns[ss.s.Conn().Id()]; ok {
		delete(held, ss)
	}
}

// connClosed frees the slots of the sessions still pending on a
// connection that ended, and forgets those whose socket never connected.
func (a *Auth) connClosed(id string) {
	a.pendingMu.Lock()
	held := a.pendingConns[id]
	delete(a.pendingConns, id)
	a.pendingMu.Unlock()
	for ss := range held {
		ss.mu.Lock()
		admitted := ss.state == stateAdmitted
		addr := ss.pendAddr
		ss.pendAddr = ""
		ss.mu.Unlock()
		if addr != "" {
			a.releasePending(addr)
		}
		if admitted {
			ss.cleanup(false, false) // never connected: nothing to recover
		}
	}
}
