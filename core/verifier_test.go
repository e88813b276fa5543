package core_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/core"
)

const secret = "aaafoo super sercret"

var now = time.Unix(1_700_000_000, 0)

func clock() time.Time { return now }

func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hs(t testing.TB, claims jwt.MapClaims) string {
	return sign(t, jwt.SigningMethodHS256, []byte(secret), claims)
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustNew(t testing.TB, opts ...core.Option) *core.Verifier {
	t.Helper()
	v, err := core.New(append([]core.Option{core.WithClock(clock)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var e *core.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *core.Error", err, err)
	}
	if e.Code != code || e.Message != msg {
		t.Fatalf("got {%s, %q}, want {%s, %q}", e.Code, e.Message, code, msg)
	}
	if d := e.Data(); d["type"] != "UnauthorizedError" || d["code"] != code || d["message"] != msg {
		t.Fatalf("bad data %v", d)
	}
}

// TestJSONWebTokenMessages covers every row of WIRE.md's jsonwebtoken table.
func TestJSONWebTokenMessages(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	valid := jwt.MapClaims{"sub": "bob", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	good := hs(t, valid)
	parts := strings.Split(good, ".")
	tests := []struct {
		name  string
		key   core.Option // default: the fixture secret
		opts  []core.Option
		token any
		code  string
		msg   string
	}{
		{name: "valid", token: good},
		{name: "empty", token: "", code: core.CodeInvalidToken, msg: "jwt must be provided"},
		{name: "number", token: 42.0, code: core.CodeInvalidToken, msg: "jwt must be a string"},
		{name: "object", token: map[string]any{"a": 1}, code: core.CodeInvalidToken, msg: "jwt must be a string"},
		{name: "array", token: []any{"x"}, code: core.CodeInvalidToken, msg: "jwt must be a string"},
		{name: "boolean", token: true, code: core.CodeInvalidToken, msg: "jwt must be a string"},
		{name: "two parts", token: "abc.def", code: core.CodeInvalidToken, msg: "jwt malformed"},
		{name: "four parts", token: good + ".x", code: core.CodeInvalidToken, msg: "jwt malformed"},
		{name: "no dots", token: "garbage", code: core.CodeInvalidToken, msg: "jwt malformed"},
		{name: "header not base64", token: "%%%." + parts[1] + "." + parts[2], code: core.CodeInvalidToken, msg: "invalid token"},
		{name: "header not JSON", token: b64("nope") + "." + parts[1] + "." + parts[2], code: core.CodeInvalidToken, msg: "invalid token"},
		{name: "payload not JSON", token: parts[0] + "." + b64("{nope") + "." + parts[2], code: core.CodeInvalidToken, msg: "invalid token"},
		{name: "payload not object", token: parts[0] + "." + b64("[1]") + "." + parts[2], code: core.CodeInvalidToken, msg: "invalid token"},
		{name: "alg none", token: b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".", code: core.CodeInvalidToken, msg: "jwt signature is required"},
		{name: "alg none with signature", token: b64(`{"alg":"none"}`) + "." + parts[1] + "." + parts[2], code: core.CodeInvalidToken, msg: "invalid algorithm"},
		{name: "empty signature", token: parts[0] + "." + parts[1] + ".", code: core.CodeInvalidToken, msg: "jwt signature is required"},
		{name: "alg not allowed", opts: []core.Option{core.WithAlgorithms("HS512")}, token: good, code: core.CodeInvalidToken, msg: "invalid algorithm"},
		{name: "alg missing", token: b64(`{"typ":"JWT"}`) + "." + parts[1] + "." + parts[2], code: core.CodeInvalidToken, msg: "invalid algorithm"},
		{name: "alg unknown", token: b64(`{"alg":"HS999"}`) + "." + parts[1] + "." + parts[2], code: core.CodeInvalidToken, msg: "invalid algorithm"},
		{name: "bad signature", token: hs(t, valid)[:len(good)-4] + "AAAA", code: core.CodeInvalidToken, msg: "invalid signature"},
		{name: "signature not base64", token: parts[0] + "." + parts[1] + ".!!!", code: core.CodeInvalidToken, msg: "invalid token"},
		{name: "other secret", token: sign(t, jwt.SigningMethodHS256, []byte("other"), valid), code: core.CodeInvalidToken, msg: "invalid signature"},
		{name: "HS256 signed with the RSA public key's PEM", key: core.WithPublicKeyPEM(pubPEM),
			token: sign(t, jwt.SigningMethodHS256, pubPEM, valid), code: core.CodeInvalidToken, msg: "invalid algorithm"},
		{name: "nbf not a number", token: hs(t, jwt.MapClaims{"nbf": "soon"}), code: core.CodeInvalidToken, msg: "invalid nbf value"},
		{name: "nbf in the future", token: hs(t, jwt.MapClaims{"nbf": now.Unix() + 10}), code: core.CodeInvalidToken, msg: "jwt not active"},
		{name: "nbf within tolerance", opts: []core.Option{core.WithClockTolerance(20 * time.Second)}, token: hs(t, jwt.MapClaims{"nbf": now.Unix() + 10})},
		{name: "exp not a number", token: hs(t, jwt.MapClaims{"exp": "later"}), code: core.CodeInvalidToken, msg: "invalid exp value"},
		{name: "exp passed", token: hs(t, jwt.MapClaims{"exp": now.Unix() - 1}), code: core.CodeInvalidToken, msg: "jwt expired"},
		{name: "exp now is expired", token: hs(t, jwt.MapClaims{"exp": now.Unix()}), code: core.CodeInvalidToken, msg: "jwt expired"},
		{name: "exp within tolerance", opts: []core.Option{core.WithClockTolerance(5 * time.Second)}, token: hs(t, jwt.MapClaims{"exp": now.Unix() - 1})},
		{name: "exp required", opts: []core.Option{core.WithRequiredExpiry()}, token: hs(t, jwt.MapClaims{"sub": "x"}), code: core.CodeInvalidToken, msg: "jwt exp required"},
		{name: "no exp accepted", token: hs(t, jwt.MapClaims{"sub": "x"})},
		{name: "audience mismatch", opts: []core.Option{core.WithAudience("a", "b")}, token: hs(t, jwt.MapClaims{"aud": "c"}), code: core.CodeInvalidToken, msg: "jwt audience invalid. expected: a or b"},
		{name: "audience one of list", opts: []core.Option{core.WithAudience("a", "b")}, token: hs(t, jwt.MapClaims{"aud": []string{"z", "b"}})},
		{name: "audience missing", opts: []core.Option{core.WithAudience("a")}, token: hs(t, jwt.MapClaims{}), code: core.CodeInvalidToken, msg: "jwt audience invalid. expected: a"},
		// jsonwebtoken compares the strings of a list and skips the rest.
		{name: "audience in a list with a number", opts: []core.Option{core.WithAudience("a")}, token: hs(t, jwt.MapClaims{"aud": []any{"a", 5}})},
		{name: "audience list of numbers", opts: []core.Option{core.WithAudience("a")}, token: hs(t, jwt.MapClaims{"aud": []any{5}}), code: core.CodeInvalidToken, msg: "jwt audience invalid. expected: a"},
		{name: "audience a number", opts: []core.Option{core.WithAudience("a")}, token: hs(t, jwt.MapClaims{"aud": 5}), code: core.CodeInvalidToken, msg: "jwt audience invalid. expected: a"},
		{name: "issuer mismatch", opts: []core.Option{core.WithIssuer("https://a/")}, token: hs(t, jwt.MapClaims{"iss": "https://b/"}), code: core.CodeInvalidToken, msg: "jwt issuer invalid. expected: https://a/"},
		{name: "issuer one of list", opts: []core.Option{core.WithIssuer("x", "y")}, token: hs(t, jwt.MapClaims{"iss": "y"})},
		{name: "issuer list mismatch", opts: []core.Option{core.WithIssuer("x", "y")}, token: hs(t, jwt.MapClaims{"iss": "z"}), code: core.CodeInvalidToken, msg: "jwt issuer invalid. expected: x,y"},
		{name: "subject mismatch", opts: []core.Option{core.WithSubject("alice")}, token: good, code: core.CodeInvalidToken, msg: "jwt subject invalid. expected: alice"},
		{name: "jwtid mismatch", opts: []core.Option{core.WithJWTID("j1")}, token: hs(t, jwt.MapClaims{"jti": "j2"}), code: core.CodeInvalidToken, msg: "jwt jwtid invalid. expected: j1"},
		{name: "max age without iat", opts: []core.Option{core.WithMaxAge(time.Minute)}, token: hs(t, jwt.MapClaims{"sub": "x"}), code: core.CodeInvalidToken, msg: "iat required when maxAge is specified"},
		{name: "max age exceeded", opts: []core.Option{core.WithMaxAge(time.Minute)}, token: hs(t, jwt.MapClaims{"iat": now.Unix() - 61}), code: core.CodeInvalidToken, msg: "maxAge exceeded"},
		{name: "max age ok", opts: []core.Option{core.WithMaxAge(time.Minute)}, token: hs(t, jwt.MapClaims{"iat": now.Unix() - 30})},
		{name: "too large", opts: []core.Option{core.WithMaxTokenSize(64)}, token: good, code: core.CodeInvalidToken, msg: "jwt too large"},
		{name: "default size limit", token: hs(t, jwt.MapClaims{"pad": strings.Repeat("x", 9000)}), code: core.CodeInvalidToken, msg: "jwt too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key
			if key == nil {
				key = core.WithSecretString(secret)
			}
			v := mustNew(t, append([]core.Option{key}, tt.opts...)...)
			res, err := v.Verify(context.Background(), tt.token, nil)
			wantErr(t, err, tt.code, tt.msg)
			if tt.code == "" && res.Token != tt.token {
				t.Fatalf("result token differs")
			}
		})
	}
}

func handshake(header http.Header, query url.Values, auth any, hasAuth bool) *core.Handshake {
	if header == nil {
		header = http.Header{}
	}
	if query == nil {
		query = url.Values{}
	}
	return &core.Handshake{Namespace: "/", Header: header, Query: query, Auth: auth, HasAuth: hasAuth}
}

// TestHandshakeSources covers every row of WIRE.md's handshake table and the
// token source details.
func TestHandshakeSources(t *testing.T) {
	good := hs(t, jwt.MapClaims{"sub": "bob", "exp": now.Add(time.Hour).Unix()})
	other := hs(t, jwt.MapClaims{"sub": "eve", "exp": now.Add(time.Hour).Unix()})
	bearer := func(v string) http.Header { return http.Header{"Authorization": {v}} }
	q := func(tok string) url.Values { return url.Values{"token": {tok}} }
	tests := []struct {
		name    string
		opts    []core.Option
		hs      *core.Handshake
		wantSub string
		code    string
		msg     string
	}{
		{name: "bad header format one part", hs: handshake(bearer("Bearer"), nil, nil, false), code: core.CodeCredentialsBadFormat, msg: "Format is Authorization: Bearer [token]"},
		{name: "bad header format three parts", hs: handshake(bearer("Bearer a b"), nil, nil, false), code: core.CodeCredentialsBadFormat, msg: "Format is Authorization: Bearer [token]"},
		// A malformed header is refused only when no source before it had
		// a token (socketio-jwt refuses it first: see MIGRATING.md).
		{name: "good query beats a bad header", hs: handshake(bearer("x"), q(good), nil, false), wantSub: "bob"},
		{name: "good auth beats a Digest header", hs: handshake(bearer("Digest a=1, b=2"), nil, good, true), wantSub: "bob"},
		{name: "good query beats a Digest header", hs: handshake(bearer("Digest a=1, b=2"), q(good), nil, false), wantSub: "bob"},
		{name: "bad query still beats a bad header", hs: handshake(bearer("x"), q("abc"), nil, false), code: core.CodeInvalidToken, msg: "jwt malformed"},
		{name: "bad header beats a cookie", opts: []core.Option{core.WithCookie("jwt")}, hs: handshake(http.Header{"Cookie": {"jwt=" + good}, "Authorization": {"Digest a=1, b=2"}}, nil, nil, false), code: core.CodeCredentialsBadFormat, msg: "Format is Authorization: Bearer [token]"},
		{name: "bad header with an empty auth token", hs: handshake(bearer("x"), nil, "", true), code: core.CodeCredentialsBadFormat, msg: "Format is Authorization: Bearer [token]"},
		{name: "header required, bad header, good auth", opts: []core.Option{core.WithAuthHeaderRequired()}, hs: handshake(bearer("Bearer a b"), nil, good, true), code: core.CodeCredentialsBadFormat, msg: "Format is Authorization: Bearer [token]"},
		{name: "header required and absent", opts: []core.Option{core.WithAuthHeaderRequired()}, hs: handshake(nil, q(good), good, true), code: core.CodeMissingAuthorizationHeader, msg: "Server requires Authorization Header"},
		{name: "header required, other scheme", opts: []core.Option{core.WithAuthHeaderRequired()}, hs: handshake(bearer("Basic abc"), nil, nil, false), code: core.CodeMissingAuthorizationHeader, msg: "Server requires Authorization Header"},
		{name: "header required and present", opts: []core.Option{core.WithAuthHeaderRequired()}, hs: handshake(bearer("Bearer "+good), q(other), other, true), wantSub: "bob"},
		{name: "no token", hs: handshake(nil, nil, nil, false), code: core.CodeCredentialsRequired, msg: "no token provided"},
		{name: "empty auth token", hs: handshake(nil, nil, "", true), code: core.CodeCredentialsRequired, msg: "no token provided"},
		{name: "empty bearer", hs: handshake(bearer("Bearer "), nil, nil, false), code: core.CodeCredentialsRequired, msg: "no token provided"},
		{name: "other scheme ignored", hs: handshake(bearer("Basic abc"), nil, nil, false), code: core.CodeCredentialsRequired, msg: "no token provided"},
		{name: "auth token", hs: handshake(nil, nil, good, true), wantSub: "bob"},
		{name: "auth token with Bearer prefix", hs: handshake(nil, nil, "Bearer "+good, true), wantSub: "bob"},
		// "Bearer " alone is no token: the next source is read, whatever
		// the spaces (it used to be taken as the token itself).
		{name: "auth token Bearer alone", hs: handshake(nil, q(good), "Bearer ", true), wantSub: "bob"},
		{name: "auth token Bearer and spaces", hs: handshake(nil, q(good), "Bearer  ", true), wantSub: "bob"},
		{name: "EIO3 auth list Bearer alone", hs: handshake(nil, q(good), []string{"Bearer  "}, true), wantSub: "bob"},
		{name: "auth token with bearer prefix lower case", hs: handshake(nil, nil, "bearer "+good, true), wantSub: "bob"},
		{name: "auth token from EIO3 query ([]string)", hs: handshake(nil, nil, []string{good}, true), wantSub: "bob"},
		{name: "auth token number", hs: handshake(nil, nil, 12.0, true), code: core.CodeInvalidToken, msg: "jwt must be a string"},
		{name: "auth token object", hs: handshake(nil, nil, map[string]any{}, true), code: core.CodeInvalidToken, msg: "jwt must be a string"},
		{name: "auth beats query", hs: handshake(nil, q(other), good, true), wantSub: "bob"},
		{name: "query token", hs: handshake(nil, q(good), nil, false), wantSub: "bob"},
		{name: "query beats header", hs: handshake(bearer("Bearer "+other), q(good), nil, false), wantSub: "bob"},
		{name: "header bearer", hs: handshake(bearer("Bearer "+good), nil, nil, false), wantSub: "bob"},
		{name: "header scheme case-insensitive", hs: handshake(bearer("BEARER "+good), nil, nil, false), wantSub: "bob"},
		{name: "cookie", opts: []core.Option{core.WithCookie("jwt")}, hs: handshake(http.Header{"Cookie": {"a=b; jwt=" + good}}, nil, nil, false), wantSub: "bob"},
		{name: "cookie not configured", hs: handshake(http.Header{"Cookie": {"jwt=" + good}}, nil, nil, false), code: core.CodeCredentialsRequired, msg: "no token provided"},
		{name: "header beats cookie", opts: []core.Option{core.WithCookie("jwt")}, hs: handshake(http.Header{"Cookie": {"jwt=" + other}, "Authorization": {"Bearer " + good}}, nil, nil, false), wantSub: "bob"},
		{name: "query off", opts: []core.Option{core.WithoutQuery()}, hs: handshake(nil, q(good), nil, false), code: core.CodeCredentialsRequired, msg: "no token provided"},
		{name: "auth off", opts: []core.Option{core.WithoutAuthPayload()}, hs: handshake(nil, nil, good, true), code: core.CodeCredentialsRequired, msg: "no token provided"},
		{name: "header off ignores a malformed header", opts: []core.Option{core.WithoutHeader()}, hs: handshake(bearer("x"), q(good), nil, false), wantSub: "bob"},
		{name: "verification failure", hs: handshake(nil, q("x.y.z"), nil, false), code: core.CodeInvalidToken, msg: "invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, append([]core.Option{core.WithSecretString(secret)}, tt.opts...)...)
			res, err := v.Authenticate(context.Background(), tt.hs)
			wantErr(t, err, tt.code, tt.msg)
			if tt.code == "" && res.Claims.Subject != tt.wantSub {
				t.Fatalf("sub %q, want %q", res.Claims.Subject, tt.wantSub)
			}
		})
	}
}

// TestKeyFunc covers row 4 and 5 of the handshake table: a dynamic key.
func TestKeyFunc(t *testing.T) {
	good := hs(t, jwt.MapClaims{"id": 123})
	byID := func(_ context.Context, r *core.KeyRequest) (any, error) {
		switch r.Claims()["id"] {
		case 123.0:
			return []byte(secret), nil
		case 555.0:
			return []byte("other"), nil
		}
		return nil, errors.New("db down: password=hunter2")
	}
	tests := []struct {
		name  string
		fn    core.KeyFunc
		token string
		code  string
		msg   string
	}{
		{name: "picks the key", fn: byID, token: good},
		{name: "wrong key", fn: byID, token: hs(t, jwt.MapClaims{"id": 555}), code: core.CodeInvalidToken, msg: "invalid signature"},
		{name: "malformed before the key function", fn: byID, token: "a.b", code: core.CodeInvalidToken, msg: "jwt malformed"},
		{name: "empty before the key function", fn: byID, token: "", code: core.CodeInvalidToken, msg: "jwt must be provided"},
		{name: "unsigned before the key function", fn: byID, token: good[:strings.LastIndex(good, ".")+1], code: core.CodeInvalidToken, msg: "jwt signature is required"},
		{name: "key function error", fn: byID, token: hs(t, jwt.MapClaims{"id": 1}), code: core.CodeInvalidSecret, msg: "secret or public key could not be obtained"},
		{name: "key function own code", fn: func(context.Context, *core.KeyRequest) (any, error) {
			return nil, core.NewError("tenant_unknown", "unknown tenant", nil)
		}, token: good, code: "tenant_unknown", msg: "unknown tenant"},
		{name: "key function returns nothing", fn: func(context.Context, *core.KeyRequest) (any, error) { return nil, nil }, token: good, code: core.CodeInvalidSecret, msg: "secret or public key could not be obtained"},
		{name: "key function returns PEM bytes", fn: func(context.Context, *core.KeyRequest) (any, error) {
			return []byte("-----BEGIN PUBLIC KEY-----\n..."), nil
		}, token: good, code: core.CodeInvalidSecret, msg: "secret or public key could not be obtained"},
		{name: "key function panics", fn: func(context.Context, *core.KeyRequest) (any, error) { panic("boom") }, token: good, code: core.CodeInvalidSecret, msg: "secret or public key could not be obtained"},
		{name: "key function hangs", fn: func(ctx context.Context, _ *core.KeyRequest) (any, error) {
			<-ctx.Done()
			time.Sleep(10 * time.Millisecond)
			return nil, ctx.Err()
		}, token: good, code: core.CodeInvalidSecret, msg: "secret or public key could not be obtained"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, core.WithKeyFunc(tt.fn), core.WithKeyTimeout(50*time.Millisecond))
			start := time.Now()
			_, err := v.Verify(context.Background(), tt.token, handshake(nil, nil, nil, false))
			wantErr(t, err, tt.code, tt.msg)
			if time.Since(start) > 2*time.Second {
				t.Fatal("verification was not bounded")
			}
			if err != nil && strings.Contains(core.AsError(err).Message, "hunter2") {
				t.Fatal("internal error text leaked into the public message")
			}
		})
	}
}

