package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// errTooLarge is the read error of an answer over the size limit.
var errTooLarge = errors.New("answer over the size limit")

// guard is the transport of the Set's HTTP client. It adds what jwkset's
// fetch lacks: a bound on the size of an answer (jwkset decodes the body
// without one) and the https rule (http to loopback hosts only, unless
// WithInsecureHTTP), checked on every request, redirects included.
type guard struct {
	base     http.RoundTripper
	max      int64
	insecure bool
}

// RoundTrip implements http.RoundTripper.
func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkScheme(req.URL, g.insecure); err != nil {
		return nil, err
	}
	resp, err := g.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > g.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: Content-Length %d, limit %d", errTooLarge, resp.ContentLength, g.max)
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: g.max}
	return resp, nil
}

// limitedBody fails the read that goes past the limit, rather than
// truncating the body as io.LimitReader would.
type limitedBody struct {
	io.ReadCloser
	left int64 // bytes still allowed; negative once over
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) > b.left {
		b.left = -1
		return 0, errTooLarge
	}
	b.left -= int64(n)
	return n, err
}

// newClient returns the client of a Set, and the transport it owns (nil
// when the client is the caller's).
func newClient(c *config) (*http.Client, *http.Transport) {
	var client http.Client
	var own *http.Transport
	if c.client != nil {
		client = *c.client
	} else {
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			own = t.Clone()
		} else {
			own = &http.Transport{Proxy: http.ProxyFromEnvironment}
		}
		client = http.Client{Transport: own, Timeout: c.fetchTimeout}
	}
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	client.Transport = &guard{base: base, max: c.maxSize, insecure: c.insecureHTTP}
	return &client, own
}

// checkScheme refuses any URL but https, or http to a loopback host, or
// http to any host with WithInsecureHTTP.
func checkScheme(u *url.URL, insecure bool) error {
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (insecure || loopback(u.Hostname())):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("jwks: %q is not https (http is allowed to loopback hosts only; WithInsecureHTTP allows it to others)", u.Redacted())
	}
	return fmt.Errorf("jwks: %q: scheme %q is not https", u.Redacted(), u.Scheme)
}

// loopback reports whether host, as url.URL.Hostname returns it, names the
// machine itself: "localhost", or a loopback address (127.0.0.0/8, ::1,
// IPv4-mapped ones included). Traffic to it never leaves the host, so
// nobody off the host can alter it in transit.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// parseURL parses a configured URL: absolute, with a host, https.
func parseURL(what, raw string, insecure bool) (*url.URL, error) {
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
	if err := checkScheme(u, insecure); err != nil {
		return nil, fmt.Errorf("jwks: %s URL: %w", what, err)
	}
	return u, nil
}

// discover reads an issuer's OpenID Connect discovery document and returns
// the key set URL it names. Neither jwkset nor keyfunc does discovery.
//
// The document must name the issuer exactly as configured (OpenID Connect
// Discovery 1.0, section 4.3): tokens carry that value in "iss", and the
// Set chooses their key set by it, so a mismatch (a trailing slash, say)
// is better caught here, at start-up, than on every token.
func discover(ctx context.Context, client *http.Client, issuer string, insecure bool) (string, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("jwks: discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("jwks: discovery: %w", err) // names the URL
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("jwks: discovery: GET %s: %s", req.URL.Redacted(), resp.Status)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return "", fmt.Errorf("jwks: discovery document from %s: %w", req.URL.Redacted(), err)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("jwks: discovery document from %s names issuer %q, not %q", req.URL.Redacted(), doc.Issuer, issuer)
	}
	if _, err := parseURL("jwks_uri", doc.JWKSURI, insecure); err != nil {
		return "", fmt.Errorf("%w (from %s)", err, req.URL.Redacted())
	}
	return doc.JWKSURI, nil
}
