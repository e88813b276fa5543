package jwks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/MicahParks/jwkset"
)

// key is one usable signing key of the set.
type key struct {
	kid string
	alg string // the JWK's "alg", or "" when it declares none
	pub any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// skipped is a JWK left out of the set, and why.
type skipped struct {
	kid     string
	reason  string
	private bool // it carried private key material
}

var errNoKeys = errors.New("jwks: the key set holds no usable signing key")

// parseSet decodes a JWK Set document and keeps the keys that can verify a
// JWT signature. Each JWK is decoded and validated by jwkset on its own, so
// that one key of a kind this package does not use (an encryption key, an
// Ed448 key) does not make the whole set unusable.
func parseSet(body []byte) ([]key, []skipped, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("jwks: not a JWK Set: %w", err)
	}
	var keys []key
	var skips []skipped
	for _, raw := range doc.Keys {
		k, skip := parseKey(raw)
		if skip != nil {
			skips = append(skips, *skip)
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, skips, errNoKeys
	}
	return keys, skips, nil
}

func parseKey(raw json.RawMessage) (key, *skipped) {
	var m jwkset.JWKMarshal
	if err := json.Unmarshal(raw, &m); err != nil {
		return key{}, &skipped{reason: "not a JWK: " + err.Error()}
	}
	skip := func(reason string) (key, *skipped) { return key{}, &skipped{kid: m.KID, reason: reason} }
	// A published secret or private key lets anyone sign: never use it.
	if m.KTY == jwkset.KtyOct || m.K != "" {
		return skip("symmetric key: a published secret signs anything")
	}
	if m.D != "" || m.P != "" || m.Q != "" {
		return key{}, &skipped{kid: m.KID, reason: "carries private key material", private: true}
	}
	if m.USE != "" && m.USE != jwkset.UseSig {
		return skip(fmt.Sprintf("use %q", m.USE))
	}
	if len(m.KEYOPS) > 0 && !slices.Contains(m.KEYOPS, jwkset.KeyOpsVerify) {
		return skip("key_ops without verify")
	}
	j, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
	if err != nil {
		return skip(err.Error())
	}
	pub := j.Key()
	switch pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return skip(fmt.Sprintf("%T cannot verify a JWT", pub))
	}
	alg := string(m.ALG)
	if alg != "" && !fits(alg, pub) {
		return skip(fmt.Sprintf("alg %q does not match a %T", alg, pub))
	}
	return key{kid: m.KID, alg: alg, pub: pub}, nil
}

// supported reports whether alg is a signature algorithm a key set key can
// verify. HMAC algorithms are not: a key set publishes public keys.
func supported(alg string) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA":
		return true
	}
	return false
}

// fits reports whether pub can verify a signature made with alg (for ECDSA,
// with the curve the algorithm names).
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

// usable reports whether k may verify a token signed with alg: its type
// fits, and its declared alg, if any, is the token's.
func (k *key) usable(alg string) bool {
	return (k.alg == "" || k.alg == alg) && fits(alg, k.pub)
}

// find returns the key for a token's kid and alg. found is false when the
// set has no key for the token; with kid set and found true, pub is nil
// when the set has that kid but not for alg.
//
// A token without kid is matched only when exactly one key of the set can
// verify its algorithm: with more, picking one would be a guess.
func find(keys []key, kid, alg string) (pub any, found bool) {
	if kid != "" {
		for i := range keys {
			if keys[i].kid == kid {
				found = true
				if keys[i].usable(alg) {
					return keys[i].pub, true
				}
			}
		}
		return nil, found
	}
	for i := range keys {
		if keys[i].usable(alg) {
			if pub != nil {
				return nil, false
			}
			pub = keys[i].pub
		}
	}
	return pub, pub != nil
}
