package authz

import (
	"errors"
	"fmt"
	"strings"

	"github.com/siojwt/siojwt/core"
)

// Errors reported by extraction, for logs. The grants returned beside them
// leave out what the error names.
var (
	// ErrInvalidClaim: a grants claim had the wrong type or exceeded a bound;
	// it granted nothing.
	ErrInvalidClaim = errors.New("authz: invalid grants claim")
	// ErrTooManyGrants: the claims together held more than MaxGrants grants
	// (or room patterns); the token grants nothing of that kind.
	ErrTooManyGrants = errors.New("authz: too many grants")
	// ErrNoClaims: the claims could not be read as a JSON object.
	ErrNoClaims = errors.New("authz: claims unreadable")
	// ErrPanic: a function of the configuration (WithGrantsFunc,
	// WithRoomsFunc, Func, RoomsFunc) panicked. What it was asked counts as
	// not granted: extraction leaves out that function's names, a check
	// refuses (the *Refusal wraps ErrPanic, with the panic's value).
	ErrPanic = errors.New("authz: function panicked")
)

// Format says which JSON shapes a claim may hold.
type Format uint8

const (
	// SpaceSeparated is a string of names separated by spaces, as OAuth's
	// "scope" (RFC 6749 §3.3).
	SpaceSeparated Format = iota + 1
	// StringList is a JSON array of strings, as "roles" or "permissions".
	StringList
	// SpaceSeparatedOrList accepts either, as "scp" (a string at Okta, a
	// list at some Azure endpoints).
	SpaceSeparatedOrList
)

// claimSource is one claim read for grants: its path in the claims object.
type claimSource struct {
	path   []string
	format Format
}

func (s claimSource) name() string { return strings.Join(s.path, ".") }

// defaultSources are the claims read by default, in this order.
var defaultSources = []claimSource{
	{[]string{"scope"}, SpaceSeparated},
	{[]string{"scp"}, SpaceSeparatedOrList},
	{[]string{"permissions"}, StringList},
	{[]string{"roles"}, StringList},
	{[]string{"realm_access", "roles"}, StringList},
}

// DefaultRoomsClaim is the claim read for room grants by default.
const DefaultRoomsClaim = "rooms"

// Extractor reads Grants from a token's claims. The zero value is not
// usable: build one with NewExtractor. An Extractor is immutable and safe for
// concurrent use.
type Extractor struct {
	sources   []claimSource
	grantsFns []func(claims map[string]any) []string
	rooms     []string // path of the room claim; nil when none
	roomsFns  []func(claims map[string]any) []string
	noDefault bool
}

// Option configures an Extractor.
type Option func(*Extractor) error

// NewExtractor returns an Extractor. Without options it reads the grants of
// "scope", "scp", "permissions", "roles" and "realm_access.roles", and room
// grants from "rooms".
func NewExtractor(opts ...Option) (*Extractor, error) {
	e := &Extractor{rooms: []string{DefaultRoomsClaim}}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("authz: nil option")
		}
		if err := o(e); err != nil {
			return nil, err
		}
	}
	if !e.noDefault {
		e.sources = append(append([]claimSource(nil), defaultSources...), e.sources...)
	}
	if len(e.sources) == 0 && len(e.grantsFns) == 0 && e.rooms == nil && len(e.roomsFns) == 0 {
		return nil, errors.New("authz: the extractor reads no claim")
	}
	return e, nil
}

// splitPath splits a dotted claim path and refuses empty segments.
func splitPath(path string) ([]string, error) {
	if path == "" {
		return nil, errors.New("authz: empty claim path")
	}
	segs := strings.Split(path, ".")
	for _, s := range segs {
		if s == "" {
			return nil, fmt.Errorf("authz: claim path %q has an empty segment", path)
		}
	}
	return segs, nil
}

// WithClaim also reads grants from the claim at path, a dotted path into
// nested objects ("app.grants" reads {"app": {"grants": …}}), in the given
// format.
func WithClaim(path string, format Format) Option {
	return func(e *Extractor) error {
		segs, err := splitPath(path)
		if err != nil {
			return err
		}
		return e.addSource(segs, format)
	}
}

// WithClaimPath is WithClaim for a path whose keys contain dots: each key is
// one element.
func WithClaimPath(format Format, keys ...string) Option {
	return func(e *Extractor) error {
		if len(keys) == 0 || keys[0] == "" {
			return errors.New("authz: empty claim path")
		}
		for _, k := range keys {
			if k == "" {
				return errors.New("authz: claim path with an empty key")
			}
		}
		return e.addSource(append([]string(nil), keys...), format)
	}
}

