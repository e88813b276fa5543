package core

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Verifier turns a handshake or a token into verified claims. It is safe for
// concurrent use; build one with New and share it.
type Verifier struct {
	cfg   config
	cache *verifiedCache // nil unless WithVerifiedCache
	hmacs hmacPools      // nil unless the static key is an HMAC secret
}

// Result is a successful authentication: the raw token and its verified
// (and possibly transformed) claims.
type Result struct {
	// Token is the raw JWT. Treat it as a secret: never log it.
	Token string
	// Claims are the verified claims.
	Claims *Claims
}

// New builds a Verifier. Exactly one of WithSecret, WithBase64Secret,
// WithPublicKey, WithPublicKeyPEM and WithKeyFunc is required.
func New(opts ...Option) (*Verifier, error) {
	c := config{
		keyTimeout:   DefaultKeyTimeout,
		maxTokenSize: DefaultMaxTokenSize,
		now:          time.Now,
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("core: nil option")
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.key == nil && c.keyFunc == nil {
		return nil, errors.New("core: no key: use WithSecret, WithPublicKey or WithKeyFunc")
	}
	if c.noAuth && c.noQuery && c.noHeader && c.cookie == "" && !c.headerRequired {
		return nil, errors.New("core: every token source is turned off")
	}
	if c.key != nil {
		kind := kindOfKey(c.key)
		if c.algs == nil {
			c.algs = inferAlgorithms(kind)
		} else {
			for _, a := range c.algs {
				if keyKindOf(a) != kind {
					return nil, fmt.Errorf("core: algorithm %s cannot be verified with a %T key", a, c.key)
				}
			}
		}
	}
	v := &Verifier{cfg: c, hmacs: newHMACPools(c.key)}
	if c.cacheSize > 0 {
		v.cache = newVerifiedCache(c.cacheSize)
	}
	return v, nil
}

type keyKind int

const (
	kindNone keyKind = iota
	kindHMAC
	kindRSA
	kindECDSA
	kindEd25519
)

func kindOfKey(k any) keyKind {
	switch k.(type) {
	case []byte:
		return kindHMAC
	case *rsa.PublicKey:
		return kindRSA
	case *ecdsa.PublicKey:
		return kindECDSA
	case ed25519.PublicKey:
		return kindEd25519
	}
	return kindNone
}

func keyKindOf(alg string) keyKind {
	switch alg {
	case "HS256", "HS384", "HS512":
		return kindHMAC
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return kindRSA
	case "ES256", "ES384", "ES512":
		return kindECDSA
	case "EdDSA":
		return kindEd25519
	}
	return kindNone
}

func inferAlgorithms(k keyKind) []string {
	switch k {
	case kindHMAC:
		return []string{"HS256", "HS384", "HS512"}
	case kindRSA:
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case kindECDSA:
		return []string{"ES256", "ES384", "ES512"}
	case kindEd25519:
		return []string{"EdDSA"}
	}
	return nil
}

// hmacMinSecret is the shortest secret RFC 7518 §3.2 allows for each HMAC
// algorithm: the size of its hash.
var hmacMinSecret = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// KeyWarnings describes what is weak in the verifier's static key without
// stopping it from working, one sentence each, for the caller to log at
// start (the binding's New logs them as warnings). Today that is an HMAC
// secret shorter than RFC 7518 §3.2 requires for an allowed algorithm (the
// size of its hash: 32 bytes for HS256, 48 for HS384, 64 for HS512): such
// a secret can be guessed offline from any token it signed. Keys returned
// by a key function are not seen before a token comes, and are not
// checked.
func (v *Verifier) KeyWarnings() []string {
	secret, ok := v.cfg.key.([]byte)
	if !ok {
		return nil
	}
	var short []string
	need := 0
	for _, alg := range v.cfg.algs {
		if n, ok := hmacMinSecret[alg]; ok && len(secret) < n {
			short = append(short, fmt.Sprintf("%s needs %d", alg, n))
			need = max(need, n)
		}
	}
	if len(short) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("the HMAC secret is %d bytes, shorter than RFC 7518 section 3.2 requires (%s): use a random secret of at least %d bytes",
		len(secret), strings.Join(short, ", "), need)}
}

func (v *Verifier) algAllowed(alg string, key any) bool {
	kind := kindOfKey(key)
	if kind == kindNone || keyKindOf(alg) != kind {
		return false
	}
	if v.cfg.algs == nil { // key function without a list: inferred per key
		return true
	}
	for _, a := range v.cfg.algs {
		if a == alg {
			return true
		}
	}
	return false
}

