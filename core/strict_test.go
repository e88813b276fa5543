package core_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/core"
)

// sameBytesLast returns tok with the last character of its signature
// changed to another that decodes to the same bytes (only the unused low
// bits differ), or "" when the signature's length leaves no unused bits.
func sameBytesLast(tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	if len(sig)%4 != 2 && len(sig)%4 != 3 {
		return "" // every bit of the last character is used
	}
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	if last < 0 {
		return ""
	}
	// The last character carries 4 (or 2) unused low bits: flipping the
	// lowest leaves the decoded bytes as they were.
	return tok[:len(tok)-1] + string(alphabet[last^1])
}

// TestOneTokenOneSpelling: a token verifies only as it was issued. Line
// breaks, padding and non-zero unused bits in any segment would give the
// same token many spellings (and as many fingerprints): all are refused.
func TestOneTokenOneSpelling(t *testing.T) {
	good := hs(t, jwt.MapClaims{"sub": "bob", "exp": now.Add(time.Hour).Unix()})
	parts := strings.Split(good, ".")
	h, p, s := parts[0], parts[1], parts[2]
	if len(s)%4 == 0 {
		t.Fatal("an HS256 signature is 43 characters: the test needs unused bits")
	}
	mid := func(seg, ins string) string { return seg[:len(seg)/2] + ins + seg[len(seg)/2:] }
	tests := []struct {
		name, token, msg string
	}{
		{"LF in the signature", h + "." + p + "." + mid(s, "\n"), "invalid token"},
		{"CRLF in the signature", h + "." + p + "." + mid(s, "\r\n"), "invalid token"},
		{"CR at the end of the signature", good + "\r", "invalid token"},
		{"LF at the start of the signature", h + "." + p + ".\n" + s, "invalid token"},
		{"same bytes, other last character", sameBytesLast(good), "invalid signature"},
		{"padding on the signature", good + "=", "invalid token"},
		{"LF in the header", mid(h, "\n") + "." + p + "." + s, "invalid token"},
		{"CRLF in the payload", h + "." + mid(p, "\r\n") + "." + s, "invalid token"},
		{"standard alphabet", h + "." + p + "." + strings.NewReplacer("-", "+", "_", "/").Replace(s), "invalid token"},
	}
	keys := map[string]core.Option{
		"static":       core.WithSecretString(secret),
		"key function": core.WithKeyFunc(func(context.Context, *core.KeyRequest) (any, error) { return []byte(secret), nil }),
	}
	for kname, key := range keys {
		// The cache holds the canonical spelling: no other spelling may
		// reach it.
		v := mustNew(t, key, core.WithVerifiedCache(16))
		if _, err := v.Verify(context.Background(), good, nil); err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			if tt.token == good || tt.token == "" {
				continue
			}
			t.Run(kname+"/"+tt.name, func(t *testing.T) {
				_, err := v.Verify(context.Background(), tt.token, nil)
				wantErr(t, err, core.CodeInvalidToken, tt.msg)
			})
		}
	}
}

