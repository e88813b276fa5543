package siojwt

import (
	"errors"
	"sync"
	"unicode/utf8"

	"github.com/siojwt/siojwt/authz"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/logs"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// Authorization: the grants of a socket's token (package authz) checked
// against its namespace's policy when it connects, on every event and on
// every checked room join, and again on every refresh and recovery.

// EventForbidden is the kind of Event reported when an authorization rule
// refuses a namespace, an event or a room (Event.Denied and Event.Rule say
// which). A namespace refusal at the handshake or at a first
// authentication refuses the socket; at a refresh or a recovery it cuts
// the socket, and this event is its last.
const EventForbidden EventKind = "forbidden"

// ForbiddenEvent is the event the server emits to a socket whose event was
// refused when the client asked for no acknowledgement:
// {event, message, code: "insufficient_scope", type: "UnauthorizedError"}.
const ForbiddenEvent = "forbidden"

// Bounds on what a client can make the binding keep or send back.
const (
	// MaxForbiddenEventName is the longest event name echoed in
	// ForbiddenEvent, in bytes: a longer name is cut (at a character
	// boundary).
	MaxForbiddenEventName = 128
	// MaxRoomName is the longest room name Join accepts, in bytes.
	MaxRoomName = authz.MaxGrantLen
	// MaxJoinedRooms is the most rooms one socket may have joined through
	// Join at a time.
	MaxJoinedRooms = 1024
)

// Rule names of the binding's own room refusals.
const (
	// RuleRoomName refuses a room name longer than MaxRoomName.
	RuleRoomName = "room-name-length"
	// RuleRoomLimit refuses a join beyond MaxJoinedRooms.
	RuleRoomLimit = "room-limit"
)

// ErrNotAuthenticated is returned by Join for a socket that has not
// authenticated (or is being cut).
var ErrNotAuthenticated = errors.New("siojwt: socket not authenticated")

// defaultExtractor reads the claims authz reads by default.
var defaultExtractor = sync.OnceValue(func() *authz.Extractor {
	e, err := authz.NewExtractor()
	if err != nil {
		panic("siojwt: default grants extractor: " + err.Error())
	}
	return e
})

// defaultRoomPolicy is the policy Join applies in a namespace without one:
// the token's room grants.
var defaultRoomPolicy = sync.OnceValue(func() *authz.Policy {
	p, err := authz.NewPolicy(authz.Rules{})
	if err != nil {
		panic("siojwt: default room policy: " + err.Error())
	}
	return p
})

// WithGrantsExtractor reads every socket's grants with e instead of
// authz.NewExtractor() (the claims scope, scp, permissions, roles and
// realm_access.roles, and room grants from rooms).
func WithGrantsExtractor(e *authz.Extractor) Option {
	return func(a *Auth) error {
		if e == nil {
			return errors.New("siojwt: nil grants extractor")
		}
		a.extractor = e
		return nil
	}
}

// NamespaceAuthorization checks the namespace's sockets against p: its
// namespace rule when a socket connects (handshake mode: the handshake is
// refused with the refusal object; post-connect mode: "unauthorized", then
// "io server disconnect"), its event rules on every incoming event, its
// room rule on every Join, and all of them again when the token is
// refreshed in-band or the socket is recovered. A policy with a rule for
// AuthenticateEvent is refused: that event is the binding's own and is
// never checked.
func NamespaceAuthorization(p *authz.Policy) NamespaceOption {
	return func(c *nsConfig) error {
		if p == nil {
			return errors.New("siojwt: nil authorization policy")
		}
		if p.HasEventRule(AuthenticateEvent) {
			return errors.New(`siojwt: the authorization policy has a rule for "` + AuthenticateEvent + `", the binding's own event`)
		}
		c.policy = p
		return nil
	}
}

// Grants returns the grants of the socket's current token, and false when
// the socket is not (or not yet, or no longer) authenticated by this Auth:
// as Session, from the moment a cut starts.
func (a *Auth) Grants(s *socket.Socket) (authz.Grants, bool) {
	ss, ok := a.sessions.load(s)
	if !ok {
		return authz.Grants{}, false
	}
	ss.mu.Lock()
	live := ss.liveLocked() || ss.state == stateDisconnecting
	ss.mu.Unlock()
	if !live {
		return authz.Grants{}, false
	}
	g := ss.currentGrants()
	if g == nil {
		return authz.Grants{}, false
	}
	return *g, true
}

func (a *Auth) grantsExtractor() *authz.Extractor {
	if a.extractor != nil {
		return a.extractor
	}
	return defaultExtractor()
}

// authorize extracts res's grants and checks the namespace rule.
func (ss *session) authorize(res *core.Result) (authz.Grants, *authz.Refusal) {
	g := ss.extractGrants(res)
	if e := ss.ns.policy.CheckNamespace(g); e != nil {
		return g, refusalOf(e)
	}
	return g, nil
}

// extractGrants reads res's grants.
func (ss *session) extractGrants(res *core.Result) authz.Grants {
	g, err := ss.a.grantsExtractor().FromClaims(res.Claims)
	if errors.Is(err, authz.ErrPanic) {
		// A fault of the server's own code, as a panicking hook is.
		ss.a.logPanic("grants function panicked", err.Error(), "namespace", logs.Clip(ss.s.Nsp().Name(), maxLoggedText),
			"sub", logs.Clip(res.Claims.Subject, maxLoggedText), "token", Fingerprint(res.Token))
	} else if err != nil && ss.a.log != nil {
		// err names the claim and its shape, never its value.
		ss.a.log.Debug("siojwt: grants claims ignored", "namespace", logs.Clip(ss.s.Nsp().Name(), maxLoggedText),
			"sub", logs.Clip(res.Claims.Subject, maxLoggedText), "token", Fingerprint(res.Token),
			"cause", logs.Clip(err.Error(), maxLoggedCause))
	}
	return g
}

// currentGrants returns the grants of the socket's current token, or nil
// before one is accepted. A handshake-mode socket of a namespace without a
// policy has nothing to check when it connects: its grants are read here,
// on first use (Grants, Join), so that a connection whose grants nobody
// asks for never decodes its claims into a map (most of the cost of
// extracting them). A refresh that stores newer grants meanwhile wins.
func (ss *session) currentGrants() *authz.Grants {
	if g := ss.grants.Load(); g != nil {
		return g
	}
	ss.mu.Lock()
	res := ss.res
	ss.mu.Unlock()
	if res == nil {
		return nil
	}
	g := ss.extractGrants(res)
	if ss.grants.CompareAndSwap(nil, &g) {
		return &g
	}
	return ss.grants.Load()
}

// refusalOf returns err as a *authz.Refusal (every error a Policy's checks
// return is one).
func refusalOf(err error) *authz.Refusal {
	var r *authz.Refusal
	if errors.As(err, &r) {
		return r
	}
	return authz.NewRefusal(authz.KindNamespace, "unknown", "insufficient scope")
}

// forbidden builds the EventForbidden of a refusal, with res the
// authentication it concerns (nil: the socket's current one).
func (ss *session) forbidden(r *authz.Refusal, res *core.Result) Event {
	if res == nil {
		ss.mu.Lock()
		res = ss.res
		ss.mu.Unlock()
	}
	if errors.Is(r, authz.ErrPanic) {
		ss.a.logPanic("authorization rule panicked", errors.Unwrap(r).Error(), "namespace", logs.Clip(ss.s.Nsp().Name(), maxLoggedText),
			"rule", r.Rule())
	}
	e := ss.event(EventForbidden, r.Code(), res, 0, r)
	// Not an authentication failure: Denied and Rule say what happened.
	e.Failure = ""
	e.Denied, e.Rule = r.Kind(), r.Rule()
	return e
}

// authorizeHandshake checks a handshake-mode socket whose token was just
// verified; a refusal is the error that refuses the handshake.
func (ss *session) authorizeHandshake(res *core.Result) *socket.ExtendedError {
	if ss.ns.policy == nil {
		return nil // no rule to check: currentGrants reads them when asked
	}
	g, r := ss.authorize(res)
	if r != nil {
		ss.a.emit(ss.forbidden(r, res))
		return extended(core.AsError(r))
	}
	ss.grants.Store(&g)
	return nil
}

// authorizeToken checks a token just accepted by "authenticate": a first
// authentication or a refresh. The namespace rule first: a
// refusal cuts the socket ("unauthorized" with insufficient_scope, then
// "io server disconnect") and it reports false. Then the rooms joined
// through Join are checked again and those no longer granted are left at
// once; then the new grants replace the old ones, for every later event.
func (ss *session) authorizeToken(res *core.Result) bool {
	g, r := ss.authorize(res)
	if r != nil {
		ss.cutForbidden(r, res)
		return false
	}
	ss.regrant(g, nil, res)
	return true
}

// regrant checks again the rooms the socket joined through Join (and
// those in restored, for a recovered socket), leaves those g (the grants
// of res) no longer grants, and makes g the socket's grants.
func (ss *session) regrant(g authz.Grants, restored []string, res *core.Result) {
	left := ss.recheckRooms(g, restored)
	for _, r := range left {
		ss.a.emit(ss.forbidden(r, res))
	}
}

// recheckRooms is regrant's part under roomsMu: it records restored, leaves
// the recorded rooms g does not grant, and makes g the socket's grants.
func (ss *session) recheckRooms(g authz.Grants, restored []string) (left []*authz.Refusal) {
	ss.roomsMu.Lock()
	defer ss.roomsMu.Unlock()
	for _, room := range restored {
		if ss.rooms == nil {
			ss.rooms = make(map[string]struct{}, len(restored))
		}
		ss.rooms[room] = struct{}{}
	}
	for room := range ss.rooms {
		if e := ss.roomPolicy().CheckRoom(room, g); e != nil {
			ss.s.Leave(socket.Room(room))
			delete(ss.rooms, room)
			left = append(left, refusalOf(e))
		}
	}
	ss.grants.Store(&g)
	return left
}

// cutForbidden cuts the socket for a namespace refusal, as cut does for
// authentication failures.
func (ss *session) cutForbidden(r *authz.Refusal, res *core.Result) {
	ss.mu.Lock()
	if !ss.liveLocked() {
		ss.mu.Unlock()
		return
	}
	ss.state = stateCutting
	ss.stopTimersLocked()
	ss.mu.Unlock()
	ss.a.emit(ss.forbidden(r, res))
	ss.a.unauthorized(ss.s, core.AsError(r), ss.ns.unauthorizedWait)
}

// authorizeRecovered checks a socket restored by connection-state recovery
// as a refresh would, with the rooms it had joined through Join before it
// dropped. It reports false when the socket was cut.
func (ss *session) authorizeRecovered(res *core.Result) bool {
	var restored []string
	if v, ok := ss.a.recentRooms.LoadAndDelete(recoveryKey(ss.s)); ok {
		restored = v.([]string)
	}
	g, r := ss.authorize(res)
	if r != nil {
		ss.cutForbidden(r, res)
		return false
	}
	ss.regrant(g, restored, res)
	return true
}

// rememberRooms keeps the rooms joined through Join of a socket that went
// away for a reason the server library may recover from (it persisted the
// socket), as long as it would: the server restores the socket's rooms,
// and the binding must know which to check again.
func (ss *session) rememberRooms() {
	a := ss.a
	ss.roomsMu.Lock()
	rooms := make([]string, 0, len(ss.rooms))
	for r := range ss.rooms {
		rooms = append(rooms, r)
	}
	ss.roomsMu.Unlock()
	if len(rooms) == 0 {
		return
	}
	key := recoveryKey(ss.s)
	a.recentRooms.Store(key, rooms)
	a.clock.AfterFunc(recoveryWindow(a.server), func() { a.recentRooms.CompareAndDelete(key, rooms) })
}

// allowEvent checks an incoming event against the policy. A refused event
// reaches no handler: when the client asked for an acknowledgement, it is
// acknowledged with the refusal object; otherwise ForbiddenEvent tells the
// client. AuthenticateEvent is never checked.
func (ss *session) allowEvent(args []any) bool {
	name, _ := firstString(args)
	if name == AuthenticateEvent {
		return true
	}
	var g authz.Grants
	if p := ss.currentGrants(); p != nil {
		g = *p
	}
	err := ss.ns.policy.CheckEvent(name, g)
	if err == nil {
		return true
	}
	r := refusalOf(err)
	ss.a.emit(ss.forbidden(r, nil))
	if len(args) > 1 {
		if ack, ok := args[len(args)-1].(socket.Ack); ok {
			ack([]any{r.Data()}, nil)
			return false
		}
	}
	data := r.Data()
	data["event"] = truncateUTF8(name, MaxForbiddenEventName)
	_ = ss.s.Emit(ForbiddenEvent, data)
	return false
}

// truncateUTF8 cuts s to at most n bytes, at a character boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (ss *session) roomPolicy() *authz.Policy {
	if ss.ns.policy != nil {
		return ss.ns.policy
	}
	return defaultRoomPolicy()
}

