// Package cluster runs several Socket.IO servers as one, over Redis, with
// the guarantees of package siojwt intact: a broadcast made on any server
// reaches the authenticated sockets of every server and never a socket that
// has not authenticated yet.
//
// It sets up one of the Redis adapters of the server library
// (github.com/zishang520/socket.io/adapters/redis/v3), chosen with
// WithKind, for production use:
//
//	client, err := cluster.Dial(ctx, "redis://127.0.0.1:6379/0")
//	adapter, err := cluster.New(ctx, client, cluster.WithKind(cluster.Streams), cluster.WithLogger(logger))
//	io.SetAdapter(adapter)                      // before siojwt.New
//	store, err := redisrevoke.New(client)       // revocations shared by every server
//	auth, err := siojwt.New(io, verifier, siojwt.WithRevocationStore(store))
//
// PubSub (the default) is the classic adapter; Streams keeps broadcasts in
// a Redis Stream, so that a server cut off from Redis for a while catches
// up, and sessions for connection-state recovery on any server; Sharded
// uses the sharded pub/sub of Redis Cluster 7 (give New a
// *redis.ClusterClient, see DialCluster).
//
// siojwt.New wraps whatever adapter the server has, so every broadcast
// leaves with the room siojwt.PendingRoom in its Except list. The Redis
// adapter carries that list to the other servers, which apply it to their
// own sockets: the isolation of unauthenticated sockets holds across
// servers. On arrival, every kind also adds that room to the Except list of
// every broadcast, broadcasts with acknowledgements included, so that one
// published by anything else (the Redis emitter of a worker process, a
// server without siojwt) does not reach unauthenticated sockets either.
//
// What New adds to the bare Redis adapter:
//
//   - Publishing is bounded by a timeout (WithPublishTimeout), and skipped
//     while the subscriptions cannot reach Redis: while Redis is away a
//     broadcast still reaches the local sockets, at once or after at most
//     that timeout, instead of waiting for the client's retries.
//   - The subscriptions reconnect with a growing delay (up to a second)
//     instead of a busy loop of dials while Redis is away, and the adapter's
//     errors are logged at a bounded rate instead of not at all.
//   - Messages from Redis that do not decode, are larger than 1 MiB, or do
//     not hold an event packet where a broadcast should, are logged (at a
//     bounded rate), counted (Dropped) and dropped; the bare adapter drops
//     some silently, applies the others, and crashes the process on a
//     broadcast without a packet. Where the bare adapter decodes with no
//     hook, a loop of this package reads in its place: the stream and the
//     pub/sub channels of Streams, the channels of Sharded, and the request
//     channel of PubSub (whose requests in JSON the bare adapter decodes
//     itself; they are relayed, checked, to a channel of the adapter's
//     own).
//   - With Streams, broadcasts with acknowledgements reach the other
//     servers, and their answers come back; the bare adapter decodes them
//     into a form it then ignores.
//   - With PubSub, the channel "<key>#<nsp>#", on which the Redis emitters
//     publish broadcasts to a whole namespace, is read and applied; the
//     bare adapter (v3.0.2) ignores it.
//   - Setting the adapter and then calling siojwt.New builds the adapter of
//     each existing namespace twice: New closes the first one, whose
//     subscriptions would otherwise stay open, count as a second server in
//     ServerCount and run server-side events twice.
//
// Redis is trusted: whoever can PUBLISH on its channels, or append to its
// stream, can broadcast to any authenticated socket, or make sockets join
// and leave rooms.
// Keep it on a private network, with a password (ACL) and TLS when the
// network is shared.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siojwt/siojwt/internal/logs"
	"github.com/siojwt/siojwt/internal/redisopt"
	sioredis "github.com/zishang520/socket.io/adapters/redis/v3"
	"github.com/zishang520/socket.io/adapters/redis/v3/adapter"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/utils"
)

// Default values of the options.
const (
	// DefaultPublishTimeout bounds each message the adapter sends to Redis.
	DefaultPublishTimeout = time.Second
	// DefaultRequestsTimeout bounds the requests a server makes to the
	// others (FetchSockets, ServerSideEmit with an acknowledgement).
	DefaultRequestsTimeout = adapter.DefaultRequestsTimeout
	// DefaultKey starts the names of the adapter's channels, and names the
	// Streams adapter's stream.
	DefaultKey = "socket.io"
	// logInterval and logBurst bound the lines logged about Redis errors
	// and dropped messages: logBurst of each kind per logInterval.
	logInterval = 10 * time.Second
	logBurst    = 5
)

