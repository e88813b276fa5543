package siojwt

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/revoke"
)

// RevocationStore answers whether a token is revoked (package revoke and
// its Redis implementation). When it also implements RevocationWatcher,
// revocations made anywhere cut this server's live sockets.
type RevocationStore interface {
	IsRevoked(ctx context.Context, t revoke.Token) (bool, error)
}

// RevocationWatcher announces revocations (see revoke.Watcher).
type RevocationWatcher interface {
	Watch(ctx context.Context, fn func(revoke.Revocation)) error
}

// WithRevocationStore refuses revoked tokens at handshake, "authenticate"
// and refresh, and cuts live sockets when the store announces a
// revocation. A store that cannot answer makes the check fail (code
// internal_error) unless the store itself is configured to fail open.
func WithRevocationStore(store RevocationStore) Option {
	return func(a *Auth) error {
		if store == nil {
			return errors.New("siojwt: nil revocation store")
		}
		a.revocation = store
		return nil
	}
}

// DisconnectRevoked cuts this server's live sockets that r matches, as a
// watching store does. Use it with stores that do not watch.
func (a *Auth) DisconnectRevoked(r revoke.Revocation) { a.onRevocation(r) }

// watchRevocations follows a watching store until Close.
func (a *Auth) watchRevocations() {
	w, ok := a.revocation.(RevocationWatcher)
	if !ok {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := w.Watch(a.ctx, a.onRevocation); err != nil && a.ctx.Err() == nil {
			a.logError("revocation watch stopped", "err", err)
		}
	}()
}

// onRevocation cuts this server's live sockets whose token the revocation
// matches. It first logs the revocation (revocationLog), for the tokens
// being checked at this moment, which no session holds yet.
func (a *Auth) onRevocation(r revoke.Revocation) {
	a.revoked.add(r)
	a.sessions.each(func(ss *session) {
		ss.mu.Lock()
		res := ss.res
		ss.mu.Unlock()
		if res != nil && r.Matches(tokenOf(res.Claims)) {
			ss.s.Enqueue(func() {
				// A refresh handled meanwhile on the same queue may have
				// replaced the token: cut only if r matches the current one.
				ss.mu.Lock()
				cur := ss.res
				ss.mu.Unlock()
				if cur == res || cur != nil && r.Matches(tokenOf(cur.Claims)) {
					ss.cut(EventRevoked, cur, errRevoked(nil))
				}
			})
		}
	})
}

// revocationLogSize is how many of the latest revocations revocationLog
// keeps.
const revocationLogSize = 256

// revocationLog numbers the revocations this Auth is told of and keeps the
// latest. A token is checked against the store, then installed in its
// session; a revocation announced in between finds the session still
// holding the previous token (or none) and cuts nothing. So every path that
// installs a token takes a mark before its store lookup and, once the
// token is installed where onRevocation looks, asks the log whether a
// revocation announced since the mark matches it (revokedSince). A store
// records a revocation before it announces it: one announced before the
// mark is one the lookup saw.
type revocationLog struct {
	n    atomic.Uint64 // revocations added so far
	mu   sync.Mutex
	ring [revocationLogSize]revoke.Revocation // revocation i at i % revocationLogSize
}

// mark is the number of revocations added so far.
func (l *revocationLog) mark() uint64 { return l.n.Load() }

func (l *revocationLog) add(r revoke.Revocation) {
	l.mu.Lock()
	n := l.n.Load()
	l.ring[n%revocationLogSize] = r
	l.n.Store(n + 1)
	l.mu.Unlock()
}

// matchesSince reports whether a revocation added since mark matches t;
// known is false when more were added than the log keeps.
func (l *revocationLog) matchesSince(mark uint64, t revoke.Token) (matched, known bool) {
	if l.n.Load() == mark {
		return false, true // the usual case: nothing announced meanwhile
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.n.Load()
	if n-mark > revocationLogSize {
		return false, false
	}
	for i := mark; i < n; i++ {
		if l.ring[i%revocationLogSize].Matches(t) {
			return true, true
		}
	}
	return false, true
}

// revokedKind is the kind of event that reports a revokedSince error: a
// revocation, or a store that could not answer.
func revokedKind(e *core.Error) EventKind {
	if e.Code == core.CodeInternal {
		return EventRejected
	}
	return EventRevoked
}

// revokedSince is what a token installed after a store lookup made at mark
// must pass: nil, or the error that ends its authentication. When more
// revocations were announced meanwhile than the log keeps, the store is
// asked again (without a store, the token is refused: only
// DisconnectRevoked announces revocations then, and a retry will pass).
func (a *Auth) revokedSince(mark uint64, c *core.Claims) *core.Error {
	matched, known := a.revoked.matchesSince(mark, tokenOf(c))
	switch {
	case matched:
		return errRevoked(nil)
	case known:
		return nil
	case a.revocation != nil:
		if err := a.checkRevoked(a.ctx, c); err != nil {
			return core.AsError(err)
		}
		return nil
	}
	return core.NewError(core.CodeInternal, "revocation check failed", errors.New("siojwt: too many revocations announced during the check"))
}

// errRevoked is what a revoked token gets.
func errRevoked(cause error) *core.Error {
	return core.NewError(core.CodeInvalidToken, "jwt revoked", cause)
}

func (a *Auth) checkRevoked(ctx context.Context, c *core.Claims) error {
	if a.revocation == nil {
		return nil
	}
	revoked, err := a.revocation.IsRevoked(ctx, tokenOf(c))
	if err != nil {
		// Stores fail closed unless configured to fail open themselves.
		return core.NewError(core.CodeInternal, "revocation check failed", err)
	}
	if revoked {
		return errRevoked(nil)
	}
	return nil
}

func tokenOf(c *core.Claims) revoke.Token {
	return revoke.Token{JTI: c.ID, Subject: c.Subject, IssuedAt: c.IssuedAt}
}
