package jwks

import (
	"compress/gzip"
	"context"
	"crypto/elliptic"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/clock"
)

// TestFetchFailures: every way a fetch can fail makes New fail with a
// reason that says what went wrong, and reaches the fetch hook.
func TestFetchFailures(t *testing.T) {
	r := newRSA(0, "r")
	set := keySet(t, r.jwk(t, nil))
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(set) }))
	defer plain.Close()
	big := []byte(`{"keys": [], "pad": "` + strings.Repeat("x", DefaultMaxResponseSize) + `"}`)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		opts    []Option
		want    string // in the error text
		is      error  // nil: not checked
	}{
		{name: "500", handler: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", 500) }, want: "500"},
		{name: "404", handler: func(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, nil) }, want: "404"},
		{name: "HTML", handler: func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) }, want: "decode"},
		{name: "over 1 MiB, chunked", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.(http.Flusher).Flush() // no Content-Length
			_, _ = w.Write(big)
		}, is: errTooLarge},
		{name: "over 1 MiB, Content-Length", handler: func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(big) }, is: errTooLarge},
		{name: "over 1 MiB once decompressed", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			z := gzip.NewWriter(w)
			_, _ = z.Write(big)
			_ = z.Close()
		}, is: errTooLarge},
		{name: "over WithMaxResponseSize", handler: func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(set) },
			opts: []Option{WithMaxResponseSize(int64(len(set) - 1))}, is: errTooLarge},
		{name: "no usable key", handler: func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(keySet(t)) }, is: errNoKeys},
		{name: "redirect to http", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://idp.example/keys", http.StatusFound)
		}, want: "is not https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(tt.handler)
			defer srv.Close()
			var rec recorder
			opts := append([]Option{WithHTTPClient(srv.Client()), WithFetchHook(rec.hook)}, tt.opts...)
			_, err := New(context.Background(), srv.URL+"/keys", opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("New: %v, want an error with %q / %v", err, tt.want, tt.is)
			}
			if errs := rec.all(); len(errs) != 1 || errs[0] != err {
				t.Fatalf("hook got %v", errs)
			}
		})
	}
	t.Run("under WithMaxResponseSize", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(set) }))
		defer srv.Close()
		s, err := New(context.Background(), srv.URL, WithHTTPClient(srv.Client()), WithMaxResponseSize(int64(len(set))))
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
	})
	t.Run("http with WithInsecureHTTP", func(t *testing.T) {
		s, err := New(context.Background(), plain.URL+"/keys", WithInsecureHTTP())
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
	})
	// A key server on loopback over plain http (Keycloak during
	// development) needs no option.
	t.Run("http on loopback", func(t *testing.T) {
		s, err := New(context.Background(), plain.URL+"/keys")
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
	})
	t.Run("redirect to http on loopback", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, plain.URL+"/keys", http.StatusFound)
		}))
		defer srv.Close()
		s, err := New(context.Background(), srv.URL+"/keys", WithHTTPClient(srv.Client()))
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
	})
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.NotFoundHandler())
		u := srv.URL
		srv.Close()
		if _, err := New(context.Background(), u+"/keys"); err == nil {
			t.Fatal("New succeeded")
		}
	})
}

