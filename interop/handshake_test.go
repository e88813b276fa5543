package interop_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/interop/harness"
)

// hsCase is one handshake attempt and its outcome: connect and echo when
// code is "", else a rejection with exactly code and msg.
type hsCase struct {
	name string
	// token goes where the client normally sends it: the auth payload (v4),
	// the query string (v2).
	token string
	// auth is a v4 auth payload used whole (the case is v4 only).
	auth    map[string]any
	query   map[string]string
	headers map[string]string
	cookie  string
	// only restricts the case to one client version.
	only string
	code string
	msg  string
}

// runHandshake runs every case with every client version and transport
// against the fixture at url, all at once, then checks each outcome in a
// subtest.
func runHandshake(t *testing.T, url string, cases []hsCase) {
	t.Helper()
	var names []string
	var want []hsCase
	var ss []harness.Scenario
	for _, tc := range cases {
		for _, c := range combos {
			if tc.auth != nil && c.v2() || tc.only != "" && tc.only != c.client {
				continue
			}
			s := c.scenario(url, tc.token)
			if tc.auth != nil {
				s.Auth = tc.auth
			}
			if tc.query != nil {
				s.Query = tc.query
			}
			s.Headers, s.Cookie = tc.headers, tc.cookie
			if tc.code == "" {
				s.Steps = echoSteps("hello " + tc.name)
			} else {
				s.Steps = []harness.Step{harness.WaitAny(waitLong, "connect", "connect_error", "error")}
			}
			names, want, ss = append(names, tc.name+"/"+c.String()), append(want, tc), append(ss, s)
		}
	}
	results := harness.RunBatch(t, ss)
	for i, r := range results {
		t.Run(names[i], func(t *testing.T) {
			tc := want[i]
			if tc.code == "" {
				expectOK(t, r)
				expectEcho(t, r, "hello "+tc.name)
				return
			}
			expectRejected(t, r, tc.code, tc.msg)
		})
	}
}

// echoSteps waits for the connection and checks that echo works.
func echoSteps(msg string) []harness.Step {
	return []harness.Step{
		harness.Wait("connect", waitLong),
		harness.Emit("echo", msg),
		harness.Wait("echo-response", waitShort),
	}
}

// expectEcho checks that the client got exactly one echo-response, with
// exactly msg.
func expectEcho(t testing.TB, r harness.Result, msg string) {
	t.Helper()
	if n := r.Count("echo-response"); n != 1 {
		t.Fatalf("%d echo-response events, want 1: %s", n, r)
	}
	if got := argsOf(t, mustEvent(t, r, "echo-response")); !reflect.DeepEqual(got, []any{msg}) {
		t.Fatalf("echo-response %v, want [%q]", got, msg)
	}
}

