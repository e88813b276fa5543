package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Bounds of the delay between two dials of the subscription client after a
// failure.
const (
	minReconnectDelay = 50 * time.Millisecond
	maxReconnectDelay = time.Second
)

// boundedClient is the client the Redis adapter publishes with. It bounds
// the commands the adapter sends, PUBLISH (every broadcast and request) and
// PUBSUB NUMSUB (ServerCount): the adapter gives them a context without a
// deadline, so without this a broadcast would wait for all of the client's
// retries while Redis is away.
//
// It also moves broadcasts that name no single room from the channel
// "<key>#<nsp>#" to "<key>#<nsp>##". The adapter publishes them on the
// first, but its receiving side (v3.0.2) ignores every channel no longer
// than that one, so broadcasts to a whole namespace, or to several rooms,
// never reached the other servers. On the second channel it reads the room
// as "" (no room), as the Node adapter does with either channel.
//
// While the subscriptions cannot reach Redis (down reports true), Publish
// fails at once instead of waiting for the timeout: a broadcast then
// reaches the local sockets without delay.
type boundedClient struct {
	redis.UniversalClient
	timeout time.Duration
	key     string // the adapter's key: channel names start with key + "#"
	// moves is whether Publish moves broadcasts to "<key>#<nsp>##" (PubSub
	// only: the Streams adapter publishes on "<key>#<nsp>#" what its
	// servers read there).
	moves bool
	down  func() bool // nil: unknown
	// report receives the errors of the commands whose errors the server
	// library's cluster adapters (Streams, Sharded) keep to a debug log.
	report func(error)
}

// reported passes a failed command's error to report.
func (c *boundedClient) reported(what string, err error) {
	if err != nil && c.report != nil {
		c.report(fmt.Errorf("%s: %w", what, err))
	}
}

// errRedisDown is what Publish returns while Redis is known to be away.
var errRedisDown = errors.New("cluster: Redis unreachable (the subscriptions cannot reconnect); message not sent")