// TestCheckScheme: https anywhere; http to loopback hosts, or anywhere with
// WithInsecureHTTP; no other scheme.
func TestCheckScheme(t *testing.T) {
	tests := []struct {
		url             string
		plain, insecure bool // allowed without and with WithInsecureHTTP
	}{
		{url: "https://idp.example/keys", plain: true, insecure: true},
		{url: "http://127.0.0.1:8080/keys", plain: true, insecure: true},
		{url: "http://127.1.2.3/keys", plain: true, insecure: true},
		{url: "http://[::1]:8080/keys", plain: true, insecure: true},
		{url: "http://[::ffff:127.0.0.1]/keys", plain: true, insecure: true},
		{url: "http://localhost:8080/realms/dev", plain: true, insecure: true},
		{url: "http://LocalHost/keys", plain: true, insecure: true},
		{url: "http://idp.example/keys", insecure: true},
		{url: "http://10.0.0.1/keys", insecure: true},
		{url: "http://0.0.0.0/keys", insecure: true},
		{url: "http://[::]/keys", insecure: true},
		{url: "http://[::2]/keys", insecure: true},
		{url: "http://localhost.idp.example/keys", insecure: true},
		{url: "http://127.0.0.1.nip.io/keys", insecure: true},
		{url: "http://app.localhost/keys", insecure: true},
		{url: "ftp://127.0.0.1/keys"},
		{url: "ws://localhost/keys"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkScheme(u, false); (err == nil) != tt.plain {
			t.Errorf("%s: error %v, want allowed %v", tt.url, err, tt.plain)
		}
		if err := checkScheme(u, true); (err == nil) != tt.insecure {
			t.Errorf("%s with WithInsecureHTTP: error %v, want allowed %v", tt.url, err, tt.insecure)
		}
	}
}

// TestHTTPClient: by default a Set has a client of its own with a timeout;
// a client given with WithHTTPClient is used, and not modified.
func TestHTTPClient(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		for _, tt := range []struct {
			opts []Option
			want time.Duration
		}{
			{nil, DefaultFetchTimeout},
			{[]Option{WithFetchTimeout(time.Second)}, time.Second},
		} {
			cfg, err := newConfig(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			c, own := newClient(cfg)
			if c.Timeout != tt.want || own == nil || c.Transport.(*guard).base != own {
				t.Fatalf("client timeout %v, own transport %v; want %v and one", c.Timeout, own, tt.want)
			}
		}
	})
	t.Run("given", func(t *testing.T) {
		k := newRSA(0, "k")
		p := newIDP(t, keySet(t, k.jwk(t, nil)))
		var used atomic.Int32
		base := p.srv.Client().Transport
		given := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			used.Add(1)
			return base.RoundTrip(r)
		})}
		s, err := New(context.Background(), p.url(), WithHTTPClient(given))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if used.Load() != 1 {
			t.Fatalf("the given client made %d requests", used.Load())
		}
		if given.Timeout != 0 || given.Transport == nil || s.own != nil {
			t.Fatal("the given client was modified, or the Set owns a transport")
		}
	})
}

