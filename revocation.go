package siojwt

import (
	"context"
	"errors"

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
// matches.
func (a *Auth) onRevocation(r revoke.Revocation) {
	a.sessions.each(func(ss *session) {
		ss.mu.Lock()
		res := ss.res
		ss.mu.Unlock()
		if res != nil && r.Matches(tokenOf(res.Claims)) {
			ss.s.Enqueue(func() { ss.cut(EventRevoked, res, errRevoked(nil)) })
		}
	})
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