// TestHandshakeRejections checks every row of the handshake-mode table and
// of the jsonwebtoken table that a client can produce, with the exact code
// and message, for v4 and v2 over websocket and polling.
func TestHandshakeRejections(t *testing.T) {
	fx := harness.StartFixture(t, "-mode", "handshake")
	good := harness.Login(t, fx.URL, "alice")
	now := time.Now()
	cl := func(extra jwt.MapClaims) jwt.MapClaims {
		c := userClaims("alice")
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	payload := `{"sub":"alice","id":123}`
	cases := []hsCase{
		{name: "header of one part", headers: map[string]string{"Authorization": "Bearer"},
			code: "credentials_bad_format", msg: "Format is Authorization: Bearer [token]"},
		{name: "header of three parts", headers: map[string]string{"Authorization": "Bearer " + good + " x"},
			code: "credentials_bad_format", msg: "Format is Authorization: Bearer [token]"},
		// Unlike socketio-jwt, a malformed header does not override a good
		// token from a source before it (docs/MIGRATING.md).
		{name: "good token beats a bad header", token: good, headers: map[string]string{"Authorization": "Bearer"}},
		{name: "good token beats a Digest header", token: good, headers: map[string]string{"Authorization": "Digest a=1, b=2"}},
		{name: "bad header and a bad token", token: "abc", headers: map[string]string{"Authorization": "Bearer"},
			code: "invalid_token", msg: "jwt malformed"},
		{name: "no token", code: "credentials_required", msg: "no token provided"},
		{name: "empty token", auth: map[string]any{"token": ""}, code: "credentials_required", msg: "no token provided"},
		{name: "empty query token", query: map[string]string{"token": ""}, code: "credentials_required", msg: "no token provided"},
		{name: "null token", auth: map[string]any{"token": nil}, code: "credentials_required", msg: "no token provided"},
		{name: "non-bearer header ignored", headers: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"},
			code: "credentials_required", msg: "no token provided"},
		{name: "malformed", token: "abc", code: "invalid_token", msg: "jwt malformed"},
		{name: "two parts", token: "abc.def", code: "invalid_token", msg: "jwt malformed"},
		{name: "bearer malformed", auth: map[string]any{"token": "Bearer abc"}, code: "invalid_token", msg: "jwt malformed"},
		{name: "header not JSON", token: unsigned("{not json", payload, "c2ln"), code: "invalid_token", msg: "invalid token"},
		{name: "payload not JSON", token: unsigned(`{"alg":"HS256","typ":"JWT"}`, "{not json", "c2ln"), code: "invalid_token", msg: "invalid token"},
		{name: "alg none", token: unsigned(`{"alg":"none","typ":"JWT"}`, payload, ""), code: "invalid_token", msg: "jwt signature is required"},
		{name: "RS256", token: rsaToken(t, cl(nil)), code: "invalid_token", msg: "invalid algorithm"},
		{name: "wrong secret", token: mintWith(t, jwt.SigningMethodHS256, []byte("another secret"), cl(nil)),
			code: "invalid_token", msg: "invalid signature"},
		{name: "not active", token: mint(t, cl(jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()})), code: "invalid_token", msg: "jwt not active"},
		{name: "nbf not a number", token: mint(t, cl(jwt.MapClaims{"nbf": "soon"})), code: "invalid_token", msg: "invalid nbf value"},
		{name: "expired", token: mint(t, cl(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})), code: "invalid_token", msg: "jwt expired"},
		{name: "exp not a number", token: mint(t, cl(jwt.MapClaims{"exp": "later"})), code: "invalid_token", msg: "invalid exp value"},
		{name: "too large", token: mint(t, cl(jwt.MapClaims{"pad": strings.Repeat("x", 9000)})), code: "invalid_token", msg: "jwt too large"},
		{name: "number", auth: map[string]any{"token": 42}, code: "invalid_token", msg: "jwt must be a string"},
		{name: "object", auth: map[string]any{"token": map[string]any{"jwt": good}}, code: "invalid_token", msg: "jwt must be a string"},
		{name: "array", auth: map[string]any{"token": []any{good}}, code: "invalid_token", msg: "jwt must be a string"},
		{name: "bool", auth: map[string]any{"token": true}, code: "invalid_token", msg: "jwt must be a string"},
		{name: "good", token: good},
	}
	runHandshake(t, fx.URL, cases)
}

// TestHandshakeHeaderRequired checks -auth-header-required: only an
// Authorization bearer header is accepted.
func TestHandshakeHeaderRequired(t *testing.T) {
	fx := harness.StartFixture(t, "-mode", "handshake", "-auth-header-required")
	good := harness.Login(t, fx.URL, "alice")
	const missing, format = "Server requires Authorization Header", "Format is Authorization: Bearer [token]"
	cases := []hsCase{
		{name: "no token", code: "missing_authorization_header", msg: missing},
		{name: "token in the handshake only", token: good, code: "missing_authorization_header", msg: missing},
		{name: "query token only", query: map[string]string{"token": good}, code: "missing_authorization_header", msg: missing},
		{name: "basic header", headers: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"},
			code: "missing_authorization_header", msg: missing},
		{name: "header of three parts", headers: map[string]string{"Authorization": "Bearer a b"}, code: "credentials_bad_format", msg: format},
		{name: "bad bearer", headers: map[string]string{"Authorization": "Bearer abc"}, code: "invalid_token", msg: "jwt malformed"},
		{name: "bearer header", headers: map[string]string{"Authorization": "Bearer " + good}},
		{name: "lowercase scheme", headers: map[string]string{"Authorization": "bearer " + good}},
	}
	runHandshake(t, fx.URL, cases)
}

