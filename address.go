package siojwt

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/zishang520/socket.io/servers/socket/v3"
)

// WithTrustedProxies takes the client address from the last
// X-Forwarded-For hop added by one of the given proxies (CIDR prefixes or
// addresses). Without it the address is the TCP peer: X-Forwarded-For is
// never trusted blindly.
func WithTrustedProxies(proxies ...string) Option {
	return func(a *Auth) error {
		nets, err := parseProxies(proxies)
		if err != nil {
			return err
		}
		a.proxies = nets
		a.remoteAddr = func(r *http.Request, peer string) string { return forwardedFor(r, peer, nets) }
		return nil
	}
}

// parseProxies reads CIDR prefixes or single addresses; it refuses an
// empty list.
func parseProxies(proxies []string) ([]netip.Prefix, error) {
	var nets []netip.Prefix
	for _, p := range proxies {
		if !strings.Contains(p, "/") {
			addr, err := netip.ParseAddr(p)
			if err != nil {
				return nil, err
			}
			p = netip.PrefixFrom(addr, addr.BitLen()).String()
		}
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, err
		}
		nets = append(nets, pfx.Masked())
	}
	if len(nets) == 0 {
		return nil, errors.New("siojwt: no trusted proxies")
	}
	return nets, nil
}

// addrOf is the client address of s: the one the limits count and the
// events report.
func (a *Auth) addrOf(s *socket.Socket) string {
	var req *http.Request
	if ctx := s.Request(); ctx != nil {
		req = ctx.Request()
	}
	peer := s.Handshake().Address
	if req != nil && !trusted(peer, a.proxies) && (req.Header.Get("X-Forwarded-For") != "" || req.Header.Get("Forwarded") != "") {
		a.undeclared.Do(func() {
			if a.log != nil {
				a.log.Warn("siojwt: a request carries X-Forwarded-For or Forwarded from a peer that is not a trusted proxy: "+
					"if it is your proxy, every client behind it shares its address for the failure limit and the pending cap; "+
					"declare it with WithTrustedProxies (logged once)", "peer", hostOnly(peer))
			}
		})
	}
	return canonical(hostOnly(a.remoteAddr(req, peer)))
}

// canonical spells an IP address as netip does (an IPv4-mapped IPv6
// address as IPv4, IPv6 in lower case, without brackets), so that one
// client is one address whatever the form a proxy wrote; anything else is
// returned as it is.
func canonical(addr string) string {
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"))
	if err != nil {
		return addr
	}
	if ip.Is4() && addr[0] != '[' {
		return addr // already canonical: no allocation on the usual path
	}
	return ip.Unmap().String()
}

// limitKey is what the failure limit and the pending cap count a client
// address under: an IPv4 address alone, an IPv6 address by its /64. A host
// is commonly given a whole /64, and could otherwise use a new address for
// every attempt.
func limitKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Is4() {
		return addr
	}
	p, err := ip.WithZone("").Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

func directAddr(_ *http.Request, addr string) string { return addr }

// hostOnly drops the port: limits and audit logs are per client IP.
func hostOnly(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

func trusted(addr string, nets []netip.Prefix) bool {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	ip = ip.Unmap().WithZone("") // a zoned address (fe80::1%eth0) is never in a prefix
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// forwardedFor walks X-Forwarded-For from the right while the hops are
// trusted proxies, and returns the first untrusted one.
func forwardedFor(r *http.Request, peer string, nets []netip.Prefix) string {
	if r == nil || !trusted(peer, nets) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		for _, p := range strings.Split(h, ",") {
			if p = strings.TrimSpace(p); p != "" {
				hops = append(hops, p)
			}
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		if !trusted(hops[i], nets) {
			return hops[i]
		}
	}
	return peer
}
