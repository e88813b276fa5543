// Command audit is a Socket.IO server protected by siojwt that writes an
// audit log: one JSON line per authentication event (successes, refusals,
// refreshes, cuts and closes) with the time, the kind of event, the mode,
// the namespace, the client address, the error code, the token's subject
// and the token's fingerprint. The token itself is never written: the
// fingerprint (the first 8 bytes of its SHA-256, in hex) is enough to tie
// the lines of one token together and useless to replay it.
//
//	export AUDIT_JWT_SECRET=$(openssl rand -hex 32)
//	go run ./examples/audit -token alice             # prints a token for alice, valid 1 h
//	go run ./examples/audit -addr 127.0.0.1:3000 > audit.jsonl
//
// A client connects with io("http://127.0.0.1:3000", {auth: {token}}) and
// receives "hello" with its subject. The audit log goes to standard output,
// everything else to standard error. A line looks like:
//
//	{"time":"2025-01-02T15:04:05.123Z","level":"INFO","msg":"auth","kind":"authenticated","mode":"handshake","namespace":"/","socket":"NR6LGbUvp7xngQAAAAAAAAAB","remote":"127.0.0.1","code":"","sub":"alice","fingerprint":"9eab02118c8e065d","duration_us":38}
//
// Refusals and cuts are logged at WARN and add "cause", the internal
// reason, which is never sent to clients.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/core"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// secretEnv names the environment variable that holds the HMAC secret.
const secretEnv = "AUDIT_JWT_SECRET"

// minSecretLen is the shortest secret accepted: HS256 wants at least 256
// bits of key.
const minSecretLen = 32

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv(secretEnv), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "audit:", err)
		os.Exit(1)
	}
}

// run parses args and either prints a token (-token) or serves until ctx
// is done, writing the audit log to stdout.
func run(ctx context.Context, args []string, secret string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:3000", "listen address")
	subject := fs.String("token", "", "print a token for this subject, valid one hour, and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(secret) < minSecretLen {
		return fmt.Errorf("set %s to a secret of at least %d bytes", secretEnv, minSecretLen)
	}
	if *subject != "" {
		tok, err := mint([]byte(secret), *subject, time.Now(), time.Hour)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, tok)
		return err
	}

	app, err := newServer([]byte(secret), stdout)
	if err != nil {
		return err
	}
	defer app.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stderr, "listening on http://%s\n", ln.Addr())
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	err = srv.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// server is the Socket.IO server with its authentication and audit log.
type server struct {
	io   *socket.Server
	auth *siojwt.Auth
	mux  *http.ServeMux
}

// newServer builds the server: every socket of the root namespace must
// present an HS256 token signed with secret in its handshake, and every
// authentication event becomes a line of JSON on audit.
func newServer(secret []byte, audit io.Writer) (*server, error) {
	v, err := core.New(
		core.WithSecret(secret),
		core.WithAlgorithms("HS256"),
		core.WithRequiredExpiry(),
		// Browsers can send the token in the handshake payload: keep it
		// out of URLs, where proxies and access logs would record it.
		core.WithoutQuery(),
	)
	if err != nil {
		return nil, err
	}
	io := socket.NewServer(nil, nil)
	log := slog.New(slog.NewJSONHandler(audit, nil))
	auth, err := siojwt.New(io, v, siojwt.WithHook(auditHook(log)))
	if err != nil {
		io.Close(nil)
		return nil, err
	}
	root := io.Sockets()
	if err := auth.Protect(root); err != nil {
		_ = auth.Close()
		io.Close(nil)
		return nil, err
	}
	_ = root.On("connection", func(args ...any) {
		s := args[0].(*socket.Socket)
		if c := auth.Claims(s); c != nil {
			_ = s.Emit("hello", c.Subject)
		}
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io.ServeHandler(nil))
	return &server{io: io, auth: auth, mux: mux}, nil
}

// ServeHTTP serves the Socket.IO endpoint.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close disconnects every socket and stops the server's background work.
func (s *server) Close() {
	s.io.Close(nil)
	_ = s.auth.Close()
}

// auditHook returns a siojwt hook that writes one record per event. The
// JSON handler escapes every value, so client-chosen strings (a namespace
// name, a subject) cannot forge or break lines. Refusals and cuts are
// logged at WARN, the rest at INFO.
func auditHook(log *slog.Logger) func(siojwt.Event) {
	return func(e siojwt.Event) {
		level := slog.LevelInfo
		switch e.Kind {
		case siojwt.EventRejected, siojwt.EventExpired, siojwt.EventRevoked, siojwt.EventTimedOut:
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{
			slog.String("kind", string(e.Kind)),
			slog.String("mode", string(e.Mode)),
			slog.String("namespace", e.Namespace),
			slog.String("socket", e.SocketID),
			slog.String("remote", e.RemoteAddr),
			slog.String("code", e.Code),
			slog.String("sub", e.Subject),
			slog.String("fingerprint", e.Fingerprint),
		}
		if e.Duration > 0 {
			attrs = append(attrs, slog.Int64("duration_us", e.Duration.Microseconds()))
		}
		if e.Err != nil {
			// The internal cause: fine for an audit log, never for clients.
			// It may quote what a client sent (a key ID, say): cut it short.
			attrs = append(attrs, slog.String("cause", clip(e.Err.Error(), maxCause)))
		}
		log.LogAttrs(context.Background(), level, "auth", attrs...)
	}
}

// maxCause is the longest cause an audit line keeps, in bytes.
const maxCause = 256

// clip cuts s to at most n bytes, at a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// mint returns an HS256 token for sub, issued at now and valid for ttl.
func mint(secret []byte, sub string, now time.Time, ttl time.Duration) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": sub,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}).SignedString(secret)
}
