package siojwt

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/siojwt/siojwt/authz"
	"github.com/siojwt/siojwt/core"
)

// EventKind says what happened to a socket.
type EventKind string

// The kinds of Event.
const (
	EventAuthenticated EventKind = "authenticated" // first successful authentication
	EventRejected      EventKind = "rejected"      // a failed authentication or refresh
	EventRefreshed     EventKind = "refreshed"     // an in-band refresh succeeded
	EventExpired       EventKind = "expired"       // cut because its token expired
	EventRevoked       EventKind = "revoked"       // cut because its token was revoked
	EventTimedOut      EventKind = "timed_out"     // cut for not authenticating in time
	EventClosed        EventKind = "closed"        // an authenticated socket went away
)

// Event describes an authentication outcome for hooks, audit logs and
// metrics. It never carries the token: Fingerprint identifies it instead.
type Event struct {
	Kind       EventKind
	Mode       Mode
	Namespace  string
	SocketID   string
	RemoteAddr string
	// Code is the wire code of a rejection or cut; empty on success.
	Code string
	// Failure is the class of a rejection or cut: core.KindOf of its
	// cause, one of core.Kinds(), fit for a metric label or for a branch
	// where Code is too coarse (it tells an expired token from a forged
	// one). It is the cause's kind even when the client was answered
	// "rate_limited" (Code) because its address had failed too often.
	// Empty on success.
	Failure core.Kind
	// Subject is the token's "sub" when it is known (after verification).
	Subject string
	// Fingerprint is the first 8 bytes of the token's SHA-256, in hex:
	// enough to correlate log lines, useless to replay.
	Fingerprint string
	// Duration is how long verification took (authentications, refreshes
	// and rejections).
	Duration time.Duration
	// Err is the internal cause of a rejection. It may hold details that
	// must not reach clients; log it, do not send it.
	Err error
	// Denied is what an EventForbidden refused: a namespace, an event or a
	// room; zero for other kinds. (Failure is empty for EventForbidden:
	// the token was valid.)
	Denied authz.Kind
	// Rule is the name of the rule that refused (EventForbidden only): it
	// comes from the server's configuration, never from the client.
	Rule string
}

// Fingerprint returns a short, non-reversible identifier of a token.
func Fingerprint(token string) string {
	if token == "" {
		return ""
	}
	sum := fingerprintSum(token)
	return hex.EncodeToString(sum[:])
}

// fingerprintLen is the bytes of a token's SHA-256 that Fingerprint shows.
const fingerprintLen = 8

// fingerprintSum is the part of token's SHA-256 that Fingerprint shows.
func fingerprintSum(token string) (fp [fingerprintLen]byte) {
	sum := sha256.Sum256([]byte(token))
	copy(fp[:], sum[:])
	return fp
}

// failureKind is the kind of a rejection or cut answered with code and
// caused by err.
func failureKind(code string, err error) core.Kind {
	if code == "" {
		return ""
	}
	var ce *core.Error
	if errors.As(err, &ce) {
		return ce.Kind()
	}
	return core.NewError(code, "", err).Kind()
}
