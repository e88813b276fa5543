package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"
	cadapter "github.com/zishang520/socket.io/adapters/adapter/v3"
	sioredis "github.com/zishang520/socket.io/adapters/redis/v3"
	radapter "github.com/zishang520/socket.io/adapters/redis/v3/adapter"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/utils"
)

// checkedSub is the subscription client of the Streams and Sharded
// adapters. The server library's adapters (v3.0.2) read their pub/sub
// channels in loops of their own and decode what arrives with no hook:
// every Sharded broadcast, and the Streams broadcasts with
// acknowledgements, would reach the local sockets unchecked, pending ones
// included.
//
// So Subscribe and SSubscribe hand the adapter a subscription that is
// already closed (its reading loop returns at once, having read nothing),
// and subscribe to the same channels for the Adapter's own loop instead
// (listen), which checks each message, adds the pending room to the Except
// list of a broadcast, and hands it to the adapter's OnMessage or
// OnResponse, as the library's loop would. Every other command goes to the
// real client.
type checkedSub struct {
	redis.UniversalClient
	owner *Adapter
}

// Subscribe subscribes the Adapter's own loop to channels and returns a
// closed subscription (Streams). With PubSub, see relayRequests.
func (c *checkedSub) Subscribe(ctx context.Context, channels ...string) *redis.PubSub {
	if c.owner.kind == PubSub {
		return c.owner.relayRequests(ctx, c.UniversalClient, channels)
	}
	c.owner.listen(ctx, c.UniversalClient.Subscribe, channels, c.owner.applyPubSub)
	return c.closed(ctx)
}

// SSubscribe subscribes the Adapter's own loop to the shard channels, one
// subscription each (two channels of different slots cannot share a
// connection), and returns a closed subscription.
func (c *checkedSub) SSubscribe(ctx context.Context, channels ...string) *redis.PubSub {
	for _, ch := range channels {
		c.owner.listen(ctx, c.UniversalClient.SSubscribe, []string{ch}, c.owner.applyPubSub)
	}
	return c.closed(ctx)
}

// closed returns a subscription to nothing, closed: it never connected, and
// each of its methods returns redis.ErrClosed.
func (c *checkedSub) closed(ctx context.Context) *redis.PubSub {
	ps := c.UniversalClient.Subscribe(ctx)
	_ = ps.Close()
	return ps
}

// listener is one subscription of the Adapter's own reading loop.
type listener struct {
	channels []string
	cancel   context.CancelFunc
	apply    func(channel string, payload []byte)
}

// listen subscribes to channels with subscribe and reads them until ctx
// ends (the adapter that asked is closed), the Adapter closes, or unlisten
// is called for one of them, and hands each message to apply.
func (a *Adapter) listen(ctx context.Context, subscribe func(context.Context, ...string) *redis.PubSub, channels []string,
	apply func(channel string, payload []byte)) {
	ctx, cancel := context.WithCancel(ctx)
	l := &listener{channels: channels, cancel: cancel, apply: apply}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		cancel()
		return
	}
	for _, ch := range channels {
		if old := a.listening[ch]; old != nil {
			old.cancel() // the adapter it read for is being replaced
		}
		a.listening[ch] = l
	}
	a.wg.Add(1)
	a.mu.Unlock()
	// Subscribing dials: not on the caller's path (a socket joining a room).
	go a.readPubSub(ctx, l, subscribe)
}

// unlisten ends the subscription to channel, if any.
func (a *Adapter) unlisten(channel string) {
	a.mu.Lock()
	l := a.listening[channel]
	a.mu.Unlock()
	if l != nil {
		l.cancel()
	}
}

func (a *Adapter) readPubSub(ctx context.Context, l *listener, subscribe func(context.Context, ...string) *redis.PubSub) {
	defer a.wg.Done()
	defer func() {
		l.cancel()
		a.mu.Lock()
		for _, ch := range l.channels {
			if a.listening[ch] == l {
				delete(a.listening, ch)
			}
		}
		a.mu.Unlock()
	}()
	ps := subscribe(ctx, l.channels...)
	defer ps.Close()
	// A read in progress sees no cancellation: closing ps ends it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	delay := minReconnectDelay
	for {
		msg, err := ps.ReceiveMessage(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
				return
			}
			a.onError(fmt.Errorf("reading %q: %w", l.channels, err))
			// The subscription reconnects at the next read: not at once,
			// and less often while Redis stays away.
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			delay = min(2*delay, maxReconnectDelay)
			continue
		}
		delay = minReconnectDelay
		l.apply(msg.Channel, []byte(msg.Payload))
	}
}

