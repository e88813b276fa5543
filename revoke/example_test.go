package revoke_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/siojwt/siojwt/revoke"
)

func ExampleMemory() {
	store, err := revoke.NewMemory(revoke.WithMaxTokenLifetime(5 * time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()

	issued := time.Now().Add(-time.Minute)
	tokens := []revoke.Token{
		{JTI: "t-1", Subject: "alice", IssuedAt: issued},
		{JTI: "t-2", Subject: "bob", IssuedAt: issued},
		{JTI: "t-3", Subject: "carol", IssuedAt: issued},
	}

	// One token, kept until it stops verifying: its exp plus the
	// verifier's clock tolerance (here none).
	t1 := revoke.Token{JTI: "t-1", ExpiresAt: issued.Add(5 * time.Hour)}
	if err := store.Revoke(ctx, revoke.ForToken(t1, 0)); err != nil {
		log.Fatal(err)
	}
	// Every token bob holds now ("log out everywhere").
	if err := store.Revoke(ctx, revoke.Revocation{Subject: "bob"}); err != nil {
		log.Fatal(err)
	}

	for _, tok := range tokens {
		revoked, err := store.IsRevoked(ctx, tok)
		if err != nil {
			log.Fatal(err) // refuse the token: fail closed
		}
		fmt.Println(tok.JTI, revoked)
	}
	// Output:
	// t-1 true
	// t-2 true
	// t-3 false
}

func ExampleMemory_Watch() {
	store, err := revoke.NewMemory()
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// A server runs one Watch for its lifetime and disconnects the live
	// connections whose token the revocation matches.
	go func() {
		_ = store.Watch(ctx, func(r revoke.Revocation) {
			live := revoke.Token{JTI: "t-9", Subject: "alice", IssuedAt: time.Now().Add(-time.Hour)}
			if r.Matches(live) {
				fmt.Println("disconnect", live.JTI)
			}
		})
	}()
}
