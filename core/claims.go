package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are a verified token's claims: the registered ones as typed fields,
// and the whole payload for the application's own claims (Get, Map, Decode,
// DecodeClaims). A Claims is immutable once verified and safe for concurrent
// use.
type Claims struct {
	// Issuer is "iss".
	Issuer string
	// Subject is "sub".
	Subject string
	// ID is "jti".
	ID string
	// Audience is "aud", as a list whether the token held a string or a
	// list; the elements of a list that are not strings are left out.
	Audience []string
	// ExpiresAt is "exp", or the zero time when the token has none.
	ExpiresAt time.Time
	// NotBefore is "nbf", or the zero time.
	NotBefore time.Time
	// IssuedAt is "iat", or the zero time.
	IssuedAt time.Time

	raw []byte // the payload JSON as received (or as rebuilt by a transform)

	// Numeric forms kept for jsonwebtoken-exact comparisons; present tells
	// which claims the payload had, and bad which were not numbers or were
	// numbers beyond MaxNumericDate (farIat tells the latter for "iat",
	// which jsonwebtoken does not otherwise check).
	exp, nbf, iat          float64
	hasExp, hasNbf, hasIat bool
	badExp, badNbf, badIat bool
	farIat                 bool

	// m is the whole payload as a map, decoded on the first Map call: a
	// pointer until then, for claims that live as long as their socket.
	m atomic.Pointer[claimsMap]
}

// claimsMap is what Map decoded.
type claimsMap struct {
	m   map[string]any
	err error
}

// registered is the shape decoded from every payload: only the registered
// claims, so the rest of the payload is scanned but not materialised.
type registered struct {
	Iss json.RawMessage `json:"iss"`
	Sub json.RawMessage `json:"sub"`
	Jti json.RawMessage `json:"jti"`
	Aud json.RawMessage `json:"aud"`
	Exp json.RawMessage `json:"exp"`
	Nbf json.RawMessage `json:"nbf"`
	Iat json.RawMessage `json:"iat"`
}

var errNotObject = errors.New("claims are not a JSON object")

// errHugeNumber refuses claims holding a number beyond float64's range
// outside exp, nbf and iat (readRegistered).
var errHugeNumber = errors.New("claims hold a number beyond float64's range")

// UnmarshalJSON decodes a token payload. It keeps the payload for Map and
// Decode and reads the registered claims.
func (c *Claims) UnmarshalJSON(b []byte) error {
	return c.decode(bytes.Clone(b))
}

// decode is UnmarshalJSON for a payload that c may keep.
func (c *Claims) decode(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return errNotObject
	}
	r, huge, ok := readRegistered(b)
	if !ok {
		// Not reached for input that encoding/json validated; decode
		// slowly so that direct callers get its error.
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
	}
	if huge {
		return errHugeNumber
	}
	c.raw = b
	c.Issuer = stringClaim(r.Iss)
	c.Subject = stringClaim(r.Sub)
	c.ID = stringClaim(r.Jti)
	c.Audience = audienceClaim(r.Aud)
	c.exp, c.hasExp, c.badExp, _ = numberClaim(r.Exp)
	c.nbf, c.hasNbf, c.badNbf, _ = numberClaim(r.Nbf)
	c.iat, c.hasIat, c.badIat, c.farIat = numberClaim(r.Iat)
	c.ExpiresAt = secondsTime(c.exp, c.hasExp && !c.badExp)
	c.NotBefore = secondsTime(c.nbf, c.hasNbf && !c.badNbf)
	c.IssuedAt = secondsTime(c.iat, c.hasIat && !c.badIat)
	return nil
}

// NewClaims builds Claims from a map, as a claims transform returns them.
func NewClaims(m map[string]any) (*Claims, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	c := new(Claims)
	if err := c.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	return c, nil
}

func stringClaim(r json.RawMessage) string {
	s, _ := stringValue(r)
	return s
}

// audienceClaim reads "aud" as jsonwebtoken compares it: a string, or the
// strings of a list (other elements match no audience, as there); any
// other value matches none.
func audienceClaim(r json.RawMessage) (aud []string) {
	switch {
	case len(r) == 0 || string(r) == "null":
		return nil
	case r[0] == '"':
		return []string{stringClaim(r)}
	case r[0] == '[':
		var list []any
		if json.Unmarshal(r, &list) != nil {
			return nil
		}
		for _, v := range list {
			if s, ok := v.(string); ok {
				aud = append(aud, s)
			}
		}
		return aud
	}
	return nil
}