// TestHandshakeSecretFunc checks -secret-func: the key depends on the
// token's id claim; key-function failures and the checks made before it.
func TestHandshakeSecretFunc(t *testing.T) {
	fx := harness.StartFixture(t, "-mode", "handshake", "-secret-func")
	withID := func(id any) jwt.MapClaims {
		c := userClaims("alice")
		if id == nil {
			delete(c, "id")
		} else {
			c["id"] = id
		}
		return c
	}
	cases := []hsCase{
		{name: "id 123", token: harness.Login(t, fx.URL, "valid_signature")},
		{name: "id 555", token: harness.Login(t, fx.URL, "bob"), code: "invalid_token", msg: "invalid signature"},
		{name: "unknown id", token: mint(t, withID(999)), code: "invalid_secret", msg: "secret or public key could not be obtained"},
		{name: "no id", token: mint(t, withID(nil)), code: "invalid_secret", msg: "secret or public key could not be obtained"},
		{name: "malformed", token: "abc", code: "invalid_token", msg: "jwt malformed"},
		{name: "alg none", token: unsigned(`{"alg":"none","typ":"JWT"}`, `{"id":123}`, ""), code: "invalid_token", msg: "jwt signature is required"},
		{name: "RS256", token: rsaToken(t, withID(123)), code: "invalid_token", msg: "invalid algorithm"},
	}
	runHandshake(t, fx.URL, cases)
}

// TestTokenSources checks every place a token can come from and their
// precedence: auth payload (plain and "Bearer "), Authorization header
// (any case of the scheme), query, cookie; auth beats query, query beats
// header, header beats cookie.
func TestTokenSources(t *testing.T) {
	fx := harness.StartFixture(t, "-mode", "handshake", "-cookie", "jwt")
	good := harness.Login(t, fx.URL, "alice")
	const bad = "abc" // refused with "jwt malformed"
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	cases := []hsCase{
		{name: "auth", auth: map[string]any{"token": good}},
		{name: "auth bearer", auth: map[string]any{"token": "Bearer " + good}},
		{name: "auth lowercase bearer", auth: map[string]any{"token": "bearer " + good}},
		{name: "header", headers: bearer(good)},
		{name: "header lowercase", headers: map[string]string{"Authorization": "bearer " + good}},
		{name: "header uppercase", headers: map[string]string{"Authorization": "BEARER " + good}},
		{name: "query", query: map[string]string{"token": good}},
		{name: "cookie", cookie: "theme=dark; jwt=" + good},
		{name: "auth beats query", auth: map[string]any{"token": good}, query: map[string]string{"token": bad}},
		{name: "auth beats query bad", auth: map[string]any{"token": bad}, query: map[string]string{"token": good},
			code: "invalid_token", msg: "jwt malformed"},
		{name: "query beats header", query: map[string]string{"token": good}, headers: bearer(bad)},
		{name: "query beats header bad", query: map[string]string{"token": bad}, headers: bearer(good),
			code: "invalid_token", msg: "jwt malformed"},
		{name: "header beats cookie", headers: bearer(good), cookie: "jwt=" + bad},
		{name: "header beats cookie bad", headers: bearer(bad), cookie: "jwt=" + good, code: "invalid_token", msg: "jwt malformed"},
		{name: "basic header and query", headers: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, query: map[string]string{"token": good}},
		{name: "other cookie", cookie: "token=" + good, code: "credentials_required", msg: "no token provided"},
	}
	runHandshake(t, fx.URL, cases)
}

