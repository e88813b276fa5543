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
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/authz"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/jwks"
	"github.com/siojwt/siojwt/metrics"
	"github.com/siojwt/siojwt/revoke"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// The demo's token settings. Issuer and audience are checked: a token
// signed with the right key for another purpose is refused.
const (
	issuer   = "socketio-jwt-demo"
	audience = "socketio-jwt-demo"
)

// Roles a token may carry, in its "role" claim. The server reads that
// claim as the socket's grants (package authz) and checks them with rules:
// a viewer may read the chat but not post, a user (a member) may post, an
// admin may post and open /admin.
const (
	roleViewer = "viewer"
	roleUser   = "user"
	roleAdmin  = "admin"
)

// chatEvent is the event that posts a message.
const chatEvent = "chat"

// lobby is the chat room every authenticated socket joins.
const lobby socket.Room = "lobby"

// maxMessage bounds a chat message, in characters.
const maxMessage = 500

// config is the server's settings, from its flags.
type config struct {
	addr     string
	tokenTTL time.Duration
	warning  time.Duration // expiry warning; 0 until parseConfig sets the default
	keyFile  string
	alg      string
	assets   string
	verbose  bool
	// A -redis URL flag belongs here: it selects the Redis revocation
	// store (see newRevocationStore) and the Redis adapter (see newDemo),
	// so that several demo processes share revocations and broadcasts.
}

func parseConfig(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("socketio-jwt-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:3000", "listen address (port 0 picks a free port)")
	fs.DurationVar(&c.tokenTTL, "token-ttl", 60*time.Second, "lifetime of the tokens /login and /refresh issue")
	fs.DurationVar(&c.warning, "expiry-warning", 0, `emit "token_expiring" this long before a token expires (default: a quarter of -token-ttl)`)
	fs.StringVar(&c.keyFile, "key", "", "sign with this PEM private key (ECDSA, Ed25519 or RSA) instead of one generated at start; give the token subcommand the same file")
	fs.StringVar(&c.alg, "alg", "ES256", "algorithm of the key generated at start: ES256 or EdDSA")
	fs.StringVar(&c.assets, "assets", "", "the node_modules directory that holds socket.io-client (default: found from the working directory up)")
	fs.BoolVar(&c.verbose, "v", false, "log every authentication event")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: socketio-jwt-demo [flags]\n       socketio-jwt-demo token -sub NAME [-ttl D] [-claim k=v]... (-key FILE | -secret S)\n       socketio-jwt-demo keygen [-alg ES256|EdDSA]\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (subcommands: token, keygen)", fs.Arg(0))
	}
	if c.tokenTTL < 2*time.Second {
		return c, fmt.Errorf("-token-ttl %v: at least 2s", c.tokenTTL)
	}
	if c.warning == 0 {
		c.warning = c.tokenTTL / 4
	}
	if c.warning < 0 || c.warning >= c.tokenTTL {
		return c, fmt.Errorf("-expiry-warning %v: must be positive and shorter than -token-ttl %v", c.warning, c.tokenTTL)
	}
	return c, nil
}

