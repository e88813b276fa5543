package authz

import (
	"slices"
	"strings"

	"github.com/siojwt/siojwt/core"
)

// Bounds on what a token may grant. A claim beyond them grants nothing (see
// the package documentation).
const (
	// MaxGrants is the most grants one claim may hold, and the most a token
	// may hold in all; the same bound applies to room names and patterns.
	MaxGrants = 256
	// MaxGrantLen is the longest grant, room name or room pattern, in bytes.
	MaxGrantLen = 256
	// MaxScopeLen is the longest space-separated string read, in bytes.
	MaxScopeLen = 8192
)

// Grants are what a token allows: a set of grant names (scopes, permissions,
// roles) and the rooms it may join. The zero value grants nothing. Grants are
// immutable and safe for concurrent use; copying one is cheap.
type Grants struct {
	set      map[string]struct{}
	rooms    map[string]struct{} // exact room names
	prefixes []string            // room patterns "p*", stored as "p"
	claims   *core.Claims
}

// NewGrants builds Grants from grant names and room names or patterns (a
// trailing "*" matches any suffix), for tests and for applications that
// compute grants themselves. Empty names are skipped; the bounds of
// extraction apply, and input beyond them yields no grants of that kind.
func NewGrants(grants, rooms []string) Grants {
	g := Grants{claims: new(core.Claims)}
	if set, ok := boundedSet(grants); ok {
		g.set = set
	}
	if rs, ok := boundedSet(rooms); ok {
		g.rooms, g.prefixes = splitRooms(rs)
	}
	return g
}

// boundedSet returns names as a set, or false when they exceed the bounds.
func boundedSet(names []string) (map[string]struct{}, bool) {
	var set map[string]struct{}
	for _, n := range names {
		if n == "" {
			continue
		}
		if len(n) > MaxGrantLen {
			return nil, false
		}
		if set == nil {
			set = make(map[string]struct{}, min(len(names), MaxGrants))
		}
		set[n] = struct{}{}
		if len(set) > MaxGrants {
			return nil, false
		}
	}
	return set, true
}

// splitRooms separates exact room names from patterns with a trailing "*".
func splitRooms(rs map[string]struct{}) (map[string]struct{}, []string) {
	var exact map[string]struct{}
	var prefixes []string
	for r := range rs {
		if p, ok := strings.CutSuffix(r, "*"); ok {
			prefixes = append(prefixes, p)
			continue
		}
		if exact == nil {
			exact = make(map[string]struct{}, len(rs))
		}
		exact[r] = struct{}{}
	}
	slices.Sort(prefixes)
	return exact, slices.Compact(prefixes)
}

// Has reports whether g holds the grant name.
func (g Grants) Has(name string) bool {
	_, ok := g.set[name]
	return ok
}

// HasAll reports whether g holds every one of names (true for none).
func (g Grants) HasAll(names ...string) bool {
	for _, n := range names {
		if _, ok := g.set[n]; !ok {
			return false
		}
	}
	return true
}

// HasAny reports whether g holds at least one of names (false for none).
func (g Grants) HasAny(names ...string) bool {
	for _, n := range names {
		if _, ok := g.set[n]; ok {
			return true
		}
	}
	return false
}

// Len returns the number of grant names (rooms not counted).
func (g Grants) Len() int { return len(g.set) }

// List returns the grant names, sorted.
func (g Grants) List() []string {
	out := make([]string, 0, len(g.set))
	for n := range g.set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Rooms returns the room names and patterns granted, sorted, patterns with
// their trailing "*".
func (g Grants) Rooms() []string {
	out := make([]string, 0, len(g.rooms)+len(g.prefixes))
	for r := range g.rooms {
		out = append(out, r)
	}
	for _, p := range g.prefixes {
		out = append(out, p+"*")
	}
	slices.Sort(out)
	return out
}

// AllowsRoom reports whether the room grants match room: a granted name
// equal to it, or a granted pattern "p*" with room beginning with p. Only a
// trailing "*" is a wildcard ("*" alone matches every room); a "*" anywhere
// else is an ordinary character. The empty room is never allowed.
func (g Grants) AllowsRoom(room string) bool {
	if room == "" {
		return false
	}
	if _, ok := g.rooms[room]; ok {
		return true
	}
	for _, p := range g.prefixes {
		if strings.HasPrefix(room, p) {
			return true
		}
	}
	return false
}

// Claims returns the claims the grants were extracted from: empty claims for
// grants from NewGrants, nil for the zero Grants.
func (g Grants) Claims() *core.Claims { return g.claims }

// claimsOrEmpty returns g's claims, or empty ones for the zero Grants.
func (g Grants) claimsOrEmpty() *core.Claims {
	if g.claims == nil {
		return new(core.Claims)
	}
	return g.claims
}

// String lists the grants and rooms, for logs.
func (g Grants) String() string {
	return "grants[" + strings.Join(g.List(), " ") + "] rooms[" + strings.Join(g.Rooms(), " ") + "]"
}
