// Package revoke defines revocation stores: a server records revoked tokens
// in a Store, refuses them when a client authenticates, and, through a
// Watcher, cuts the live connections that hold them.
//
// A token is revoked when its ID (jti) has been revoked, or when its subject
// (sub) has a revocation whose time Before is after the token's issued-at
// time (iat). A token without iat is revoked by any revocation of its
// subject: without iat there is no way to tell that it was issued later.
//
// Entries are bounded in time: each one carries an expiry after which it is
// forgotten, so that stores do not grow forever. A revocation must outlive
// every token it names, or the token verifies again once it is forgotten.
// For a revoked token ID the expiry is given by the caller and required: the
// moment the token stops verifying, its exp plus the verifier's clock
// tolerance, which ForToken and JTI compute; Forever for a token without exp.
// A JTI revocation without one is refused (ErrInvalid) rather than kept for a
// guessed time. For a subject it defaults to Before plus the longest lifetime
// of the tokens the application issues (WithMaxTokenLifetime).
//
// Memory is the in-process store. Package redisrevoke holds one that shares
// revocations between servers through Redis.
package revoke

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrInvalid is returned (wrapped) for a Revocation that cannot be recorded:
// neither or both of JTI and Subject set, Before set on a JTI revocation, or
// a JTI revocation without Expires.
var ErrInvalid = errors.New("revoke: invalid revocation")

// Forever is the Expires of a revocation that must never be forgotten: that
// of a token without exp, which verifies for ever unless the verifier
// requires exp. Stores keep such an entry until it is deleted by hand, so
// prefer tokens that expire. It is also the latest time stores record:
// Normalize brings a later Before or Expires back to it. Do not modify it.
var Forever = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// ErrClosed is returned by a store's methods after its Close.
var ErrClosed = errors.New("revoke: store closed")

// DefaultMaxTokenLifetime is how long after Before stores keep a subject
// revocation that has no Expires, unless configured otherwise: the longest
// lifetime (exp - iat) the application is assumed to give its tokens.
const DefaultMaxTokenLifetime = 24 * time.Hour

// Revocation describes one revoke call. Exactly one of JTI and Subject is
// set.
type Revocation struct {
	// JTI revokes the one token with this ID.
	JTI string
	// Subject revokes the tokens of this subject issued before Before.
	Subject string
	// Before bounds a subject revocation: tokens issued (iat) strictly
	// before it are revoked. Zero means the time of the revoke call. A
	// Before in the future also refuses the tokens issued until then.
	Before time.Time
	// Expires is when the entry may be forgotten: the moment the last token
	// it names stops verifying. For a JTI revocation it is required: the
	// token's exp plus the verifier's clock tolerance (see ForToken and
	// JTI), or Forever for a token without exp. For a subject revocation,
	// zero means Before plus the store's maximum token lifetime; give
	// Forever when the verifier accepts tokens without exp, which the
	// maximum lifetime does not bound.
	Expires time.Time
}

// JTI returns the revocation of the one token whose ID is jti, kept until
// until: the moment that token stops verifying, its exp plus the verifier's
// clock tolerance (core.Verifier.ExpiresAt gives it), or Forever when the
// token has no exp. An until at or before the time of the Revoke call
// records nothing, since the token is refused anyway; a zero until makes
// Revoke fail with ErrInvalid.
func JTI(jti string, until time.Time) Revocation {
	return Revocation{JTI: jti, Expires: until}
}

// ForToken returns the revocation of the one token t names by its ID, kept
// for as long as t can verify: until t.ExpiresAt plus leeway, the verifier's
// clock tolerance (core.WithClockTolerance, 0 by default), rounded up to
// the second (verifiers compare whole seconds of the clock: a token whose
// exp is 100.5 verifies until 101), or Forever when t has no exp (zero
// ExpiresAt). A t without JTI makes Revoke fail with ErrInvalid: such a
// token can only be revoked through its subject.
func ForToken(t Token, leeway time.Duration) Revocation {
	if t.ExpiresAt.IsZero() {
		return JTI(t.JTI, Forever)
	}
	if leeway < 0 {
		leeway = 0
	}
	until := t.ExpiresAt.Add(leeway)
	if s := until.Truncate(time.Second); !s.Equal(until) {
		until = s.Add(time.Second)
	}
	return JTI(t.JTI, until)
}

