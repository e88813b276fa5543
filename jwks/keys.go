package jwks

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// errNoKeys makes a fetch that brings no usable key fail, so that the
// previous keys stay.
var errNoKeys = errors.New("no usable signing key in the set")

// load fetches and parses the key set at u with jwkset, then keeps the keys
// that may verify a token. jwkset decodes and validates each JWK (curve
// points, x5c against the key, thumbprints) and skips kinds it does not
// support; a key that fails validation makes the whole fetch fail. What it
// keeps, though, includes what a verifier must never use, hence keep.
func load(ctx context.Context, c *config, client *http.Client, u string) ([]jwkset.JWK, []skipped, error) {
	tmp, err := jwkset.NewStorageFromHTTP(u, jwkset.HTTPClientStorageOptions{
		Client:      client,
		Ctx:         ctx,
		HTTPTimeout: c.fetchTimeout,
		// Any "use" or "key_ops" value, registered or not: keep decides.
		ValidateOptions: jwkset.JWKValidateOptions{SkipUse: true, SkipKeyOps: true},
	})
	if err != nil {
		return nil, nil, err
	}
	all, err := tmp.KeyReadAll(ctx)
	if err != nil {
		return nil, nil, err
	}
	var kept []jwkset.JWK
	var skips []skipped
	for _, j := range all {
		if s := keep(j); s != nil {
			skips = append(skips, *s)
			continue
		}
		kept = append(kept, j)
	}
	if len(kept) == 0 {
		return nil, skips, errNoKeys
	}
	return kept, skips, nil
}

// skipped is a JWK left out of a set, and why.
type skipped struct {
	kid    string
	reason string
	secret bool // a symmetric or private key: anyone who reads the set can sign
}

// keep returns nil for a JWK that may verify tokens, else why not. jwkset
// parses with private material included (it serves servers too), and
// keyfunc would hand a symmetric key to an HS256 token that names it.
func keep(j jwkset.JWK) *skipped {
	m := j.Marshal()
	skip := func(format string, args ...any) *skipped {
		return &skipped{kid: m.KID, reason: fmt.Sprintf(format, args...)}
	}
	pub := j.Key()
	switch pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	case []byte:
		return &skipped{kid: m.KID, reason: "symmetric key: a published secret signs anything", secret: true}
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return &skipped{kid: m.KID, reason: "carries private key material", secret: true}
	default:
		return skip("a %T cannot verify a JWT", pub)
	}
	if m.USE != "" && m.USE != jwkset.UseSig {
		return skip("use %q", m.USE)
	}
	if len(m.KEYOPS) > 0 && !slices.Contains(m.KEYOPS, jwkset.KeyOpsVerify) {
		return skip("key_ops without verify")
	}
	if m.ALG != "" && !fits(string(m.ALG), pub) {
		return skip("alg %q does not fit a %T", m.ALG, pub)
	}
	return nil
}

// supported reports whether alg is a signature algorithm a key set key can
// verify. HMAC algorithms are not: a key set publishes public keys, and a
// public key used as an HMAC secret lets anyone sign (alg confusion).
func supported(alg string) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA":
		return true
	}
	return false
}

// fits reports whether pub can verify a signature made with alg: the key
// type of the algorithm, and for ECDSA the curve it names. keyfunc checks
// a JWK's declared "alg" only, and only when there is one.
func fits(alg string, pub any) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return true
		}
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// match is the outcome of a key lookup.
type match int

const (
	matched  match = iota
	notFound       // no key for the token: a refetch may bring it
	mismatch       // the token's kid names a key that cannot verify its alg
)

// lookup finds the key of a token in a set's keys with keyfunc, which reads
// the kid, checks the JWK's "alg" and "use" against the token, and returns
// the public key; then checks that the key fits the algorithm. A token
// without kid gets the only key of the set that can verify its algorithm,
// or none: with several, picking one would be a guess.
func lookup(ctx context.Context, kf keyfunc.Keyfunc, header map[string]any, alg string) (any, match) {
	k, err := kf.KeyfuncCtx(ctx)(&jwt.Token{Header: header})
	if err != nil {
		if errors.Is(err, jwkset.ErrKeyNotFound) {
			return nil, notFound
		}
		return nil, mismatch // the JWK declares another alg or use
	}
	if set, ok := k.(jwt.VerificationKeySet); ok { // no kid in the token
		var only any
		for _, c := range set.Keys {
			if fits(alg, c) {
				if only != nil {
					return nil, notFound
				}
				only = c
			}
		}
		if only == nil {
			return nil, notFound
		}
		return only, matched
	}
	if !fits(alg, k) {
		return nil, mismatch
	}
	return k, matched
}
