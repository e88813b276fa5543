package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/jwks"
)

func TestLoginValidation(t *testing.T) {
	base := startDemo(t)
	tests := []struct {
		name    string
		body    string
		status  int
		errPart string // in the "error" message; "" for a success
		role    string // the role of the token, on success
	}{
		{name: "user", body: `{"username": "alice"}`, status: 200, role: "user"},
		{name: "admin flag", body: `{"username": "alice", "admin": true}`, status: 200, role: "admin"},
		{name: "admin role", body: `{"username": "alice", "role": "admin"}`, status: 200, role: "admin"},
		{name: "spaces trimmed, unicode", body: `{"username": "  Zoë Ødegård  "}`, status: 200, role: "user"},
		{name: "32 characters", body: `{"username": "` + strings.Repeat("é", 32) + `"}`, status: 200, role: "user"},
		{name: "33 characters", body: `{"username": "` + strings.Repeat("é", 33) + `"}`, status: 400, errPart: "longer than 32"},
		{name: "empty name", body: `{"username": ""}`, status: 400, errPart: "username is required"},
		{name: "blank name", body: `{"username": "   "}`, status: 400, errPart: "username is required"},
		{name: "no name", body: `{"admin": true}`, status: 400, errPart: "username is required"},
		{name: "control character", body: `{"username": "a\u0007b"}`, status: 400, errPart: "cannot be printed"},
		{name: "newline", body: `{"username": "a\nb"}`, status: 400, errPart: "cannot be printed"},
		{name: "unknown role", body: `{"username": "alice", "role": "root"}`, status: 400, errPart: `unknown role "root"`},
		{name: "contradiction", body: `{"username": "alice", "role": "user", "admin": true}`, status: 400, errPart: "contradicts"},
		{name: "unknown field", body: `{"username": "alice", "sub": "bob"}`, status: 400, errPart: `unknown field "sub"`},
		{name: "wrong type", body: `{"username": 42}`, status: 400, errPart: `field "username"`},
		{name: "admin not a bool", body: `{"username": "alice", "admin": "yes"}`, status: 400, errPart: `field "admin"`},
		{name: "bad JSON", body: `{"username": `, status: 400, errPart: "bad JSON"},
		{name: "not an object", body: `["alice"]`, status: 400, errPart: ""},
		{name: "two objects", body: `{"username": "a"}{"username": "b"}`, status: 400, errPart: "trailing data"},
		{name: "empty body", body: ``, status: 400, errPart: "empty body"},
		{name: "huge body", body: `{"username": "` + strings.Repeat("a", 4096) + `"}`, status: 413, errPart: "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out := post(t, base+"/login", tc.body, "")
			if status != tc.status {
				t.Fatalf("status %d, want %d (%v)", status, tc.status, out)
			}
			if tc.status != http.StatusOK {
				msg, _ := out["error"].(string)
				if msg == "" || !strings.Contains(msg, tc.errPart) {
					t.Errorf("error %q, want one containing %q", msg, tc.errPart)
				}
				return
			}
			tok, _ := out["token"].(string)
			claims := jwt.MapClaims{}
			if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
				t.Fatal(err)
			}
			if claims["role"] != tc.role {
				t.Errorf("role %v, want %s", claims["role"], tc.role)
			}
			for _, c := range []string{"sub", "name", "jti", "iat", "exp", "iss", "aud"} {
				if _, ok := claims[c]; !ok {
					t.Errorf("token has no %q", c)
				}
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	base := startDemo(t)
	for _, path := range []string{"/login", "/refresh", "/logout"} {
		t.Run(path, func(t *testing.T) {
			res, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var out map[string]string
			_ = json.NewDecoder(res.Body).Decode(&out)
			if res.StatusCode != http.StatusMethodNotAllowed || out["error"] == "" {
				t.Errorf("GET %s: %d %v, want 405 with a JSON error", path, res.StatusCode, out)
			}
		})
	}
}

// TestRefreshAndLogout: refresh keeps the subject and role with a new token
// ID; logout ends the session: the token shown and every other of its
// refresh chain then neither refresh nor log out (revoking the one token
// shown let an earlier one of the chain renew the session for ever).
func TestRefreshAndLogout(t *testing.T) {
	base := startDemo(t)
	first := login(t, base, "alice", true)
	status, out := post(t, base+"/refresh", "", first)
	second, _ := out["token"].(string)
	if status != http.StatusOK || second == "" {
		t.Fatalf("refresh: %d %v", status, out)
	}
	c1, c2 := unverified(t, first), unverified(t, second)
	for _, k := range []string{"sub", "name", "role", "iss", "aud"} {
		if c1[k] != c2[k] {
			t.Errorf("refresh changed %s: %v -> %v", k, c1[k], c2[k])
		}
	}
	if c1["jti"] == c2["jti"] {
		t.Error("refresh kept the token ID")
	}

	tests := []struct {
		name   string
		path   string
		token  string
		status int
		code   string // the "code" of a 401
		errMsg string
	}{
		{name: "logout", path: "/logout", token: first, status: 200},
		{name: "refresh revoked", path: "/refresh", token: first, status: 401, code: "invalid_token", errMsg: "jwt revoked"},
		{name: "logout revoked", path: "/logout", token: first, status: 401, code: "invalid_token", errMsg: "jwt revoked"},
		{name: "the rest of the session revoked", path: "/refresh", token: second, status: 401, code: "invalid_token", errMsg: "jwt revoked"},
		{name: "no token", path: "/refresh", status: 401, errMsg: "Authorization: Bearer"},
		{name: "garbage", path: "/refresh", token: "not.a.jwt", status: 401, code: "invalid_token", errMsg: "invalid token"},
		{name: "tampered", path: "/refresh", token: tamper(t, second), status: 401, code: "invalid_token", errMsg: "invalid signature"},
		{name: "HS256 token", path: "/logout", token: hs256(t, "secret"), status: 401, code: "invalid_token", errMsg: "invalid algorithm"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out := post(t, base+tc.path, "", tc.token)
			if status != tc.status {
				t.Fatalf("status %d, want %d (%v)", status, tc.status, out)
			}
			if tc.status == http.StatusOK {
				return
			}
			if code, _ := out["code"].(string); code != tc.code {
				t.Errorf("code %q, want %q", code, tc.code)
			}
			if msg, _ := out["error"].(string); !strings.Contains(msg, tc.errMsg) {
				t.Errorf("error %q, want one containing %q", msg, tc.errMsg)
			}
		})
	}
}

func unverified(t *testing.T, tok string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// tamper changes the role in the payload and keeps the signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	claims := unverified(t, tok)
	claims["role"] = "admin"
	claims["exp"] = claims["exp"].(float64) + 3600
	payload, _ := json.Marshal(claims)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
}

func hs256(t *testing.T, secret string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "x", "iss": issuer, "aud": audience, "exp": time.Now().Add(time.Hour).Unix(), "jti": "j",
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestPublishedKeySet: the published key set verifies the tokens the demo
// issues, through package jwks.
func TestPublishedKeySet(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			base := startDemo(t, "-alg", alg)
			keys, err := jwks.New(context.Background(), base+"/.well-known/jwks.json", jwks.WithInsecureHTTP())
			if err != nil {
				t.Fatal(err)
			}
			defer keys.Close()
			v, err := core.New(core.WithKeySource(keys), core.WithAlgorithms(alg), core.WithIssuer(issuer), core.WithAudience(audience))
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(context.Background(), login(t, base, "alice", false), nil)
			if err != nil {
				t.Fatal(err)
			}
			if name, _ := res.Claims.Get("name"); name != "alice" {
				t.Errorf("name %v, want alice", name)
			}
		})
	}
}

