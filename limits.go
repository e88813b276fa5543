package siojwt

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/revoke"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"golang.org/x/time/rate"
)

// RevocationStore answers whether a token is revoked (package revoke and its Redis
// implementation). When it also implements RevocationWatcher, revocations
// made anywhere cut this server's live sockets.
type RevocationStore interface {
	IsRevoked(ctx context.Context, t revoke.Token) (bool, error)
}

// RevocationWatcher announces revocations (see revoke.Watcher).
type RevocationWatcher interface {
	Watch(ctx context.Context, fn func(revoke.Revocation)) error
}

// WithRevocationStore refuses revoked tokens at handshake, "authenticate" and
// refresh, and cuts live sockets when the store announces a revocation. A
// store that cannot answer makes the check fail (code internal_error)
// unless the store itself is configured to fail open.
func WithRevocationStore(store RevocationStore) Option {
	return func(a *Auth) error {
		if store == nil {
			return errors.New("siojwt: nil revocation store")
		}
		a.revocation = store
		return nil
	}
}

// DisconnectRevoked cuts this server's live sockets that r matches, as a watching
// store does. Use it with stores that do not watch.
func (a *Auth) DisconnectRevoked(r revoke.Revocation) { a.onRevocation(r) }

// WithTrustedProxies takes the client address from the last
// X-Forwarded-For hop added by one of the given proxies (CIDR prefixes or
// addresses). Without it the address is the TCP peer: X-Forwarded-For is
// never trusted blindly.
func WithTrustedProxies(proxies ...string) Option {
	return func(a *Auth) error {
		var nets []netip.Prefix
		for _, p := range proxies {
			if !strings.Contains(p, "/") {
				addr, err := netip.ParseAddr(p)
				if err != nil {
					return err
				}
				p = netip.PrefixFrom(addr, addr.BitLen()).String()
			}
			pfx, err := netip.ParsePrefix(p)
			if err != nil {
				return err
			}
			nets = append(nets, pfx.Masked())
		}
		if len(nets) == 0 {
			return errors.New("siojwt: no trusted proxies")
		}
		a.remoteAddr = func(r *http.Request, peer string) string { return forwardedFor(r, peer, nets) }
		return nil
	}
}

func trusted(addr string, nets []netip.Prefix) bool {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, n := range nets {
		if n.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// forwardedFor walks X-Forwarded-For from the right while the hops are
// trusted proxies, and returns the first untrusted one.
func forwardedFor(r *http.Request, peer string, nets []netip.Prefix) string {
	if r == nil || !trusted(peer, nets) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		for _, p := range strings.Split(h, ",") {
			if p = strings.TrimSpace(p); p != "" {
				hops = append(hops, p)
			}
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		if !trusted(hops[i], nets) {
			return hops[i]
		}
	}
	return peer
}

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
	addrs map[string]*bucket
	order []string // insertion order, for eviction
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

func newLimiter(r rate.Limit, burst, maxAddrs int) *limiter {
	return &limiter{r: r, burst: burst, maxAddrs: maxAddrs, addrs: make(map[string]*bucket)}
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
	if ok && b.l.Tokens() < 1 {
		return core.NewError(errRateLimited.Code, errRateLimited.Message, nil)
	}
	return nil
}

// fail spends one token of the address's failure budget.
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
		b = &bucket{l: rate.NewLimiter(l.r, l.burst)}
		l.addrs[addr] = b
		l.order = append(l.order, addr)
	}
	b.seen = time.Now()
	b.l.Allow()
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

// admitPending counts a pending socket against its address's cap.
func (a *Auth) admitPending(s *socket.Socket) *core.Error {
	if a.pendingPerAddr <= 0 {
		return nil
	}
	addr := a.addrOf(s)
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

func (a *Auth) addrOf(s *socket.Socket) string {
	var req *http.Request
	if ctx := s.Request(); ctx != nil {
		req = ctx.Request()
	}
	return hostOnly(a.remoteAddr(req, s.Handshake().Address))
}

// hostOnly drops the port: limits and audit logs are per client IP.
func hostOnly(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// releasePending undoes admitPending once.
func (a *Auth) releasePending(addr string) {
	a.pendingMu.Lock()
	defer a.pendingMu.Unlock()
	if a.pending[addr] <= 1 {
		delete(a.pending, addr)
		return
	}
	a.pending[addr]--
}
