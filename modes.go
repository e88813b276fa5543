package siojwt

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/siojwt/siojwt/authz"
	"github.com/siojwt/siojwt/core"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// Mode is how a socket authenticates.
type Mode string

// The two modes.
const (
	// ModeHandshake: the token comes with the handshake and is checked
	// before the connection is accepted (one round trip).
	ModeHandshake Mode = "handshake"
	// ModePostConnect: the client connects, then emits "authenticate" (two
	// round trips).
	ModePostConnect Mode = "connect"
)

// AuthenticateEvent is the event a client emits with {token} to
// authenticate (post-connect mode) or to refresh its token (both modes).
const AuthenticateEvent = "authenticate"

// nsConfig is one protected namespace's settings.
type nsConfig struct {
	mode             Mode
	verifier         *core.Verifier
	verifierSet      bool // NamespaceVerifier was given
	timeout          time.Duration
	timeoutSet       bool // NamespaceAuthenticateTimeout was given
	optional         bool
	unauthorizedWait time.Duration
	onAuthenticated  func(*socket.Socket)
	onRefresh        func(s *socket.Socket, old, new *core.Result) error
	noRefresh        bool
	policy           *authz.Policy // NamespaceAuthorization (authorization.go)
}

// NamespaceOption configures one namespace. Every namespace option is
// named Namespace*; the options of the Auth as a whole are With* and
// Without*.
type NamespaceOption func(*nsConfig) error

// NamespaceVerifier verifies this namespace's tokens with v instead of the
// Auth's default verifier (another key, audience or issuer). Given twice,
// it is ErrConflictingOptions.
func NamespaceVerifier(v *core.Verifier) NamespaceOption {
	return func(c *nsConfig) error {
		if v == nil {
			return errors.New("siojwt: nil verifier")
		}
		if c.verifierSet {
			return fmt.Errorf("%w: NamespaceVerifier given twice", ErrConflictingOptions)
		}
		c.verifier, c.verifierSet = v, true
		return nil
	}
}

// NamespaceAuthenticateTimeout sets how long a socket may stay
// unauthenticated in post-connect mode before it is disconnected
// (socketio-jwt's timeout; default DefaultAuthenticateTimeout). Protect
// refuses it (ErrOptionNotForMode), and so does ProtectPostConnect with
// NamespaceOptional (ErrConflictingOptions).
func NamespaceAuthenticateTimeout(d time.Duration) NamespaceOption {
	return func(c *nsConfig) error {
		if d <= 0 {
			return errors.New("siojwt: timeout must be positive")
		}
		c.timeout, c.timeoutSet = d, true
		return nil
	}
}

// NamespaceOptional lets sockets stay connected without authenticating,
// with no timeout (socketio-jwt's required: false). They remain isolated
// (no broadcasts, no events but "authenticate") until they authenticate,
// unless the application treats them itself in its connection handler.
// Post-connect mode only: Protect refuses it (ErrOptionNotForMode).
func NamespaceOptional() NamespaceOption {
	return func(c *nsConfig) error { c.optional = true; return nil }
}

// NamespaceUnauthorizedWait sets how long after "unauthorized" the socket
// is disconnected if the client does not acknowledge it first
// (socketio-jwt's callback: N). 0 disconnects at once (callback: false).
// Default DefaultUnauthorizedWait; there is no "wait forever". It applies
// in both modes: to a failed "authenticate" and to every cut of a connected
// socket (failed refresh, expiry, revocation). When the wait ends first,
// the client is told at once that it is disconnected; the socket, which
// then hears no broadcast and reaches no handler, leaves the namespace on
// the server when the acknowledgement comes, or after the close grace
// (WithCloseGrace): an acknowledgement that came for a socket already gone
// made the server library close the connection before its last packet
// left, over long-polling.
func NamespaceUnauthorizedWait(d time.Duration) NamespaceOption {
	return func(c *nsConfig) error {
		if d < 0 {
			return errors.New("siojwt: negative wait")
		}
		c.unauthorizedWait = d
		return nil
	}
}

