package cluster

import (
	"fmt"
)

// Kind selects the Redis adapter of the server library that New sets up.
type Kind int

const (
	// PubSub is the classic Redis adapter: every broadcast is a PUBLISH,
	// and a server cut off from Redis loses the broadcasts made meanwhile.
	// It is the default, and what the Redis emitters (Go and Node, tested)
	// and Node servers with @socket.io/redis-adapter (by its source; not
	// tested here) speak.
	PubSub Kind = iota
	// Streams is the Redis Streams adapter: broadcasts are appended to a
	// stream (XADD, the last DefaultStreamMaxLen entries kept) that every
	// server reads from the last entry it saw, so that a server cut off
	// from Redis for a while catches up on what it missed; it keeps the
	// sessions of connection-state recovery in Redis, so that a client
	// recovers its session on any server. The server library ports it from
	// Node's @socket.io/redis-streams-adapter (compatibility not tested
	// here).
	Streams
	// Sharded is the sharded pub/sub adapter for Redis Cluster 7 and later
	// (SPUBLISH and SSUBSCRIBE): each channel lives on one shard instead of
	// every node, so that pub/sub traffic grows with the shards. Give New a
	// *redis.ClusterClient (DialCluster). Broadcasts that arrive through it
	// are not checked on arrival: the server library's sharded adapter
	// (v3.0.2) decodes them itself, with no hook.
	Sharded
)

// DefaultStreamMaxLen is how many entries the Streams adapter keeps in its
// stream: how far back a server that was cut off, or a recovering client,
// can catch up.
const DefaultStreamMaxLen = 10_000

// String returns the name ParseKind reads.
func (k Kind) String() string {
	switch k {
	case PubSub:
		return "pubsub"
	case Streams:
		return "streams"
	case Sharded:
		return "sharded"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ParseKind reads "pubsub", "streams" or "sharded".
func ParseKind(s string) (Kind, error) {
	for _, k := range []Kind{PubSub, Streams, Sharded} {
		if s == k.String() {
			return k, nil
		}
	}
	return 0, fmt.Errorf("cluster: unknown adapter kind %q (want pubsub, streams or sharded)", s)
}

// WithKind selects the adapter (PubSub by default). Every server of a
// cluster uses the same kind and key.
func WithKind(k Kind) Option {
	return func(c *config) error {
		if k < PubSub || k > Sharded {
			return fmt.Errorf("cluster: WithKind(%v): unknown kind", k)
		}
		c.kind = k
		return nil
	}
}
