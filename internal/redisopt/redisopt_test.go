package redisopt

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestContextTimeoutEnabled(t *testing.T) {
	cases := []struct {
		name         string
		client       redis.UniversalClient
		enabled, knw bool
	}{
		{"client on", redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true}), true, true},
		{"client off", redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), false, true},
		{"cluster on", redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, ContextTimeoutEnabled: true}), true, true},
		{"ring off", redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}}), false, true},
		{"unknown type", unknown{redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})}, false, false},
	}
	for _, c := range cases {
		enabled, known := ContextTimeoutEnabled(c.client)
		_ = c.client.Close()
		if enabled != c.enabled || known != c.knw {
			t.Errorf("%s: (%v, %v), want (%v, %v)", c.name, enabled, known, c.enabled, c.knw)
		}
	}
}

// unknown is a client type ContextTimeoutEnabled cannot see into.
type unknown struct{ *redis.Client }