// TestNewValidates: bad URLs, issuers and options fail at start, before
// any fetch.
func TestNewValidates(t *testing.T) {
	const ok = "https://idp.example/keys"
	tests := []struct {
		name    string
		url     string   // for New and Discover; "" skips them
		issuers []Issuer // for NewIssuers; nil skips it
		opts    []Option
	}{
		{name: "empty URL", url: "", issuers: []Issuer{{Issuer: ""}}},
		{name: "no host", url: "https:///keys", issuers: []Issuer{{Issuer: "https:///"}}},
		{name: "relative", url: "/keys", issuers: []Issuer{{Issuer: "idp.example"}}},
		{name: "http", url: "http://idp.example/keys", issuers: []Issuer{{Issuer: "x", JWKSURL: "http://idp.example/keys"}}},
		{name: "ftp", url: "ftp://idp.example/keys", opts: []Option{WithInsecureHTTP()}},
		{name: "bad URL", url: "https://idp.example/%zz"},
		{name: "no issuer", issuers: []Issuer{}},
		{name: "issuer twice", issuers: []Issuer{{Issuer: "a", JWKSURL: ok}, {Issuer: "a", JWKSURL: ok}}},
		{name: "nil option", url: ok, opts: []Option{nil}},
		{name: "nil client", url: ok, opts: []Option{WithHTTPClient(nil)}},
		{name: "zero refresh", url: ok, opts: []Option{WithRefreshInterval(0)}},
		{name: "negative cooldown", url: ok, opts: []Option{WithCooldown(-time.Second)}},
		{name: "zero timeout", url: ok, opts: []Option{WithFetchTimeout(0)}},
		{name: "zero size", url: ok, opts: []Option{WithMaxResponseSize(0)}},
		{name: "nil hook", url: ok, opts: []Option{WithFetchHook(nil)}},
		{name: "nil logger", url: ok, opts: []Option{WithLogger(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fetched atomic.Bool
			client := &http.Client{Transport: roundTripper(func(*http.Request) (*http.Response, error) {
				fetched.Store(true)
				return nil, errors.New("no network in this test")
			})}
			opts := append([]Option{WithHTTPClient(client), WithBackgroundStart()}, tt.opts...)
			if tt.issuers == nil || tt.url != "" {
				if s, err := New(context.Background(), tt.url, opts...); err == nil {
					_ = s.Close()
					t.Fatal("New accepted")
				}
				if s, err := Discover(context.Background(), strings.TrimSuffix(tt.url, "keys"), opts...); err == nil {
					_ = s.Close()
					t.Fatal("Discover accepted")
				}
			}
			if tt.issuers != nil {
				if s, err := NewIssuers(context.Background(), tt.issuers, opts...); err == nil {
					_ = s.Close()
					t.Fatal("NewIssuers accepted")
				}
			}
			if fetched.Load() {
				t.Fatal("fetched before validating")
			}
		})
	}
}

// TestDiscover finds the key set through the issuer's discovery document
// and checks that the document is the issuer's.
func TestDiscover(t *testing.T) {
	k := newRSA(0, "k")
	tests := []struct {
		name   string
		issuer func(p *idp) string
		doc    func(p *idp) map[string]any // nil: the issuer's own
		want   string                      // error text; "" for success
	}{
		{name: "issuer", issuer: (*idp).issuer},
		{name: "issuer with a trailing slash, as Auth0's",
			issuer: func(p *idp) string { return p.issuer() + "/" },
			doc:    func(p *idp) map[string]any { return map[string]any{"issuer": p.issuer() + "/", "jwks_uri": p.url()} }},
		{name: "jwks_uri on another path", issuer: (*idp).issuer,
			doc: func(p *idp) map[string]any { return map[string]any{"issuer": p.issuer(), "jwks_uri": p.url() + "?v=2"} }},
		{name: "document without the trailing slash",
			issuer: func(p *idp) string { return p.issuer() + "/" },
			want:   "names issuer"},
		{name: "another issuer", issuer: (*idp).issuer,
			doc: func(p *idp) map[string]any {
				return map[string]any{"issuer": "https://evil.example", "jwks_uri": p.url()}
			},
			want: `names issuer "https://evil.example"`},
		{name: "http jwks_uri", issuer: (*idp).issuer,
			doc: func(p *idp) map[string]any {
				return map[string]any{"issuer": p.issuer(), "jwks_uri": "http://idp.example/keys"}
			},
			want: "is not https"},
		{name: "no jwks_uri", issuer: (*idp).issuer,
			doc:  func(p *idp) map[string]any { return map[string]any{"issuer": p.issuer()} },
			want: "empty jwks_uri URL"},
		{name: "no document", issuer: func(p *idp) string { return p.issuer() + "/tenant" }, want: "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newIDP(t, keySet(t, k.jwk(t, nil)))
			if tt.doc != nil {
				p.setDiscovery(tt.doc(p))
			}
			iss := tt.issuer(p)
			s, err := Discover(context.Background(), iss, WithHTTPClient(p.srv.Client()))
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Discover: %v, want an error with %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			v := verifier(t, s, core.WithIssuer(iss))
			check(t, v, k.signIss(t, "RS256", iss), "", "")
			// The issuer list is an allow-list.
			check(t, v, k.signIss(t, "RS256", "https://other.example"), core.CodeInvalidToken, "jwt issuer invalid. expected: "+iss)
			if n := p.discovers.Load(); n != 1 {
				t.Fatalf("%d discoveries, want 1", n)
			}
		})
	}
}

// TestDiscoverBackground: with WithBackgroundStart, a failed discovery is
// retried like a failed fetch.
func TestDiscoverBackground(t *testing.T) {
	k := newRSA(0, "k")
	p := newIDP(t, keySet(t, k.jwk(t, nil)))
	p.setDiscovery(map[string]any{"issuer": "https://wrong.example"})
	clk := clock.NewFake(t0)
	s, err := Discover(context.Background(), p.issuer(), WithHTTPClient(p.srv.Client()), withClock(clk), WithBackgroundStart())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v := verifier(t, s)
	settle(t, s)
	// The first token retries at once, and fails the same way.
	check(t, v, k.signIss(t, "RS256", p.issuer()), core.CodeKeySetUnavailable, unavailableMsg)
	p.setDiscovery(nil)
	clk.Advance(DefaultCooldown)
	settle(t, s)
	check(t, v, k.signIss(t, "RS256", p.issuer()), "", "")
	if n := p.discovers.Load(); n != 3 {
		t.Fatalf("%d discoveries, want 3 (the start, the first token, the retry)", n)
	}
}