// applyPubSub checks a message read on channel, excludes pending sockets
// from a broadcast, and hands it to the adapter of the channel's
// namespace. A message that fails a check is dropped and counted.
func (a *Adapter) applyPubSub(channel string, payload []byte) {
	if len(payload) > maxMessageBytes {
		a.drop("that does not decode", len(payload), fmt.Errorf("over %d bytes", maxMessageBytes))
		return
	}
	// Channels are "<key>#<nsp>#", "<key>#<nsp>#<uid>#" (responses) and, with
	// Sharded, "<key>#<nsp>#<room>#"; a namespace name holds no "#".
	nsp, rest, _ := strings.Cut(strings.TrimPrefix(channel, a.key+"#"), "#")
	msg, err := decodeClusterMessage(payload)
	if err == nil {
		err = checkClusterMessage(msg)
	}
	if err != nil {
		a.drop("that does not decode", len(payload), err)
		return
	}
	if msg.Nsp != nsp {
		a.drop("for another namespace", len(payload), fmt.Errorf("namespace %q on the channel of %q", msg.Nsp, nsp))
		return
	}
	ca := a.clusterAdapter(nsp)
	if ca == nil {
		a.drop("for a namespace this server does not have", len(payload), fmt.Errorf("namespace %q", nsp))
		return
	}
	switch {
	case a.kind == Sharded && rest == string(ca.Uid())+"#":
		ca.OnResponse(msg) // what the library's sharded adapter does with its response channel
	case isResponse(msg.Type):
		// The library's cluster adapter hands responses that arrive
		// through OnMessage to its own OnResponse, not to the one of the
		// Streams adapter (with heartbeats), which holds the requests.
		ca.OnResponse(msg)
	default:
		ca.OnMessage(msg, "")
	}
}

// isResponse reports whether t is the type of a response to a request.
func isResponse(t cadapter.MessageType) bool {
	switch t {
	case cadapter.BROADCAST_CLIENT_COUNT, cadapter.BROADCAST_ACK,
		cadapter.FETCH_SOCKETS_RESPONSE, cadapter.SERVER_SIDE_EMIT_RESPONSE:
		return true
	}
	return false
}

// clusterAdapter returns the live Streams or Sharded adapter of nsp.
func (a *Adapter) clusterAdapter(nsp string) cadapter.ClusterAdapter {
	a.mu.Lock()
	defer a.mu.Unlock()
	if sa, ok := a.streams[nsp]; ok {
		return sa
	}
	if sa, ok := a.sharded[nsp]; ok {
		return sa
	}
	return nil
}

// checkClusterMessage refuses a broadcast without an event, and adds the
// pending room to the Except list of the others: whoever published it, it
// reaches no socket that has not authenticated.
func checkClusterMessage(m *cadapter.ClusterMessage) error {
	if m.Type != cadapter.BROADCAST {
		return nil
	}
	data, ok := m.Data.(*cadapter.BroadcastMessage)
	if !ok || data == nil || data.Packet == nil {
		return errors.New("a broadcast without a packet")
	}
	if err := checkEvent(data.Packet); err != nil {
		return err
	}
	if data.Opts == nil {
		data.Opts = &cadapter.PacketOptions{}
	}
	if !slices.Contains(data.Opts.Except, pendingRoom) {
		data.Opts.Except = append(data.Opts.Except, pendingRoom)
	}
	return nil
}