// Join makes s join room if its grants allow it, under its namespace's
// room rule (NamespaceAuthorization; without one, the token's room grants,
// authz.RoomGrants), and records the room: when the token is refreshed or
// the socket recovered, a room no longer granted is left at once. A
// refused join returns the *authz.Refusal (code insufficient_scope; its
// Data is the object to send the client), also for a room name longer than
// MaxRoomName or a join beyond MaxJoinedRooms rooms; a socket that is not
// authenticated gets ErrNotAuthenticated.
//
// Only this call is checked. The server library's own joins bypass it:
// socket.Join, the namespace's or server's SocketsJoin (including one sent
// from another server of a cluster through the adapter), and the adapter's
// AddAll. Rooms joined that way are not checked at refresh either. Use
// Join for every room a client asks for, and keep SocketsJoin for rooms
// the server decides alone. A room joined through Join and left some other
// way (socket.Leave, SocketsLeave) is checked again by the next Join.
func (a *Auth) Join(s *socket.Socket, room string) error {
	ss, ok := a.sessions.load(s)
	if !ok {
		return ErrNotAuthenticated
	}
	ss.mu.Lock()
	live := ss.state == stateAuthenticated
	ss.mu.Unlock()
	if !live {
		return ErrNotAuthenticated
	}
	r := ss.join(room)
	if r == nil {
		return nil
	}
	a.emit(ss.forbidden(r, nil))
	return r
}