// NamespaceOnRefresh calls fn when an authenticated socket presents a new,
// valid token for the same subject; returning an error refuses the refresh
// and cuts the socket (an *core.Error chooses the code). One hook per
// namespace: given twice, or with NamespaceNoRefresh, it is
// ErrConflictingOptions.
func NamespaceOnRefresh(fn func(s *socket.Socket, old, new *core.Result) error) NamespaceOption {
	return func(c *nsConfig) error {
		if fn == nil {
			return errors.New("siojwt: nil refresh hook")
		}
		if c.onRefresh != nil {
			return fmt.Errorf("%w: NamespaceOnRefresh given twice (the first hook would never run)", ErrConflictingOptions)
		}
		c.onRefresh = fn
		return nil
	}
}

// NamespaceNoRefresh ignores "authenticate" from sockets that are already
// authenticated. It cannot be combined with NamespaceOnRefresh
// (ErrConflictingOptions).
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
	if mode == ModeHandshake {
		// A handshake-mode socket without a valid token never connects:
		// there is no unauthenticated socket to keep or to time out.
		if c.optional {
			return nil, fmt.Errorf("%w: NamespaceOptional needs ProtectPostConnect (with Protect a socket without a valid token never connects)", ErrOptionNotForMode)
		}
		if c.timeoutSet {
			return nil, fmt.Errorf("%w: NamespaceAuthenticateTimeout needs ProtectPostConnect (with Protect the token comes with the handshake)", ErrOptionNotForMode)
		}
	}
	if c.optional && c.timeoutSet {
		return nil, fmt.Errorf("%w: NamespaceOptional sockets have no authenticate timeout; drop NamespaceAuthenticateTimeout", ErrConflictingOptions)
	}
	if c.noRefresh && c.onRefresh != nil {
		return nil, fmt.Errorf("%w: NamespaceOnRefresh is never called with NamespaceNoRefresh", ErrConflictingOptions)
	}
	if c.verifier != a.verifier {
		for _, w := range c.verifier.KeyWarnings() {
			a.logWarn(w, "namespace", nsp.Name())
		}
	}
	return c, nil
}

// Protect requires a valid token in the handshake of every socket joining
// nsp (one round trip): a socket without one never connects and its
// client gets connect_error (v3/v4) or error (v1/v2) with {message, code,
// type: "UnauthorizedError"}. The application's "connection" handlers see
// the socket's claims (Claims, Session) whether they were registered
// before Protect or after; with connection-state recovery that skips
// middlewares, register them after (ErrHandlerBeforeProtect).
//
// A namespace is protected once, by Protect or ProtectPostConnect
// (ErrAlreadyProtected); NamespaceOptional and NamespaceAuthenticateTimeout
// do not apply here (ErrOptionNotForMode). Protecting a dynamic namespace
// (Server.Of with a regular expression or a function) protects each of its
// child namespaces, those it creates later and those it has created
// already. A namespace (or child) with connected sockets is refused
// (ErrSocketsConnected): they connected without a check.
func (a *Auth) Protect(nsp socket.Namespace, opts ...NamespaceOption) error {
	c, err := a.namespace(ModeHandshake, nsp, opts)
	if err != nil {
		return err
	}
	return a.protect(nsp, c, func(s *socket.Socket, next func(*socket.ExtendedError)) {
		next(a.handshake(s, c))
	})
}

// ProtectPostConnect runs the post-connect flow on nsp (two round trips): a
// socket connects, hears nothing and reaches no handler until it emits
// "authenticate" with {token}; then the server answers "authenticated" and
// calls onAuthenticated, or answers "unauthorized" and disconnects it.
// Without NamespaceOptional, a socket that does not authenticate within
// the timeout (NamespaceAuthenticateTimeout) is disconnected. The
// application's own "connection" handlers run for every socket, before it
// has authenticated: register per-user handlers in onAuthenticated. A
// namespace is protected once (ErrAlreadyProtected).
func (a *Auth) ProtectPostConnect(nsp socket.Namespace, onAuthenticated func(*socket.Socket), opts ...NamespaceOption) error {
	c, err := a.namespace(ModePostConnect, nsp, opts)
	if err != nil {
		return err
	}
	c.onAuthenticated = onAuthenticated
	return a.protect(nsp, c, func(s *socket.Socket, next func(*socket.ExtendedError)) {
		next(a.admitPending(s, c))
	})
}

