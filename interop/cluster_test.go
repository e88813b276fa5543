package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/zishang520/socket.io/adapters/adapter/v3"
	sioredis "github.com/zishang520/socket.io/adapters/redis/v3"
	"github.com/zishang520/socket.io/parsers/socket/v3/parser"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/utils"

	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/internal/redistest"
	"github.com/siojwt/siojwt/interop/harness"
)

// adapterKinds are the values of the fixture's -redis-adapter: the
// cluster tests that do not depend on one kind's channels run for each.
var adapterKinds = []string{"pubsub", "streams", "sharded"}

// testCluster is a redis-server (a Redis Cluster of three for "sharded")
// and fixtures that share it (-redis, -redis-adapter kind).
type testCluster struct {
	kind         string
	redisAddr    string   // the first node of a Redis Cluster
	redisAddrs   []string // "sharded": every node
	stopRedis    func()   // nil for "sharded"
	restartRedis func()   // nil for "sharded"
	servers      []*harness.Process
}

// startCluster starts a Redis for the adapter kind and n fixtures joined
// through it, each with args and -v.
func startCluster(t *testing.T, kind string, n int, args ...string) *testCluster {
	t.Helper()
	c := &testCluster{kind: kind}
	if kind == "sharded" {
		c.redisAddrs = redistest.StartCluster(t, 3)
		c.redisAddr = c.redisAddrs[0]
	} else {
		c.redisAddr, c.stopRedis, c.restartRedis = redistest.Start(t)
	}
	for range n {
		c.servers = append(c.servers, c.start(t, args...))
	}
	return c
}

// start starts one more fixture in the cluster.
func (c *testCluster) start(t *testing.T, args ...string) *harness.Process {
	t.Helper()
	return c.startVia(t, c.redisAddr, args...)
}

// startVia starts one more fixture in the cluster that reaches Redis at
// addr (a proxy in front of it).
func (c *testCluster) startVia(t *testing.T, addr string, args ...string) *harness.Process {
	t.Helper()
	url := "redis://" + addr + "/0"
	if c.kind == "sharded" {
		url = "redis://" + addr + "?addr=" + strings.Join(c.redisAddrs[1:], "&addr=")
	}
	return harness.StartFixture(t, append([]string{"-redis", url, "-redis-adapter", c.kind, "-v"}, args...)...)
}

// redisClient returns a client of the cluster's Redis (of the first node
// of a Redis Cluster), closed when the test ends.
func (c *testCluster) redisClient(t *testing.T) *redis.Client {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: c.redisAddr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rc.Close() })
	return rc
}

// universalClient returns a client of the cluster's Redis that follows
// the slots of a Redis Cluster, closed when the test ends.
func (c *testCluster) universalClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	if c.kind != "sharded" {
		return c.redisClient(t)
	}
	rc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.redisAddrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rc.Close() })
	return rc
}

// stderrLines counts the lines of p's stderr that hold every one of parts.
func stderrLines(p *harness.Process, parts ...string) int {
	n := 0
	for _, line := range strings.Split(p.Stderr(), "\n") {
		all := true
		for _, part := range parts {
			if !strings.Contains(line, part) {
				all = false
				break
			}
		}
		if all {
			n++
		}
	}
	return n
}

