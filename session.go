package siojwt

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siojwt/siojwt/authz"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/clock"
	"github.com/siojwt/siojwt/internal/logs"
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

// state is where a session is in its life. It only moves forward
// (advanceLocked), possibly skipping steps:
//
//	admitted → pending → authenticated → cutting → disconnecting → closed
type state uint8

const (
	// stateAdmitted: a middleware let the socket in and "connection" has
	// not been seen yet. In handshake mode the session already holds its
	// token (res).
	stateAdmitted state = iota
	// statePending: connected, no token accepted yet (post-connect mode).
	statePending
	// stateAuthenticated: connected with an accepted token.
	stateAuthenticated
	// stateCutting: a cut is under way; everything else is ignored. res
	// keeps the token being cut, if there was one.
	stateCutting
	// stateDisconnecting: cleaned up as its socket left, with a token that
	// was not being cut: the socket's "disconnect" listeners, which the
	// server library calls next, may still read it (Session), as
	// socketio-jwt's decoded_token stays readable there. The binding's own
	// listener, the last, closes it.
	stateDisconnecting
	// stateClosed: cleaned up and forgotten. Final.
	stateClosed
)

// session is the binding's per-socket state.
type session struct {
	a  *Auth
	s  *socket.Socket
	ns *nsConfig // the namespace's settings; its mode is the session's
	// remote is the client's address (the handshake's, or the one a
	// trusted proxy forwarded).
	remote string

	mu       sync.Mutex
	state    state
	flags    flags        // the bits below
	joined   bool         // "connection" was seen; from then until cleanup, the socket's connection is counted (conns)
	qi       int32        // the session's place in the Auth's expiries, plus one; 0: no deadline (the queue's lock)
	due      int64        // the deadline there, Unix nanoseconds: its warning, or its expiry (the queue's lock)
	res      *core.Result // the accepted token; nil until one is
	at       int64        // when res was accepted, Unix nanoseconds
	timeout  clock.Timer  // authenticate timeout or connect grace
	pendAddr string       // counted against the pending cap, until released
	early    *core.Error  // a cut made before "connection", for connected to finish
	fpOf     *core.Result // the token fp is the fingerprint of (fingerprint)
	fp       [fingerprintLen]byte

	// Authorization (authorization.go).
	grants  atomic.Pointer[authz.Grants] // the current token's; nil until one is accepted
	roomsMu sync.Mutex
	rooms   map[string]struct{} // joined through Join
}

// flags are a session's yes-or-no facts, in one byte: a session is 160
// bytes, a size class the next field would leave.
type flags uint8

const (
	// flagWarned: the expiry warning for the current token was sent.
	flagWarned flags = 1 << iota
	// flagLeft: the socket left its namespace before "connection" was
	// seen (socketLeft).
	flagLeft
	// flagAnnounced: the socket's first authentication was reported
	// (announce).
	flagAnnounced
	// flagCloseOwed: cleanup came before that report, and left its
	// EventClosed for announce to report after it.
	flagCloseOwed
)

// announce reports ev, the socket's first authentication, then the
// EventClosed that cleanup owes when the socket went away meanwhile: a
// connection closed right after its socket authenticated is cleaned up on
// another goroutine, and hooks (the metrics' gauge of authenticated
// sockets among them) must see "authenticated" before "closed".
func (ss *session) announce(ev Event) {
	ss.a.emit(ev)
	ss.mu.Lock()
	ss.flags |= flagAnnounced
	owed := ss.flags&flagCloseOwed != 0
	res := ss.res
	ss.mu.Unlock()
	if owed {
		ss.a.emit(ss.event(EventClosed, "", res, 0, nil))
	}
}

// advanceLocked moves the session to st unless it is already there or
// further.
func (ss *session) advanceLocked(st state) {
	if st > ss.state {
		ss.state = st
	}
}

// liveLocked reports whether the session still takes part: not being cut,
// not closed.
func (ss *session) liveLocked() bool { return ss.state < stateCutting }

// cleanedUpLocked reports whether cleanup has run.
func (ss *session) cleanedUpLocked() bool { return ss.state >= stateDisconnecting }

