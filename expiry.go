package siojwt

import (
	"time"

	"github.com/siojwt/siojwt/core"
)

// expiresLocked is when the socket will be cut unless it refreshes, and
// false when its token has no "exp" or expiry is not enforced. It is
// derived from the token each time rather than kept: one time.Time less
// for the life of every socket.
func (ss *session) expiresLocked() (time.Time, bool) {
	if ss.res == nil || !ss.a.expiry {
		return time.Time{}, false
	}
	return ss.ns.verifier.ExpiresAt(ss.res.Claims)
}

// scheduleLocked sets the one expiry timer of the socket.
func (ss *session) scheduleLocked() {
	a := ss.a
	exp, ok := ss.expiresLocked()
	if !ok {
		if ss.timer != nil {
			ss.timer.Stop()
		}
		return
	}
	ss.warned = false
	d := exp.Sub(a.clock.Now())
	if a.warnBefore > 0 {
		// At the warning point, or at once for a token that is already
		// inside the warning window.
		d = max(d-a.warnBefore, 0)
	}
	if ss.timer == nil {
		ss.timer = a.clock.AfterFunc(d, ss.onTimer)
	} else {
		ss.timer.Reset(d)
	}
}

// onTimer runs when the expiry timer fires: it either warns and rearms for
// the expiry itself, or cuts the socket.
func (ss *session) onTimer() {
	a := ss.a
	ss.mu.Lock()
	exp, ok := ss.expiresLocked()
	if !ss.liveLocked() || !ok {
		ss.mu.Unlock()
		return
	}
	left := exp.Sub(a.clock.Now())
	if left > 0 {
		// The warning point (or a timer that fired early): warn once per
		// token, rearm for the expiry.
		ss.timer.Reset(left)
		warn := a.warnBefore > 0 && !ss.warned
		ss.warned = true
		ss.mu.Unlock()
		if warn {
			_ = ss.s.Emit(a.warnEvent, map[string]any{"exp": exp.Unix(), "expiresIn": left.Milliseconds()})
		}
		return
	}
	res := ss.res
	ss.mu.Unlock()
	ss.cut(EventExpired, res, core.NewError(core.CodeInvalidToken, "jwt expired", nil))
}
