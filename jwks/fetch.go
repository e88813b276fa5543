package jwks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// checkURL parses a configured URL and refuses any but https (or http with
// WithInsecureHTTP).
func (s *Set) checkURL(what, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("jwks: empty %s URL", what)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("jwks: %s URL: %w", what, err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("jwks: %s URL %q has no host", what, u.Redacted())
	}
	if err := s.checkScheme(u); err != nil {
		return nil, fmt.Errorf("jwks: %s URL: %w", what, err)
	}
	return u, nil
}

func (s *Set) checkScheme(u *url.URL) error {
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && s.insecureHTTP:
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("%q is not https (WithInsecureHTTP allows http for development)", u.Redacted())
	}
	return fmt.Errorf("%q: scheme %q is not https", u.Redacted(), u.Scheme)
}

// fetch fetches the key set once, discovering its URL first if needed, and
// records the outcome. Fetches never overlap: New makes the first one before
// any other can start, and the others run one at a time (Set.inflight).
func (s *Set) fetch(ctx context.Context) error {
	prev := s.state.Load()
	next := &state{keys: prev.keys, at: s.clock.Now()}
	err := s.load(ctx, next)
	next.err = err
	s.state.Store(next)
	if err != nil {
		s.logger.Warn("jwks: fetching the key set failed; cached keys stay in use", "err", err)
	} else {
		s.logger.Debug("jwks: key set fetched", "url", s.jwksURL.Redacted(), "keys", len(next.keys))
	}
	s.report(err)
	return err
}

// load discovers the key set's URL if needed, then fetches and parses the
// set into st.
func (s *Set) load(ctx context.Context, st *state) error {
	if s.jwksURL == nil {
		u, err := s.discover(ctx)
		if err != nil {
			return err
		}
		s.jwksURL = u
	}
	body, err := s.get(ctx, s.jwksURL)
	if err != nil {
		return err
	}
	keys, skips, err := parseSet(body)
	for _, sk := range skips {
		if sk.private {
			s.logger.Error("jwks: key set publishes private key material; key left out", "kid", sk.kid, "url", s.jwksURL.Redacted())
		} else {
			s.logger.Debug("jwks: key left out", "kid", sk.kid, "reason", sk.reason)
		}
	}
	if err != nil {
		return fmt.Errorf("%w (from %s)", err, s.jwksURL.Redacted())
	}
	st.keys = keys
	return nil
}

// report calls the fetch callback, which must not bring the server down.
func (s *Set) report(err error) {
	if s.onFetch == nil {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("jwks: fetch callback panicked", "panic", p)
		}
	}()
	s.onFetch(err)
}

// discover reads the issuer's OpenID Connect discovery document and returns
// the key set URL it names.
func (s *Set) discover(ctx context.Context) (*url.URL, error) {
	base := strings.TrimSuffix(s.issuer, "/")
	u, err := url.Parse(base + "/.well-known/openid-configuration")
	if err != nil {
		return nil, fmt.Errorf("jwks: discovery URL: %w", err)
	}
	body, err := s.get(ctx, u)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("jwks: discovery document from %s: %w", u.Redacted(), err)
	}
	if strings.TrimSuffix(doc.Issuer, "/") != base {
		return nil, fmt.Errorf("jwks: discovery document from %s names issuer %q, not %q", u.Redacted(), doc.Issuer, s.issuer)
	}
	ju, err := s.checkURL("jwks_uri", doc.JWKSURI)
	if err != nil {
		return nil, fmt.Errorf("%w (from %s)", err, u.Redacted())
	}
	return ju, nil
}

// get fetches a document of at most maxBody bytes with status 200.
func (s *Set) get(ctx context.Context, u *url.URL) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: GET %s: %w", u.Redacted(), err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		// The client's error names the URL already.
		return nil, fmt.Errorf("jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.Request != nil && resp.Request.URL != nil {
		if err := s.checkScheme(resp.Request.URL); err != nil {
			return nil, fmt.Errorf("jwks: GET %s redirected: %w", u.Redacted(), err)
		}
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // lets the connection be reused
		return nil, fmt.Errorf("jwks: GET %s: %s", u.Redacted(), resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("jwks: GET %s: %w", u.Redacted(), err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("jwks: GET %s: document over %d bytes", u.Redacted(), maxBody)
	}
	return body, nil
}
