package core_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/core"
)

// exampleToken signs claims with HS256, as the application's login
// endpoint does.
func exampleToken(key string, claims jwt.MapClaims) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
	if err != nil {
		panic(err)
	}
	return s
}

// A Verifier with an HMAC secret and an audience, and the token found in a
// handshake as socket.io-client v4 sends it ({auth: {token}}). The clock is
// fixed so that the output does not depend on the day.
func ExampleNew() {
	const secret = "a secret of at least thirty-two bytes"
	issued := time.Date(2025, 1, 2, 15, 0, 0, 0, time.UTC)
	v, err := core.New(
		core.WithSecretString(secret),
		core.WithAudience("chat"),
		core.WithClock(func() time.Time { return issued.Add(time.Minute) }),
	)
	if err != nil {
		panic(err) // a configuration error: at start-up, never at request time
	}

	tok := exampleToken(secret, jwt.MapClaims{"sub": "alice", "aud": "chat", "exp": issued.Add(time.Hour).Unix()})
	res, err := v.Authenticate(context.Background(), &core.Handshake{Namespace: "/", Auth: tok, HasAuth: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Claims.Subject, res.Claims.ExpiresAt.UTC().Format(time.RFC3339))

	// An expired token: the public code and message go to the client; Go
	// code branches on the sentinel or the kind.
	old := exampleToken(secret, jwt.MapClaims{"sub": "alice", "aud": "chat", "exp": issued.Add(-time.Hour).Unix()})
	_, err = v.Verify(context.Background(), old, nil)
	e := core.AsError(err)
	fmt.Println(e.Code, "/", e.Message, "/", e.Kind(), errors.Is(err, core.ErrTokenExpired))
	// Output:
	// alice 2025-01-02T16:00:00Z
	// invalid_token / jwt expired / expired true
}

// A key per tenant, chosen by the token's unverified "iss": the key
// function only picks a key, the signature decides. An unknown issuer gets
// an error of the application's own code.
func ExampleWithKeyFunc() {
	tenants := map[string][]byte{
		"https://a.example/": []byte("tenant A's secret of thirty-two bytes"),
		"https://b.example/": []byte("tenant B's secret of thirty-two bytes"),
	}
	v, err := core.New(core.WithKeyFunc(func(ctx context.Context, r *core.KeyRequest) (any, error) {
		if k, ok := tenants[r.Issuer()]; ok {
			return k, nil
		}
		return nil, core.NewError("unknown_tenant", "unknown tenant", nil)
	}), core.WithAlgorithms("HS256"))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	fromB := exampleToken(string(tenants["https://b.example/"]), jwt.MapClaims{"iss": "https://b.example/", "sub": "bob"})
	res, err := v.Verify(ctx, fromB, nil)
	fmt.Println(res.Claims.Issuer, res.Claims.Subject, err)

	// Signed with A's key but claiming to be B's: the signature fails.
	forged := exampleToken(string(tenants["https://a.example/"]), jwt.MapClaims{"iss": "https://b.example/", "sub": "bob"})
	_, err = v.Verify(ctx, forged, nil)
	fmt.Println(core.CodeOf(err), core.AsError(err).Message, errors.Is(err, core.ErrTokenSignatureInvalid))

	other := exampleToken("whatever", jwt.MapClaims{"iss": "https://c.example/"})
	_, err = v.Verify(ctx, other, nil)
	fmt.Println(core.CodeOf(err), core.KindOf(err))
	// Output:
	// https://b.example/ bob <nil>
	// invalid_token invalid signature true
	// unknown_tenant rejected
}

// The application's own claims, decoded into its own struct.
func ExampleDecodeClaims() {
	const secret = "a secret of at least thirty-two bytes"
	v, err := core.New(core.WithSecretString(secret))
	if err != nil {
		panic(err)
	}
	tok := exampleToken(secret, jwt.MapClaims{"sub": "carol", "roles": []string{"admin", "ops"}, "tenant": 42})
	res, err := v.Verify(context.Background(), tok, nil)
	if err != nil {
		panic(err)
	}

	type appClaims struct {
		Sub    string   `json:"sub"`
		Roles  []string `json:"roles"`
		Tenant int      `json:"tenant"`
	}
	c, err := core.DecodeClaims[appClaims](res.Claims)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s %v %d\n", c.Sub, c.Roles, c.Tenant)
	// Output:
	// carol [admin ops] 42
}

// Classifying failures in Go: by sentinel with errors.Is, or by kind for a
// metric label. The public message is for the client, not for branching.
func ExampleKindOf() {
	v, err := core.New(core.WithSecretString("a secret of at least thirty-two bytes"), core.WithMaxTokenSize(1024))
	if err != nil {
		panic(err)
	}
	for _, tok := range []any{"not.a.jwt", 42, string(make([]byte, 2048))} {
		_, err := v.Verify(context.Background(), tok, nil)
		fmt.Printf("%-9s %-10s malformed=%v\n", core.KindOf(err), core.CodeOf(err), errors.Is(err, core.ErrTokenMalformed))
	}
	// Output:
	// malformed invalid_token malformed=true
	// malformed invalid_token malformed=true
	// too_large invalid_token malformed=false
}
