// Package jwks verifies tokens with the keys of a remote JSON Web Key Set
// (RFC 7517): the keys an identity provider such as Auth0, Keycloak, Okta
// or any OpenID Connect issuer publishes. A Set fetches the key set, keeps
// it in memory, and hands the verifier the key each token names:
//
//	keys, err := jwks.Discover(ctx, "https://example.eu.auth0.com/")
//	if err != nil { ... }
//	defer keys.Close()
//	verifier, err := core.New(core.WithKeyFunc(keys.Key), core.WithAlgorithms("RS256"),
//		core.WithIssuer("https://example.eu.auth0.com/"), core.WithAudience("https://api.example.com"))
//
// # Keys
//
// A token's key is the key of the set whose "kid" is the token's "kid". A
// key that declares an "alg" verifies only tokens of that algorithm, and an
// ECDSA key only the algorithm of its curve; otherwise the token is refused
// as "invalid algorithm". A token without "kid" is accepted only when
// exactly one key of the set can verify its algorithm.
//
// Only public signature keys are used: RSA (RS256, RS384, RS512, PS256,
// PS384, PS512), ECDSA (ES256 on P-256, ES384 on P-384, ES512 on P-521) and
// Ed25519 (EdDSA). Left out, and logged at debug level, are encryption keys
// ("use": "enc", or "key_ops" without "verify"), keys of other types, and
// keys that fail validation (including an "x5c" certificate that does not
// hold the key); left out and logged as an error are symmetric keys and
// keys that carry private material, which would let anyone who reads the
// set sign tokens. HMAC tokens are never verified with a key set. The
// "jku", "x5u" and "jwk" headers of tokens are never followed.
//
// # Rotation
//
// A token whose "kid" is not cached makes the Set fetch the key set again
// at once, so a key the issuer starts using is picked up on its first
// token. Such fetches are rate-limited (at most one per
// WithMinFetchInterval), and concurrent connections share one request. A
// key the issuer withdraws stops verifying at the next fetch: every
// WithRefreshInterval in the background, or sooner when a refetch happens.
// Each successful fetch replaces the whole set. A fetch that yields no
// usable key counts as a failure and keeps the previous keys.
//
// # Outages
//
// When a fetch fails (network, timeout, non-200 answer, a document that is
// not a key set), the keys already cached keep verifying. A token whose key
// is not cached is then refused with code "keyset_unavailable" and the
// message "signing keys unavailable, retry later", so that a client can
// tell an outage from a bad token. When the key set was fetched and has no
// key for the token, the code is "invalid_secret", message "signing key not
// found". The reason of a failure is logged and passed to the fetch
// callback, never sent to clients.
//
// # Limits
//
// Key set and discovery documents over 1 MiB are refused. Every fetch is
// bounded by WithFetchTimeout, below the verifier's key timeout. URLs must
// be https (WithInsecureHTTP for development), also after redirects.
package jwks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/clock"
)

// Public messages of the key set failures.
const (
	msgNotFound    = "signing key not found"
	msgUnavailable = "signing keys unavailable, retry later"
)

// Set is a remote JSON Web Key Set, cached in memory and kept fresh by one
// background timer. Its Key method is a core.KeyFunc. A Set is safe for
// concurrent use; Close stops it.
type Set struct {
	// Configuration, fixed by New.
	client          *http.Client
	refreshInterval time.Duration
	minInterval     time.Duration
	fetchTimeout    time.Duration
	onFetch         func(error)
	logger          *slog.Logger
	background      bool
	insecureHTTP    bool
	clock           clock.Clock
	issuer          string // Discover's issuer, "" for New

	// jwksURL is the key set's URL; with Discover it is found by the first
	// successful discovery. Only the fetch in progress reads and writes it.
	jwksURL *url.URL

	state atomic.Pointer[state]

	ctx    context.Context // canceled by Close; bounds background fetches
	cancel context.CancelFunc
	wg     sync.WaitGroup // background fetches

	mu       sync.Mutex
	inflight chan struct{} // closed when the fetch in progress ends; nil when none
	timer    clock.Timer   // next background refresh
	closed   bool
}

// state is what the last fetch left: the keys of the last successful one,
// and the outcome of the last attempt.
type state struct {
	keys []key
	at   time.Time // when the last fetch started; zero before the first
	err  error     // why the last fetch failed; nil if it succeeded
}

// New returns a Set for the JWK Set at rawURL, which must be https. Unless
// WithBackgroundStart is given, it fetches the key set before returning,
// bounded by ctx and WithFetchTimeout, and fails if it cannot. ctx bounds
// only that first fetch; the Set runs until Close.
func New(ctx context.Context, rawURL string, opts ...Option) (*Set, error) {
	s, err := newSet(opts)
	if err != nil {
		return nil, err
	}
	if s.jwksURL, err = s.checkURL("key set", rawURL); err != nil {
		return nil, err
	}
	return s.start(ctx)
}