// TestHandshakeNoReconnect checks that a v4 client refused at the handshake
// does not reconnect by itself, even with reconnection on.
func TestHandshakeNoReconnect(t *testing.T) {
	fx := harness.StartFixture(t, "-mode", "handshake")
	var ss []harness.Scenario
	for _, c := range combos[:2] {
		s := c.scenario(fx.URL, "abc",
			harness.Wait("connect_error", waitLong),
			harness.ExpectNo(1500*time.Millisecond, "connect", "connect_error", "io:reconnect_attempt", "io:open"))
		s.Reconnection, s.ReconnectionDelay, s.ReconnectionDelayMax = true, 100*time.Millisecond, 200*time.Millisecond
		ss = append(ss, s)
	}
	for i, r := range harness.RunBatch(t, ss) {
		t.Run(combos[i].String(), func(t *testing.T) {
			expectOK(t, r)
			expectRejected(t, r, "invalid_token", "jwt malformed")
			if r.ReconnectAttempts != 0 || r.Count("io:open") != 1 {
				t.Fatalf("the client reconnected after the rejection: %s", r)
			}
		})
	}
}

// TestNamespaces checks -mode namespaces: "/" is public, "/admin_hs" uses
// handshake auth, "/admin" the post-connect flow.
func TestNamespaces(t *testing.T) {
	fx := harness.StartFixture(t, "-mode", "namespaces", "-timeout", "5s")
	good := harness.Login(t, fx.URL, "alice")
	rejected := func(code, msg string) func(*testing.T, harness.Result) {
		return func(t *testing.T, r harness.Result) { expectRejected(t, r, code, msg) }
	}
	cases := []struct {
		name      string
		namespace string
		token     string
		steps     []harness.Step
		check     func(*testing.T, harness.Result)
	}{
		{name: "public", namespace: "/",
			steps: []harness.Step{harness.Wait("connect", waitLong), harness.Wait("hi", waitShort)},
			check: func(t *testing.T, r harness.Result) {
				expectOK(t, r)
				if got := argsOf(t, mustEvent(t, r, "hi")); len(got) != 0 {
					t.Fatalf("hi carries %v, want no arguments", got)
				}
			}},
		{name: "admin_hs without token", namespace: "/admin_hs",
			steps: []harness.Step{harness.WaitAny(waitLong, "connect", "connect_error", "error")},
			check: rejected("credentials_required", "no token provided")},
		{name: "admin_hs bad token", namespace: "/admin_hs", token: "abc",
			steps: []harness.Step{harness.WaitAny(waitLong, "connect", "connect_error", "error")},
			check: rejected("invalid_token", "jwt malformed")},
		{name: "admin_hs with token", namespace: "/admin_hs", token: good,
			steps: []harness.Step{harness.Wait("connect", waitLong), harness.Wait("hi admin", waitShort)},
			check: func(t *testing.T, r harness.Result) { expectOK(t, r) }},
		{name: "admin post-connect", namespace: "/admin",
			steps: []harness.Step{
				harness.Wait("connect", waitLong),
				harness.ExpectNo(300*time.Millisecond, "hi admin"),
				harness.Authenticate(good),
				harness.Wait("authenticated", waitShort),
				harness.Wait("hi admin", waitShort),
			},
			check: func(t *testing.T, r harness.Result) { expectOK(t, r) }},
	}
	var ss []harness.Scenario
	for _, tc := range cases {
		for _, c := range combos {
			s := c.scenario(fx.URL, tc.token, tc.steps...)
			s.Namespace = tc.namespace
			ss = append(ss, s)
		}
	}
	results := harness.RunBatch(t, ss)
	for i, tc := range cases {
		for j, c := range combos {
			t.Run(tc.name+"/"+c.String(), func(t *testing.T) { tc.check(t, results[i*len(combos)+j]) })
		}
	}
}
