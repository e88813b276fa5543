package authz

import (
	"errors"
	"fmt"

	"github.com/siojwt/siojwt/core"
)

// CodeInsufficientScope is the wire code of a refusal, as RFC 6750 §3.1
// names it: the token is valid but does not grant what was asked.
const CodeInsufficientScope = core.CodeInsufficientScope

// ErrInsufficientScope is the cause of every refusal:
// errors.Is(err, authz.ErrInsufficientScope) tells a refusal from other
// failures.
var ErrInsufficientScope = errors.New("insufficient scope")

// Kind says what a refusal refused.
type Kind uint8

const (
	// KindNamespace: connecting to (or staying in) a namespace.
	KindNamespace Kind = iota + 1
	// KindEvent: an incoming event.
	KindEvent
	// KindRoom: joining (or staying in) a room.
	KindRoom
)

// String returns "namespace", "event" or "room", the value used in metric
// labels and hooks.
func (k Kind) String() string {
	switch k {
	case KindNamespace:
		return "namespace"
	case KindEvent:
		return "event"
	case KindRoom:
		return "room"
	}
	return "unknown"
}

// Refusal is a check's answer when the grants are insufficient. Its Kind and
// Rule name come from the server's configuration, never from the client, so
// they may be used as metric labels. It unwraps to a *core.Error with code
// CodeInsufficientScope (core.AsError finds it), whose cause is
// ErrInsufficientScope; when the rule's function panicked, the cause also
// wraps ErrPanic, for logs (errors.Is finds both).
type Refusal struct {
	kind Kind
	rule string
	err  core.Error
}

// NewRefusal builds a refusal of kind by the rule named rule, with the
// public message message, for checks a binding or an application makes
// beyond a Policy (a cap on rooms, say). rule must come from the
// configuration, never from a client; message should begin with
// "insufficient scope".
func NewRefusal(kind Kind, rule, message string) *Refusal {
	return newRefusal(kind, rule, message)
}

func newRefusal(kind Kind, rule, message string) *Refusal {
	return &Refusal{kind: kind, rule: rule, err: core.Error{
		Code: CodeInsufficientScope, Message: message, Err: ErrInsufficientScope,
	}}
}

// refusalFor is newRefusal, with panicked (nil, or the panic of the rule's
// function, wrapping ErrPanic) added to the cause. The client sees the same
// refusal either way.
func refusalFor(kind Kind, rule, message string, panicked error) *Refusal {
	r := newRefusal(kind, rule, message)
	if panicked != nil {
		r.err.Err = fmt.Errorf("%w (%w)", ErrInsufficientScope, panicked)
	}
	return r
}

// Kind returns what was refused.
func (r *Refusal) Kind() Kind { return r.kind }

// Rule returns the name of the rule that refused.
func (r *Refusal) Rule() string { return r.rule }

// Code returns CodeInsufficientScope.
func (r *Refusal) Code() string { return r.err.Code }

// Message returns the public message, which begins with "insufficient scope".
func (r *Refusal) Message() string { return r.err.Message }

// Error implements error.
func (r *Refusal) Error() string {
	return r.kind.String() + " refused by rule " + r.rule + ": " + r.err.Message
}

// Unwrap returns the *core.Error sent to the client.
func (r *Refusal) Unwrap() error { return &r.err }

// Data returns the object sent to the client:
// {message, code: "insufficient_scope", type: "UnauthorizedError"}.
func (r *Refusal) Data() map[string]any { return r.err.Data() }
