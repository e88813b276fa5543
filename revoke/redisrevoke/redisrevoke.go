// Package redisrevoke is a revoke.Store and revoke.Watcher kept in Redis, so
// that every server sharing the Redis deployment refuses the same tokens and
// cuts the same connections.
//
// # Data
//
// With the default prefix "siojwt:revoked:", a revoked token ID is the key
// "siojwt:revoked:jti:<jti>" (value "1") and a revoked subject the key
// "siojwt:revoked:sub:<sub>", whose value is Before in Unix microseconds,
// rounded up. Each key expires at its Revocation's Expires, which a JTI
// revocation must carry (see revoke.ForToken); the key of a revoke.Forever
// revocation (a later Expires is brought back to it, see
// revoke.Revocation.Normalize) has no TTL, and stays until deleted by hand.
// Recording is done by a Lua script so that a key only ever grows: a
// subject keeps the latest Before and every key the latest expiry, whatever
// the order in which revocations arrive.
//
// IsRevoked reads both keys in one round trip: one MGET on a single server
// (a *redis.Client, Sentinel failover included), a pipeline of GETs on a
// cluster, sent to each node concerned at once.
//
// A *redis.Ring is refused: when one of its shards is down, the ring hashes
// that shard's keys to the others, where a revoked token's key is missing,
// so IsRevoked would answer "not revoked" instead of failing.
//
// # Events
//
// Revoke appends the normalized revocation, as JSON, to the stream
// "<prefix>events" (the last WithEventHistory entries are kept), and
// publishes it with the entry's ID on the channel of the same name, for
// example
//
//	{"id":"1735732800000-0","jti":"t-1","exp":"2025-01-01T17:00:00Z"}
//	{"id":"1735732800001-0","sub":"alice","before":"2025-01-01T12:00:00Z","exp":"2025-01-02T12:00:00Z"}
//
// Watch subscribes to the channel on every server. Messages that do not
// decode to a valid revocation are logged and dropped; messages without an
// ID (from an older version) are delivered as they are.
//
// Redis pub/sub keeps nothing for absent subscribers, so the stream is what
// a server cut off from Redis reads when it comes back: once resubscribed,
// Watch replays the entries after the last ID it saw (XRANGE, in pages of
// 1000), then skips the messages it already replayed. When the stream no
// longer holds every entry it missed (more than WithEventHistory events were
// made meanwhile, or Redis restarted empty), or when Watch never learnt its
// place in the stream (Redis was unreachable when it started, or failed to
// give the end of the stream at the first subscription), Watch instead
// delivers every revocation recorded in Redis, found with SCAN, and logs a
// warning. When a catch-up fails, Watch retries it at the next
// reconnection. Either may deliver a revocation more than once.
//
// # Outages
//
// IsRevoked gives up after a timeout (WithTimeout, 200ms by default) and
// returns the error: the caller should refuse the token (fail closed).
// WithFailOpen makes it accept the token instead and report the error to a
// handler or the logger. For the timeout to bound a server that accepts
// connections but does not answer, the go-redis client needs
// ContextTimeoutEnabled: New logs a warning when it can see that it is off.
package redisrevoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siojwt/siojwt/internal/redisopt"

	"github.com/siojwt/siojwt/revoke"
)

// DefaultPrefix starts every key and the event channel unless WithPrefix
// says otherwise.
const DefaultPrefix = "siojwt:revoked:"

// DefaultTimeout bounds each IsRevoked call unless WithTimeout says
// otherwise.
const DefaultTimeout = 200 * time.Millisecond

// Store is a revoke.Store and revoke.Watcher backed by Redis. It is safe for
// concurrent use. It does not own the client: closing the client is the
// caller's business, after the Watch calls have returned.
type Store struct {
	client   redis.UniversalClient
	prefix   string
	channel  string
	timeout  time.Duration
	lifetime time.Duration
	failOpen bool
	onError  func(error)
	logger   *slog.Logger
	record   *redis.Script
	single   bool // one server: MGET reaches every key

	stream    string // the event stream's key (stream.go)
	history   int    // entries the event stream keeps
	announcer *redis.Script
}

var (
	_ revoke.Store   = (*Store)(nil)
	_ revoke.Watcher = (*Store)(nil)
)

