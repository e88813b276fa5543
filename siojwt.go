// Package siojwt authenticates Socket.IO connections with JWTs on servers
// built with github.com/zishang520/socket.io/servers/socket/v3, wire
// compatible with the npm packages socketio-jwt and @thream/socketio-jwt.
//
// The token checks live in package core, which knows nothing of Socket.IO;
// this package binds them to the server: handshake mode (Protect), the
// "authenticate" event mode (ProtectPostConnect), token expiry on live
// sockets, in-band refresh, revocation and isolation of sockets that have
// not authenticated yet.
//
// Options of the Auth as a whole are named With* and Without*; options of
// one protected namespace are named Namespace*.
package siojwt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siojwt/siojwt/authz"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/clock"
	"github.com/siojwt/siojwt/internal/logs"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// Default values of the options.
const (
	// DefaultAuthenticateTimeout is how long a socket may stay
	// unauthenticated in post-connect mode.
	DefaultAuthenticateTimeout = 5 * time.Second
	// DefaultUnauthorizedWait is how long the server waits for the client
	// to acknowledge "unauthorized" before it disconnects the socket.
	DefaultUnauthorizedWait = time.Second
	// DefaultCloseGrace is how long after sending its final packets a cut
	// socket's connection is closed, if the client has not closed it
	// itself (well-behaved clients do at once). The server library loses
	// the last packets when it closes sooner: 250 ms suffices on an idle
	// server, not under load.
	DefaultCloseGrace = 2 * time.Second
	// DefaultExpiringEvent is the name of the expiry warning event.
	DefaultExpiringEvent = "token_expiring"
)

// Bounds of the log.
const (
	refusalLogEvery, refusalLogBurst = 10 * time.Second, 20
	// maxLoggedText bounds a field a client chose (namespace, subject);
	// maxLoggedCause bounds an error cause, which may quote a token's
	// header.
	maxLoggedText, maxLoggedCause = 128, 512
)

// Auth binds a core.Verifier to a Socket.IO server. Build it with New,
// then protect namespaces with Protect (handshake mode) or
// ProtectPostConnect (post-connect mode). It is safe for concurrent use.
type Auth struct {
	server   *socket.Server
	verifier *core.Verifier
	iso      *isolation
	clock    clock.Clock
	log      *slog.Logger
	hooks    []func(Event)

	expiry         bool
	warnBefore     time.Duration
	warnEvent      string
	closeGrace     time.Duration
	remoteAddr     func(*http.Request, string) string
	proxies        []netip.Prefix // WithTrustedProxies
	undeclared     sync.Once      // the warning about an undeclared proxy
	refusals       logs.Rate      // log lines about refusals and cuts
	panics         logs.Rate      // log lines about panics of the application's functions (logPanic)
	revocation     RevocationStore
	revoked        revocationLog // revocations announced lately (revocation.go)
	limiter        *limiter
	pendingPerAddr int
	pendingMu      sync.Mutex
	pending        map[string]int                   // unauthenticated sockets per address
	pendingConns   map[string]map[*session]struct{} // connection ID -> sessions holding a pending slot, while its close is watched

	extractor   *authz.Extractor // WithGrantsExtractor; nil: the default (authorization.go)
	recentRooms sync.Map         // recovery key -> []string: rooms joined through Join (authorization.go)

	protectedMu sync.Mutex
	protected   map[socket.Namespace]Mode // namespaces protected so far, and their mode

	expiries expiries   // the sessions' deadlines (expiry.go)
	conns    conns      // sockets per connection, across namespaces
	sessions sessionMap // by socket (sessionmap.go)
	recent   sync.Map   // namespace + "\x00" + socket ID -> *core.Result (for connection-state recovery)

	ctx    context.Context
	cancel context.CancelFunc
	closed atomic.Bool // Close was called: verify refuses
	wg     sync.WaitGroup
}

// Option configures an Auth.
type Option func(*Auth) error

