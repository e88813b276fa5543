package siojwt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/clock"
	"github.com/siojwt/siojwt/revoke"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// Session is what the application can read about an authenticated socket.
type Session struct {
	// Token is the raw JWT (socketio-jwt's encoded_token). Treat it as a
	// secret.
	Token string
	// Claims are the verified claims (socketio-jwt's decoded_token).
	Claims *core.Claims
	// Mode is how the socket authenticated.
	Mode Mode
	// AuthenticatedAt is when the current token was accepted.
	AuthenticatedAt time.Time
	// ExpiresAt is when the socket will be cut unless it refreshes; zero
	// when its token has no "exp" or expiry is not enforced.
	ExpiresAt time.Time
}

// session is the binding's per-socket state.
type session struct {
	a    *Auth
	s    *socket.Socket
	ns   *nsConfig
	hs   *core.Handshake
	mode Mode

	mu       sync.Mutex
	res      *core.Result // nil while pending (post-connect mode)
	at       time.Time
	expires  time.Time
	timer    clock.Timer // expiry (and its warning): one per socket
	timeout  clock.Timer // authenticate timeout or connect grace
	cutting  bool        // a cut is under way: ignore everything else
	warned   bool        // the expiry warning for the current token was sent
	closed   bool        // cleaned up
	attached bool        // "connection" seen
	pendAddr string      // counted against the pending cap, until released
}

// Session returns the socket's authentication, and false when the socket is
// not (or not yet) authenticated by this Auth.
func (a *Auth) Session(s *socket.Socket) (Session, bool) {
	v, ok := a.sessions.Load(s)
	if !ok {
		return Session{}, false
	}
	ss := v.(*session)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.res == nil || ss.closed {
		return Session{}, false
	}
	return Session{Token: ss.res.Token, Claims: ss.res.Claims, Mode: ss.mode, AuthenticatedAt: ss.at, ExpiresAt: ss.expires}, true
}

// Claims returns the socket's verified claims, or nil when it is not
// authenticated.
func (a *Auth) Claims(s *socket.Socket) *core.Claims {
	ss, ok := a.Session(s)
	if !ok {
		return nil
	}
	return ss.Claims
}

// Token returns the socket's raw token, or "" when it is not authenticated.
func (a *Auth) Token(s *socket.Socket) string {
	ss, _ := a.Session(s)
	return ss.Token
}

// Authenticated reports whether the socket has authenticated.
func (a *Auth) Authenticated(s *socket.Socket) bool {
	_, ok := a.Session(s)
	return ok
}

func (ss *session) event(kind EventKind, code string, res *core.Result, d time.Duration, err error) Event {
	e := Event{Kind: kind, Mode: ss.mode, Namespace: ss.s.Nsp().Name(), SocketID: string(ss.s.Id()),
		Code: code, Duration: d, Err: err}
	if ss.hs != nil {
		e.RemoteAddr = ss.hs.RemoteAddr
	}
	if res != nil {
		e.Subject = res.Claims.Subject
		e.Fingerprint = Fingerprint(res.Token)
	}
	return e
}

