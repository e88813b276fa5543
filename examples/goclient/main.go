// Command goclient connects to a Socket.IO server protected by siojwt with
// the Go client github.com/zishang520/socket.io/clients/socket/v3,
// authenticates with a JWT, and prints what happens: connected, refused
// (with the error's code and message), warned that the token expires, cut.
//
// Against the demo (make demo), with a token it issued:
//
//	TOKEN=$(curl -s -XPOST localhost:3000/login -d '{"username":"gopher"}' | jq -r .token)
//	go run ./examples/goclient -url http://127.0.0.1:3000 -token "$TOKEN" -say "hello from Go"
//
// The token comes from -token or the SIOJWT_TOKEN environment variable
// (which keeps it out of the process list and the shell history). In
// handshake mode (the default) it goes in the handshake payload, as
// io(url, {auth: {token}}) sends it; with -mode connect the client
// connects first and emits "authenticate" {token}, socketio-jwt's default
// flow. The exit status is 0 when the client connected and authenticated,
// 1 when it was refused or cut, 2 for a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	client "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// splitURL splits a server URL into the connection's URL and the
// namespace (its path; "/" when it has none).
func splitURL(raw string) (base, nsp string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", err
	}
	nsp = u.Path
	if nsp == "" {
		nsp = "/"
	}
	u.Path, u.RawPath = "", ""
	return u.String(), nsp, nil
}

// tokenEnv names the environment variable read when -token is not given.
const tokenEnv = "SIOJWT_TOKEN"

// config is what the flags say.
type config struct {
	url       string        // server URL, namespace included ("http://host:3000/admin")
	token     string        // the JWT
	mode      string        // "handshake" or "connect"
	transport string        // "websocket" or "polling"
	say       string        // a "chat" message to emit once authenticated
	stay      time.Duration // how long to stay connected; 0: until cut or interrupted
	wait      time.Duration // how long one attempt may take to connect and authenticate
	attempts  int           // attempts when the connection fails before the server answers
}

// Outcome is how a run ended.
type Outcome struct {
	// Authenticated is true once the server accepted the token.
	Authenticated bool
	// Code and Message are those of the refusal or cut, if any
	// (connect_error's err.data, or "unauthorized"'s data).
	Code, Message string
	// Reason is the disconnect reason, if the socket was disconnected
	// ("io server disconnect" when the server cut it).
	Reason string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := parseFlags(os.Args[1:], os.Getenv(tokenEnv), os.Stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "goclient:", err)
		}
		os.Exit(2)
	}
	out, err := run(ctx, cfg, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "goclient:", err)
		os.Exit(1)
	}
	if !out.Authenticated || out.Code != "" {
		os.Exit(1)
	}
}

func parseFlags(args []string, envToken string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("goclient", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "http://127.0.0.1:3000", "server URL; a path selects the namespace (http://host:3000/admin)")
	fs.StringVar(&c.token, "token", "", "the JWT (default: $"+tokenEnv+")")
	fs.StringVar(&c.mode, "mode", "handshake", `"handshake": send the token in the handshake payload; "connect": connect, then emit "authenticate" {token}`)
	fs.StringVar(&c.transport, "transport", "websocket", `"websocket" or "polling" (HTTP long-polling)`)
	fs.StringVar(&c.say, "say", "", `once authenticated, emit "chat" {text: SAY} (the demo broadcasts it)`)
	fs.DurationVar(&c.stay, "for", 0, "stay connected this long, then disconnect (0: until cut or interrupted)")
	fs.DurationVar(&c.wait, "timeout", 5*time.Second, "give up an attempt not connected and authenticated within this time")
	fs.IntVar(&c.attempts, "attempts", 3, "attempts when the connection fails before the server answers (refusals are never retried)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.token == "" {
		c.token = envToken
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.mode != "handshake" && c.mode != "connect":
		return c, fmt.Errorf("-mode %q: handshake or connect", c.mode)
	case c.transport != "websocket" && c.transport != "polling":
		return c, fmt.Errorf("-transport %q: websocket or polling", c.transport)
	case c.wait <= 0:
		return c, errors.New("-timeout must be positive")
	case c.attempts < 1:
		return c, errors.New("-attempts must be at least 1")
	}
	return c, nil
}

// run connects, authenticates and reports on out until the socket is
// refused or cut, cfg.stay has passed, or ctx is done. An empty token is
// sent as it is: the server's refusal shows what it says without one.
//
// A connection that fails before the server answered (no network, a
// timeout) is tried again, up to cfg.attempts times; a refusal is not: the
// same token would be refused again. A timeout also covers a race of the
// Go client v3.0.6: Manager.Open subscribes to the engine's "open" after
// the engine has dialed, and can miss it, leaving the connection open
// with no CONNECT sent on it (seen once in about 20 attempts under -race
// beside two CPU burners).
func run(ctx context.Context, cfg config, out io.Writer) (Outcome, error) {
	for attempt := 1; ; attempt++ {
		o, retry, err := connect(ctx, cfg, out)
		if !retry || attempt >= cfg.attempts || ctx.Err() != nil {
			return o, err
		}
		fmt.Fprintf(out, "retrying (attempt %d of %d)\n", attempt+1, cfg.attempts)
		select {
		case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
		case <-ctx.Done():
			return o, err
		}
	}
}