// Adapter is a socket.AdapterConstructor that joins a Socket.IO server to
// the other servers sharing a Redis deployment. Set it on the server with
// SetAdapter before siojwt.New. It is safe for concurrent use.
type Adapter struct {
	kind   Kind
	key    string
	redis  *sioredis.RedisClient
	sub    redis.UniversalClient // the subscriptions' own client; nil when sharing the caller's
	ropts  *adapter.RedisAdapterOptions
	sopts  *adapter.RedisStreamsAdapterOptions
	hopts  *adapter.ShardedRedisAdapterOptions
	parser *checkedParser
	log    *slog.Logger
	errors *logs.Rate
	drops  *logs.Rate
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the reading loops: the stream's, and listen's

	dropped atomic.Uint64

	mu      sync.Mutex
	current map[socket.Namespace]*nspAdapter // the live adapter of each namespace
	streams map[string]adapter.RedisStreamsAdapter
	sharded map[string]adapter.ShardedRedisAdapter
	// listening holds the subscriptions of the Streams and Sharded
	// adapters, read by the Adapter's own loops (see checkedSub).
	listening map[string]*listener
	polling   bool // the stream is being read
	closed    bool
}

var _ socket.AdapterConstructor = (*Adapter)(nil)

// Option configures an Adapter in New. An option with an invalid value
// makes New fail.
type Option func(*config) error

type config struct {
	kind            Kind
	log             *slog.Logger
	key             string
	publishTimeout  time.Duration
	requestsTimeout time.Duration
}

// WithLogger sets the logger for Redis errors (rate limited), dropped
// messages and reconnections. By default nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("cluster: WithLogger(nil)")
		}
		c.log = l
		return nil
	}
}

// WithKey sets the string that starts the adapter's channel names
// (DefaultKey by default). Servers of one application share it; separate
// applications on one Redis use separate keys.
func WithKey(key string) Option {
	return func(c *config) error {
		if key == "" {
			return errors.New(`cluster: WithKey(""): empty key`)
		}
		c.key = key
		return nil
	}
}

// WithPublishTimeout bounds each message the adapter sends to Redis
// (DefaultPublishTimeout by default). A broadcast publishes before it
// writes to the local sockets, so when Redis stops answering a broadcast
// may wait up to d, until the subscriptions notice the outage (publishing
// is skipped from then on).
func WithPublishTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("cluster: WithPublishTimeout(%v): not positive", d)
		}
		c.publishTimeout = d
		return nil
	}
}

// WithRequestsTimeout bounds the requests a server makes to the others
// (DefaultRequestsTimeout by default): FetchSockets, ServerSideEmit with an
// acknowledgement, the rooms of the whole cluster. It applies to PubSub;
// Streams and Sharded use the server library's own bound.
func WithRequestsTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("cluster: WithRequestsTimeout(%v): not positive", d)
		}
		c.requestsTimeout = d
		return nil
	}
}

