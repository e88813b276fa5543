package siojwt_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/core"
	client "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// The quick start: protect the default namespace in handshake mode, read
// the verified claims in the connection handler, and still in the
// socket's disconnect handler.
func Example() {
	io := socket.NewServer(nil, nil)

	verifier, err := core.New(core.WithSecretString("a secret of at least 32 bytes....."))
	if err != nil {
		panic(err)
	}
	auth, err := siojwt.New(io, verifier)
	if err != nil {
		panic(err)
	}
	defer auth.Close()

	nsp := io.Sockets()
	if err := auth.Protect(nsp); err != nil { // before your own handlers
		panic(err)
	}
	greeted := make(chan string, 1)
	left := make(chan string, 2) // the server library now and then reports a disconnection twice
	_ = nsp.On("connection", func(args ...any) {
		s := args[0].(*socket.Socket)
		_ = s.On("disconnect", func(...any) {
			if c := auth.Claims(s); c != nil { // nil for a socket that was cut
				left <- "goodbye " + c.Subject
			}
		})
		claims := auth.Claims(s)
		if claims == nil { // cut (revoked, say) between its handshake and now
			return
		}
		greeted <- "hello " + claims.Subject
	})

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io.ServeHandler(nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer io.Close(nil)

	// A client (any socket.io client) sends the token in the handshake.
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "bob", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte("a secret of at least 32 bytes....."))
	opts := client.DefaultOptions()
	opts.SetAuth(map[string]any{"token": tok})
	opts.SetTimeout(2 * time.Second) // the Go client now and then misses its first open: retry soon
	// Websocket from the start: cheaper than the default long-polling start
	// (see BENCHMARKS.md).
	opts.SetTransports(types.NewSet(client.WebSocket))
	c, _ := client.Io(srv.URL, opts)
	defer c.Disconnect()

	next := func(ch chan string) string {
		select {
		case msg := <-ch:
			return msg
		case <-time.After(30 * time.Second):
			return "timed out"
		}
	}
	fmt.Println(next(greeted))
	c.Disconnect()
	fmt.Println(next(left))
	// Output:
	// hello bob
	// goodbye bob
}

// Post-connect mode: the client connects, then emits "authenticate" with
// {token}; nothing reaches it, and its events reach no handler, until then.
func ExampleAuth_ProtectPostConnect() {
	io := socket.NewServer(nil, nil)
	verifier, _ := core.New(core.WithSecretString("a secret of at least 32 bytes....."))
	auth, _ := siojwt.New(io, verifier)
	defer auth.Close()

	_ = auth.ProtectPostConnect(io.Sockets(), func(s *socket.Socket) {
		// Runs once per successful authentication: register handlers here.
		_ = s.On("chat", func(args ...any) { io.Emit("chat", args...) })
	}, siojwt.NamespaceAuthenticateTimeout(5*time.Second))
	fmt.Println("ready")
	// Output: ready
}
