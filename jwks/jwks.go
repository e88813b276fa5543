// Package jwks verifies tokens with the keys of remote JSON Web Key Sets
// (RFC 7517): the keys that identity providers such as Auth0, Keycloak,
// Okta or any OpenID Connect issuer publish. A Set fetches the key sets,
// keeps them in memory, and hands the verifier the key each token names:
//
//	keys, err := jwks.Discover(ctx, "https://example.eu.auth0.com/")
//	if err != nil { ... }
//	defer keys.Close()
//	verifier, err := core.New(core.WithKeySource(keys), core.WithAlgorithms("RS256"),
//		core.WithIssuer("https://example.eu.auth0.com/"), core.WithAudience("https://api.example.com"))
//
// Fetching and parsing are github.com/MicahParks/jwkset's, key lookup is
// github.com/MicahParks/keyfunc/v3's. This package adds what a Socket.IO
// server needs around them: OpenID Connect discovery, one key set per
// issuer, the schedule of fetches (a cooldown, one fetch in flight shared
// by every connection, a goroutine Close can wait for), limits on the key
// server's answers, and errors a client can act on.
//
// # Issuers
//
// New serves one key set to every token, whatever its "iss". Discover and
// NewIssuers serve each token the key set of the issuer its "iss" names;
// a token of any other issuer is refused before any fetch, with the
// message core.WithIssuer gives. The verifier must still check the issuer
// and the audience (core.WithIssuer, core.WithAudience): a provider signs
// the tokens of all its applications with the same keys.
//
// # Keys
//
// A token's key is the key of its issuer's set whose "kid" is the token's
// "kid". A key that declares an "alg" verifies only tokens of that
// algorithm, and an ECDSA key only the algorithm of its curve; otherwise
// the token is refused as "invalid algorithm". A token without "kid" is
// accepted only when exactly one key of the set can verify its algorithm.
//
// Only public signature keys are used: RSA (RS256, RS384, RS512, PS256,
// PS384, PS512), ECDSA (ES256 on P-256, ES384 on P-384, ES512 on P-521) and
// Ed25519 (EdDSA). Left out, and logged at debug level, are keys whose
// "use" is not "sig" (absent is fine), keys whose "key_ops" lack "verify",
// and keys of other types; left out and logged as an error are symmetric
// keys and keys that carry private material, which would let anyone who
// reads the set sign tokens. HMAC tokens (HS256, ...) are refused at once:
// a key set never verifies them, whatever key their "kid" names. The
// "jku", "x5u" and "jwk" headers of tokens are never followed.
//
// # Rotation
//
// A token whose "kid" is not cached makes the Set fetch its key set again
// at once, so a key the issuer starts using is picked up on its first
// token, however recent the last fetch. Such refetches are rate-limited:
// at most one per WithCooldown, counted between refetches for unknown kids
// only (the first fetch, the background ones and Refresh do not delay
// them), as jwkset's limiter does. Concurrent connections share one
// request: they all wait for it, each no longer than its own context
// allows. A token that finds another fetch in flight waits for it, and if
// that fetch succeeded without its key (it may have started before the
// key was published), makes one refetch of its own. Within the cooldown of
// a refetch, a token whose key is still not cached is refused at once. A key the issuer withdraws stops
// verifying at the next fetch: every WithRefreshInterval in the
// background, or sooner when a refetch happens. Each successful fetch
// replaces the whole set. A fetch that yields no usable key counts as a
// failure and keeps the previous keys.
//
// # Outages
//
// When a fetch fails (network, timeout, a status other than 200, a
// document that is not a key set or is too large), the keys already cached
// keep verifying. A token whose key is not cached is then refused with
// code "keyset_unavailable" and the message "signing keys unavailable,
// retry later", so that a client can tell an outage from a bad token. When
// the key set was fetched and has no key for the token, the code is
// "invalid_secret", message "signing key not found". The reason of a
// failure is logged and passed to the fetch hook, and kept in the Err of
// the core.Error, never in its public Message.
//
// # Limits
//
// Answers over WithMaxResponseSize (1 MiB) are refused. Every fetch is
// bounded by WithFetchTimeout (3 s), below the verifier's key timeout. URLs
// must be https, also after redirects, except on a loopback host
// ("localhost", 127.0.0.0/8, [::1]), whose traffic never leaves the
// machine: http is allowed there. WithInsecureHTTP allows http to any host.
package jwks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/logs"
)

// Public messages of the key set failures.
const (
	msgNotFound    = "signing key not found"
	msgUnavailable = "signing keys unavailable, retry later"
	msgAlgorithm   = "invalid algorithm"
)

