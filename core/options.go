package core

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Option configures a Verifier. Options validate their arguments: New
// returns the first error.
type Option func(*config) error

// ClaimsTransform replaces verified claims before the application sees them
// (socketio-jwt's customDecoded). It returns the claims to use.
type ClaimsTransform func(ctx context.Context, c *Claims) (*Claims, error)

// Check runs after a token is verified and may reject it (socketio-jwt's
// additional_auth, @thream's onAuthentication): load the user, check a
// role. Returning an *Error rejects with that code and message; any other
// error rejects with code "unknown" and a fixed message, its text staying
// on the server.
type Check func(ctx context.Context, hs *Handshake, r *Result) error

type config struct {
	key        any
	keyFunc    KeyFunc
	keyInline  bool // keyFunc honours its context: call it on the caller's goroutine
	keyTimeout time.Duration
	algs       []string

	audience       []string
	issuer         []string
	subject        string
	jwtID          string
	clockTolerance time.Duration
	maxAge         time.Duration
	requireExp     bool
	maxTokenSize   int
	now            func() time.Time

	noAuth, noQuery, noHeader bool
	cookie                    string
	headerRequired            bool

	transform ClaimsTransform
	checks    []Check
	cacheSize int
}

// DefaultMaxTokenSize is the largest token accepted unless WithMaxTokenSize
// says otherwise.
const DefaultMaxTokenSize = 8 << 10

// DefaultKeyTimeout bounds a KeyFunc unless WithKeyTimeout says otherwise.
const DefaultKeyTimeout = 5 * time.Second

func setKey(c *config, key any) error {
	if c.key != nil || c.keyFunc != nil {
		return errors.New("core: only one of WithSecret, WithPublicKey and WithKeyFunc may be given")
	}
	c.key = key
	return nil
}

// WithSecret verifies HS256/384/512 tokens with an HMAC secret. A secret that
// is a PEM public key is refused: that is the classic algorithm-confusion
// mistake.
func WithSecret(secret []byte) Option {
	return func(c *config) error {
		if len(secret) == 0 {
			return errors.New("core: empty secret")
		}
		if looksLikePEM(secret) {
			return errors.New("core: the secret is a PEM key; use WithPublicKeyPEM for public keys")
		}
		return setKey(c, append([]byte(nil), secret...))
	}
}

// WithSecretString is WithSecret for a string secret.
func WithSecretString(secret string) Option { return WithSecret([]byte(secret)) }

// WithBase64Secret verifies HS tokens with a secret given in base64 or
// base64url (with or without padding), as Auth0 issued them.
func WithBase64Secret(secret string) Option {
	return func(c *config) error {
		s := strings.TrimRight(secret, "=")
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(s)
		}
		if err != nil {
			return fmt.Errorf("core: base64 secret: %w", err)
		}
		return WithSecret(b)(c)
	}
}

// WithPublicKey verifies tokens with an *rsa.PublicKey (RS*, PS*), an
// *ecdsa.PublicKey (ES*) or an ed25519.PublicKey (EdDSA).
func WithPublicKey(key crypto.PublicKey) Option {
	return func(c *config) error {
		switch key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			return setKey(c, key)
		}
		return fmt.Errorf("core: unsupported public key type %T", key)
	}
}

// WithPublicKeyPEM is WithPublicKey for a PEM "PUBLIC KEY" (PKIX), "RSA
// PUBLIC KEY" (PKCS#1) or "CERTIFICATE" block.
func WithPublicKeyPEM(data []byte) Option {
	return func(c *config) error {
		key, err := ParsePublicKeyPEM(data)
		if err != nil {
			return err
		}
		return WithPublicKey(key)(c)
	}
}

// ParsePublicKeyPEM parses the first PEM block of data as a public key.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("core: no PEM block found")
	}
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	}
	return nil, fmt.Errorf("core: PEM block %q is not a public key", block.Type)
}

// WithKeyFunc chooses the key per token (per tenant, per user, from a key
// set). It runs after the token is decoded and before its signature is
// checked, bounded by WithKeyTimeout. Without WithAlgorithms, the algorithms
// allowed are inferred from the type of each key it returns.
func WithKeyFunc(fn KeyFunc) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("core: nil KeyFunc")
		}
		if c.key != nil || c.keyFunc != nil {
			return errors.New("core: only one of WithSecret, WithPublicKey and WithKeyFunc may be given")
		}
		c.keyFunc = fn
		return nil
	}
}

// WithKeySource chooses the key per token with a source that honours its
// context, such as a jwks.Set: core.WithKeySource(set). It is called
// inline, bounded by WithKeyTimeout through its context; a panic in it is
// recovered. Use WithKeyFunc for functions that might not honour their
// context.
func WithKeySource(src KeySource) Option {
	return func(c *config) error {
		if src == nil {
			return errors.New("core: nil KeySource")
		}
		if err := WithKeyFunc(src.Key)(c); err != nil {
			return err
		}
		c.keyInline = true
		return nil
	}
}

