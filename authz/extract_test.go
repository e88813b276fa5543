package authz_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/siojwt/siojwt/authz"
	"github.com/siojwt/siojwt/core"
)

// claims decodes a payload as a verified token's claims.
func claims(t testing.TB, payload string) *core.Claims {
	t.Helper()
	c := new(core.Claims)
	if err := json.Unmarshal([]byte(payload), c); err != nil {
		t.Fatalf("payload %.80s: %v", payload, err)
	}
	return c
}

func extractor(t testing.TB, opts ...authz.Option) *authz.Extractor {
	t.Helper()
	e, err := authz.NewExtractor(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestExtractDefaults(t *testing.T) {
	long := strings.Repeat("x", authz.MaxGrantLen+1)
	tests := []struct {
		name    string
		payload string
		grants  []string
		rooms   []string
		err     error // nil: no error expected
	}{
		{name: "none", payload: `{"sub":"a"}`},
		{name: "scope", payload: `{"scope":"chat:read chat:write"}`, grants: []string{"chat:read", "chat:write"}},
		{name: "scope runs of spaces", payload: `{"scope":"  a   b "}`, grants: []string{"a", "b"}},
		{name: "scope empty", payload: `{"scope":""}`},
		{name: "scope null", payload: `{"scope":null}`},
		{name: "scp string", payload: `{"scp":"user.read mail.send"}`, grants: []string{"mail.send", "user.read"}},
		{name: "scp list", payload: `{"scp":["user.read","mail.send"]}`, grants: []string{"mail.send", "user.read"}},
		{name: "permissions", payload: `{"permissions":["read:posts","write:posts"]}`, grants: []string{"read:posts", "write:posts"}},
		{name: "roles", payload: `{"roles":["admin"]}`, grants: []string{"admin"}},
		{name: "realm roles", payload: `{"realm_access":{"roles":["admin","offline_access"]}}`, grants: []string{"admin", "offline_access"}},
		{name: "client roles not read by default", payload: `{"resource_access":{"api":{"roles":["admin"]}}}`},
		{name: "union and duplicates", payload: `{"scope":"a b","scp":["b","c"],"permissions":["c","d"],"roles":["e"],"realm_access":{"roles":["a","f"]}}`, grants: []string{"a", "b", "c", "d", "e", "f"}},
		{name: "empty entries skipped", payload: `{"roles":["","a"]}`, grants: []string{"a"}},
		{name: "rooms", payload: `{"rooms":["lobby","team:42:*"]}`, rooms: []string{"lobby", "team:42:*"}},

		{name: "scope number", payload: `{"scope":42,"roles":["a"]}`, grants: []string{"a"}, err: authz.ErrInvalidClaim},
		{name: "scope list", payload: `{"scope":["a"]}`, err: authz.ErrInvalidClaim},
		{name: "scope object", payload: `{"scope":{"a":true}}`, err: authz.ErrInvalidClaim},
		{name: "scope bool", payload: `{"scope":true}`, err: authz.ErrInvalidClaim},
		{name: "roles object", payload: `{"roles":{"admin":true}}`, err: authz.ErrInvalidClaim},
		{name: "roles string", payload: `{"roles":"admin"}`, err: authz.ErrInvalidClaim},
		{name: "roles with a number", payload: `{"roles":["admin",1]}`, err: authz.ErrInvalidClaim},
		{name: "roles with a nested list", payload: `{"roles":[["admin"]]}`, err: authz.ErrInvalidClaim},
		{name: "roles with null", payload: `{"roles":["admin",null]}`, err: authz.ErrInvalidClaim},
		{name: "permissions number", payload: `{"permissions":7}`, err: authz.ErrInvalidClaim},
		{name: "realm_access a list", payload: `{"realm_access":["admin"]}`},
		{name: "realm_access.roles a string", payload: `{"realm_access":{"roles":"admin"}}`, err: authz.ErrInvalidClaim},
		{name: "rooms a string", payload: `{"rooms":"lobby"}`, err: authz.ErrInvalidClaim},
		{name: "rooms object", payload: `{"rooms":{"lobby":1}}`, err: authz.ErrInvalidClaim},

		{name: "10000-entry array", payload: `{"roles":` + jsonList(10000, "r") + `,"scope":"a"}`, grants: []string{"a"}, err: authz.ErrInvalidClaim},
		{name: "array at the bound", payload: `{"roles":` + jsonList(authz.MaxGrants, "r") + `}`, grants: names(authz.MaxGrants, "r")},
		{name: "array one over the bound", payload: `{"roles":` + jsonList(authz.MaxGrants+1, "r") + `}`, err: authz.ErrInvalidClaim},
		{name: "1 MB string", payload: `{"scope":"` + strings.Repeat("a ", 1<<19) + `","roles":["b"]}`, grants: []string{"b"}, err: authz.ErrInvalidClaim},
		{name: "1 MB entry", payload: `{"roles":["` + strings.Repeat("a", 1<<20) + `"]}`, err: authz.ErrInvalidClaim},
		{name: "entry over MaxGrantLen", payload: `{"roles":["` + long + `","b"]}`, err: authz.ErrInvalidClaim},
		{name: "scope name over MaxGrantLen", payload: `{"scope":"a ` + long + `"}`, err: authz.ErrInvalidClaim},
		{name: "scope over MaxGrants names", payload: `{"scope":"` + strings.Join(names(authz.MaxGrants+1, "s"), " ") + `"}`, err: authz.ErrInvalidClaim},
		{name: "union over the bound grants nothing", payload: `{"roles":` + jsonList(authz.MaxGrants, "r") + `,"permissions":["p"]}`, err: authz.ErrTooManyGrants},
		{name: "rooms over the bound", payload: `{"rooms":` + jsonList(authz.MaxGrants+1, "room") + `,"roles":["a"]}`, grants: []string{"a"}, err: authz.ErrInvalidClaim},
	}
	e := extractor(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := e.FromClaims(claims(t, tt.payload))
			if tt.err == nil && err != nil {
				t.Fatalf("error %v", err)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if got := g.List(); !slices.Equal(got, sorted(tt.grants)) {
				t.Errorf("grants %.200q, want %.200q", got, sorted(tt.grants))
			}
			if got := g.Rooms(); !slices.Equal(got, sorted(tt.rooms)) {
				t.Errorf("rooms %q, want %q", got, sorted(tt.rooms))
			}
			// The same from the map, without claims attached.
			var m map[string]any
			if err := json.Unmarshal([]byte(tt.payload), &m); err != nil {
				t.Fatal(err)
			}
			gm, _ := e.FromMap(m)
			if !slices.Equal(gm.List(), g.List()) || !slices.Equal(gm.Rooms(), g.Rooms()) {
				t.Errorf("FromMap %v, FromClaims %v", gm, g)
			}
			if gm.Claims() == nil || g.Claims() == nil {
				t.Errorf("Claims(): FromMap %p, FromClaims %p", gm.Claims(), g.Claims())
			}
		})
	}
}

// The error names the claim and the shape, never the claim's value.
func TestExtractErrorHidesValues(t *testing.T) {
	e := extractor(t)
	_, err := e.FromClaims(claims(t, `{"roles":["ok",{"secret-value":1}],"scope":"`+strings.Repeat("z", 9000)+`"}`))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"roles", "object", "scope", "9000 bytes"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	if strings.Contains(msg, "secret-value") || strings.Contains(msg, "zzz") {
		t.Errorf("error %q repeats a claim value", msg)
	}
}

func TestExtractOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []authz.Option
		payload string
		grants  []string
		rooms   []string
		err     error
	}{
		{name: "keycloak client", opts: []authz.Option{authz.WithKeycloakClient("api")},
			payload: `{"resource_access":{"api":{"roles":["editor"]},"web":{"roles":["admin"]}},"realm_access":{"roles":["user"]}}`,
			grants:  []string{"editor", "user"}},
		{name: "keycloak client with dots", opts: []authz.Option{authz.WithKeycloakClient("api.example.com")},
			payload: `{"resource_access":{"api.example.com":{"roles":["editor"]}}}`, grants: []string{"editor"}},
		{name: "keycloak client roles of the wrong type", opts: []authz.Option{authz.WithKeycloakClient("api")},
			payload: `{"resource_access":{"api":{"roles":"editor"}}}`, err: authz.ErrInvalidClaim},
		{name: "dotted claim", opts: []authz.Option{authz.WithClaim("app.grants", authz.StringList)},
			payload: `{"app":{"grants":["x"]},"scope":"s"}`, grants: []string{"s", "x"}},
		{name: "claim path with dotted keys", opts: []authz.Option{authz.WithClaimPath(authz.SpaceSeparated, "https://example.com/claims", "scope")},
			payload: `{"https://example.com/claims":{"scope":"x y"}}`, grants: []string{"x", "y"}},
		{name: "without defaults", opts: []authz.Option{authz.WithoutDefaultClaims(), authz.WithClaim("groups", authz.StringList)},
			payload: `{"groups":["g"],"roles":["admin"],"scope":"s"}`, grants: []string{"g"}},
		{name: "grants function", opts: []authz.Option{authz.WithGrantsFunc(func(m map[string]any) []string {
			if m["tier"] == "gold" {
				return []string{"chat:write"}
			}
			return nil
		})}, payload: `{"tier":"gold","scope":"chat:read"}`, grants: []string{"chat:read", "chat:write"}},
		{name: "grants function over the bound", opts: []authz.Option{authz.WithGrantsFunc(func(map[string]any) []string {
			return names(authz.MaxGrants+1, "f")
		})}, payload: `{"scope":"a"}`, grants: []string{"a"}, err: authz.ErrInvalidClaim},
		{name: "two grants functions", opts: []authz.Option{
			authz.WithGrantsFunc(func(map[string]any) []string { return []string{"f1"} }),
			authz.WithGrantsFunc(func(map[string]any) []string { return []string{"f2"} }),
		}, payload: `{"scope":"a"}`, grants: []string{"a", "f1", "f2"}},
		{name: "grants function that panics", opts: []authz.Option{
			authz.WithGrantsFunc(func(m map[string]any) []string { return []string{m["tier"].(string)} }),
			authz.WithGrantsFunc(func(map[string]any) []string { return []string{"f2"} }),
		}, payload: `{"scope":"a"}`, grants: []string{"a", "f2"}, err: authz.ErrPanic},
		{name: "two rooms functions, one panics", opts: []authz.Option{
			authz.WithRoomsFunc(func(map[string]any) []string { panic("bug") }),
			authz.WithRoomsFunc(func(map[string]any) []string { return []string{"r2"} }),
		}, payload: `{"rooms":["r"]}`, rooms: []string{"r", "r2"}, err: authz.ErrPanic},
		{name: "rooms claim", opts: []authz.Option{authz.WithRoomsClaim("ext.channels")},
			payload: `{"ext":{"channels":["c1"]},"rooms":["r"]}`, rooms: []string{"c1"}},
		{name: "no rooms claim", opts: []authz.Option{authz.WithRoomsClaim("")},
			payload: `{"rooms":["r"]}`},
		{name: "rooms function", opts: []authz.Option{authz.WithRoomsFunc(func(m map[string]any) []string {
			sub, _ := m["sub"].(string)
			return []string{"user:" + sub}
		})}, payload: `{"sub":"ann","rooms":["lobby"]}`, rooms: []string{"lobby", "user:ann"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := extractor(t, tt.opts...).FromClaims(claims(t, tt.payload))
			if tt.err == nil && err != nil {
				t.Fatalf("error %v", err)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if got := g.List(); !slices.Equal(got, sorted(tt.grants)) {
				t.Errorf("grants %q, want %q", got, sorted(tt.grants))
			}
			if got := g.Rooms(); !slices.Equal(got, sorted(tt.rooms)) {
				t.Errorf("rooms %q, want %q", got, sorted(tt.rooms))
			}
		})
	}
}

