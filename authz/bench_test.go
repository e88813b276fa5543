package authz_test

import (
	"testing"

	"github.com/siojwt/siojwt/authz"
	"github.com/siojwt/siojwt/core"
)

var sink error

// BenchmarkCheckEvent is the per-event cost of a rule check, next to an
// event with no rule (a nil Policy: the binding checks nothing).
func BenchmarkCheckEvent(b *testing.B) {
	p := chatPolicy(b)
	open, err := authz.NewPolicy(authz.Rules{Events: map[string]authz.Rule{"post": authz.AllOf("chat:write")}})
	if err != nil {
		b.Fatal(err)
	}
	e := extractor(b)
	writer, _ := e.FromClaims(claims(b, `{"sub":"ann","team":"42","scope":"openid profile chat:read chat:write","roles":["member"]}`))
	reader, _ := e.FromClaims(claims(b, `{"sub":"bob","scope":"openid profile chat:read","roles":["viewer"]}`))
	many := authz.NewGrants(names(authz.MaxGrants-1, "g"), nil)
	many = authz.NewGrants(append(many.List(), "chat:write"), nil)
	var none *authz.Policy
	cases := []struct {
		name  string
		p     *authz.Policy
		event string
		g     authz.Grants
	}{
		{"no rules", none, "post", writer},
		{"unruled event", open, "other", writer},
		{"allowed", p, "post", writer},
		{"allowed all of 2", p, "both", writer},
		{"allowed any of 2", p, "delete", authz.NewGrants([]string{"moderator"}, nil)},
		{"allowed func", p, "own", writer},
		{"allowed 256 grants", p, "post", many},
		{"allowed Allow", p, "join", reader},
		{"denied", p, "post", reader},
		{"denied unlisted", p, "whoami", reader},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink = c.p.CheckEvent(c.event, c.g)
			}
		})
	}
}

// BenchmarkCheckRoom is the cost of a checked room join.
func BenchmarkCheckRoom(b *testing.B) {
	p, err := authz.NewPolicy(authz.Rules{})
	if err != nil {
		b.Fatal(err)
	}
	g := authz.NewGrants(nil, []string{"lobby", "team:42:*", "team:7:*", "user:ann"})
	for _, c := range []struct{ name, room string }{
		{"exact", "lobby"},
		{"pattern", "team:7:general"},
		{"denied", "team:8:general"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink = p.CheckRoom(c.room, g)
			}
		})
	}
}

// BenchmarkFromClaims is the cost paid once per token (authentication and
// every refresh), not per event.
func BenchmarkFromClaims(b *testing.B) {
	e := extractor(b, authz.WithKeycloakClient("api"))
	payload := `{"sub":"ann","scope":"openid profile chat:read chat:write","roles":["member"],"realm_access":{"roles":["user","offline_access"]},"resource_access":{"api":{"roles":["poster"]}},"rooms":["lobby","team:42:*"]}`
	b.Run("claims decoded once", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := new(core.Claims)
			_ = c.UnmarshalJSON([]byte(payload))
			_, _ = e.FromClaims(c)
		}
	})
	c := claims(b, payload)
	_, _ = c.Map()
	b.Run("claims map cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = e.FromClaims(c)
		}
	})
}