// TestAsymmetricKeys verifies RS256, PS256, ES256, ES384 and EdDSA, and that
// the inferred allow-list keeps each key to its own family.
func TestAsymmetricKeys(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ek384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	epub, epriv, _ := ed25519.GenerateKey(rand.Reader)
	claims := jwt.MapClaims{"sub": "k", "exp": now.Add(time.Hour).Unix()}
	tests := []struct {
		name  string
		key   core.Option
		token string
		msg   string
	}{
		{"RS256", core.WithPublicKey(&rk.PublicKey), sign(t, jwt.SigningMethodRS256, rk, claims), ""},
		{"PS256", core.WithPublicKey(&rk.PublicKey), sign(t, jwt.SigningMethodPS256, rk, claims), ""},
		{"ES256", core.WithPublicKey(&ek.PublicKey), sign(t, jwt.SigningMethodES256, ek, claims), ""},
		{"ES384", core.WithPublicKey(&ek384.PublicKey), sign(t, jwt.SigningMethodES384, ek384, claims), ""},
		{"EdDSA", core.WithPublicKey(epub), sign(t, jwt.SigningMethodEdDSA, epriv, claims), ""},
		{"ES256 token, RSA key", core.WithPublicKey(&rk.PublicKey), sign(t, jwt.SigningMethodES256, ek, claims), "invalid algorithm"},
		{"HS256 token, EdDSA key", core.WithPublicKey(epub), hs(t, claims), "invalid algorithm"},
		{"RS256 token, secret", core.WithSecretString(secret), sign(t, jwt.SigningMethodRS256, rk, claims), "invalid algorithm"},
		{"ES256 with the wrong curve key", core.WithPublicKey(&ek384.PublicKey), sign(t, jwt.SigningMethodES256, ek, claims), "invalid signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, tt.key)
			_, err := v.Verify(context.Background(), tt.token, nil)
			if tt.msg == "" {
				wantErr(t, err, "", "")
			} else {
				wantErr(t, err, core.CodeInvalidToken, tt.msg)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	tests := []struct {
		name string
		opts []core.Option
	}{
		{"no key", nil},
		{"two keys", []core.Option{core.WithSecretString("a"), core.WithSecretString("b")}},
		{"empty secret", []core.Option{core.WithSecret(nil)}},
		{"PEM as secret", []core.Option{core.WithSecret(pemKey)}},
		{"none allowed", []core.Option{core.WithSecretString("a"), core.WithAlgorithms("none")}},
		{"empty algorithms", []core.Option{core.WithSecretString("a"), core.WithAlgorithms()}},
		{"HS with RSA key", []core.Option{core.WithPublicKey(&rk.PublicKey), core.WithAlgorithms("HS256")}},
		{"unknown algorithm", []core.Option{core.WithSecretString("a"), core.WithAlgorithms("XX1")}},
		{"bad PEM", []core.Option{core.WithPublicKeyPEM([]byte("nope"))}},
		{"bad base64 secret", []core.Option{core.WithBase64Secret("***")}},
		{"nil key func", []core.Option{core.WithKeyFunc(nil)}},
		{"nil option", []core.Option{core.WithSecretString("a"), nil}},
		{"all sources off", []core.Option{core.WithSecretString("a"), core.WithoutAuthPayload(), core.WithoutQuery(), core.WithoutHeader()}},
		{"negative tolerance", []core.Option{core.WithSecretString("a"), core.WithClockTolerance(-1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := core.New(tt.opts...); err == nil {
				t.Fatal("New accepted an invalid configuration")
			}
		})
	}
	if _, err := core.New(core.WithPublicKeyPEM(pemKey)); err != nil {
		t.Fatalf("PEM key refused: %v", err)
	}
}

func TestBase64Secret(t *testing.T) {
	raw := []byte{0xfb, 0xff, 0x01, 0x02, 0x03, 0x04}
	tok := sign(t, jwt.SigningMethodHS256, raw, jwt.MapClaims{"sub": "a"})
	for _, enc := range []string{base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw)} {
		v := mustNew(t, core.WithBase64Secret(enc))
		if _, err := v.Verify(context.Background(), tok, nil); err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
	}
}

func TestHooks(t *testing.T) {
	good := hs(t, jwt.MapClaims{"sub": "bob", "role": "admin"})
	t.Run("transform", func(t *testing.T) {
		v := mustNew(t, core.WithSecretString(secret), core.WithClaimsTransform(func(_ context.Context, c *core.Claims) (*core.Claims, error) {
			m, _ := c.Map()
			return core.NewClaims(map[string]any{"sub": m["sub"], "name": "Bob"})
		}))
		res, err := v.Verify(context.Background(), good, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.Claims.Get("name"); n != "Bob" || res.Claims.Subject != "bob" {
			t.Fatalf("transform not applied: %s", res.Claims.Raw())
		}
		if _, ok := res.Claims.Get("role"); ok {
			t.Fatal("old claims kept")
		}
	})
	t.Run("check rejects with own code", func(t *testing.T) {
		v := mustNew(t, core.WithSecretString(secret), core.WithCheck(func(_ context.Context, _ *core.Handshake, r *core.Result) error {
			return core.NewError("not_admin", "admins only", nil)
		}))
		_, err := v.Verify(context.Background(), good, nil)
		wantErr(t, err, "not_admin", "admins only")
	})
	t.Run("check plain error is unknown", func(t *testing.T) {
		v := mustNew(t, core.WithSecretString(secret), core.WithCheck(func(context.Context, *core.Handshake, *core.Result) error {
			return errors.New("sql: connection refused")
		}))
		_, err := v.Verify(context.Background(), good, nil)
		wantErr(t, err, core.CodeUnknown, "authentication rejected")
	})
	t.Run("check panics", func(t *testing.T) {
		v := mustNew(t, core.WithSecretString(secret), core.WithCheck(func(context.Context, *core.Handshake, *core.Result) error { panic("x") }))
		_, err := v.Verify(context.Background(), good, nil)
		wantErr(t, err, core.CodeInternal, "internal error")
	})
	t.Run("typed claims", func(t *testing.T) {
		v := mustNew(t, core.WithSecretString(secret))
		res, err := v.Verify(context.Background(), good, nil)
		if err != nil {
			t.Fatal(err)
		}
		type mine struct {
			Sub  string `json:"sub"`
			Role string `json:"role"`
		}
		m, err := core.DecodeClaims[mine](res.Claims)
		if err != nil || m.Role != "admin" || m.Sub != "bob" {
			t.Fatalf("decoded %+v, %v", m, err)
		}
	})
}

func TestErrorsIs(t *testing.T) {
	v := mustNew(t, core.WithSecretString(secret))
	_, err := v.Verify(context.Background(), hs(t, jwt.MapClaims{"exp": now.Unix() - 5}), nil)
	if !errors.Is(err, &core.Error{Code: core.CodeInvalidToken}) {
		t.Fatal("errors.Is by code failed")
	}
	if errors.Is(err, &core.Error{Code: core.CodeInvalidSecret}) {
		t.Fatal("errors.Is matched another code")
	}
	if core.CodeOf(err) != core.CodeInvalidToken || core.CodeOf(nil) != "" {
		t.Fatal("CodeOf")
	}
	if e := core.AsError(errors.New("raw")); e.Code != core.CodeInternal || e.Message != "internal error" {
		t.Fatalf("AsError of a plain error: %+v", e)
	}
}

type sourceFunc func(context.Context, *core.KeyRequest) (any, error)

func (f sourceFunc) Key(ctx context.Context, r *core.KeyRequest) (any, error) { return f(ctx, r) }

// TestKeySource: a context-honouring source is called inline, with the
// same guarantees as a key function.
func TestKeySource(t *testing.T) {
	good := hs(t, jwt.MapClaims{"iss": "https://a/", "id": 123})
	tests := []struct {
		name string
		src  sourceFunc
		code string
		msg  string
	}{
		{"key", func(_ context.Context, r *core.KeyRequest) (any, error) {
			if r.Issuer() != "https://a/" || r.KeyID() != "" || r.Alg() != "HS256" || r.Claims()["id"] != 123.0 {
				return nil, errors.New("bad request")
			}
			return []byte(secret), nil
		}, "", ""},
		{"panic", func(context.Context, *core.KeyRequest) (any, error) { panic("x") }, core.CodeInvalidSecret, "secret or public key could not be obtained"},
		{"own code", func(context.Context, *core.KeyRequest) (any, error) {
			return nil, core.NewError(core.CodeKeySetUnavailable, "signing keys unavailable, retry later", nil)
		}, core.CodeKeySetUnavailable, "signing keys unavailable, retry later"},
		{"honours the deadline", func(ctx context.Context, _ *core.KeyRequest) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}, core.CodeInvalidSecret, "secret or public key could not be obtained"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mustNew(t, core.WithKeySource(tt.src), core.WithKeyTimeout(50*time.Millisecond))
			_, err := v.Verify(context.Background(), good, nil)
			wantErr(t, err, tt.code, tt.msg)
		})
	}
	if _, err := core.New(core.WithKeySource(nil)); err == nil {
		t.Fatal("nil source accepted")
	}
}

// TestVerifiedKeepsThePayload checks what a verified token keeps in memory
// for as long as its claims are held (the life of a socket): the claims and
// the decoded payload they read, not the decoded header and signature. An
// RS256 signature alone is 256 bytes: with the three segments in one
// buffer, this read 563 bytes per token; with the payload on its own, 275.
func TestVerifiedKeepsThePayload(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	v, err := core.New(core.WithPublicKey(&rk.PublicKey), core.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodRS256, rk, jwt.MapClaims{"sub": "k", "exp": now.Add(time.Hour).Unix()})
	const n = 2000
	kept := make([]*core.Result, n)
	before := liveHeap()
	for i := range kept {
		if kept[i], err = v.Verify(context.Background(), tok, nil); err != nil {
			t.Fatal(err)
		}
	}
	perToken := (float64(liveHeap()) - float64(before)) / n
	runtime.KeepAlive(kept)
	// The Result, the Claims (240 bytes) and the payload (28).
	if perToken > 400 {
		t.Errorf("a verified token keeps %.0f bytes, want at most 400", perToken)
	}
	t.Logf("a verified token keeps %.0f bytes", perToken)
}

// liveHeap is the heap in use after a forced collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestClaimsMapShared checks that Map decodes the payload into one map that
// every caller shares, callers at the same moment included (run it with
// -race).
func TestClaimsMapShared(t *testing.T) {
	res, err := mustNew(t, core.WithSecretString(secret)).Verify(context.Background(), hs(t, jwt.MapClaims{"sub": "bob", "role": "admin"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	maps := make([]map[string]any, n)
	var wg sync.WaitGroup
	for i := range maps {
		wg.Go(func() { maps[i], _ = res.Claims.Map() })
	}
	wg.Wait()
	for i, m := range maps {
		if m["role"] != "admin" {
			t.Fatalf("caller %d: %v", i, m)
		}
		if reflect.ValueOf(m).UnsafePointer() != reflect.ValueOf(maps[0]).UnsafePointer() {
			t.Fatalf("caller %d got a map of its own", i)
		}
	}
	if again, _ := res.Claims.Map(); reflect.ValueOf(again).UnsafePointer() != reflect.ValueOf(maps[0]).UnsafePointer() {
		t.Fatal("a later call decoded again")
	}
}

// TestHMACReused verifies HS256, HS384 and HS512 tokens with the static
// secret many times over, from several goroutines (run it with -race): the
// verifier reuses its keyed HMACs, and a reused one must still tell a good
// signature from a bad one. A token signed with another secret and one
// whose signature was cut are refused with ErrTokenSignatureInvalid.
func TestHMACReused(t *testing.T) {
	v := mustNew(t, core.WithSecretString(secret), core.WithAlgorithms("HS256", "HS384", "HS512"))
	claims := jwt.MapClaims{"sub": "a", "exp": now.Add(time.Hour).Unix()}
	type tok struct {
		s    string
		good bool
	}
	var toks []tok
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
		good := sign(t, m, []byte(secret), claims)
		toks = append(toks, tok{good, true}, tok{sign(t, m, []byte("another secret"), claims), false}, tok{good[:len(good)-4], false})
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				tk := toks[(g+i)%len(toks)]
				_, err := v.Verify(context.Background(), tk.s, nil)
				if tk.good != (err == nil) || (!tk.good && !errors.Is(err, core.ErrTokenSignatureInvalid)) {
					t.Errorf("%s…: good %v, err %v", tk.s[:20], tk.good, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestExpiresAtIsFirstRefusal: ExpiresAt is the first instant Verify
// refuses the claims: a token verifies one nanosecond before it and not at
// it, with a fractional exp, a fractional clock tolerance and a maximum
// age. ExpiresAt used to return exp plus the tolerance unrounded, up to a
// second before the refusal (so a revocation kept until then was forgotten
// while the token still verified), and to ignore the maximum age (so a live
// socket outlived it).
func TestExpiresAtIsFirstRefusal(t *testing.T) {
	tests := []struct {
		name   string
		opts   []core.Option
		claims jwt.MapClaims
		want   time.Time
	}{
		{"fractional exp", nil, jwt.MapClaims{"exp": 1_700_000_100.5}, time.Unix(1_700_000_101, 0)},
		{"fractional tolerance", []core.Option{core.WithClockTolerance(1500 * time.Millisecond)}, jwt.MapClaims{"exp": 1_700_000_100}, time.Unix(1_700_000_102, 0)},
		{"whole seconds", []core.Option{core.WithClockTolerance(2 * time.Second)}, jwt.MapClaims{"exp": 1_700_000_100}, time.Unix(1_700_000_102, 0)},
		{"max age first", []core.Option{core.WithMaxAge(time.Minute)}, jwt.MapClaims{"exp": 1_700_000_100, "iat": 1_699_999_990}, time.Unix(1_700_000_050, 0)},
		{"exp first", []core.Option{core.WithMaxAge(time.Hour)}, jwt.MapClaims{"exp": 1_700_000_100, "iat": 1_699_999_990}, time.Unix(1_700_000_100, 0)},
		{"max age, no exp", []core.Option{core.WithMaxAge(time.Minute)}, jwt.MapClaims{"iat": 1_699_999_990.2}, time.Unix(1_700_000_051, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := now
			v := mustNew(t, append([]core.Option{core.WithSecretString(secret), core.WithClock(func() time.Time { return at })}, tt.opts...)...)
			tok := sign(t, jwt.SigningMethodHS256, []byte(secret), tt.claims)
			res, err := v.Verify(context.Background(), tok, nil)
			if err != nil {
				t.Fatal(err)
			}
			exp, ok := v.ExpiresAt(res.Claims)
			if !ok || !exp.Equal(tt.want) {
				t.Fatalf("ExpiresAt = %v, %v; want %v", exp.Unix(), ok, tt.want.Unix())
			}
			at = exp.Add(-time.Nanosecond)
			if _, err := v.Verify(context.Background(), tok, nil); err != nil {
				t.Fatalf("refused before ExpiresAt: %v", err)
			}
			at = exp
			if _, err := v.Verify(context.Background(), tok, nil); err == nil {
				t.Fatal("accepted at ExpiresAt")
			}
		})
	}
	v := mustNew(t, core.WithSecretString(secret), core.WithClock(clock))
	res, err := v.Verify(context.Background(), sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "x"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if at, ok := v.ExpiresAt(res.Claims); ok {
		t.Fatalf("ExpiresAt of a token without exp = %v", at)
	}
}

// TestTypedNilErrors: a check, claims transform or key function that
// returns a nil *core.Error as a non-nil error fails closed with a usable
// *Error; it used to make Verify return an error that panicked when read,
// or (key function) drop the key and say "invalid algorithm".
func TestTypedNilErrors(t *testing.T) {
	tok := hs(t, jwt.MapClaims{"sub": "bob", "exp": now.Add(time.Hour).Unix()})
	nilErr := func() error { var e *core.Error; return e }
	tests := []struct {
		name string
		opt  core.Option
		code string
	}{
		{"check", core.WithCheck(func(context.Context, *core.Handshake, *core.Result) error { return nilErr() }), core.CodeUnknown},
		{"transform", core.WithClaimsTransform(func(_ context.Context, c *core.Claims) (*core.Claims, error) { return c, nilErr() }), core.CodeUnknown},
		{"key function", core.WithKeyFunc(func(context.Context, *core.KeyRequest) (any, error) { return []byte(secret), nilErr() }), core.CodeInvalidSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []core.Option{tt.opt, core.WithClock(clock)}
			if tt.name != "key function" {
				opts = append(opts, core.WithSecretString(secret))
			} else {
				opts = append(opts, core.WithAlgorithms("HS256"))
			}
			v := mustNew(t, opts...)
			res, err := v.Verify(context.Background(), tok, nil)
			if err == nil || res != nil {
				t.Fatalf("Verify = %v, %v: want a failure", res, err)
			}
			e := core.AsError(err)
			if e == nil || e.Code != tt.code || core.CodeOf(err) != tt.code || err.Error() == "" || e.Data()["code"] != tt.code {
				t.Fatalf("error %v (code %q), want code %q", err, core.CodeOf(err), tt.code)
			}
		})
	}
	var e *core.Error
	if e.Error() == "" || errors.Is(e, core.ErrTokenExpired) || e.Unwrap() != nil {
		t.Fatal("a nil *core.Error is not safe to read")
	}
	if core.AsError(fmt.Errorf("wrapped: %w", nilErr())).Code != core.CodeInternal {
		t.Fatal("AsError of a wrapped nil *core.Error is not an internal error")
	}
}

// TestExtractNilHandshake: Extract and Authenticate take a nil handshake as
// an empty one (as Verify does) instead of panicking.
func TestExtractNilHandshake(t *testing.T) {
	v := mustNew(t, core.WithSecretString(secret))
	if _, err := v.Extract(nil); core.CodeOf(err) != core.CodeCredentialsRequired {
		t.Fatalf("Extract(nil) = %v", err)
	}
	if _, err := v.Authenticate(context.Background(), nil); core.CodeOf(err) != core.CodeCredentialsRequired {
		t.Fatalf("Authenticate(nil) = %v", err)
	}
}
