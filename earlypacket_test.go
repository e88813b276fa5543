package siojwt

import (
	"fmt"
	"github.com/gorilla/websocket"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siojwt/siojwt/internal/clock"
	"github.com/siojwt/siojwt/internal/testclient"
	"github.com/zishang520/socket.io/clients/engine/v3/transports"
	client "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	eng "github.com/zishang520/socket.io/servers/engine/v3"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// widenRegistration makes the server of ts, after writing a CONNECT
// acknowledgement, wait for the client's next packet (at most 10 s) and a
// further 100 ms before it registers the socket: what a starved goroutine
// does, with the client's packet read in the window. The engine emits
// "flush" with the packets, hands them to the transport, then emits
// "drain", on the goroutine that then registers the socket; it emits
// "packet" before the binding's hold, added later, waits. It sends each
// new connection on conns, with whether its window opened: the engine
// writes on the registering goroutine only when the transport is writable
// then; when a previous write is in progress, the transport's writer sends
// the acknowledgement later, the registration does not wait, and no wait
// is made on the writer (see testclient's startBareLate).
func widenRegistration(ts *testServer, conns chan<- widened) {
	_ = ts.io.Engine().On("connection", func(args ...any) {
		c := args[0].(eng.Socket)
		w := widened{conn: c, opened: make(chan bool, 1)}
		conns <- w
		var acked bool         // under the engine's flush lock
		var ackG atomic.Uint64 // the goroutine that wrote the acknowledgement
		got := make(chan struct{}, 1)
		_ = c.On("packet", func(args ...any) {
			if p, _ := args[0].(*packet.Packet); p != nil && p.Type == packet.MESSAGE {
				select {
				case got <- struct{}{}:
				default:
				}
			}
		})
		isAck := func(p *packet.Packet) bool {
			d, ok := p.Data.(interface{ String() string })
			return ok && p.Type == packet.MESSAGE && strings.HasPrefix(d.String(), "0")
		}
		_ = c.On("packetCreate", func(args ...any) {
			if p, _ := args[0].(*packet.Packet); p != nil && isAck(p) {
				ackG.Store(testclient.GoroutineID())
			}
		})
		_ = c.On("flush", func(args ...any) {
			for _, p := range args[0].([]*packet.Packet) {
				if isAck(p) {
					acked = true
				}
			}
		})
		_ = c.On("drain", func(...any) {
			if !acked {
				return
			}
			acked = false
			if testclient.GoroutineID() != ackG.Load() {
				w.opened <- false
				return
			}
			w.opened <- true
			select {
			case <-got:
			case <-time.After(10 * time.Second):
			}
			time.Sleep(100 * time.Millisecond)
		})
	})
}

// widened is a connection of widenRegistration's server, and whether its
// window opened (sent once its acknowledgement is written).
type widened struct {
	conn   eng.Socket
	opened chan bool
}

// TestEarlyAuthenticate: a post-connect client that emits "authenticate"
// at once on "connect" is authenticated even when the server registers
// the socket late (see earlyPackets); without the binding's hold, the
// server closed the connection every time ("transport close"). Once the
// socket is registered, the binding forgets the connection: no entry, and
// no listener of its own left on the connection.
func TestEarlyAuthenticate(t *testing.T) {
	ts := newTestServer(t, nil, nil, func(ts *testServer) {
		if err := ts.auth.ProtectPostConnect(ts.io.Sockets(), func(*socket.Socket) {}); err != nil {
			t.Fatal(err)
		}
	})
	conns := make(chan widened, 100)
	widenRegistration(ts, conns)
	tok := token(t, time.Now(), time.Hour, nil)
	// Three dials whose window opened; a dial whose window did not open
	// (see widenRegistration) shows nothing and does not count, at most
	// 10 dials in all.
	for opened, dials := 0, 0; opened < 3; dials++ {
		if dials == 10 {
			t.Fatalf("the window opened in %d of %d dials", opened, dials)
		}
		events := make(chan string, 16)
		opts := client.DefaultOptions()
		opts.SetTransports(types.NewSet(transports.WebSocket))
		s, err := testclient.Dial(ts.url, "/", opts, func(s *client.Socket) {
			for _, name := range []string{"connect", "authenticated", "unauthorized", "disconnect", "connect_error"} {
				_ = s.On(types.EventName(name), func(args ...any) {
					if name == "connect" {
						// At once, as socketio-jwt's clients do.
						_ = s.Emit("authenticate", map[string]any{"token": tok})
					}
					e := name
					if len(args) > 0 {
						e += fmt.Sprint(" ", args[0])
					}
					events <- e
				})
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		id := s.Io().Engine().Id()
		var seen []string
		for len(seen) < 2 {
			select {
			case e := <-events:
				seen = append(seen, e)
			case <-time.After(10 * time.Second):
				t.Fatalf("timeout after %v", seen)
			}
		}
		if !slices.Equal(seen, []string{"connect", "authenticated"}) {
			t.Fatalf("events %v, want connect, authenticated", seen)
		}
		ts.auth.iso.early.mu.Lock()
		held := len(ts.auth.iso.early.conns) + len(ts.auth.iso.early.socks)
		ts.auth.iso.early.mu.Unlock()
		// The client's connection (Dial may have abandoned one before it).
		var w widened
		for w.conn == nil || w.conn.Id() != id {
			select {
			case w = <-conns:
			case <-time.After(10 * time.Second):
				t.Fatalf("connection %s not seen by the server", id)
			}
		}
		// widenRegistration's own "packet" listener is the one left.
		if held != 0 || w.conn.ListenerCount("packet") != 1 {
			t.Fatalf("after the socket registered: %d held, %d packet listeners, want 0 and 1", held, w.conn.ListenerCount("packet"))
		}
		s.Disconnect()
		select {
		case o := <-w.opened:
			if o {
				opened++
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the acknowledgement was never written")
		}
	}
}

// laterMiddlewareServer is a test server whose namespace "/a" is protected
// in handshake mode and has mw after the binding's middleware; its "/"
// sends on the returned channel for every "hello". "/" is not protected:
// no hold covers its sockets, and a packet a client sends there before its
// socket is registered makes the server library close the connection (the
// CONNECT race, earlyPackets). Its "connection" handler, which runs after
// the registration, emits "ready": a client sends nothing on "/" before.
func laterMiddlewareServer(t *testing.T, clk *clock.Fake, mw func(*socket.Socket, func(*socket.ExtendedError))) (*testServer, <-chan struct{}) {
	got := make(chan struct{}, 4)
	ts := newTestServer(t, clk, nil, func(ts *testServer) {
		nsp := ts.io.Of("/a", nil)
		if err := ts.auth.Protect(nsp); err != nil {
			t.Fatal(err)
		}
		nsp.Use(mw)
		_ = ts.io.Sockets().On("connection", func(args ...any) {
			s := args[0].(*socket.Socket)
			_ = s.On("hello", func(...any) { got <- struct{}{} })
			_ = s.Emit("ready")
		})
	})
	return ts, got
}

// TestRefusedLaterNotHeld: a socket the binding admits and a later
// middleware refuses is dropped by the server library before it is
// registered. Its connection's packets are not held: the hold ends with
// the drop (the isolating adapter's DelAll), not at earlyPacketBound, so
// another namespace on the same connection is served at once. The client
// is a bare websocket speaking the protocol: the Go client v3.0.6 may stop
// sending and receiving on a connection once one of its namespaces was
// refused.
func TestRefusedLaterNotHeld(t *testing.T) {
	ts, got := laterMiddlewareServer(t, nil, func(_ *socket.Socket, next func(*socket.ExtendedError)) {
		next(socket.NewExtendedError("refused later", map[string]any{"message": "refused later"}))
	})
	ws := openEngine(t, ts.url)
	// expect reads messages until one starts with prefix (pings answered).
	expect := func(prefix string) {
		t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, m, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for %q: %v", prefix, err)
			}
			if string(m) == "2" {
				_ = ws.WriteMessage(websocket.TextMessage, []byte("3"))
				continue
			}
			if strings.HasPrefix(string(m), prefix) {
				return
			}
		}
	}
	send := func(m string) {
		t.Helper()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	send("40")
	expect("40{")
	expect(`42["ready"]`) // "/" registered: see laterMiddlewareServer
	send(`40/a,{"token":"` + token(t, time.Now(), time.Hour, nil) + `"}`)
	expect("44/a,")
	if n := ts.auth.iso.early.count.Load(); n != 0 {
		t.Fatalf("%d socket(s) still held after the refusal", n)
	}
	// The session goes with the drop too, not after a timer.
	eventually(t, 5*time.Second, "the refused socket's session forgotten", func() bool { return sessionCount(ts.auth) == 0 })
	start := time.Now()
	send(`42["hello"]`)
	select {
	case <-got:
	case <-time.After(earlyPacketBound + 5*time.Second):
		t.Fatal(`"hello" never reached the server`)
	}
	// The bound is 5 s: a packet served well under it was not held.
	if d := time.Since(start); d > earlyPacketBound/2 {
		t.Fatalf(`"hello" served after %v: the refused socket held the connection's packets`, d)
	}
}

// TestHoldBound: a socket whose middleware chain never ends holds its
// connection's packets only until the bound, with no timer: the packet
// that waits is let go at the bound, and the hold is forgotten. Its
// session then waits neverConnectedAfter for the socket (on the fake
// clock), and is forgotten.
func TestHoldBound(t *testing.T) {
	clk := clock.NewFake(time.Now())
	ts, got := laterMiddlewareServer(t, clk, func(*socket.Socket, func(*socket.ExtendedError)) {}) // never calls next
	const bound = 300 * time.Millisecond
	ts.auth.iso.early.mu.Lock()
	ts.auth.iso.early.bound = bound
	ts.auth.iso.early.mu.Unlock()
	opts := client.DefaultOptions()
	opts.SetTransports(types.NewSet(transports.WebSocket))
	opts.SetAuth(map[string]any{"token": token(t, time.Now(), time.Hour, nil)})
	ready := make(chan struct{}, 1)
	root, err := testclient.Dial(ts.url, "/", opts, func(s *client.Socket) {
		_ = s.On("ready", func(...any) { ready <- struct{}{} })
	})
	if err != nil {
		t.Fatal(err)
	}
	defer root.Disconnect()
	receive(t, ready, 5*time.Second, `"/" never ready`) // see laterMiddlewareServer
	root.Io().Socket("/a", opts).Connect()
	end := time.Now().Add(5 * time.Second)
	for ts.auth.iso.early.count.Load() == 0 {
		if time.Now().After(end) {
			t.Fatal("/a never held")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	_ = root.Emit("hello")
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal(`"hello" never reached the server`)
	}
	// Held: not served before about the bound (less the few ms between
	// the hold and the emit). Let go: served soon after it (2 s leaves room
	// for a loaded machine's scheduling, far under the 5 s default bound).
	if d := time.Since(start); d < bound/2 || d > bound+2*time.Second {
		t.Fatalf(`"hello" served after %v, bound %v`, d, bound)
	}
	ts.auth.iso.early.mu.Lock()
	held := len(ts.auth.iso.early.conns) + len(ts.auth.iso.early.socks)
	ts.auth.iso.early.mu.Unlock()
	if held != 0 || ts.auth.iso.early.count.Load() != 0 {
		t.Fatalf("after the bound: %d entries, count %d, want none", held, ts.auth.iso.early.count.Load())
	}
	if n := sessionCount(ts.auth); n != 1 {
		t.Fatalf("%d sessions after the bound, want /a's", n)
	}
	clk.Advance(neverConnectedAfter - time.Second)
	if n := sessionCount(ts.auth); n != 1 {
		t.Fatalf("%d sessions %v after the bound, want /a's", n, neverConnectedAfter-time.Second)
	}
	clk.Advance(2 * time.Second)
	eventually(t, 5*time.Second, "/a's session forgotten", func() bool { return sessionCount(ts.auth) == 0 })
}

// TestHeldConnectionClosed: a socket whose middleware chain never ends,
// whose connection then closes, can never connect: the hold ends with the
// connection, and the socket's session neverConnectedAfter later (on the
// fake clock). It does not go at once: the server library may be
// registering the socket as the connection closes.
func TestHeldConnectionClosed(t *testing.T) {
	clk := clock.NewFake(time.Now())
	ts, _ := laterMiddlewareServer(t, clk, func(*socket.Socket, func(*socket.ExtendedError)) {}) // never calls next
	ws := openEngine(t, ts.url)
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`40/a,{"token":"`+token(t, time.Now(), time.Hour, nil)+`"}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "/a held", func() bool { return ts.auth.iso.early.count.Load() == 1 })
	if n := sessionCount(ts.auth); n != 1 {
		t.Fatalf("%d sessions while held, want /a's", n)
	}
	_ = ws.Close()
	eventually(t, 5*time.Second, "the hold ended", func() bool { return ts.auth.iso.early.count.Load() == 0 })
	if n := sessionCount(ts.auth); n != 1 {
		t.Fatalf("%d sessions after the close, want /a's", n)
	}
	clk.Advance(neverConnectedAfter + time.Second)
	eventually(t, 5*time.Second, "/a's session forgotten", func() bool { return sessionCount(ts.auth) == 0 })
}

// openEngine opens a bare websocket to the server at url and reads the
// Engine.IO open packet: the client speaks the protocol by hand from there.
func openEngine(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, m, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(m), "0{") {
		t.Fatalf("Engine.IO open: %q, %v", m, err)
	}
	return ws
}