// Discover returns a Set for the keys of an OpenID Connect issuer: it reads
// the issuer's discovery document (issuer + "/.well-known/openid-configuration"),
// checks that the document names the same issuer (a trailing slash aside),
// and uses the key set its "jwks_uri" names. Both must be https. Otherwise
// it behaves as New; with WithBackgroundStart, discovery too happens in the
// background and is retried until it succeeds.
//
// Discover does not check the tokens' "iss": give the verifier
// core.WithIssuer(issuer), and core.WithAudience, since every application
// of the issuer receives tokens signed with the same keys.
func Discover(ctx context.Context, issuer string, opts ...Option) (*Set, error) {
	s, err := newSet(opts)
	if err != nil {
		return nil, err
	}
	if _, err := s.checkURL("issuer", issuer); err != nil {
		return nil, err
	}
	s.issuer = issuer
	return s.start(ctx)
}

func newSet(opts []Option) (*Set, error) {
	s := &Set{
		client:          &http.Client{},
		refreshInterval: DefaultRefreshInterval,
		minInterval:     DefaultMinFetchInterval,
		fetchTimeout:    DefaultFetchTimeout,
		logger:          slog.New(slog.DiscardHandler),
		clock:           clock.Real{},
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("jwks: nil option")
		}
		if err := o(s); err != nil {
			return nil, err
		}
	}
	s.state.Store(&state{})
	return s, nil
}

// start makes the first fetch, or starts it in the background, and arms the
// refresh timer.
func (s *Set) start(ctx context.Context) (*Set, error) {
	if !s.background {
		fctx, cancel := context.WithTimeout(ctx, s.fetchTimeout)
		err := s.fetch(fctx)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer = s.clock.AfterFunc(s.refreshInterval, s.tick)
	if s.background {
		s.startFetchLocked() // re-arms the timer when it ends
	}
	return s, nil
}

// Key returns the public key that verifies the token described by req. It
// is a core.KeyFunc: pass it to core.WithKeyFunc. Its errors are
// *core.Error values: "invalid_token" / "invalid algorithm" for a token
// whose algorithm its key cannot verify, "invalid_secret" / "signing key
// not found" when the set has no key for the token, "keyset_unavailable"
// when the key is not cached and the key set cannot be fetched.
func (s *Set) Key(ctx context.Context, req *core.KeyRequest) (any, error) {
	kid, alg := req.KeyID(), req.Alg()
	if !supported(alg) {
		return nil, core.NewError(core.CodeInvalidToken, "invalid algorithm",
			fmt.Errorf("jwks: a key set cannot verify alg %q", alg))
	}
	st := s.state.Load()
	if pub, found := find(st.keys, kid, alg); found {
		return answer(pub, kid, alg)
	}
	st, err := s.refetch(ctx)
	if err != nil {
		return nil, err
	}
	if pub, found := find(st.keys, kid, alg); found {
		return answer(pub, kid, alg)
	}
	if st.err != nil {
		return nil, core.NewError(core.CodeKeySetUnavailable, msgUnavailable, st.err)
	}
	return nil, core.NewError(core.CodeInvalidSecret, msgNotFound,
		fmt.Errorf("jwks: no key for kid %q and alg %q", kid, alg))
}

func answer(pub any, kid, alg string) (any, error) {
	if pub == nil {
		return nil, core.NewError(core.CodeInvalidToken, "invalid algorithm",
			fmt.Errorf("jwks: key %q is not for alg %q", kid, alg))
	}
	return pub, nil
}

// refetch fetches the key set for a token whose key is not cached, unless
// a fetch started less than the minimum interval ago, and returns the
// state after it. It joins the fetch in progress, if any.
func (s *Set) refetch(ctx context.Context) (*state, error) {
	s.mu.Lock()
	if s.inflight == nil {
		st := s.state.Load()
		if s.closed || (!st.at.IsZero() && s.clock.Now().Sub(st.at) < s.minInterval) {
			s.mu.Unlock()
			return st, nil
		}
		s.startFetchLocked()
	}
	done := s.inflight
	s.mu.Unlock()
	select {
	case <-done:
		return s.state.Load(), nil
	case <-ctx.Done():
		return nil, core.NewError(core.CodeKeySetUnavailable, msgUnavailable, ctx.Err())
	}
}

// Refresh fetches the key set now, whatever the rate limit, or waits for
// the fetch in progress, and returns its error. The Set keeps its previous
// keys when it fails. Use it after learning that the issuer rotated its
// keys, or as a readiness check.
func (s *Set) Refresh(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("jwks: Refresh on a closed Set")
	}
	if s.inflight == nil {
		s.startFetchLocked()
	}
	done := s.inflight
	s.mu.Unlock()
	select {
	case <-done:
		return s.state.Load().err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the background refresh and waits for a fetch in progress to
// be abandoned. Key keeps answering from the keys already cached, without
// fetching. Close always returns nil; calling it again does nothing.
func (s *Set) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.timer.Stop()
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// tick is the refresh timer's function.
func (s *Set) tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed && s.inflight == nil {
		s.startFetchLocked()
	}
}

// startFetchLocked starts a fetch on its own goroutine, bounded by the
// fetch timeout and by Close, so that no caller's context can cut short a
// fetch that others wait for. When it ends, the refresh timer is re-armed:
// a full interval after a success, the minimum interval after a failure.
func (s *Set) startFetchLocked() {
	done := make(chan struct{})
	s.inflight = done
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, s.fetchTimeout)
		err := s.fetch(ctx)
		cancel()
		s.mu.Lock()
		s.inflight = nil
		if !s.closed {
			next := s.refreshInterval
			if err != nil {
				next = s.minInterval
			}
			s.timer.Reset(next)
		}
		s.mu.Unlock()
		close(done)
	}()
}