// Token is what a store checks: the identifiers of a verified token.
type Token struct {
	// JTI is the token's ID (jti claim), or "" when it has none.
	JTI string
	// Subject is the token's subject (sub claim), or "" when it has none.
	Subject string
	// IssuedAt is the token's iat claim, or the zero time when it has none.
	IssuedAt time.Time
	// ExpiresAt is the token's exp claim, or the zero time when it has none.
	// Stores do not read it; ForToken does.
	ExpiresAt time.Time
}

// Store records revocations and answers whether a token is revoked. Its
// methods are safe for concurrent use.
type Store interface {
	// Revoke records r. Stores fill r's defaults with Normalize first.
	Revoke(ctx context.Context, r Revocation) error
	// IsRevoked reports whether t matches a recorded, unexpired revocation.
	// An error means the store could not answer; the caller decides whether
	// to refuse the token (fail closed, the safe choice) or accept it.
	IsRevoked(ctx context.Context, t Token) (bool, error)
}

// Watcher is implemented by stores that announce revocations, so that every
// server can cut the live connections holding a revoked token.
type Watcher interface {
	// Watch calls fn, one call at a time, with every revocation made through
	// any store sharing the backend (this one included), normalized as
	// recorded, until ctx ends. It returns a non-nil error: ctx.Err() when ctx
	// ends, or the reason it stopped early.
	Watch(ctx context.Context, fn func(Revocation)) error
}

// Matches reports whether r revokes t: t carries r's JTI, or t's subject is
// r's Subject and t was issued strictly before r.Before. A token without iat
// (zero IssuedAt) matches every revocation of its subject, and so does any
// token when Before is zero. Empty identifiers never match. Expiry is not
// considered: Matches is meant for revocations as Watch delivers them.
func (r Revocation) Matches(t Token) bool {
	if r.JTI != "" && t.JTI == r.JTI {
		return true
	}
	if r.Subject == "" || t.Subject != r.Subject {
		return false
	}
	return t.IssuedAt.IsZero() || r.Before.IsZero() || t.IssuedAt.Before(r.Before)
}

// Normalize checks r and returns it with its defaults filled, as a store
// records it at time now: Before defaults to now for a subject revocation,
// and Expires to Before+maxLifetime (the last moment a token issued before
// Before may still be valid). Before and Expires later than Forever, the
// latest time stores record, become Forever (a token's dates may reach year
// 275760, see core.MaxNumericDate): the entry is kept for ever, and a
// subject revocation then spares only the tokens issued after Forever. It
// returns an error wrapping ErrInvalid unless exactly one of JTI and
// Subject is set, when Before is set on a JTI revocation, when a JTI
// revocation has no Expires (only the caller knows how long that token
// verifies: see ForToken), or when maxLifetime is not positive.
func (r Revocation) Normalize(now time.Time, maxLifetime time.Duration) (Revocation, error) {
	switch {
	case maxLifetime <= 0:
		return r, fmt.Errorf("%w: max token lifetime %v is not positive", ErrInvalid, maxLifetime)
	case r.JTI == "" && r.Subject == "":
		return r, fmt.Errorf("%w: neither JTI nor Subject is set", ErrInvalid)
	case r.JTI != "" && r.Subject != "":
		return r, fmt.Errorf("%w: both JTI and Subject are set; revoke them separately", ErrInvalid)
	case r.JTI != "" && !r.Before.IsZero():
		return r, fmt.Errorf("%w: Before applies to subject revocations only", ErrInvalid)
	case r.JTI != "" && r.Expires.IsZero():
		return r, fmt.Errorf("%w: a JTI revocation needs Expires, the moment the token stops verifying "+
			"(its exp plus the clock tolerance, or revoke.Forever without exp); build it with revoke.ForToken or revoke.JTI", ErrInvalid)
	}
	if r.Subject != "" {
		if r.Before.IsZero() {
			r.Before = now
		}
		if r.Before.After(Forever) {
			r.Before = Forever
		}
		if r.Expires.IsZero() {
			r.Expires = r.Before.Add(maxLifetime)
		}
	}
	if r.Expires.After(Forever) {
		r.Expires = Forever
	}
	return r, nil
}