// New returns an Adapter that relays broadcasts through client. client
// sends; when it is a *redis.Client (one server, or a Sentinel failover
// client), New opens a client of its own with the same options for the
// subscriptions, closed by Close. Other kinds of client (cluster, ring) are
// used for the subscriptions as they are, without the delay between
// reconnection attempts and without skipping publishes during an outage.
// Give client ContextTimeoutEnabled (Dial does) so that the timeouts bound
// a Redis that accepts connections but does not answer; New logs a warning
// when it can see that it is off.
//
// ctx bounds the Adapter's life: when it ends, the subscriptions stop.
// Close the Adapter after the server (socket.Server.Close), and client
// after the Adapter.
func New(ctx context.Context, client redis.UniversalClient, opts ...Option) (*Adapter, error) {
	if ctx == nil {
		return nil, errors.New("cluster: nil context")
	}
	if client == nil {
		return nil, errors.New("cluster: nil Redis client")
	}
	c := config{
		log:             slog.New(slog.DiscardHandler),
		key:             DefaultKey,
		publishTimeout:  DefaultPublishTimeout,
		requestsTimeout: DefaultRequestsTimeout,
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("cluster: nil Option")
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if enabled, known := redisopt.ContextTimeoutEnabled(client); known && !enabled {
		c.log.Warn("cluster: the Redis client has ContextTimeoutEnabled off; " +
			"timeouts cannot bound a Redis that stops answering")
	}
	a := &Adapter{
		kind:    c.kind,
		key:     c.key,
		log:     c.log,
		errors:  &logs.Rate{Every: logInterval, Burst: logBurst},
		drops:   &logs.Rate{Every: logInterval, Burst: logBurst},
		current: map[socket.Namespace]*nspAdapter{},
		streams: map[string]adapter.RedisStreamsAdapter{},
		sharded: map[string]adapter.ShardedRedisAdapter{},

		listening: map[string]*listener{},
	}
	a.ctx, a.cancel = context.WithCancel(ctx)
	pub := &boundedClient{UniversalClient: client, timeout: c.publishTimeout, key: c.key, moves: c.kind == PubSub}
	if c.kind != PubSub {
		pub.report = func(err error) { a.onError(err) }
	}
	delay := &reconnectDelay{log: c.log}
	a.sub = subscriptionClient(client, delay)
	var sub redis.UniversalClient // the subscriptions' client
	if a.sub != nil {
		pub.down = delay.down
		sub = a.sub
	}
	if sub == nil {
		sub = client
	}
	a.redis = sioredis.NewRedisClientWithSub(a.ctx, pub, &checkedSub{UniversalClient: sub, owner: a})
	if err := a.redis.On("error", a.onError); err != nil {
		a.cancel()
		_ = a.closeSub()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	a.parser = &checkedParser{inner: utils.MsgPack(), owner: a}
	switch c.kind {
	case PubSub:
		a.ropts = adapter.DefaultRedisAdapterOptions()
		a.ropts.SetKey(c.key)
		a.ropts.SetRequestsTimeout(c.requestsTimeout)
		a.ropts.SetParser(a.parser)
	case Streams:
		a.sopts = streamsOptions(c.key)
	case Sharded:
		a.hopts = adapter.DefaultShardedRedisAdapterOptions()
		a.hopts.SetChannelPrefix(c.key)
	}
	return a, nil
}

// Kind returns the kind of adapter a sets up.
func (a *Adapter) Kind() Kind { return a.kind }

// Dropped returns how many messages from Redis the Adapter has dropped
// since New: ones that do not decode, are larger than 1 MiB, hold no event
// where a broadcast should, or name a namespace this server does not have
// or another than their channel's (Streams, Sharded). Each is also
// logged, at a bounded rate.
func (a *Adapter) Dropped() uint64 { return a.dropped.Load() }

// maxLoggedError is the longest error text a dropped message's log line
// keeps: an error may quote what the message held (a namespace name).
const maxLoggedError = 256

// drop counts and logs a message dropped.
func (a *Adapter) drop(what string, size int, err error) {
	a.dropped.Add(1)
	if n, ok := a.drops.Allow(time.Now()); ok {
		a.log.Warn("cluster: dropping a message from Redis "+what,
			"error", logs.Clip(err.Error(), maxLoggedError), "bytes", size, "suppressed", n)
	}
}

// New implements socket.AdapterConstructor: it returns the Redis adapter
// of nsp, closing the one it returned before for the same namespace.
func (a *Adapter) New(nsp socket.Namespace) socket.Adapter {
	var inner socket.Adapter
	switch a.kind {
	case Streams:
		inner = a.newStreamsAdapter(nsp)
	case Sharded:
		inner = a.newShardedAdapter(nsp)
	default:
		inner = adapter.NewRedisAdapter(nsp, a.redis, a.ropts)
	}
	na := &nspAdapter{Adapter: inner, owner: a, nsp: nsp}
	if a.kind == PubSub {
		na.listenToEmitters()
	}
	a.mu.Lock()
	old := a.current[nsp]
	if !a.closed {
		a.current[nsp] = na
	}
	a.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return na
}

// Close stops every subscription of the Adapter and closes the client it
// opened for them. The server should be closed first: its namespaces no
// longer hear the other servers afterwards.
func (a *Adapter) Close() error {
	a.mu.Lock()
	a.closed = true
	live := make([]*nspAdapter, 0, len(a.current))
	for _, na := range a.current {
		live = append(live, na)
	}
	a.mu.Unlock()
	for _, na := range live {
		na.Close()
	}
	a.cancel()
	// Closing the subscription client ends a blocking read of the stream
	// at once; with the caller's client, it ends within streamBlock.
	err := a.closeSub()
	a.wg.Wait()
	return err
}

func (a *Adapter) closeSub() error {
	if a.sub == nil {
		return nil
	}
	return a.sub.Close()
}

// onError receives the errors the Redis adapter emits: failed publishes
// and subscription reads. They are logged at a bounded rate.
func (a *Adapter) onError(args ...any) {
	if a.ctx.Err() != nil {
		return
	}
	var err error
	for _, x := range args {
		if e, ok := x.(error); ok {
			err = e
			break
		}
	}
	if err == nil {
		err = fmt.Errorf("%v", args)
	}
	if errors.Is(err, net.ErrClosed) || errors.Is(err, redis.ErrClosed) {
		// A subscription closed by Close or by the replacement of its
		// adapter, or one of checkedSub's closed subscriptions, which the
		// Sharded adapter unsubscribes and closes when it closes.
		return
	}
	if n, ok := a.errors.Allow(time.Now()); ok {
		a.log.Warn("cluster: Redis error; messages between servers are lost while it lasts",
			"error", err.Error(), "suppressed", n)
	}
}

// nspAdapter is the Redis adapter of one namespace, which forgets itself
// in its owner when closed.
type nspAdapter struct {
	socket.Adapter
	owner *Adapter
	nsp   socket.Namespace
	once  sync.Once
	stop  context.CancelFunc // ends listenToEmitters; nil when not listening
	done  chan struct{}      // closed when listenToEmitters has returned
}

// Close closes the Redis adapter once.
func (n *nspAdapter) Close() {
	n.once.Do(func() {
		n.owner.mu.Lock()
		if n.owner.current[n.nsp] == n {
			delete(n.owner.current, n.nsp)
		}
		if sa, ok := n.Adapter.(adapter.ShardedRedisAdapter); ok && n.owner.sharded[n.nsp.Name()] == sa {
			delete(n.owner.sharded, n.nsp.Name())
		}
		n.owner.mu.Unlock()
		if n.stop != nil {
			n.stop()
			<-n.done
		}
		n.Adapter.Close()
	})
}