// awaitStderr waits up to d until p has logged n lines holding every one of
// parts.
func awaitStderr(t *testing.T, p *harness.Process, d time.Duration, n int, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for stderrLines(p, parts...) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s logged %d lines with %q within %v, want %d; stderr:\n%s",
				p.URL, stderrLines(p, parts...), parts, d, n, p.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// authedLog is what a fixture logs (with -v) when sub authenticates.
func authedLog(sub string) []string {
	return []string{`msg="siojwt: authenticated"`, " sub=" + sub + " "}
}

// inject publishes on Redis, as another server's Redis adapter would, a
// broadcast of event to the whole root namespace, with except as its Except
// list.
func inject(t *testing.T, rc *redis.Client, channel, event string, except ...socket.Room) {
	t.Helper()
	msg, err := utils.MsgPack().Encode(&sioredis.RedisPacket{
		Uid:    "intruder",
		Packet: &parser.Packet{Type: parser.EVENT, Nsp: "/", Data: []any{event, "x"}},
		Opts:   &adapter.PacketOptions{Except: except},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rc.Publish(ctx, channel, msg).Err(); err != nil {
		t.Fatalf("publishing on %s: %v", channel, err)
	}
}

// clusterChannel is the channel on which the fixtures' Redis adapters
// relay broadcasts to the whole root namespace (cluster.DefaultKey).
const clusterChannel = "socket.io#/##"

// probeEvent is an event a probe heard, with when it arrived.
type probeEvent struct {
	name string
	args []any
	at   time.Time
}

// probe is a minimal Socket.IO v4 client over a raw websocket (Engine.IO 4,
// root namespace, text packets only) that records what it hears. It
// answers the server's pings and does nothing else by itself, which makes
// it exact for timing: the Go client of the server library now and then
// never completes a websocket connection (about one in 30 on loopback).
// Events: "connect", "connect_error" [data], "disconnect" ["io server
// disconnect" on a DISCONNECT packet, "transport close" when the
// connection ends], and every server event with its arguments. It
// acknowledges "unauthorized" at once, as socketio-jwt's clients do.
type probe struct {
	conn *websocket.Conn
	wmu  sync.Mutex // one writer at a time: pongs and emits
	done chan struct{}

	mu     sync.Mutex
	events []probeEvent
}

// dialProbe connects a probe to the root namespace of url, with auth as the
// CONNECT packet's payload when not nil, and returns once the server has
// answered the CONNECT (with "connect" or "connect_error"). It is closed
// when the test ends.
func dialProbe(t *testing.T, url string, auth map[string]any) *probe {
	t.Helper()
	wsURL := "ws" + strings.TrimPrefix(url, "http") + "/socket.io/?EIO=4&transport=websocket"
	d := websocket.Dialer{HandshakeTimeout: waitLong}
	conn, resp, err := d.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("dialing %s: %v", wsURL, err)
	}
	_ = resp.Body.Close()
	p := &probe{conn: conn, done: make(chan struct{})}
	t.Cleanup(p.close)
	if open := p.read(t); !strings.HasPrefix(open, "0{") {
		t.Fatalf("first packet %q, want an Engine.IO open packet", open)
	}
	connect := "40"
	if auth != nil {
		b, err := json.Marshal(auth)
		if err != nil {
			t.Fatal(err)
		}
		connect += string(b)
	}
	p.write(t, connect)
	for {
		msg := p.read(t)
		p.handle(msg)
		if strings.HasPrefix(msg, "40") || strings.HasPrefix(msg, "44") {
			break
		}
	}
	go p.loop()
	return p
}

// read returns the next text message, failing the test after waitLong.
func (p *probe) read(t *testing.T) string {
	t.Helper()
	_ = p.conn.SetReadDeadline(time.Now().Add(waitLong))
	_, b, err := p.conn.ReadMessage()
	if err != nil {
		t.Fatalf("probe: reading: %v", err)
	}
	_ = p.conn.SetReadDeadline(time.Time{})
	return string(b)
}

func (p *probe) write(t *testing.T, msg string) {
	t.Helper()
	if err := p.send(msg); err != nil {
		t.Fatalf("probe: writing: %v", err)
	}
}

func (p *probe) send(msg string) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.conn.SetWriteDeadline(time.Now().Add(waitLong))
	return p.conn.WriteMessage(websocket.TextMessage, []byte(msg))
}

// loop reads until the connection ends.
func (p *probe) loop() {
	defer close(p.done)
	for {
		_, b, err := p.conn.ReadMessage()
		if err != nil {
			if p.count("disconnect") == 0 {
				p.record("disconnect", "transport close")
			}
			return
		}
		if string(b) == "2" { // Engine.IO ping
			_ = p.send("3")
			continue
		}
		p.handle(string(b))
	}
}

// handle records what a Socket.IO packet (Engine.IO type 4) says.
func (p *probe) handle(msg string) {
	body, ok := strings.CutPrefix(msg, "4")
	if !ok || body == "" {
		return
	}
	kind, rest := body[0], body[1:]
	switch kind {
	case '0':
		var data any
		_ = json.Unmarshal([]byte(rest), &data)
		p.record("connect", data)
	case '1':
		p.record("disconnect", "io server disconnect")
	case '4':
		var data any
		_ = json.Unmarshal([]byte(rest), &data)
		p.record("connect_error", data)
	case '2':
		data := strings.TrimLeft(rest, "0123456789")
		ackID := rest[:len(rest)-len(data)]
		var args []any
		if json.Unmarshal([]byte(data), &args) != nil || len(args) == 0 {
			p.record("malformed", msg)
			return
		}
		name, _ := args[0].(string)
		p.record(name, args[1:]...)
		if name == "unauthorized" && ackID != "" {
			_ = p.send("43" + ackID + "[]") // as socketio-jwt's clients do
		}
	}
}

func (p *probe) record(name string, args ...any) {
	p.mu.Lock()
	p.events = append(p.events, probeEvent{name: name, args: args, at: time.Now()})
	p.mu.Unlock()
}

func (p *probe) close() {
	_ = p.conn.Close()
	select {
	case <-p.done:
	case <-time.After(waitLong):
	}
}

// nth returns the n-th (from 1) event called name, if it came.
func (p *probe) nth(name string, n int) (probeEvent, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.events {
		if e.name == name {
			if n--; n == 0 {
				return e, true
			}
		}
	}
	return probeEvent{}, false
}

// count returns how many events called name came.
func (p *probe) count(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, e := range p.events {
		if e.name == name {
			n++
		}
	}
	return n
}

// String lists the events heard.
func (p *probe) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, e := range p.events {
		fmt.Fprintf(&b, " %s%v", e.name, e.args)
	}
	return "heard:" + b.String()
}

// await waits up to d for the n-th event called name.
func (p *probe) await(t *testing.T, name string, n int, d time.Duration) probeEvent {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if e, ok := p.nth(name, n); ok {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s #%d within %v; %s", name, n, d, p)
		}
		time.Sleep(time.Millisecond)
	}
}

// emit emits ev with args.
func (p *probe) emit(t *testing.T, ev string, args ...any) {
	t.Helper()
	b, err := json.Marshal(append([]any{ev}, args...))
	if err != nil {
		t.Fatal(err)
	}
	p.write(t, "42"+string(b))
}

// authenticate emits "authenticate" with token and waits for
// "authenticated".
func (p *probe) authenticate(t *testing.T, token string) {
	t.Helper()
	p.await(t, "connect", 1, waitLong)
	p.emit(t, "authenticate", map[string]any{"token": token})
	p.await(t, "authenticated", 1, waitLong)
}

// TestClusterBroadcastIsolation checks, for each adapter kind, that a
// broadcast made on one server reaches the authenticated sockets of the
// others and never a socket that has not authenticated: the Except list
// that keeps pending sockets out travels with the broadcast through Redis
// and the receiving server applies it. Broadcasts published on Redis by
// something else (pubsub: as another server's adapter would, with and
// without that Except list, by the server library's Go emitter run as a
// separate process, and by Node's Redis emitter; streams: an entry
// appended to the stream) reach the
// authenticated sockets of every server and not the pending one either: the
// receiving server adds the pending room to their Except list.
func TestClusterBroadcastIsolation(t *testing.T) {
	for _, kind := range adapterKinds {
		t.Run(kind, func(t *testing.T) { testBroadcastIsolation(t, kind) })
	}
}

