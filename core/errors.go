package core

import (
	"errors"
	"fmt"
)

// Codes carried in the "code" field of the error object sent to clients.
// The first six are socketio-jwt's own; the others are extensions, and a
// client that does not know them can treat them as a refusal.
const (
	// CodeCredentialsBadFormat: an Authorization header that does not split
	// into exactly two parts on a space.
	CodeCredentialsBadFormat = "credentials_bad_format"
	// CodeMissingAuthorizationHeader: the Authorization header is required and
	// carried no bearer token.
	CodeMissingAuthorizationHeader = "missing_authorization_header"
	// CodeCredentialsRequired: no token in any enabled source.
	CodeCredentialsRequired = "credentials_required"
	// CodeInvalidToken: the token failed verification (malformed, bad
	// signature, expired, wrong audience, revoked, ...).
	CodeInvalidToken = "invalid_token"
	// CodeInvalidSecret: the key function failed to produce a key.
	CodeInvalidSecret = "invalid_secret"
	// CodeUnknown: a post-verification hook failed without a code of its own
	// (post-connect mode, as socketio-jwt).
	CodeUnknown = "unknown"
	// CodeKeySetUnavailable: the token's signing key could not be fetched
	// because the key set endpoint is failing. Retry later; the token itself
	// may be fine.
	CodeKeySetUnavailable = "keyset_unavailable"
	// CodeRateLimited: too many failed authentications from this address.
	// Retry after a pause.
	CodeRateLimited = "rate_limited"
	// CodeInternal: the server failed (for example a hook panicked). The
	// token may be fine.
	CodeInternal = "internal_error"
)

// ErrorType is the value of the "type" field of every error object.
const ErrorType = "UnauthorizedError"

// Error is an authentication failure. Code and Message are public and are
// sent to the client; Err is the internal cause, which never leaves the
// server (it reaches logs and failure hooks only).
type Error struct {
	// Code is one of the Code constants, or an application's own code.
	Code string
	// Message is the public text, as jsonwebtoken or socketio-jwt words it.
	Message string
	// Err is the internal cause, or nil.
	Err error
}

// NewError returns an *Error with the given public code and message and an
// optional internal cause.
func NewError(code, message string, cause error) *Error {
	return &Error{Code: code, Message: message, Err: cause}
}

// Error implements error. It includes the internal cause: use Data for what
// may be sent to a client.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, &core.Error{Code: core.CodeInvalidToken}) classifies.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Data returns the object sent to clients: {message, code, type}.
func (e *Error) Data() map[string]any {
	return map[string]any{"message": e.Message, "code": e.Code, "type": ErrorType}
}

// AsError returns err as an *Error. An error that is not one (or does not
// wrap one) becomes CodeInternal with a fixed public message, so that
// internal text never reaches a client.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: "internal error", Err: err}
}

// CodeOf returns the wire code of err, or "" when err is nil.
func CodeOf(err error) string {
	if err == nil {
		return ""
	}
	return AsError(err).Code
}