// invalid is a CodeInvalidToken failure, worded as jsonwebtoken words it,
// with its sentinel.
func invalid(reason error, msg string, cause error) *Error {
	return fail(reason, CodeInvalidToken, msg, cause)
}

// keyUnavailable is the failure of a key function that gave no key.
func keyUnavailable(cause error) *Error {
	return fail(ErrKeyUnavailable, CodeInvalidSecret, "secret or public key could not be obtained", cause)
}

// internal is a failure of the server's own.
func internal(cause error) *Error { return fail(ErrInternal, CodeInternal, "internal error", cause) }

// Authenticate finds the token in the handshake and verifies it.
func (v *Verifier) Authenticate(ctx context.Context, hs *Handshake) (*Result, error) {
	tok, err := v.Extract(hs)
	if err != nil {
		return nil, err
	}
	return v.Verify(ctx, tok, hs)
}

// Verify verifies a token value as a client sent it (a string for a
// well-behaved client), then runs the claims transform and the checks. hs
// may be nil when there is no handshake to speak of. Every error is an
// *Error whose Code and Message are safe to send to the client.
func (v *Verifier) Verify(ctx context.Context, token any, hs *Handshake) (res *Result, err error) {
	s, ok := token.(string)
	if !ok {
		return nil, invalid(ErrTokenMalformed, "jwt must be a string", nil)
	}
	claims, err := v.verifyToken(ctx, s, hs)
	if err != nil {
		return nil, err
	}
	res = &Result{Token: s, Claims: claims}
	if v.cfg.transform == nil && len(v.cfg.checks) == 0 {
		return res, nil
	}
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, internal(fmt.Errorf("core: hook panicked: %v", p))
		}
	}()
	if v.cfg.transform != nil {
		c, err := v.cfg.transform(ctx, claims)
		if err != nil {
			return nil, hookError(err)
		}
		if c == nil {
			return nil, internal(errors.New("core: claims transform returned nil claims"))
		}
		res.Claims = c
	}
	for _, check := range v.cfg.checks {
		if err := check(ctx, hs, res); err != nil {
			return nil, hookError(err)
		}
	}
	return res, nil
}

func hookError(err error) *Error {
	if e, ok := errorOf(err); ok {
		return e
	}
	return fail(ErrRejected, CodeUnknown, "authentication rejected", err)
}

// VerifyClaims checks already verified claims again against the time-based
// rules (exp, nbf, max age) at the current time. A binding uses it for
// sockets that come back through connection-state recovery.
func (v *Verifier) VerifyClaims(c *Claims) error { return v.validate(c) }