func testBroadcastIsolation(t *testing.T, kind string) {
	c := startCluster(t, kind, 2, "-mode", "connect", "-timeout", "60s")
	a, b := c.servers[0], c.servers[1]
	// One subscriber per server: the adapter that siojwt.New replaces is
	// closed, not left listening.
	awaitSubscribers(t, c, 2)

	pending := dialProbe(t, b.URL, nil)
	pending.await(t, "connect", 1, waitLong)

	alice, bob := harness.Login(t, a.URL, "alice"), harness.Login(t, b.URL, "bob")
	ws := []string{harness.Websocket}
	onB := harness.StartClient(t, harness.Scenario{URL: b.URL, Transports: ws, Deadline: 60 * time.Second,
		Steps: []harness.Step{
			harness.Wait("connect", waitLong),
			harness.Authenticate(bob),
			harness.Wait("authenticated", waitLong),
			harness.Wait("shout", 30*time.Second),
			harness.Emit("shout", "from-b"),
			harness.Wait("shout", waitLong),
		}})
	awaitStderr(t, b, waitLong, 1, authedLog("bob")...)
	onA := harness.StartClient(t, harness.Scenario{URL: a.URL, Transports: ws, Deadline: 60 * time.Second,
		Steps: []harness.Step{
			harness.Wait("connect", waitLong),
			harness.Authenticate(alice),
			harness.Wait("authenticated", waitLong),
			harness.Emit("shout", "from-a"),
			harness.Wait("shout", waitLong),
			harness.Wait("shout", 30*time.Second),
		}})
	for _, r := range []struct {
		name string
		res  harness.Result
	}{{"alice on A", onA.Result()}, {"bob on B", onB.Result()}} {
		if !r.res.OK {
			t.Fatalf("%s: %s", r.name, r.res)
		}
		var got []string
		for _, e := range r.res.Events {
			if e.Name == "shout" {
				got = append(got, e.ArgString(0))
			}
		}
		// Each server relays in order, but two servers' shouts may cross.
		sort.Strings(got)
		if strings.Join(got, ",") != "from-a,from-b" {
			t.Fatalf("%s heard shouts %q, want from-a and from-b: %s", r.name, got, r.res)
		}
	}

	// Broadcasts from elsewhere, heard by an authenticated socket on each
	// server.
	onAWitness, onBWitness := dialProbe(t, a.URL, nil), dialProbe(t, b.URL, nil)
	onAWitness.authenticate(t, harness.Login(t, a.URL, "witness-a"))
	onBWitness.authenticate(t, harness.Login(t, b.URL, "witness-b"))
	var foreign []string
	switch kind {
	case "pubsub":
		rc := c.redisClient(t)
		inject(t, rc, clusterChannel, "guarded", siojwt.PendingRoom)
		inject(t, rc, clusterChannel, "injected")
		emitFromWorker(t, c, "emitted")
		emitFromNode(t, c, "node-emitted")
		foreign = []string{"guarded", "injected", "emitted", "node-emitted"}
	case "streams":
		appendBroadcast(t, c.redisClient(t), "appended")
		foreign = []string{"appended"}
	case "sharded":
		// The sharded adapter of the server library (v3.0.2) decodes what
		// it receives with no hook to check it: only the servers' own
		// broadcasts are isolated, on the sending side (see DEPLOYING.md).
	}
	for _, w := range []*probe{onAWitness, onBWitness} {
		for _, ev := range foreign {
			w.await(t, ev, 1, waitLong)
		}
	}
	// B has applied every broadcast: the pending socket's own request is
	// answered after anything B wrote to it before.
	pending.emit(t, "authenticate", map[string]any{"token": "not-a-token"})
	pending.await(t, "unauthorized", 1, waitLong)
	for _, ev := range append([]string{"shout"}, foreign...) {
		if n := pending.count(ev); n != 0 {
			t.Fatalf("the pending socket heard %d %q; %s", n, ev, pending)
		}
	}
}

// awaitSubscribers waits until n servers subscribe to the cluster's
// channels of the root namespace.
func awaitSubscribers(t *testing.T, c *testCluster, n int64) {
	t.Helper()
	channel := map[string]string{"pubsub": "socket.io-request#/#", "streams": "socket.io#/#", "sharded": "socket.io#/#"}[c.kind]
	rc := c.universalClient(t)
	deadline := time.Now().Add(waitLong)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var subs map[string]int64
		var err error
		if c.kind == "sharded" {
			subs, err = rc.PubSubShardNumSub(ctx, channel).Result()
		} else {
			subs, err = rc.PubSubNumSub(ctx, channel).Result()
		}
		cancel()
		if err == nil && subs[channel] == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscribers of %s: %v (%v), want %d", channel, subs, err, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// emitFromWorker broadcasts event to the root namespace with the server
// library's Go emitter, from a process of its own.
func emitFromWorker(t *testing.T, c *testCluster, event string) {
	t.Helper()
	bin := harness.Build(t, "./cluster/internal/emit")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-redis", "redis://"+c.redisAddr+"/0", event, "from a worker").CombinedOutput()
	if err != nil {
		t.Fatalf("emit: %v\n%s", err, out)
	}
}

// emitFromNode broadcasts event to the root namespace with Node's Redis
// emitter (interop/clients/emit.js).
func emitFromNode(t *testing.T, c *testCluster, event string) {
	t.Helper()
	node := harness.RequireNode(t)
	script := filepath.Join(harness.ModuleRoot(t), "interop", "clients", "emit.js")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, script, "redis://"+c.redisAddr+"/0", "/", event, "from node").CombinedOutput()
	if err != nil {
		t.Fatalf("emit.js: %v\n%s", err, out)
	}
}

