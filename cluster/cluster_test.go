package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/internal/logs"
	"github.com/siojwt/siojwt/internal/redistest"
	"github.com/siojwt/siojwt/internal/syncbuf"
	"github.com/zishang520/socket.io/adapters/adapter/v3"
	sioredis "github.com/zishang520/socket.io/adapters/redis/v3"
	radapter "github.com/zishang520/socket.io/adapters/redis/v3/adapter"
	"github.com/zishang520/socket.io/parsers/socket/v3/parser"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/utils"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestBroadcastChannel(t *testing.T) {
	for _, tc := range []struct {
		name, key, channel, want string
	}{
		{name: "whole root namespace", key: "socket.io", channel: "socket.io#/#", want: "socket.io#/##"},
		{name: "whole other namespace", key: "socket.io", channel: "socket.io#/admin#", want: "socket.io#/admin##"},
		{name: "one room", key: "socket.io", channel: "socket.io#/#room#", want: "socket.io#/#room#"},
		{name: "request channel", key: "socket.io", channel: "socket.io-request#/#", want: "socket.io-request#/#"},
		{name: "response channel", key: "socket.io", channel: "socket.io-response#/#", want: "socket.io-response#/#"},
		{name: "another key", key: "app", channel: "socket.io#/#", want: "socket.io#/#"},
		{name: "own key", key: "app", channel: "app#/chat#", want: "app#/chat##"},
		{name: "application channel", key: "socket.io", channel: "siojwt:revoked:events", want: "siojwt:revoked:events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := broadcastChannel(tc.key, tc.channel); got != tc.want {
				t.Fatalf("broadcastChannel(%q, %q) = %q, want %q", tc.key, tc.channel, got, tc.want)
			}
		})
	}
}

func TestPendingRoom(t *testing.T) {
	if pendingRoom != siojwt.PendingRoom {
		t.Fatalf("pendingRoom %q, siojwt.PendingRoom %q", pendingRoom, siojwt.PendingRoom)
	}
}