// Session returns the socket's authentication, and false when the socket is
// not (or not yet, or no longer) authenticated by this Auth: from the moment
// a cut starts (expiry, revocation, a failed refresh), before the socket is
// disconnected, it is false. The socket's "disconnect" listeners still read
// the last token it was authenticated with, unless it was cut (as
// socketio-jwt's decoded_token stays readable there); once they have run,
// the socket is forgotten.
func (a *Auth) Session(s *socket.Socket) (Session, bool) {
	ss, ok := a.sessions.load(s)
	if !ok {
		return Session{}, false
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.res == nil || !ss.liveLocked() && ss.state != stateDisconnecting {
		// Not yet, or no longer: a socket being cut is not authenticated
		// while it waits for its disconnect.
		return Session{}, false
	}
	exp, _ := ss.expiresLocked()
	return Session{Token: ss.res.Token, Claims: ss.res.Claims, Mode: ss.ns.mode, AuthenticatedAt: time.Unix(0, ss.at), ExpiresAt: exp}, true
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
	if !ss.a.observed() {
		return Event{Kind: kind, Code: code, Err: err} // nothing reads the rest (report)
	}
	e := Event{Kind: kind, Mode: ss.ns.mode, Namespace: ss.s.Nsp().Name(), SocketID: string(ss.s.Id()),
		Code: code, Failure: failureKind(code, err), Duration: d, Err: err}
	e.RemoteAddr = ss.remote
	if res != nil {
		e.Subject = res.Claims.Subject
		e.Fingerprint = ss.fingerprint(res)
	}
	return e
}

// fingerprint is Fingerprint(res.Token), hashed once per token: a
// socket's authentication and its close name the same token. The session
// keeps the hash's bytes, not the text: 8 bytes instead of a string
// header, for the life of every socket. The caller holds no lock.
func (ss *session) fingerprint(res *core.Result) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if res.Token == "" {
		return ""
	}
	if ss.fpOf != res {
		ss.fpOf, ss.fp = res, fingerprintSum(res.Token)
	}
	return hex.EncodeToString(ss.fp[:])
}

// handshake returns the socket's handshake as core reads it. It is built
// again for each use after the middleware (an "authenticate", a recovery)
// rather than kept: a copy of every header for the life of each socket
// cost more memory than the rare rebuild costs time.
func (ss *session) handshake() *core.Handshake { return ss.a.handshakeAt(ss.s, ss.remote) }

