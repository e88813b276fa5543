package harness_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/siojwt/siojwt/interop/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := harness.RemoveBuilds(); err != nil {
		fmt.Fprintln(os.Stderr, "removing builds:", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

const secret = "aaafoo super sercret"

var (
	clients    = []string{harness.ClientV4, harness.ClientV2}
	transports = []string{harness.Websocket, harness.Polling}
)

// errObj is the error object of the wire contract.
func errObj(message, code string) map[string]any {
	return map[string]any{"message": message, "code": code, "type": "UnauthorizedError"}
}

// arg decodes argument i of e into a generic JSON value.
func arg(t *testing.T, r harness.Result, e harness.Event, i int) any {
	t.Helper()
	var v any
	if err := e.Decode(i, &v); err != nil {
		t.Fatalf("%v\n%v", err, r)
	}
	return v
}

// mustOK fails the test unless every step of r passed.
func mustOK(t *testing.T, r harness.Result) {
	t.Helper()
	if !r.OK {
		t.Fatalf("scenario failed: %v", r)
	}
}

// mustEvent returns the first event called name.
func mustEvent(t *testing.T, r harness.Result, name string) harness.Event {
	t.Helper()
	e, ok := r.First(name)
	if !ok {
		t.Fatalf("no %s event: %v", name, r)
	}
	return e
}

// checkRejected asserts that r shows the handshake rejection the original produces: for v4
// connect_error {message, data}; for v2 an error event with the object itself.
func checkRejected(t *testing.T, r harness.Result, message, code string) {
	t.Helper()
	want := errObj(message, code)
	if r.Count("connect") != 0 {
		t.Fatalf("connected although rejected: %v", r)
	}
	switch r.Client {
	case harness.ClientV4:
		e := mustEvent(t, r, "connect_error")
		got := arg(t, r, e, 0)
		if w := map[string]any{"message": message, "data": want}; !reflect.DeepEqual(got, w) {
			t.Fatalf("connect_error argument = %v, want %v\n%v", got, w, r)
		}
	case harness.ClientV2:
		e := mustEvent(t, r, "error")
		if got := arg(t, r, e, 0); !reflect.DeepEqual(got, want) {
			t.Fatalf("error argument = %v, want %v\n%v", got, want, r)
		}
	}
	data, ok := r.Rejection()
	if !ok || data != (harness.ErrorData{Message: message, Code: code, Type: "UnauthorizedError"}) {
		t.Fatalf("Rejection() = %+v, %v\n%v", data, ok, r)
	}
}

func connectOrReject() harness.Step {
	return harness.WaitAny(5*time.Second, "connect", "connect_error", "error")
}

func echo(msg string) []harness.Step {
	return []harness.Step{
		harness.Emit("echo", msg),
		harness.Wait("echo-response", 5*time.Second),
	}
}

func checkEcho(t *testing.T, r harness.Result, msg string) {
	t.Helper()
	mustOK(t, r)
	if got := mustEvent(t, r, "echo-response").ArgString(0); got != msg {
		t.Fatalf("echo-response %q, want %q\n%v", got, msg, r)
	}
}

func mint(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestReferenceHandshake records socketio-jwt's handshake mode on socket.io 4.
func TestReferenceHandshake(t *testing.T) {
	t.Parallel()
	srv := harness.StartReference(t, "-mode", "handshake")
	token := harness.Login(t, srv.URL, "bob")

	for _, client := range clients {
		for _, tr := range transports {
			base := harness.Scenario{URL: srv.URL, Client: client, Transports: []string{tr}}
			t.Run(client+"/"+tr+"/no token", func(t *testing.T) {
				s := base
				s.Reconnection = true
				s.ReconnectionDelay = 50 * time.Millisecond
				s.Steps = []harness.Step{connectOrReject(), harness.ExpectNo(300*time.Millisecond, "connect", "io:reconnect_attempt")}
				r := harness.RunClient(t, s)
				mustOK(t, r)
				checkRejected(t, r, "no token provided", "credentials_required")
			})
			t.Run(client+"/"+tr+"/query token", func(t *testing.T) {
				s := base
				s.Query = map[string]string{"token": token}
				s.Steps = append([]harness.Step{harness.Wait("connect", 5*time.Second)}, echo("hi "+client)...)
				r := harness.RunClient(t, s)
				checkEcho(t, r, "hi "+client)
				if r.Transport != tr || !r.Connected || r.ID == "" {
					t.Fatalf("transport %q connected %v id %q, want %s, connected, an id\n%v", r.Transport, r.Connected, r.ID, tr, r)
				}
			})
			t.Run(client+"/"+tr+"/bad signature", func(t *testing.T) {
				s := base
				s.Query = map[string]string{"token": token + "x"}
				s.Steps = []harness.Step{connectOrReject()}
				r := harness.RunClient(t, s)
				mustOK(t, r)
				checkRejected(t, r, "invalid signature", "invalid_token")
			})
		}
	}

	v4 := harness.Scenario{URL: srv.URL, Client: harness.ClientV4, Transports: []string{harness.Websocket}}
	cases := []struct {
		name    string
		auth    map[string]any
		query   map[string]string
		headers map[string]string
		message string // "" means the connection is accepted
		code    string
	}{
		{name: "auth payload is not read", auth: map[string]any{"token": token},
			message: "no token provided", code: "credentials_required"},
		{name: "bearer header", headers: map[string]string{"Authorization": "Bearer " + token}},
		{name: "header in one part", headers: map[string]string{"Authorization": "Bearer" + token},
			message: "Format is Authorization: Bearer [token]", code: "credentials_bad_format"},
		{name: "other scheme is ignored", headers: map[string]string{"Authorization": "Basic " + token},
			message: "no token provided", code: "credentials_required"},
		{name: "query wins over header", query: map[string]string{"token": "a.b"},
			headers: map[string]string{"Authorization": "Bearer " + token},
			message: "jwt malformed", code: "invalid_token"},
		{name: "expired", query: map[string]string{"token": mint(t, jwt.MapClaims{"id": 123, "exp": time.Now().Add(-time.Minute).Unix()})},
			message: "jwt expired", code: "invalid_token"},
		{name: "alg none", query: map[string]string{"token": "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpZCI6MTIzfQ."},
			message: "jwt signature is required", code: "invalid_token"},
	}
	for _, tc := range cases {
		t.Run("v4/websocket/"+tc.name, func(t *testing.T) {
			s := v4
			s.Auth, s.Query, s.Headers = tc.auth, tc.query, tc.headers
			s.Steps = []harness.Step{connectOrReject()}
			r := harness.RunClient(t, s)
			mustOK(t, r)
			if tc.message == "" {
				mustEvent(t, r, "connect")
				return
			}
			checkRejected(t, r, tc.message, tc.code)
		})
	}
}

// TestReferenceSecretFunc records the per-token key of the fixture's -secret-func flag.
func TestReferenceSecretFunc(t *testing.T) {
	t.Parallel()
	srv := harness.StartReference(t, "-secret-func")
	for _, tc := range []struct {
		user, message string
	}{
		{user: "valid_signature"},
		{user: "someone", message: "invalid signature"},
	} {
		t.Run(tc.user, func(t *testing.T) {
			r := harness.RunClient(t, harness.Scenario{
				URL: srv.URL, Transports: []string{harness.Websocket},
				Query: map[string]string{"token": harness.Login(t, srv.URL, tc.user)},
				Steps: []harness.Step{connectOrReject()},
			})
			mustOK(t, r)
			if tc.message == "" {
				mustEvent(t, r, "connect")
				return
			}
			checkRejected(t, r, tc.message, "invalid_token")
		})
	}
}

// TestReferenceConnect records socketio-jwt's post-connect mode on socket.io 4.
func TestReferenceConnect(t *testing.T) {
	t.Parallel()
	srv := harness.StartReference(t, "-mode", "connect", "-timeout", "1s")
	token := harness.Login(t, srv.URL, "bob")
	connect := harness.Wait("connect", 5*time.Second)

	for _, client := range clients {
		for _, tr := range transports {
			base := harness.Scenario{URL: srv.URL, Client: client, Transports: []string{tr}}
			t.Run(client+"/"+tr+"/authenticate", func(t *testing.T) {
				s := base
				s.Steps = append([]harness.Step{connect, harness.Authenticate(token), harness.Wait("authenticated", 5*time.Second)}, echo("hi")...)
				r := harness.RunClient(t, s)
				checkEcho(t, r, "hi")
				if e := mustEvent(t, r, "authenticated"); len(e.Args) != 0 {
					t.Fatalf("authenticated carries arguments: %v", r)
				}
			})
			t.Run(client+"/"+tr+"/bad token", func(t *testing.T) {
				s := base
				s.Steps = []harness.Step{connect, harness.Authenticate(token + "x"), harness.Wait("unauthorized", 5*time.Second)}
				if client == harness.ClientV4 && tr == harness.Websocket {
					// Without the ack the original never disconnects (its auth timeout is
					// cleared once authenticate arrives).
					s.Steps = append(s.Steps, harness.ExpectNo(1300*time.Millisecond, "disconnect"))
				}
				s.Steps = append(s.Steps, harness.AckLast(), harness.Wait("disconnect", 5*time.Second))
				r := harness.RunClient(t, s)
				mustOK(t, r)
				e := mustEvent(t, r, "unauthorized")
				want := map[string]any{
					"message": "invalid signature",
					"inner":   map[string]any{"message": "invalid signature"},
					"data":    errObj("invalid signature", "invalid_token"),
				}
				if got := arg(t, r, e, 0); !reflect.DeepEqual(got, want) || len(e.Args) != 1 || !e.Ack {
					t.Fatalf("unauthorized = %v (ack %v), want %v with an ack\n%v", got, e.Ack, want, r)
				}
				var u harness.Unauthorized
				if err := e.Decode(0, &u); err != nil || u.Data.Code != "invalid_token" || u.Inner.Message != "invalid signature" {
					t.Fatalf("typed decode: %+v, %v", u, err)
				}
				if got := r.DisconnectReason(); got != "io server disconnect" {
					t.Fatalf("disconnect reason %q\n%v", got, r)
				}
			})
			t.Run(client+"/"+tr+"/no authenticate", func(t *testing.T) {
				s := base
				s.Steps = []harness.Step{connect, harness.Wait("disconnect", 5*time.Second)}
				r := harness.RunClient(t, s)
				mustOK(t, r)
				if got := r.DisconnectReason(); got != "io server disconnect" {
					t.Fatalf("disconnect reason %q\n%v", got, r)
				}
				after := mustEvent(t, r, "disconnect").At() - mustEvent(t, r, "connect").At()
				if after < 900*time.Millisecond || after > 3*time.Second {
					t.Fatalf("disconnected %v after connect, want about 1s\n%v", after, r)
				}
			})
		}
	}

	for _, tc := range []struct {
		name string
		args []any
	}{
		{name: "token is a number", args: []any{map[string]any{"token": 5}}},
		{name: "no payload", args: []any{}},
	} {
		t.Run("v4/websocket/"+tc.name, func(t *testing.T) {
			r := harness.RunClient(t, harness.Scenario{
				URL: srv.URL, Transports: []string{harness.Websocket},
				Steps: []harness.Step{connect, {Emit: "authenticate", Args: tc.args}, harness.Wait("unauthorized", 5*time.Second)},
			})
			mustOK(t, r)
			want := map[string]any{
				"message": "invalid token datatype",
				"inner":   map[string]any{"message": "invalid token datatype"},
				"data":    errObj("invalid token datatype", "invalid_token"),
			}
			if got := arg(t, r, mustEvent(t, r, "unauthorized"), 0); !reflect.DeepEqual(got, want) {
				t.Fatalf("unauthorized = %v, want %v", got, want)
			}
		})
	}

	t.Run("v4/websocket/events before authentication", func(t *testing.T) {
		steps := append([]harness.Step{connect}, echo("early")...)
		steps[len(steps)-1] = harness.ExpectNo(300*time.Millisecond, "echo-response")
		r := harness.RunClient(t, harness.Scenario{URL: srv.URL, Transports: []string{harness.Websocket}, Steps: steps})
		mustOK(t, r)
	})
}

// TestReferenceBroadcast records that the original on socket.io 4 does not keep
// unauthenticated sockets out of namespace broadcasts.
func TestReferenceBroadcast(t *testing.T) {
	t.Parallel()
	srv := harness.StartReference(t, "-mode", "connect", "-timeout", "8s")
	token := harness.Login(t, srv.URL, "bob")
	connect := harness.Wait("connect", 10*time.Second)
	shout := harness.Wait("shout", 10*time.Second)
	authenticated := harness.Wait("authenticated", 5*time.Second)

	listener := harness.StartClient(t, harness.Scenario{URL: srv.URL, Steps: []harness.Step{
		connect, harness.Authenticate(token), authenticated, shout}})
	anonymous := harness.StartClient(t, harness.Scenario{URL: srv.URL, Client: harness.ClientV2, Steps: []harness.Step{
		connect, shout}})
	shouter := harness.StartClient(t, harness.Scenario{URL: srv.URL, Transports: []string{harness.Websocket}, Steps: []harness.Step{
		connect, harness.Authenticate(token), authenticated, harness.Sleep(2 * time.Second), harness.Emit("shout", "hey"), shout}})

	for name, c := range map[string]*harness.ClientRun{"listener": listener, "anonymous": anonymous, "shouter": shouter} {
		r := c.Result()
		if !r.OK {
			t.Errorf("%s: %v", name, r)
			continue
		}
		if got := mustEvent(t, r, "shout").ArgString(0); got != "hey" {
			t.Errorf("%s got shout %q", name, got)
		}
	}
}

// TestReferenceNamespaces records the namespaces mode: public "/", post-connect "/admin",
// handshake "/admin_hs".
func TestReferenceNamespaces(t *testing.T) {
	t.Parallel()
	srv := harness.StartReference(t, "-mode", "namespaces", "-timeout", "1s")
	token := harness.Login(t, srv.URL, "bob")
	for _, client := range clients {
		base := harness.Scenario{URL: srv.URL, Client: client}
		t.Run(client+"/public", func(t *testing.T) {
			s := base
			s.Steps = []harness.Step{harness.Wait("connect", 5*time.Second), harness.Wait("hi", 5*time.Second)}
			mustOK(t, harness.RunClient(t, s))
		})
		t.Run(client+"/admin", func(t *testing.T) {
			s := base
			s.Namespace = "/admin"
			s.Steps = []harness.Step{harness.Wait("connect", 5*time.Second), harness.Authenticate(token),
				harness.Wait("authenticated", 5*time.Second), harness.Wait("hi admin", 5*time.Second)}
			mustOK(t, harness.RunClient(t, s))
		})
		t.Run(client+"/admin without authenticate", func(t *testing.T) {
			s := base
			s.Namespace = "/admin"
			s.Steps = []harness.Step{harness.Wait("connect", 5*time.Second), harness.Wait("disconnect", 5*time.Second)}
			r := harness.RunClient(t, s)
			mustOK(t, r)
			if got := r.DisconnectReason(); got != "io server disconnect" {
				t.Fatalf("disconnect reason %q\n%v", got, r)
			}
		})
		t.Run(client+"/admin_hs", func(t *testing.T) {
			s := base
			s.Namespace = "/admin_hs"
			s.Query = map[string]string{"token": token}
			s.Steps = []harness.Step{harness.Wait("connect", 5*time.Second), harness.Wait("hi admin", 5*time.Second)}
			mustOK(t, harness.RunClient(t, s))
		})
		t.Run(client+"/admin_hs without token", func(t *testing.T) {
			s := base
			s.Namespace = "/admin_hs"
			s.Steps = []harness.Step{connectOrReject()}
			r := harness.RunClient(t, s)
			mustOK(t, r)
			checkRejected(t, r, "no token provided", "credentials_required")
		})
	}
}

// TestReferenceThream records @thream/socketio-jwt 3.1.4 in handshake mode.
func TestReferenceThream(t *testing.T) {
	t.Parallel()
	srv := harness.StartReference(t, "-impl", "thream")
	token := harness.Login(t, srv.URL, "bob")
	for _, tc := range []struct {
		name    string
		auth    map[string]any
		message string
		code    string
	}{
		{name: "bearer", auth: map[string]any{"token": "Bearer " + token}},
		{name: "plain token", auth: map[string]any{"token": token},
			message: "Format is Authorization: Bearer [token]", code: "credentials_bad_format"},
		{name: "bad signature", auth: map[string]any{"token": "Bearer " + token + "x"},
			message: "Unauthorized: Token is missing or invalid Bearer", code: "invalid_token"},
		{name: "no token", message: "no token provided", code: "credentials_required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := harness.RunClient(t, harness.Scenario{URL: srv.URL, Transports: []string{harness.Websocket},
				Auth: tc.auth, Steps: []harness.Step{connectOrReject()}})
			mustOK(t, r)
			if tc.message == "" {
				mustEvent(t, r, "connect")
				return
			}
			checkRejected(t, r, tc.message, tc.code)
		})
	}
	t.Run("auth callback on reconnect", func(t *testing.T) {
		r := harness.RunClient(t, harness.Scenario{URL: srv.URL, Transports: []string{harness.Websocket},
			AuthFn: []any{token, "Bearer " + token},
			Steps: []harness.Step{harness.Wait("connect_error", 5*time.Second), harness.Connect(),
				harness.Wait("connect", 5*time.Second)}})
		mustOK(t, r)
		if got := r.Names(); !reflect.DeepEqual(got, []string{"connect_error", "connect"}) {
			t.Fatalf("events %v\n%v", got, r)
		}
	})
}

