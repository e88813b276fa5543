// Command socketio-jwt-demo is a chat in the browser whose sockets are
// authenticated with JWTs by siojwt: log in, chat, watch the token count
// down and refresh in-band, open the admin namespace, tamper with the
// token, log out and see the socket cut.
//
//	make demo                             # npm ci if needed, then the command below
//	go run ./cmd/socketio-jwt-demo        # http://127.0.0.1:3000
//
// Flags:
//
//	-addr ADDR            listen address (default 127.0.0.1:3000; port 0 picks a free port)
//	-token-ttl D          lifetime of the tokens it issues (default 60s)
//	-expiry-warning D     emit "token_expiring" this long before expiry (default: a quarter of -token-ttl)
//	-key FILE             sign with this PEM private key (ECDSA, Ed25519 or RSA) instead of a key generated at start
//	-alg ES256|EdDSA      algorithm of the generated key (default ES256)
//	-assets DIR           the node_modules directory that holds socket.io-client (default: found from the working directory up)
//	-v                    log every authentication event
//
// When it is ready it prints "listening on http://HOST:PORT" to standard
// output. Two subcommands help with manual testing:
//
//	go run ./cmd/socketio-jwt-demo keygen > demo-key.pem
//	go run ./cmd/socketio-jwt-demo token -sub alice -ttl 1h -claim role=admin -key demo-key.pem
//
// A server started without -key signs and verifies with a key it generated
// at start: it refuses tokens minted with any other key. Pass the same
// -key to the server and to the token subcommand.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "socketio-jwt-demo:", err)
		os.Exit(1)
	}
}

// run dispatches to a subcommand, or serves the demo until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "token":
			return tokenCommand(args[1:], stdout, stderr)
		case "keygen":
			return keygenCommand(args[1:], stdout, stderr)
		}
	}
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, stdout, stderr)
}
