package siojwt

import (
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/clock"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// TestIsolation proves that a socket which has not authenticated receives
// none of the namespace's broadcasts, by every broadcast path, and hears
// them once it has authenticated. (Broadcasts with acknowledgements take
// the same exclusion, isolate.go's BroadcastWithAck; they are left out here
// because the server library's acknowledgement timer races with its own
// broadcast under -race.)
func TestIsolation(t *testing.T) {
	var nsp socket.Namespace
	ts := newTestServer(t, nil, nil, func(ts *testServer) {
		nsp = ts.io.Sockets()
		if err := ts.auth.ProtectPostConnect(nsp, func(s *socket.Socket) {
			_ = s.On("relay", func(args ...any) {
				_ = s.Broadcast().Emit("news", "from-handler-broadcast")
				_ = s.To("lobby").Emit("news", "from-handler-room")
			})
		}, NamespaceAuthenticateTimeout(time.Minute)); err != nil {
			t.Fatal(err)
		}
		// The application puts every socket in a room as soon as it connects.
		_ = nsp.On("connection", func(args ...any) { args[0].(*socket.Socket).Join("lobby") })
	})
	tok := token(t, time.Now(), time.Hour, nil)
	a := authenticateOnce(t, ts.url, "/", tok, "news")
	b := authenticateOnce(t, ts.url, "/", tok, "news")
	p := dialConnected(t, ts.url, "/", nil, "news")

	send := []func(){
		func() { ts.io.Emit("news", "io.Emit") },
		func() { _ = nsp.Emit("news", "nsp.Emit") },
		func() { _ = nsp.To("lobby").Emit("news", "To(room).Emit") },
		func() { _ = nsp.Except("nobody").Emit("news", "Except.Emit") },
		func() { _ = ts.io.Local().Emit("news", "Local.Emit") },
		func() { _ = a.s.Emit("relay") }, // two broadcasts from another socket's handler
	}
	for _, f := range send {
		f()
	}
	want := len(send) + 1
	eventually(t, 5*time.Second, "authenticated sockets to hear every broadcast", func() bool {
		return b.count("news") == want
	})
	time.Sleep(200 * time.Millisecond)
	if n := p.count("news"); n != 0 {
		t.Fatalf("the unauthenticated socket heard %d broadcasts", n)
	}
	// Events of the pending socket reach no handler.
	_ = p.s.Emit("relay")
	time.Sleep(200 * time.Millisecond)
	if b.count("news") != want {
		t.Fatal("an event of an unauthenticated socket reached a handler")
	}
	// Once authenticated it hears them.
	_ = p.s.Emit("authenticate", map[string]any{"token": tok})
	p.wait(t, "authenticated", 5*time.Second)
	_ = nsp.Emit("news", "after")
	p.wait(t, "news", 5*time.Second)
}

// TestExpiryAndRefreshFakeClock drives the expiry timer with a fake clock:
// warning, refresh (one deadline however often), then the cut.
func TestExpiryAndRefreshFakeClock(t *testing.T) {
	start := time.Now()
	clk := clock.NewFake(start)
	ts := newTestServer(t, clk, []Option{WithExpiryWarning(10 * time.Second)}, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets()); err != nil {
			t.Fatal(err)
		}
	})
	c := dialConnected(t, ts.url, "/", map[string]any{"token": token(t, start, time.Minute, nil)})
	var ss *session
	eventually(t, 2*time.Second, "the session's expiry timer", func() bool {
		ss = sessionOf(ts.auth, c.s.Id())
		if ss == nil {
			return false
		}
		return ts.auth.scheduled(ss)
	})

	clk.Advance(50 * time.Second)
	w := c.wait(t, "token_expiring", 5*time.Second)
	if m, _ := w.args[0].(map[string]any); m["expiresIn"] == nil {
		t.Fatalf("warning payload %v", w.args)
	}
	for i := 0; i < 3; i++ { // refresh a few times: still one timer
		_ = c.s.Emit("authenticate", map[string]any{"token": token(t, clk.Now(), 2*time.Minute, nil)})
		c.wait(t, "authenticated", 5*time.Second)
	}
	if got, ok := ts.auth.Session(ss.s); !ok || !got.AuthenticatedAt.Equal(clk.Now()) || !got.ExpiresAt.Equal(clk.Now().Add(2*time.Minute).Truncate(time.Second)) {
		t.Fatalf("after the refreshes at %v: %+v, %v", clk.Now(), got, ok)
	}
	ts.auth.expiries.mu.Lock()
	deadlines := len(ts.auth.expiries.heap)
	ts.auth.expiries.mu.Unlock()
	if deadlines != 1 || !ts.auth.scheduled(ss) {
		t.Fatalf("%d deadlines after the refreshes, want the socket's one", deadlines)
	}
	clk.Advance(30 * time.Second) // past the first token's exp
	time.Sleep(100 * time.Millisecond)
	if !c.s.Connected() {
		t.Fatal("a refreshed socket was cut at the old token's expiry")
	}
	// A refresh for another subject is refused and cuts the socket.
	_ = c.s.Emit("authenticate", map[string]any{"token": token(t, clk.Now(), time.Hour, map[string]any{"sub": "eve"})})
	u := c.wait(t, "unauthorized", 5*time.Second)
	data := u.args[0].(map[string]any)["data"].(map[string]any)
	if data["code"] != core.CodeInvalidToken || data["message"] != "jwt subject invalid. expected: bob" {
		t.Fatalf("unauthorized %v", data)
	}
	clk.Advance(DefaultUnauthorizedWait) // not the close grace: the client closes first
	c.waitReason(t, "io server disconnect")
}

