package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siojwt/siojwt/internal/redistest"
	"github.com/siojwt/siojwt/internal/syncbuf"
	"github.com/zishang520/socket.io/adapters/adapter/v3"
	sioredis "github.com/zishang520/socket.io/adapters/redis/v3"
	"github.com/zishang520/socket.io/parsers/socket/v3/parser"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

func TestDecodeClusterMessage(t *testing.T) {
	if adapter.BROADCAST != 3 || adapter.SERVER_SIDE_EMIT != 9 || sioredis.BROADCAST != 7 || sioredis.SERVER_SIDE_EMIT != 6 {
		t.Fatal("the message types of the literals below changed")
	}
	event := &parser.Packet{Type: parser.EVENT, Nsp: "/", Data: []any{"hello", "x"}}
	id := "r1"
	bcast := &adapter.ClusterMessage{Uid: "a", Nsp: "/", Type: adapter.BROADCAST,
		Data: &adapter.BroadcastMessage{Packet: event, RequestId: &id, Opts: &adapter.PacketOptions{Except: []socket.Room{"x"}}}}
	asJSON, err := json.Marshal(bcast)
	if err != nil {
		t.Fatal(err)
	}
	for name, raw := range map[string][]byte{"json": asJSON, "msgpack": mustEncode(t, bcast)} {
		m, err := decodeClusterMessage(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := checkClusterMessage(m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		data, ok := m.Data.(*adapter.BroadcastMessage)
		if !ok || data.RequestId == nil || *data.RequestId != "r1" || fmt.Sprint(data.Packet.Data) != "[hello x]" {
			t.Fatalf("%s: decoded %#v", name, m.Data)
		}
		if !slices.Equal(data.Opts.Except, []socket.Room{"x", pendingRoom}) {
			t.Fatalf("%s: Except %q", name, data.Opts.Except)
		}
	}
	bad := map[string][]byte{
		"empty":         nil,
		"not json":      []byte("{"),
		"not msgpack":   {0xc1},
		"no uid":        []byte(`{"nsp":"/","type":3}`),
		"unknown type":  []byte(`{"uid":"a","nsp":"/","type":99,"data":{}}`),
		"no data":       []byte(`{"uid":"a","nsp":"/","type":3}`),
		"no packet":     []byte(`{"uid":"a","nsp":"/","type":3,"data":{"opts":{}}}`),
		"not an event":  []byte(`{"uid":"a","nsp":"/","type":3,"data":{"packet":{"type":0,"nsp":"/"}}}`),
		"data mistyped": []byte(`{"uid":"a","nsp":"/","type":3,"data":{"packet":"x"}}`),
	}
	for name, raw := range bad {
		m, err := decodeClusterMessage(raw)
		if err == nil {
			err = checkClusterMessage(m)
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// newTestServer returns a server with a, closed when the test ends.
func newTestServer(t *testing.T, a *Adapter) *socket.Server {
	t.Helper()
	io := socket.NewServer(nil, nil)
	t.Cleanup(func() { io.Close(nil) })
	io.SetAdapter(a)
	return io
}

// TestPubSubRequestsChecked publishes on the request channel of a PubSub
// adapter what no server sends: each is dropped and counted, without
// taking the server down, and a valid request in JSON after them is still
// applied. The request channel still counts one subscriber per server.
func TestPubSubRequestsChecked(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	defer client.Close()
	var logs syncbuf.Buffer
	a, err := New(context.Background(), client, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	io := newTestServer(t, a)
	heard := make(chan []any, 10)
	_ = io.Sockets().On("hello", func(args ...any) { heard <- args })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const channel = DefaultKey + "-request#/#"
	waitFor(t, func() bool {
		n, _ := client.PubSubNumSub(ctx, channel).Result()
		return n[channel] == 1
	})
	bad := [][]byte{
		[]byte("{"),
		[]byte(`{"type":7,"requestId":"r","uid":"x"}`), // a broadcast without its packet
		[]byte(`{"type":7,"requestId":"r","uid":"x","packet":{"type":0,"nsp":"/"}}`),
		mustEncode(t, &sioredis.RedisRequest{Type: sioredis.BROADCAST, RequestId: "r", Uid: "x"}),
		[]byte(`{"type":7,"requestId":"r","uid":"x","packet":{"type":2,"nsp":"/","data":["x","` + strings.Repeat("x", maxMessageBytes) + `"]}}`),
	}
	for _, b := range bad {
		if err := client.Publish(ctx, channel, b).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Publish(ctx, channel, `{"type":6,"uid":"other","data":["hello","after"]}`).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case args := <-heard:
		if fmt.Sprint(args) != "[after]" {
			t.Fatalf("heard %v", args)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the valid request was not applied; log:\n%s", logs.String())
	}
	if got := a.Dropped(); got != uint64(len(bad)) {
		t.Fatalf("Dropped() = %d, want %d; log:\n%s", got, len(bad), logs.String())
	}
	if n := io.Sockets().Adapter().ServerCount(); n != 1 {
		t.Fatalf("ServerCount %d, want 1", n)
	}
}

// TestStreamsAcksAcrossServers: with Streams, a broadcast with
// acknowledgements travels over pub/sub, and the other server's count of
// the sockets it reached comes back. The library's own pub/sub loop
// (v3.0.2) decodes the data of such a message as a map, which its
// OnMessage ignores: no other server ever answered.
func TestStreamsAcksAcrossServers(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	var servers []*socket.Server
	for range 2 {
		client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		defer client.Close()
		a, err := New(context.Background(), client, WithKind(Streams))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		servers = append(servers, newTestServer(t, a))
	}
	waitFor(t, func() bool { return servers[0].Sockets().Adapter().ServerCount() == 2 })
	counts := make(chan uint64, 100)
	ackTimeout := 100 * time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The other server's subscription may not be in place yet: ask
		// until it answers. The first count is this server's own.
		servers[0].Sockets().Adapter().BroadcastWithAck(
			&parser.Packet{Type: parser.EVENT, Data: []any{"hello"}},
			// The library forgets the request after the timeout: a short
			// one leaves no timer running when the tests end.
			&socket.BroadcastOptions{Rooms: types.NewSet[socket.Room](), Except: types.NewSet[socket.Room](),
				Flags: &socket.BroadcastFlags{Timeout: &ackTimeout}},
			func(n uint64) { counts <- n },
			func([]any, error) {},
		)
		if n := <-counts; n != 0 {
			t.Fatalf("local count %d, want 0", n)
		}
		select {
		case n := <-counts:
			if n != 0 {
				t.Fatalf("remote count %d, want 0", n)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no answer within 10s")
		}
	}
}

// TestStreamsPubSubChecked: a Streams adapter drops what no server sends on
// its pub/sub channel, a broadcast of the Redis emitters (the PubSub
// adapter's format) among them, and applies a valid message after them.
func TestStreamsPubSubChecked(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	defer client.Close()
	var logs syncbuf.Buffer
	a, err := New(context.Background(), client, WithKind(Streams), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	io := newTestServer(t, a)
	heard := make(chan []any, 10)
	_ = io.Sockets().On("hello", func(args ...any) { heard <- args })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const channel = DefaultKey + "#/#"
	waitFor(t, func() bool {
		n, _ := client.PubSubNumSub(ctx, channel).Result()
		return n[channel] == 1
	})
	bad := [][]byte{
		[]byte("{"),
		mustEncode(t, &sioredis.RedisPacket{Uid: "emitter", Packet: &parser.Packet{Type: parser.EVENT, Nsp: "/", Data: []any{"hello", "emitted"}}}),
		mustEncode(t, &adapter.ClusterMessage{Uid: "x", Nsp: "/", Type: adapter.BROADCAST, Data: &adapter.BroadcastMessage{}}),
	}
	for _, b := range bad {
		if err := client.Publish(ctx, channel, b).Err(); err != nil {
			t.Fatal(err)
		}
	}
	valid := mustEncode(t, &adapter.ClusterMessage{Uid: "x", Nsp: "/", Type: adapter.SERVER_SIDE_EMIT,
		Data: &adapter.ServerSideEmitMessage{Packet: []any{"hello", "after"}}})
	if err := client.Publish(ctx, channel, valid).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case args := <-heard:
		if fmt.Sprint(args) != "[after]" {
			t.Fatalf("heard %v", args)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the valid message was not applied; log:\n%s", logs.String())
	}
	if got := a.Dropped(); got != uint64(len(bad)) {
		t.Fatalf("Dropped() = %d, want %d; log:\n%s", got, len(bad), logs.String())
	}
}

// TestShardedChecked: a Sharded adapter drops what no server sends on its
// channel and applies a valid message after it; the channel of a room is
// subscribed while the room exists; closing logs no error about the
// subscriptions the library's adapter found closed.
func TestShardedChecked(t *testing.T) {
	addrs := redistest.StartCluster(t, 3)
	client, err := DialCluster(context.Background(), "redis://"+addrs[0]+"?addr="+addrs[1]+"&addr="+addrs[2])
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var logs syncbuf.Buffer
	a, err := New(context.Background(), client, WithKind(Sharded), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	io := newTestServer(t, a)
	heard := make(chan []any, 10)
	_ = io.Sockets().On("hello", func(args ...any) { heard <- args })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const channel = DefaultKey + "#/#"
	waitFor(t, func() bool { return io.Sockets().Adapter().ServerCount() == 1 })
	bad := [][]byte{
		[]byte("{"),
		[]byte(`{"uid":"x","nsp":"/","type":3,"data":{"opts":{}}}`),
		[]byte(`{"uid":"x","nsp":"/admin","type":9,"data":{"packet":["hello","elsewhere"]}}`),
		mustEncode(t, &adapter.ClusterMessage{Uid: "x", Nsp: "/", Type: adapter.BROADCAST,
			Data: &adapter.BroadcastMessage{Packet: &parser.Packet{Type: parser.CONNECT, Nsp: "/"}}}),
	}
	for _, b := range bad {
		if err := client.SPublish(ctx, channel, b).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.SPublish(ctx, channel, `{"uid":"x","nsp":"/","type":9,"data":{"packet":["hello","after"]}}`).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case args := <-heard:
		if fmt.Sprint(args) != "[after]" {
			t.Fatalf("heard %v", args)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the valid message was not applied; log:\n%s", logs.String())
	}
	if got := a.Dropped(); got != uint64(len(bad)) {
		t.Fatalf("Dropped() = %d, want %d; log:\n%s", got, len(bad), logs.String())
	}

	// A room's channel, subscribed when the room is created.
	const room = "some-public-room"
	listening := func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.listening[channel+room+"#"] != nil
	}
	nsp := io.Sockets().Adapter()
	nsp.AddAll("some-socket-id", types.NewSet[socket.Room](room))
	waitFor(t, listening)
	nsp.DelAll("some-socket-id")
	waitFor(t, func() bool { return !listening() })

	io.Close(nil)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "Redis error") {
		t.Fatalf("errors logged at Close:\n%s", logs.String())
	}
}

// BenchmarkPubSubRequestRoundTrip measures a server-side emit with an
// acknowledgement between two PubSub servers on one Redis: the request
// travels the request channel, relayed once by the receiving server (see
// relayRequests), and the answer comes back on the response channel.
func BenchmarkPubSubRequestRoundTrip(b *testing.B) {
	addr, _, _ := redistest.Start(b)
	var servers []*socket.Server
	for range 2 {
		client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		defer client.Close()
		a, err := New(context.Background(), client)
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		io := socket.NewServer(nil, nil)
		defer io.Close(nil)
		io.SetAdapter(a)
		servers = append(servers, io)
	}
	_ = servers[1].Sockets().On("ask", func(args ...any) {
		if ack, ok := args[len(args)-1].(func([]any, error)); ok {
			ack([]any{"answer"}, nil)
		}
	})
	ask := func() error {
		done := make(chan error, 1)
		if err := servers[0].ServerSideEmitWithAck("ask")(func(args []any, err error) {
			if err == nil && len(args) != 1 {
				err = fmt.Errorf("answers %v", args)
			}
			done <- err
		}); err != nil {
			return err
		}
		return <-done
	}
	deadline := time.Now().Add(10 * time.Second)
	for ask() != nil { // until both servers subscribe
		if time.Now().After(deadline) {
			b.Fatal("no answer within 10s")
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if err := ask(); err != nil {
			b.Fatal(err)
		}
	}
}