func TestPages(t *testing.T) {
	base := startDemo(t)
	tests := []struct {
		path        string
		contentType string
		contains    string
	}{
		{path: "/", contentType: "text/html", contains: "/vendor/socket.io.min.js"},
		{path: "/app.js", contentType: "text/javascript", contains: "token_expiring"},
		{path: "/style.css", contentType: "text/css", contains: ".card"},
		{path: "/vendor/socket.io.min.js", contentType: "text/javascript", contains: "Socket.IO v4"},
		{path: "/.well-known/jwks.json", contentType: "application/jwk-set+json", contains: `"keys"`},
		{path: "/metrics", contentType: "text/plain", contains: "siojwt_"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			res, err := http.Get(base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("Content-Type %q, want %s", ct, tc.contentType)
			}
			if !bytes.Contains(body, []byte(tc.contains)) {
				t.Errorf("body does not contain %q", tc.contains)
			}
			if res.Header.Get("Content-Security-Policy") == "" {
				t.Error("no Content-Security-Policy")
			}
		})
	}
}

// TestSockets checks the Socket.IO side with the Go client: the name comes
// from the verified claims, /admin admits admins only, and logout cuts.
func TestSockets(t *testing.T) {
	base := startDemo(t)
	alice, bob := login(t, base, "alice", true), login(t, base, "bob", false)

	t.Run("welcome from the claims", func(t *testing.T) {
		s := dial(t, base, "/", bob)
		e := s.wait(t, "welcome", "connect_error")
		if e.name != "welcome" {
			t.Fatalf("got %s %v", e.name, e.args)
		}
		if m, _ := e.args[0].(map[string]any); m["name"] != "bob" || m["role"] != "user" {
			t.Errorf("welcome %v, want bob / user", e.args[0])
		}
	})
	t.Run("no token", func(t *testing.T) {
		s := dial(t, base, "/", "")
		if code, _ := refusal(t, s.wait(t, "connect_error", "connect")); code != core.CodeCredentialsRequired {
			t.Errorf("code %s, want %s", code, core.CodeCredentialsRequired)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		s := dial(t, base, "/", tamper(t, bob))
		code, msg := refusal(t, s.wait(t, "connect_error", "connect"))
		if code != core.CodeInvalidToken || msg != "invalid signature" {
			t.Errorf("%s: %s, want invalid_token: invalid signature", code, msg)
		}
	})
	t.Run("admin refuses a user", func(t *testing.T) {
		s := dial(t, base, "/admin", bob)
		code, msg := refusal(t, s.wait(t, "connect_error", "connect"))
		if code != core.CodeInsufficientScope || msg != "insufficient scope: admin required" {
			t.Errorf("%s: %s, want insufficient_scope: insufficient scope: admin required", code, msg)
		}
	})
	t.Run("admin lists users", func(t *testing.T) {
		chat := dial(t, base, "/", alice)
		chat.wait(t, "welcome")
		s := dial(t, base, "/admin", alice)
		e := s.wait(t, "users", "connect_error")
		if e.name != "users" {
			t.Fatalf("got %s %v", e.name, e.args)
		}
		list, _ := e.args[0].([]any)
		found := false
		for _, u := range list {
			if m, _ := u.(map[string]any); m["name"] == "alice" && m["role"] == "admin" {
				found = true
			}
		}
		if !found {
			t.Errorf("users %v: alice missing", e.args[0])
		}
	})
	t.Run("logout cuts", func(t *testing.T) {
		carol := login(t, base, "carol", false)
		s := dial(t, base, "/", carol)
		s.wait(t, "welcome")
		if status, out := post(t, base+"/logout", "", carol); status != http.StatusOK {
			t.Fatalf("logout: %d %v", status, out)
		}
		code, msg := refusal(t, s.wait(t, "unauthorized"))
		if code != core.CodeInvalidToken || msg != "jwt revoked" {
			t.Errorf("%s: %s, want invalid_token: jwt revoked", code, msg)
		}
		if e := s.wait(t, "disconnect"); e.args[0] != "io server disconnect" {
			t.Errorf("disconnect %v, want io server disconnect", e.args)
		}
	})
}

// TestExpiry: with a short lifetime the socket is warned, then cut.
func TestExpiry(t *testing.T) {
	// The token outlives a connection the Go client loses at its open and
	// dials again 2 s later (see internal/testclient): a 2 s token was
	// refused as expired under load.
	base := startDemo(t, "-token-ttl", "6s", "-expiry-warning", "1s")
	s := dial(t, base, "/", login(t, base, "dana", false))
	s.wait(t, "welcome")
	start := time.Now()
	code, msg := refusal(t, s.wait(t, "unauthorized"))
	if code != core.CodeInvalidToken || msg != "jwt expired" {
		t.Errorf("%s: %s, want invalid_token: jwt expired", code, msg)
	}
	if d := time.Since(start); d > 9*time.Second {
		t.Errorf("cut %v after connecting, for a 6s token", d)
	}
}

// TestTokenCommand: a token minted with -key is accepted by a server
// started with the same -key, and refused by one with a generated key.
func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.pem")
	if err := keygenCommand([]string{"-out", keyFile}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := keygenCommand([]string{"-out", keyFile}, io.Discard, io.Discard); err == nil {
		t.Error("keygen overwrote an existing key")
	}
	var out bytes.Buffer
	if err := tokenCommand([]string{"-sub", "zed", "-ttl", "1h", "-claim", "role=admin", "-claim", "n=42", "-key", keyFile}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())
	c := unverified(t, tok)
	if c["sub"] != "zed" || c["role"] != "admin" || c["n"] != float64(42) || c["iss"] != issuer || c["aud"] != audience {
		t.Errorf("claims %v", c)
	}

	tests := []struct {
		name  string
		args  []string
		code  string // "" when the token must be accepted
		msg   string
		admin bool // also try /admin
	}{
		{name: "same key", args: []string{"-key", keyFile}, admin: true},
		{name: "generated key", code: core.CodeInvalidSecret, msg: "signing key not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := startDemo(t, tc.args...)
			s := dial(t, base, "/", tok)
			e := s.wait(t, "welcome", "connect_error")
			if tc.code == "" {
				if e.name != "welcome" {
					code, msg := refusal(t, e)
					t.Fatalf("refused: %s: %s", code, msg)
				}
				if m, _ := e.args[0].(map[string]any); m["name"] != "zed" || m["role"] != "admin" {
					t.Errorf("welcome %v", e.args[0])
				}
				if a := dial(t, base, "/admin", tok); a.wait(t, "users", "connect_error").name != "users" {
					t.Error("/admin refused a minted admin token")
				}
				return
			}
			if e.name != "connect_error" {
				t.Fatalf("got %s, want connect_error", e.name)
			}
			if code, msg := refusal(t, e); code != tc.code || msg != tc.msg {
				t.Errorf("%s: %s, want %s: %s", code, msg, tc.code, tc.msg)
			}
		})
	}
}

func TestTokenCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no subject", args: []string{"-secret", "s"}, want: "-sub is required"},
		{name: "no key", args: []string{"-sub", "a"}, want: "exactly one of -key FILE and -secret S"},
		{name: "both keys", args: []string{"-sub", "a", "-secret", "s", "-key", "k.pem"}, want: "exactly one"},
		{name: "bad claim", args: []string{"-sub", "a", "-secret", "s", "-claim", "role"}, want: "want name=value"},
		{name: "missing key file", args: []string{"-sub", "a", "-key", "/nonexistent/key.pem"}, want: "no such file"},
		{name: "negative ttl", args: []string{"-sub", "a", "-secret", "s", "-ttl", "-1h"}, want: "-ttl must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tokenCommand(tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestTokenCommandSecret: -secret signs HS256 tokens for servers that
// verify with a secret.
func TestTokenCommandSecret(t *testing.T) {
	var out bytes.Buffer
	if err := tokenCommand([]string{"-sub", "alice", "-secret", "aaafoo super sercret", "-iss", "", "-aud", ""}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	v, err := core.New(core.WithSecretString("aaafoo super sercret"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(context.Background(), strings.TrimSpace(out.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Claims.Subject != "alice" || res.Claims.Issuer != "" || len(res.Claims.Audience) != 0 {
		t.Errorf("claims %s", res.Claims.Raw())
	}
}

func TestLoadSigner(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	pub, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	var ed bytes.Buffer
	if err := keygenCommand([]string{"-alg", "EdDSA"}, &ed, io.Discard); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		file string
		alg  string // "" when loading must fail
		want string // part of the error
	}{
		{name: "PKCS#8 Ed25519", file: write("ed.pem", ed.Bytes()), alg: "EdDSA"},
		{name: "SEC 1 P-384", file: write("ec.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})), alg: "ES384"},
		{name: "PKCS#1 RSA", file: write("rsa.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsa2048)})), alg: "RS256"},
		{name: "short RSA", file: write("rsa1024.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsa1024)})), want: "at least 2048"},
		{name: "public key", file: write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})), want: "not a private key"},
		{name: "not PEM", file: write("junk.pem", []byte("hello")), want: "no PEM block"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loadSigner(tc.file)
			if tc.alg == "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want one containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.alg() != tc.alg {
				t.Errorf("alg %s, want %s", s.alg(), tc.alg)
			}
			again, err := loadSigner(tc.file)
			if err != nil || again.kid != s.kid {
				t.Errorf("kid not stable across loads: %s, %s (%v)", s.kid, again.kid, err)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		warning time.Duration // the resulting expiry warning, when valid
		want    string        // part of the error
	}{
		{name: "defaults", warning: 15 * time.Second},
		{name: "short token", args: []string{"-token-ttl", "4s", "-expiry-warning", "2s"}, warning: 2 * time.Second},
		{name: "warning after issue", args: []string{"-token-ttl", "4s", "-expiry-warning", "4s"}, want: "shorter than -token-ttl"},
		{name: "negative warning", args: []string{"-expiry-warning", "-1s"}, want: "must be positive"},
		{name: "too short", args: []string{"-token-ttl", "1s"}, want: "at least 2s"},
		{name: "stray argument", args: []string{"tokens"}, want: "unexpected argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(tc.args, io.Discard)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want one containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.warning != tc.warning {
				t.Errorf("warning %v, want %v", c.warning, tc.warning)
			}
		})
	}
}

// TestMissingAssets: without socket.io-client the demo refuses to start,
// and says how to fix it.
func TestMissingAssets(t *testing.T) {
	err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-assets", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "npm ci") || !strings.Contains(err.Error(), "-assets") {
		t.Errorf("error %v, want one that says to run npm ci or pass -assets", err)
	}
}

// TestRefreshSessionLimit: a token whose session began (auth_time) more
// than maxSession ago is not refreshed, so that a leaked token cannot be
// renewed for ever; a recent one is, and keeps its auth_time.
func TestRefreshSessionLimit(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	if err := keygenCommand([]string{"-out", keyFile}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	base := startDemo(t, "-key", keyFile)
	mint := func(authTime time.Time) string {
		var out bytes.Buffer
		if err := tokenCommand([]string{"-sub", "zed", "-ttl", "1h", "-claim", "auth_time=" + strconv.FormatInt(authTime.Unix(), 10), "-key", keyFile}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out.String())
	}
	old := time.Now().Add(-maxSession - time.Minute)
	if status, out := post(t, base+"/refresh", "", mint(old)); status != http.StatusUnauthorized || !strings.Contains(fmt.Sprint(out), "session too old") {
		t.Fatalf("refresh of a session begun %v ago: %d %v", maxSession+time.Minute, status, out)
	}
	recent := time.Now().Add(-time.Hour)
	status, out := post(t, base+"/refresh", "", mint(recent))
	tok, _ := out["token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("refresh of a recent session: %d %v", status, out)
	}
	if c := unverified(t, tok); c["auth_time"] != float64(recent.Unix()) {
		t.Fatalf("auth_time %v after the refresh, want %d", c["auth_time"], recent.Unix())
	}
}

// TestStartupErrors: a key or algorithm the demo cannot use is an error
// from serve, not a panic (the cleanup of a half-built demo dereferenced a
// nil one).
func TestStartupErrors(t *testing.T) {
	for _, args := range [][]string{{"-key", filepath.Join(t.TempDir(), "missing.pem")}, {"-alg", "RS256"}} {
		cfg, err := parseConfig(append([]string{"-addr", "127.0.0.1:0"}, args...), io.Discard)
		if err != nil {
			t.Fatalf("%v: refused as flags (%v): the test needs them to reach serve", args, err)
		}
		if err := serve(context.Background(), cfg, io.Discard, io.Discard); err == nil {
			t.Errorf("%v: serve returned nil", args)
		}
	}
}
