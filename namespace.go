package siojwt

import (
	"errors"
	"time"

	"github.com/siojwt/siojwt/core"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// AuthenticateEvent is the event a client emits with {token} to
// authenticate (post-connect mode) or to refresh its token (both modes).
const AuthenticateEvent = "authenticate"

// nsConfig is one protected namespace's settings.
type nsConfig struct {
	mode             Mode
	verifier         *core.Verifier
	timeout          time.Duration
	optional         bool
	unauthorizedWait time.Duration
	onAuthenticated  func(*socket.Socket)
	onRefresh        func(s *socket.Socket, old, new *core.Result) error
	noRefresh        bool
}

// NamespaceOption configures one namespace.
type NamespaceOption func(*nsConfig) error

// NamespaceVerifier verifies this namespace's tokens with v instead of the Auth's
// default verifier (another key, audience or issuer).
func NamespaceVerifier(v *core.Verifier) NamespaceOption {
	return func(c *nsConfig) error {
		if v == nil {
			return errors.New("siojwt: nil verifier")
		}
		c.verifier = v
		return nil
	}
}

// NamespaceAuthenticateTimeout sets how long a socket may stay unauthenticated in post-connect
// mode before it is disconnected (socketio-jwt's timeout; default
// DefaultAuthenticateTimeout).
func NamespaceAuthenticateTimeout(d time.Duration) NamespaceOption {
	return func(c *nsConfig) error {
		if d <= 0 {
			return errors.New("siojwt: timeout must be positive")
		}
		c.timeout = d
		return nil
	}
}

// NamespaceOptional lets sockets stay connected without authenticating, with no
// timeout (socketio-jwt's required: false). They remain isolated (no
// broadcasts, no events but "authenticate") until they authenticate, unless
// the application treats them itself in its connection handler.
func NamespaceOptional() NamespaceOption {
	return func(c *nsConfig) error { c.optional = true; return nil }
}

// NamespaceUnauthorizedWait sets how long after "unauthorized" the socket is
// disconnected if the client does not acknowledge it first (socketio-jwt's
// callback: N). 0 disconnects at once (callback: false). Default
// DefaultUnauthorizedWait; there is no "wait forever".
func NamespaceUnauthorizedWait(d time.Duration) NamespaceOption {
	return func(c *nsConfig) error {
		if d < 0 {
			return errors.New("siojwt: negative wait")
		}
		c.unauthorizedWait = d
		return nil
	}
}

// NamespaceOnRefresh is called when an authenticated socket presents a new, valid
// token for the same subject; returning an error refuses the refresh and
// cuts the socket (an *core.Error chooses the code).
func NamespaceOnRefresh(fn func(s *socket.Socket, old, new *core.Result) error) NamespaceOption {
	return func(c *nsConfig) error {
		if fn == nil {
			return errors.New("siojwt: nil refresh hook")
		}
		c.onRefresh = fn
		return nil
	}
}

// NamespaceNoRefresh ignores "authenticate" from sockets that are already
// authenticated.
func NamespaceNoRefresh() NamespaceOption {
	return func(c *nsConfig) error { c.noRefresh = true; return nil }
}

func (a *Auth) namespace(mode Mode, nsp socket.Namespace, opts []NamespaceOption) (*nsConfig, error) {
	if nsp == nil {
		return nil, errors.New("siojwt: nil namespace")
	}
	c := &nsConfig{mode: mode, verifier: a.verifier, timeout: DefaultAuthenticateTimeout, unauthorizedWait: DefaultUnauthorizedWait}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("siojwt: nil namespace option")
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Protect requires a valid token in the handshake of every socket joining
// nsp (one round trip): a socket without one never connects and its
// client gets connect_error (v3/v4) or error (v1/v2) with {message, code,
// type: "UnauthorizedError"}. Call it before registering the application's
// own "connection" handler on nsp.
func (a *Auth) Protect(nsp socket.Namespace, opts ...NamespaceOption) error {
	c, err := a.namespace(ModeHandshake, nsp, opts)
	if err != nil {
		return err
	}
	a.conns.track(nsp)
	nsp.Use(func(s *socket.Socket, next func(*socket.ExtendedError)) {
		next(a.handshake(s, c))
	})
	return nsp.On("connection", func(args ...any) {
		if s, ok := socketArg(args); ok {
			a.connected(s, c)
		}
	})
}

// ProtectPostConnect runs the post-connect flow on nsp (two round trips): a socket
// connects, hears nothing and reaches no handler until it emits
// "authenticate" with {token}; then the server answers "authenticated" and
// calls onAuthenticated, or answers "unauthorized" and disconnects it.
// Without NamespaceOptional, a socket that does not authenticate within the timeout
// is disconnected.
func (a *Auth) ProtectPostConnect(nsp socket.Namespace, onAuthenticated func(*socket.Socket), opts ...NamespaceOption) error {
	c, err := a.namespace(ModePostConnect, nsp, opts)
	if err != nil {
		return err
	}
	a.conns.track(nsp)
	c.onAuthenticated = onAuthenticated
	nsp.Use(func(s *socket.Socket, next func(*socket.ExtendedError)) {
		if !installed(s.Nsp()) {
			next(extended(core.NewError(core.CodeInternal, "internal error", nil)))
			a.logError("namespace adapter is not wrapped: create the Auth after SetAdapter", "namespace", s.Nsp().Name())
			return
		}
		ss := &session{a: a, s: s, ns: c, mode: ModePostConnect, hs: a.handshakeOf(s)}
		if e := a.admitPending(s); e != nil {
			a.emit(ss.event(EventRejected, e.Code, nil, 0, nil))
			next(extended(e))
			return
		}
		ss.pendAddr = ss.hs.RemoteAddr
		a.sessions.Store(s, ss)
		// Events of a socket that has not authenticated reach no handler:
		// they are dropped, without an error. Registered before the socket
		// connects, so that no event slips through.
		s.Use(func(args []any, next func(error)) {
			if ev, _ := firstString(args); ev == AuthenticateEvent || a.Authenticated(s) {
				next(nil)
			}
		})
		ss.forgetUnlessConnected()
		// Pending from before it is connected: no broadcast can reach it.
		s.Join(PendingRoom)
		next(nil)
	})
	return nsp.On("connection", func(args ...any) {
		if s, ok := socketArg(args); ok {
			a.connected(s, c)
		}
	})
}

func socketArg(args []any) (*socket.Socket, bool) {
	if len(args) == 0 {
		return nil, false
	}
	s, ok := args[0].(*socket.Socket)
	return s, ok
}

func extended(e *core.Error) *socket.ExtendedError {
	return socket.NewExtendedError(e.Message, e.Data())
}

// handshake is the handshake-mode middleware's body: nil admits.
func (a *Auth) handshake(s *socket.Socket, c *nsConfig) (xe *socket.ExtendedError) {
	ss := &session{a: a, s: s, ns: c, mode: ModeHandshake}
	start := a.clock.Now()
	var res *core.Result
	err := safely(func() error {
		if !installed(s.Nsp()) {
			a.logError("namespace adapter is not wrapped: create the Auth after SetAdapter", "namespace", s.Nsp().Name())
			return core.NewError(core.CodeInternal, "internal error", nil)
		}
		ss.hs = a.handshakeOf(s)
		if e := a.limiter.check(ss.hs.RemoteAddr); e != nil {
			return e
		}
		tok, err := c.verifier.Extract(ss.hs)
		if err != nil {
			return err
		}
		res, err = a.verify(a.ctx, c.verifier, tok, ss.hs)
		return err
	})
	if err != nil {
		e := core.AsError(err)
		a.limiter.fail(remoteOf(ss.hs))
		a.emit(ss.event(EventRejected, e.Code, nil, a.clock.Now().Sub(start), err))
		return extended(e)
	}
	ss.res, ss.at = res, a.clock.Now()
	a.sessions.Store(s, ss)
	a.emit(ss.event(EventAuthenticated, "", res, a.clock.Now().Sub(start), nil))
	ss.forgetUnlessConnected()
	return nil
}

// forgetUnlessConnected drops a session admitted by a middleware whose
// socket never connects (its client went away meanwhile).
func (ss *session) forgetUnlessConnected() {
	ss.timeout = ss.a.clock.AfterFunc(30*time.Second, func() {
		ss.mu.Lock()
		attached := ss.attached
		ss.mu.Unlock()
		if !attached {
			ss.cleanup("never connected")
		}
	})
}

func remoteOf(hs *core.Handshake) string {
	if hs == nil {
		return ""
	}
	return hs.RemoteAddr
}

// connected runs on the namespace's "connection" event, before the
// application's own handlers when Protect or ProtectPostConnect was called first.
func (a *Auth) connected(s *socket.Socket, c *nsConfig) {
	var ss *session
	if v, ok := a.sessions.Load(s); ok {
		ss = v.(*session)
	} else {
		ss = &session{a: a, s: s, ns: c, mode: c.mode, hs: a.handshakeOf(s)}
		a.sessions.Store(s, ss)
	}
	ss.mu.Lock()
	ss.attached = true
	if ss.timeout != nil {
		ss.timeout.Stop()
		ss.timeout = nil
	}
	ss.mu.Unlock()
	_ = s.On("disconnect", func(args ...any) {
		reason, _ := firstString(args)
		ss.cleanup(reason)
	})
	_ = s.On(AuthenticateEvent, func(args ...any) { ss.onAuthenticate(args) })
	if c.mode == ModePostConnect && s.Recovered() {
		// A recovered socket skipped the middleware that registers this.
		s.Use(func(args []any, next func(error)) {
			if ev, _ := firstString(args); ev == AuthenticateEvent || a.Authenticated(s) {
				next(nil)
			}
		})
	}
	if s.Recovered() {
		a.recovered(ss)
		return
	}
	switch {
	case ss.res != nil: // handshake mode
		ss.mu.Lock()
		ss.scheduleLocked()
		ss.mu.Unlock()
	case !c.optional:
		ss.mu.Lock()
		ss.timeout = a.clock.AfterFunc(c.timeout, func() { s.Enqueue(ss.onTimeout) })
		ss.mu.Unlock()
	}
}

func firstString(args []any) (string, bool) {
	if len(args) == 0 {
		return "", false
	}
	s, ok := args[0].(string)
	return s, ok
}

// onTimeout disconnects a socket that did not authenticate in time.
func (ss *session) onTimeout() {
	ss.mu.Lock()
	if ss.closed || ss.cutting || ss.res != nil {
		ss.mu.Unlock()
		return
	}
	ss.cutting = true
	ss.mu.Unlock()
	ss.a.emit(ss.event(EventTimedOut, core.CodeCredentialsRequired, nil, 0, nil))
	ss.a.disconnect(ss.s)
}

// onAuthenticate handles "authenticate" {token}: a first authentication in
// post-connect mode, or a refresh in either mode.
func (ss *session) onAuthenticate(args []any) {
	a := ss.a
	ss.mu.Lock()
	if ss.closed || ss.cutting {
		ss.mu.Unlock()
		return
	}
	old := ss.res
	ss.mu.Unlock()
	if old != nil && ss.ns.noRefresh {
		return
	}
	start := a.clock.Now()
	var res *core.Result
	err := safely(func() error {
		tok, ok := tokenArg(args)
		if c := ss.ns.verifier.ExtractCookie(ss.hs); c != "" {
			tok, ok = c, true
		}
		if !ok {
			return core.NewError(core.CodeInvalidToken, "invalid token datatype", nil)
		}
		if e := a.limiter.check(remoteOf(ss.hs)); e != nil {
			return e
		}
		var err error
		res, err = a.verify(a.ctx, ss.ns.verifier, tok, ss.hs)
		if err != nil {
			return err
		}
		if old != nil {
			if res.Claims.Subject != old.Claims.Subject {
				return core.NewError(core.CodeInvalidToken, "jwt subject invalid. expected: "+old.Claims.Subject, nil)
			}
			if ss.ns.onRefresh != nil {
				return ss.ns.onRefresh(ss.s, old, res)
			}
		}
		return nil
	})
	took := a.clock.Now().Sub(start)
	if err != nil {
		e := core.AsError(err)
		a.limiter.fail(remoteOf(ss.hs))
		ev := ss.event(EventRejected, e.Code, res, took, err)
		if old != nil {
			// A failed refresh: the subject and token are the current ones.
			ev.Subject, ev.Fingerprint = old.Claims.Subject, Fingerprint(old.Token)
		}
		ss.mu.Lock()
		ss.cutting = true
		ss.stopTimersLocked()
		ss.mu.Unlock()
		a.emit(ev)
		a.unauthorized(ss.s, e, ss.ns.unauthorizedWait)
		return
	}
	if !ss.accept(res, old != nil) {
		return
	}
	if old == nil {
		a.emit(ss.event(EventAuthenticated, "", res, took, nil))
	} else {
		a.emit(ss.event(EventRefreshed, "", res, took, nil))
	}
	if old == nil && ss.ns.onAuthenticated != nil {
		if err := safely(func() error { ss.ns.onAuthenticated(ss.s); return nil }); err != nil {
			a.logError("authenticated handler panicked", "namespace", ss.s.Nsp().Name(), "err", err)
			ss.cut(EventClosed, res, core.AsError(err))
		}
	}
}

// tokenArg reads {token} from "authenticate"'s first argument.
func tokenArg(args []any) (string, bool) {
	if len(args) == 0 {
		return "", false
	}
	m, ok := args[0].(map[string]any)
	if !ok {
		return "", false
	}
	t, ok := m["token"].(string)
	if !ok || t == "" {
		return "", false
	}
	return t, true
}

// recovered re-checks a socket restored by connection-state recovery,
// which the server library lets in without running middlewares. A token in
// the reconnect handshake (a client with an auth callback sends a fresh
// one) is verified and must be for the same subject; without one, the
// authentication the socket had before it dropped is checked again.
func (a *Auth) recovered(ss *session) {
	key := ss.s.Nsp().Name() + "\x00" + string(ss.s.Id())
	var prev *core.Result
	if v, ok := a.recent.LoadAndDelete(key); ok {
		prev = v.(*core.Result)
	}
	var res *core.Result
	err := safely(func() error {
		tok, err := ss.ns.verifier.Extract(ss.hs)
		if err == nil {
			if res, err = a.verify(a.ctx, ss.ns.verifier, tok, ss.hs); err != nil {
				return err
			}
			if prev != nil && res.Claims.Subject != prev.Claims.Subject {
				return core.NewError(core.CodeInvalidToken, "jwt subject invalid. expected: "+prev.Claims.Subject, nil)
			}
			return nil
		}
		if prev == nil {
			if ss.ns.mode == ModeHandshake {
				return err
			}
			return nil // post-connect mode: pending again, below
		}
		res = prev
		if err := ss.ns.verifier.VerifyClaims(res.Claims); err != nil {
			return err
		}
		return a.checkRevoked(a.ctx, res.Claims)
	})
	if err != nil {
		ss.cut(EventRejected, prev, core.AsError(err))
		return
	}
	if res == nil { // post-connect mode, nothing known: pending again
		ss.s.Join(PendingRoom)
		if !ss.ns.optional {
			ss.mu.Lock()
			ss.timeout = a.clock.AfterFunc(ss.ns.timeout, func() { ss.s.Enqueue(ss.onTimeout) })
			ss.mu.Unlock()
		}
		return
	}
	ss.s.Leave(PendingRoom)
	ss.mu.Lock()
	ss.res, ss.at = res, a.clock.Now()
	ss.scheduleLocked()
	ss.mu.Unlock()
	a.emit(ss.event(EventAuthenticated, "", res, 0, nil))
}