// TestRunMany checks the aggregate of many sockets that never authenticate.
func TestRunMany(t *testing.T) {
	t.Parallel()
	srv := harness.StartReference(t, "-mode", "connect", "-timeout", "1s")
	m := harness.RunMany(t, 30, harness.Scenario{URL: srv.URL, Transports: []string{harness.Websocket},
		Steps: []harness.Step{harness.Wait("connect", 10*time.Second), harness.Wait("disconnect", 10*time.Second)}})
	if m.N != 30 || m.OK != 30 || m.Failed != 0 || m.Outcomes["disconnect:io server disconnect"] != 30 || m.Events["connect"] != 30 {
		t.Fatalf("aggregate %v", m)
	}
	if m.TerminalAtP50MS < 900 || m.TerminalAtMaxMS > 10000 || m.TerminalAtMaxMS < m.TerminalAtP50MS {
		t.Fatalf("terminal times %v", m)
	}
}

// TestReconnectAttempts checks that reconnection attempts are counted, for both clients.
func TestReconnectAttempts(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	for _, client := range clients {
		t.Run(client, func(t *testing.T) {
			r := harness.RunClient(t, harness.Scenario{URL: url, Client: client, Reconnection: true,
				ReconnectionAttempts: 2, ReconnectionDelay: 20 * time.Millisecond, ReconnectionDelayMax: 50 * time.Millisecond,
				Steps: []harness.Step{harness.Wait("io:reconnect_failed", 10*time.Second)}})
			mustOK(t, r)
			if r.ReconnectAttempts != 2 || r.Count("io:reconnect_attempt") != 2 || r.Count("connect_error") == 0 || r.Transport != "" {
				t.Fatalf("want 2 attempts, connect_error, no transport: %v", r)
			}
			var ce harness.ConnectError
			if err := mustEvent(t, r, "connect_error").Decode(0, &ce); err != nil || ce.Message == "" || ce.Data != nil {
				t.Fatalf("connect_error %+v, %v", ce, err)
			}
		})
	}
}