// appendBroadcast appends to the Streams adapters' stream, as a server
// that does not exclude pending sockets would, a broadcast of event to the
// whole root namespace.
func appendBroadcast(t *testing.T, rc *redis.Client, event string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	data := `{"packet":{"type":2,"nsp":"/","data":["` + event + `","x"]},"opts":{"rooms":[],"except":[]}}`
	if err := rc.XAdd(ctx, &redis.XAddArgs{Stream: "socket.io", Values: map[string]any{
		"uid": "intruder", "nsp": "/", "type": strconv.Itoa(int(adapter.BROADCAST)), "data": data,
	}}).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestClusterRevocation checks, for each adapter kind, that a revocation
// made through one server cuts the sockets holding the token on the
// others, and that the token is refused everywhere afterwards.
func TestClusterRevocation(t *testing.T) {
	for _, kind := range adapterKinds {
		t.Run(kind, func(t *testing.T) { testRevocation(t, kind) })
	}
}

func testRevocation(t *testing.T, kind string) {
	c := startCluster(t, kind, 2)
	a, b := c.servers[0], c.servers[1]
	tokens := map[string]string{}
	for _, sub := range []string{"carol", "dan"} {
		tokens[sub] = harness.Login(t, a.URL, sub)
	}
	runs := map[string]*harness.ClientRun{}
	for sub, kind := range map[string]combo{"carol": {harness.ClientV4, harness.Websocket}, "dan": {harness.ClientV2, harness.Polling}} {
		s := kind.scenario(b.URL, tokens[sub], harness.Wait("connect", waitLong), harness.Wait("disconnect", 30*time.Second))
		s.Deadline = 45 * time.Second
		runs[sub] = harness.StartClient(t, s)
	}
	for sub := range runs {
		awaitStderr(t, b, waitLong, 1, append(authedLog(sub), "mode=handshake")...)
	}
	revoked := time.Now()
	revoke(t, a.URL, map[string]string{"sub": "carol"})
	revoke(t, a.URL, map[string]string{"jti": jtiOf(t, tokens["dan"])})
	for sub, run := range runs {
		r, end := run.Result(), time.Now()
		if !r.OK {
			t.Fatalf("%s on B: %s", sub, r)
		}
		if got := r.DisconnectReason(); got != "io server disconnect" {
			t.Fatalf("%s: disconnect reason %q, want io server disconnect: %s", sub, got, r)
		}
		// The disconnect came at the latest by hi (the driver's clock
		// started before its end minus its duration): under 3s after the
		// revocation.
		e, _ := r.First("disconnect")
		hi := end.Add(-time.Duration(r.DurationMS) * time.Millisecond).Add(e.At())
		if d := hi.Sub(revoked); d > 3*time.Second {
			t.Fatalf("%s was cut up to %v after the revocation, want under 3s", sub, d)
		}
	}
	awaitStderr(t, b, waitLong, 2, `kind=revoked`)
	for _, srv := range []*harness.Process{a, b} {
		for _, tok := range tokens {
			r := harness.RunClient(t, combo{harness.ClientV4, harness.Websocket}.scenario(srv.URL, tok,
				harness.WaitAny(waitLong, "connect", "connect_error")))
			if d, ok := r.Rejection(); !ok || d.Code != "invalid_token" || d.Message != "jwt revoked" {
				t.Fatalf("%s: want a rejection invalid_token \"jwt revoked\": %s", srv.URL, r)
			}
		}
	}
}

// TestClusterRevocationLatency measures, over 200 revocations made through
// one server, the time from the revoke call to the disconnect seen by a
// client of another server, and bounds it.
func TestClusterRevocationLatency(t *testing.T) {
	const n = 200
	c := startCluster(t, "streams", 2)
	a, b := c.servers[0], c.servers[1]
	type victim struct {
		jti string
		s   *probe
	}
	victims := make([]victim, n)
	began := time.Now()
	for i := range victims {
		tok := harness.Login(t, a.URL, fmt.Sprintf("user-%d", i))
		victims[i] = victim{jti: jtiOf(t, tok), s: dialProbe(t, b.URL, map[string]any{"token": tok})}
	}
	t.Logf("%d clients connected to B in %v", n, time.Since(began).Round(time.Millisecond))
	lat := make([]time.Duration, 0, n)    // to the disconnect
	notice := make([]time.Duration, 0, n) // to "unauthorized"
	for _, v := range victims {
		start := time.Now()
		revoke(t, a.URL, map[string]string{"jti": v.jti})
		d := v.s.await(t, "disconnect", 1, waitLong)
		if reason := fmt.Sprint(d.args[0]); reason != "io server disconnect" {
			t.Fatalf("disconnect reason %q, want io server disconnect; %s", reason, v.s)
		}
		u := v.s.await(t, "unauthorized", 1, 0)
		notice = append(notice, u.at.Sub(start))
		lat = append(lat, d.at.Sub(start))
	}
	for _, m := range []struct {
		what string
		d    []time.Duration
	}{{`"unauthorized"`, notice}, {"disconnect", lat}} {
		slices.Sort(m.d)
		r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
		p50, p99 := m.d[n/2], m.d[n*99/100]
		t.Logf("revoke call on A to %s on B, %d revocations: p50 %v, p99 %v, max %v",
			m.what, n, r(p50), r(p99), r(m.d[n-1]))
		if p99 > time.Second {
			t.Errorf("%s: p99 %v, want under 1s", m.what, p99)
		}
	}
}

// failoverProxy is a TCP proxy standing for a load balancer: it sends each
// new connection to the first of its backends that accepts it, so that the
// clients of a server that died reconnect to another.
type failoverProxy struct {
	ln       net.Listener
	backends []string
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

// startProxy starts a failoverProxy on a free loopback port in front of
// the servers, closed when the test ends.
func startProxy(t *testing.T, servers ...*harness.Process) *failoverProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &failoverProxy{ln: ln, conns: map[net.Conn]struct{}{}}
	for _, s := range servers {
		p.backends = append(p.backends, strings.TrimPrefix(s.URL, "http://"))
	}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// URL is the proxy's base URL.
func (p *failoverProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *failoverProxy) serve() {
	defer p.wg.Done()
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(conn) {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.forward(conn)
		}()
	}
}

// track records conn for close; false once the proxy is closed.
func (p *failoverProxy) track(conn net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		_ = conn.Close()
		return false
	}
	p.conns[conn] = struct{}{}
	return true
}