func TestNewExtractorRefuses(t *testing.T) {
	tests := []struct {
		name string
		opts []authz.Option
	}{
		{"nil option", []authz.Option{nil}},
		{"empty path", []authz.Option{authz.WithClaim("", authz.StringList)}},
		{"empty segment", []authz.Option{authz.WithClaim("a..b", authz.StringList)}},
		{"trailing dot", []authz.Option{authz.WithClaim("a.", authz.StringList)}},
		{"unknown format", []authz.Option{authz.WithClaim("a", authz.Format(9))}},
		{"zero format", []authz.Option{authz.WithClaim("a", 0)}},
		{"empty claim path keys", []authz.Option{authz.WithClaimPath(authz.StringList)}},
		{"empty key", []authz.Option{authz.WithClaimPath(authz.StringList, "a", "")}},
		{"empty keycloak client", []authz.Option{authz.WithKeycloakClient("")}},
		{"nil grants func", []authz.Option{authz.WithGrantsFunc(nil)}},
		{"nil rooms func", []authz.Option{authz.WithRoomsFunc(nil)}},
		{"bad rooms path", []authz.Option{authz.WithRoomsClaim(".x")}},
		{"reads nothing", []authz.Option{authz.WithoutDefaultClaims(), authz.WithRoomsClaim("")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e, err := authz.NewExtractor(tt.opts...); err == nil {
				t.Fatalf("accepted: %+v", e)
			}
		})
	}
}

func TestFromClaimsNil(t *testing.T) {
	g, err := extractor(t).FromClaims(nil)
	if !errors.Is(err, authz.ErrNoClaims) || g.Len() != 0 {
		t.Fatalf("grants %v, error %v", g, err)
	}
	g, err = extractor(t).FromMap(nil)
	if err != nil || g.Len() != 0 {
		t.Fatalf("nil map: grants %v, error %v", g, err)
	}
}

func jsonList(n int, prefix string) string {
	b, _ := json.Marshal(names(n, prefix))
	return string(b)
}

func names(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strings.Repeat("0", 5-len(itoa(i))) + itoa(i)
	}
	return out
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}