func (v *Verifier) verifyToken(ctx context.Context, s string, hs *Handshake) (*Claims, error) {
	switch {
	case s == "":
		return nil, invalid(ErrTokenMalformed, "jwt must be provided", nil)
	case len(s) > v.cfg.maxTokenSize:
		return nil, invalid(ErrTokenTooLarge, "jwt too large", fmt.Errorf("token of %d bytes, limit %d", len(s), v.cfg.maxTokenSize))
	case strings.Count(s, ".") != 2:
		return nil, invalid(ErrTokenMalformed, "jwt malformed", nil)
	}
	var hash uint64
	if v.cache != nil {
		var e *cacheEntry
		if e, hash = v.cache.get(s); e != nil {
			if claims, ok := v.cached(ctx, e, hs); ok {
				if err := v.validate(claims); err != nil {
					return nil, err
				}
				return claims, nil
			}
			v.cache.drop(hash)
		}
	}

	claims := new(Claims)
	t, perr := v.parse(ctx, s, hs, claims)
	if perr != nil {
		return nil, perr
	}
	if v.cache != nil {
		// Cached before the time rules: they are checked on every use.
		v.cache.put(hash, &cacheEntry{token: s, header: t.header, claims: claims, key: t.key})
	}
	if err := v.validate(claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// cached returns the claims of a token verified before, if the key that
// verified it is still the one in force for it.
func (v *Verifier) cached(ctx context.Context, e *cacheEntry, hs *Handshake) (*Claims, bool) {
	if v.cfg.keyFunc == nil {
		return e.claims, true // a static key never changes
	}
	k, err := v.callKeyFunc(ctx, &KeyRequest{Handshake: hs, Header: e.header, claims: e.claims})
	if err != nil || !sameKey(k, e.key) {
		return nil, false
	}
	return e.claims, true
}

// callKeyFunc runs the key function with a deadline, converting its panics
// and overruns into errors so that a client is never left hanging.
func (v *Verifier) callKeyFunc(ctx context.Context, req *KeyRequest) (any, *Error) {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.keyTimeout)
	defer cancel()
	type answer struct {
		key any
		err error
	}
	call := func() (a answer) {
		defer func() {
			if p := recover(); p != nil {
				a = answer{err: fmt.Errorf("core: key function panicked: %v", p)}
			}
		}()
		k, err := v.cfg.keyFunc(ctx, req)
		return answer{k, err}
	}
	var a answer
	if v.cfg.keyInline {
		a = call()
	} else {
		ch := make(chan answer, 1)
		go func() { ch <- call() }()
		select {
		case a = <-ch:
		case <-ctx.Done():
			return nil, keyUnavailable(ctx.Err())
		}
	}
	if a.err != nil {
		if e, ok := errorOf(a.err); ok {
			return nil, e
		}
		return nil, keyUnavailable(a.err)
	}
	if a.key == nil || kindOfKey(a.key) == kindNone {
		return nil, keyUnavailable(fmt.Errorf("core: key function returned %T", a.key))
	}
	if b, ok := a.key.([]byte); ok && (len(b) == 0 || looksLikePEM(b)) {
		return nil, keyUnavailable(errors.New("core: key function returned an empty secret or PEM text as an HMAC secret"))
	}
	return a.key, nil
}

// validate applies jsonwebtoken's claim rules in jsonwebtoken's order.
func (v *Verifier) validate(c *Claims) error {
	now := float64(v.cfg.now().Unix())
	tol := v.cfg.clockTolerance.Seconds()
	if c.farIat {
		// Not a jsonwebtoken rule: it would accept the token.
		return invalid(ErrTokenMalformed, "invalid token", nil)
	}
	if c.hasNbf {
		if c.badNbf {
			return invalid(ErrTokenMalformed, "invalid nbf value", nil)
		}
		if c.nbf > now+tol {
			return invalid(ErrTokenNotValidYet, "jwt not active", nil)
		}
	}
	if c.hasExp {
		if c.badExp {
			return invalid(ErrTokenMalformed, "invalid exp value", nil)
		}
		if now >= c.exp+tol {
			return invalid(ErrTokenExpired, "jwt expired", nil)
		}
	} else if v.cfg.requireExp {
		return invalid(ErrTokenRequiredClaimMissing, "jwt exp required", nil)
	}
	if v.cfg.audience != nil && !anyIn(c.Audience, v.cfg.audience) {
		return invalid(ErrTokenInvalidAudience, "jwt audience invalid. expected: "+strings.Join(v.cfg.audience, " or "), nil)
	}
	if v.cfg.issuer != nil && !anyIn([]string{c.Issuer}, v.cfg.issuer) {
		return invalid(ErrTokenInvalidIssuer, "jwt issuer invalid. expected: "+strings.Join(v.cfg.issuer, ","), nil)
	}
	if v.cfg.subject != "" && c.Subject != v.cfg.subject {
		return invalid(ErrTokenInvalidSubject, "jwt subject invalid. expected: "+v.cfg.subject, nil)
	}
	if v.cfg.jwtID != "" && c.ID != v.cfg.jwtID {
		return invalid(ErrTokenInvalidID, "jwt jwtid invalid. expected: "+v.cfg.jwtID, nil)
	}
	if v.cfg.maxAge > 0 {
		if !c.hasIat || c.badIat {
			return invalid(ErrTokenRequiredClaimMissing, "iat required when maxAge is specified", nil)
		}
		if now >= c.iat+v.cfg.maxAge.Seconds()+tol {
			return invalid(ErrTokenExpired, "maxAge exceeded", nil)
		}
	}
	return nil
}

func anyIn(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

// ExpiresAt returns when the claims stop being valid by the verifier's
// rules, and false when they never expire: the first instant Verify refuses
// them, exp plus the clock tolerance (or, with WithMaxAge, iat plus the
// maximum age plus the tolerance, when that comes first), rounded up to
// the second, since the rules compare whole seconds of the clock (a token
// whose exp is 100.5 verifies until 101). A revocation kept until then
// outlives the token (revoke.JTI).
func (v *Verifier) ExpiresAt(c *Claims) (time.Time, bool) {
	tol := v.cfg.clockTolerance.Seconds()
	end, ok := math.Inf(1), false
	if c.hasExp && !c.badExp {
		end, ok = c.exp+tol, true
	}
	if v.cfg.maxAge > 0 && c.hasIat && !c.badIat {
		if e := c.iat + v.cfg.maxAge.Seconds() + tol; e < end {
			end, ok = e, true
		}
	}
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(int64(math.Ceil(end)), 0), true
}

// Now returns the verifier's current time.
func (v *Verifier) Now() time.Time { return v.cfg.now() }