func (p *failoverProxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

func (p *failoverProxy) forward(in net.Conn) {
	var out net.Conn
	for _, b := range p.backends {
		c, err := net.DialTimeout("tcp", b, 2*time.Second)
		if err == nil {
			out = c
			break
		}
	}
	if out == nil || !p.track(out) {
		p.untrack(in)
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
	go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
	<-done
	p.untrack(in, out) // unblocks the other copy
	<-done
}

func (p *failoverProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// TestClusterFailover kills a server: its clients, reconnecting through the
// load balancer, land on the other server and authenticate again, and hear
// what the cluster's other clients shout.
func TestClusterFailover(t *testing.T) {
	c := startCluster(t, "streams", 2, "-mode", "connect", "-timeout", "30s")
	a, b := c.servers[0], c.servers[1]
	lb := startProxy(t, a, b)
	witness := dialProbe(t, b.URL, nil)
	witness.authenticate(t, harness.Login(t, b.URL, "witness"))

	clients := []struct {
		sub string
		combo
	}{
		{"erin", combo{harness.ClientV4, harness.Websocket}},
		{"frank", combo{harness.ClientV2, harness.Polling}},
	}
	runs := make([]*harness.ClientRun, len(clients))
	for i, cb := range clients {
		tok := harness.Login(t, a.URL, cb.sub)
		s := cb.scenario(lb.URL(), "",
			harness.Wait("connect", waitLong),
			harness.Authenticate(tok),
			harness.Wait("authenticated", waitLong),
			harness.Wait("disconnect", 60*time.Second),
			harness.Wait("connect", 30*time.Second),
			harness.Authenticate(tok),
			harness.Wait("authenticated", waitLong),
			harness.Wait("shout", 30*time.Second),
		)
		s.Reconnection = true
		s.ReconnectionDelay = 200 * time.Millisecond
		s.ReconnectionDelayMax = time.Second
		s.Deadline = 90 * time.Second
		runs[i] = harness.StartClient(t, s)
	}
	defer func() {
		if t.Failed() { // what the clients saw
			for i, run := range runs {
				t.Logf("%s (%s): %s", clients[i].sub, clients[i].combo, run.Result())
			}
		}
	}()
	for _, cb := range clients {
		awaitStderr(t, a, waitLong, 1, authedLog(cb.sub)...)
	}
	killed := time.Now()
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	// Usually a second or two. A client that was not told of the closed
	// connection finds out by its heartbeat: an Engine.IO v3 (v2) client
	// after up to 45 s (ping interval plus ping timeout).
	for _, cb := range clients {
		awaitStderr(t, b, 60*time.Second, 1, authedLog(cb.sub)...)
	}
	t.Logf("both clients authenticated on B %v after A was killed", time.Since(killed).Round(time.Millisecond))
	witness.emit(t, "shout", "after failover")
	for i, run := range runs {
		r := run.Result()
		if !r.OK {
			t.Fatalf("%s (%s): %s", clients[i].sub, clients[i].combo, r)
		}
		if got := r.DisconnectReason(); got != "transport close" && got != "transport error" {
			t.Fatalf("%s: disconnect reason %q, want the transport's: %s", clients[i].sub, got, r)
		}
		if e, _ := r.Last("shout"); e.ArgString(0) != "after failover" {
			t.Fatalf("%s heard %s, want the witness's shout", clients[i].sub, e)
		}
	}
}

// TestClusterRedisRestart stops Redis under running servers: they keep
// serving their own sockets; a new authentication is refused (fail closed)
// or accepted (-redis-fail-open) within a bounded time; once Redis is back
// the servers relay broadcasts and revocations again, without a restart.
func TestClusterRedisRestart(t *testing.T) {
	c := startCluster(t, "pubsub", 2, "-mode", "connect", "-timeout", "30s")
	a, b := c.servers[0], c.servers[1]
	open := c.start(t, "-mode", "connect", "-timeout", "30s", "-redis-fail-open")
	x, y := dialProbe(t, a.URL, nil), dialProbe(t, b.URL, nil)
	x.authenticate(t, harness.Login(t, a.URL, "xavier"))
	y.authenticate(t, harness.Login(t, b.URL, "yvonne"))
	x.emit(t, "shout", "before")
	y.await(t, "shout", 1, waitLong)

	c.stopRedis()
	// Local service goes on: echo at once, a broadcast after at most the
	// publish timeout (1s).
	start := time.Now()
	x.emit(t, "echo", "during")
	x.await(t, "echo-response", 1, waitShort)
	x.emit(t, "shout", "during")
	x.await(t, "shout", 2, waitShort)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("local echo and broadcast took %v with Redis down, want under 3s", d)
	} else {
		t.Logf("Redis just stopped: local echo and broadcast in %v", d.Round(time.Millisecond))
	}
	// Once the server knows (it has logged it), broadcasts skip Redis.
	awaitStderr(t, a, waitLong, 1, "cluster: Redis error")
	start = time.Now()
	x.emit(t, "shout", "during, known")
	x.await(t, "shout", 3, waitShort)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("a local broadcast took %v with Redis known to be down, want under 0.5s", d)
	} else {
		t.Logf("Redis known to be down: local broadcast in %v", d.Round(time.Millisecond))
	}
	// New authentications: refused by the fail-closed servers, accepted by
	// the fail-open one, within a bounded time either way.
	tok := harness.Login(t, a.URL, "zoe")
	for _, tc := range []struct {
		name string
		srv  *harness.Process
		want string
	}{
		{name: "fail closed", srv: a, want: "unauthorized"},
		{name: "fail open", srv: open, want: "authenticated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Once in many runs the probe's connection was closed under it
			// before any answer, with nothing in the server's log: that
			// case, and only that, is tried again once.
			var z *probe
			var start time.Time
			for attempt := 1; ; attempt++ {
				z = dialProbe(t, tc.srv.URL, nil)
				z.await(t, "connect", 1, waitLong)
				start = time.Now()
				z.emit(t, "authenticate", map[string]any{"token": tok})
				deadline := time.Now().Add(waitShort)
				for z.count("authenticated")+z.count("unauthorized")+z.count("disconnect") == 0 && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				if z.count("disconnect") == 0 || z.count("authenticated")+z.count("unauthorized") > 0 || attempt == 2 {
					break
				}
				t.Logf("the connection closed before an answer; trying again: %s", z)
			}
			if z.count(tc.want) != 1 {
				t.Fatalf("want %s; %s", tc.want, z)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("the answer took %v, want under 2s", d)
			}
			if e, ok := z.nth("unauthorized", 1); ok && !strings.Contains(fmt.Sprint(e.args...), "internal_error") {
				t.Fatalf("unauthorized without code internal_error: %v", e.args)
			}
		})
	}

	c.restartRedis()
	back := time.Now()
	// The relay comes back by itself: shout until one crosses.
	deadline := back.Add(30 * time.Second)
	for i := 0; y.count("shout") < 2; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no broadcast crossed within 30s of Redis' restart; %s\nA:\n%s", y, a.Stderr())
		}
		x.emit(t, "shout", fmt.Sprint("after-", i))
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("broadcasts crossed again %v after Redis was back", time.Since(back).Round(10*time.Millisecond))
	for _, srv := range []*harness.Process{a, b} {
		awaitStderr(t, srv, waitLong, 1, "cluster: reconnected to Redis")
		awaitStderr(t, srv, waitLong, 1, "redisrevoke: resubscribed to revocation events")
	}
	// And so do revocations.
	revoke(t, a.URL, map[string]string{"sub": "yvonne"})
	y.await(t, "disconnect", 1, waitLong)
	if x.count("disconnect") != 0 {
		t.Fatalf("xavier was cut too; %s", x)
	}
}