// serve runs the demo until ctx is done.
func serve(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	assets, err := loadClientAssets(cfg.assets)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if cfg.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	d, err := newDemo(cfg, selfURL(ln.Addr()), assets, logger)
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{Handler: d, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	// Ready once the server has fetched its own key set.
	ready, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = d.keys.Refresh(ready)
	cancel()
	if err == nil {
		fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
		select {
		case <-ctx.Done():
		case err = <-served:
		}
	} else {
		err = fmt.Errorf("fetching the demo's own key set: %w", err)
	}
	// Sockets first: long-polling requests would hold Shutdown up.
	d.Close()
	shut, cancelShut := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelShut()
	if serr := srv.Shutdown(shut); err == nil && serr != nil {
		err = serr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// selfURL is the base URL the server reaches itself at, to fetch its own
// key set: a wildcard listen address is reached over loopback.
func selfURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		port := 0
		if ok {
			port = tcp.Port
		}
		return fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	return "http://" + tcp.String()
}

// demo is the whole server: the page, the HTTP API and the Socket.IO
// server with its two namespaces.
type demo struct {
	cfg      config
	log      *slog.Logger
	signer   *signer
	keys     *jwks.Set
	verifier *core.Verifier
	revoked  revoke.Store
	io       *socket.Server
	auth     *siojwt.Auth
	chat     socket.Namespace // "/": everyone with a valid token
	admin    socket.Namespace // "/admin": tokens with role admin only
	mux      *http.ServeMux
	closers  []func()
}

// newDemo builds the server. base is the URL it is reachable at: it
// verifies tokens with the key set it publishes there, exactly as it would
// with an identity provider's.
func newDemo(cfg config, base string, assets *clientAssets, logger *slog.Logger) (_ *demo, err error) {
	d := &demo{cfg: cfg, log: logger, mux: http.NewServeMux()}
	defer func() {
		if err != nil {
			d.Close() // d itself: the result is nil on failure
		}
	}()
	if cfg.keyFile != "" {
		d.signer, err = loadSigner(cfg.keyFile)
	} else {
		d.signer, err = generateSigner(cfg.alg)
	}
	if err != nil {
		return nil, err
	}
	jwksDoc, err := d.signer.jwks()
	if err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	collector, err := metrics.New(reg)
	if err != nil {
		return nil, err
	}

	// The keys that verify tokens come from the JWK Set the demo publishes
	// at /.well-known/jwks.json, fetched over HTTP as a production server
	// fetches its identity provider's. Fetched in the background: the
	// server is not listening yet; serve waits for the first fetch.
	d.keys, err = jwks.New(context.Background(), base+"/.well-known/jwks.json",
		jwks.WithInsecureHTTP(), // loopback only: never for a key set on the network
		jwks.WithBackgroundStart(),
		jwks.WithLogger(logger),
		jwks.WithFetchHook(collector.KeySetFetch),
	)
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func() { _ = d.keys.Close() })
	keyOption := core.WithKeySource(d.keys) // a static key instead: core.WithPublicKey(d.signer.public())

	common := []core.Option{
		keyOption,
		core.WithAlgorithms(d.signer.alg()),
		core.WithIssuer(issuer),
		core.WithAudience(audience),
		core.WithRequiredExpiry(),
		core.WithoutQuery(), // keep tokens out of URLs and access logs
	}
	d.verifier, err = core.New(common...)
	if err != nil {
		return nil, err
	}
	// Grants from the "role" claim (a provider would more often put them
	// in "roles", "scope" or "permissions", which authz reads by default).
	grants, err := authz.NewExtractor(authz.WithoutDefaultClaims(), authz.WithClaim("role", authz.SpaceSeparated), authz.WithRoomsClaim(""))
	if err != nil {
		return nil, err
	}
	// "/": every valid token connects; posting needs the user or admin
	// role. A viewer's "chat" never reaches onChat: its acknowledgement
	// carries the refusal, which the page shows.
	chatPolicy, err := authz.NewPolicy(authz.Rules{
		Events: map[string]authz.Rule{chatEvent: authz.AnyOf(roleUser, roleAdmin)},
	})
	if err != nil {
		return nil, err
	}
	// "/admin": the admin role only; others are refused at the handshake
	// with insufficient_scope.
	adminPolicy, err := authz.NewPolicy(authz.Rules{Namespace: authz.AllOf(roleAdmin)})
	if err != nil {
		return nil, err
	}

	d.revoked, err = newRevocationStore(cfg)
	if err != nil {
		return nil, err
	}

	// With -redis, the Redis adapter is set here (io.SetAdapter), before
	// siojwt.New wraps it.
	d.io = socket.NewServer(nil, nil)
	d.closers = append(d.closers, func() { d.io.Close(nil) })
	aopts := []siojwt.Option{
		siojwt.WithRevocationStore(d.revoked),
		siojwt.WithExpiryWarning(cfg.warning),
		siojwt.WithHook(collector.Observe),
		siojwt.WithHook(d.onAuthEvent),
		siojwt.WithLogger(logger),
		siojwt.WithGrantsExtractor(grants),
	}
	d.auth, err = siojwt.New(d.io, d.verifier, aopts...)
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func() { _ = d.auth.Close() })

	d.chat = d.io.Sockets()
	if err := d.auth.Protect(d.chat, siojwt.NamespaceAuthorization(chatPolicy)); err != nil {
		return nil, err
	}
	_ = d.chat.On("connection", func(args ...any) { d.onChatConnection(args[0].(*socket.Socket)) })
	d.admin = d.io.Of("/admin", nil)
	if err := d.auth.Protect(d.admin, siojwt.NamespaceAuthorization(adminPolicy)); err != nil {
		return nil, err
	}
	_ = d.admin.On("connection", func(args ...any) { _ = args[0].(*socket.Socket).Emit("users", d.users()) })

	d.routes(jwksDoc, assets, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return d, nil
}

// newRevocationStore returns the store that /logout revokes into: in
// process memory, for this one server. This is where -redis plugs in
// revoke/redisrevoke.
func newRevocationStore(config) (revoke.Store, error) {
	return revoke.NewMemory()
}

// Close disconnects every socket and stops the background work.
func (d *demo) Close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
	if c, ok := d.revoked.(io.Closer); ok {
		_ = c.Close()
	}
}

