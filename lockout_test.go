package siojwt

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/clock"
)

// defaultLimits turns the failure limit back on with its defaults
// (newTestServer turns it off).
var defaultLimits = []Option{WithFailureLimit(DefaultFailureRate, DefaultFailureBurst, DefaultMaxLimitedAddrs)}

func forged(t testing.TB) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "mallory"}).SignedString([]byte("not the secret"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// handshakeOnce opens a connection, sends one CONNECT with token and
// returns the answer: "" when connected, else the error code.
func handshakeOnce(ctx context.Context, t testing.TB, hc *http.Client, url, token string) string {
	t.Helper()
	c, err := openEIO(ctx, hc, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.send(ctx, "1") }()
	if err := c.send(ctx, connectPacket(token)); err != nil {
		t.Fatal(err)
	}
	p, err := c.until(ctx, "40", "44")
	if err != nil {
		t.Fatal(err)
	}
	return errorCode(p)
}

// TestFailuresNeverLockOutAValidToken: with the default failure limit,
// far more failed handshakes from one address than the burst (other
// clients behind the same proxy) do not refuse a valid token from that
// address; handshakes without a token do not count as failures at all.
func TestFailuresNeverLockOutAValidToken(t *testing.T) {
	ts := newTestServer(t, nil, defaultLimits, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets()); err != nil {
			t.Fatal(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hc := newHTTPClient(8)
	for range 2 * DefaultFailureBurst {
		if code := handshakeOnce(ctx, t, hc, ts.url, ""); code != core.CodeCredentialsRequired {
			t.Fatalf("no token: %q", code)
		}
	}
	if n := ts.auth.limiter.size(); n != 0 {
		t.Fatalf("handshakes without a token spent the failure budget: %d addresses tracked", n)
	}
	bad := forged(t)
	codes := map[string]int{}
	for range 2 * DefaultFailureBurst {
		codes[handshakeOnce(ctx, t, hc, ts.url, bad)]++
	}
	if codes[""] != 0 {
		t.Fatalf("a forged token was accepted: %v", codes)
	}
	if codes[core.CodeRateLimited] == 0 {
		t.Fatalf("the failing address was never limited: %v", codes)
	}
	good := token(t, time.Now(), time.Hour, nil)
	for i := range 5 {
		if code := handshakeOnce(ctx, t, hc, ts.url, good); code != "" {
			t.Fatalf("valid token %d refused %q after other clients' failures", i, code)
		}
	}
}

// crowdSize is the number of clients of TestCrowdReconnects: 600 by
// default (30 of them expired, more than the failure burst, and more
// clients than the former pending cap), SIOJWT_CROWD to measure more.
func crowdSize(t *testing.T) int {
	if s := os.Getenv("SIOJWT_CROWD"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 20 {
			t.Fatalf("SIOJWT_CROWD=%q", s)
		}
		return n
	}
	return 600
}

// TestCrowdReconnects: every client behind one address (a reverse proxy)
// reconnects at once in post-connect mode, one in twenty with an expired
// token: no valid client is refused, by the failure limit or by the
// pending cap, at their defaults.
func TestCrowdReconnects(t *testing.T) {
	n := crowdSize(t)
	ts := newTestServer(t, nil, defaultLimits, func(ts *testServer) {
		// A long timeout: the crowd is about the limits, not about how
		// fast a loaded test machine answers.
		if err := ts.auth.ProtectPostConnect(ts.io.Sockets(), nil, NamespaceAuthenticateTimeout(time.Minute)); err != nil {
			t.Fatal(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	now := time.Now()
	good, expired := token(t, now, time.Hour, nil), token(t, now.Add(-2*time.Hour), time.Hour, nil)
	hc := newHTTPClient(n + 16)
	var (
		mu       sync.Mutex
		outcomes = map[string]int{} // "valid/<code>" and "expired/<code>"; "" is authenticated
		wg       sync.WaitGroup
		start    = make(chan struct{})
	)
	record := func(kind, code string) {
		mu.Lock()
		outcomes[kind+"/"+code]++
		mu.Unlock()
	}
	for i := range n {
		kind, tok := "valid", good
		if i%20 == 0 {
			kind, tok = "expired", expired
		}
		wg.Go(func() {
			<-start
			code, err := postConnect(ctx, hc, ts.url, tok)
			if err != nil {
				code = "error: " + err.Error()
			}
			record(kind, code)
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	t.Logf("%d clients (%d expired) from one address in %v: %v", n, (n+19)/20, time.Since(began).Round(time.Millisecond), outcomes)
	refused := 0
	for k, v := range outcomes {
		if len(k) > 6 && k[:6] == "valid/" && k != "valid/" {
			refused += v
		}
	}
	if refused != 0 {
		t.Fatalf("%d valid clients refused: %v", refused, outcomes)
	}
	if outcomes["expired/"] != 0 {
		t.Fatalf("an expired token was accepted: %v", outcomes)
	}
}

// postConnect connects to the main namespace, authenticates with tok and
// returns "" when authenticated, else the refusal's code.
func postConnect(ctx context.Context, hc *http.Client, url, tok string) (string, error) {
	c, err := openEIO(ctx, hc, url)
	if err != nil {
		return "", err
	}
	defer func() { _ = c.send(ctx, "1") }()
	if err := c.send(ctx, "40"); err != nil {
		return "", err
	}
	p, err := c.until(ctx, "40", "44")
	if err != nil {
		return "", err
	}
	if code := errorCode(p); code != "" {
		return code, nil
	}
	if err := c.send(ctx, authenticatePacket(tok)); err != nil {
		return "", err
	}
	p, err = c.until(ctx, `42["authenticated"`, `42["unauthorized"`, "41")
	if err != nil {
		return "", err
	}
	if p == `42["authenticated"]` {
		return "", nil
	}
	if code := errorCode(p); code != "" {
		return code, nil
	}
	return "refused: " + p, nil
}

// TestPendingSlotFreedWithItsConnection: a client that opens a
// connection, sends CONNECT and closes at once holds no pending slot once
// its connection is gone; the clock (the fallback timer) never moves.
func TestPendingSlotFreedWithItsConnection(t *testing.T) {
	clk := clock.NewFake(time.Now())
	const capacity = 10
	ts := newTestServer(t, clk, []Option{WithMaxPendingPerAddr(capacity)}, func(ts *testServer) {
		if err := ts.auth.ProtectPostConnect(ts.io.Sockets(), nil); err != nil {
			t.Fatal(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hc := newHTTPClient(32)
	for range 4 * capacity {
		c, err := openEIO(ctx, hc, ts.url)
		if err != nil {
			t.Fatal(err)
		}
		// CONNECT then close, in one payload: gone before the server
		// library has connected the socket.
		if err := c.send(ctx, "40", "1"); err != nil {
			t.Fatal(err)
		}
	}
	pending := func() int {
		ts.auth.pendingMu.Lock()
		defer ts.auth.pendingMu.Unlock()
		n := 0
		for _, v := range ts.auth.pending {
			n += v
		}
		return n
	}
	eventually(t, 10*time.Second, "no pending slot left", func() bool { return pending() == 0 })
	code, err := postConnect(ctx, hc, ts.url, token(t, clk.Now(), time.Hour, nil))
	if err != nil || code != "" {
		t.Fatalf("a new client after the others left: %q, %v", code, err)
	}
}

// TestDefaultPendingCapFitsAProxy: at the default cap, 200 sockets from
// one address that have not authenticated yet (a proxy's ordinary
// traffic) are all admitted.
func TestDefaultPendingCapFitsAProxy(t *testing.T) {
	ts := newTestServer(t, nil, nil, func(ts *testServer) {
		if err := ts.auth.ProtectPostConnect(ts.io.Sockets(), nil, NamespaceAuthenticateTimeout(time.Minute)); err != nil {
			t.Fatal(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hc := newHTTPClient(32)
	refused := 0
	for range 200 {
		c, err := openEIO(ctx, hc, ts.url)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.send(ctx, "40"); err != nil {
			t.Fatal(err)
		}
		p, err := c.until(ctx, "40", "44")
		if err != nil {
			t.Fatal(err)
		}
		if errorCode(p) != "" {
			refused++
		}
	}
	if refused != 0 {
		t.Fatalf("%d of 200 pending sockets from one address refused", refused)
	}
}
