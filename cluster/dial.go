package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts Dial gives a client whose URL does not set them.
const (
	// DefaultDialTimeout bounds each connection attempt.
	DefaultDialTimeout = 2 * time.Second
	// DefaultReadTimeout and DefaultWriteTimeout bound each command's
	// network reads and writes.
	DefaultReadTimeout  = time.Second
	DefaultWriteTimeout = time.Second
	// DefaultPingTimeout bounds Dial's PING when ctx has no earlier
	// deadline.
	DefaultPingTimeout = 5 * time.Second
)

// Dial opens a client for the Redis server at rawURL
// ("redis://[[user]:password@]host[:port][/db]", "rediss://" for TLS; the
// query may set dial_timeout, read_timeout, write_timeout and the pool's
// options, see redis.ParseURL), and checks it with a PING bounded by ctx
// and DefaultPingTimeout. The client has ContextTimeoutEnabled on, so that
// callers' deadlines bound a server that stops answering, and the Default
// timeouts above where the URL sets none. Errors never hold the password.
func Dial(ctx context.Context, rawURL string) (*redis.Client, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("cluster: invalid Redis URL: %w", withoutURL(err))
	}
	opt.ContextTimeoutEnabled = true
	withDefaultTimeouts(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout)
	client := redis.NewClient(opt)
	if err := ping(ctx, client); err != nil {
		return nil, fmt.Errorf("cluster: Redis at %s does not answer: %w", opt.Addr, err)
	}
	return client, nil
}

// DialCluster opens a client for the Redis Cluster whose nodes rawURL lists
// ("redis://[[user]:password@]host:port?addr=host2:port2&addr=host3:port3",
// "rediss://" for TLS; see redis.ParseClusterURL), with the same defaults
// and checks as Dial: ContextTimeoutEnabled on, the Default timeouts where
// the URL sets none, and a PING bounded by ctx and DefaultPingTimeout.
func DialCluster(ctx context.Context, rawURL string) (*redis.ClusterClient, error) {
	opt, err := redis.ParseClusterURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("cluster: invalid Redis Cluster URL: %w", withoutURL(err))
	}
	opt.ContextTimeoutEnabled = true
	withDefaultTimeouts(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout)
	client := redis.NewClusterClient(opt)
	if err := ping(ctx, client); err != nil {
		return nil, fmt.Errorf("cluster: Redis Cluster at %v does not answer: %w", opt.Addrs, err)
	}
	return client, nil
}

// withoutURL unwraps a *url.Error, which repeats the URL, password included.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// withDefaultTimeouts sets the Default timeouts where the URL set none.
func withDefaultTimeouts(dial, read, write *time.Duration) {
	if *dial == 0 {
		*dial = DefaultDialTimeout
	}
	if *read == 0 {
		*read = DefaultReadTimeout
	}
	if *write == 0 {
		*write = DefaultWriteTimeout
	}
}

// ping checks that client answers within ctx and DefaultPingTimeout, and
// closes it when it does not.
func ping(ctx context.Context, client redis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultPingTimeout)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return err
	}
	return nil
}