// Set is one or more remote JSON Web Key Sets, cached in memory and kept
// fresh by one timer per key set. Its Key method is a core.KeyFunc. A Set
// is safe for concurrent use and can serve several verifiers; Close stops
// it.
type Set struct {
	cfg    *config
	client *http.Client
	own    *http.Transport // the default client's transport; nil with WithHTTPClient

	sources  []*source
	byIssuer map[string]*source // nil with New: every token goes to sources[0]
	issMsg   string             // public message for a token of another issuer

	ctx    context.Context // canceled by Close; bounds background fetches
	cancel context.CancelFunc
	wg     sync.WaitGroup // fetch goroutines
}

// Issuer is one issuer of the tokens a Set made by NewIssuers verifies.
type Issuer struct {
	// Issuer is the "iss" of the issuer's tokens, exactly (Auth0's ends
	// with a slash). Tokens with this "iss" are verified with this
	// issuer's keys, and with no other.
	Issuer string
	// JWKSURL is the URL of the issuer's key set. When it is empty, the
	// Set finds it by OpenID Connect discovery: Issuer must then be an
	// https URL (or http, as for JWKSURL), and its discovery document must
	// name Issuer exactly.
	JWKSURL string
}

// New returns a Set for the key set at jwksURL, which must be https (or
// http on a loopback host, or anywhere with WithInsecureHTTP). It
// serves every token, whatever its "iss": check the issuer with
// core.WithIssuer. Unless WithBackgroundStart is given, New fetches the key
// set before returning, bounded by ctx and WithFetchTimeout, and fails if
// it cannot. ctx bounds only that first fetch; the Set runs until Close.
func New(ctx context.Context, jwksURL string, opts ...Option) (*Set, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if _, err := parseURL("key set", jwksURL, cfg.insecureHTTP); err != nil {
		return nil, err
	}
	s := newSet(cfg)
	src, err := newSource(s, "", jwksURL)
	if err != nil {
		return nil, err
	}
	s.sources = []*source{src}
	return s.start(ctx)
}

// Discover returns a Set for the keys of one OpenID Connect issuer: it
// reads the issuer's discovery document (issuer +
// "/.well-known/openid-configuration"), checks that the document names the
// same issuer, and uses the key set its "jwks_uri" names. Tokens whose
// "iss" is not issuer are refused. It is NewIssuers with one issuer.
func Discover(ctx context.Context, issuer string, opts ...Option) (*Set, error) {
	return NewIssuers(ctx, []Issuer{{Issuer: issuer}}, opts...)
}

// NewIssuers returns a Set for the keys of several issuers: each token is
// verified with the key set of the issuer its "iss" names, and a token of
// an issuer not in the list is refused before any fetch. Unless
// WithBackgroundStart is given, it fetches every key set before returning,
// in parallel, bounded by ctx and WithFetchTimeout, and fails if any fetch
// fails. ctx bounds only those first fetches; the Set runs until Close.
func NewIssuers(ctx context.Context, issuers []Issuer, opts ...Option) (*Set, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if len(issuers) == 0 {
		return nil, errors.New("jwks: no issuer")
	}
	s := newSet(cfg)
	s.byIssuer = make(map[string]*source, len(issuers))
	names := make([]string, 0, len(issuers))
	for _, is := range issuers {
		if is.Issuer == "" {
			return nil, errors.New("jwks: empty issuer")
		}
		if s.byIssuer[is.Issuer] != nil {
			return nil, fmt.Errorf("jwks: issuer %q given twice", is.Issuer)
		}
		if is.JWKSURL == "" {
			if _, err := parseURL("issuer", is.Issuer, cfg.insecureHTTP); err != nil {
				return nil, err
			}
		} else if _, err := parseURL("key set", is.JWKSURL, cfg.insecureHTTP); err != nil {
			return nil, fmt.Errorf("%w (issuer %q)", err, is.Issuer)
		}
		src, err := newSource(s, is.Issuer, is.JWKSURL)
		if err != nil {
			return nil, err
		}
		s.sources = append(s.sources, src)
		s.byIssuer[is.Issuer] = src
		names = append(names, is.Issuer)
	}
	// core.WithIssuer's wording, so that a client gets the same answer
	// whichever check refuses the token first.
	s.issMsg = "jwt issuer invalid. expected: " + strings.Join(names, ",")
	return s.start(ctx)
}

func newSet(cfg *config) *Set {
	s := &Set{cfg: cfg}
	s.client, s.own = newClient(cfg)
	return s
}