func TestScenarioJSON(t *testing.T) {
	s := harness.Scenario{
		URL: "http://127.0.0.1:1", Client: harness.ClientV2, Query: map[string]string{"token": "t"},
		Cookie: "a=b", ReconnectionDelay: 1500 * time.Millisecond, Deadline: 3 * time.Second,
		Steps: []harness.Step{
			harness.Wait("connect", 2*time.Second),
			harness.WaitAny(time.Second, "a", "b"),
			harness.Authenticate("tok"),
			harness.EmitAck("echo", time.Second, 1),
			harness.Sleep(250 * time.Millisecond),
			harness.AckLast(),
			harness.AckLastOf("x", "y"),
			harness.Disconnect(),
			harness.Connect(),
			harness.ExpectNo(300*time.Millisecond, "echo-response"),
		},
	}
	got, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"url":"http://127.0.0.1:1","client":"v2","query":{"token":"t"},"cookie":"a=b","reconnection":false,` +
		`"reconnectionDelay":1500,"deadline":3000,"steps":[{"timeout":2000,"wait":["connect"]},` +
		`{"timeout":1000,"wait":["a","b"]},{"args":[{"token":"tok"}],"emit":"authenticate"},` +
		`{"ack":true,"args":[1],"emit":"echo","timeout":1000},{"sleep":250},{"ackLast":"unauthorized"},` +
		`{"ackLast":"x","args":["y"]},{"disconnect":true},{"connect":true},{"expectNo":["echo-response"],"for":300}]}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if _, err := json.Marshal(harness.Step{Wait: []string{"a"}, Emit: "b"}); err == nil {
		t.Fatal("a step with two kinds encoded without error")
	}
}