// TestClusterGarbage publishes what no server sends on the channels the
// servers listen to: they log it, drop it and go on relaying.
func TestClusterGarbage(t *testing.T) {
	c := startCluster(t, "pubsub", 2, "-mode", "connect", "-timeout", "30s")
	a, b := c.servers[0], c.servers[1]
	x, y := dialProbe(t, a.URL, nil), dialProbe(t, b.URL, nil)
	x.authenticate(t, harness.Login(t, a.URL, "xavier"))
	y.authenticate(t, harness.Login(t, b.URL, "yvonne"))
	rc := c.redisClient(t)
	disconnect, err := utils.MsgPack().Encode(&sioredis.RedisPacket{Uid: "intruder",
		Packet: &parser.Packet{Type: parser.DISCONNECT, Nsp: "/"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		name    string
		channel string
		payload []byte
		logged  string // what each server logs
	}{
		{name: "not msgpack", channel: clusterChannel, payload: []byte("garbage!!"),
			logged: "cluster: dropping a message from Redis that does not decode"},
		{name: "a packet that is not an event", channel: clusterChannel, payload: disconnect,
			logged: "the packet is not an event"},
		{name: "truncated msgpack request", channel: "socket.io-request#/#", payload: []byte{0x93, 0xa3},
			logged: "cluster: dropping a message from Redis that does not decode"},
		{name: "truncated JSON request", channel: "socket.io-request#/#", payload: []byte(`{"type":`)},
		{name: "JSON request of no known type", channel: "socket.io-request#/#", payload: []byte(`{"type":99,"uid":"x"}`)},
		{name: "not a revocation", channel: "siojwt:revoked:events", payload: []byte("nope"),
			logged: "redisrevoke: dropping a malformed revocation event"},
	} {
		t.Run(m.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := rc.Publish(ctx, m.channel, m.payload).Err(); err != nil {
				t.Fatal(err)
			}
			if m.logged != "" {
				for _, srv := range []*harness.Process{a, b} {
					awaitStderr(t, srv, waitLong, 1, m.logged)
				}
			}
		})
	}
	x.emit(t, "shout", "still relayed")
	if e := y.await(t, "shout", 1, waitLong); fmt.Sprint(e.args...) != "still relayed" {
		t.Fatalf("yvonne heard %v", e.args)
	}
	if n := x.count("disconnect") + y.count("disconnect"); n != 0 {
		t.Fatalf("%d sockets disconnected; xavier %s; yvonne %s", n, x, y)
	}
}

// TestClusterStartErrors checks that a fixture whose Redis cannot be used
// stops at start, with a non-zero status and a message on stderr, within a
// bounded time, and never prints the password of the URL.
func TestClusterStartErrors(t *testing.T) {
	bin := harness.BuildFixture(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	_ = closed.Close()
	// A server that accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var held []net.Conn
	var heldMu sync.Mutex
	go func() {
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			heldMu.Lock()
			held = append(held, conn)
			heldMu.Unlock()
		}
	}()
	defer func() {
		heldMu.Lock()
		defer heldMu.Unlock()
		for _, conn := range held {
			_ = conn.Close()
		}
	}()
	addr, _, _ := redistest.Start(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "nothing listens", args: []string{"-redis", "redis://:s3cret@" + refused + "/0"}, want: "connection refused"},
		{name: "never answers", args: []string{"-redis", "redis://:s3cret@" + silent.Addr().String() + "/0"}, want: "does not answer"},
		{name: "unknown user", args: []string{"-redis", "redis://nobody:s3cret@" + addr + "/0"}, want: "WRONGPASS"},
		{name: "not a Redis URL", args: []string{"-redis", "http://:s3cret@" + addr}, want: "invalid Redis URL"},
		{name: "not a URL", args: []string{"-redis", "redis://:s3cret@[::1"}, want: "invalid Redis URL"},
		{name: "bad database", args: []string{"-redis", "redis://:s3cret@" + addr + "/x"}, want: "invalid Redis URL"},
		{name: "-recovery with pubsub", args: []string{"-redis", "redis://" + addr + "/0", "-redis-adapter", "pubsub", "-recovery"}, want: "-recovery cannot go with -redis-adapter pubsub"},
		{name: "-recovery with sharded", args: []string{"-redis", "redis://" + addr, "-redis-adapter", "sharded", "-recovery"}, want: "-recovery cannot go with -redis-adapter sharded"},
		{name: "unknown adapter", args: []string{"-redis", "redis://" + addr + "/0", "-redis-adapter", "cluster"}, want: `unknown adapter kind "cluster"`},
		{name: "adapter without Redis", args: []string{"-redis-adapter", "pubsub"}, want: "-redis-adapter needs -redis"},
		{name: "sharded on a server that is no cluster", args: []string{"-redis", "redis://" + addr, "-redis-adapter", "sharded"}, want: "cluster support disabled"},
		{name: "fail open without Redis", args: []string{"-redis-fail-open"}, want: "-redis-fail-open needs -redis"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append([]string{"-addr", "127.0.0.1:0"}, tc.args...)...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			start := time.Now()
			err := cmd.Run()
			took := time.Since(start)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("exit: %v, want status 2; stderr:\n%s", err, stderr.String())
			}
			if took > 15*time.Second {
				t.Fatalf("took %v to fail, want under 15s", took)
			}
			if !strings.Contains(stderr.String(), "fixture: ") || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr lacks %q:\n%s", tc.want, stderr.String())
			}
			if strings.Contains(stderr.String(), "s3cret") || strings.Contains(stdout.String(), "listening") {
				t.Fatalf("password printed or listening; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			}
		})
	}
}