// New returns a Store that keeps its entries through client: a
// *redis.Client (Sentinel failover included) or a *redis.ClusterClient. It
// returns an error for a nil client, a *redis.Ring (see the package
// documentation) or an invalid option.
func New(client redis.UniversalClient, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisrevoke: nil client")
	}
	if _, ok := client.(*redis.Ring); ok {
		return nil, errors.New("redisrevoke: a *redis.Ring is not supported: when a shard is down the ring " +
			"moves its keys to the other shards, so a revoked token would read as not revoked instead of " +
			"failing; use a *redis.Client or a *redis.ClusterClient")
	}
	s := &Store{
		client:   client,
		prefix:   DefaultPrefix,
		timeout:  DefaultTimeout,
		lifetime: revoke.DefaultMaxTokenLifetime,
		logger:   slog.New(slog.DiscardHandler),
		record:   redis.NewScript(recordScript),

		history:   DefaultEventHistory,
		announcer: redis.NewScript(announceScript),
	}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("redisrevoke: nil Option")
		}
		if err := opt(s); err != nil {
			return nil, err
		}
	}
	s.channel = s.prefix + "events"
	s.stream = s.prefix + "events"
	_, s.single = client.(*redis.Client)
	if enabled, known := redisopt.ContextTimeoutEnabled(client); known && !enabled {
		s.logger.Warn("redisrevoke: the Redis client has ContextTimeoutEnabled off; " +
			"the IsRevoked timeout cannot bound a server that stops answering")
	}
	return s, nil
}

// Revoke records r, normalized with revoke.Revocation.Normalize at the
// current time, and publishes it to every Watch. A revocation that has
// already expired is published but not recorded. It returns an error
// wrapping revoke.ErrInvalid for an invalid r, or the Redis error; Revoke
// is idempotent and may be retried. It uses ctx as given, without the
// IsRevoked timeout.
func (s *Store) Revoke(ctx context.Context, r revoke.Revocation) error {
	now := time.Now()
	r, err := r.Normalize(now, s.lifetime)
	if err != nil {
		return err
	}
	payload, err := encodeEvent(r)
	if err != nil {
		return fmt.Errorf("redisrevoke: encoding the event: %w", err)
	}
	key, value := s.jtiKey(r.JTI), "1"
	if r.Subject != "" {
		key, value = s.subjectKey(r.Subject), strconv.FormatInt(ceilMicro(r.Before), 10)
	}
	ttl := ceilMilli(r.Expires.Sub(now))
	if !r.Expires.Before(revoke.Forever) {
		ttl = persistent
	}
	if ttl > 0 || ttl == persistent {
		if err := s.record.Run(ctx, s.client, []string{key}, value, ttl).Err(); err != nil {
			return fmt.Errorf("redisrevoke: recording the revocation: %w", err)
		}
	}
	if err := s.announce(ctx, payload); err != nil {
		return fmt.Errorf("redisrevoke: publishing the revocation: %w", err)
	}
	return nil
}

// IsRevoked reports whether t matches a recorded revocation (see
// revoke.Revocation.Matches), in one round trip bounded by the timeout.
// When Redis fails or the timeout passes it returns an error, or, with
// WithFailOpen(true), false and nil after reporting the error. When ctx
// itself ends first, it returns ctx.Err() in either mode.
func (s *Store) IsRevoked(ctx context.Context, t revoke.Token) (bool, error) {
	if t.JTI == "" && t.Subject == "" {
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	revoked, err := s.lookup(ctx, t)
	if err == nil {
		return revoked, nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return false, ctxErr
	}
	err = fmt.Errorf("redisrevoke: checking revocation: %w", err)
	if !s.failOpen {
		return false, err
	}
	if s.onError != nil {
		s.onError(err)
	} else {
		s.logger.Warn("redisrevoke: revocation check failed; token accepted (fail open)", "error", err)
	}
	return false, nil
}

// lookup reads t's keys in one round trip under the timeout.
func (s *Store) lookup(ctx context.Context, t revoke.Token) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var buf [2]string
	keys := buf[:0]
	if t.JTI != "" {
		keys = append(keys, s.jtiKey(t.JTI))
	}
	if t.Subject != "" {
		keys = append(keys, s.subjectKey(t.Subject))
	}
	values, err := s.fetch(ctx, keys)
	if len(values) != len(keys) {
		return false, err
	}
	if t.JTI != "" {
		if values[0] != nil {
			return true, nil
		}
		values = values[1:]
	}
	if t.Subject != "" && values[0] != nil {
		v, _ := values[0].(string)
		before, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil {
			return false, fmt.Errorf("malformed entry for subject %q: %q", t.Subject, v)
		}
		if t.IssuedAt.IsZero() || t.IssuedAt.UnixMicro() < before {
			return true, nil
		}
	}
	return false, err
}

