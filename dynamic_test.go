package siojwt

import (
	"errors"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/siojwt/siojwt/internal/testclient"
	"github.com/zishang520/socket.io/clients/engine/v3/transports"
	client "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// TestDynamicNamespaces checks Protect and ProtectPostConnect on dynamic
// namespaces (Server.Of with a regular expression): every child namespace
// is protected, those the server library creates later and one it created
// before Protect alike; a child cannot be protected a second time; and its
// sockets are counted by their sessions, not by a listener of their own.
func TestDynamicNamespaces(t *testing.T) {
	subs := make(chan string, 8)
	var ts *testServer
	claimsOf := func(s *socket.Socket) string {
		if c := ts.auth.Claims(s); c != nil {
			return c.Subject
		}
		return "<nil>"
	}
	ts = newTestServer(t, nil, nil, func(ts *testServer) {})
	rooms := ts.io.Of(regexp.MustCompile(`^/room-\w+$`), nil)
	// A child created before Protect: by a client, before the namespace
	// was protected (the server library copies a parent's middlewares to a
	// child only as it creates it).
	early := dialConnected(t, ts.url, "/room-early", nil)
	// Its socket connected without a check: Protect refuses.
	if err := ts.auth.Protect(rooms); !errors.Is(err, ErrSocketsConnected) {
		t.Fatalf("Protect with a connected socket in a child: %v, want ErrSocketsConnected", err)
	}
	early.s.Disconnect()
	eventually(t, 5*time.Second, "the early socket gone", func() bool {
		n, ok := rooms.(socket.ParentNamespace).Children().Keys(), true
		for _, c := range n {
			ok = ok && c.Sockets().Len() == 0
		}
		return ok
	})
	if err := ts.auth.Protect(rooms); err != nil {
		t.Fatal(err)
	}
	_ = rooms.On("connection", func(args ...any) {
		s := args[0].(*socket.Socket)
		subs <- s.Nsp().Name() + " " + claimsOf(s)
	})
	posts := ts.io.Of(regexp.MustCompile(`^/post-\w+$`), nil)
	if err := ts.auth.ProtectPostConnect(posts, func(s *socket.Socket) { subs <- s.Nsp().Name() + " " + claimsOf(s) }); err != nil {
		t.Fatal(err)
	}

	// Handshake mode, a child created after Protect.
	good := dialConnected(t, ts.url, "/room-1", map[string]any{"token": token(t, time.Now(), time.Hour, nil)})
	if got := receive(t, subs, 5*time.Second, "no connection handler ran"); got != "/room-1 bob" {
		t.Fatalf("got %q, want /room-1 bob", got)
	}
	for _, nsp := range []string{"/room-1", "/room-2", "/room-early"} {
		c := dial(t, ts.url, nsp, nil)
		if e := c.wait(t, "connect_error", 5*time.Second); len(e.args) == 0 {
			t.Fatalf("%s: connect_error without a payload", nsp)
		}
		if c.count("connect") != 0 {
			t.Fatalf("%s: a client without a token connected", nsp)
		}
		bad := dial(t, ts.url, nsp, map[string]any{"token": "not.a.jwt"})
		bad.wait(t, "connect_error", 5*time.Second)
	}

	// Post-connect mode: a pending socket hears nothing of a broadcast to
	// its child namespace, then authenticates.
	p := dialConnected(t, ts.url, "/post-1", nil, "news")
	ts.io.Of("/post-1", nil).Emit("news", 1)
	_ = p.s.Emit("authenticate", map[string]any{"token": token(t, time.Now(), time.Hour, nil)})
	p.wait(t, "authenticated", 5*time.Second)
	if got := receive(t, subs, 5*time.Second, "no connection handler ran"); got != "/post-1 bob" {
		t.Fatalf("got %q, want /post-1 bob", got)
	}
	if n := p.count("news"); n != 0 {
		t.Fatalf("a pending socket heard %d broadcast(s)", n)
	}

	// A child is protected once, whether created before or after Protect.
	for _, name := range []string{"/room-1", "/room-early", "/post-1"} {
		if err := ts.auth.Protect(ts.io.Of(name, nil)); !errors.Is(err, ErrAlreadyProtected) {
			t.Fatalf("Protect(%s) again: %v, want ErrAlreadyProtected", name, err)
		}
	}
	// Counted once, by their sessions: no "disconnect" listener of the
	// counter's on a child created after Protect, and a child created
	// before handed to the sessions.
	s, ok := ts.io.Of("/room-1", nil).Sockets().Load(socket.SocketId(good.s.Id()))
	if !ok {
		t.Fatal("no server socket for the /room-1 client")
	}
	if n := s.ListenerCount("disconnect"); n != 0 {
		t.Fatalf("%d disconnect listener(s) on a /room-1 socket, want 0", n)
	}
	if n := connCount(ts.auth, s.Conn().Id()); n != 1 {
		t.Fatalf("the /room-1 socket's connection counted %d times, want 1", n)
	}
	// The application's handler, added to the parent after /room-early was
	// made, is not on it (the server library copies at creation): wait for
	// the binding's instead, the last of the child's handlers.
	late := dialConnected(t, ts.url, "/room-early", map[string]any{"token": token(t, time.Now(), time.Hour, nil)})
	eventually(t, 5*time.Second, "the /room-early socket joined", func() bool {
		ss := sessionOf(ts.auth, late.s.Id())
		if ss == nil {
			return false
		}
		ss.mu.Lock()
		defer ss.mu.Unlock()
		return ss.joined
	})
	s, ok = ts.io.Of("/room-early", nil).Sockets().Load(socket.SocketId(late.s.Id()))
	if !ok {
		t.Fatal("no server socket for the second /room-early client")
	}
	if n := connCount(ts.auth, s.Conn().Id()); n != 1 {
		t.Fatalf("the /room-early socket's connection counted %d times, want 1", n)
	}
}

// connCount is how many connected sockets the Auth counts on connection id.
func connCount(a *Auth, id string) int {
	a.conns.mu.Lock()
	defer a.conns.mu.Unlock()
	return a.conns.sockets[id]
}

// TestDynamicChildrenNotKept checks that the child namespaces of a
// protected dynamic namespace are not kept by the Auth: with
// CleanupEmptyChildNamespaces the server library closes a child once its
// last socket left, and a client may make a new one with every name the
// expression allows. A child made again is protected again.
func TestDynamicChildrenNotKept(t *testing.T) {
	sopts := socket.DefaultServerOptions()
	sopts.SetCleanupEmptyChildNamespaces(true)
	ts := newTestServerWith(t, sopts, nil, nil, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Of(regexp.MustCompile(`^/room-\w+$`), nil)); err != nil {
			t.Fatal(err)
		}
	})
	for i := range 20 {
		name := fmt.Sprintf("/room-%d", i%5)
		c := dialConnected(t, ts.url, name, map[string]any{"token": token(t, time.Now(), time.Hour, nil)})
		c.s.Disconnect()
		eventually(t, 5*time.Second, name+" closed", func() bool { return ts.auth.sessions.len() == 0 })
		none := dial(t, ts.url, name, nil)
		none.wait(t, "connect_error", 5*time.Second)
		none.s.Disconnect()
	}
	ts.auth.protectedMu.Lock()
	n := len(ts.auth.protected)
	ts.auth.protectedMu.Unlock()
	if n != 1 {
		t.Fatalf("%d namespaces recorded as protected, want 1 (the dynamic one)", n)
	}
	ts.auth.conns.mu.Lock()
	tracked := len(ts.auth.conns.nsps)
	ts.auth.conns.mu.Unlock()
	if tracked > 2 { // "/" and the dynamic namespace
		t.Fatalf("%d namespaces tracked by the connection counter, want at most 2", tracked)
	}
}