// TestClusterRevocationAfterPartition cuts one server off from Redis for
// 3 s while a revocation is made on another: once the connection is back,
// the cut-off server learns it and cuts the socket holding the token, and
// the time from the end of the partition to the disconnect is reported.
func TestClusterRevocationAfterPartition(t *testing.T) {
	for _, kind := range []string{"pubsub", "streams"} {
		t.Run(kind, func(t *testing.T) {
			c := startCluster(t, kind, 1)
			b := c.servers[0]
			proxy := redistest.NewProxy(t, c.redisAddr)
			a := c.startVia(t, proxy.Addr())
			awaitSubscribers(t, c, 2)
			tok := harness.Login(t, b.URL, "mallory")
			other := harness.Login(t, b.URL, "oscar")
			victim := dialProbe(t, a.URL, map[string]any{"token": tok})
			bystander := dialProbe(t, a.URL, map[string]any{"token": other})
			victim.await(t, "connect", 1, waitLong)
			bystander.await(t, "connect", 1, waitLong)

			proxy.Cut()
			cut := time.Now()
			awaitStderr(t, a, waitLong, 1, "cluster: Redis error")
			revoke(t, b.URL, map[string]string{"jti": jtiOf(t, tok)})
			time.Sleep(3*time.Second - time.Since(cut))
			if victim.count("disconnect") != 0 {
				t.Fatalf("the socket was cut while its server was cut off from Redis; %s", victim)
			}
			proxy.Restore()
			back := time.Now()
			d := victim.await(t, "disconnect", 1, 3*waitLong)
			caughtUp := d.at.Sub(back)
			t.Logf("%s: socket cut %v after the connection to Redis came back", kind, caughtUp.Round(time.Millisecond))
			// The bound the deployment guide gives: 2 s, 10 to 20 times what was measured;
			// the clients retry a lost connection every 0.1 s (go-redis pub/sub).
			if caughtUp > 2*time.Second {
				t.Errorf("the socket was cut %v after the connection came back, want under 2s", caughtUp)
			}
			if reason := fmt.Sprint(d.args...); reason != "io server disconnect" {
				t.Fatalf("disconnect reason %q; %s", reason, victim)
			}
			awaitStderr(t, a, waitLong, 1, "redisrevoke: replayed the revocation events missed", "events=1")
			if bystander.count("disconnect") != 0 {
				t.Fatalf("the bystander was cut too; %s", bystander)
			}
		})
	}
}

// TestClusterStreamsBlip cuts one server off from Redis for 3 s while a
// client of another shouts: with the Streams adapter, the cut-off server's
// sockets hear the shout once the connection is back. (With pubsub, the
// shout is lost for them; the test shows that too.)
func TestClusterStreamsBlip(t *testing.T) {
	for _, kind := range []string{"streams", "pubsub"} {
		t.Run(kind, func(t *testing.T) {
			c := startCluster(t, kind, 1, "-mode", "connect", "-timeout", "30s")
			b := c.servers[0]
			proxy := redistest.NewProxy(t, c.redisAddr)
			a := c.startVia(t, proxy.Addr(), "-mode", "connect", "-timeout", "30s")
			awaitSubscribers(t, c, 2)
			x, y := dialProbe(t, a.URL, nil), dialProbe(t, b.URL, nil)
			x.authenticate(t, harness.Login(t, a.URL, "xavier"))
			y.authenticate(t, harness.Login(t, b.URL, "yvonne"))
			y.emit(t, "shout", "before")
			x.await(t, "shout", 1, waitLong)

			proxy.Cut()
			cut := time.Now()
			awaitStderr(t, a, waitLong, 1, "cluster: Redis error")
			y.emit(t, "shout", "during")
			y.await(t, "shout", 2, waitLong)
			time.Sleep(3*time.Second - time.Since(cut))
			proxy.Restore()
			back := time.Now()
			if kind == "pubsub" {
				// Shout until one crosses: the one made during the cut never does.
				deadline := back.Add(30 * time.Second)
				for i := 0; x.count("shout") < 2; i++ {
					if time.Now().After(deadline) {
						t.Fatalf("no broadcast crossed within 30s of the end of the cut; %s", x)
					}
					y.emit(t, "shout", fmt.Sprint("after-", i))
					time.Sleep(50 * time.Millisecond)
				}
				if e, _ := x.nth("shout", 2); fmt.Sprint(e.args...) == "during" {
					t.Fatalf("pubsub delivered a broadcast made during the cut; %s", x)
				}
				return
			}
			e := x.await(t, "shout", 2, 3*waitLong)
			if got := fmt.Sprint(e.args...); got != "during" {
				t.Fatalf("second shout heard on A: %q, want during; %s", got, x)
			}
			t.Logf("the shout made during the cut reached A's socket %v after the connection came back", e.at.Sub(back).Round(time.Millisecond))
		})
	}
}