// WithKeyTimeout bounds each KeyFunc call (default DefaultKeyTimeout). A key
// function that overruns rejects the connection with code "invalid_secret".
func WithKeyTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("core: key timeout must be positive")
		}
		c.keyTimeout = d
		return nil
	}
}

// WithAlgorithms sets the algorithm allow-list. Without it the list is
// inferred from the key as jsonwebtoken does: HS256/384/512 for a secret,
// RS*/PS* for an RSA key, ES* for an ECDSA key, EdDSA for an Ed25519 key.
// "none" is never allowed, and a token is only checked with a key of the
// type its algorithm needs, whatever the list says.
func WithAlgorithms(algs ...string) Option {
	return func(c *config) error {
		if len(algs) == 0 {
			return errors.New("core: empty algorithm list")
		}
		for _, a := range algs {
			if strings.EqualFold(a, "none") {
				return errors.New(`core: algorithm "none" cannot be allowed`)
			}
			if jwt.GetSigningMethod(a) == nil || keyKindOf(a) == kindNone {
				return fmt.Errorf("core: unknown algorithm %q", a)
			}
		}
		c.algs = append([]string(nil), algs...)
		return nil
	}
}

// WithAudience requires "aud" to contain one of the given audiences.
func WithAudience(aud ...string) Option {
	return func(c *config) error {
		if len(aud) == 0 {
			return errors.New("core: empty audience list")
		}
		c.audience = append([]string(nil), aud...)
		return nil
	}
}

// WithIssuer requires "iss" to be one of the given issuers.
func WithIssuer(iss ...string) Option {
	return func(c *config) error {
		if len(iss) == 0 {
			return errors.New("core: empty issuer list")
		}
		c.issuer = append([]string(nil), iss...)
		return nil
	}
}

// WithSubject requires "sub" to equal sub.
func WithSubject(sub string) Option {
	return func(c *config) error { c.subject = sub; return nil }
}

// WithJWTID requires "jti" to equal id.
func WithJWTID(id string) Option {
	return func(c *config) error { c.jwtID = id; return nil }
}

// WithClockTolerance allows for clock skew when checking exp, nbf and max
// age, as jsonwebtoken's clockTolerance.
func WithClockTolerance(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return errors.New("core: negative clock tolerance")
		}
		c.clockTolerance = d
		return nil
	}
}

// WithMaxAge refuses tokens issued ("iat") longer ago than d; tokens without
// "iat" are refused.
func WithMaxAge(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("core: max age must be positive")
		}
		c.maxAge = d
		return nil
	}
}

// WithRequiredExpiry refuses tokens without "exp". Without it, a token with no
// "exp" is accepted and never expires on its own.
func WithRequiredExpiry() Option {
	return func(c *config) error { c.requireExp = true; return nil }
}

// WithMaxTokenSize refuses longer tokens before any decoding (default
// DefaultMaxTokenSize).
func WithMaxTokenSize(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return errors.New("core: max token size must be positive")
		}
		c.maxTokenSize = n
		return nil
	}
}

// WithClock sets the time source (tests).
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("core: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithoutAuthPayload stops reading the handshake payload's "token".
func WithoutAuthPayload() Option { return func(c *config) error { c.noAuth = true; return nil } }

// WithoutQuery stops reading the "token" query parameter.
func WithoutQuery() Option { return func(c *config) error { c.noQuery = true; return nil } }

// WithoutHeader stops reading the Authorization header.
func WithoutHeader() Option { return func(c *config) error { c.noHeader = true; return nil } }

// WithCookie also reads the token from the named cookie, after the other
// sources.
func WithCookie(name string) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("core: empty cookie name")
		}
		c.cookie = name
		return nil
	}
}

// WithAuthHeaderRequired accepts a token only from an "Authorization:
// Bearer" header (socketio-jwt's auth_header_required). Browsers can send
// headers only over HTTP long-polling.
func WithAuthHeaderRequired() Option {
	return func(c *config) error { c.headerRequired = true; return nil }
}

// WithClaimsTransform sets the claims transform (socketio-jwt's
// customDecoded).
func WithClaimsTransform(fn ClaimsTransform) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("core: nil claims transform")
		}
		c.transform = fn
		return nil
	}
}

// WithCheck adds a post-verification check; checks run in order.
func WithCheck(fn Check) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("core: nil check")
		}
		c.checks = append(c.checks, fn)
		return nil
	}
}

func looksLikePEM(b []byte) bool {
	return strings.Contains(string(b), "-----BEGIN")
}
