package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/bench/loadgen"
)

// fixtureSecret is the HS256 secret of every server's /login (see the
// fixture contract).
const fixtureSecret = "aaafoo super sercret"

// tokens returns n distinct HS256 tokens shaped like the fixture's /login
// tokens (its claims, a distinct sub and jti each, 5 h lifetime), minted
// once per run and reused.
func (d *driver) tokens(n int) ([]string, error) {
	if len(d.minted) < n {
		more, err := mintTokens(len(d.minted), n-len(d.minted))
		if err != nil {
			return nil, err
		}
		d.minted = append(d.minted, more...)
	}
	return d.minted[:n], nil
}

// mintTokens returns n HS256 tokens shaped like the fixture's /login
// tokens, subjects bench-first to bench-(first+n-1), each with its own jti.
func mintTokens(first, n int) ([]string, error) {
	now := time.Now()
	out := make([]string, 0, n)
	for i := first; i < first+n; i++ {
		var id [8]byte
		_, _ = rand.Read(id[:])
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"first_name": "John", "last_name": "Doe", "email": "john@doe.com", "id": 123,
			"sub": fmt.Sprintf("bench-%d", i), "jti": hex.EncodeToString(id[:]),
			"iat": now.Unix(), "exp": now.Add(5 * time.Hour).Unix(),
		}).SignedString([]byte(fixtureSecret))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// fetchTokens asks a server's /login for n tokens, 8 requests at a time.
func fetchTokens(ctx context.Context, baseURL string, n int) ([]string, error) {
	out := make([]string, n)
	errs := make([]error, n)
	idx := make(chan int)
	var wg sync.WaitGroup
	for range min(8, n) {
		wg.Go(func() {
			for i := range idx {
				out[i], errs[i] = loadgen.FetchToken(ctx, baseURL, fmt.Sprintf("bench-%d", i))
			}
		})
	}
	for i := range n {
		idx <- i
	}
	close(idx)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
