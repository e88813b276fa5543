// Package interop_test runs the Go fixture (interop/fixture) against the
// real npm socket.io clients, v4 (socket.io-client 4.8.4) and v2
// (socket.io-client 2.5.0), over websocket and polling, through the harness,
// and checks the wire contract: event names, payloads, error codes and
// messages, disconnect reasons and timing bounds.
package interop_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/internal/leakcheck"
	"github.com/siojwt/siojwt/interop/harness"
	"go.uber.org/goleak"
)

// TestMain removes the fixture builds after the tests and checks that the Go
// client tests leave no goroutine behind (see leakcheck for what is
// ignored).
func TestMain(m *testing.M) {
	before := leakcheck.Options()
	code := m.Run()
	if err := harness.RemoveBuilds(); err != nil {
		fmt.Fprintln(os.Stderr, "removing the fixture builds:", err)
		if code == 0 {
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(before...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// secret is the fixture's HMAC secret.
const secret = "aaafoo super sercret"

// Generous bounds for a loaded 2-core machine.
const (
	waitLong  = 10 * time.Second
	waitShort = 5 * time.Second
)

// combo is one client version over one transport.
type combo struct {
	client    string
	transport string
}

func (c combo) String() string { return c.client + "/" + c.transport }

// v2 tells whether the client is socket.io-client 2.x, which has no auth
// payload and reports rejections with an "error" event.
func (c combo) v2() bool { return c.client == harness.ClientV2 }

// combos is every client version over every transport.
var combos = []combo{
	{harness.ClientV4, harness.Websocket},
	{harness.ClientV4, harness.Polling},
	{harness.ClientV2, harness.Websocket},
	{harness.ClientV2, harness.Polling},
}

// scenario is a Scenario for c against url, with the token (when not "") in
// the handshake the way such a client sends it: the auth payload for v4, the
// query string for v2.
func (c combo) scenario(url, token string, steps ...harness.Step) harness.Scenario {
	s := harness.Scenario{URL: url, Client: c.client, Transports: []string{c.transport}, Steps: steps}
	if token != "" {
		if c.v2() {
			s.Query = map[string]string{"token": token}
		} else {
			s.Auth = map[string]any{"token": token}
		}
	}
	return s
}

// mint signs claims with HS256 and the fixture's secret.
func mint(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	return mintWith(t, jwt.SigningMethodHS256, []byte(secret), claims)
}

func mintWith(t testing.TB, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// userClaims are the fixture's /login claims for sub, valid for an hour.
func userClaims(sub string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"first_name": "John", "last_name": "Doe", "email": "john@doe.com", "id": 123,
		"sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// unsigned joins a raw header and payload (JSON text, or anything) into a
// token with signature sig.
func unsigned(header, payload, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + sig
}

// rsaToken is a valid RS256 token, which an HMAC-keyed server refuses with
// "invalid algorithm".
func rsaToken(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return mintWith(t, jwt.SigningMethodRS256, k, claims)
}

// claimsOf decodes a token's claims without verifying it.
func claimsOf(t testing.TB, token string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, c); err != nil {
		t.Fatalf("decoding a token: %v", err)
	}
	return c
}

// jtiOf returns a token's jti claim, read without verification.
func jtiOf(t testing.TB, token string) string {
	t.Helper()
	jti, _ := claimsOf(t, token)["jti"].(string)
	if jti == "" {
		t.Fatal("token without jti")
	}
	return jti
}

// expOf returns a token's exp claim as a time.
func expOf(t testing.TB, token string) time.Time {
	t.Helper()
	exp, err := claimsOf(t, token).GetExpirationTime()
	if err != nil || exp == nil {
		t.Fatalf("token without exp (%v)", err)
	}
	return exp.Time
}

// errorData is the error object {message, code, type} as a client decodes it.
func errorData(code, msg string) map[string]any {
	return map[string]any{"message": msg, "code": code, "type": "UnauthorizedError"}
}

// decodeArg decodes argument i of e into a generic JSON value.
func decodeArg(t testing.TB, e harness.Event, i int) any {
	t.Helper()
	var v any
	if err := e.Decode(i, &v); err != nil {
		t.Fatalf("%s: %v", e, err)
	}
	return v
}

// expectRejected checks that the client was refused at the handshake with
// exactly code and msg: a v4 client sees connect_error with err.message ==
// msg and err.data == {message, code, type}; a v2 client sees "error" with
// the object itself. Neither connects.
func expectRejected(t testing.TB, r harness.Result, code, msg string) {
	t.Helper()
	if n := r.Count("connect"); n != 0 {
		t.Fatalf("connected %d times, want a rejection %s %q: %s", n, code, msg, r)
	}
	data := errorData(code, msg)
	if r.Client == harness.ClientV2 {
		e, ok := r.First("error")
		if !ok {
			t.Fatalf("no error event, want %s %q: %s", code, msg, r)
		}
		if got := decodeArg(t, e, 0); !reflect.DeepEqual(got, data) {
			t.Fatalf("error event carries %v, want %v", got, data)
		}
		return
	}
	e, ok := r.First("connect_error")
	if !ok {
		t.Fatalf("no connect_error, want %s %q: %s", code, msg, r)
	}
	want := map[string]any{"message": msg, "data": data}
	if got := decodeArg(t, e, 0); !reflect.DeepEqual(got, want) {
		t.Fatalf("connect_error carries %v, want %v", got, want)
	}
}

// expectUnauthorized checks that e is socketio-jwt's "unauthorized" event
// with exactly {message, inner: {message}, data: {message, code, type}} and
// an acknowledgement callback.
func expectUnauthorized(t testing.TB, e harness.Event, code, msg string) {
	t.Helper()
	want := map[string]any{"message": msg, "inner": map[string]any{"message": msg}, "data": errorData(code, msg)}
	if e.Name != "unauthorized" || len(e.Args) != 1 {
		t.Fatalf("got %s, want unauthorized with one argument", e)
	}
	if got := decodeArg(t, e, 0); !reflect.DeepEqual(got, want) {
		t.Fatalf("unauthorized carries %v, want %v", got, want)
	}
	if !e.Ack {
		t.Fatalf("unauthorized came without an acknowledgement callback: %s", e)
	}
}

// mustEvent returns the first event called name, failing when there is none.
func mustEvent(t testing.TB, r harness.Result, name string) harness.Event {
	t.Helper()
	e, ok := r.First(name)
	if !ok {
		t.Fatalf("no %s event: %s", name, r)
	}
	return e
}

// expectOK fails the test when a step failed.
func expectOK(t testing.TB, r harness.Result) {
	t.Helper()
	if !r.OK {
		t.Fatal(r)
	}
}

// expectServerDisconnect checks that the client's first disconnect came
// from the server ("io server disconnect").
func expectServerDisconnect(t testing.TB, r harness.Result) {
	t.Helper()
	if got := r.DisconnectReason(); got != "io server disconnect" {
		t.Fatalf("disconnect reason %q, want %q: %s", got, "io server disconnect", r)
	}
}

// argsOf returns the arguments of e as generic JSON values.
func argsOf(t testing.TB, e harness.Event) []any {
	t.Helper()
	out := make([]any, len(e.Args))
	for i := range e.Args {
		out[i] = decodeArg(t, e, i)
	}
	return out
}

// timedRun is a client run with the wall-clock times around it, so that
// the absolute time of its events can be bounded.
type timedRun struct {
	harness.Result
	start, end time.Time
}

// when bounds the wall-clock time of e: the driver's clock starts after
// start, and the run (DurationMS on that clock) ended before end.
func (r timedRun) when(e harness.Event) (lo, hi time.Time) {
	lo = r.start.Add(e.At())
	hi = r.end.Add(-time.Duration(r.DurationMS) * time.Millisecond).Add(e.At())
	return lo, hi
}

// expectAround checks that e happened at at (wall clock), no sooner than
// early before it and no later than late after it, as far as the run's
// timing lets one tell.
func (r timedRun) expectAround(t testing.TB, e harness.Event, at time.Time, early, late time.Duration) {
	t.Helper()
	lo, hi := r.when(e)
	if hi.Before(at.Add(-early)) {
		t.Fatalf("%s came at the latest %v before %v, want at most %v early", e, at.Sub(hi), at.Format("15:04:05.000"), early)
	}
	if lo.After(at.Add(late)) {
		t.Fatalf("%s came at the earliest %v after %v, want at most %v late", e, lo.Sub(at), at.Format("15:04:05.000"), late)
	}
}

// post sends body as JSON to the fixture's path and returns the status.
func post(t testing.TB, baseURL, path string, body any) int {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	resp, err := c.Post(baseURL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// revoke revokes through the fixture's POST /revoke.
func revoke(t testing.TB, baseURL string, body map[string]string) {
	t.Helper()
	if code := post(t, baseURL, "/revoke", body); code != http.StatusNoContent {
		t.Fatalf("POST %s/revoke %v: status %d, want 204", baseURL, body, code)
	}
}

// waitLog waits until the fixture (started with -v) has logged a line
// holding every one of parts n times.
func waitLog(t testing.TB, p *harness.Process, n int, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		got := 0
		for _, line := range strings.Split(p.Stderr(), "\n") {
			all := true
			for _, part := range parts {
				if !strings.Contains(line, part) {
					all = false
					break
				}
			}
			if all {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fixture logged %d lines with %q within %v, want %d", got, parts, waitLong, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// authenticatedLog is what the fixture logs (with -v) when sub (letters,
// digits and dashes) authenticates.
func authenticatedLog(sub string) []string {
	return []string{`msg="siojwt: authenticated"`, " sub=" + sub + " "}
}

// clientCase is one scenario run with each client version and transport
// (or those in only), and the check of each result.
type clientCase struct {
	name string
	// only restricts the case to these combinations; nil means all.
	only []combo
	// token goes in the handshake (see combo.scenario).
	token string
	// setup adjusts the scenario (reconnection, auth callback...).
	setup func(c combo, s *harness.Scenario)
	steps []harness.Step
	check func(t *testing.T, c combo, r harness.Result)
}

// runCases runs every case at once in one driver process against url, then
// checks each result in a subtest named after the case and combination.
func runCases(t *testing.T, url string, cases []clientCase) {
	t.Helper()
	type slot struct {
		tc clientCase
		c  combo
	}
	var slots []slot
	var ss []harness.Scenario
	for _, tc := range cases {
		cs := tc.only
		if cs == nil {
			cs = combos
		}
		for _, c := range cs {
			s := c.scenario(url, tc.token, tc.steps...)
			if tc.setup != nil {
				tc.setup(c, &s)
			}
			slots, ss = append(slots, slot{tc, c}), append(ss, s)
		}
	}
	for i, r := range harness.RunBatch(t, ss) {
		sl := slots[i]
		t.Run(sl.tc.name+"/"+sl.c.String(), func(t *testing.T) { sl.tc.check(t, sl.c, r) })
	}
}

// between returns the time from the first event called from to the next
// event called to.
func between(t testing.TB, r harness.Result, from, to string) time.Duration {
	t.Helper()
	i := slices.IndexFunc(r.Events, func(e harness.Event) bool { return e.Name == from })
	if i < 0 {
		t.Fatalf("no %s event: %s", from, r)
	}
	for _, e := range r.Events[i+1:] {
		if e.Name == to {
			return e.At() - r.Events[i].At()
		}
	}
	t.Fatalf("no %s after %s: %s", to, from, r)
	return 0
}
