package cluster_test

import (
	"context"
	"log"
	"log/slog"
	"net/http"

	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/cluster"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/revoke/redisrevoke"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// A server that runs as one member of a cluster: the Redis adapter relays
// broadcasts, the Redis revocation store shares revocations.
func ExampleNew() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.Default()

	client, err := cluster.Dial(ctx, "redis://127.0.0.1:6379/0")
	if err != nil {
		log.Fatal(err) // Redis unreachable at start: refuse to start
	}
	defer client.Close()
	adapter, err := cluster.New(ctx, client, cluster.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}
	defer adapter.Close()
	store, err := redisrevoke.New(client, redisrevoke.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}

	io := socket.NewServer(nil, nil)
	defer io.Close(nil)
	io.SetAdapter(adapter) // before siojwt.New, which wraps it
	v, err := core.New(core.WithSecretString("a secret of at least 32 bytes....."))
	if err != nil {
		log.Fatal(err)
	}
	auth, err := siojwt.New(io, v, siojwt.WithRevocationStore(store), siojwt.WithLogger(logger))
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()
	if err := auth.Protect(io.Sockets()); err != nil {
		log.Fatal(err)
	}
	http.Handle("/socket.io/", io.ServeHandler(nil))
	log.Fatal(http.ListenAndServe("127.0.0.1:3000", nil))
}

// The Streams adapter: a server cut off from Redis for a while catches up
// on the broadcasts made meanwhile, and clients recover their session (with
// the packets they missed) on any server.
func ExampleWithKind() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, err := cluster.Dial(ctx, "redis://127.0.0.1:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	adapter, err := cluster.New(ctx, client, cluster.WithKind(cluster.Streams))
	if err != nil {
		log.Fatal(err)
	}
	defer adapter.Close()

	opts := socket.DefaultServerOptions()
	opts.SetConnectionStateRecovery(socket.DefaultConnectionStateRecovery())
	io := socket.NewServer(nil, opts)
	defer io.Close(nil)
	io.SetAdapter(adapter) // then siojwt.New
}

// The sharded adapter on a Redis Cluster.
func ExampleDialCluster() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, err := cluster.DialCluster(ctx, "redis://10.0.0.1:6379?addr=10.0.0.2:6379&addr=10.0.0.3:6379")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	adapter, err := cluster.New(ctx, client, cluster.WithKind(cluster.Sharded))
	if err != nil {
		log.Fatal(err)
	}
	defer adapter.Close()
	io := socket.NewServer(nil, nil)
	defer io.Close(nil)
	io.SetAdapter(adapter) // then siojwt.New
}