// MaxNumericDate bounds "exp", "nbf" and "iat", in seconds either side of
// 1970: the range of a JavaScript Date (±8.64e15 ms, years -271821 to
// 275760), well inside what a time.Time holds. A token whose "exp" or
// "nbf" lies beyond is refused with "invalid exp value" or "invalid nbf
// value", one whose "iat" does with "invalid token": such a value is no
// date, and as a float64 beyond int64 it would wrap around on its way to a
// time.Time (an "exp" of 1e19 never expiring by one check and expired by
// another).
const MaxNumericDate = 8.64e12

// numberClaim reads a NumericDate claim: present when the payload has it,
// bad when it is not a number or lies beyond MaxNumericDate, far for the
// latter alone.
func numberClaim(r json.RawMessage) (v float64, present, bad, far bool) {
	if len(r) == 0 {
		return 0, false, false, false
	}
	if string(r) == "null" {
		return 0, true, true, false
	}
	v, ok := numberValue(r)
	if !ok || math.IsNaN(v) {
		return 0, true, true, false
	}
	if math.Abs(v) > MaxNumericDate { // ±Inf included
		return 0, true, true, true
	}
	return v, true, false, false
}

func secondsTime(v float64, ok bool) time.Time {
	if !ok {
		return time.Time{}
	}
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// Get returns one claim as decoded from JSON (string, float64, bool,
// []any, map[string]any or nil).
func (c *Claims) Get(name string) (any, bool) {
	m, _ := c.Map()
	v, ok := m[name]
	return v, ok
}

// Map returns all claims as a map. It is decoded on first use and shared:
// do not modify it.
func (c *Claims) Map() (map[string]any, error) {
	d := c.m.Load()
	if d == nil {
		d = new(claimsMap)
		d.err = json.Unmarshal(c.raw, &d.m)
		if !c.m.CompareAndSwap(nil, d) {
			d = c.m.Load() // decoded at the same time: every caller gets the first map
		}
	}
	return d.m, d.err
}

// Raw returns the payload JSON. Do not modify it.
func (c *Claims) Raw() []byte { return c.raw }

// Decode unmarshals the claims into v, typically a pointer to the
// application's own claims struct, with encoding/json: struct fields match
// keys without regard to case, so a payload holding both "sub" and "SUB"
// fills a field tagged "sub" with the later one. Read the registered
// claims from the Claims' own fields (Subject, Issuer, ...), which the
// verifier checked.
func (c *Claims) Decode(v any) error { return json.Unmarshal(c.raw, v) }

// DecodeClaims returns the claims decoded into a T.
func DecodeClaims[T any](c *Claims) (T, error) {
	var v T
	err := c.Decode(&v)
	return v, err
}

// MarshalJSON returns the payload JSON, so Claims print as the token had them.
func (c *Claims) MarshalJSON() ([]byte, error) {
	if len(c.raw) == 0 {
		return []byte("{}"), nil
	}
	return c.raw, nil
}

// The jwt.Claims methods let Claims serve as golang-jwt claims (for example
// in jwt.ParseWithClaims). The Verifier validates them itself, with
// jsonwebtoken's rules and messages.

// GetExpirationTime implements jwt.Claims.
func (c *Claims) GetExpirationTime() (*jwt.NumericDate, error) { return numeric(c.ExpiresAt), nil }

// GetNotBefore implements jwt.Claims.
func (c *Claims) GetNotBefore() (*jwt.NumericDate, error) { return numeric(c.NotBefore), nil }

// GetIssuedAt implements jwt.Claims.
func (c *Claims) GetIssuedAt() (*jwt.NumericDate, error) { return numeric(c.IssuedAt), nil }

// GetIssuer implements jwt.Claims.
func (c *Claims) GetIssuer() (string, error) { return c.Issuer, nil }

// GetSubject implements jwt.Claims.
func (c *Claims) GetSubject() (string, error) { return c.Subject, nil }

// GetAudience implements jwt.Claims.
func (c *Claims) GetAudience() (jwt.ClaimStrings, error) { return c.Audience, nil }

func numeric(t time.Time) *jwt.NumericDate {
	if t.IsZero() {
		return nil
	}
	return jwt.NewNumericDate(t)
}