// verify runs the namespace's verifier and the revocation check: the one
// path shared by both modes, refreshes and recovered sockets.
func (a *Auth) verify(ctx context.Context, v *core.Verifier, token any, hs *core.Handshake) (*core.Result, error) {
	if hs != nil && token == nil {
		return nil, errors.New("siojwt: nil token")
	}
	res, err := v.Verify(ctx, token, hs)
	if err != nil {
		return nil, err
	}
	if err := a.checkRevoked(ctx, res.Claims); err != nil {
		return nil, err
	}
	return res, nil
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

// accept makes res the socket's authentication: it leaves the pending room,
// (re)schedules expiry and tells the client. It reports false when the
// socket went away meanwhile. The caller holds no lock.
func (ss *session) accept(res *core.Result, refresh bool) bool {
	a := ss.a
	ss.mu.Lock()
	if ss.closed || ss.cutting {
		ss.mu.Unlock()
		return false
	}
	ss.res = res
	ss.at = a.clock.Now()
	if ss.timeout != nil {
		ss.timeout.Stop()
		ss.timeout = nil
	}
	ss.scheduleLocked()
	pend := ss.pendAddr
	ss.pendAddr = ""
	ss.mu.Unlock()
	if pend != "" {
		a.releasePending(pend)
	}
	if ss.mode == ModePostConnect || refresh {
		ss.s.Leave(PendingRoom)
		_ = ss.s.Emit("authenticated")
	}
	return true
}

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
	if ss.closed || ss.cutting || ss.res == nil || ss.expires.IsZero() {
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

// cut reports the event kind (with res, the authentication being ended, if
// any), tells the client why with "unauthorized" and disconnects it so that
// it sees "io server disconnect". It runs at most once per socket: a later
// call, or one after the socket went away, does nothing.
func (ss *session) cut(kind EventKind, res *core.Result, e *core.Error) {
	ss.mu.Lock()
	if ss.closed || ss.cutting {
		ss.mu.Unlock()
		return
	}
	ss.cutting = true
	ss.stopTimersLocked()
	ss.mu.Unlock()
	ss.a.emit(ss.event(kind, e.Code, res, 0, e.Err))
	ss.a.unauthorized(ss.s, e, ss.ns.unauthorizedWait)
}

func (ss *session) stopTimersLocked() {
	if ss.timer != nil {
		ss.timer.Stop()
	}
	if ss.timeout != nil {
		ss.timeout.Stop()
	}
}

// unauthorized emits socketio-jwt's "unauthorized" payload with an
// acknowledgement callback, then disconnects when the client acknowledges,
// or after wait (at once when wait is 0).
func (a *Auth) unauthorized(s *socket.Socket, e *core.Error, wait time.Duration) {
	payload := map[string]any{
		"message": e.Message,
		"inner":   map[string]any{"message": e.Message},
		"data":    e.Data(),
	}
	var once sync.Once
	done := func() { once.Do(func() { a.disconnect(s) }) }
	if wait <= 0 {
		// socketio-jwt always sends an ack callback, even with
		// callback: false; clients call it unconditionally.
		a.iso.emitDirect(s, "unauthorized", payload, func([]any, error) {})
		done()
		return
	}
	a.iso.emitDirect(s, "unauthorized", payload, func([]any, error) { done() })
	a.clock.AfterFunc(wait, done)
}

// disconnect is the one place where the binding disconnects a socket. The
// server library's Disconnect(true) usually loses the last packet, so the
// client would see "transport close" and reconnect: instead the socket is
// disconnected from its namespace (the client sees "io server disconnect";
// a client left with no namespace closes the connection itself) and, a
// moment later, the connection is closed unless it still carries a socket
// of another namespace.
func (a *Auth) disconnect(s *socket.Socket) {
	conn := s.Conn()
	s.Disconnect(false)
	a.clock.AfterFunc(a.closeGrace, func() {
		if a.conns.inUse(conn.Id()) {
			return
		}
		// Still there: a client that ignores the disconnect, or a
		// connection stuck closing (seen mid-upgrade under load). Force it.
		if st := conn.ReadyState(); st == "open" || st == "closing" {
			conn.Close(true)
		}
	})
}

// cleanup runs once per socket, however often the server reports its
// disconnection.
func (ss *session) cleanup(reason string) {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return
	}
	ss.closed = true
	ss.stopTimersLocked()
	res, cutting, pend := ss.res, ss.cutting, ss.pendAddr
	ss.pendAddr = ""
	ss.mu.Unlock()
	a := ss.a
	a.sessions.Delete(ss.s)
	if pend != "" {
		a.releasePending(pend)
	}
	if res != nil && !cutting {
		if recoverable(a.server, reason) {
			key := ss.s.Nsp().Name() + "\x00" + string(ss.s.Id())
			a.recent.Store(key, res)
			a.clock.AfterFunc(recoveryWindow(a.server), func() { a.recent.CompareAndDelete(key, res) })
		}
		a.emit(ss.event(EventClosed, "", res, 0, nil))
	}
}

func recoverable(srv *socket.Server, reason string) bool {
	return srv.Opts().ConnectionStateRecovery() != nil && socket.RECOVERABLE_DISCONNECT_REASONS.Has(reason)
}

func recoveryWindow(srv *socket.Server) time.Duration {
	if r := srv.Opts().ConnectionStateRecovery(); r != nil && r.MaxDisconnectionDuration() > 0 {
		return time.Duration(r.MaxDisconnectionDuration()) * time.Millisecond
	}
	return 2 * time.Minute
}

// onRevocation cuts this server's live sockets whose token the revocation
// matches.
func (a *Auth) onRevocation(r revoke.Revocation) {
	a.sessions.Range(func(_, v any) bool {
		ss := v.(*session)
		ss.mu.Lock()
		res := ss.res
		ss.mu.Unlock()
		if res != nil && r.Matches(tokenOf(res.Claims)) {
			ss.s.Enqueue(func() { ss.cut(EventRevoked, res, errRevoked(nil)) })
		}
		return true
	})
}

// safely runs fn, turning a panic into an internal error.
func safely(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = core.NewError(core.CodeInternal, "internal error", fmt.Errorf("siojwt: panic: %v", p))
		}
	}()
	return fn()
}