// TestUnprotectedChildMadeAgain: on a dynamic namespace that is not
// protected, with CleanupEmptyChildNamespaces, a child the server library
// closed and made again under the same name is counted like the first:
// cutting a socket of a protected namespace on the same connection leaves
// the connection open for the child's socket. The counter keeps no closed
// child either.
func TestUnprotectedChildMadeAgain(t *testing.T) {
	sopts := socket.DefaultServerOptions()
	sopts.SetCleanupEmptyChildNamespaces(true)
	var rooms socket.ParentNamespace
	ts := newTestServerWith(t, sopts, nil, []Option{WithCloseGrace(200 * time.Millisecond)}, func(ts *testServer) {
		rooms = ts.io.Of(regexp.MustCompile(`^/room-\w+$`), nil).(socket.ParentNamespace)
		if err := ts.auth.ProtectPostConnect(ts.io.Of("/p", nil), nil, NamespaceAuthenticateTimeout(200*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	})
	for i := range 20 { // /room-0 twice, then 18 names of which each is closed
		name := fmt.Sprintf("/room-%d", max(i-1, 0))
		c := dialConnected(t, ts.url, name, nil)
		c.s.Disconnect()
		eventually(t, 5*time.Second, name+" closed", func() bool { return rooms.Children().Len() == 0 })
	}
	ts.auth.conns.mu.Lock()
	tracked := len(ts.auth.conns.nsps)
	ts.auth.conns.mu.Unlock()
	if tracked > 2 { // "/" and "/p"
		t.Fatalf("%d namespaces tracked by the connection counter, want 2", tracked)
	}

	opts := client.DefaultOptions()
	opts.SetTransports(types.NewSet(transports.WebSocket))
	events := make(chan string, 16)
	room, err := testclient.Dial(ts.url, "/room-0", opts, func(s *client.Socket) {
		_ = s.On("connect", func(...any) { events <- "/room-0 connect" })
		_ = s.On("disconnect", func(...any) { events <- "/room-0 disconnect" })
	})
	if err != nil {
		t.Fatal(err)
	}
	defer room.Disconnect()
	if got := receive(t, events, 5*time.Second, "no connect on /room-0"); got != "/room-0 connect" {
		t.Fatalf("event %q, want /room-0 connect", got)
	}
	p := room.Io().Socket("/p", opts)
	_ = p.On("connect", func(...any) { events <- "/p connect" })
	_ = p.On("disconnect", func(...any) { events <- "/p disconnect" })
	p.Connect()
	for _, want := range []string{"/p connect", "/p disconnect"} { // cut: it never authenticates
		if got := receive(t, events, 5*time.Second, "no "+want); got != want {
			t.Fatalf("event %q, want %q", got, want)
		}
	}
	select {
	case e := <-events:
		t.Fatalf("%q after the cut of /p", e)
	case <-time.After(600 * time.Millisecond): // 3 close graces
	}
	if !room.Connected() {
		t.Fatal("/room-0, made again, lost its connection with the cut of /p")
	}
}