func (e *Extractor) addSource(path []string, format Format) error {
	if format < SpaceSeparated || format > SpaceSeparatedOrList {
		return fmt.Errorf("authz: claim %q: unknown format %d", strings.Join(path, "."), format)
	}
	e.sources = append(e.sources, claimSource{path, format})
	return nil
}

// WithKeycloakClient also reads Keycloak's client roles for clientID,
// "resource_access.<clientID>.roles". It is not read by default: a token's
// roles for another client are not grants for this server. Use the client ID
// of this server (the API's client), not the browser application's.
func WithKeycloakClient(clientID string) Option {
	return func(e *Extractor) error {
		if clientID == "" {
			return errors.New("authz: empty Keycloak client ID")
		}
		return e.addSource([]string{"resource_access", clientID, "roles"}, StringList)
	}
}

// WithoutDefaultClaims reads only the claims given by the other options, not
// "scope", "scp", "permissions", "roles" and "realm_access.roles".
func WithoutDefaultClaims() Option {
	return func(e *Extractor) error {
		e.noDefault = true
		return nil
	}
}

// WithGrantsFunc also takes grants from fn, for claims no path and format
// describe. fn gets the claims object (do not modify it); its result is held
// to the same bounds as a claim. Given more than once, every function is
// asked, in order. A function that panics grants nothing (ErrPanic).
func WithGrantsFunc(fn func(claims map[string]any) []string) Option {
	return func(e *Extractor) error {
		if fn == nil {
			return errors.New("authz: nil grants function")
		}
		e.grantsFns = append(e.grantsFns, fn)
		return nil
	}
}

// WithRoomsClaim reads room grants from the claim at the dotted path instead
// of "rooms": a list of room names and patterns with a trailing "*". An empty
// path reads no room claim.
func WithRoomsClaim(path string) Option {
	return func(e *Extractor) error {
		if path == "" {
			e.rooms = nil
			return nil
		}
		segs, err := splitPath(path)
		if err != nil {
			return err
		}
		e.rooms = segs
		return nil
	}
}

// WithRoomsFunc also takes room names and patterns from fn; its result is
// held to the same bounds as a claim. Given more than once, every function
// is asked, in order. A function that panics grants no room (ErrPanic).
func WithRoomsFunc(fn func(claims map[string]any) []string) Option {
	return func(e *Extractor) error {
		if fn == nil {
			return errors.New("authz: nil rooms function")
		}
		e.roomsFns = append(e.roomsFns, fn)
		return nil
	}
}

// FromClaims extracts the grants of verified claims. The returned Grants
// keep c (Grants.Claims). A non-nil error says what was ignored; the Grants
// are still the ones to use.
func (e *Extractor) FromClaims(c *core.Claims) (Grants, error) {
	if c == nil {
		return Grants{}, ErrNoClaims
	}
	m, err := c.Map()
	if err != nil {
		return Grants{claims: c}, fmt.Errorf("%w: %v", ErrNoClaims, err)
	}
	g, err := e.fromMap(m)
	g.claims = c
	return g, err
}

// FromMap extracts grants from a claims object as encoding/json decodes it.
// The returned Grants keep the claims as *core.Claims (core.NewClaims) for
// rule functions. A non-nil error says what was ignored; the Grants are
// still the ones to use.
func (e *Extractor) FromMap(m map[string]any) (Grants, error) {
	g, err := e.fromMap(m)
	if c, cerr := core.NewClaims(m); cerr == nil {
		g.claims = c
	} else {
		g.claims = new(core.Claims)
	}
	return g, err
}