// decodeClusterMessage decodes a message of the cluster adapters' pub/sub
// channels, JSON (first byte '{') or MessagePack, with its data in the
// type its message type names, as the library's sharded adapter does. The
// library's Streams adapter decodes the data of its pub/sub messages as a
// map, which its OnMessage then ignores: its broadcasts with
// acknowledgements, FetchSockets and ServerSideEmit with acknowledgements
// never worked across servers; decoded here, they do.
func decodeClusterMessage(raw []byte) (*cadapter.ClusterMessage, error) {
	if len(raw) == 0 {
		return nil, errors.New("empty message")
	}
	m := &cadapter.ClusterMessage{}
	var data any
	if raw[0] == '{' {
		var v struct {
			Uid  cadapter.ServerId    `json:"uid"`
			Nsp  string               `json:"nsp"`
			Type cadapter.MessageType `json:"type"`
			Data json.RawMessage      `json:"data"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		m.Uid, m.Nsp, m.Type, data = v.Uid, v.Nsp, v.Type, v.Data
	} else {
		var v struct {
			Uid  cadapter.ServerId    `msgpack:"uid"`
			Nsp  string               `msgpack:"nsp"`
			Type cadapter.MessageType `msgpack:"type"`
			Data msgpack.RawMessage   `msgpack:"data"`
		}
		if err := utils.MsgPack().Decode(raw, &v); err != nil {
			return nil, err
		}
		m.Uid, m.Nsp, m.Type, data = v.Uid, v.Nsp, v.Type, v.Data
	}
	if m.Uid == "" {
		return nil, errors.New("no uid")
	}
	var target any
	switch m.Type {
	case cadapter.INITIAL_HEARTBEAT, cadapter.HEARTBEAT, cadapter.ADAPTER_CLOSE:
		return m, nil
	case cadapter.BROADCAST:
		target = &cadapter.BroadcastMessage{}
	case cadapter.SOCKETS_JOIN, cadapter.SOCKETS_LEAVE:
		target = &cadapter.SocketsJoinLeaveMessage{}
	case cadapter.DISCONNECT_SOCKETS:
		target = &cadapter.DisconnectSocketsMessage{}
	case cadapter.FETCH_SOCKETS:
		target = &cadapter.FetchSocketsMessage{}
	case cadapter.FETCH_SOCKETS_RESPONSE:
		target = &cadapter.FetchSocketsResponse{}
	case cadapter.SERVER_SIDE_EMIT:
		target = &cadapter.ServerSideEmitMessage{}
	case cadapter.SERVER_SIDE_EMIT_RESPONSE:
		target = &cadapter.ServerSideEmitResponse{}
	case cadapter.BROADCAST_CLIENT_COUNT:
		target = &cadapter.BroadcastClientCount{}
	case cadapter.BROADCAST_ACK:
		target = &cadapter.BroadcastAck{}
	default:
		return nil, fmt.Errorf("unknown message type %d", m.Type)
	}
	var err error
	switch d := data.(type) {
	case json.RawMessage:
		if len(d) == 0 {
			return nil, errors.New("no data")
		}
		err = json.Unmarshal(d, target)
	case msgpack.RawMessage:
		if len(d) == 0 {
			return nil, errors.New("no data")
		}
		err = utils.MsgPack().Decode(d, target)
	}
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	m.Data = target
	return m, nil
}

// newShardedAdapter returns the Sharded adapter of nsp, registered for
// applyPubSub. The channel of a room, subscribed when the room is created,
// is unsubscribed when it is deleted, as the library's adapter does with
// its own subscription, which checkedSub closed.
func (a *Adapter) newShardedAdapter(nsp socket.Namespace) socket.Adapter {
	sa := radapter.NewShardedRedisAdapter(nsp, a.redis, a.hopts)
	prefix := a.key + "#" + nsp.Name() + "#"
	_ = sa.On("delete-room", func(args ...any) {
		if len(args) > 0 {
			if room, ok := args[0].(socket.Room); ok {
				a.unlisten(prefix + string(room) + "#")
			}
		}
	})
	a.mu.Lock()
	a.sharded[nsp.Name()] = sa
	a.mu.Unlock()
	return sa
}

// relayRequests subscribes the PubSub adapter (whose Subscribe call this
// is) to channels with its request channel "<key>-request#<nsp>#" replaced
// by a channel of its own, "<key>-request#<nsp>#<random>#", and relays to
// that channel what the Adapter's own loop reads on the request channel,
// checked.
//
// The library's adapter (v3.0.2) decodes a request that starts with "{"
// as JSON itself, not through the parser New gives it: a malformed one
// was dropped without a word, and a broadcast with acknowledgements in
// JSON reached the pending sockets. The loop decodes such a request,
// checks it, adds the pending room to the Except list of the broadcast it
// carries, and relays it encoded with that parser; it relays the others
// as they are, for the parser to check when the adapter decodes them. The
// channel of its own starts with the request channel, so the adapter
// takes what arrives there for requests; no other server subscribes to it.
func (a *Adapter) relayRequests(ctx context.Context, client redis.UniversalClient, channels []string) *redis.PubSub {
	prefix := a.key + "-request#"
	i := slices.IndexFunc(channels, func(ch string) bool {
		rest, ok := strings.CutPrefix(ch, prefix)
		return ok && strings.IndexByte(rest, '#') == len(rest)-1
	})
	if i < 0 {
		return client.Subscribe(ctx, channels...)
	}
	request := channels[i]
	own := request + cadapter.RandomId() + "#"
	channels = slices.Clone(channels)
	channels[i] = own
	// The adapter's subscription first: its SUBSCRIBE is sent before the
	// loop's, which dials in a goroutine of its own, so that the first
	// requests relayed find it in place.
	ps := client.Subscribe(ctx, channels...)
	a.listen(ctx, client.Subscribe, []string{request}, func(_ string, payload []byte) {
		a.relayRequest(ctx, own, payload)
	})
	return ps
}

// relayRequest checks one request and publishes it on channel.
func (a *Adapter) relayRequest(ctx context.Context, channel string, payload []byte) {
	if len(payload) > 0 && payload[0] == '{' {
		var req *sioredis.RedisRequest
		err := errors.New("over 1 MiB")
		if len(payload) <= maxMessageBytes {
			if err = json.Unmarshal(payload, &req); err == nil {
				err = check(&req)
			}
		}
		if err != nil {
			a.drop("that does not decode (a request in JSON)", len(payload), err)
			return
		}
		isolate(&req)
		if payload, err = a.parser.Encode(req); err != nil {
			a.drop("that does not encode again (a request in JSON)", len(payload), err)
			return
		}
	}
	if err := a.redis.Client.Publish(ctx, channel, payload).Err(); err != nil {
		a.onError(fmt.Errorf("relaying a request to %q: %w", channel, err))
	}
}