func TestExpiryCut(t *testing.T) {
	start := time.Now()
	clk := clock.NewFake(start)
	ts := newTestServer(t, clk, nil, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets()); err != nil {
			t.Fatal(err)
		}
	})
	c := dialConnected(t, ts.url, "/", map[string]any{"token": token(t, start, 2*time.Second, nil)})
	eventually(t, 2*time.Second, "the expiry timer", func() bool { return clk.Pending() == 1 })
	clk.Advance(2 * time.Second)
	u := c.wait(t, "unauthorized", 5*time.Second)
	data := u.args[0].(map[string]any)["data"].(map[string]any)
	if data["message"] != "jwt expired" || data["code"] != "invalid_token" || data["type"] != "UnauthorizedError" {
		t.Fatalf("payload %v", data)
	}
	// The client acknowledges, or the wait ends; never past the close grace
	// at once, which a fake clock would fire before the last packets leave.
	clk.Advance(DefaultUnauthorizedWait)
	c.waitReason(t, "io server disconnect")
	eventually(t, 2*time.Second, "cleanup", func() bool {
		return ts.auth.sessions.len() == 0
	})
}

// TestTimers10k schedules the expiry of 10 000 authenticated sessions and
// shows that they start no goroutine and arm one timer in all; it logs the
// memory per session (the session and its place among the deadlines), and
// fails above 256 bytes: a runtime timer of its own cost a session about
// 160 bytes more.
func TestTimers10k(t *testing.T) {
	v, err := core.New(core.WithSecretString(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Now())
	a := &Auth{verifier: v, clock: clk, expiry: true}
	ns := &nsConfig{verifier: v}
	tok := token(t, time.Now(), time.Hour, nil)
	res, err := v.Verify(t.Context(), tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 10000
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	sessions := make([]*session, n)
	for i := range sessions {
		ss := &session{a: a, ns: ns, res: res}
		ss.mu.Lock()
		ss.scheduleLocked()
		ss.mu.Unlock()
		sessions[i] = ss
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if g := runtime.NumGoroutine(); g > g0+2 {
		t.Fatalf("goroutines grew from %d to %d for %d timers", g0, g, n)
	}
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%d sessions with a deadline: %.0f bytes each, goroutines %d -> %d", n, per, g0, runtime.NumGoroutine())
	if per > 256 {
		t.Fatalf("%.0f bytes per session, want at most 256", per)
	}
	for _, ss := range sessions {
		if !a.scheduled(ss) {
			t.Fatal("a deadline had fired or was never set")
		}
		ss.mu.Lock()
		ss.stopTimersLocked()
		ss.mu.Unlock()
	}
	if len(a.expiries.heap) != 0 || clk.Pending() != 1 {
		t.Fatalf("%d deadlines left, %d timers: want none left, one timer", len(a.expiries.heap), clk.Pending())
	}
}

// sessionOf returns the session of the socket with the given ID, or nil.
func sessionOf(a *Auth, id string) *session {
	var found *session
	a.sessions.each(func(ss *session) {
		if string(ss.s.Id()) == id {
			found = ss
		}
	})
	return found
}

// TestEventFingerprints: each event names the token it is about, by its
// fingerprint: the authentication the first token, a refresh and the
// close the second, and a failed refresh the token still in force.
func TestEventFingerprints(t *testing.T) {
	type seen struct {
		kind EventKind
		fp   string
	}
	var mu sync.Mutex
	var events []seen
	hook := func(e Event) {
		mu.Lock()
		events = append(events, seen{e.Kind, e.Fingerprint})
		mu.Unlock()
	}
	ts := newTestServer(t, nil, []Option{WithHook(hook)}, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Of("/app", nil)); err != nil {
			t.Fatal(err)
		}
	})
	now := time.Now()
	first, second := token(t, now, time.Hour, map[string]any{"jti": "1"}), token(t, now, time.Hour, map[string]any{"jti": "2"})
	c := dialConnected(t, ts.url, "/app", map[string]any{"token": first})
	_ = c.s.Emit("authenticate", map[string]any{"token": second})
	c.wait(t, "authenticated", 5*time.Second)
	_ = c.s.Emit("authenticate", map[string]any{"token": token(t, now, time.Hour, map[string]any{"sub": "eve"})})
	c.wait(t, "unauthorized", 5*time.Second)
	want := []seen{
		{EventAuthenticated, Fingerprint(first)},
		{EventRefreshed, Fingerprint(second)},
		{EventRejected, Fingerprint(second)},
	}
	eventually(t, 5*time.Second, "the events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) >= len(want)
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(events[:len(want)], want) {
		t.Fatalf("events %v, want %v", events, want)
	}
}

// TestExpiriesInOrder drives the Auth's one expiry timer through several
// sockets on a fake clock: each is cut at its own token's expiry and no
// earlier, a socket that leaves gives up its deadline, a refresh moves one,
// and two deadlines at the same moment are both cut. One timer serves all.
func TestExpiriesInOrder(t *testing.T) {
	start := time.Now().Truncate(time.Second)
	clk := clock.NewFake(start)
	ts := newTestServer(t, clk, nil, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets()); err != nil {
			t.Fatal(err)
		}
	})
	dial := func(life time.Duration) *testClient {
		return dialConnected(t, ts.url, "/", map[string]any{"token": token(t, start, life, nil)})
	}
	gone, a, b, c, d, e := dial(5*time.Second), dial(10*time.Second), dial(20*time.Second), dial(30*time.Second), dial(40*time.Second), dial(40*time.Second)
	eventually(t, 5*time.Second, "six deadlines", func() bool {
		ts.auth.expiries.mu.Lock()
		defer ts.auth.expiries.mu.Unlock()
		return len(ts.auth.expiries.heap) == 6
	})
	gone.s.Disconnect()
	eventually(t, 5*time.Second, "the deadline of the socket that left dropped", func() bool {
		ts.auth.expiries.mu.Lock()
		defer ts.auth.expiries.mu.Unlock()
		return len(ts.auth.expiries.heap) == 5
	})
	notDue := func(c *testClient) bool {
		ss := sessionOf(ts.auth, c.s.Id())
		if ss == nil || !ts.auth.scheduled(ss) {
			return false
		}
		ss.mu.Lock()
		defer ss.mu.Unlock()
		return ss.state == stateAuthenticated
	}
	cutOnly := func(at time.Duration, cut *testClient, kept ...*testClient) {
		t.Helper()
		clk.Advance(start.Add(at).Sub(clk.Now()))
		if cut != nil {
			cut.wait(t, "unauthorized", 5*time.Second)
		}
		// Advance returns once the timer has taken every due deadline off
		// the queue: a socket not due keeps its deadline, and its session
		// is still authenticated.
		for _, k := range kept {
			if n := k.count("unauthorized"); n != 0 || !notDue(k) {
				t.Fatalf("at %v: a socket whose token expires later was cut", at)
			}
		}
	}
	cutOnly(9*time.Second, nil, a, b, c, d, e)
	cutOnly(10*time.Second, a, b, c, d, e)
	_ = b.s.Emit(AuthenticateEvent, map[string]any{"token": token(t, start, time.Minute, nil)})
	b.wait(t, "authenticated", 5*time.Second)
	cutOnly(30*time.Second, c, b, d, e)
	cutOnly(40*time.Second, d, b)
	e.wait(t, "unauthorized", 5*time.Second)
	cutOnly(time.Minute, b)
	ts.auth.expiries.mu.Lock()
	left := len(ts.auth.expiries.heap)
	ts.auth.expiries.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d deadlines left", left)
	}
}