// TestIssuers: with several issuers, each token's "iss" chooses its key
// set, and a token of another issuer is refused before any fetch.
func TestIssuers(t *testing.T) {
	// Both issuers use the kid "k1", for different keys.
	ka, kb := newRSA(0, "k1"), newEC(t, elliptic.P256(), "k1")
	pa := newIDP(t, keySet(t, ka.jwk(t, nil)))
	pb := newIDP(t, keySet(t, kb.jwk(t, nil)))
	clk := clock.NewFake(t0)
	// pb's client trusts pa's certificate too: each httptest server has
	// its own.
	client := pa.srv.Client()
	client.Transport.(*http.Transport).TLSClientConfig.RootCAs.AddCert(pb.srv.Certificate())
	const issB = "urn:issuer-b" // no discovery: any string
	s, err := NewIssuers(context.Background(), []Issuer{
		{Issuer: pa.issuer()},
		{Issuer: issB, JWKSURL: pb.url()},
	}, WithHTTPClient(client), withClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v := verifier(t, s)
	expected := "jwt issuer invalid. expected: " + pa.issuer() + "," + issB
	clk.Advance(DefaultCooldown) // refetches allowed from here on
	tests := []struct {
		name  string
		token string
		code  string
		msg   string
		hitsA int32
		hitsB int32
	}{
		{name: "issuer A", token: ka.signIss(t, "RS256", pa.issuer()), hitsA: 1, hitsB: 1},
		{name: "issuer B", token: kb.signIss(t, "ES256", issB), hitsA: 1, hitsB: 1},
		{name: "A's key claiming B", token: ka.signIss(t, "RS256", issB), code: core.CodeInvalidToken, msg: algMsg, hitsA: 1, hitsB: 1},
		{name: "unknown kid at B refetches B only", token: kb.signClaims(t, "ES256", "k2", map[string]any{"iss": issB}),
			code: core.CodeInvalidSecret, msg: notFoundMsg, hitsA: 1, hitsB: 2},
		{name: "unlisted issuer", token: ka.signIss(t, "RS256", "https://evil.example"), code: core.CodeInvalidToken, msg: expected, hitsA: 1, hitsB: 2},
		{name: "unlisted issuer, unknown kid", token: ka.signClaims(t, "RS256", "zz", map[string]any{"iss": "https://evil.example"}),
			code: core.CodeInvalidToken, msg: expected, hitsA: 1, hitsB: 2},
		{name: "no issuer", token: ka.signIss(t, "RS256", ""), code: core.CodeInvalidToken, msg: expected, hitsA: 1, hitsB: 2},
		{name: "issuer not a string", token: ka.signClaims(t, "RS256", "k1", map[string]any{"iss": 7}), code: core.CodeInvalidToken, msg: expected, hitsA: 1, hitsB: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, v, tt.token, tt.code, tt.msg)
			if a, b := pa.hits.Load(), pb.hits.Load(); a != tt.hitsA || b != tt.hitsB {
				t.Fatalf("fetches: A %d, B %d; want %d, %d", a, b, tt.hitsA, tt.hitsB)
			}
		})
	}
	// Refresh fetches both.
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a, b := pa.hits.Load(), pb.hits.Load(); a != 2 || b != 3 {
		t.Fatalf("after Refresh: A %d, B %d fetches", a, b)
	}
}

// TestIssuersStart: NewIssuers fails when any key set cannot be fetched,
// unless WithBackgroundStart, and then serves the others.
func TestIssuersStart(t *testing.T) {
	ka, kb := newRSA(0, "a"), newRSA(1, "b")
	pa := newIDP(t, keySet(t, ka.jwk(t, nil)))
	pb := newIDP(t, keySet(t, kb.jwk(t, nil)))
	pb.setStatus(http.StatusBadGateway)
	client := pa.srv.Client()
	client.Transport.(*http.Transport).TLSClientConfig.RootCAs.AddCert(pb.srv.Certificate())
	issuers := []Issuer{{Issuer: "a", JWKSURL: pa.url()}, {Issuer: "b", JWKSURL: pb.url()}}
	if _, err := NewIssuers(context.Background(), issuers, WithHTTPClient(client)); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("NewIssuers: %v, want the failure of b", err)
	}
	s, err := NewIssuers(context.Background(), issuers, WithHTTPClient(client), WithBackgroundStart(), withClock(clock.NewFake(t0)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	settle(t, s)
	v := verifier(t, s)
	check(t, v, ka.signIss(t, "RS256", "a"), "", "")
	check(t, v, kb.signIss(t, "RS256", "b"), core.CodeKeySetUnavailable, unavailableMsg)
	if err := s.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("Refresh: %v", err)
	}
}