func TestResultHelpers(t *testing.T) {
	var r harness.Result
	line := `{"client":"v4","ok":false,"failedStep":1,"failure":"wait x timed out after 5ms","events":[` +
		`{"name":"io:open","at":1,"args":[]},` +
		`{"name":"connect_error","at":2,"args":[{"message":"m","data":{"message":"m","code":"c","type":"UnauthorizedError"}}]},` +
		`{"name":"disconnect","at":3,"args":["io server disconnect"]},` +
		`{"name":"unauthorized","at":4,"args":[{}],"ack":true}],` +
		`"reconnectAttempts":0,"transport":"polling","connected":false,"id":"","durationMs":9}`
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	if got := r.Names(); !reflect.DeepEqual(got, []string{"connect_error", "disconnect", "unauthorized"}) {
		t.Errorf("Names() = %v", got)
	}
	if d, ok := r.Rejection(); !ok || d != (harness.ErrorData{Message: "m", Code: "c", Type: "UnauthorizedError"}) {
		t.Errorf("Rejection() = %+v, %v", d, ok)
	}
	if got := r.DisconnectReason(); got != "io server disconnect" {
		t.Errorf("DisconnectReason() = %q", got)
	}
	if e, ok := r.Last("unauthorized"); !ok || !e.Ack || e.At() != 4*time.Millisecond {
		t.Errorf("Last(unauthorized) = %v, %v", e, ok)
	}
	if _, ok := r.First("connect"); ok || r.Count("disconnect") != 1 {
		t.Error("First/Count")
	}
	if s := r.String(); !strings.Contains(s, "step 1 failed: wait x timed out") || !strings.Contains(s, `disconnect@3ms("io server disconnect")`) {
		t.Errorf("String() = %s", s)
	}
	if err := (harness.Event{Name: "x"}).Decode(0, new(any)); err == nil {
		t.Error("Decode of a missing argument succeeded")
	}
}