// verify runs the namespace's verifier and the revocation check: the one
// path shared by both modes, refreshes and recovered sockets.
func (a *Auth) verify(ctx context.Context, v *core.Verifier, token any, hs *core.Handshake) (*core.Result, error) {
	if hs != nil && token == nil {
		return nil, errors.New("siojwt: nil token")
	}
	if a.closed.Load() {
		return nil, core.NewError(core.CodeInternal, "internal error", ErrClosed)
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

// dropped forgets a session admitted by the binding's middleware whose
// socket the server library dropped before it connected (a later
// middleware refused it, or its client went away meanwhile): the
// early-packet hold tells it (holdOwner). unbound's timer calls it too.
func (ss *session) dropped() {
	ss.mu.Lock()
	joined := ss.joined
	ss.mu.Unlock()
	if !joined {
		ss.cleanup(false, false)
	}
}

// neverConnectedAfter is how long a session admitted by the binding's
// middleware waits for its socket once the early-packet hold has ended
// without news of it (unbound).
const neverConnectedAfter = 30 * time.Second

// unbound is told by the early-packet hold that it ended before the socket
// connected or was dropped (its bound passed, or its connection closed):
// the session is forgotten unless the socket connects within
// neverConnectedAfter.
func (ss *session) unbound() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.joined || ss.cleanedUpLocked() || ss.timeout != nil {
		return
	}
	ss.timeout = ss.a.clock.AfterFunc(neverConnectedAfter, ss.dropped)
}

// armTimeoutLocked starts the post-connect authenticate timeout.
func (ss *session) armTimeoutLocked() {
	ss.timeout = ss.a.clock.AfterFunc(ss.ns.timeout, func() { ss.s.Enqueue(ss.onTimeout) })
}

// onTimeout disconnects a socket that did not authenticate in time.
func (ss *session) onTimeout() {
	ss.mu.Lock()
	if ss.state != statePending {
		ss.mu.Unlock()
		return
	}
	ss.state = stateCutting
	ss.mu.Unlock()
	ss.a.emit(ss.event(EventTimedOut, core.CodeCredentialsRequired, nil, 0, nil))
	ss.a.disconnect(ss.s)
}

// onAuthenticate handles "authenticate" {token}: a first authentication in
// post-connect mode, or a refresh in either mode.
func (ss *session) onAuthenticate(args []any) {
	a := ss.a
	ss.mu.Lock()
	if !ss.liveLocked() {
		ss.mu.Unlock()
		return
	}
	old := ss.res
	ss.mu.Unlock()
	if old != nil && ss.ns.noRefresh {
		return
	}
	start := a.clock.Now()
	hs := ss.handshake()
	mark := a.revoked.mark()
	var res *core.Result
	err := safely(func() error {
		tok, ok := tokenArg(args)
		if !ok && !tokenGiven(args) {
			// The cookie only stands in for a token the event does not
			// carry: a token sent now is the client's newest.
			if c := ss.ns.verifier.ExtractCookie(hs); c != "" {
				tok, ok = c, true
			}
		}
		if !ok {
			return core.NewError(core.CodeInvalidToken, "invalid token datatype", nil)
		}
		var err error
		res, err = a.verify(a.ctx, ss.ns.verifier, tok, hs)
		if err != nil {
			return err
		}
		if old != nil {
			if err := sameIdentity(old.Claims, res.Claims); err != nil {
				return err
			}
			if ss.ns.onRefresh != nil {
				return ss.ns.onRefresh(ss.s, old, res)
			}
		}
		return nil
	})
	took := a.clock.Now().Sub(start)
	if err != nil {
		e := a.failed(ss.remote, err)
		about := res
		if old != nil {
			// A failed refresh: the subject and token are the current ones.
			about = old
		}
		ev := ss.event(EventRejected, e.Code, about, took, err)
		// Another cut (expiry, revocation) may have started while the
		// token was checked: then that one tells the client.
		ss.cutWith(ev, e)
		return
	}
	if !ss.authorizeToken(res) {
		return
	}
	if !ss.accept(res, old != nil, mark) {
		return
	}
	if old == nil {
		ss.announce(ss.event(EventAuthenticated, "", res, took, nil))
	} else {
		a.emit(ss.event(EventRefreshed, "", res, took, nil))
	}
	if old == nil && ss.ns.onAuthenticated != nil {
		if err := safely(func() error { ss.ns.onAuthenticated(ss.s); return nil }); err != nil {
			a.logPanic("authenticated handler panicked", err.Error(), "namespace", logs.Clip(ss.s.Nsp().Name(), maxLoggedText))
			ss.cut(EventClosed, res, core.AsError(err))
		}
	}
}

// sameIdentity refuses a token (a refresh, or the handshake of a recovered
// socket) that names another identity than the socket's token: another
// subject, or the same subject from another issuer (OpenID Connect's
// identity is the pair). The messages are jsonwebtoken's.
func sameIdentity(old, new *core.Claims) error {
	if new.Subject != old.Subject {
		return core.NewError(core.CodeInvalidToken, "jwt subject invalid. expected: "+old.Subject, nil)
	}
	if new.Issuer != old.Issuer {
		return core.NewError(core.CodeInvalidToken, "jwt issuer invalid. expected: "+old.Issuer, nil)
	}
	return nil
}

// accept makes res the socket's authentication: it leaves the pending room,
// (re)schedules expiry and tells the client. It reports false when the
// socket went away meanwhile, or was cut because res was revoked after
// mark, the moment its store lookup began (revokedSince). The caller holds
// no lock.
func (ss *session) accept(res *core.Result, refresh bool, mark uint64) bool {
	a := ss.a
	ss.mu.Lock()
	if !ss.liveLocked() {
		ss.mu.Unlock()
		return false
	}
	ss.advanceLocked(stateAuthenticated)
	ss.res = res
	ss.at = a.clock.Now().UnixNano()
	if ss.timeout != nil {
		ss.timeout.Stop()
		ss.timeout = nil
	}
	ss.scheduleLocked()
	pend := ss.pendAddr
	ss.pendAddr = ""
	ss.mu.Unlock()
	if pend != "" {
		a.releasePendingOf(ss, pend)
	}
	if e := a.revokedSince(mark, res.Claims); e != nil {
		ss.cut(revokedKind(e), res, e)
		return false
	}
	if ss.ns.mode == ModePostConnect || refresh {
		ss.s.Leave(PendingRoom)
		_ = ss.s.Emit("authenticated")
	}
	return true
}

// cut reports the event kind (with res, the authentication being ended, if
// any), tells the client why with "unauthorized" and disconnects it so that
// it sees "io server disconnect". It runs at most once per socket: a later
// call, or one after the socket went away, does nothing.
func (ss *session) cut(kind EventKind, res *core.Result, e *core.Error) {
	ss.cutWith(ss.event(kind, e.Code, res, 0, e.Err), e)
}

// cutWith is cut with the event already built. A socket admitted by a
// middleware but not connected yet (revoked in between) cannot be told or
// disconnected: connected finishes its cut, and if it never connects it is
// still forgotten (dropped, unbound).
func (ss *session) cutWith(ev Event, e *core.Error) {
	ss.mu.Lock()
	if !ss.liveLocked() {
		ss.mu.Unlock()
		return
	}
	early := !ss.joined
	ss.state = stateCutting
	if early {
		ss.early = e
		ss.a.unschedule(ss)
	} else {
		ss.stopTimersLocked()
	}
	ss.mu.Unlock()
	ev.Failure = e.Kind()
	ss.a.report(ev, e.Message)
	if !early {
		// Out of broadcasts from now on, not once the client acknowledges
		// or the wait ends: "unauthorized" still reaches it (emitDirect).
		ss.s.Join(PendingRoom)
		ss.a.unauthorized(ss.s, e, ss.ns.unauthorizedWait)
	}
}

func (ss *session) stopTimersLocked() {
	ss.a.unschedule(ss)
	if ss.timeout != nil {
		ss.timeout.Stop()
	}
}

// unauthorized emits socketio-jwt's "unauthorized" payload with an
// acknowledgement callback, then disconnects when the client acknowledges,
// or after wait (at once when wait is 0): see lateAck for how a wait that
// ends first is handled.
func (a *Auth) unauthorized(s *socket.Socket, e *core.Error, wait time.Duration) {
	payload := map[string]any{
		"message": e.Message,
		"inner":   map[string]any{"message": e.Message},
		"data":    e.Data(),
	}
	l := &lateAck{a: a, s: s}
	// socketio-jwt always sends an ack callback, even with callback: false;
	// clients call it unconditionally.
	ack := func([]any, error) { l.acknowledged() }
	if wait <= 0 {
		a.iso.emitDirect(s, "unauthorized", payload, ack)
		l.waitOver()
		return
	}
	// The timer is armed before the packet leaves: a client (or a test on a
	// fake clock) that reacts to "unauthorized" then finds the deadline set.
	a.clock.AfterFunc(wait, l.waitOver)
	a.iso.emitDirect(s, "unauthorized", payload, ack)
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
// disconnection. recoverable says that the server library persisted the
// socket for connection-state recovery. leaving says that the socket is
// leaving its namespace (DelAll) and that the server library emits its
// "disconnect" event next: the session is then forgotten once the
// application's listeners of that event have run, so that they may read
// it. Otherwise it is forgotten at once.
func (ss *session) cleanup(recoverable, leaving bool) {
	// Read before the lock: the emitter has a lock of its own.
	leaving = leaving && ss.s.ListenerCount("disconnect") > 0
	ss.mu.Lock()
	if ss.cleanedUpLocked() {
		ss.mu.Unlock()
		return
	}
	cutting := ss.state == stateCutting
	readable := leaving && ss.res != nil && !cutting
	if readable {
		ss.state = stateDisconnecting
	} else {
		ss.state = stateClosed
	}
	ss.stopTimersLocked()
	// Counted since "connection": a session cleaned up before it is never
	// counted (connected sees it closed), and is not cleaned up twice.
	res, pend, counted := ss.res, ss.pendAddr, ss.joined
	ss.pendAddr = ""
	owe := res != nil && !cutting && ss.flags&flagAnnounced == 0
	if owe {
		ss.flags |= flagCloseOwed // announce reports it
	}
	ss.mu.Unlock()
	a := ss.a
	if counted {
		a.conns.remove(ss.s.Conn().Id())
	}
	if readable {
		// The server library calls the listeners registered before it
		// emits "disconnect", in order: this one comes after the
		// application's. A listener costs the socket nothing lasting: the
		// name is the application's already, and the socket is going.
		_ = ss.s.On("disconnect", ss.forget)
	} else {
		a.sessions.delete(ss.s)
	}
	if pend != "" {
		a.releasePendingOf(ss, pend)
	}
	if res != nil && !cutting {
		if recoverable {
			a.rememberForRecovery(ss.s, res)
			ss.rememberRooms()
		}
		if !owe {
			a.emit(ss.event(EventClosed, "", res, 0, nil))
		}
	}
}

// forget closes a session left readable for its socket's "disconnect"
// listeners (cleanup), once they have run.
func (ss *session) forget(...any) {
	ss.mu.Lock()
	ss.state = stateClosed
	ss.mu.Unlock()
	ss.a.sessions.delete(ss.s)
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
