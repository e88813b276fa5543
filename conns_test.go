package siojwt

import (
	"testing"
	"time"

	"github.com/siojwt/siojwt/internal/testclient"
	"github.com/zishang520/socket.io/clients/engine/v3/transports"
	client "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// TestCutKeepsSharedConnection: a client with a socket in "/" (handshake
// mode) and one in "/p" (post-connect mode) on one connection. The "/p"
// socket is cut when it does not authenticate; the connection stays open
// past the close grace for the "/" socket, and the per-connection count is
// empty once the client has gone.
func TestCutKeepsSharedConnection(t *testing.T) {
	ts := newTestServer(t, nil, []Option{WithCloseGrace(200 * time.Millisecond)}, func(ts *testServer) {
		if err := ts.auth.Protect(ts.io.Sockets()); err != nil {
			t.Fatal(err)
		}
		if err := ts.auth.ProtectPostConnect(ts.io.Of("/p", nil), nil, NamespaceAuthenticateTimeout(200*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	})
	opts := client.DefaultOptions()
	opts.SetTransports(types.NewSet(transports.WebSocket))
	opts.SetAuth(map[string]any{"token": token(t, time.Now(), time.Hour, nil)})
	events := make(chan string, 16)
	root, err := testclient.Dial(ts.url, "/", opts, func(s *client.Socket) {
		_ = s.On("connect", func(...any) { events <- "/ connect" })
		_ = s.On("disconnect", func(args ...any) { events <- "/ disconnect" })
	})
	if err != nil {
		t.Fatal(err)
	}
	defer root.Disconnect()
	expect := func(want string) {
		t.Helper()
		select {
		case e := <-events:
			if e != want {
				t.Fatalf("event %q, want %q", e, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q", want)
		}
	}
	expect("/ connect")
	p := root.Io().Socket("/p", opts)
	_ = p.On("connect", func(...any) { events <- "/p connect" })
	_ = p.On("disconnect", func(args ...any) { events <- "/p disconnect" })
	p.Connect()
	expect("/p connect")
	expect("/p disconnect")
	select {
	case e := <-events:
		t.Fatalf("%q after the cut of /p", e)
	case <-time.After(600 * time.Millisecond): // 3 close graces
	}
	if !root.Connected() {
		t.Fatal(`"/" lost its connection with the cut of "/p"`)
	}
	root.Disconnect()
	end := time.Now().Add(5 * time.Second)
	for {
		ts.auth.conns.mu.Lock()
		n := len(ts.auth.conns.sockets)
		ts.auth.conns.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("%d connections still counted after the client left", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