func TestModuleRoot(t *testing.T) {
	root := harness.ModuleRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.Contains(string(b), "module "+harness.ModulePath) {
		t.Fatalf("ModuleRoot() = %s: %v", root, err)
	}
}

const listenerPkg = "./interop/harness/testdata/listener"

func TestStartProcess(t *testing.T) {
	t.Parallel()
	bin := harness.Build(t, listenerPkg)
	if again := harness.Build(t, listenerPkg); again != bin {
		t.Fatalf("second Build gave %s, first %s", again, bin)
	}
	p := harness.StartProcess(t, bin, "-addr", "127.0.0.1:0")
	if !strings.HasPrefix(p.URL, "http://127.0.0.1:") {
		t.Fatalf("URL = %q", p.URL)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(p.URL + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello\n" {
		t.Fatalf("GET /hello = %q", body)
	}
	if !strings.Contains(p.Stderr(), "listener: starting") || !strings.Contains(p.Stdout(), "listening on ") {
		t.Fatalf("output not captured: stderr %q stdout %q", p.Stderr(), p.Stdout())
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Kill")
	}
}

// fakeTB records what the harness reports instead of failing the real test.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	fatals   []string
	errs     []string
	cleanups []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Logf(string, ...any) {}

func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.fatals)+len(f.errs) > 0
}

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