// Publish publishes under the timeout, with PubSub on the channel
// broadcastChannel gives.
func (c *boundedClient) Publish(ctx context.Context, channel string, message any) *redis.IntCmd {
	if c.down != nil && c.down() {
		return redis.NewIntResult(0, errRedisDown)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if c.moves {
		channel = broadcastChannel(c.key, channel)
	}
	return c.UniversalClient.Publish(ctx, channel, message)
}

// broadcastChannel returns "<key>#<nsp>##" for the channel "<key>#<nsp>#" of
// a broadcast that names no single room, and any other channel unchanged.
// Namespace names hold no "#" (it would start a URL fragment), so a room
// channel "<key>#<nsp>#<room>#" has a "#" between the namespace and the end.
func broadcastChannel(key, channel string) string {
	rest, ok := strings.CutPrefix(channel, key+"#")
	if ok && strings.HasPrefix(rest, "/") && strings.IndexByte(rest, '#') == len(rest)-1 {
		return channel + "#"
	}
	return channel
}

// SPublish publishes on a shard channel (Sharded) under the timeout.
func (c *boundedClient) SPublish(ctx context.Context, channel string, message any) *redis.IntCmd {
	if c.down != nil && c.down() {
		c.reported("SPUBLISH", errRedisDown)
		return redis.NewIntResult(0, errRedisDown)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cmd := c.UniversalClient.SPublish(ctx, channel, message)
	c.reported("SPUBLISH", cmd.Err())
	return cmd
}

// XAdd appends a broadcast to the stream (Streams) under the timeout.
func (c *boundedClient) XAdd(ctx context.Context, a *redis.XAddArgs) *redis.StringCmd {
	if c.down != nil && c.down() {
		c.reported("XADD", errRedisDown)
		return redis.NewStringResult("", errRedisDown)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cmd := c.UniversalClient.XAdd(ctx, a)
	c.reported("XADD", cmd.Err())
	return cmd
}

// Set stores a session for connection-state recovery (Streams) under the
// timeout.
func (c *boundedClient) Set(ctx context.Context, key string, value any, expiration time.Duration) *redis.StatusCmd {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.UniversalClient.Set(ctx, key, value, expiration)
}

// GetDel takes a session for connection-state recovery (Streams) under the
// timeout.
func (c *boundedClient) GetDel(ctx context.Context, key string) *redis.StringCmd {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.UniversalClient.GetDel(ctx, key)
}

// PubSubShardNumSub counts the subscribers of shard channels (Sharded)
// under the timeout.
func (c *boundedClient) PubSubShardNumSub(ctx context.Context, channels ...string) *redis.MapStringIntCmd {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// go-redis sends PUBSUB SHARDNUMSUB to any node of a cluster, which
	// counts only the subscribers of the shards it serves: ServerCount then
	// reads 0 most of the time. The master of the channel's slot knows.
	if cc, ok := c.UniversalClient.(*redis.ClusterClient); ok && len(channels) == 1 {
		node, err := cc.MasterForKey(ctx, channels[0])
		if err != nil {
			return redis.NewMapStringIntCmdResult(nil, err)
		}
		return node.PubSubShardNumSub(ctx, channels...)
	}
	return c.UniversalClient.PubSubShardNumSub(ctx, channels...)
}

// PubSubNumSub counts the subscribers under the timeout.
func (c *boundedClient) PubSubNumSub(ctx context.Context, channels ...string) *redis.MapStringIntCmd {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.UniversalClient.PubSubNumSub(ctx, channels...)
}

// subscriptionClient returns, for a *redis.Client (a single server, or a
// Sentinel failover client), a new client with its options and the hook h,
// for the adapter's subscriptions; nil for other kinds of client. The copy
// leaves out what a subscription needs not and what belongs to one client
// alone: client-side caching, the push notification processor and
// maintenance notifications.
func subscriptionClient(client redis.UniversalClient, h redis.Hook) redis.UniversalClient {
	c, ok := client.(*redis.Client)
	if !ok {
		return nil
	}
	o := *c.Options()
	o.ClientSideCache, o.ClientSideCacheConfig = nil, nil
	o.PushNotificationProcessor = nil
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	sub := redis.NewClient(&o)
	sub.AddHook(h)
	return sub
}

// reconnectDelay is a dial hook that spaces out the dials that follow a
// failed one, from minReconnectDelay doubling to maxReconnectDelay. The
// Redis adapter reads its subscriptions in a loop that retries at once on
// error, and a subscription dials anew for every read while Redis is away:
// without the delay that loop spins, dialing as fast as it can.
type reconnectDelay struct {
	log *slog.Logger

	mu       sync.Mutex
	failures int
	next     time.Time // no dial before
}

// DialHook waits until the delay since the last failure has passed (or ctx
// ends), then dials.
func (d *reconnectDelay) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if wait := d.wait(time.Now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
		conn, err := next(ctx, network, addr)
		d.record(err, time.Now())
		return conn, err
	}
}

// ProcessHook leaves commands alone.
func (d *reconnectDelay) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

// ProcessPipelineHook leaves pipelines alone.
func (d *reconnectDelay) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// down reports whether a dial failed and its back-off has not passed: while
// the subscriptions cannot reconnect, publishing is refused at once. Past the
// back-off, without a newer failure, publishes are tried again (each bounded
// by its timeout): a failed dial that no other dial follows (the
// subscriptions were otherwise healthy) once kept a server from publishing
// for good.
func (d *reconnectDelay) down() bool { return d.downAt(time.Now()) }

func (d *reconnectDelay) downAt(now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failures > 0 && now.Before(d.next)
}

func (d *reconnectDelay) wait(now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.next.Sub(now)
}

func (d *reconnectDelay) record(err error, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if errors.Is(err, context.Canceled) {
		return // the caller gave up: that says nothing of Redis
	}
	if err == nil {
		if d.failures > 0 {
			d.log.Info("cluster: reconnected to Redis", "failed_dials", d.failures)
		}
		d.failures, d.next = 0, time.Time{}
		return
	}
	d.failures++
	delay := maxReconnectDelay
	if d.failures < 16 {
		delay = min(minReconnectDelay<<(d.failures-1), maxReconnectDelay)
	}
	d.next = now.Add(delay)
}