func (e *Extractor) fromMap(m map[string]any) (Grants, error) {
	var g Grants
	var errs []error
	set := map[string]struct{}{}
	add := func(names []string, what string) bool {
		for _, n := range names {
			set[n] = struct{}{}
		}
		if len(set) > MaxGrants {
			errs = append(errs, fmt.Errorf("%w: more than %d from %s and the claims before it", ErrTooManyGrants, MaxGrants, what))
			return false
		}
		return true
	}
	ok := true
	for _, s := range e.sources {
		v, found := lookup(m, s.path)
		if !found {
			continue
		}
		names, err := readNames(v, s.format)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %v", ErrInvalidClaim, s.name(), err))
			continue
		}
		if ok = add(names, s.name()); !ok {
			break
		}
	}
	for i, fn := range e.grantsFns {
		if !ok {
			break
		}
		names, err := callNames(fn, m, fnName("grants function", i, len(e.grantsFns)))
		if err != nil {
			errs = append(errs, err)
		} else {
			ok = add(names, "the grants functions")
		}
	}
	if ok && len(set) > 0 {
		g.set = set
	}

	rooms := map[string]struct{}{}
	roomsOK := true
	addRooms := func(names []string, what string) {
		for _, n := range names {
			rooms[n] = struct{}{}
		}
		if len(rooms) > MaxGrants {
			errs = append(errs, fmt.Errorf("%w: more than %d rooms from %s", ErrTooManyGrants, MaxGrants, what))
			roomsOK = false
		}
	}
	if e.rooms != nil {
		if v, found := lookup(m, e.rooms); found {
			name := strings.Join(e.rooms, ".")
			if names, err := readNames(v, StringList); err != nil {
				errs = append(errs, fmt.Errorf("%w: %s: %v", ErrInvalidClaim, name, err))
			} else {
				addRooms(names, name)
			}
		}
	}
	for i, fn := range e.roomsFns {
		if !roomsOK {
			break
		}
		if names, err := callNames(fn, m, fnName("rooms function", i, len(e.roomsFns))); err != nil {
			errs = append(errs, err)
		} else {
			addRooms(names, "the rooms functions")
		}
	}
	if roomsOK && len(rooms) > 0 {
		g.rooms, g.prefixes = splitRooms(rooms)
	}
	return g, errors.Join(errs...)
}

// callNames calls the grants or rooms function named what and checks its
// result: an error wraps ErrInvalidClaim (names over the bounds) or
// ErrPanic.
func callNames(fn func(map[string]any) []string, m map[string]any, what string) (names []string, err error) {
	defer func() {
		if p := recover(); p != nil {
			names, err = nil, fmt.Errorf("%w: %s: %v", ErrPanic, what, p)
		}
	}()
	if names, err = checkNames(fn(m)); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidClaim, what, err)
	}
	return names, nil
}

// fnName names the i-th of n functions given with the same option.
func fnName(what string, i, n int) string {
	if n == 1 {
		return what
	}
	return fmt.Sprintf("%s %d", what, i+1)
}

// lookup follows path through nested objects.
func lookup(m map[string]any, path []string) (any, bool) {
	var v any = m
	for _, k := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// readNames reads a claim value in the given format. null is no grants and
// no error (a provider may send "roles": null).
func readNames(v any, f Format) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		if f == StringList {
			return nil, errors.New("a string where a list was expected")
		}
		return splitSpaced(v)
	case []any:
		if f == SpaceSeparated {
			return nil, errors.New("a list where a string was expected")
		}
		if len(v) > MaxGrants {
			return nil, fmt.Errorf("%d entries, more than %d", len(v), MaxGrants)
		}
		out := make([]string, 0, len(v))
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("an entry of type %s", jsonType(x))
			}
			if len(s) > MaxGrantLen {
				return nil, fmt.Errorf("an entry of %d bytes, more than %d", len(s), MaxGrantLen)
			}
			if s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	default:
		return nil, fmt.Errorf("a value of type %s", jsonType(v))
	}
}

// splitSpaced splits a space-separated string (RFC 6749 §3.3: names
// separated by single spaces; runs of spaces are tolerated).
func splitSpaced(s string) ([]string, error) {
	if len(s) > MaxScopeLen {
		return nil, fmt.Errorf("a string of %d bytes, more than %d", len(s), MaxScopeLen)
	}
	var out []string
	for n := range strings.SplitSeq(s, " ") {
		if n == "" {
			continue
		}
		if len(n) > MaxGrantLen {
			return nil, fmt.Errorf("a name of %d bytes, more than %d", len(n), MaxGrantLen)
		}
		if len(out) == MaxGrants {
			return nil, fmt.Errorf("more than %d names", MaxGrants)
		}
		out = append(out, n)
	}
	return out, nil
}

// checkNames holds a function's result to the bounds of a claim.
func checkNames(names []string) ([]string, error) {
	if len(names) > MaxGrants {
		return nil, fmt.Errorf("%d names, more than %d", len(names), MaxGrants)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if len(n) > MaxGrantLen {
			return nil, fmt.Errorf("a name of %d bytes, more than %d", len(n), MaxGrantLen)
		}
		if n != "" {
			out = append(out, n)
		}
	}
	return out, nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