// WithLogger logs authentication failures and cuts (never token text).
// Without it the Auth logs nothing. Refusals and cuts are logged at most
// 20 per 10 seconds, each line that follows a gap carrying the number of
// lines left out ("suppressed"): a flood of bad handshakes costs a few
// lines, not one per attempt. What a client chose (the namespace name, an
// error cause quoting a token header) is cut to a few hundred bytes.
// Hooks (WithHook) see every event.
func WithLogger(l *slog.Logger) Option {
	return func(a *Auth) error {
		if l == nil {
			return errors.New("siojwt: nil logger")
		}
		a.log = l
		return nil
	}
}

// WithHook calls fn for every Event (successes, rejections, refreshes,
// cuts). Hooks run synchronously on the connection's goroutine: keep them
// fast. A panicking hook is recovered and logged.
func WithHook(fn func(Event)) Option {
	return func(a *Auth) error {
		if fn == nil {
			return errors.New("siojwt: nil hook")
		}
		a.hooks = append(a.hooks, fn)
		return nil
	}
}

// WithoutExpiry stops cutting sockets when their token expires. Expiry is
// enforced by default.
func WithoutExpiry() Option { return func(a *Auth) error { a.expiry = false; return nil } }

// WithExpiryWarning emits DefaultExpiringEvent to a socket d before its
// token expires, with {"exp": <unix seconds>, "expiresIn": <milliseconds>},
// so the client can fetch a new token and emit "authenticate" again. New
// refuses it with WithoutExpiry (ErrConflictingOptions).
func WithExpiryWarning(d time.Duration) Option {
	return func(a *Auth) error {
		if d <= 0 {
			return errors.New("siojwt: expiry warning must be positive")
		}
		a.warnBefore = d
		return nil
	}
}

// WithCloseGrace sets how long after a cut the underlying connection is
// closed (default DefaultCloseGrace).
func WithCloseGrace(d time.Duration) Option {
	return func(a *Auth) error {
		if d <= 0 {
			return errors.New("siojwt: close grace must be positive")
		}
		a.closeGrace = d
		return nil
	}
}

// New builds an Auth for server with the default verifier v, and installs
// on the server the adapter wrapper that keeps unauthenticated sockets out
// of broadcasts. Call it after any SetAdapter (for example the Redis
// adapter): a namespace whose adapter is not wrapped refuses connections.
// One Auth per server: a second New on the same server is ErrServerBound.
// With a logger, New warns about a weak key (core.Verifier.KeyWarnings:
// an HMAC secret shorter than RFC 7518 §3.2 requires).
func New(server *socket.Server, v *core.Verifier, opts ...Option) (*Auth, error) {
	if server == nil {
		return nil, errors.New("siojwt: nil server")
	}
	if v == nil {
		return nil, errors.New("siojwt: nil verifier")
	}
	a := &Auth{
		server:     server,
		verifier:   v,
		clock:      clock.Real{},
		expiry:     true,
		warnEvent:  DefaultExpiringEvent,
		closeGrace: DefaultCloseGrace,
		remoteAddr: directAddr,
		refusals:   logs.Rate{Every: refusalLogEvery, Burst: refusalLogBurst},
		panics:     logs.Rate{Every: refusalLogEvery, Burst: refusalLogBurst},
		limiter:    newLimiter(DefaultFailureRate, DefaultFailureBurst, DefaultMaxLimitedAddrs),

		pendingPerAddr: DefaultMaxPendingPerAddr,
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("siojwt: nil option")
		}
		if err := o(a); err != nil {
			return nil, err
		}
	}
	if a.warnBefore > 0 && !a.expiry {
		return nil, fmt.Errorf("%w: WithExpiryWarning warns before an expiry that WithoutExpiry does not enforce", ErrConflictingOptions)
	}
	if _, ok := server.Adapter().(*isolation); ok {
		// Only New installs it: this server has an Auth already, whose
		// middlewares and handlers would run next to this one's.
		return nil, fmt.Errorf("%w: call New once per server and protect every namespace with that Auth", ErrServerBound)
	}
	for _, w := range v.KeyWarnings() {
		a.logWarn(w)
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	// Count every namespace's sockets per connection (see disconnect).
	a.conns.track(server.Sockets())
	_ = server.Sockets().On("new_namespace", func(args ...any) {
		if nsp, ok := firstNamespace(args); ok && !a.protectedChild(nsp) {
			a.conns.track(nsp)
		}
	})
	a.watchRevocations()
	a.iso = installIsolation(server, a.socketLeft, a.conns.forget, a.protectedChild)
	return a, nil
}

