package authz

import (
	"errors"
	"fmt"
	"strings"

	"github.com/siojwt/siojwt/core"
)

// RuleFunc decides from the grants and the claims they came from. claims is
// never nil: grants not extracted from claims come with empty ones. It must
// be safe for concurrent use and fast: it runs on every checked event. A
// RuleFunc that panics refuses (the refusal wraps ErrPanic).
type RuleFunc func(g Grants, claims *core.Claims) bool

// Rule is a requirement on grants: all of a set, any of a set, a function,
// or Allow. Each rule has a name, used in metrics, hooks and the refusal
// message; it comes from the configuration, never from a client. The zero
// Rule is not a rule: a Policy refuses it. Rules are values and safe for
// concurrent use.
type Rule struct {
	kind    ruleKind
	grants  []string
	fn      RuleFunc
	name    string
	message string
	err     error
}

type ruleKind uint8

const (
	ruleNone ruleKind = iota
	ruleAll
	ruleAny
	ruleFunc
	ruleAllow
)

// AllOf requires every one of grants. Its name is the grants joined with
// "+" ("chat:read+chat:write"), its message "insufficient scope: chat:read
// and chat:write required".
func AllOf(grants ...string) Rule {
	return setRule(ruleAll, "+", " and ", grants)
}

// AnyOf requires at least one of grants. Its name is the grants joined with
// "|" ("admin|moderator"), its message "insufficient scope: admin or
// moderator required".
func AnyOf(grants ...string) Rule {
	return setRule(ruleAny, "|", " or ", grants)
}

func setRule(kind ruleKind, sep, word string, grants []string) Rule {
	r := Rule{kind: kind, grants: append([]string(nil), grants...)}
	if len(grants) == 0 {
		r.err = errors.New("authz: a rule with no grants")
		return r
	}
	for _, g := range grants {
		if g == "" || len(g) > MaxGrantLen {
			r.err = fmt.Errorf("authz: rule grant %q is empty or longer than %d bytes", g, MaxGrantLen)
			return r
		}
	}
	r.name = strings.Join(grants, sep)
	r.message = "insufficient scope: " + joinWords(grants, word) + " required"
	return r
}

// joinWords joins "a", "a and b", "a, b and c".
func joinWords(s []string, word string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + word + s[len(s)-1]
}

// Func is a rule decided by fn. name is required: it is the rule's name in
// metrics and hooks, and its message is "insufficient scope: <name>
// required".
func Func(name string, fn RuleFunc) Rule {
	r := Rule{kind: ruleFunc, fn: fn, name: name, message: "insufficient scope: " + name + " required"}
	if fn == nil {
		r.err = fmt.Errorf("authz: rule %q: nil function", name)
	}
	return r
}

// Allow is the rule that grants every authenticated socket, named "allow":
// with Rules.DenyUnlistedEvents, it lists an event that needs no grant.
func Allow() Rule { return Rule{kind: ruleAllow, name: "allow"} }

// Named returns r with another name (and the message "insufficient scope:
// <name> required"), for a metric label more telling than the grants.
func (r Rule) Named(name string) Rule {
	r.name = name
	r.message = "insufficient scope: " + name + " required"
	return r
}

// Name returns the rule's name.
func (r Rule) Name() string { return r.name }

// Allows reports whether g satisfies r. The zero Rule allows nothing, nor
// does a function rule whose function panics.
func (r Rule) Allows(g Grants) bool {
	ok, _ := r.allows(g)
	return ok
}

// allows is Allows, with the panic of a function rule as an error wrapping
// ErrPanic.
func (r Rule) allows(g Grants) (bool, error) {
	switch r.kind {
	case ruleAll:
		return g.HasAll(r.grants...), nil
	case ruleAny:
		return g.HasAny(r.grants...), nil
	case ruleFunc:
		return callRule(r.name, func() bool { return r.fn(g, g.claimsOrEmpty()) })
	case ruleAllow:
		return true, nil
	}
	return false, nil
}

// callRule calls fn, the function of the rule named name, and turns its
// panic into a refusal: false and an error wrapping ErrPanic.
func callRule(name string, fn func() bool) (ok bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			ok, err = false, fmt.Errorf("%w: rule %q: %v", ErrPanic, name, p)
		}
	}()
	return fn(), nil
}

// validate returns why r cannot be used.
func (r Rule) validate() error {
	if r.kind == ruleNone {
		return errors.New("authz: the zero Rule (use AllOf, AnyOf, Func or Allow)")
	}
	if r.err != nil {
		return r.err
	}
	if r.name == "" {
		return errors.New("authz: a rule with an empty name")
	}
	return nil
}