func mustEncode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := utils.MsgPack().Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckedParser(t *testing.T) {
	event := &parser.Packet{Type: parser.EVENT, Nsp: "/", Data: []any{"shout", "hi"}}
	for _, tc := range []struct {
		name    string
		data    []byte
		into    func() any
		wantErr string // "" when the message is accepted
	}{
		{name: "broadcast", data: mustEncode(t, &sioredis.RedisPacket{Uid: "a", Packet: event, Opts: &adapter.PacketOptions{Except: []socket.Room{"siojwt:pending"}}}),
			into: func() any { var p *sioredis.RedisPacket; return &p }},
		{name: "not msgpack", data: []byte("garbage!!"),
			into: func() any { var p *sioredis.RedisPacket; return &p }, wantErr: "msgpack"},
		{name: "truncated", data: []byte{0x93, 0xa3},
			into: func() any { var p *sioredis.RedisPacket; return &p }, wantErr: "EOF"},
		{name: "broadcast without packet", data: mustEncode(t, &sioredis.RedisPacket{Uid: "a"}),
			into: func() any { var p *sioredis.RedisPacket; return &p }, wantErr: "without a packet"},
		{name: "disconnect packet", data: mustEncode(t, &sioredis.RedisPacket{Uid: "a", Packet: &parser.Packet{Type: parser.DISCONNECT, Nsp: "/"}}),
			into: func() any { var p *sioredis.RedisPacket; return &p }, wantErr: "not an event"},
		{name: "event without name", data: mustEncode(t, &sioredis.RedisPacket{Uid: "a", Packet: &parser.Packet{Type: parser.EVENT, Nsp: "/", Data: []any{1}}}),
			into: func() any { var p *sioredis.RedisPacket; return &p }, wantErr: "no event name"},
		{name: "event without data", data: mustEncode(t, &sioredis.RedisPacket{Uid: "a", Packet: &parser.Packet{Type: parser.EVENT, Nsp: "/"}}),
			into: func() any { var p *sioredis.RedisPacket; return &p }, wantErr: "not a list"},
		{name: "broadcast request", data: mustEncode(t, &sioredis.RedisRequest{Type: sioredis.BROADCAST, RequestId: "r", Packet: event}),
			into: func() any { var r *sioredis.RedisRequest; return &r }},
		{name: "broadcast request of a connect packet", data: mustEncode(t, &sioredis.RedisRequest{Type: sioredis.BROADCAST, RequestId: "r", Packet: &parser.Packet{Type: parser.CONNECT}}),
			into: func() any { var r *sioredis.RedisRequest; return &r }, wantErr: "not an event"},
		{name: "other request", data: mustEncode(t, &sioredis.RedisRequest{Type: sioredis.SOCKETS, RequestId: "r"}),
			into: func() any { var r *sioredis.RedisRequest; return &r }},
		{name: "response", data: mustEncode(t, &sioredis.RedisResponse{Type: sioredis.BROADCAST_ACK, RequestId: "r"}),
			into: func() any { var r *sioredis.RedisResponse; return &r }},
		{name: "nil response", data: []byte{0xc0},
			into: func() any { var r *sioredis.RedisResponse; return &r }, wantErr: "empty response"},
		{name: "huge broadcast", data: mustEncode(t, &sioredis.RedisPacket{Uid: "a", Packet: &parser.Packet{Type: parser.EVENT, Nsp: "/", Data: []any{"shout", strings.Repeat("x", maxMessageBytes)}}}),
			into: func() any { var p *sioredis.RedisPacket; return &p }, wantErr: "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logbuf syncbuf.Buffer
			owner := &Adapter{log: slog.New(slog.NewTextHandler(&logbuf, nil)), drops: &logs.Rate{Every: time.Minute, Burst: 10}}
			p := &checkedParser{inner: utils.MsgPack(), owner: owner}
			into := tc.into()
			err := p.Decode(tc.data, into)
			if dropped := owner.Dropped(); (tc.wantErr != "") != (dropped == 1) {
				t.Fatalf("Dropped() = %d after Decode: %v", dropped, err)
			}
			if tc.wantErr == "" {
				var opts *adapter.PacketOptions
				switch m := into.(type) {
				case **sioredis.RedisPacket:
					opts = (*m).Opts
				case **sioredis.RedisRequest:
					if (*m).Packet != nil {
						opts = (*m).Opts
					}
				}
				if opts != nil && !slices.Equal(opts.Except, []socket.Room{siojwt.PendingRoom}) {
					t.Fatalf("Except after Decode: %q, want just %q", opts.Except, siojwt.PendingRoom)
				}
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Decode: %v", err)
			case tc.wantErr == "" && logbuf.String() != "":
				t.Fatalf("logged for an accepted message: %s", logbuf.String())
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Decode: %v, want an error with %q", err, tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(logbuf.String(), "dropping a message from Redis"):
				t.Fatalf("dropped without a log line: %q", logbuf.String())
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer client.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		client redis.UniversalClient
		opts   []Option
	}{
		{name: "nil context", ctx: nil, client: client},
		{name: "nil client", ctx: ctx, client: nil},
		{name: "nil option", ctx: ctx, client: client, opts: []Option{nil}},
		{name: "nil logger", ctx: ctx, client: client, opts: []Option{WithLogger(nil)}},
		{name: "empty key", ctx: ctx, client: client, opts: []Option{WithKey("")}},
		{name: "zero publish timeout", ctx: ctx, client: client, opts: []Option{WithPublishTimeout(0)}},
		{name: "negative requests timeout", ctx: ctx, client: client, opts: []Option{WithRequestsTimeout(-time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a, err := New(tc.ctx, tc.client, tc.opts...); err == nil {
				_ = a.Close()
				t.Fatal("New accepted it")
			}
		})
	}
}

func TestNewWarnsWithoutContextTimeout(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	var logs syncbuf.Buffer
	a, err := New(context.Background(), client, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !strings.Contains(logs.String(), "ContextTimeoutEnabled off") {
		t.Fatalf("no warning: %q", logs.String())
	}
}

func TestDial(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	_ = closed.Close()
	for _, tc := range []struct {
		name    string
		url     string
		wantErr string // "" for success
	}{
		{name: "ok", url: "redis://" + addr + "/0"},
		{name: "ok with timeouts in the URL", url: "redis://" + addr + "/1?dial_timeout=3s&read_timeout=2s"},
		{name: "refused", url: "redis://:pw-secret@" + refused + "/0", wantErr: "does not answer"},
		{name: "unknown user", url: "redis://nobody:pw-secret@" + addr + "/0", wantErr: "WRONGPASS"},
		{name: "scheme", url: "http://:pw-secret@" + addr, wantErr: "invalid Redis URL"},
		{name: "unparsable", url: "redis://:pw-secret@[::1", wantErr: "invalid Redis URL"},
		{name: "database", url: "redis://:pw-secret@" + addr + "/zero", wantErr: "invalid Redis URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := Dial(ctx, tc.url)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				o := c.Options()
				if !o.ContextTimeoutEnabled || o.DialTimeout <= 0 || o.ReadTimeout <= 0 || o.WriteTimeout <= 0 {
					t.Fatalf("options: ContextTimeoutEnabled %v, timeouts %v %v %v",
						o.ContextTimeoutEnabled, o.DialTimeout, o.ReadTimeout, o.WriteTimeout)
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "pw-secret") {
				t.Fatalf("error %q: want %q, and never the password", err, tc.wantErr)
			}
		})
	}
}

// countingClient returns a client of addr that counts its dials.
func countingClient(addr string, dials *atomic.Int64) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, DialTimeout: time.Second,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}})
}

