package siojwt

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func prefixes(t testing.TB, ps ...string) []netip.Prefix {
	t.Helper()
	nets, err := parseProxies(ps)
	if err != nil {
		t.Fatal(err)
	}
	return nets
}

func TestTrusted(t *testing.T) {
	nets := prefixes(t, "10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "fe80::2/128")
	tests := []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", true},
		{"10.1.2.3:4567", true},
		{"11.0.0.1", false},
		{"192.0.2.7", true},
		{"192.0.2.8", false},
		{"[2001:db8::1]:443", true},
		{"2001:db8::1", true},
		{"2001:db9::1", false},
		{"::ffff:10.0.0.1", true}, // IPv4-mapped IPv6 is the IPv4 address
		{"[::ffff:10.0.0.1]:80", true},
		{"", false},
		{"unknown", false},
		{"10.0.0.1:", true},
		{"fe80::1%eth0", false},
		{"[fe80::2%eth0]:443", true}, // a proxy on a link-local address names its zone
		{"10.0.0.300", false},
		{" 10.0.0.1", false}, // the caller trims
	}
	for _, tt := range tests {
		if got := trusted(tt.addr, nets); got != tt.want {
			t.Errorf("trusted(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if trusted("10.0.0.1", nil) {
		t.Error("an empty list trusts nothing")
	}
}

func TestForwardedFor(t *testing.T) {
	nets := prefixes(t, "10.0.0.0/8")
	tests := []struct {
		name string
		peer string
		xff  []string // X-Forwarded-For header lines
		want string
	}{
		{"untrusted peer: header ignored", "203.0.113.9:1234", []string{"198.51.100.1"}, "203.0.113.9:1234"},
		{"trusted peer, no header", "10.0.0.2:1234", nil, "10.0.0.2:1234"},
		{"trusted peer, one hop", "10.0.0.2:1234", []string{"198.51.100.1"}, "198.51.100.1"},
		{"rightmost untrusted wins over a spoofed left", "10.0.0.2:1", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"trusted hops skipped from the right", "10.0.0.2:1", []string{"198.51.100.1, 10.0.0.5, 10.9.9.9"}, "198.51.100.1"},
		{"all hops trusted: the peer", "10.0.0.2:1", []string{"10.0.0.5, 10.0.0.6"}, "10.0.0.2:1"},
		{"several header lines are one list", "10.0.0.2:1", []string{"1.1.1.1", "198.51.100.1, 10.0.0.5"}, "198.51.100.1"},
		{"empty elements and spaces", "10.0.0.2:1", []string{" , 198.51.100.1 ,, "}, "198.51.100.1"},
		{"garbage hop is untrusted and returned", "10.0.0.2:1", []string{"198.51.100.1, not-an-ip"}, "not-an-ip"},
		{"hop with port", "10.0.0.2:1", []string{"198.51.100.1:5555"}, "198.51.100.1:5555"},
		{"IPv6 hop", "10.0.0.2:1", []string{"2001:db8::1"}, "2001:db8::1"},
		{"only empty elements", "10.0.0.2:1", []string{" , ,"}, "10.0.0.2:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{Header: http.Header{}}
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			// Forwarded (RFC 7239) is not read: it must not change anything.
			r.Header.Set("Forwarded", "for=192.0.2.60")
			if got := forwardedFor(r, tt.peer, nets); got != tt.want {
				t.Errorf("forwardedFor = %q, want %q", got, tt.want)
			}
		})
	}
	if got := forwardedFor(nil, "10.0.0.2:1", nets); got != "10.0.0.2:1" {
		t.Errorf("no request: %q, want the peer", got)
	}
}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1:80":   "10.0.0.1",
		"10.0.0.1":      "10.0.0.1",
		"[::1]:443":     "::1",
		"::1":           "::1",
		"":              "",
		"not an addr":   "not an addr",
		"host.test:123": "host.test",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWithTrustedProxiesRefuses(t *testing.T) {
	for _, ps := range [][]string{nil, {"not-an-ip"}, {"10.0.0.0/33"}, {"10.0.0.1", "bad/8"}} {
		if err := WithTrustedProxies(ps...)(&Auth{}); err == nil {
			t.Errorf("WithTrustedProxies(%q) accepted", ps)
		}
	}
}

// FuzzForwardedFor: whatever the proxy headers hold, the address is the
// peer or one untrusted X-Forwarded-For element, taken from the right of
// the trusted ones; Forwarded is never read; nothing panics.
func FuzzForwardedFor(f *testing.F) {
	f.Add("10.0.0.2:1", "198.51.100.1, 10.0.0.5", "", "for=192.0.2.60")
	f.Add("203.0.113.9:1", "1.1.1.1", "2.2.2.2", "")
	f.Add("10.0.0.2:1", " , ,", "10.1.1.1", "for=\"[2001:db8::1]:4711\"")
	f.Add("[::ffff:10.0.0.1]:80", "::ffff:10.2.2.2,garbage", "", "for=unknown;proto=https")
	f.Add("10.0.0.2:1", "\x00,\xff\xfe", "2001:db8::1%eth0", "for=10.0.0.1, for=1.2.3.4")
	nets := prefixes(f, "10.0.0.0/8", "2001:db8::/32")
	f.Fuzz(func(t *testing.T, peer, xff1, xff2, forwarded string) {
		r := &http.Request{Header: http.Header{}}
		r.Header.Add("X-Forwarded-For", xff1)
		r.Header.Add("X-Forwarded-For", xff2)
		got := forwardedFor(r, peer, nets)
		r.Header.Set("Forwarded", forwarded)
		if again := forwardedFor(r, peer, nets); again != got {
			t.Fatalf("Forwarded changed the address: %q then %q", got, again)
		}
		if !trusted(peer, nets) {
			if got != peer {
				t.Fatalf("untrusted peer %q: got %q", peer, got)
			}
			return
		}
		if got == peer {
			return
		}
		var hops []string
		for _, h := range []string{xff1, xff2} {
			for _, p := range strings.Split(h, ",") {
				if p = strings.TrimSpace(p); p != "" {
					hops = append(hops, p)
				}
			}
		}
		i := slices.Index(hops, got)
		if i < 0 {
			t.Fatalf("%q is neither the peer nor a hop of %q", got, hops)
		}
		if trusted(got, nets) {
			t.Fatalf("returned a trusted hop %q", got)
		}
		// Every hop to the right of the last occurrence is trusted.
		last := len(hops) - 1 - slices.Index(reversed(hops), got)
		for _, h := range hops[last+1:] {
			if !trusted(h, nets) {
				t.Fatalf("skipped the untrusted hop %q right of %q", h, got)
			}
		}
	})
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func TestParseProxies(t *testing.T) {
	nets, err := parseProxies([]string{"10.1.2.3/8", "192.0.2.7", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::1/128")}
	if !slices.Equal(nets, want) {
		t.Fatalf("got %v, want %v (masked, single addresses as full-length prefixes)", nets, want)
	}
}

// TestCanonicalAndLimitKey: one client is one address whatever the form a
// proxy wrote, and the limits count an IPv6 client by its /64 (a host that
// may take any address of its /64 had no cap at all).
func TestCanonicalAndLimitKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":            "192.0.2.1",
		"::ffff:192.0.2.1":     "192.0.2.1",
		"2001:DB8::1":          "2001:db8::1",
		"[2001:db8::1]":        "2001:db8::1",
		"2001:db8:0:0:0:0:0:1": "2001:db8::1",
		"unknown":              "unknown",
		"":                     "",
	} {
		if got := canonical(in); got != want {
			t.Errorf("canonical(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"192.0.2.1":            "192.0.2.1",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::9": "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
		"unknown":              "unknown",
	} {
		if got := limitKey(in); got != want {
			t.Errorf("limitKey(%q) = %q, want %q", in, got, want)
		}
	}
	if testing.AllocsPerRun(100, func() { _ = canonical("192.0.2.1") }) != 0 {
		t.Error("canonical allocates for an IPv4 address")
	}
	a := &Auth{pendingPerAddr: 2}
	for _, addr := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		if e := a.countPending(addr); e != nil {
			t.Fatal(e)
		}
	}
	if e := a.countPending("2001:db8:1:2::3"); e == nil {
		t.Fatal("a third address of the same /64 was not capped")
	}
	if e := a.countPending("2001:db8:1:3::1"); e != nil {
		t.Fatalf("another /64 capped: %v", e)
	}
}