// TestFarExpiry connects with tokens whose "exp" lies beyond what a
// time.Time holds in Unix nanoseconds (year 2262), up to core's
// MaxNumericDate, and with one that expires in two minutes. A far deadline
// must stay far, not wrap around (into the past, where the one expiry
// timer would fire again and again, or to the head of the queue, where
// the timer would wait for it and no other socket would ever be cut). The
// clock moves a day: the two-minute socket is warned and cut, the others
// are not, and one timer is left.
func TestFarExpiry(t *testing.T) {
	start := time.Now()
	clk := clock.NewFake(start)
	ts := newTestServer(t, clk, []Option{WithExpiryWarning(time.Minute)}, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets()); err != nil {
			t.Fatal(err)
		}
	})
	var far []*testClient
	for _, exp := range []float64{1e10, 3e10, 1e11, core.MaxNumericDate} {
		far = append(far, dialConnected(t, ts.url, "/", map[string]any{"token": token(t, start, 0, jwt.MapClaims{"exp": exp})}))
	}
	near := dialConnected(t, ts.url, "/", map[string]any{"token": token(t, start, 2*time.Minute, nil)})
	eventually(t, 5*time.Second, "five deadlines", func() bool {
		ts.auth.expiries.mu.Lock()
		defer ts.auth.expiries.mu.Unlock()
		return len(ts.auth.expiries.heap) == 5
	})
	advance := func(d time.Duration) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			clk.Advance(d)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the clock did not get there: a deadline keeps firing")
		}
	}
	advance(time.Minute)
	near.wait(t, "token_expiring", 5*time.Second)
	advance(time.Minute)
	near.wait(t, "unauthorized", 5*time.Second)
	advance(24 * time.Hour)
	// Advance returns once the timer has taken every due deadline off the
	// queue: a far socket keeps its deadline and stays authenticated.
	for _, c := range far {
		ss := sessionOf(ts.auth, c.s.Id())
		if ss == nil || !ts.auth.scheduled(ss) {
			t.Fatal("a far socket lost its deadline or its session")
		}
		ss.mu.Lock()
		st := ss.state
		ss.mu.Unlock()
		if n := c.count("unauthorized") + c.count("token_expiring"); n != 0 || st != stateAuthenticated {
			t.Fatal("a token expiring thousands of years from now was cut or warned")
		}
	}
	ts.auth.expiries.mu.Lock()
	left := len(ts.auth.expiries.heap)
	ts.auth.expiries.mu.Unlock()
	if left != 4 {
		t.Fatalf("%d deadlines left, want the four far ones", left)
	}
}

