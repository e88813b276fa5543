package core_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/core"
)

var knownCodes = map[string]bool{
	core.CodeCredentialsBadFormat: true, core.CodeMissingAuthorizationHeader: true,
	core.CodeCredentialsRequired: true, core.CodeInvalidToken: true,
}

// FuzzVerify feeds arbitrary tokens to the verifier: it must never panic,
// and every failure must be an *core.Error with a known code and a public
// message.
func FuzzVerify(f *testing.F) {
	good := hs(f, jwt.MapClaims{"sub": "x", "exp": now.Add(time.Hour).Unix()})
	for _, s := range []string{good, "", "a.b.c", "a.b.", "..", good + "x", "eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJIUzI1NiJ9.W10.AAAA"} {
		f.Add(s)
	}
	v, err := core.New(core.WithSecretString(secret), core.WithClock(clock))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		res, err := v.Verify(context.Background(), tok, nil)
		if err == nil {
			if res == nil || res.Claims == nil {
				t.Fatal("nil result without error")
			}
			return
		}
		var e *core.Error
		if !errors.As(err, &e) || !knownCodes[e.Code] || e.Message == "" {
			t.Fatalf("bad error %v", err)
		}
	})
}

// FuzzExtract feeds arbitrary handshake values to the token extraction.
func FuzzExtract(f *testing.F) {
	f.Add("Bearer abc", "tok", "jwt=abc", "auth")
	f.Add("", "", "", "")
	f.Add("Bearer", "x", "", "Bearer ")
	f.Add("a b c", "", "jwt", "bearer x")
	v, err := core.New(core.WithSecretString(secret), core.WithCookie("jwt"), core.WithClock(clock))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header, query, cookie, auth string) {
		hs := &core.Handshake{
			Header: http.Header{"Authorization": {header}, "Cookie": {cookie}},
			Query:  url.Values{"token": {query}},
			Auth:   auth, HasAuth: auth != "",
		}
		res, err := v.Authenticate(context.Background(), hs)
		if err == nil {
			if res == nil {
				t.Fatal("nil result")
			}
			return
		}
		var e *core.Error
		if !errors.As(err, &e) || !knownCodes[e.Code] {
			t.Fatalf("bad error %v", err)
		}
	})
}
