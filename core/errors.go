package core

import (
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"
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
	// CodeInsufficientScope: the token is valid but does not grant what was
	// asked (RFC 6750 §3.1): a namespace, an event or a room refused by the
	// authorization rules of package authz.
	CodeInsufficientScope = "insufficient_scope"
)

// ErrorType is the value of the "type" field of every error object.
const ErrorType = "UnauthorizedError"

// Sentinel causes. Every *Error matches exactly one of them with errors.Is
// (and the claim failures ErrTokenInvalidClaims as well), whatever its
// public message: branch on these, never on the message. Where golang-jwt
// has a sentinel for the same failure, core's is that very value, so
// errors.Is(err, jwt.ErrTokenExpired) holds too. See the package
// documentation for the table of codes, messages, sentinels and kinds.
var (
	// ErrCredentialsRequired: no token in any enabled source, or the
	// Authorization header is required and carries no bearer token.
	ErrCredentialsRequired = errors.New("core: no token")
	// ErrCredentialsBadFormat: an Authorization header that does not split
	// into a scheme and a value.
	ErrCredentialsBadFormat = errors.New("core: Authorization header is not of the form Bearer <token>")
	// ErrTokenMalformed: the token cannot be read: empty, not a string, not
	// three canonical base64url segments, not JSON objects, a "crit"
	// header, or an exp, nbf or iat that is not a date. It is
	// jwt.ErrTokenMalformed.
	ErrTokenMalformed = jwt.ErrTokenMalformed
	// ErrTokenTooLarge: the token is longer than the size limit.
	ErrTokenTooLarge = errors.New("core: token too large")
	// ErrTokenSignatureInvalid: no signature, an algorithm not allowed for
	// the key, or a signature that does not verify. It is
	// jwt.ErrTokenSignatureInvalid.
	ErrTokenSignatureInvalid = jwt.ErrTokenSignatureInvalid
	// ErrTokenExpired: exp (plus the clock tolerance) has passed, or the
	// token is older than the maximum age. It is jwt.ErrTokenExpired.
	ErrTokenExpired = jwt.ErrTokenExpired
	// ErrTokenNotValidYet: nbf is in the future. It is
	// jwt.ErrTokenNotValidYet.
	ErrTokenNotValidYet = jwt.ErrTokenNotValidYet
	// ErrTokenRequiredClaimMissing: exp is required and absent, or iat is
	// required by the maximum age and absent (or not a number). It is
	// jwt.ErrTokenRequiredClaimMissing.
	ErrTokenRequiredClaimMissing = jwt.ErrTokenRequiredClaimMissing
	// ErrTokenInvalidAudience: aud names none of the expected audiences. It
	// is jwt.ErrTokenInvalidAudience.
	ErrTokenInvalidAudience = jwt.ErrTokenInvalidAudience
	// ErrTokenInvalidIssuer: iss is not an expected issuer. It is
	// jwt.ErrTokenInvalidIssuer.
	ErrTokenInvalidIssuer = jwt.ErrTokenInvalidIssuer
	// ErrTokenInvalidSubject: sub is not the expected subject (also a
	// refresh to another subject). It is jwt.ErrTokenInvalidSubject.
	ErrTokenInvalidSubject = jwt.ErrTokenInvalidSubject
	// ErrTokenInvalidID: jti is not the expected ID. It is
	// jwt.ErrTokenInvalidId.
	ErrTokenInvalidID = jwt.ErrTokenInvalidId
	// ErrTokenInvalidClaims matches every failure of the claim rules
	// (ErrTokenExpired, ErrTokenNotValidYet, ErrTokenRequiredClaimMissing,
	// and the audience, issuer, subject and ID mismatches), as it does in
	// golang-jwt. It is jwt.ErrTokenInvalidClaims.
	ErrTokenInvalidClaims = jwt.ErrTokenInvalidClaims
	// ErrTokenRevoked: the token, or its subject, is revoked.
	ErrTokenRevoked = errors.New("core: token revoked")
	// ErrKeyUnavailable: the verification key could not be had: the key
	// function failed or timed out, the key set has no key with the
	// token's "kid", or the key set endpoint is failing.
	ErrKeyUnavailable = errors.New("core: verification key unavailable")
	// ErrRateLimited: refused by a rate or connection limit.
	ErrRateLimited = errors.New("core: rate limited")
	// ErrRejected: an application check refused a verified token (also any
	// *Error with a code of the application's own).
	ErrRejected = errors.New("core: rejected by the application")
	// ErrInternal: the server failed (a hook panicked, a store could not
	// answer); the token may be fine.
	ErrInternal = errors.New("core: internal error")
)

