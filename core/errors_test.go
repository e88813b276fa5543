package core_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/core"
)

// allSentinels are the sentinels of the table in the package doc.
var allSentinels = map[string]error{
	"ErrCredentialsRequired":       core.ErrCredentialsRequired,
	"ErrCredentialsBadFormat":      core.ErrCredentialsBadFormat,
	"ErrTokenMalformed":            core.ErrTokenMalformed,
	"ErrTokenTooLarge":             core.ErrTokenTooLarge,
	"ErrTokenSignatureInvalid":     core.ErrTokenSignatureInvalid,
	"ErrTokenExpired":              core.ErrTokenExpired,
	"ErrTokenNotValidYet":          core.ErrTokenNotValidYet,
	"ErrTokenRequiredClaimMissing": core.ErrTokenRequiredClaimMissing,
	"ErrTokenInvalidAudience":      core.ErrTokenInvalidAudience,
	"ErrTokenInvalidIssuer":        core.ErrTokenInvalidIssuer,
	"ErrTokenInvalidSubject":       core.ErrTokenInvalidSubject,
	"ErrTokenInvalidID":            core.ErrTokenInvalidID,
	"ErrTokenRevoked":              core.ErrTokenRevoked,
	"ErrKeyUnavailable":            core.ErrKeyUnavailable,
	"ErrRateLimited":               core.ErrRateLimited,
	"ErrRejected":                  core.ErrRejected,
	"ErrInternal":                  core.ErrInternal,
}