// protect installs a mode's middleware on nsp and the binding's
// "connection" handler, shared by both modes. It refuses a namespace that
// is already protected, and, when restored sockets skip the middlewares, a
// namespace that already has a "connection" handler.
//
// A dynamic namespace (a ParentNamespace, from Server.Of with a regular
// expression or a function) hands its middlewares and "connection"
// handlers to each child namespace as the server library creates it, so
// its later children are protected like it. Children it has already
// created got no such copy: they are protected here too, with the same
// checks, or a client could join one of them without a token.
func (a *Auth) protect(nsp socket.Namespace, c *nsConfig, middleware func(*socket.Socket, func(*socket.ExtendedError))) error {
	a.protectedMu.Lock()
	defer a.protectedMu.Unlock()
	if a.ctx.Err() != nil {
		return fmt.Errorf("%w: protect namespaces before Close", ErrClosed)
	}
	if nsp.Server() != a.server {
		return fmt.Errorf("%w: %q; make an Auth for each server (New)", ErrOtherServer, nsp.Name())
	}
	if _, ok := a.server.Adapter().(*isolation); !ok {
		return fmt.Errorf("%w: call New after SetAdapter (for example the Redis adapter)", ErrAdapterReplaced)
	}
	all := []socket.Namespace{nsp}
	if p, ok := nsp.(socket.ParentNamespace); ok {
		all = append(all, p.Children().Keys()...)
	}
	for _, n := range all {
		if m, ok := a.protectedModeLocked(n); ok {
			return fmt.Errorf("%w: %q is in %s mode; a namespace is protected once, by Protect or ProtectPostConnect", ErrAlreadyProtected, n.Name(), m)
		}
		if k := n.Sockets().Len(); k > 0 {
			return fmt.Errorf("%w: %q has %d; they connected without a check and would stay unauthenticated: protect namespaces before the server serves", ErrSocketsConnected, n.Name(), k)
		}
		if r := a.server.Opts().ConnectionStateRecovery(); r != nil && r.SkipMiddlewares() && a.foreignHandlers(n) {
			return fmt.Errorf("%w: %q has a \"connection\" handler already; with connection-state recovery, protect the namespace first so that restored sockets are checked before any handler sees them", ErrHandlerBeforeProtect, n.Name())
		}
	}
	if a.protected == nil {
		a.protected = map[socket.Namespace]Mode{}
	}
	handler := func(args ...any) {
		if s, ok := socketArg(args); ok {
			a.iso.early.release(s)
			a.connected(s, c)
		}
	}
	// Only nsp is recorded: its children are protected through it
	// (protectedModeLocked), and a child the server library closes once
	// empty (CleanupEmptyChildNamespaces) is not kept alive by a record.
	a.protected[nsp] = c.mode
	for _, n := range all {
		a.conns.track(n)
		a.conns.countBySession(n)
		n.Use(middleware)
		if err := n.On("connection", handler); err != nil {
			return err
		}
	}
	return nil
}

// protectedModeLocked returns the mode n is protected in: its own, or that
// of the protected dynamic namespace it is a child of. The caller holds
// protectedMu.
func (a *Auth) protectedModeLocked(n socket.Namespace) (Mode, bool) {
	if m, ok := a.protected[n]; ok {
		return m, true
	}
	for p, m := range a.protected {
		if parent, ok := p.(socket.ParentNamespace); ok && parent.Children().Has(n) {
			return m, true
		}
	}
	return "", false
}

// protectedChild reports whether nsp is protected: a namespace given to
// Protect or ProtectPostConnect, or a child of a protected dynamic
// namespace (the server library copied the binding's middleware and
// "connection" handler to it as it created it, and its sockets are
// counted by their sessions).
func (a *Auth) protectedChild(nsp socket.Namespace) bool {
	a.protectedMu.Lock()
	defer a.protectedMu.Unlock()
	_, ok := a.protectedModeLocked(nsp)
	return ok
}

// foreignHandlers reports whether nsp has a "connection" handler that is
// not the binding's own connection counter.
func (a *Auth) foreignHandlers(nsp socket.Namespace) bool {
	n := len(nsp.Listeners("connection"))
	if a.conns.tracked(nsp) {
		n--
	}
	return n > 0
}