// Kind is a failure's class, a small fixed set of values fit for a metric
// label or a log field: finer than the wire code (which puts seventeen
// messages under "invalid_token"), coarser than the sentinel.
type Kind string

// The kinds. Each sentinel belongs to one.
const (
	KindCredentialsRequired  Kind = "credentials_required"   // ErrCredentialsRequired
	KindCredentialsBadFormat Kind = "credentials_bad_format" // ErrCredentialsBadFormat
	KindMalformed            Kind = "malformed"              // ErrTokenMalformed
	KindTooLarge             Kind = "too_large"              // ErrTokenTooLarge
	KindSignature            Kind = "signature"              // ErrTokenSignatureInvalid
	KindExpired              Kind = "expired"                // ErrTokenExpired
	KindNotValidYet          Kind = "not_valid_yet"          // ErrTokenNotValidYet
	// KindClaims: ErrTokenRequiredClaimMissing, ErrTokenInvalidAudience,
	// ErrTokenInvalidIssuer, ErrTokenInvalidSubject, ErrTokenInvalidID.
	KindClaims         Kind = "claims"
	KindRevoked        Kind = "revoked"         // ErrTokenRevoked
	KindKeyUnavailable Kind = "key_unavailable" // ErrKeyUnavailable
	KindRateLimited    Kind = "rate_limited"    // ErrRateLimited
	KindRejected       Kind = "rejected"        // ErrRejected
	KindInternal       Kind = "internal"        // ErrInternal
)

// Kinds lists every Kind, for metrics that declare their label values up
// front.
func Kinds() []Kind {
	return []Kind{KindCredentialsRequired, KindCredentialsBadFormat, KindMalformed, KindTooLarge,
		KindSignature, KindExpired, KindNotValidYet, KindClaims, KindRevoked, KindKeyUnavailable,
		KindRateLimited, KindRejected, KindInternal}
}

// sentinels maps each sentinel to its kind, in the order a cause chain is
// searched.
var sentinels = []struct {
	err  error
	kind Kind
}{
	{ErrTokenRevoked, KindRevoked},
	{ErrTokenExpired, KindExpired},
	{ErrTokenNotValidYet, KindNotValidYet},
	{ErrTokenRequiredClaimMissing, KindClaims},
	{ErrTokenInvalidAudience, KindClaims},
	{ErrTokenInvalidIssuer, KindClaims},
	{ErrTokenInvalidSubject, KindClaims},
	{ErrTokenInvalidID, KindClaims},
	{ErrTokenSignatureInvalid, KindSignature},
	{ErrTokenTooLarge, KindTooLarge},
	{ErrTokenMalformed, KindMalformed},
	{ErrKeyUnavailable, KindKeyUnavailable},
	{ErrCredentialsRequired, KindCredentialsRequired},
	{ErrCredentialsBadFormat, KindCredentialsBadFormat},
	{ErrRateLimited, KindRateLimited},
	{ErrRejected, KindRejected},
	{ErrInternal, KindInternal},
}

// Error is an authentication failure. Code and Message are public and are
// sent to the client; Err is the internal cause, which never leaves the
// server (it reaches logs and failure hooks only). Every Error also has a
// sentinel cause that errors.Is matches, and a Kind.
type Error struct {
	// Code is one of the Code constants, or an application's own code.
	Code string
	// Message is the public text, as jsonwebtoken or socketio-jwt words it.
	Message string
	// Err is the internal cause, or nil.
	Err error

	reason error // the sentinel; nil for an Error built as a literal
}

// NewError returns an *Error with the given public code and message and an
// optional internal cause. Its sentinel is the first one found in cause's
// chain (so NewError(code, msg, ErrTokenRevoked) is a revocation whatever
// msg says), else the one its code and message have in the table of the
// package documentation; an Error of an application's own code, or of
// CodeInvalidToken with a message not in the table, is ErrRejected.
func NewError(code, message string, cause error) *Error {
	return &Error{Code: code, Message: message, Err: cause, reason: reasonOf(code, message, cause)}
}

// fail returns an *Error with the given sentinel.
func fail(reason error, code, message string, cause error) *Error {
	return &Error{Code: code, Message: message, Err: cause, reason: reason}
}

