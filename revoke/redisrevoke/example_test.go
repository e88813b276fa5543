package redisrevoke_test

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siojwt/siojwt/revoke"
	"github.com/siojwt/siojwt/revoke/redisrevoke"
)

func ExampleNew() {
	client := redis.NewClient(&redis.Options{
		Addr: "127.0.0.1:6379",
		// Lets the store's timeout bound a server that stops answering.
		ContextTimeoutEnabled: true,
	})
	defer client.Close()

	store, err := redisrevoke.New(client,
		redisrevoke.WithMaxTokenLifetime(5*time.Hour), // the longest exp - iat issued
		redisrevoke.WithLogger(slog.Default()),
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Every server watches, to disconnect live connections holding a
	// token revoked anywhere.
	go func() {
		err := store.Watch(ctx, func(r revoke.Revocation) {
			log.Printf("revoked: %+v", r)
		})
		if !errors.Is(err, context.Canceled) {
			log.Print(err)
		}
	}()

	// Log a user out everywhere.
	if err := store.Revoke(ctx, revoke.Revocation{Subject: "alice"}); err != nil {
		log.Print(err)
	}

	// At authentication: refuse the token when it is revoked or when the
	// store cannot tell (fail closed).
	revoked, err := store.IsRevoked(ctx, revoke.Token{JTI: "t-1", Subject: "alice", IssuedAt: time.Now()})
	if err != nil || revoked {
		log.Print("refused")
	}
}