// connect makes one attempt. retry reports a failure before the server
// answered.
func connect(ctx context.Context, cfg config, out io.Writer) (_ Outcome, retry bool, _ error) {
	opts := client.DefaultOptions()
	if cfg.mode == "handshake" {
		opts.SetAuth(map[string]any{"token": cfg.token})
	}
	opts.SetReconnection(false) // show each failure instead of retrying
	// One transport, no upgrade: polling-then-upgrade is what browsers need,
	// not a Go program.
	if cfg.transport == "polling" {
		opts.SetTransports(types.NewSet(client.Polling))
	} else {
		opts.SetTransports(types.NewSet(client.WebSocket))
	}
	opts.SetForceNew(true)
	opts.SetTimeout(cfg.wait)
	opts.SetAutoConnect(false) // connect once the handlers are on and the connection is open
	base, nsp, err := splitURL(cfg.url)
	if err != nil {
		return Outcome{}, false, err
	}
	m := client.NewManager(base, opts)
	sock := m.Socket(nsp, opts)
	defer sock.Disconnect() // closes the connection too

	var (
		mu      sync.Mutex
		outcome Outcome
	)
	authenticated := make(chan struct{})
	done := make(chan struct{})
	var authOnce, doneOnce sync.Once
	setAuthenticated := func() {
		mu.Lock()
		outcome.Authenticated = true
		mu.Unlock()
		authOnce.Do(func() { close(authenticated) })
	}
	finish := func() { doneOnce.Do(func() { close(done) }) }
	refused := func(code, message string) {
		mu.Lock()
		if outcome.Code == "" {
			outcome.Code, outcome.Message = code, message
		}
		mu.Unlock()
	}
	printf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}

	on := func(ev string, fn func(args ...any)) { _ = sock.On(types.EventName(ev), fn) }
	var connected atomic.Bool
	on("connect", func(...any) {
		connected.Store(true)
		printf("connected: socket %s", sock.Id())
		if cfg.mode == "handshake" {
			setAuthenticated() // the server admitted the token with the handshake
			return
		}
		_ = sock.Emit("authenticate", map[string]any{"token": cfg.token})
	})
	on("authenticated", func(...any) {
		select {
		case <-authenticated: // a refresh
			printf("authenticated: the new token is in force")
		default:
			printf("authenticated")
			setAuthenticated()
		}
	})
	on("connect_error", func(args ...any) {
		code, msg := errorData(args)
		if code != "" {
			printf("refused: %s: %s", code, msg)
		} else {
			printf("connect_error: %s", msg)
		}
		refused(code, msg)
		finish()
	})
	on("unauthorized", func(args ...any) {
		code, msg := errorData(args)
		printf("unauthorized: %s: %s", code, msg)
		refused(code, msg)
		if n := len(args); n > 0 {
			if ack, ok := args[n-1].(func([]any, error)); ok {
				ack(nil, nil) // lets the server disconnect at once
			}
		}
	})
	on("token_expiring", func(args ...any) {
		left := "soon"
		if m, ok := first(args).(map[string]any); ok {
			if ms, ok := m["expiresIn"].(float64); ok {
				left = fmt.Sprintf("in %.1f s", ms/1000)
			}
		}
		printf(`token_expiring: the token expires %s; emit "authenticate" {token} with a new one to stay connected`, left)
	})
	on("disconnect", func(args ...any) {
		reason, _ := first(args).(string)
		printf("disconnected: %s", reason)
		mu.Lock()
		outcome.Reason = reason
		mu.Unlock()
		finish()
	})
	sock.OnAny(func(args ...any) {
		name, _ := first(args).(string)
		switch name {
		case "authenticated", "unauthorized", "token_expiring":
			return
		}
		printf("event %s %v", name, args[1:])
	})
	// Open the connection first and connect the socket once it is open.
	// Socket.Connect on a connection still opening can send CONNECT twice
	// with the Go client v3.0.6 (its own check and the manager's "open"
	// race), and the server then closes the connection ("transport close"
	// right after "connect").
	m.Open(func(err error) {
		if err != nil {
			printf("connect_error: %v", err)
			finish()
			return
		}
		sock.Connect()
	})

	select {
	case <-authenticated:
	case <-done:
		o := outcome.snapshot(&mu)
		return o, o.Code == "" && !connected.Load(), nil
	case <-time.After(cfg.wait + time.Second): // the client's own timeout comes first
		return outcome.snapshot(&mu), !connected.Load(), fmt.Errorf("not authenticated within %v", cfg.wait)
	case <-ctx.Done():
		return outcome.snapshot(&mu), false, nil
	}
	if cfg.say != "" {
		_ = sock.Emit("chat", map[string]any{"text": cfg.say})
	}
	var stay <-chan time.Time
	if cfg.stay > 0 {
		stay = time.After(cfg.stay)
	}
	select {
	case <-done:
	case <-stay:
	case <-ctx.Done():
	}
	return outcome.snapshot(&mu), false, nil
}

func (o *Outcome) snapshot(mu *sync.Mutex) Outcome {
	mu.Lock()
	defer mu.Unlock()
	return *o
}

func first(args []any) any {
	if len(args) == 0 {
		return nil
	}
	return args[0]
}

// errorData reads {code, message} from a connect_error (an
// *types.ExtendedError whose Data is the error object) or from an
// "unauthorized" payload ({message, data: {code, message, type}}).
func errorData(args []any) (code, message string) {
	var data any
	switch v := first(args).(type) {
	case error:
		var xe *types.ExtendedError
		if !errors.As(v, &xe) {
			return "", v.Error()
		}
		data = xe.Data
		message = xe.Message
	case map[string]any:
		data = v["data"]
		message, _ = v["message"].(string)
	}
	if m, ok := data.(map[string]any); ok && m["type"] == "UnauthorizedError" {
		code, _ = m["code"].(string)
		if msg, ok := m["message"].(string); ok {
			message = msg
		}
	}
	return code, message
}
