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
// Each segment must be canonical base64url without padding (strictDecode):
// a token has one spelling, so one fingerprint and one cache entry. A
// header with a "crit" member is refused (RFC 7515 §4.1.11: this verifier
// implements no extension).
//
// Failures are worded as jsonwebtoken words them; claims is filled as far
// as decoding got.
func (v *Verifier) parse(ctx context.Context, s string, hs *Handshake, claims *Claims) (parsed, *Error) {
	h, rest, _ := strings.Cut(s, ".")
	p, sig, _ := strings.Cut(rest, ".")
	sigEmpty := sig == ""
	if !base64URLAlphabet(sig) {
		// jsonwebtoken's first test: its pattern of a compact JWS refuses
		// padding, whitespace and the standard alphabet in any segment.
		return parsed{}, invalid(ErrTokenMalformed, "invalid token", errors.New("core: the signature is not base64url"))
	}

	// The claims keep the decoded payload for the life of the socket, so
	// it has a buffer of its own, of its exact size; the header and the
	// signature, which nothing keeps, share another.
	buf := make([]byte, strict.DecodedLen(len(h))+strict.DecodedLen(len(sig)))
	decode := func(seg string) ([]byte, error) {
		out, err := strictDecode(buf, seg)
		buf = buf[len(out):]
		return out, err
	}

	hb, err := decode(h)
	if err != nil {
		return parsed{}, invalid(ErrTokenMalformed, "invalid token", err)
	}
	var header map[string]any
	var alg string
	if v.cfg.keyFunc != nil {
		if err := json.Unmarshal(hb, &header); err != nil {
			return parsed{}, invalid(ErrTokenMalformed, "invalid token", err)
		}
		if header == nil { // "null"
			return parsed{}, invalid(ErrTokenMalformed, "invalid token", errNotObject)
		}
		if _, ok := header["crit"]; ok {
			return parsed{}, invalid(ErrTokenMalformed, "invalid token", errCrit)
		}
		alg, _ = header["alg"].(string)
	} else {
		var ok, crit bool
		if alg, crit, ok = headerAlg(hb); !ok {
			return parsed{}, invalid(ErrTokenMalformed, "invalid token", errors.New("core: header is not a JSON object"))
		}
		if crit {
			return parsed{}, invalid(ErrTokenMalformed, "invalid token", errCrit)
		}
	}

	pb, err := strictDecode(make([]byte, strict.DecodedLen(len(p))), p)
	if err != nil {
		return parsed{}, invalid(ErrTokenMalformed, "invalid token", err)
	}
	if !json.Valid(pb) {
		return parsed{}, invalid(ErrTokenMalformed, "invalid token", errors.New("core: claims are not valid JSON"))
	}
	if err := claims.decode(pb); err != nil {
		return parsed{}, invalid(ErrTokenMalformed, "invalid token", err)
	}

	method := jwt.GetSigningMethod(alg)
	if method == nil {
		// "alg" missing, not a string or unknown (including "none").
		if sigEmpty {
			return parsed{}, invalid(ErrTokenSignatureInvalid, "jwt signature is required", nil)
		}
		return parsed{}, invalid(ErrTokenSignatureInvalid, "invalid algorithm", nil)
	}
	sb, err := decode(sig)
	if err != nil {
		return parsed{}, invalid(ErrTokenSignatureInvalid, "invalid signature", err)
	}
	if sigEmpty {
		return parsed{}, invalid(ErrTokenSignatureInvalid, "jwt signature is required", nil)
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
		return parsed{}, invalid(ErrTokenSignatureInvalid, "invalid algorithm", nil)
	}
	if err := v.verifySignature(method, alg, s[:len(h)+1+len(p)], sb, key); err != nil {
		return parsed{}, invalid(ErrTokenSignatureInvalid, "invalid signature", err)
	}
	return parsed{claims: claims, header: header, key: key}, nil
}

// verifySignature checks sig over signing: an HMAC made with the static
// secret through the verifier's pools (there are none with a key
// function), anything else through golang-jwt.
func (v *Verifier) verifySignature(method jwt.SigningMethod, alg, signing string, sig []byte, key any) error {
	if handled, err := v.hmacs.verify(alg, signing, sig); handled {
		return err
	}
	return method.Verify(signing, sig, key)
}

var errCrit = errors.New(`core: the header has a "crit" member, and no extension is implemented`)

// strict is the only encoding of a segment: base64url, no padding, unused
// bits zero.
var strict = base64.RawURLEncoding.Strict()

// strictDecode decodes a segment into buf, which has room for
// strict.DecodedLen(len(seg)) bytes. Go's decoder skips CR and LF even in
// strict mode (golang-jwt's WithStrictDecoding too): they are refused
// here.
func strictDecode(buf []byte, seg string) ([]byte, error) {
	if strings.IndexByte(seg, '\n') >= 0 || strings.IndexByte(seg, '\r') >= 0 {
		return buf[:0:0], errLineBreak
	}
	n, err := strict.Decode(buf, []byte(seg))
	return buf[:n:n], err
}

var errLineBreak = errors.New("core: line break in a token segment")

// headerAlg validates a JOSE header and returns its "alg" when that is a
// string ("" otherwise), and whether it has a "crit" member. ok is false
// when the header is not a JSON object.
func headerAlg(b []byte) (alg string, crit, ok bool) {
	if !json.Valid(b) {
		return "", false, false
	}
	var raw json.RawMessage
	ok = members(b, func(key, val []byte) {
		switch unquoteKey(key) {
		case "alg":
			raw = val
		case "crit":
			crit = true
		}
	})
	if !ok {
		return "", false, false
	}
	alg, _ = stringValue(raw)
	return alg, crit, true
}

// base64URLAlphabet reports whether s holds only the characters of
// base64url without padding.
func base64URLAlphabet(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
