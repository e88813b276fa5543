// Command baresrv is the benchmark's baseline: a Socket.IO server built with
// github.com/zishang520/socket.io/servers/socket/v3 and nothing else.
//
//	baresrv [-addr 127.0.0.1:0] [-jwt] [server options] [-cpuprofile FILE]
//
// Without -jwt every connection is accepted. With -jwt a namespace
// middleware checks an HS256 token (auth.token, with or without "Bearer ",
// or the token query parameter) with a bare golang-jwt call and rejects
// with a CONNECT_ERROR carrying {message, code, type}: the least a
// hand-written check costs, to set against the library.
//
// The server options of the Socket.IO and Engine.IO servers can be set from
// flags, so that the benchmark can price each one per connection:
//
//	-transports polling,websocket   enabled transports (default both)
//	-upgrades=false                 no polling-to-websocket upgrades
//	-deflate N                      permessage-deflate for websocket, messages from N bytes (-1: off, the default)
//	-http-compression N             gzip/deflate of polling responses from N bytes (-1: off; default 1024)
//	-ping-interval, -ping-timeout   Engine.IO heartbeat (default 25s, 20s)
//	-recovery                       connection-state recovery (session-aware adapter)
//	-max-buffer N                   maxHttpBufferSize (default 1e6)
//	-serve-client                   serve the client bundle
//	-cleanup-ns                     remove empty child namespaces
//	-connect-timeout D              time allowed for the first namespace CONNECT (default 45s)
//	-pprof                          net/http/pprof under /debug/pprof/, and POST /debug/free:
//	                                collect the garbage and return the freed memory to the OS
//
// Event "echo" (payload m) makes the server emit "echo-response" m.
// POST /login returns {"token": "<jwt>"} signed like the fixture's
// (HS256, secret "aaafoo super sercret", 5 h). GET /metrics serves the Go
// runtime and process collectors of Prometheus (go_goroutines,
// process_resident_memory_bytes…). When ready it prints "listening on
// http://HOST:PORT" on stdout; SIGINT or SIGTERM stops it (and writes the
// CPU profile of -cpuprofile).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/zishang520/socket.io/servers/engine/v3"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

const secret = "aaafoo super sercret"

type config struct {
	addr            string
	withJWT         bool
	transports      string
	upgrades        bool
	deflate         int
	httpCompression int
	pingInterval    time.Duration
	pingTimeout     time.Duration
	recovery        bool
	maxBuffer       int64
	serveClient     bool
	cleanupNS       bool
	connectTimeout  time.Duration
	cpuProfile      string
	pprof           bool
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "127.0.0.1:0", "listen address (port 0 picks a free port)")
	flag.BoolVar(&c.withJWT, "jwt", false, "check an HS256 token with golang-jwt in a namespace middleware")
	flag.StringVar(&c.transports, "transports", "polling,websocket", "enabled transports: polling,websocket or websocket or polling")
	flag.BoolVar(&c.upgrades, "upgrades", true, "allow upgrades from polling to websocket")
	flag.IntVar(&c.deflate, "deflate", -1, "permessage-deflate for websocket for messages of at least this many bytes (-1: off, the server's default)")
	flag.IntVar(&c.httpCompression, "http-compression", 1024, "compress polling responses of at least this many bytes (-1: off)")
	flag.DurationVar(&c.pingInterval, "ping-interval", 25*time.Second, "Engine.IO ping interval")
	flag.DurationVar(&c.pingTimeout, "ping-timeout", 20*time.Second, "Engine.IO ping timeout")
	flag.BoolVar(&c.recovery, "recovery", false, "turn on connection-state recovery")
	flag.Int64Var(&c.maxBuffer, "max-buffer", 1e6, "maxHttpBufferSize in bytes")
	flag.BoolVar(&c.serveClient, "serve-client", false, "serve the client bundle")
	flag.BoolVar(&c.cleanupNS, "cleanup-ns", false, "remove child namespaces that have no sockets")
	flag.DurationVar(&c.connectTimeout, "connect-timeout", socket.DefaultConnectTimeout, "time a client has to connect to a namespace")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.BoolVar(&c.pprof, "pprof", false, "serve net/http/pprof under /debug/pprof/, and POST /debug/free (collect the garbage, return the freed memory to the OS), as the fixture does")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "baresrv:", err)
		os.Exit(1)
	}
}

// serverOptions turns the flags into the server library's options.
func serverOptions(c config) (*socket.ServerOptions, error) {
	opts := socket.DefaultServerOptions()
	tr := types.NewSet[engine.TransportCtor]()
	for name := range strings.SplitSeq(c.transports, ",") {
		switch strings.TrimSpace(name) {
		case "polling":
			tr.Add(engine.Polling)
		case "websocket":
			tr.Add(engine.WebSocket)
		default:
			return nil, fmt.Errorf("-transports: unknown transport %q", name)
		}
	}
	opts.SetTransports(tr)
	opts.SetAllowUpgrades(c.upgrades)
	if c.deflate >= 0 {
		opts.SetPerMessageDeflate(&types.PerMessageDeflate{Threshold: c.deflate})
	}
	if c.httpCompression >= 0 {
		opts.SetHttpCompression(&types.HttpCompression{Threshold: c.httpCompression})
	} else {
		opts.SetHttpCompression(nil)
	}
	opts.SetPingInterval(c.pingInterval)
	opts.SetPingTimeout(c.pingTimeout)
	if c.recovery {
		opts.SetConnectionStateRecovery(socket.DefaultConnectionStateRecovery())
	}
	opts.SetMaxHttpBufferSize(c.maxBuffer)
	opts.SetServeClient(c.serveClient)
	opts.SetCleanupEmptyChildNamespaces(c.cleanupNS)
	opts.SetConnectTimeout(c.connectTimeout)
	return opts, nil
}

func run(c config) error {
	opts, err := serverOptions(c)
	if err != nil {
		return err
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	sio := socket.NewServer(nil, opts)
	if c.withJWT {
		sio.Of("/", nil).Use(checkJWT)
	}
	sio.On("connection", func(args ...any) {
		s, ok := args[0].(*socket.Socket)
		if !ok {
			return
		}
		_ = s.On("echo", func(m ...any) { _ = s.Emit("echo-response", m...) })
	})

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", sio.ServeHandler(opts))
	mux.HandleFunc("POST /login", login)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if c.pprof {
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("POST /debug/free", func(w http.ResponseWriter, _ *http.Request) {
			debug.FreeOSMemory()
			w.WriteHeader(http.StatusNoContent)
		})
	}

	ln, err := net.Listen("tcp", c.addr)
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