// TestClusterRecoveryAcrossServers: with the Streams adapter and
// connection-state recovery, a client that lost its connection to one
// server recovers its session on another, with the broadcasts it missed,
// after the token of its handshake is checked there as on a fresh
// connection; once the token is revoked, recovering again is refused.
func TestClusterRecoveryAcrossServers(t *testing.T) {
	c := startCluster(t, "streams", 2, "-recovery", "-mode", "connect", "-timeout", "30s")
	a, b := c.servers[0], c.servers[1]
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("A:\n%s\nB:\n%s", a.Stderr(), b.Stderr())
		}
	})
	tok := harness.Login(t, a.URL, "rita")
	shouter := dialProbe(t, b.URL, nil)
	shouter.authenticate(t, harness.Login(t, b.URL, "sam"))

	first := dialProbe(t, a.URL, nil)
	first.authenticate(t, tok)
	sid, pid := sessionOf(t, first)
	shouter.emit(t, "shout", "heard")
	e := first.await(t, "shout", 1, waitLong)
	offset, _ := e.args[len(e.args)-1].(string)
	if len(e.args) != 2 || offset == "" {
		t.Fatalf("shout without an offset: %v", e.args)
	}
	first.close() // the connection drops: A keeps the session in Redis
	awaitStderr(t, a, waitLong, 1, `msg="siojwt: closed"`, " sub=rita ")
	shouter.emit(t, "shout", "missed")
	shouter.await(t, "shout", 2, waitLong)

	second := dialProbe(t, b.URL, map[string]any{"token": tok, "pid": pid, "offset": offset})
	if sid2, _ := sessionOf(t, second); sid2 != sid {
		t.Fatalf("not recovered on B: sid %s, was %s; %s", sid2, sid, second)
	}
	missed := second.await(t, "shout", 1, waitLong)
	if fmt.Sprint(missed.args[0]) != "missed" {
		t.Fatalf("recovered socket heard %v first, want the missed shout; %s", missed.args, second)
	}

	// Away again; the token is revoked meanwhile; back on A.
	if o, ok := missed.args[len(missed.args)-1].(string); ok && len(missed.args) == 2 {
		offset = o
	}
	second.close()
	awaitStderr(t, b, waitLong, 1, `msg="siojwt: closed"`, " sub=rita ")
	revoke(t, b.URL, map[string]string{"jti": jtiOf(t, tok)})
	third := dialProbe(t, a.URL, map[string]any{"token": tok, "pid": pid, "offset": offset})
	third.await(t, "disconnect", 1, waitLong)
	if third.count("unauthorized") != 1 || third.count("shout") != 0 {
		t.Fatalf("recovering with a revoked token was not refused, or heard broadcasts; %s", third)
	}
}

// sessionOf returns the sid and pid of a probe's CONNECT answer.
func sessionOf(t *testing.T, p *probe) (sid, pid string) {
	t.Helper()
	e := p.await(t, "connect", 1, waitLong)
	m, _ := e.args[0].(map[string]any)
	sid, _ = m["sid"].(string)
	pid, _ = m["pid"].(string)
	if sid == "" || pid == "" {
		t.Fatalf("CONNECT answer without sid and pid: %v", e.args)
	}
	return sid, pid
}

// TestClusterBroadcastCost measures, for each adapter kind, over 200
// broadcasts made one at a time by a client of one server, the time until
// a client of the other server hears each, and what Redis did for them
// (commands processed and bytes in and out, summed over its nodes, divided
// by the broadcasts; background work such as heartbeats included).
func TestClusterBroadcastCost(t *testing.T) {
	const n = 200
	for _, kind := range adapterKinds {
		t.Run(kind, func(t *testing.T) {
			c := startCluster(t, kind, 2, "-mode", "connect", "-timeout", "30s")
			a, b := c.servers[0], c.servers[1]
			x, y := dialProbe(t, a.URL, nil), dialProbe(t, b.URL, nil)
			x.authenticate(t, harness.Login(t, a.URL, "xavier"))
			y.authenticate(t, harness.Login(t, b.URL, "yvonne"))
			awaitSubscribers(t, c, 2)
			x.emit(t, "shout", "warm-up")
			y.await(t, "shout", 1, waitLong)
			nodes := c.redisAddrs
			if nodes == nil {
				nodes = []string{c.redisAddr}
			}
			before := redisStats(t, nodes)
			began := time.Now()
			lat := make([]time.Duration, 0, n)
			for i := range n {
				start := time.Now()
				x.emit(t, "shout", i)
				e := y.await(t, "shout", i+2, waitLong)
				lat = append(lat, e.at.Sub(start))
			}
			took := time.Since(began)
			after := redisStats(t, nodes)
			slices.Sort(lat)
			r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
			per := func(k string) float64 { return float64(after[k]-before[k]) / n }
			t.Logf("%s: cross-server broadcast latency over %d: p50 %v, p99 %v, max %v; per broadcast Redis ran %.1f commands, read %.0f B, wrote %.0f B (over %v)",
				kind, n, r(lat[n/2]), r(lat[n*99/100]), r(lat[n-1]), per("total_commands_processed"),
				per("total_net_input_bytes"), per("total_net_output_bytes"), took.Round(time.Millisecond))
			if kind == "streams" {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				rc := c.redisClient(t)
				mem, err1 := rc.MemoryUsage(ctx, "socket.io").Result()
				length, err2 := rc.XLen(ctx, "socket.io").Result()
				t.Logf("streams: the stream holds %d entries in %d B (%v, %v)", length, mem, err1, err2)
			}
			if p99 := lat[n*99/100]; p99 > time.Second {
				t.Errorf("p99 %v, want under 1s", p99)
			}
		})
	}
}

// redisStats sums the counters of INFO stats over the nodes.
func redisStats(t *testing.T, nodes []string) map[string]int64 {
	t.Helper()
	sum := map[string]int64{}
	for _, addr := range nodes {
		rc := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		info, err := rc.Info(ctx, "stats").Result()
		cancel()
		_ = rc.Close()
		if err != nil {
			t.Fatalf("INFO stats on %s: %v", addr, err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			k, v, ok := strings.Cut(line, ":")
			if n, err := strconv.ParseInt(v, 10, 64); ok && err == nil {
				sum[k] += n
			}
		}
	}
	return sum
}