// TestReconnectDelay stops Redis under a server's adapter: the Adapter's
// subscriptions dial a few times a second, where the bare Redis adapter's
// dial in a busy loop; and the Adapter is back once Redis is.
func TestReconnectDelay(t *testing.T) {
	for _, tc := range []struct {
		name     string
		adapter  func(client *redis.Client, logger *slog.Logger) (socket.AdapterConstructor, func())
		min, max int64 // dials within the second after Redis stopped
	}{
		{name: "Adapter", max: 30, adapter: func(client *redis.Client, logger *slog.Logger) (socket.AdapterConstructor, func()) {
			a, err := New(context.Background(), client, WithLogger(logger))
			if err != nil {
				t.Fatal(err)
			}
			return a, func() { _ = a.Close() }
		}},
		// What New guards against, and the reason for the delay.
		{name: "bare Redis adapter", min: 300, adapter: func(client *redis.Client, _ *slog.Logger) (socket.AdapterConstructor, func()) {
			ctx, cancel := context.WithCancel(context.Background())
			rc := sioredis.NewRedisClient(ctx, client)
			_ = rc.On("error", func(...any) {})
			return &radapter.RedisAdapterBuilder{Redis: rc}, cancel
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, stop, restart := redistest.Start(t)
			var dials atomic.Int64
			client := countingClient(addr, &dials)
			defer client.Close()
			var logs syncbuf.Buffer
			constructor, closeAdapter := tc.adapter(client, slog.New(slog.NewTextHandler(&logs, nil)))
			io := socket.NewServer(nil, nil)
			io.SetAdapter(constructor)
			defer closeAdapter()
			defer io.Close(nil)

			stop()
			time.Sleep(100 * time.Millisecond) // the subscriptions notice
			before := dials.Load()
			time.Sleep(time.Second)
			n := dials.Load() - before
			t.Logf("%d dials in the second after Redis stopped", n)
			if (tc.max > 0 && n > tc.max) || n < tc.min {
				t.Fatalf("%d dials, want %d to %d", n, tc.min, tc.max)
			}
			restart()
			if tc.max == 0 {
				return
			}
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(logs.String(), "reconnected to Redis") {
				if time.Now().After(deadline) {
					t.Fatalf("no reconnection within 10s; log:\n%s", logs.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestReplacedAdapterCloses checks that building the adapter of a
// namespace again (as siojwt.New does when it wraps the adapter) closes the
// first one: one subscriber per server.
func TestReplacedAdapterCloses(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	defer client.Close()
	a, err := New(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	io := socket.NewServer(nil, nil)
	defer io.Close(nil)
	io.SetAdapter(a)
	io.SetAdapter(a) // what siojwt.New does, through its wrapper
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const channel = "socket.io-request#/#"
	deadline := time.Now().Add(5 * time.Second)
	for {
		subs, err := client.PubSubNumSub(ctx, channel).Result()
		if err != nil {
			t.Fatal(err)
		}
		if subs[channel] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want 1", subs[channel])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for deadline = time.Now().Add(5 * time.Second); ; {
		subs, err := client.PubSubNumSub(ctx, channel).Result()
		if err != nil {
			t.Fatal(err)
		}
		if subs[channel] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers after Close, want 0", subs[channel])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPublishTimeout(t *testing.T) {
	// A server that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	client := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer client.Close()
	b := &boundedClient{UniversalClient: client, timeout: 200 * time.Millisecond, key: DefaultKey}
	start := time.Now()
	err = b.Publish(context.Background(), "socket.io#/#", "x").Err()
	if took := time.Since(start); err == nil || took < 150*time.Millisecond || took > 2*time.Second {
		t.Fatalf("Publish: %v after %v, want an error after about 200ms", err, took)
	}
}

func TestPublishSkippedWhileDown(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer client.Close()
	for _, tc := range []struct {
		name    string
		down    bool
		wantErr error
	}{
		{name: "down", down: true, wantErr: errRedisDown},
		{name: "up", down: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &boundedClient{UniversalClient: client, timeout: 300 * time.Millisecond, key: DefaultKey,
				down: func() bool { return tc.down }}
			err := b.Publish(context.Background(), "socket.io#/#", "x").Err()
			if tc.wantErr != nil && err != tc.wantErr {
				t.Fatalf("Publish: %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && (err == nil || err == errRedisDown) {
				t.Fatalf("Publish: %v, want the dial's error", err)
			}
		})
	}
}

func TestKind(t *testing.T) {
	for _, k := range []Kind{PubSub, Streams, Sharded} {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	for _, bad := range []string{"", "Streams", "redis", "cluster"} {
		if _, err := ParseKind(bad); err == nil {
			t.Errorf("ParseKind(%q) accepted", bad)
		}
	}
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	defer client.Close()
	for _, k := range []Kind{-1, 3} {
		if _, err := New(context.Background(), client, WithKind(k)); err == nil {
			t.Errorf("WithKind(%d) accepted", k)
		}
	}
}

func TestIsolateBroadcastData(t *testing.T) {
	packet := map[string]any{"type": 2, "nsp": "/", "data": []any{"shout", "hi"}}
	for _, tc := range []struct {
		name   string
		opts   map[string]any
		except []string
	}{
		{"no opts", nil, []string{"siojwt:pending"}},
		{"except kept", map[string]any{"rooms": []string{"r"}, "except": []string{"x"}, "flags": map[string]any{"volatile": true}}, []string{"x", "siojwt:pending"}},
		{"already there", map[string]any{"except": []string{"siojwt:pending"}}, []string{"siojwt:pending"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]any{"packet": packet, "requestId": nil}
			if tc.opts != nil {
				m["opts"] = tc.opts
			}
			// JSON
			b, _ := json.Marshal(m)
			got, err := isolateBroadcastData(string(b))
			if err != nil {
				t.Fatal(err)
			}
			var back adapter.BroadcastMessage
			if err := json.Unmarshal([]byte(got), &back); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(back.Opts.Except, toRooms(tc.except)) || back.Packet == nil || fmt.Sprint(back.Packet.Data) != "[shout hi]" {
				t.Fatalf("JSON: %s -> except %q packet %+v", b, back.Opts.Except, back.Packet)
			}
			if tc.opts != nil && tc.opts["rooms"] != nil && !slices.Equal(back.Opts.Rooms, []socket.Room{"r"}) {
				t.Fatalf("JSON: rooms lost: %s", got)
			}
			// MessagePack in base64, as a packet with binary is written
			raw, _ := utils.MsgPack().Encode(m)
			got, err = isolateBroadcastData(base64.StdEncoding.EncodeToString(raw))
			if err != nil {
				t.Fatal(err)
			}
			dec, _ := base64.StdEncoding.DecodeString(got)
			back = adapter.BroadcastMessage{}
			if err := utils.MsgPack().Decode(dec, &back); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(back.Opts.Except, toRooms(tc.except)) || back.Packet == nil {
				t.Fatalf("MessagePack: except %q packet %+v", back.Opts.Except, back.Packet)
			}
		})
	}
	for _, bad := range []string{"", "{", `{"opts":{}}`, `{"packet":null}`, `{"packet":{},"opts":[]}`, `{"packet":{},"opts":{"except":"x"}}`, "!!!", base64.StdEncoding.EncodeToString([]byte{0xc1})} {
		if _, err := isolateBroadcastData(bad); err == nil {
			t.Errorf("isolateBroadcastData(%q) accepted", bad)
		}
	}
}

func toRooms(s []string) []socket.Room {
	r := make([]socket.Room, len(s))
	for i, x := range s {
		r[i] = socket.Room(x)
	}
	return r
}

// TestStreamEntriesChecked appends entries no server writes to the stream
// of a Streams adapter: each is dropped and counted, and a valid one after
// them is still applied.
func TestStreamEntriesChecked(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	defer client.Close()
	var logs syncbuf.Buffer
	a, err := New(context.Background(), client, WithKind(Streams), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	io := socket.NewServer(nil, nil)
	defer io.Close(nil)
	io.SetAdapter(a)
	heard := make(chan []any, 10)
	_ = io.Sockets().On("hello", func(args ...any) { heard <- args })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The reading loop starts at the end of the stream: wait until it reads.
	waitFor(t, func() bool {
		n, _ := client.ClientList(ctx).Result()
		return strings.Contains(n, "cmd=xread")
	})
	bcast := func(data string) map[string]any {
		return map[string]any{"uid": "other", "nsp": "/", "type": strconv.Itoa(int(adapter.BROADCAST)), "data": data}
	}
	bad := []map[string]any{
		{"nsp": "/", "type": "3"},                     // no uid
		{"uid": "other", "nsp": "/", "type": "three"}, // type not a number
		{"uid": "other", "nsp": "/nowhere", "type": strconv.Itoa(int(adapter.SERVER_SIDE_EMIT)), "data": `{"packet":["hello"]}`},
		bcast("{"),
		bcast(`{"opts":{}}`),
		bcast(`{"packet":{"type":2,"nsp":"/","data":["x","` + strings.Repeat("x", maxMessageBytes) + `"]}}`),
		{"uid": "other", "nsp": "/", "type": "99", "data": "{}"}, // unknown type
	}
	for _, v := range bad {
		if err := client.XAdd(ctx, &redis.XAddArgs{Stream: DefaultKey, Values: v}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.XAdd(ctx, &redis.XAddArgs{Stream: DefaultKey, Values: map[string]any{
		"uid": "other", "nsp": "/", "type": strconv.Itoa(int(adapter.SERVER_SIDE_EMIT)), "data": `{"packet":["hello","after"]}`,
	}}).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case args := <-heard:
		if fmt.Sprint(args) != "[after]" {
			t.Fatalf("heard %v", args)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the valid entry was not applied; log:\n%s", logs.String())
	}
	if got := a.Dropped(); got != uint64(len(bad)) {
		t.Fatalf("Dropped() = %d, want %d; log:\n%s", got, len(bad), logs.String())
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSharded joins two servers through a Redis Cluster of three nodes
// with the sharded adapter: what one emits server-side the other hears,
// and each counts two servers.
func TestSharded(t *testing.T) {
	addrs := redistest.StartCluster(t, 3)
	var servers []*socket.Server
	heard := make(chan []any, 10)
	for i := range 2 {
		client, err := DialCluster(context.Background(), "redis://"+addrs[0]+"?addr="+addrs[1]+"&addr="+addrs[2])
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		if !client.Options().ContextTimeoutEnabled || client.Options().ReadTimeout != DefaultReadTimeout {
			t.Fatalf("DialCluster options: %+v", client.Options())
		}
		a, err := New(context.Background(), client, WithKind(Sharded))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		io := socket.NewServer(nil, nil)
		defer io.Close(nil)
		io.SetAdapter(a)
		io.SetAdapter(a) // what siojwt.New does, through its wrapper: the first is closed
		if i == 1 {
			_ = io.Sockets().On("hello", func(args ...any) { heard <- args })
		}
		servers = append(servers, io)
	}
	waitFor(t, func() bool { return servers[0].Sockets().Adapter().ServerCount() == 2 })
	// Two, not more: the replaced adapters no longer listen.
	time.Sleep(100 * time.Millisecond)
	if n := servers[1].Sockets().Adapter().ServerCount(); n != 2 {
		t.Fatalf("ServerCount %d, want 2", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The other server's subscription may not be in place yet: emit
		// until it hears.
		if err := servers[0].ServerSideEmit("hello", "sharded"); err != nil {
			t.Fatal(err)
		}
		select {
		case args := <-heard:
			if fmt.Sprint(args) != "[sharded]" {
				t.Fatalf("heard %v", args)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the other server heard nothing within 10s")
		}
	}
}

// TestStreamTrimmedWhileAway: a server cut off from Redis while the stream
// was trimmed past the last entry it read says so when it is back, and
// applies what the stream still holds.
func TestStreamTrimmedWhileAway(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	proxy := redistest.NewProxy(t, addr)
	direct := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	defer direct.Close()
	client := redis.NewClient(&redis.Options{Addr: proxy.Addr(), ContextTimeoutEnabled: true})
	defer client.Close()
	var logs syncbuf.Buffer
	a, err := New(context.Background(), client, WithKind(Streams), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	io := socket.NewServer(nil, nil)
	defer io.Close(nil)
	io.SetAdapter(a)
	heard := make(chan string, 10)
	_ = io.Sockets().On("hello", func(args ...any) { heard <- fmt.Sprint(args...) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitFor(t, func() bool {
		n, _ := direct.ClientList(ctx).Result()
		return strings.Contains(n, "cmd=xread")
	})
	add := func(arg string) {
		t.Helper()
		if err := direct.XAdd(ctx, &redis.XAddArgs{Stream: DefaultKey, Values: map[string]any{
			"uid": "other", "nsp": "/", "type": strconv.Itoa(int(adapter.SERVER_SIDE_EMIT)), "data": `{"packet":["hello","` + arg + `"]}`,
		}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	hear := func(want string) {
		t.Helper()
		select {
		case got := <-heard:
			if got != want {
				t.Fatalf("heard %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("did not hear %q within 10s; log:\n%s", want, logs.String())
		}
	}
	add("before")
	hear("before")
	proxy.Cut()
	// The stream's reading fails (the pub/sub subscriptions fail too, and
	// may say so first).
	waitFor(t, func() bool { return strings.Contains(logs.String(), "reading the stream") })
	for _, arg := range []string{"lost-1", "lost-2", "kept"} {
		add(arg)
	}
	if err := direct.XTrimMaxLen(ctx, DefaultKey, 1).Err(); err != nil {
		t.Fatal(err)
	}
	proxy.Restore()
	hear("kept")
	waitFor(t, func() bool { return strings.Contains(logs.String(), "the stream was trimmed past the last entry") })
}

// TestStreamsCloseIsPrompt: Close does not wait for the stream's blocking
// read to time out.
func TestStreamsCloseIsPrompt(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	defer client.Close()
	a, err := New(context.Background(), client, WithKind(Streams))
	if err != nil {
		t.Fatal(err)
	}
	io := socket.NewServer(nil, nil)
	io.SetAdapter(a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitFor(t, func() bool {
		n, _ := client.ClientList(ctx).Result()
		return strings.Contains(n, "cmd=xread")
	})
	io.Close(nil)
	start := time.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= streamBlock {
		t.Fatalf("Close took %v, as long as a blocking read (%v)", d, streamBlock)
	}
}

// TestStreamsPublishErrorsLogged: the Streams adapter keeps a failed XADD
// to a debug log; the Adapter logs it.
func TestStreamsPublishErrorsLogged(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	defer client.Close()
	var logs syncbuf.Buffer
	a, err := New(context.Background(), client, WithKind(Streams), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	io := socket.NewServer(nil, nil)
	defer io.Close(nil)
	io.SetAdapter(a)
	// The stream's key holds a string: XADD fails (WRONGTYPE).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Set(ctx, DefaultKey, "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_ = io.Emit("hello", "nobody")
	waitFor(t, func() bool { return strings.Contains(logs.String(), "XADD") })
}

func TestDialClusterErrors(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	_ = closed.Close()
	for _, tc := range []struct{ url, want string }{
		{"http://:s3cret@" + refused, "invalid Redis Cluster URL"},
		{"redis://:s3cret@[::1", "invalid Redis Cluster URL"},
		{"redis://:s3cret@" + refused, "does not answer"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := DialCluster(ctx, tc.url)
		cancel()
		if err == nil {
			_ = c.Close()
			t.Fatalf("DialCluster(%q) succeeded", tc.url)
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("DialCluster(%q): %v, want %q and no password", tc.url, err, tc.want)
		}
	}
}

// A failed dial keeps publishes refused for its back-off only: when no
// other dial follows (the subscriptions were otherwise healthy), the server
// publishes again once the back-off has passed.
func TestDownForTheBackOffOnly(t *testing.T) {
	d := &reconnectDelay{log: slog.New(slog.DiscardHandler)}
	t0 := time.Unix(1000, 0)
	if d.downAt(t0) {
		t.Fatal("down before any dial")
	}
	d.record(errors.New("dial tcp: connection refused"), t0)
	if !d.downAt(t0.Add(minReconnectDelay / 2)) {
		t.Error("not down within the back-off of a failed dial")
	}
	if d.downAt(t0.Add(minReconnectDelay)) {
		t.Error("still down after the back-off, with no newer failure")
	}
	d.record(context.Canceled, t0.Add(time.Second))
	if d.downAt(t0.Add(time.Second)) {
		t.Error("a cancelled dial counted as Redis being away")
	}
	d.record(nil, t0.Add(2*time.Second))
	if d.failures != 0 {
		t.Errorf("%d failures after a successful dial, want 0", d.failures)
	}
}

// TestDropLogClipped: a dropped message's error may quote what the message
// held (a namespace name chosen by a client, relayed by another server):
// its log line keeps at most maxLoggedError bytes of it.
func TestDropLogClipped(t *testing.T) {
	var buf syncbuf.Buffer
	a := &Adapter{log: slog.New(slog.NewTextHandler(&buf, nil)), drops: &logs.Rate{Every: time.Second, Burst: 5}}
	a.drop("for a test", 10, errors.New("namespace "+strings.Repeat("n", 5000)))
	if got := buf.String(); !strings.Contains(got, "dropping a message") || len(got) > 2*maxLoggedError {
		t.Fatalf("log line of %d bytes: %.200q", len(got), got)
	}
	if a.Dropped() != 1 {
		t.Fatalf("Dropped() = %d", a.Dropped())
	}
}