// start makes the first fetches, or starts them in the background, and arms
// the refresh timers.
func (s *Set) start(ctx context.Context) (*Set, error) {
	if !s.cfg.background {
		fctx, cancel := context.WithTimeout(ctx, s.cfg.fetchTimeout)
		errs := make([]error, len(s.sources))
		var wg sync.WaitGroup
		for i, src := range s.sources {
			wg.Go(func() { errs[i] = src.fetch(fctx) })
		}
		wg.Wait()
		cancel()
		err := errors.Join(errs...)
		if len(errs) == 1 {
			err = errs[0]
		}
		if err != nil {
			if s.own != nil {
				s.own.CloseIdleConnections()
			}
			return nil, err
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, src := range s.sources {
		src.mu.Lock()
		src.timer = s.cfg.clock.AfterFunc(s.cfg.refresh, src.tick)
		if s.cfg.background {
			src.startFetchLocked() // re-arms the timer when it ends
		}
		src.mu.Unlock()
	}
	return s, nil
}

// maxQuoted bounds the token header values (kid, alg, iss) that an
// error cause quotes: the client chose them, and causes reach logs.
const maxQuoted = 64

// Key returns the public key that verifies the token described by req. It
// makes Set a core.KeySource: pass the Set to core.WithKeySource. Its errors are
// *core.Error values:
//
//   - "invalid_token" / "invalid algorithm": an HMAC or unknown algorithm,
//     or a key that cannot verify the token's algorithm;
//   - "invalid_token" / "jwt issuer invalid. expected: ...": an "iss" the
//     Set does not serve (Discover and NewIssuers only);
//   - "invalid_secret" / "signing key not found": the key set, fetched,
//     has no key for the token;
//   - "keyset_unavailable" / "signing keys unavailable, retry later": the
//     key is not cached and the key set cannot be fetched now.
func (s *Set) Key(ctx context.Context, req *core.KeyRequest) (any, error) {
	alg := req.Alg()
	if !supported(alg) {
		return nil, core.NewError(core.CodeInvalidToken, msgAlgorithm,
			fmt.Errorf("jwks: a key set cannot verify alg %q", logs.Clip(alg, maxQuoted)))
	}
	src := s.sources[0]
	if s.byIssuer != nil {
		iss := req.Issuer()
		if src = s.byIssuer[iss]; src == nil {
			return nil, core.NewError(core.CodeInvalidToken, s.issMsg,
				fmt.Errorf("jwks: no key set for issuer %q", logs.Clip(iss, maxQuoted)))
		}
	}
	if kid, ok := req.Header["kid"]; ok {
		if _, ok := kid.(string); !ok {
			return nil, core.NewError(core.CodeInvalidSecret, msgNotFound,
				fmt.Errorf("jwks: kid of type %T", kid))
		}
	}
	if k, m := lookup(ctx, src.kf, req.Header, alg); m != notFound {
		return answer(k, m, req)
	}
	var st *state
	// At most twice: a background fetch joined may have started before
	// the key was published; then one refetch of its own.
	for try, again := 0, true; try < 2 && again; try++ {
		var err error
		st, again, err = src.refetch(ctx)
		if err != nil {
			return nil, core.NewError(core.CodeKeySetUnavailable, msgUnavailable,
				fmt.Errorf("jwks: waiting for the key set: %w", err))
		}
		if k, m := lookup(ctx, src.kf, req.Header, alg); m != notFound {
			return answer(k, m, req)
		}
	}
	if st.err != nil {
		return nil, core.NewError(core.CodeKeySetUnavailable, msgUnavailable, st.err)
	}
	return nil, core.NewError(core.CodeInvalidSecret, msgNotFound,
		fmt.Errorf("jwks: no key for kid %q and alg %q", logs.Clip(req.KeyID(), maxQuoted), alg))
}

func answer(k any, m match, req *core.KeyRequest) (any, error) {
	if m == mismatch {
		return nil, core.NewError(core.CodeInvalidToken, msgAlgorithm,
			fmt.Errorf("jwks: key %q is not for alg %q", logs.Clip(req.KeyID(), maxQuoted), logs.Clip(req.Alg(), maxQuoted)))
	}
	return k, nil
}

// Refresh fetches every key set now, whatever the cooldown, or waits for
// the fetches in progress, and returns their errors. It does not delay the
// next refetch for an unknown kid. A key set whose fetch
// fails keeps its previous keys. Use it after learning that an issuer
// rotated its keys, or as a readiness check.
func (s *Set) Refresh(ctx context.Context) error {
	dones := make([]chan struct{}, len(s.sources))
	for i, src := range s.sources {
		if dones[i] = src.join(); dones[i] == nil {
			return errClosed
		}
	}
	errs := make([]error, len(s.sources))
	for i, done := range dones {
		select {
		case <-done:
			errs[i] = s.sources[i].state.Load().err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// Close stops the background fetches, abandons the fetches in progress and
// waits for their goroutines to end, then closes the idle connections of
// the Set's own HTTP client. Key keeps answering from the keys already
// cached, without fetching. Close always returns nil; calling it again
// does nothing.
func (s *Set) Close() error {
	for _, src := range s.sources {
		src.stop()
	}
	s.cancel()
	s.wg.Wait()
	if s.own != nil {
		s.own.CloseIdleConnections()
	}
	return nil
}
