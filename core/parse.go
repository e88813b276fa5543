package core

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// parsed is a token whose signature verified.
type parsed struct {
	claims *Claims
	header map[string]any // nil unless a key function needs it
	key    any
}

// parse decodes and verifies a compact JWS with golang-jwt's signing
// methods. It does what golang-jwt's Parser.ParseWithClaims does, in the
// same order and with the same encoding rules, but reads the header's
// "alg" and the registered claims in one pass over each segment instead of
// decoding them into maps: for HS256 the JSON decoding, not the
// cryptography, was most of the cost. The header is decoded into a map
// only when a key function will see it. s has exactly two dots.
//
// Failures are worded as jsonwebtoken words them; claims is filled as far
// as decoding got.
func (v *Verifier) parse(ctx context.Context, s string, hs *Handshake, claims *Claims) (parsed, *Error) {
	h, rest, _ := strings.Cut(s, ".")
	p, sig, _ := strings.Cut(rest, ".")
	sigEmpty := sig == ""

	// One buffer for the three decoded segments.
	enc := base64.RawURLEncoding
	buf := make([]byte, enc.DecodedLen(len(h))+enc.DecodedLen(len(p))+enc.DecodedLen(len(sig)))
	decode := func(seg string) ([]byte, error) {
		n, err := enc.Decode(buf, []byte(seg))
		out := buf[:n:n]
		buf = buf[n:]
		return out, err
	}

	hb, err := decode(h)
	if err != nil {
		return parsed{}, invalid("invalid token", err)
	}
	var header map[string]any
	var alg string
	if v.cfg.keyFunc != nil {
		if err := json.Unmarshal(hb, &header); err != nil {
			return parsed{}, invalid("invalid token", err)
		}
		if header == nil { // "null"
			return parsed{}, invalid("invalid token", errNotObject)
		}
		alg, _ = header["alg"].(string)
	} else {
		var ok bool
		if alg, ok = headerAlg(hb); !ok {
			return parsed{}, invalid("invalid token", errors.New("core: header is not a JSON object"))
		}
	}

	pb, err := decode(p)
	if err != nil {
		return parsed{}, invalid("invalid token", err)
	}
	if !json.Valid(pb) {
		return parsed{}, invalid("invalid token", errors.New("core: claims are not valid JSON"))
	}
	if err := claims.decode(pb); err != nil {
		return parsed{}, invalid("invalid token", err)
	}

	method := jwt.GetSigningMethod(alg)
	if method == nil {
		// "alg" missing, not a string or unknown (including "none").
		if sigEmpty {
			return parsed{}, invalid("jwt signature is required", nil)
		}
		return parsed{}, invalid("invalid algorithm", nil)
	}
	sb, err := decode(sig)
	if err != nil {
		return parsed{}, invalid("invalid signature", err)
	}
	if sigEmpty {
		return parsed{}, invalid("jwt signature is required", nil)
	}

	key := v.cfg.key
	if v.cfg.keyFunc != nil {
		k, e := v.callKeyFunc(ctx, &KeyRequest{Handshake: hs, Header: header, claims: claims})
		if e != nil {
			return parsed{}, e
		}
		key = k
	}
	if !v.algAllowed(alg, key) {
		return parsed{}, invalid("invalid algorithm", nil)
	}
	if err := method.Verify(s[:len(h)+1+len(p)], sb, key); err != nil {
		return parsed{}, invalid("invalid signature", err)
	}
	return parsed{claims: claims, header: header, key: key}, nil
}

// headerAlg validates a JOSE header and returns its "alg" when that is a
// string ("" otherwise). ok is false when the header is not a JSON object.
func headerAlg(b []byte) (alg string, ok bool) {
	if !json.Valid(b) {
		return "", false
	}
	var raw json.RawMessage
	ok = members(b, func(key, val []byte) {
		if unquoteKey(key) == "alg" {
			raw = val
		}
	})
	if !ok {
		return "", false
	}
	alg, _ = stringValue(raw)
	return alg, true
}