// socketLeft is told by the isolating adapter that s is leaving its
// namespace (DelAll): its session, if the socket has one of this Auth's,
// is cleaned up, or marked for connected to clean up when the binding's
// "connection" handler has not seen it yet.
func (a *Auth) socketLeft(s *socket.Socket, recoverable bool) {
	ss, ok := a.sessions.load(s)
	if !ok {
		return
	}
	ss.mu.Lock()
	joined := ss.joined
	if !joined {
		ss.flags |= flagLeft
	}
	ss.mu.Unlock()
	if joined {
		ss.cleanup(recoverable, true)
	}
}

// skippedMiddlewares reports whether s connected without going through the
// namespace's middlewares: a socket restored by connection-state recovery
// with SkipMiddlewares (the server library runs them otherwise).
func (a *Auth) skippedMiddlewares(s *socket.Socket) bool {
	r := a.server.Opts().ConnectionStateRecovery()
	return s.Recovered() && r != nil && r.SkipMiddlewares()
}

// handshake is the handshake-mode middleware's body: nil admits.
func (a *Auth) handshake(s *socket.Socket, c *nsConfig) (xe *socket.ExtendedError) {
	ss := &session{a: a, s: s, ns: c}
	start := a.clock.Now()
	mark := a.revoked.mark()
	var res *core.Result
	err := safely(func() error {
		if e := a.checkIsolated(s.Nsp()); e != nil {
			return e
		}
		hs := a.handshakeOf(s)
		ss.remote = hs.RemoteAddr
		tok, err := c.verifier.Extract(hs)
		if err != nil {
			return err
		}
		res, err = a.verify(a.ctx, c.verifier, tok, hs)
		return err
	})
	if err != nil {
		e := a.failed(ss.remote, err)
		a.emit(ss.event(EventRejected, e.Code, nil, a.clock.Now().Sub(start), err))
		return extended(e)
	}
	if xe := ss.authorizeHandshake(res); xe != nil {
		return xe
	}
	ss.res, ss.at = res, a.clock.Now().UnixNano()
	a.sessions.store(s, ss)
	if e := a.revokedSince(mark, res.Claims); e != nil {
		// Revoked while it was checked: refused as if the store had said so.
		ss.mu.Lock()
		ss.state = stateCutting // a cut onRevocation queued meanwhile does nothing
		ss.mu.Unlock()
		a.sessions.delete(s)
		e = a.failed(ss.remote, e)
		a.emit(ss.event(EventRejected, e.Code, nil, a.clock.Now().Sub(start), e))
		return extended(e)
	}
	a.guard(s)
	ss.announce(ss.event(EventAuthenticated, "", res, a.clock.Now().Sub(start), nil))
	a.iso.early.hold(s, ss) // see earlyPackets
	return nil
}

// admitPending is the post-connect middleware's body: it lets a socket in
// unauthenticated, counted against its address's pending cap, isolated
// and deaf to everything but "authenticate". nil admits.
func (a *Auth) admitPending(s *socket.Socket, c *nsConfig) *socket.ExtendedError {
	if e := a.checkIsolated(s.Nsp()); e != nil {
		return extended(e)
	}
	ss := &session{a: a, s: s, ns: c, remote: a.addrOf(s)}
	if e := a.countPending(ss.remote); e != nil {
		a.emit(ss.event(EventRejected, e.Code, nil, 0, nil))
		return extended(e)
	}
	a.sessions.store(s, ss)
	a.holdPending(ss, ss.remote)
	a.guard(s)
	// Pending from before it is connected: no broadcast can reach it.
	s.Join(PendingRoom)
	a.iso.early.hold(s, ss) // see earlyPackets
	return nil
}

// guard installs the socket's one event middleware. The binding's
// middleware installs it as it admits the socket, before the server
// library registers it, so that no event is read before it is in place;
// connected installs it for a restored socket that skipped the middlewares.
// For each event it reads the socket's current session:
//   - "authenticate" goes to the session's onAuthenticate, on the socket's
//     task queue where listeners run, and then on to the application's own
//     listeners, if any: one middleware per socket rather than a listener
//     of its own (each event name a socket listens to costs it about 120
//     bytes in the server library's emitter, for the socket's life);
//   - every other event of a socket that is not authenticated (not yet, or
//     no longer: being cut) reaches no handler: it is dropped, without an
//     error;
//   - the rest is checked against the namespace's policy (allowEvent).
func (a *Auth) guard(s *socket.Socket) {
	s.Use(func(args []any, next func(error)) {
		if a.admitEvent(s, args) {
			next(nil)
		}
	})
}

