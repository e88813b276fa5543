package jwks

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/siojwt/siojwt/internal/clock"
)

// Defaults of the options.
const (
	// DefaultRefreshInterval is how often the key set is fetched in the
	// background. It bounds how long a key removed from the set (after a
	// compromise) keeps verifying.
	DefaultRefreshInterval = 15 * time.Minute
	// DefaultMinFetchInterval is the shortest time between two fetches
	// started by tokens whose key is not cached, and the delay before a
	// failed background fetch is retried.
	DefaultMinFetchInterval = 30 * time.Second
	// DefaultFetchTimeout bounds one fetch (discovery included). It is
	// below core.DefaultKeyTimeout so that a connection waiting on a slow
	// key server gets "keyset_unavailable", which tells the client to retry.
	DefaultFetchTimeout = 3 * time.Second
)

// maxBody bounds a key set or discovery document: real ones are a few KB.
const maxBody = 1 << 20

// Option configures a Set in New or Discover. An option with an invalid
// value makes them fail.
type Option func(*Set) error

// WithHTTPClient sets the client that fetches the key set and the discovery
// document (by default a plain http.Client; each fetch is bounded by
// WithFetchTimeout whatever the client's own timeout). Use it for a proxy,
// a private certificate authority or a test server.
func WithHTTPClient(c *http.Client) Option {
	return func(s *Set) error {
		if c == nil {
			return errors.New("jwks: WithHTTPClient(nil)")
		}
		s.client = c
		return nil
	}
}

// WithRefreshInterval sets how often the key set is fetched in the
// background (DefaultRefreshInterval by default). New keys are picked up
// as soon as a token uses one, whatever the interval; the interval bounds
// how long a key the issuer has withdrawn keeps verifying.
func WithRefreshInterval(d time.Duration) Option {
	return func(s *Set) error {
		if d <= 0 {
			return fmt.Errorf("jwks: WithRefreshInterval(%v): not positive", d)
		}
		s.refreshInterval = d
		return nil
	}
}

// WithMinFetchInterval sets the shortest time between two fetches started
// by tokens whose key is not cached (DefaultMinFetchInterval by default).
// Anyone can send a token with a made-up "kid": this is what keeps them
// from making the server hammer the key set endpoint. Within the interval
// such a token is refused at once ("signing key not found", or
// "keyset_unavailable" if the last fetch failed). A failed background
// refresh is retried after the same interval.
func WithMinFetchInterval(d time.Duration) Option {
	return func(s *Set) error {
		if d <= 0 {
			return fmt.Errorf("jwks: WithMinFetchInterval(%v): not positive", d)
		}
		s.minInterval = d
		return nil
	}
}

// WithFetchTimeout bounds each fetch, discovery included
// (DefaultFetchTimeout by default). Keep it below the verifier's key
// timeout (core.WithKeyTimeout), so that a handshake waiting on a slow key
// server is refused with "keyset_unavailable" rather than the generic
// "invalid_secret".
func WithFetchTimeout(d time.Duration) Option {
	return func(s *Set) error {
		if d <= 0 {
			return fmt.Errorf("jwks: WithFetchTimeout(%v): not positive", d)
		}
		s.fetchTimeout = d
		return nil
	}
}

// WithFetchCallback sets a function called after every fetch of the key
// set (the first one, background refreshes, refetches for an unknown key,
// Refresh) with nil on success or the reason of the failure. Pass
// metrics.Collector.KeySetFetch to count fetches. It runs on the goroutine
// that fetched, one fetch at a time: keep it short. A panic in it is
// recovered and logged.
func WithFetchCallback(fn func(err error)) Option {
	return func(s *Set) error {
		if fn == nil {
			return errors.New("jwks: WithFetchCallback(nil)")
		}
		s.onFetch = fn
		return nil
	}
}

// WithLogger sets the logger for failed fetches (warning), keys left out of
// the set (debug; error for a key that carries private material) and
// successful fetches (debug). By default nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(s *Set) error {
		if l == nil {
			return errors.New("jwks: WithLogger(nil)")
		}
		s.logger = l
		return nil
	}
}

// WithBackgroundStart makes New and Discover return at once and fetch the
// key set in the background, so that the server starts while the key
// server is down. Tokens that arrive before the first fetch ends wait for
// it; while it fails they are refused with "keyset_unavailable". Without
// it, New and Discover fetch before returning and fail when they cannot,
// which catches a wrong URL at start-up.
func WithBackgroundStart() Option {
	return func(s *Set) error {
		s.background = true
		return nil
	}
}

// WithInsecureHTTP allows http:// URLs for the key set, the issuer and the
// jwks_uri it names, and redirects to them. Whoever can alter a key set in
// transit can sign any token the server will accept: use it only for a
// key server on loopback during development (Keycloak on
// http://localhost:8080, for example).
func WithInsecureHTTP() Option {
	return func(s *Set) error {
		s.insecureHTTP = true
		return nil
	}
}

// withClock replaces the clock, for tests.
func withClock(c clock.Clock) Option {
	return func(s *Set) error {
		s.clock = c
		return nil
	}
}
