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

// FuzzGrants extracts grants from arbitrary JSON claims: it must never
// panic, stay within the bounds, grant only strings the payload holds, and
// agree between FromClaims and FromMap.
func FuzzGrants(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"scope":"a b"}`, `{"scope":42}`, `{"scp":["a",1]}`, `{"scp":"x"}`,
		`{"permissions":["p"]}`, `{"roles":{"a":1}}`, `{"roles":null}`,
		`{"realm_access":{"roles":["admin"]}}`, `{"realm_access":"x"}`,
		`{"resource_access":{"api":{"roles":["e"]}}}`, `{"rooms":["team:*","*",""]}`,
		`{"roles":` + jsonList(300, "r") + `}`, `{"scope":"` + strings.Repeat("ab ", 3000) + `"}`,
		`[]`, `null`, `{"scope":"\u0000 \ud800"}`,
	} {
		f.Add([]byte(s))
	}
	e, err := authz.NewExtractor(authz.WithKeycloakClient("api"))
	if err != nil {
		f.Fatal(err)
	}
	p, err := authz.NewPolicy(authz.Rules{
		Namespace: authz.AllOf("a"),
		Events:    map[string]authz.Rule{"post": authz.AnyOf("b", "admin")},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		c := new(core.Claims)
		if json.Unmarshal(payload, c) != nil {
			return
		}
		g, gerr := e.FromClaims(c)
		var m map[string]any
		if json.Unmarshal(payload, &m) != nil {
			// Valid JSON that encoding/json cannot hold in a map: a number
			// beyond float64 in a claim core does not read (core checks
			// the registered claims only; jsonwebtoken reads such a number
			// as Infinity). Then no grants, and an error that says so.
			if !errors.Is(gerr, authz.ErrNoClaims) || len(g.List()) != 0 || len(g.Rooms()) != 0 {
				t.Fatalf("claims decoded, map did not (%q), yet FromClaims gave %v, %v", payload, g, gerr)
			}
			return
		}
		gm, _ := e.FromMap(m)
		list, rooms := g.List(), g.Rooms()
		if !slices.Equal(list, gm.List()) || !slices.Equal(rooms, gm.Rooms()) {
			t.Fatalf("FromClaims %v, FromMap %v", g, gm)
		}
		if len(list) > authz.MaxGrants || len(rooms) > authz.MaxGrants {
			t.Fatalf("%d grants, %d rooms", len(list), len(rooms))
		}
		// The payload as decoded: every grant must be a string in it.
		strs := map[string]bool{}
		collect(m, strs)
		for _, n := range slices.Concat(list, rooms) {
			if n == "" || len(n) > authz.MaxGrantLen {
				t.Fatalf("grant of %d bytes", len(n))
			}
			if !strs[n] && !inSpaced(strs, n) {
				t.Fatalf("grant %q is in no string of the payload", n)
			}
		}
		for _, n := range list {
			if !g.Has(n) {
				t.Fatalf("List has %q, Has does not", n)
			}
		}
		if (p.CheckNamespace(g) == nil) != g.Has("a") {
			t.Fatalf("namespace check disagrees with Has for %v", g)
		}
		if (p.CheckEvent("post", g) == nil) != g.HasAny("b", "admin") {
			t.Fatalf("event check disagrees with HasAny for %v", g)
		}
		_ = p.CheckRoom("team:1", g)
	})
}

func collect(v any, into map[string]bool) {
	switch v := v.(type) {
	case string:
		into[v] = true
	case []any:
		for _, x := range v {
			collect(x, into)
		}
	case map[string]any:
		for _, x := range v {
			collect(x, into)
		}
	}
}

func inSpaced(strs map[string]bool, n string) bool {
	for s := range strs {
		if slices.Contains(strings.Split(s, " "), n) {
			return true
		}
	}
	return false
}
