// Package testclient dials the Go Socket.IO client
// (github.com/zishang520/socket.io/clients/socket/v3, v3.0.6) for the tests,
// around two races of that client. Every Go-client test of the module dials
// through Dial; none retries a connection by itself.
//
// The client is a line-by-line port of the JavaScript one, which runs on
// one thread; in Go, the Engine.IO reader goroutine runs beside the caller,
// and two "check, then subscribe" sequences race with it. Measured against
// the bare server library (no siojwt; TestRawClient in this package, about
// 1 connection in 5 000 on an idle 2-core machine, more under load):
//
//  1. A lost "open" (Manager.Open). engine.NewSocket dials the websocket
//     synchronously and starts the reader goroutine, which can read the
//     server's OPEN packet and emit the engine's "open" before Manager.Open
//     has subscribed to it. The manager then stays "opening" until its
//     connect timeout and reports connect_error "timeout", while the server
//     saw a healthy Engine.IO connection that no CONNECT ever came on.
//  2. A double CONNECT (Socket.Connect). Socket.Connect subscribes to the
//     manager's "open", calls Manager.Open, then sends CONNECT itself when
//     the manager is already open. When the reader goroutine opens the
//     manager between the two, both paths send CONNECT. A server receiving a
//     CONNECT for a namespace the connection has already joined closes the
//     connection, as socket.io's own server does (client.ts, "invalid
//     state"): the client sees "connect", then "transport close" (the server
//     logs "forced close"). When the second CONNECT comes before the first is
//     accepted, the server makes two sockets and the client reports
//     "connect" twice.
//
// Neither is the server's doing, and neither can happen to the JavaScript
// clients (browsers, Node), which run on one thread: the server needs no
// workaround.
//
// A third race is the server library's, and a caller of Dial must mind it:
// the server writes the CONNECT acknowledgement before it registers the
// socket with the connection, on another goroutine than the one reading
// the client's packets, so a packet sent at once on "connect" can find no
// socket and make the server close the connection (the client sees
// "connect", then "transport close"; about 1 dial in 3 500 under -race
// beside other test processes). The binding holds such packets until the
// socket is registered (earlyPackets in the root package); against the
// bare server library, a test client emits once the server has told it so
// from its "connection" handler, which runs after the registration (see
// TestEarlyPacket). Dial avoids the second race entirely by opening the manager
// first and creating the namespace socket in the manager's open callback,
// once the manager is open, so that Socket.Connect sends CONNECT once. The first race cannot be avoided from
// outside the client (the engine exists only once it has dialed): Dial
// detects it (the engine has been open for missedOpen and the manager's
// open callback has not started), abandons the attempt (its callback, if
// it ever runs, does nothing) and dials again, up to Attempts times. That
// is the only retry left.
package testclient

import (
	"errors"
	"fmt"
	"sync"
	"time"

	engine "github.com/zishang520/socket.io/clients/engine/v3"
	client "github.com/zishang520/socket.io/clients/socket/v3"
)

// Attempts bounds how many times Dial opens a connection whose "open" the
// client lost (race 1 of the package comment). Under -race beside one CPU
// burner the client lost it on 17 of 300 dials (5.7 %), twice in a row at
// worst; with 3 attempts, one dial of the suite's thousands lost it three
// times in a row in 1 of 6 runs of scripts/flake.sh. With 6, a dial fails
// about once in 30 million at that rate; each lost open costs missedOpen.
const Attempts = 6

// missedOpen is how long Dial lets the manager take to notice an open
// engine before it counts the open as lost. The engine emits "open" right
// after it marks itself open, on the same goroutine, so only a lost event
// or a starved goroutine takes this long. A starved one is not mistaken
// for a lost one with harm: Dial abandons an attempt only while the
// manager's open callback has not started, and the callback of an
// abandoned attempt does nothing (see open). A variable for the tests.
var missedOpen = 2 * time.Second

// ErrLostOpen is returned (wrapped) when the client lost its "open" on
// every attempt.
var ErrLostOpen = errors.New("testclient: the Go client lost the Engine.IO open event")

// Dial connects a Go client socket to namespace nsp of the server at url
// (the base URL, such as "http://127.0.0.1:1234", without the namespace).
// opts may be nil; Dial turns reconnection and autoConnect off. on, when not
// nil, is called with the socket before it connects, to add listeners:
// nothing the server sends is missed. Dial returns once the CONNECT packet
// is sent; the caller waits for "connect" or "connect_error". It returns an
// error when the Engine.IO connection cannot be opened (the manager's
// connect_error, such as "timeout" after opts' timeout).
//
// Socket.Disconnect closes the connection.
func Dial(url, nsp string, opts client.OptionsInterface, on func(*client.Socket)) (*client.Socket, error) {
	if opts == nil {
		opts = client.DefaultOptions()
	}
	opts.SetAutoConnect(false)
	opts.SetReconnection(false)
	opts.SetForceNew(true)
	for attempt := 1; ; attempt++ {
		m := client.NewManager(url, opts)
		s, err := open(m, func() *client.Socket {
			s := m.Socket(nsp, opts)
			if on != nil {
				on(s)
			}
			s.Connect()
			return s
		})
		if err == nil {
			return s, nil
		}
		// Closes the manager, its engine and its timers.
		m.Socket(nsp, opts).Disconnect()
		if !errors.Is(err, ErrLostOpen) {
			return nil, err
		}
		if attempt == Attempts {
			return nil, fmt.Errorf("%w, %d times", err, attempt)
		}
	}
}

// open opens m and, on its "open", calls connect: on the engine's
// goroutine, before the engine flushes its first packets, so that the
// CONNECT packet leaves with them (over long-polling, the Go client loses
// what it writes later; see interop TestGoClient). It returns connect's
// socket, or ErrLostOpen when m's engine has been open for missedOpen and
// m's open callback has not started.
//
// The decision is exact with respect to the callback: a callback that has
// started is waited for, however long it takes, and one that starts after
// the attempt was abandoned returns at once, without calling connect. A
// timed decision alone was not: a callback merely starved past the limit
// made Dial abandon the attempt and dial again, and the late callback then
// ran connect on the abandoned manager, whose socket reached the caller's
// listeners (TestDialSlowOpen).
func open(m *client.Manager, connect func() *client.Socket) (*client.Socket, error) {
	type result struct {
		s   *client.Socket
		err error
	}
	var mu sync.Mutex
	started, abandoned := false, false
	opened := make(chan result, 1)
	m.Open(func(err error) {
		mu.Lock()
		if abandoned {
			mu.Unlock()
			return
		}
		started = true
		mu.Unlock()
		r := result{err: err}
		if err == nil {
			r.s = connect()
		}
		opened <- r
	})
	// abandon gives the attempt up unless its callback has started.
	abandon := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if started {
			return false
		}
		abandoned = true
		return true
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var engineOpenSince time.Time
	for {
		select {
		case r := <-opened:
			if r.err != nil && engineOpen(m) {
				// The manager's own timeout came first.
				return nil, fmt.Errorf("%w (then %v)", ErrLostOpen, r.err)
			}
			return r.s, r.err
		case now := <-tick.C:
			if !engineOpen(m) {
				continue
			}
			if engineOpenSince.IsZero() {
				engineOpenSince = now
			} else if now.Sub(engineOpenSince) >= missedOpen && abandon() {
				return nil, ErrLostOpen
			}
		}
	}
}

func engineOpen(m *client.Manager) bool {
	e := m.Engine()
	return e != nil && e.ReadyState() == engine.SocketStateOpen
}
