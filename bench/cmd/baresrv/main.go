// Command baresrv is the benchmark's baseline: a Socket.IO server built with
// github.com/zishang520/socket.io/servers/socket/v3 and nothing else.
//
//	baresrv [-addr 127.0.0.1:0] [-jwt]
//
// Without -jwt every connection is accepted. With -jwt a namespace
// middleware checks an HS256 token (auth.token, with or without "Bearer ",
// or the token query parameter) with a bare golang-jwt call and rejects
// with a CONNECT_ERROR carrying {message, code, type}: the least a
// hand-written check costs, to set against the library.
//
// Event "echo" (payload m) makes the server emit "echo-response" m.
// POST /login returns {"token": "<jwt>"} signed like the fixture's
// (HS256, secret "aaafoo super sercret", 5 h). When ready it prints
// "listening on http://HOST:PORT" on stdout; SIGINT or SIGTERM stops it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

const secret = "aaafoo super sercret"

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (port 0 picks a free port)")
	withJWT := flag.Bool("jwt", false, "check an HS256 token with golang-jwt in a namespace middleware")
	flag.Parse()
	if err := run(*addr, *withJWT); err != nil {
		fmt.Fprintln(os.Stderr, "baresrv:", err)
		os.Exit(1)
	}
}

func run(addr string, withJWT bool) error {
	opts := socket.DefaultServerOptions()
	sio := socket.NewServer(nil, opts)
	if withJWT {
		sio.Of("/", nil).Use(checkJWT)
	}
	sio.On("connection", func(args ...any) {
		s, ok := args[0].(*socket.Socket)
		if !ok {
			return
		}
		_ = s.On("echo", func(m ...any) { _ = s.Emit("echo-response", m...) })
	})

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", sio.ServeHandler(nil))
	mux.HandleFunc("POST /login", login)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("listening on http://%s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sio.Close(nil)
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

var parser = jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}))

func key(*jwt.Token) (any, error) { return []byte(secret), nil }

func checkJWT(s *socket.Socket, next func(*socket.ExtendedError)) {
	hs := s.Handshake()
	var tok string
	if t, ok := hs.Auth["token"].(string); ok {
		tok = strings.TrimPrefix(t, "Bearer ")
	} else {
		switch q := hs.Query["token"].(type) {
		case string:
			tok = q
		case []string:
			if len(q) > 0 {
				tok = q[0]
			}
		}
	}
	reject := func(code, msg string) {
		next(socket.NewExtendedError(msg, map[string]any{"message": msg, "code": code, "type": "UnauthorizedError"}))
	}
	if tok == "" {
		reject("credentials_required", "no token provided")
		return
	}
	if _, err := parser.ParseWithClaims(tok, jwt.MapClaims{}, key); err != nil {
		reject("invalid_token", "invalid token")
		return
	}
	next(nil)
}

func login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username string `json:"username"`
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		_ = json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in)
	} else if err := r.ParseForm(); err == nil {
		in.Username = r.PostForm.Get("username")
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"first_name": "John", "last_name": "Doe", "email": "john@doe.com", "id": 123,
		"iat": now.Unix(), "exp": now.Add(5 * time.Hour).Unix(),
	}
	if in.Username != "" {
		claims["sub"] = in.Username
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		http.Error(w, "sign failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
}
