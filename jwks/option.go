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
	// DefaultRefreshInterval is how often each key set is fetched in the
	// background. It bounds how long a key the issuer has withdrawn (after
	// a compromise, say) keeps verifying.
	DefaultRefreshInterval = 15 * time.Minute
	// DefaultCooldown is the shortest time between two refetches of a key
	// set started by tokens whose key is not cached, and the delay before a
	// failed fetch is retried in the background.
	DefaultCooldown = 30 * time.Second
	// DefaultFetchTimeout bounds one fetch (discovery included), and is the
	// Timeout of the default HTTP client. It is below core.DefaultKeyTimeout
	// so that a connection waiting on a slow key server is refused with
	// "keyset_unavailable", which tells the client to retry.
	DefaultFetchTimeout = 3 * time.Second
	// DefaultMaxResponseSize bounds a key set or discovery document, after
	// decompression. Real ones are a few KB.
	DefaultMaxResponseSize = 1 << 20
)

// config is what the options set.
type config struct {
	client       *http.Client // nil: a client of our own
	refresh      time.Duration
	cooldown     time.Duration
	fetchTimeout time.Duration
	maxSize      int64
	hook         func(error)
	logger       *slog.Logger
	background   bool
	insecureHTTP bool
	clock        clock.Clock
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		refresh:      DefaultRefreshInterval,
		cooldown:     DefaultCooldown,
		fetchTimeout: DefaultFetchTimeout,
		maxSize:      DefaultMaxResponseSize,
		logger:       slog.New(slog.DiscardHandler),
		clock:        clock.Real{},
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("jwks: nil option")
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Option configures a Set in New, Discover or NewIssuers. An option with an
// invalid value makes them fail.
type Option func(*config) error

// WithHTTPClient sets the client that fetches key sets and discovery
// documents: for a proxy, a private certificate authority or a test server.
// The Set uses a copy of it whose transport also enforces
// WithMaxResponseSize and the https rule; each fetch is bounded by
// WithFetchTimeout whatever the client's own Timeout. By default the Set
// uses a client of its own, with its own connection pool and a Timeout of
// WithFetchTimeout, whose idle connections Close closes.
func WithHTTPClient(c *http.Client) Option {
	return func(cfg *config) error {
		if c == nil {
			return errors.New("jwks: WithHTTPClient(nil)")
		}
		cfg.client = c
		return nil
	}
}

// WithRefreshInterval sets how often each key set is fetched in the
// background (DefaultRefreshInterval by default). New keys are picked up as
// soon as a token names one, whatever the interval; the interval bounds how
// long a key the issuer has withdrawn keeps verifying.
func WithRefreshInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("jwks: WithRefreshInterval(%v): not positive", d)
		}
		c.refresh = d
		return nil
	}
}

// WithCooldown sets the shortest time between two refetches of a key set
// started by tokens whose key is not cached (DefaultCooldown by default).
// Only those refetches count: the first unknown "kid" after the first
// fetch, a background refresh or Refresh makes the Set fetch at once, so a
// key the issuer has just started using is picked up on its first token.
// Anyone can send a token with a made-up "kid": the cooldown is what keeps
// them from making the server hammer the key server. Within the cooldown
// of a refetch, a token whose key is not cached is refused at once, with
// "signing key not found", or with "keyset_unavailable" if the last fetch
// failed. A failed fetch is retried in the background after the same
// delay.
func WithCooldown(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("jwks: WithCooldown(%v): not positive", d)
		}
		c.cooldown = d
		return nil
	}
}

// WithFetchTimeout bounds each fetch, discovery included
// (DefaultFetchTimeout by default). A token with a new "kid" may wait for
// two fetches in a row (one it joined, then its own): keep twice this
// below the verifier's key timeout (core.WithKeyTimeout), so that a
// handshake waiting on a slow key server is refused with
// "keyset_unavailable" rather than the generic "invalid_secret".
func WithFetchTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("jwks: WithFetchTimeout(%v): not positive", d)
		}
		c.fetchTimeout = d
		return nil
	}
}

// WithMaxResponseSize bounds a key set or discovery document, in bytes
// after decompression (DefaultMaxResponseSize by default). A larger answer
// makes the fetch fail, so that a misbehaving key server cannot exhaust the
// server's memory.
func WithMaxResponseSize(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("jwks: WithMaxResponseSize(%d): not positive", n)
		}
		c.maxSize = n
		return nil
	}
}

// WithFetchHook sets a function called after every fetch of a key set (the
// first one, background refreshes, refetches for an unknown key, Refresh)
// with nil on success or the reason of the failure. Pass
// metrics.Collector.KeySetFetch to count fetches and failures. It runs on
// the goroutine that fetched: keep it short. A panic in it is recovered and
// logged.
func WithFetchHook(fn func(err error)) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("jwks: WithFetchHook(nil)")
		}
		c.hook = fn
		return nil
	}
}

// WithLogger sets the logger for failed fetches (warning), keys left out of
// a set (debug; error for a secret or private key published in the set)
// and successful fetches (debug). By default nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("jwks: WithLogger(nil)")
		}
		c.logger = l
		return nil
	}
}

// WithBackgroundStart makes the constructors return at once and fetch in
// the background, so that the server starts while a key server is down.
// Tokens that arrive during the first fetch wait for it; while it fails
// they are refused with "keyset_unavailable". Without it, the constructors
// fetch every key set before returning and fail when they cannot, which
// catches a wrong URL at start-up.
func WithBackgroundStart() Option {
	return func(c *config) error {
		c.background = true
		return nil
	}
}

// WithInsecureHTTP allows http:// URLs to any host for key sets, issuers,
// the jwks_uri of a discovery document, and redirects to them. Without it,
// http is allowed only to a loopback host ("localhost", 127.0.0.0/8,
// [::1]): a key server on the same machine, such as Keycloak on
// http://localhost:8080 during development, needs no option. Whoever can
// alter a key set in transit can sign any token the server will accept: use
// it only on a network nobody else can reach, never in production.
func WithInsecureHTTP() Option {
	return func(c *config) error {
		c.insecureHTTP = true
		return nil
	}
}

// withClock replaces the clock, for tests.
func withClock(clk clock.Clock) Option {
	return func(c *config) error {
		c.clock = clk
		return nil
	}
}
