package authz

import (
	"errors"
	"fmt"

	"github.com/siojwt/siojwt/core"
)

// RoomFunc decides whether a socket with grants g, extracted from claims,
// may join room. claims is never nil (see RuleFunc). room comes from the
// client: treat it as untrusted text. It is never called for the empty room.
// A RoomFunc that panics refuses (the refusal wraps ErrPanic).
type RoomFunc func(room string, g Grants, claims *core.Claims) bool

// RoomRule decides which rooms a socket may join. The zero RoomRule is
// RoomGrants.
type RoomRule struct {
	name string
	fn   RoomFunc
}

// RoomGrants is the room rule that allows the rooms the token grants
// (Grants.AllowsRoom: the "rooms" claim by default), named "rooms".
func RoomGrants() RoomRule { return RoomRule{} }

// RoomsFunc is a room rule decided by fn, named name (for metrics and
// hooks).
func RoomsFunc(name string, fn RoomFunc) RoomRule { return RoomRule{name: name, fn: fn} }

// Name returns the room rule's name.
func (r RoomRule) Name() string {
	if r.fn == nil && r.name == "" {
		return "rooms"
	}
	return r.name
}

// Rules are the authorization rules of one namespace, turned into a Policy
// by NewPolicy.
type Rules struct {
	// Namespace is what a socket needs to connect to the namespace and, when
	// its token is refreshed, to stay. The zero Rule requires nothing beyond
	// authentication.
	Namespace Rule
	// Events maps event names to what they need. An event not named here is
	// allowed, unless DenyUnlistedEvents.
	Events map[string]Rule
	// DenyUnlistedEvents refuses every event Events does not name (rule
	// name "unlisted"); list the events open to every socket with Allow.
	DenyUnlistedEvents bool
	// Rooms decides which rooms may be joined through the checked join.
	// The zero value is RoomGrants.
	Rooms RoomRule
}

// Policy is a namespace's rules, ready for checking: every refusal message
// is built in advance, and a check that allows allocates nothing. A nil
// *Policy allows everything. A Policy is immutable and safe for concurrent
// use.
type Policy struct {
	namespace    Rule
	hasNamespace bool
	events       map[string]*Rule
	denyUnlisted bool
	rooms        RoomRule
}

// Names and messages of the refusals no Rule words.
const (
	// UnlistedRule is the rule name of an event refused by
	// DenyUnlistedEvents.
	UnlistedRule = "unlisted"
	// MessageUnlisted is the message of an event refused by
	// DenyUnlistedEvents.
	MessageUnlisted = "insufficient scope: event not allowed"
	// MessageRoom is the message of a refused room: it does not repeat the
	// room name, which comes from the client.
	MessageRoom = "insufficient scope: room not granted"
)

// NewPolicy checks and compiles rules. It refuses the zero Rule in Events, an
// empty event name, a rule without grants or without a name, a nil rule
// function, and a room rule without a function or a name.
func NewPolicy(rules Rules) (*Policy, error) {
	p := &Policy{denyUnlisted: rules.DenyUnlistedEvents, rooms: rules.Rooms}
	if ns := rules.Namespace; ns.kind != ruleNone || ns.err != nil || ns.name != "" {
		// A name without a kind is the zero Rule renamed: refused, not
		// taken for "no namespace rule".
		if err := rules.Namespace.validate(); err != nil {
			return nil, fmt.Errorf("namespace rule: %w", err)
		}
		p.namespace, p.hasNamespace = rules.Namespace, true
	}
	if len(rules.Events) > 0 {
		p.events = make(map[string]*Rule, len(rules.Events))
		for name, r := range rules.Events {
			if name == "" {
				return nil, errors.New("authz: event rule for the empty event name")
			}
			if err := r.validate(); err != nil {
				return nil, fmt.Errorf("event %q: %w", name, err)
			}
			p.events[name] = &r
		}
	}
	if rr := rules.Rooms; rr.fn == nil && rr.name != "" {
		return nil, fmt.Errorf("authz: room rule %q: nil function", rr.name)
	} else if rr.fn != nil && rr.name == "" {
		return nil, errors.New("authz: room rule function without a name")
	}
	return p, nil
}

// CheckNamespace returns nil when g may connect to (or stay in) the
// namespace, or a *Refusal of KindNamespace.
func (p *Policy) CheckNamespace(g Grants) error {
	if p == nil || !p.hasNamespace {
		return nil
	}
	ok, err := p.namespace.allows(g)
	if ok {
		return nil
	}
	return refusalFor(KindNamespace, p.namespace.name, p.namespace.message, err)
}

// CheckEvent returns nil when g may send the event name, or a *Refusal of
// KindEvent. name comes from the client: it is looked up, never kept or
// echoed. The binding's own events (in-band authentication) are not
// subject to it.
func (p *Policy) CheckEvent(name string, g Grants) error {
	if p == nil {
		return nil
	}
	r, ok := p.events[name]
	if !ok {
		if p.denyUnlisted {
			return newRefusal(KindEvent, UnlistedRule, MessageUnlisted)
		}
		return nil
	}
	ok, err := r.allows(g)
	if ok {
		return nil
	}
	return refusalFor(KindEvent, r.name, r.message, err)
}

// ChecksEvents reports whether CheckEvent can refuse anything, so that a
// binding can leave events of a namespace without event rules unchecked.
func (p *Policy) ChecksEvents() bool {
	return p != nil && (p.denyUnlisted || len(p.events) > 0)
}

// HasEventRule reports whether the policy names the event: a binding
// refuses a policy with a rule for its own events.
func (p *Policy) HasEventRule(name string) bool {
	if p == nil {
		return false
	}
	_, ok := p.events[name]
	return ok
}

// CheckRoom returns nil when g may join room, or a *Refusal of KindRoom.
func (p *Policy) CheckRoom(room string, g Grants) error {
	if p == nil {
		return nil
	}
	ok, err := false, error(nil)
	if p.rooms.fn != nil {
		if room != "" {
			ok, err = callRule(p.rooms.name, func() bool { return p.rooms.fn(room, g, g.claimsOrEmpty()) })
		}
	} else {
		ok = g.AllowsRoom(room)
	}
	if ok {
		return nil
	}
	return refusalFor(KindRoom, p.rooms.Name(), MessageRoom, err)
}
