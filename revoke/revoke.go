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
// forgotten, so that stores do not grow forever. For a revoked token ID it is
// the token's own expiry (exp), after which the token is refused anyway; for
// a subject it is Before plus the longest lifetime of the tokens the
// application issues.
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
// neither or both of JTI and Subject set, or Before set on a JTI revocation.
var ErrInvalid = errors.New("revoke: invalid revocation")

// ErrClosed is returned by a store's methods after its Close.
var ErrClosed = errors.New("revoke: store closed")

// DefaultMaxTokenLifetime is how long stores keep an entry whose Revocation
// has no Expires, unless configured otherwise: the longest lifetime
// (exp - iat) the application is assumed to give its tokens.
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
	// Expires is when the entry may be forgotten. For a JTI revocation it
	// should be the token's exp; for a subject revocation, the moment the
	// last token issued before Before expires. Zero means the store's
	// default: Before plus the maximum token lifetime for a subject, now
	// plus the maximum token lifetime for a JTI.
	Expires time.Time
}

// Token is what a store checks: the identifiers of a verified token.
type Token struct {
	// JTI is the token's ID (jti claim), or "" when it has none.
	JTI string
	// Subject is the token's subject (sub claim), or "" when it has none.
	Subject string
	// IssuedAt is the token's iat claim, or the zero time when it has none.
	IssuedAt time.Time
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
// records it at time now: Before defaults to now for a subject revocation;
// Expires defaults to Before+maxLifetime for a subject (the last moment a
// token issued before Before may still be valid) and to now+maxLifetime for
// a JTI. It returns an error wrapping ErrInvalid unless exactly one of JTI
// and Subject is set, when Before is set on a JTI revocation, or when
// maxLifetime is not positive.
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
	}
	if r.Subject != "" {
		if r.Before.IsZero() {
			r.Before = now
		}
		if r.Expires.IsZero() {
			r.Expires = r.Before.Add(maxLifetime)
		}
		return r, nil
	}
	if r.Expires.IsZero() {
		r.Expires = now.Add(maxLifetime)
	}
	return r, nil
}