// Error implements error. It includes the internal cause: use Data for what
// may be sent to a client.
func (e *Error) Error() string {
	if e == nil {
		return "<nil *core.Error>"
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// Is reports whether target is e's sentinel (or ErrTokenInvalidClaims for
// a failure of the claim rules), or an *Error with the same code (and the
// same message, when target has one), so that both
// errors.Is(err, core.ErrTokenExpired) and
// errors.Is(err, &core.Error{Code: core.CodeInvalidToken}) classify.
func (e *Error) Is(target error) bool {
	if e == nil {
		return false
	}
	if t, ok := target.(*Error); ok {
		return t != nil && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
	}
	r := e.sentinel()
	if target == r {
		return true
	}
	if target == ErrTokenInvalidClaims {
		k := kindOf(r)
		return k == KindExpired || k == KindNotValidYet || k == KindClaims
	}
	return false
}

// Kind returns the class of the failure.
func (e *Error) Kind() Kind { return kindOf(e.sentinel()) }

func (e *Error) sentinel() error {
	if e.reason != nil {
		return e.reason
	}
	return reasonOf(e.Code, e.Message, e.Err)
}

func kindOf(sentinel error) Kind {
	for _, s := range sentinels {
		if s.err == sentinel {
			return s.kind
		}
	}
	return KindRejected
}

// reasonOf finds the sentinel of an Error built without one: in its cause's
// chain, else by its code and, for CodeInvalidToken, its message (the wire
// contract fixes the messages).
func reasonOf(code, message string, cause error) error {
	if cause != nil {
		for _, s := range sentinels {
			if errors.Is(cause, s.err) {
				return s.err
			}
		}
	}
	switch code {
	case CodeCredentialsBadFormat:
		return ErrCredentialsBadFormat
	case CodeMissingAuthorizationHeader, CodeCredentialsRequired:
		return ErrCredentialsRequired
	case CodeInvalidSecret, CodeKeySetUnavailable:
		return ErrKeyUnavailable
	case CodeRateLimited:
		return ErrRateLimited
	case CodeInternal:
		return ErrInternal
	case CodeInvalidToken:
		return invalidTokenReason(message)
	}
	return ErrRejected // CodeUnknown, or the application's own code
}

// invalidTokenReason is the sentinel of a CodeInvalidToken message.
func invalidTokenReason(message string) error {
	switch message {
	case "jwt must be provided", "jwt must be a string", "jwt malformed", "invalid token",
		"invalid exp value", "invalid nbf value", "invalid token datatype":
		return ErrTokenMalformed
	case "jwt too large":
		return ErrTokenTooLarge
	case "jwt signature is required", "invalid algorithm", "invalid signature":
		return ErrTokenSignatureInvalid
	case "jwt expired", "maxAge exceeded":
		return ErrTokenExpired
	case "jwt not active":
		return ErrTokenNotValidYet
	case "jwt exp required", "iat required when maxAge is specified":
		return ErrTokenRequiredClaimMissing
	case "jwt revoked":
		return ErrTokenRevoked
	}
	switch {
	case strings.HasPrefix(message, "jwt audience invalid. expected: "):
		return ErrTokenInvalidAudience
	case strings.HasPrefix(message, "jwt issuer invalid. expected: "):
		return ErrTokenInvalidIssuer
	case strings.HasPrefix(message, "jwt subject invalid. expected: "):
		return ErrTokenInvalidSubject
	case strings.HasPrefix(message, "jwt jwtid invalid. expected: "):
		return ErrTokenInvalidID
	}
	return ErrRejected
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
	if e, ok := errorOf(err); ok {
		return e
	}
	return fail(ErrInternal, CodeInternal, "internal error", err)
}

// errorOf finds the *Error in err's chain. A typed nil *Error (a function
// declared to return *Error whose nil result became a non-nil error) is
// not one: ok is false, and the failure is reported as another error.
func errorOf(err error) (e *Error, ok bool) {
	if errors.As(err, &e) && e != nil {
		return e, true
	}
	return nil, false
}

// CodeOf returns the wire code of err, or "" when err is nil.
func CodeOf(err error) string {
	if err == nil {
		return ""
	}
	return AsError(err).Code
}

// KindOf returns the kind of err (KindInternal for an error that is not an
// *Error), or "" when err is nil.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	return AsError(err).Kind()
}