// admitEvent is guard's middleware: it reports whether the event goes on
// to the application's handlers.
func (a *Auth) admitEvent(s *socket.Socket, args []any) bool {
	if ev, _ := firstString(args); ev == AuthenticateEvent {
		s.Enqueue(func() {
			// After "connection" (which runs on the same queue), as a
			// listener would be called: only while the socket is connected.
			if ss, ok := a.sessions.load(s); ok && s.Connected() {
				ss.onAuthenticate(args[1:])
			}
		})
		return true
	}
	ss, ok := a.sessions.load(s)
	if !ok {
		return false
	}
	ss.mu.Lock()
	authenticated := ss.res != nil && ss.liveLocked()
	ss.mu.Unlock()
	return authenticated && (!ss.ns.policy.ChecksEvents() || ss.allowEvent(args))
}

// connected runs on the namespace's "connection" event, before the
// application's own handlers when Protect or ProtectPostConnect was called
// first.
func (a *Auth) connected(s *socket.Socket, c *nsConfig) {
	ss, ok := a.sessions.load(s)
	if !ok {
		ss = &session{a: a, s: s, ns: c, remote: a.addrOf(s)}
		a.sessions.store(s, ss)
		if a.skippedMiddlewares(s) {
			a.guard(s)
		}
	}
	ss.mu.Lock()
	ss.joined = true
	left := ss.flags&flagLeft != 0
	if !ss.cleanedUpLocked() {
		// Counted for disconnect until cleanup (see conns).
		a.conns.add(s.Conn().Id())
	}
	if ss.res != nil {
		ss.advanceLocked(stateAuthenticated)
	} else {
		ss.advanceLocked(statePending)
	}
	if ss.timeout != nil {
		ss.timeout.Stop()
		ss.timeout = nil
	}
	early := ss.early
	ss.mu.Unlock()
	if left || !s.Connected() {
		// It left before it was joined (socketLeft passed it over): an
		// application handler that runs before this one disconnected it,
		// or its client went away meanwhile.
		ss.cleanup(false, false)
		return
	}
	if early != nil {
		// Cut (revoked) between its middleware and now; reported then.
		a.unauthorized(s, early, c.unauthorizedWait)
		return
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
		ss.armTimeoutLocked()
		ss.mu.Unlock()
	}
}

// handshakeOf converts the server library's untyped handshake.
func (a *Auth) handshakeOf(s *socket.Socket) *core.Handshake { return a.handshakeAt(s, a.addrOf(s)) }

// handshakeAt is handshakeOf with the client's address known already. The
// headers are the connection's first HTTP request's own map, which the
// server library's handshake copies: core only reads them, and a copy of
// every header for each check cost more than the check's own parsing.
func (a *Auth) handshakeAt(s *socket.Socket, remote string) *core.Handshake {
	raw := s.Handshake()
	hs := &core.Handshake{Namespace: s.Nsp().Name(), Query: make(url.Values, len(raw.Query)), RemoteAddr: remote}
	if ctx := s.Request(); ctx != nil {
		if req := ctx.Request(); req != nil {
			hs.Header = req.Header
		}
	}
	for k, v := range raw.Query {
		hs.Query[k] = toStrings(v)
	}
	if raw.Auth != nil {
		hs.Auth, hs.HasAuth = raw.Auth["token"]
	}
	return hs
}

func toStrings(v any) []string {
	switch t := v.(type) {
	case []string:
		return t
	case string:
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
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

// tokenGiven reports whether "authenticate"'s first argument carries a
// token of any type: a value that is not a string is a token sent wrong,
// not a missing one.
func tokenGiven(args []any) bool {
	if len(args) == 0 {
		return false
	}
	m, ok := args[0].(map[string]any)
	if !ok {
		return false
	}
	t, ok := m["token"]
	return ok && t != nil && t != ""
}

func extended(e *core.Error) *socket.ExtendedError {
	return socket.NewExtendedError(e.Message, e.Data())
}

func socketArg(args []any) (*socket.Socket, bool) {
	if len(args) == 0 {
		return nil, false
	}
	s, ok := args[0].(*socket.Socket)
	return s, ok
}

func firstString(args []any) (string, bool) {
	if len(args) == 0 {
		return "", false
	}
	s, ok := args[0].(string)
	return s, ok
}
