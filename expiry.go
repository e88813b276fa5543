package siojwt

import (
	"time"

	"github.com/siojwt/siojwt/core"
)

// scheduleLocked sets the one expiry timer of the socket.
func (ss *session) scheduleLocked() {
	a := ss.a
	ss.expires = time.Time{}
	exp, ok := ss.ns.verifier.ExpiresAt(ss.res.Claims)
	if !a.expiry || !ok {
		if ss.timer != nil {
			ss.timer.Stop()
		}
		return
	}
	ss.expires = exp
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
	if !ss.liveLocked() || ss.res == nil || ss.expires.IsZero() {
		ss.mu.Unlock()
		return
	}
	left := ss.expires.Sub(a.clock.Now())
	if left > 0 {
		// The warning point (or a timer that fired early): warn once per
		// token, rearm for the expiry.
		ss.timer.Reset(left)
		warn := a.warnBefore > 0 && !ss.warned
		ss.warned = true
		exp := ss.expires
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