// ServeHTTP implements http.Handler.
func (d *demo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	d.mux.ServeHTTP(w, r)
}

// user is who a socket is, from its verified claims: never from anything
// else the client sends.
type user struct {
	Subject string
	Name    string
	Role    string
}

func userOf(c *core.Claims) user {
	u := user{Subject: c.Subject, Name: c.Subject, Role: roleUser}
	if n, ok := c.Get("name"); ok {
		if s, ok := n.(string); ok && s != "" {
			u.Name = s
		}
	}
	switch r, _ := c.Get("role"); r {
	case roleAdmin, roleViewer:
		u.Role = r.(string)
	}
	return u
}

// onChatConnection runs for every socket admitted to "/": its token was
// verified in the handshake.
func (d *demo) onChatConnection(s *socket.Socket) {
	c := d.auth.Claims(s)
	if c == nil { // cut between the handshake and now
		return
	}
	u := userOf(c)
	s.Join(lobby)
	_ = s.Emit("welcome", map[string]any{"name": u.Name, "role": u.Role, "sub": u.Subject, "id": string(s.Id())})
	d.system(u.Name + " joined")
	d.pushUsers()

	_ = s.On(chatEvent, func(args ...any) { d.onChat(s, args) })
	_ = s.On("disconnect", func(...any) {
		d.system(u.Name + " left")
		d.pushUsers()
	})
}

// onChat broadcasts a message to the lobby with the sender's name from its
// verified claims. A client-side "from" field, if any, is ignored.
func (d *demo) onChat(s *socket.Socket, args []any) {
	var ack func([]any, error)
	if n := len(args); n > 0 {
		if f, ok := args[n-1].(func([]any, error)); ok {
			ack, args = f, args[:n-1]
		}
	}
	reply := func(v map[string]any) {
		if ack != nil {
			ack([]any{v}, nil)
		}
	}
	c := d.auth.Claims(s)
	if c == nil {
		reply(map[string]any{"error": "not authenticated"})
		return
	}
	text, err := messageText(args)
	if err != nil {
		reply(map[string]any{"error": err.Error()})
		return
	}
	u := userOf(c)
	_ = d.chat.To(lobby).Emit("chat", map[string]any{
		"from": u.Name, "role": u.Role, "sub": u.Subject, "text": text, "at": time.Now().UnixMilli(),
	})
	reply(map[string]any{"ok": true})
}

// messageText reads {text} from a "chat" event.
func messageText(args []any) (string, error) {
	if len(args) == 0 {
		return "", errors.New(`want {"text": "..."}`)
	}
	m, ok := args[0].(map[string]any)
	if !ok {
		return "", errors.New(`want {"text": "..."}`)
	}
	text, ok := m["text"].(string)
	if !ok {
		return "", errors.New(`want {"text": "..."}`)
	}
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return "", errors.New("empty message")
	case !utf8.ValidString(text):
		return "", errors.New("message is not UTF-8")
	case utf8.RuneCountInString(text) > maxMessage:
		return "", fmt.Errorf("message longer than %d characters", maxMessage)
	}
	return text, nil
}

// system tells the lobby that someone joined or left.
func (d *demo) system(text string) {
	_ = d.chat.To(lobby).Emit("system", map[string]any{"text": text, "at": time.Now().UnixMilli()})
}

// users lists the authenticated sockets of the chat, for the admin panel.
func (d *demo) users() []any {
	type row struct {
		name, role, sub, id string
		exp                 int64
	}
	var rows []row
	d.chat.Sockets().Range(func(id socket.SocketId, s *socket.Socket) bool {
		ss, ok := d.auth.Session(s)
		if !ok || !s.Connected() {
			return true
		}
		u := userOf(ss.Claims)
		r := row{name: u.Name, role: u.Role, sub: u.Subject, id: string(id)}
		if !ss.ExpiresAt.IsZero() {
			r.exp = ss.ExpiresAt.Unix()
		}
		rows = append(rows, r)
		return true
	})
	slices.SortFunc(rows, func(a, b row) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	out := make([]any, 0, len(rows))
	for _, r := range rows {
		out = append(out, map[string]any{"name": r.name, "role": r.role, "sub": r.sub, "socket": r.id, "exp": r.exp})
	}
	return out
}

// pushUsers sends the user list to every admin socket.
func (d *demo) pushUsers() { _ = d.admin.Emit("users", d.users()) }

// onAuthEvent is a siojwt hook: a refresh changes a user's expiry, which
// the admin panel shows.
func (d *demo) onAuthEvent(e siojwt.Event) {
	if e.Kind == siojwt.EventRefreshed && e.Namespace == "/" {
		d.pushUsers()
	}
}
