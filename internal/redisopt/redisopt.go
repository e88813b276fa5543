// Package redisopt reads the options of a go-redis client that the
// module's Redis users (the cluster adapter, the Redis revocation store)
// check before they rely on them.
package redisopt

import "github.com/redis/go-redis/v9"

// ContextTimeoutEnabled reports the client's ContextTimeoutEnabled option
// (without it, go-redis ignores a context's deadline while it waits for a
// reply), and whether the client's type exposes it.
func ContextTimeoutEnabled(c redis.UniversalClient) (enabled, known bool) {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled, true
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled, true
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled, true
	}
	return false, false
}