// Close stops the Auth's background work (the revocation watch of a
// watching store). Live sockets are left as they are; every
// authentication after Close (handshake, "authenticate", recovery) is
// refused with internal_error, since revocations would no longer reach
// its socket: close the Auth with, or after, the server.
func (a *Auth) Close() error {
	a.closed.Store(true)
	a.cancel()
	a.wg.Wait()
	return nil
}

// Verifier returns the default verifier.
func (a *Auth) Verifier() *core.Verifier { return a.verifier }

func (a *Auth) emit(e Event) { a.report(e, "") }

// observed reports whether anything sees the events: a hook or the log.
// Without either, no event is built beyond its kind and code.
func (a *Auth) observed() bool { return len(a.hooks) > 0 || a.log != nil }

// report passes e to the hooks and logs it. A non-empty reason says that e
// ends a socket that was connected (a failed refresh or re-check is a
// rejection of a live socket, and is logged as a cut) and why, in the words
// the client was sent.
func (a *Auth) report(e Event, reason string) {
	for _, h := range a.hooks {
		func() {
			defer func() {
				if p := recover(); p != nil {
					a.logPanic("hook panicked", fmt.Sprint(p))
				}
			}()
			h(e)
		}()
	}
	if a.log == nil {
		return
	}
	switch e.Kind {
	case EventExpired, EventRevoked, EventTimedOut:
		if reason == "" {
			reason = string(e.Kind)
		}
		fallthrough
	case EventRejected:
		suppressed, ok := a.refusals.Allow(a.clock.Now())
		if !ok {
			return
		}
		attrs := []any{"kind", string(e.Kind), "mode", string(e.Mode), "namespace", logs.Clip(e.Namespace, maxLoggedText),
			"remote", logs.Clip(e.RemoteAddr, maxLoggedText), "code", logs.Clip(e.Code, maxLoggedText), "failure", string(e.Failure)}
		if e.Subject != "" {
			attrs = append(attrs, "sub", logs.Clip(e.Subject, maxLoggedText))
		}
		if e.Fingerprint != "" {
			attrs = append(attrs, "token", e.Fingerprint)
		}
		if e.Err != nil {
			attrs = append(attrs, "cause", logs.Clip(e.Err.Error(), maxLoggedCause))
		}
		if suppressed > 0 {
			attrs = append(attrs, "suppressed", suppressed)
		}
		if reason != "" {
			a.log.Info("siojwt: socket cut", append(attrs, "reason", logs.Clip(reason, maxLoggedText))...)
		} else {
			a.log.Info("siojwt: socket refused", attrs...)
		}
	default:
		if !a.log.Enabled(a.ctx, slog.LevelDebug) {
			return // the attributes below cost more than the check
		}
		a.log.Debug("siojwt: "+string(e.Kind), "mode", string(e.Mode), "namespace", logs.Clip(e.Namespace, maxLoggedText),
			"remote", logs.Clip(e.RemoteAddr, maxLoggedText), "sub", logs.Clip(e.Subject, maxLoggedText), "token", e.Fingerprint)
	}
}

func (a *Auth) logWarn(msg string, args ...any) {
	if a.log != nil {
		a.log.Warn("siojwt: "+msg, args...)
	}
}

// logPanic logs, at Error level, a panic of one of the application's
// functions (a hook, an authorization rule, a grants function), with its
// value cut short. A client can make such a function run at packet rate,
// so these lines are rate-limited as the refusal lines are, with the count
// of those left out.
func (a *Auth) logPanic(msg, cause string, args ...any) {
	if a.log == nil {
		return
	}
	suppressed, ok := a.panics.Allow(a.clock.Now())
	if !ok {
		return
	}
	args = append(args, "cause", logs.Clip(cause, maxLoggedCause))
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	a.log.Error("siojwt: "+msg, args...)
}

func (a *Auth) logError(msg string, args ...any) {
	if a.log != nil {
		a.log.Error("siojwt: "+msg, args...)
	}
}

func firstNamespace(args []any) (socket.Namespace, bool) {
	if len(args) == 0 {
		return nil, false
	}
	nsp, ok := args[0].(socket.Namespace)
	return nsp, ok
}