// TestNonCanonicalHeaderAndPayload: unused bits in the header or payload
// segments are refused too, signed or not.
func TestNonCanonicalHeaderAndPayload(t *testing.T) {
	for _, payload := range []string{`{"sub":"a"}`, `{"sub":"ab"}`} {
		h := b64(`{"alg":"HS256"}`)
		p := b64(payload)
		if len(p)%4 == 0 {
			continue
		}
		alt := sameBytesLast("x." + p)
		if alt == "" {
			continue
		}
		p2 := alt[2:]
		sig, err := jwt.SigningMethodHS256.Sign(h+"."+p2, []byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		tok := h + "." + p2 + "." + b64(string(sig))
		v := mustNew(t, core.WithSecretString(secret))
		_, err = v.Verify(context.Background(), tok, nil)
		wantErr(t, err, core.CodeInvalidToken, "invalid token")
	}
}

// TestCritHeader: RFC 7515 §4.1.11: a "crit" header names extensions the
// verifier must understand; this one understands none, so any "crit"
// refuses the token, even with a valid signature.
func TestCritHeader(t *testing.T) {
	claims := jwt.MapClaims{"sub": "bob", "exp": now.Add(time.Hour).Unix()}
	signWith := func(header map[string]any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		for k, v := range header {
			tok.Header[k] = v
		}
		s, err := tok.SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	escaped := func() string {
		h := b64(`{"alg":"HS256","\u0063rit":["exp"],"exp":1}`)
		p := b64(`{"sub":"bob"}`)
		sig, _ := jwt.SigningMethodHS256.Sign(h+"."+p, []byte(secret))
		return h + "." + p + "." + b64(string(sig))
	}()
	tests := []struct{ name, token string }{
		{"unknown extension", signWith(map[string]any{"crit": []string{"exp"}, "exp": 1})},
		{"b64 (RFC 7797, not supported)", signWith(map[string]any{"crit": []string{"b64"}, "b64": false})},
		{"empty list", signWith(map[string]any{"crit": []string{}})},
		{"not a list", signWith(map[string]any{"crit": "x"})},
		{"null", signWith(map[string]any{"crit": nil})},
		{"escaped name", escaped},
	}
	keys := map[string]core.Option{
		"static":       core.WithSecretString(secret),
		"key function": core.WithKeyFunc(func(context.Context, *core.KeyRequest) (any, error) { return []byte(secret), nil }),
	}
	for kname, key := range keys {
		v := mustNew(t, key)
		for _, tt := range tests {
			t.Run(kname+"/"+tt.name, func(t *testing.T) {
				_, err := v.Verify(context.Background(), tt.token, nil)
				wantErr(t, err, core.CodeInvalidToken, "invalid token")
			})
		}
		t.Run(kname+"/a member named like crit is fine", func(t *testing.T) {
			_, err := v.Verify(context.Background(), signWith(map[string]any{"critical": true, "Crit": 1}), nil)
			wantErr(t, err, "", "")
		})
	}
}

// TestNumericDateRange: exp, nbf and iat must be dates a time.Time and a
// JavaScript Date can both hold (|t| <= 8.64e12 s); beyond, the token is
// refused instead of never expiring (or expiring at once, as a timer built
// from a wrapped-around time would).
func TestNumericDateRange(t *testing.T) {
	raw := func(payload string) string {
		h := b64(`{"alg":"HS256","typ":"JWT"}`)
		p := b64(payload)
		sig, _ := jwt.SigningMethodHS256.Sign(h+"."+p, []byte(secret))
		return h + "." + p + "." + b64(string(sig))
	}
	tests := []struct {
		name, payload, msg string
	}{
		{"exp 1e19", `{"sub":"x","exp":1e19}`, "invalid exp value"},
		{"exp just below 2^63", `{"sub":"x","exp":9223372036854775000}`, "invalid exp value"},
		{"exp 1e308", `{"sub":"x","exp":1e308}`, "invalid exp value"},
		{"exp -1e19", `{"sub":"x","exp":-1e19}`, "invalid exp value"},
		{"exp past the JavaScript range", `{"sub":"x","exp":8640000000001}`, "invalid exp value"},
		{"nbf 1e19", `{"sub":"x","nbf":1e19}`, "invalid nbf value"},
		{"nbf -1e300", `{"sub":"x","nbf":-1e300}`, "invalid nbf value"},
		{"iat 1e19", `{"sub":"x","iat":1e19}`, "invalid token"},
		{"iat -9223372036854775808", `{"sub":"x","iat":-9223372036854775808}`, "invalid token"},
		{"iat beyond float64", `{"sub":"x","iat":1e309}`, "invalid token"},
		{"exp beyond float64", `{"sub":"x","exp":-1e309}`, "invalid exp value"},
		{"iat not a number is not checked without max age", `{"sub":"x","iat":"now"}`, ""},
		{"exp at the JavaScript limit", `{"sub":"x","exp":8640000000000}`, ""},
		{"nbf far in the past", `{"sub":"x","nbf":-8640000000000}`, ""},
		{"iat fractional", `{"sub":"x","iat":1700000000.5}`, ""},
	}
	v := mustNew(t, core.WithSecretString(secret))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := v.Verify(context.Background(), raw(tt.payload), nil)
			if tt.msg == "" {
				wantErr(t, err, "", "")
				if at, ok := v.ExpiresAt(res.Claims); ok && !at.After(now) {
					t.Fatalf("ExpiresAt %v is not after now", at)
				}
				return
			}
			wantErr(t, err, core.CodeInvalidToken, tt.msg)
		})
	}
	t.Run("ExpiresAt of the largest exp", func(t *testing.T) {
		res, err := v.Verify(context.Background(), raw(`{"exp":8640000000000}`), nil)
		if err != nil {
			t.Fatal(err)
		}
		at, ok := v.ExpiresAt(res.Claims)
		if !ok || at.Unix() != 8_640_000_000_000 || time.Until(at) < 100*365*24*time.Hour {
			t.Fatalf("ExpiresAt %v %v", at, ok)
		}
	})
}

// FuzzSignedPayload verifies validly signed tokens of any payload: a token
// accepted is not expired by the expiry the binding's timer uses
// (ExpiresAt), its dates survived the trip to time.Time, and every refusal
// is an *Error with a known code.
func FuzzSignedPayload(f *testing.F) {
	for _, s := range []string{
		`{"sub":"x","exp":1e19}`, `{"exp":9223372036854775000}`, `{"exp":1e308}`, `{"nbf":-1e19}`,
		`{"iat":1e400}`, `{"exp":1700000000.5}`, `{"exp":8640000000000,"nbf":-8640000000000,"iat":0}`,
		`{"exp":"1e19"}`, `{"exp":null}`, `{"exp":1700003600,"aud":["a",1]}`,
	} {
		f.Add(s)
	}
	v, err := core.New(core.WithSecretString(secret), core.WithClock(clock))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		h := b64(`{"alg":"HS256"}`)
		p := b64(payload)
		sig, err := jwt.SigningMethodHS256.Sign(h+"."+p, []byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.Verify(context.Background(), h+"."+p+"."+b64(string(sig)), nil)
		if err != nil {
			if e := core.AsError(err); e.Code != core.CodeInvalidToken || e.Message == "" || e.Kind() == core.KindRejected {
				t.Fatalf("bad error %v (kind %s)", err, e.Kind())
			}
			return
		}
		c := res.Claims
		if at, ok := v.ExpiresAt(c); ok && !at.After(now) {
			t.Fatalf("accepted, but ExpiresAt %v is not after now (%s)", at, payload)
		}
		for name, tm := range map[string]time.Time{"exp": c.ExpiresAt, "nbf": c.NotBefore, "iat": c.IssuedAt} {
			if !tm.IsZero() && math.Abs(float64(tm.Unix())) > core.MaxNumericDate {
				t.Fatalf("%s %v beyond the bound (%s)", name, tm, payload)
			}
		}
		if !c.NotBefore.IsZero() && c.NotBefore.After(now) {
			t.Fatalf("accepted before nbf %v (%s)", c.NotBefore, payload)
		}
	})
}