func (ss *session) join(room string) *authz.Refusal {
	if len(room) > MaxRoomName {
		return authz.NewRefusal(authz.KindRoom, RuleRoomName, authz.MessageRoom)
	}
	ss.roomsMu.Lock()
	defer ss.roomsMu.Unlock()
	_, recorded := ss.rooms[room]
	if recorded && ss.s.Rooms().Has(socket.Room(room)) {
		return nil
	}
	// A recorded room the socket is no longer in was left some other way
	// (socket.Leave, SocketsLeave): it is checked and joined again.
	if !recorded && len(ss.rooms) >= MaxJoinedRooms && ss.forgetLeftLocked() >= MaxJoinedRooms {
		return authz.NewRefusal(authz.KindRoom, RuleRoomLimit, "insufficient scope: too many rooms")
	}
	g := ss.currentGrants()
	if g == nil {
		g = &authz.Grants{}
	}
	if e := ss.roomPolicy().CheckRoom(room, *g); e != nil {
		delete(ss.rooms, room)
		return refusalOf(e)
	}
	if ss.rooms == nil {
		ss.rooms = make(map[string]struct{})
	}
	ss.rooms[room] = struct{}{}
	ss.s.Join(socket.Room(room))
	return nil
}

// forgetLeftLocked forgets the recorded rooms the socket is no longer in
// (left without Leave) and returns how many remain. The caller holds
// roomsMu.
func (ss *session) forgetLeftLocked() int {
	in := ss.s.Rooms()
	for room := range ss.rooms {
		if !in.Has(socket.Room(room)) {
			delete(ss.rooms, room)
		}
	}
	return len(ss.rooms)
}

// Leave makes s leave room and forgets it was joined through Join.
func (a *Auth) Leave(s *socket.Socket, room string) {
	if ss, ok := a.sessions.load(s); ok {
		ss.roomsMu.Lock()
		delete(ss.rooms, room)
		ss.roomsMu.Unlock()
	}
	s.Leave(socket.Room(room))
}