// TestErrorsIsEveryFailure produces every failure for real and checks
// that errors.Is matches its sentinel and no other, that its Kind is the
// documented one, that golang-jwt's sentinel of the same failure matches
// too, and that an Error rebuilt from its code and message alone (as
// another package builds one with NewError) has the same sentinel.
func TestErrorsIsEveryFailure(t *testing.T) {
	ctx := context.Background()
	valid := jwt.MapClaims{"sub": "bob", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	good := hs(t, valid)
	parts := strings.Split(good, ".")
	withExt := func(h string) string {
		p := b64(`{"sub":"bob"}`)
		sig, _ := jwt.SigningMethodHS256.Sign(h+"."+p, []byte(secret))
		return h + "." + p + "." + b64(string(sig))
	}
	keyFn := func(fn core.KeyFunc) core.Option { return core.WithKeyFunc(fn) }
	verify := func(opts []core.Option, token any) error {
		v := mustNew(t, append([]core.Option{core.WithKeyTimeout(50 * time.Millisecond)}, opts...)...)
		_, err := v.Verify(ctx, token, nil)
		return err
	}
	authenticate := func(opts []core.Option, h http.Header) error {
		v := mustNew(t, opts...)
		_, err := v.Authenticate(ctx, handshake(h, nil, nil, false))
		return err
	}
	secretKey := []core.Option{core.WithSecretString(secret)}
	with := func(o ...core.Option) []core.Option {
		return append([]core.Option{core.WithSecretString(secret)}, o...)
	}
	check := func(fn core.Check) []core.Option { return with(core.WithCheck(fn)) }

	tests := []struct {
		name     string
		err      error
		sentinel string
		kind     core.Kind
		jwtErr   error // golang-jwt's sentinel that must match too
		rebuilt  bool  // NewError(code, message, nil) has the same sentinel
	}{
		{"no token", authenticate(secretKey, nil), "ErrCredentialsRequired", core.KindCredentialsRequired, nil, true},
		{"header required", authenticate(with(core.WithAuthHeaderRequired()), nil), "ErrCredentialsRequired", core.KindCredentialsRequired, nil, true},
		{"bad Authorization header", authenticate(secretKey, http.Header{"Authorization": {"Bearer a b"}}), "ErrCredentialsBadFormat", core.KindCredentialsBadFormat, nil, true},
		{"empty token", verify(secretKey, ""), "ErrTokenMalformed", core.KindMalformed, jwt.ErrTokenMalformed, true},
		{"not a string", verify(secretKey, 42.0), "ErrTokenMalformed", core.KindMalformed, jwt.ErrTokenMalformed, true},
		{"two parts", verify(secretKey, "a.b"), "ErrTokenMalformed", core.KindMalformed, jwt.ErrTokenMalformed, true},
		{"header not JSON", verify(secretKey, b64("x")+"."+parts[1]+"."+parts[2]), "ErrTokenMalformed", core.KindMalformed, jwt.ErrTokenMalformed, true},
		{"line break", verify(secretKey, parts[0]+"\n."+parts[1]+"."+parts[2]), "ErrTokenMalformed", core.KindMalformed, jwt.ErrTokenMalformed, true},
		{"crit", verify(secretKey, withExt(b64(`{"alg":"HS256","crit":["x"],"x":1}`))), "ErrTokenMalformed", core.KindMalformed, jwt.ErrTokenMalformed, true},
		{"exp not a number", verify(secretKey, hs(t, jwt.MapClaims{"exp": "x"})), "ErrTokenMalformed", core.KindMalformed, jwt.ErrTokenMalformed, true},
		{"exp beyond a date", verify(secretKey, hs(t, jwt.MapClaims{"exp": 1e19})), "ErrTokenMalformed", core.KindMalformed, jwt.ErrTokenMalformed, true},
		{"nbf not a number", verify(secretKey, hs(t, jwt.MapClaims{"nbf": "x"})), "ErrTokenMalformed", core.KindMalformed, jwt.ErrTokenMalformed, true},
		{"too large", verify(with(core.WithMaxTokenSize(16)), good), "ErrTokenTooLarge", core.KindTooLarge, nil, true},
		{"alg none", verify(secretKey, b64(`{"alg":"none"}`)+"."+parts[1]+"."), "ErrTokenSignatureInvalid", core.KindSignature, jwt.ErrTokenSignatureInvalid, true},
		{"alg not allowed", verify(with(core.WithAlgorithms("HS512")), good), "ErrTokenSignatureInvalid", core.KindSignature, jwt.ErrTokenSignatureInvalid, true},
		{"bad signature", verify(secretKey, sign(t, jwt.SigningMethodHS256, []byte("other"), valid)), "ErrTokenSignatureInvalid", core.KindSignature, jwt.ErrTokenSignatureInvalid, true},
		{"expired", verify(secretKey, hs(t, jwt.MapClaims{"exp": now.Unix() - 1})), "ErrTokenExpired", core.KindExpired, jwt.ErrTokenExpired, true},
		{"max age exceeded", verify(with(core.WithMaxAge(time.Minute)), hs(t, jwt.MapClaims{"iat": now.Unix() - 61})), "ErrTokenExpired", core.KindExpired, jwt.ErrTokenExpired, true},
		{"not active", verify(secretKey, hs(t, jwt.MapClaims{"nbf": now.Unix() + 60})), "ErrTokenNotValidYet", core.KindNotValidYet, jwt.ErrTokenNotValidYet, true},
		{"exp required", verify(with(core.WithRequiredExpiry()), hs(t, jwt.MapClaims{"sub": "x"})), "ErrTokenRequiredClaimMissing", core.KindClaims, jwt.ErrTokenRequiredClaimMissing, true},
		{"iat required", verify(with(core.WithMaxAge(time.Minute)), hs(t, jwt.MapClaims{"sub": "x"})), "ErrTokenRequiredClaimMissing", core.KindClaims, jwt.ErrTokenRequiredClaimMissing, true},
		{"audience", verify(with(core.WithAudience("a")), good), "ErrTokenInvalidAudience", core.KindClaims, jwt.ErrTokenInvalidAudience, true},
		{"issuer", verify(with(core.WithIssuer("a")), good), "ErrTokenInvalidIssuer", core.KindClaims, jwt.ErrTokenInvalidIssuer, true},
		{"subject", verify(with(core.WithSubject("alice")), good), "ErrTokenInvalidSubject", core.KindClaims, jwt.ErrTokenInvalidSubject, true},
		{"jwt id", verify(with(core.WithJWTID("j")), good), "ErrTokenInvalidID", core.KindClaims, jwt.ErrTokenInvalidId, true},
		{"key function error", verify([]core.Option{keyFn(func(context.Context, *core.KeyRequest) (any, error) {
			return nil, errors.New("db down")
		})}, good), "ErrKeyUnavailable", core.KindKeyUnavailable, nil, true},
		{"key function timeout", verify([]core.Option{keyFn(func(ctx context.Context, _ *core.KeyRequest) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})}, good), "ErrKeyUnavailable", core.KindKeyUnavailable, nil, true},
		{"key function no key", verify([]core.Option{keyFn(func(context.Context, *core.KeyRequest) (any, error) { return nil, nil })}, good),
			"ErrKeyUnavailable", core.KindKeyUnavailable, nil, true},
		// As a key set answers (jwks): its errors are built with NewError.
		{"key set: kid not found", verify([]core.Option{keyFn(func(context.Context, *core.KeyRequest) (any, error) {
			return nil, core.NewError(core.CodeInvalidSecret, "signing key not found", errors.New("kid k"))
		})}, good), "ErrKeyUnavailable", core.KindKeyUnavailable, nil, true},
		{"key set: endpoint failing", verify([]core.Option{keyFn(func(context.Context, *core.KeyRequest) (any, error) {
			return nil, core.NewError(core.CodeKeySetUnavailable, "signing keys unavailable, retry later", errors.New("503"))
		})}, good), "ErrKeyUnavailable", core.KindKeyUnavailable, nil, true},
		{"key set: token of another issuer", verify([]core.Option{keyFn(func(context.Context, *core.KeyRequest) (any, error) {
			return nil, core.NewError(core.CodeInvalidToken, "jwt issuer invalid. expected: https://a/", nil)
		})}, good), "ErrTokenInvalidIssuer", core.KindClaims, jwt.ErrTokenInvalidIssuer, true},
		{"check: plain error", verify(check(func(context.Context, *core.Handshake, *core.Result) error { return errors.New("no") }), good),
			"ErrRejected", core.KindRejected, nil, true},
		{"check: own code", verify(check(func(context.Context, *core.Handshake, *core.Result) error {
			return core.NewError("insufficient_scope", "insufficient scope", nil)
		}), good), "ErrRejected", core.KindRejected, nil, true},
		{"check: own message under invalid_token", verify(check(func(context.Context, *core.Handshake, *core.Result) error {
			return core.NewError(core.CodeInvalidToken, "account disabled", nil)
		}), good), "ErrRejected", core.KindRejected, nil, true},
		{"check: revoked, by sentinel", verify(check(func(context.Context, *core.Handshake, *core.Result) error {
			return core.NewError(core.CodeInvalidToken, "session ended", fmt.Errorf("jti j1: %w", core.ErrTokenRevoked))
		}), good), "ErrTokenRevoked", core.KindRevoked, nil, false},
		{"check panics", verify(check(func(context.Context, *core.Handshake, *core.Result) error { panic("x") }), good),
			"ErrInternal", core.KindInternal, nil, true},
		{"transform returns nil", verify(with(core.WithClaimsTransform(func(context.Context, *core.Claims) (*core.Claims, error) { return nil, nil })), good),
			"ErrInternal", core.KindInternal, nil, true},
		// Built by the binding, which has the revocation store and the
		// limits: the same constructors as there.
		{"revoked (binding)", core.NewError(core.CodeInvalidToken, "jwt revoked", nil), "ErrTokenRevoked", core.KindRevoked, nil, true},
		{"rate limited (binding)", core.NewError(core.CodeRateLimited, "too many failed authentications, retry later", nil), "ErrRateLimited", core.KindRateLimited, nil, true},
		{"pending cap (binding)", core.NewError(core.CodeRateLimited, "too many unauthenticated connections, retry later", nil), "ErrRateLimited", core.KindRateLimited, nil, true},
		{"live expiry (binding)", core.NewError(core.CodeInvalidToken, "jwt expired", nil), "ErrTokenExpired", core.KindExpired, jwt.ErrTokenExpired, true},
		{"post-connect datatype (binding)", core.NewError(core.CodeInvalidToken, "invalid token datatype", nil), "ErrTokenMalformed", core.KindMalformed, jwt.ErrTokenMalformed, true},
		{"revocation store down (binding)", core.NewError(core.CodeInternal, "revocation check failed", errors.New("redis")), "ErrInternal", core.KindInternal, nil, true},
		{"not an *Error", core.AsError(errors.New("raw")), "ErrInternal", core.KindInternal, nil, true},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("no failure")
			}
			seen[tt.sentinel] = true
			for name, s := range allSentinels {
				if got, want := errors.Is(tt.err, s), name == tt.sentinel; got != want {
					t.Errorf("errors.Is(%v, %s) = %v, want %v", tt.err, name, got, want)
				}
			}
			if tt.jwtErr != nil && !errors.Is(tt.err, tt.jwtErr) {
				t.Errorf("errors.Is(%v, golang-jwt's %v) = false", tt.err, tt.jwtErr)
			}
			claimsRule := tt.kind == core.KindExpired || tt.kind == core.KindNotValidYet || tt.kind == core.KindClaims
			if errors.Is(tt.err, core.ErrTokenInvalidClaims) != claimsRule {
				t.Errorf("errors.Is(%v, ErrTokenInvalidClaims) = %v", tt.err, !claimsRule)
			}
			if k := core.KindOf(tt.err); k != tt.kind {
				t.Errorf("KindOf = %q, want %q", k, tt.kind)
			}
			e := core.AsError(tt.err)
			if tt.rebuilt {
				for _, r := range []*core.Error{core.NewError(e.Code, e.Message, nil), {Code: e.Code, Message: e.Message}} {
					if !errors.Is(r, allSentinels[tt.sentinel]) || r.Kind() != tt.kind {
						t.Errorf("rebuilt %v: kind %q", r, r.Kind())
					}
				}
			}
			// A wrapped Error classifies the same.
			if w := fmt.Errorf("auth: %w", tt.err); !errors.Is(w, allSentinels[tt.sentinel]) || core.KindOf(w) != tt.kind {
				t.Errorf("wrapped: not classified")
			}
		})
	}
	for name := range allSentinels {
		if !seen[name] {
			t.Errorf("no failure produces %s", name)
		}
	}
	kinds := map[core.Kind]bool{}
	for _, tt := range tests {
		kinds[tt.kind] = true
	}
	for _, k := range core.Kinds() {
		if !kinds[k] {
			t.Errorf("no failure of kind %q", k)
		}
	}
	if len(kinds) != len(core.Kinds()) {
		t.Errorf("%d kinds produced, %d listed", len(kinds), len(core.Kinds()))
	}
	if core.KindOf(nil) != "" {
		t.Error("KindOf(nil)")
	}
	if errors.Is(tests[0].err, (*core.Error)(nil)) {
		t.Error("matched a nil *Error")
	}
}
