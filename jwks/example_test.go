package jwks_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/jwks"
)

// An identity provider publishes its public key at /keys; the server
// verifies tokens with it, chosen by "kid".
func Example() {
	// The identity provider's side, for the example.
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := jwkset.NewJWKFromKey(&priv.PublicKey, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: "2024-06", ALG: jwkset.AlgES256, USE: jwkset.UseSig},
	})
	idp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{pub.Marshal()}})
	}))
	defer idp.Close()
	sign := func(kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "alice", "aud": "chat",
			"exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = kid
		s, _ := tok.SignedString(priv)
		return s
	}

	// The server's side.
	keys, err := jwks.New(context.Background(), idp.URL+"/keys",
		jwks.WithHTTPClient(idp.Client())) // trusts the test server's certificate
	if err != nil {
		log.Fatal(err)
	}
	defer keys.Close()
	verifier, err := core.New(
		core.WithKeySource(keys),
		core.WithAlgorithms("ES256"),
		core.WithAudience("chat"),
	)
	if err != nil {
		log.Fatal(err)
	}

	res, err := verifier.Verify(context.Background(), sign("2024-06"), nil)
	fmt.Println(res.Claims.Subject, err)
	_, err = verifier.Verify(context.Background(), sign("1999-01"), nil)
	fmt.Println(core.CodeOf(err), core.AsError(err).Message)
	// Output:
	// alice <nil>
	// invalid_secret signing key not found
}

// The keys of an OpenID Connect issuer, Auth0 here, with fetches counted
// and failures logged. Tokens must also be checked for the issuer and the
// audience: every application of the tenant gets tokens signed with the
// same keys.
func ExampleDiscover() {
	const issuer = "https://example.eu.auth0.com/" // Auth0's ends with a slash
	var fetches, failures int                      // metrics.Collector.KeySetFetch counts them for Prometheus
	keys, err := jwks.Discover(context.Background(), issuer,
		jwks.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))),
		jwks.WithFetchHook(func(err error) {
			fetches++
			if err != nil {
				failures++
			}
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer keys.Close()
	verifier, err := core.New(
		core.WithKeySource(keys),
		core.WithAlgorithms("RS256"),
		core.WithIssuer(issuer),
		core.WithAudience("https://chat.example.com/api"),
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = verifier // siojwt.New(io, verifier)
}

// Tokens from several issuers: each token's "iss" chooses the key set that
// verifies it, and tokens of any other issuer are refused before any
// fetch.
func ExampleNewIssuers() {
	issuers := []jwks.Issuer{
		{Issuer: "https://example.eu.auth0.com/"},        // discovery
		{Issuer: "https://sso.example.com/realms/staff"}, // Keycloak 17+, discovery
		{Issuer: "accounts.google.com", JWKSURL: "https://www.googleapis.com/oauth2/v3/certs"},
	}
	keys, err := jwks.NewIssuers(context.Background(), issuers)
	if err != nil {
		log.Fatal(err)
	}
	defer keys.Close()
	verifier, err := core.New(
		core.WithKeySource(keys),
		core.WithAlgorithms("RS256"),
		core.WithIssuer("https://example.eu.auth0.com/", "https://sso.example.com/realms/staff", "accounts.google.com"),
		core.WithAudience("https://chat.example.com/api", "chat-frontend", "1234.apps.googleusercontent.com"),
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = verifier
}