// fetch returns the values of keys, nil for a missing key, in one round
// trip: MGET on a single server; a pipeline of GETs on a cluster, whose
// keys may live on different nodes. With a pipeline, values may come
// back together with the error of another key.
func (s *Store) fetch(ctx context.Context, keys []string) ([]any, error) {
	if s.single {
		return s.client.MGet(ctx, keys...).Result()
	}
	pipe := s.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Get(ctx, k)
	}
	_, _ = pipe.Exec(ctx) // errors are read per command below
	values := make([]any, len(keys))
	var firstErr error
	for i, c := range cmds {
		v, err := c.Result()
		switch {
		case err == nil:
			values[i] = v
		case errors.Is(err, redis.Nil):
		case firstErr == nil:
			firstErr = err
		}
	}
	return values, firstErr
}

// Watch subscribes to the event channel and calls fn, one call at a time on
// the calling goroutine, with every revocation published by any Store on the
// same Redis deployment and prefix (this one included), until ctx ends. It
// resubscribes by itself after a connection loss, and subscribes once Redis
// answers when it cannot at once; see the package documentation for the
// revocations missed meanwhile. fn should return quickly: go-redis buffers
// 100 messages and drops those that wait longer than a minute. Watch
// returns ctx.Err().
func (s *Store) Watch(ctx context.Context, fn func(revoke.Revocation)) error {
	if fn == nil {
		return errors.New("redisrevoke: Watch with a nil function")
	}
	ps := s.client.Subscribe(ctx)
	var c cursor
	// A Watch that cannot subscribe at once may miss revocations until it
	// does: its first subscription catches up like a resubscription.
	c.started = ps.Subscribe(ctx, s.channel) != nil
	msgs := ps.ChannelWithSubscriptions()
	defer func() {
		_ = ps.Close()
		for range msgs { // until go-redis's receiving goroutine has returned
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m, ok := <-msgs:
			if !ok {
				return errors.New("redisrevoke: subscription closed")
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					s.subscribed(ctx, &c, fn)
				}
			case *redis.Message:
				r, err := decodeEvent(m.Payload)
				if err != nil {
					s.logger.Warn("redisrevoke: dropping a malformed revocation event",
						"channel", m.Channel, "error", err, "bytes", len(m.Payload))
					continue
				}
				if c.fresh(m.Payload) {
					fn(r)
				}
			}
		}
	}
}

func (s *Store) jtiKey(jti string) string         { return s.prefix + "jti:" + jti }
func (s *Store) subjectKey(subject string) string { return s.prefix + "sub:" + subject }

// persistent is the TTL given to recordScript for a key that never
// expires.
const persistent = -1

// recordScript sets KEYS[1] to ARGV[1] with a TTL of ARGV[2] milliseconds,
// or none when ARGV[2] is -1 (persistent), keeping the larger value and the
// longer TTL when the key exists (no TTL being the longest). Values are
// integers below 2^53, exact in Lua numbers, and written back as the
// strings received.
const recordScript = `
local value, ttl = ARGV[1], tonumber(ARGV[2])
local current = redis.call('GET', KEYS[1])
if current then
  local n = tonumber(current)
  if n and n > tonumber(value) then
    value = current
  end
  local left = redis.call('PTTL', KEYS[1])
  if left == -1 then
    ttl = -1
  elseif ttl ~= -1 and left > ttl then
    ttl = left
  end
end
if ttl == -1 then
  redis.call('SET', KEYS[1], value)
else
  redis.call('SET', KEYS[1], value, 'PX', string.format('%d', ttl))
end
return 1
`

// ceilMicro returns t in Unix microseconds, rounded up, so that a token
// issued (to the microsecond) before t compares as before it.
func ceilMicro(t time.Time) int64 {
	us := t.UnixMicro()
	if t.After(time.UnixMicro(us)) {
		us++
	}
	return us
}

// ceilMilli returns d in milliseconds, rounded up.
func ceilMilli(d time.Duration) int64 {
	ms := d.Milliseconds()
	if d > time.Duration(ms)*time.Millisecond {
		ms++
	}
	return ms
}