// TestRefreshOtherIssuer: a refresh must name the same identity, the
// issuer and the subject: a token for "bob" from another issuer (which a
// verifier accepting several issuers admits) is refused and cuts the
// socket, instead of taking it over as "bob".
func TestRefreshOtherIssuer(t *testing.T) {
	ts := newTestServer(t, nil, nil, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets()); err != nil {
			t.Fatal(err)
		}
	})
	now := time.Now()
	c := dialConnected(t, ts.url, "/", map[string]any{"token": token(t, now, time.Hour, map[string]any{"iss": "https://a.example"})})
	_ = c.s.Emit("authenticate", map[string]any{"token": token(t, now, 2*time.Hour, map[string]any{"iss": "https://a.example"})})
	c.wait(t, "authenticated", 5*time.Second)
	_ = c.s.Emit("authenticate", map[string]any{"token": token(t, now, 2*time.Hour, map[string]any{"iss": "https://b.example"})})
	u := c.wait(t, "unauthorized", 5*time.Second)
	if data := u.args[0].(map[string]any)["data"].(map[string]any); data["code"] != core.CodeInvalidToken || data["message"] != "jwt issuer invalid. expected: https://a.example" {
		t.Fatalf("unauthorized %v", data)
	}
	c.waitReason(t, "io server disconnect")
}