// runFake runs fn against a fakeTB on its own goroutine (Fatalf ends it), then the cleanups.
func runFake(t *testing.T, fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	return f
}

func TestHarnessReportsFailures(t *testing.T) {
	bin := harness.Build(t, listenerPkg)
	for _, tc := range []struct {
		name      string
		run       func(tb testing.TB)
		wantFatal string
		wantError string
	}{
		{
			name:      "exit before listening",
			run:       func(tb testing.TB) { harness.StartProcess(tb, bin, "-exit") },
			wantFatal: "listener: told to exit",
		},
		{
			name:      "not a program",
			run:       func(tb testing.TB) { harness.StartProcess(tb, filepath.Join(t.TempDir(), "none")) },
			wantFatal: "harness: start",
		},
		{
			name: "exit during the test",
			run: func(tb testing.TB) {
				p := harness.StartProcess(tb, bin, "-exit-after", "10ms")
				<-p.Done()
			},
			wantError: "exited on its own",
		},
		{
			name: "expected exit",
			run: func(tb testing.TB) {
				p := harness.StartProcess(tb, bin, "-exit-after", "10ms")
				p.ExpectExit()
				<-p.Done()
				if p.Err() == nil {
					tb.Errorf("exit status 4 reported as nil")
				}
			},
		},
		{
			name:      "data race report",
			run:       func(tb testing.TB) { harness.StartProcess(tb, bin, "-fake-race") },
			wantError: "data race",
		},
		{
			name: "v2 with an auth payload",
			run: func(tb testing.TB) {
				harness.RunClient(tb, harness.Scenario{URL: "http://127.0.0.1:1", Client: harness.ClientV2, Auth: map[string]any{"token": "x"}})
			},
			wantFatal: "auth is a v4 option",
		},
		{
			name: "login refused",
			run: func(tb testing.TB) {
				p := harness.StartProcess(tb, bin)
				harness.Login(tb, p.URL, "bob")
			},
			wantFatal: "404",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := runFake(t, tc.run)
			check := func(kind string, got []string, want string) {
				if want == "" {
					if len(got) != 0 {
						t.Errorf("unexpected %s: %q", kind, got)
					}
					return
				}
				if len(got) != 1 || !strings.Contains(got[0], want) {
					t.Errorf("%s = %q, want one containing %q", kind, got, want)
				}
			}
			check("fatal", f.fatals, tc.wantFatal)
			check("errors", f.errs, tc.wantError)
		})
	}
}

func TestRequireNodeFailsWithoutNode(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	f := runFake(t, func(tb testing.TB) { harness.RequireNode(tb) })
	if len(f.fatals) != 1 || !strings.Contains(f.fatals[0], "no node on PATH") {
		t.Fatalf("fatals = %q", f.fatals)
	}
}
