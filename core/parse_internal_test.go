package core

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

const parseSecret = "a secret of thirty-two bytes, at least"

// FuzzParseMatchesGolangJWT checks parse against golang-jwt's own
// Parser.ParseWithClaims with strict decoding, which it replaces: for any
// header, payload and signature, both accept or both refuse, and what they
// accept decodes to the same claims. parse goes further in two ways, both
// refusals: a segment with a line break (Go's base64 decoder skips CR and
// LF even in strict mode) and a header with a "crit" member. The token is
// signed with the header's HMAC algorithm when sign is set, so that the
// JSON paths are reached with valid signatures; raw, when not empty, is
// tried as a whole token instead.
func FuzzParseMatchesGolangJWT(f *testing.F) {
	f.Add(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"a","exp":1,"aud":["x"],"n":{"k":[1,2]}}`, true, "")
	f.Add(`{"alg":"HS384"}`, `{}`, true, "")
	f.Add(`{"alg":"HS512","kid":"k"} `, ` {"sub":"\u0061"}`, true, "")
	f.Add(`{"alg":"none"}`, `{"sub":"a"}`, false, "")
	f.Add(`{"alg":"RS256"}`, `{"sub":"a"}`, true, "")
	f.Add(`null`, `{"sub":"a"}`, true, "")
	f.Add(`{"alg":"HS256"}`, `null`, true, "")
	f.Add(`{"alg":"HS256"}`, `[1]`, true, "")
	f.Add(`{"alg":"HS256","alg":"none"}`, `{"sub":"a"}`, true, "")
	f.Add(`{"al\u0067":"HS256"}`, `{"sub":"a"}`, true, "")
	f.Add(`{"ALG":"HS256"}`, `{"sub":"a"}`, true, "")
	f.Add(`{"alg":"HS256"}`, `{"sub":"a"`, true, "")
	f.Add("", "", false, "eyJhbGciOiJIUzI1NiJ9.e30.!!")
	f.Add("", "", false, "eyJhbGciOiJIUzI1NiJ9.e30=.AAAA")
	f.Add("", "", false, "eyJhbGciOiJIUzI1NiJ9.e30.")
	f.Add(`{"alg":"HS256","crit":["exp"],"exp":1}`, `{"sub":"a"}`, true, "")
	f.Add(`{"alg":"HS256","\u0063rit":[]}`, `{"sub":"a"}`, true, "")
	// Line breaks and unused bits: the HS256 signature of {"alg":"HS256"}.{}.
	good := fuzzToken(`{"alg":"HS256"}`, `{}`, true)
	f.Add("", "", false, good[:len(good)-5]+"\r\n"+good[len(good)-5:])
	f.Add("", "", false, good[:len(good)-1]+string(good[len(good)-1]^1))
	f.Add("", "", false, "eyJhbGciOiJIUzI1NiJ9.e31.AAAA")
	f.Add("", "", false, "eyJhbGciOiJIUz\nI1NiJ9.e30.AAAA")

	static, err := New(WithSecretString(parseSecret))
	if err != nil {
		f.Fatal(err)
	}
	byFunc, err := New(WithKeyFunc(func(context.Context, *KeyRequest) (any, error) { return []byte(parseSecret), nil }),
		WithAlgorithms("HS256", "HS384", "HS512"))
	if err != nil {
		f.Fatal(err)
	}
	reference := jwt.NewParser(jwt.WithValidMethods([]string{"HS256", "HS384", "HS512"}), jwt.WithoutClaimsValidation(),
		jwt.WithStrictDecoding())

	f.Fuzz(func(t *testing.T, header, payload string, sign bool, raw string) {
		tok := raw
		if tok == "" {
			tok = fuzzToken(header, payload, sign)
		}
		if strings.Count(tok, ".") != 2 {
			return // refused before parse, by verifyToken
		}
		mc := jwt.MapClaims{}
		_, refErr := reference.ParseWithClaims(tok, &mc, func(*jwt.Token) (any, error) { return []byte(parseSecret), nil })
		for name, v := range map[string]*Verifier{"static key": static, "key function": byFunc} {
			claims := new(Claims)
			_, e := v.parse(context.Background(), tok, nil, claims)
			if e != nil && (e.Code != CodeInvalidToken || e.Message == "") {
				t.Fatalf("%s: error %+v", name, e)
			}
			if refErr == nil && (strings.ContainsAny(tok, "\r\n") || hasCrit(tok)) {
				if e == nil {
					t.Fatalf("%s: accepted %q", name, tok)
				}
				continue
			}
			if refErr == nil && !payloadIsObject(tok) {
				// golang-jwt takes a "null" payload for no claims;
				// jsonwebtoken and this library refuse it.
				if e == nil || e.Message != "invalid token" {
					t.Fatalf("%s: null payload: %v", name, e)
				}
				continue
			}
			if (e == nil) != (refErr == nil) {
				t.Fatalf("%s: parse says %v, golang-jwt says %v, for %q", name, e, refErr, tok)
			}
			if e != nil {
				continue
			}
			got, err := claims.Map()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, map[string]any(mc)) {
				t.Fatalf("%s: claims %v, golang-jwt %v", name, got, mc)
			}
		}
	})
}

// fuzzToken builds a token from header and payload JSON, signed with the
// header's HMAC algorithm when sign is set and that algorithm is one.
func fuzzToken(header, payload string, sign bool) string {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	var h map[string]any
	_ = json.Unmarshal([]byte(header), &h)
	alg, _ := h["alg"].(string)
	m, ok := jwt.GetSigningMethod(alg).(*jwt.SigningMethodHMAC)
	if !sign || !ok {
		return input + ".c2lnbmF0dXJl"
	}
	sig, err := m.Sign(input, []byte(parseSecret))
	if err != nil {
		return input + "."
	}
	return input + "." + enc.EncodeToString(sig)
}

// hasCrit reports whether tok's header, with line breaks removed, has a
// "crit" member.
func hasCrit(tok string) bool {
	h, _, _ := strings.Cut(strings.NewReplacer("\r", "", "\n", "").Replace(tok), ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	_, ok := m["crit"]
	return ok
}

// payloadIsObject reports whether tok's payload decodes to a JSON object.
func payloadIsObject(tok string) bool {
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return false
	}
	_, ok := v.(map[string]any)
	return ok
}
