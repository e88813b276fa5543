package authz_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/siojwt/siojwt/authz"
	"github.com/siojwt/siojwt/core"
)

func TestGrantsSet(t *testing.T) {
	g := authz.NewGrants([]string{"a", "b", "a", ""}, nil)
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"Has a", g.Has("a"), true},
		{"Has c", g.Has("c"), false},
		{"Has empty", g.Has(""), false},
		{"HasAll a b", g.HasAll("a", "b"), true},
		{"HasAll a c", g.HasAll("a", "c"), false},
		{"HasAll none", g.HasAll(), true},
		{"HasAny c b", g.HasAny("c", "b"), true},
		{"HasAny c d", g.HasAny("c", "d"), false},
		{"HasAny none", g.HasAny(), false},
		{"zero Has", authz.Grants{}.Has("a"), false},
		{"zero AllowsRoom", authz.Grants{}.AllowsRoom("a"), false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if g.Len() != 2 {
		t.Errorf("Len %d, want 2", g.Len())
	}
	if s := g.String(); s != "grants[a b] rooms[]" {
		t.Errorf("String %q", s)
	}
	if n := authz.NewGrants(names(authz.MaxGrants+1, "x"), nil).Len(); n != 0 {
		t.Errorf("over the bound: %d grants", n)
	}
}

func TestAllowsRoom(t *testing.T) {
	g := authz.NewGrants(nil, []string{"lobby", "team:42:*", "a*b", "user:ann"})
	tests := []struct {
		room string
		want bool
	}{
		{"lobby", true},
		{"lobby2", false},
		{"Lobby", false},
		{"team:42:x", true},
		{"team:42:", true},
		{"team:42", false},
		{"team:421:x", false},
		{"team:4", false},
		{"a*b", true},
		{"axb", false},
		{"a*bc", false},
		{"user:ann", true},
		{"user:bob", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := g.AllowsRoom(tt.room); got != tt.want {
			t.Errorf("AllowsRoom(%q) = %v, want %v", tt.room, got, tt.want)
		}
	}
	all := authz.NewGrants(nil, []string{"*"})
	if !all.AllowsRoom("anything") || all.AllowsRoom("") {
		t.Error(`"*" must match every non-empty room`)
	}
}

func chatPolicy(t testing.TB) *authz.Policy {
	t.Helper()
	p, err := authz.NewPolicy(authz.Rules{
		Namespace: authz.AllOf("chat:read"),
		Events: map[string]authz.Rule{
			"post":   authz.AllOf("chat:write"),
			"say":    authz.AllOf("chat:write"),
			"join":   authz.Allow(),
			"delete": authz.AnyOf("admin", "moderator"),
			"both":   authz.AllOf("chat:read", "chat:write"),
			"own": authz.Func("own-team", func(g authz.Grants, c *core.Claims) bool {
				v, _ := c.Get("team")
				return v == "42"
			}),
			"named": authz.AllOf("x").Named("tier-x"),
		},
		DenyUnlistedEvents: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyChecks(t *testing.T) {
	p := chatPolicy(t)
	e := extractor(t)
	grants := func(payload string) authz.Grants {
		g, err := e.FromClaims(claims(t, payload))
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	reader := grants(`{"scope":"chat:read","rooms":["team:42:*"]}`)
	writer := grants(`{"scope":"chat:read chat:write","team":"42"}`)
	admin := grants(`{"realm_access":{"roles":["admin"]}}`)

	tests := []struct {
		name    string
		err     error
		kind    authz.Kind
		rule    string
		message string
	}{
		{name: "reader connects", err: p.CheckNamespace(reader)},
		{name: "admin lacks chat:read", err: p.CheckNamespace(admin), kind: authz.KindNamespace, rule: "chat:read", message: "insufficient scope: chat:read required"},
		{name: "writer posts", err: p.CheckEvent("post", writer)},
		{name: "reader may not post", err: p.CheckEvent("post", reader), kind: authz.KindEvent, rule: "chat:write", message: "insufficient scope: chat:write required"},
		{name: "reader joins (Allow)", err: p.CheckEvent("join", reader)},
		{name: "zero grants join (Allow)", err: p.CheckEvent("join", authz.Grants{})},
		{name: "unlisted refused", err: p.CheckEvent("whoami", writer), kind: authz.KindEvent, rule: authz.UnlistedRule, message: authz.MessageUnlisted},
		{name: "empty event name unlisted", err: p.CheckEvent("", writer), kind: authz.KindEvent, rule: authz.UnlistedRule, message: authz.MessageUnlisted},
		{name: "admin deletes (AnyOf)", err: p.CheckEvent("delete", admin)},
		{name: "writer may not delete", err: p.CheckEvent("delete", writer), kind: authz.KindEvent, rule: "admin|moderator", message: "insufficient scope: admin or moderator required"},
		{name: "both (AllOf two)", err: p.CheckEvent("both", writer)},
		{name: "reader lacks one of both", err: p.CheckEvent("both", reader), kind: authz.KindEvent, rule: "chat:read+chat:write", message: "insufficient scope: chat:read and chat:write required"},
		{name: "func allows", err: p.CheckEvent("own", writer)},
		{name: "func refuses", err: p.CheckEvent("own", reader), kind: authz.KindEvent, rule: "own-team", message: "insufficient scope: own-team required"},
		{name: "func with no claims", err: p.CheckEvent("own", authz.NewGrants([]string{"chat:write"}, nil)), kind: authz.KindEvent, rule: "own-team", message: "insufficient scope: own-team required"},
		{name: "func with zero grants", err: p.CheckEvent("own", authz.Grants{}), kind: authz.KindEvent, rule: "own-team", message: "insufficient scope: own-team required"},
		{name: "named rule", err: p.CheckEvent("named", reader), kind: authz.KindEvent, rule: "tier-x", message: "insufficient scope: tier-x required"},
		{name: "room granted by pattern", err: p.CheckRoom("team:42:general", reader)},
		{name: "room not granted", err: p.CheckRoom("team:43:general", reader), kind: authz.KindRoom, rule: "rooms", message: authz.MessageRoom},
		{name: "no room claim", err: p.CheckRoom("team:42:general", writer), kind: authz.KindRoom, rule: "rooms", message: authz.MessageRoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.kind == 0 {
				if tt.err != nil {
					t.Fatalf("refused: %v", tt.err)
				}
				return
			}
			var r *authz.Refusal
			if !errors.As(tt.err, &r) {
				t.Fatalf("error %v, want a *Refusal", tt.err)
			}
			if r.Kind() != tt.kind || r.Rule() != tt.rule || r.Message() != tt.message {
				t.Errorf("refusal %v/%q/%q, want %v/%q/%q", r.Kind(), r.Rule(), r.Message(), tt.kind, tt.rule, tt.message)
			}
			checkWire(t, tt.err, tt.message)
		})
	}
}

// checkWire checks what a client would receive for err.
func checkWire(t *testing.T, err error, message string) {
	t.Helper()
	if !strings.HasPrefix(message, "insufficient scope") {
		t.Errorf("message %q does not begin with insufficient scope", message)
	}
	if !errors.Is(err, authz.ErrInsufficientScope) {
		t.Errorf("%v is not ErrInsufficientScope", err)
	}
	if !errors.Is(err, &core.Error{Code: authz.CodeInsufficientScope}) {
		t.Errorf("%v is not a core.Error with code %s", err, authz.CodeInsufficientScope)
	}
	ce := core.AsError(err)
	want := map[string]any{"message": message, "code": "insufficient_scope", "type": "UnauthorizedError"}
	for _, data := range []map[string]any{ce.Data(), err.(*authz.Refusal).Data()} {
		if len(data) != len(want) {
			t.Errorf("data %v, want %v", data, want)
		}
		for k, v := range want {
			if data[k] != v {
				t.Errorf("data[%s] = %v, want %v", k, data[k], v)
			}
		}
	}
	if core.CodeOf(err) != authz.CodeInsufficientScope {
		t.Errorf("CodeOf = %q", core.CodeOf(err))
	}
}

func TestPolicyWithoutDenyUnlisted(t *testing.T) {
	p, err := authz.NewPolicy(authz.Rules{Events: map[string]authz.Rule{"post": authz.AllOf("w")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckEvent("other", authz.Grants{}); err != nil {
		t.Errorf("unlisted event refused: %v", err)
	}
	if err := p.CheckNamespace(authz.Grants{}); err != nil {
		t.Errorf("no namespace rule, refused: %v", err)
	}
	if !p.ChecksEvents() {
		t.Error("ChecksEvents false with an event rule")
	}
	empty, _ := authz.NewPolicy(authz.Rules{Namespace: authz.AnyOf("a")})
	if empty.ChecksEvents() {
		t.Error("ChecksEvents true without event rules")
	}
	deny, _ := authz.NewPolicy(authz.Rules{DenyUnlistedEvents: true})
	if !deny.ChecksEvents() || deny.CheckEvent("x", authz.NewGrants([]string{"x"}, nil)) == nil {
		t.Error("DenyUnlistedEvents without rules must refuse every event")
	}
}

func TestNilPolicyAllows(t *testing.T) {
	var p *authz.Policy
	if p.CheckNamespace(authz.Grants{}) != nil || p.CheckEvent("x", authz.Grants{}) != nil ||
		p.CheckRoom("r", authz.Grants{}) != nil || p.ChecksEvents() {
		t.Fatal("a nil Policy refused something")
	}
}

func TestRoomsFunc(t *testing.T) {
	var seen string
	p, err := authz.NewPolicy(authz.Rules{Rooms: authz.RoomsFunc("own-user", func(room string, g authz.Grants, c *core.Claims) bool {
		seen = room
		return c != nil && room == "user:"+c.Subject
	})})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := extractor(t).FromClaims(claims(t, `{"sub":"ann","rooms":["*"]}`))
	if err := p.CheckRoom("user:ann", g); err != nil {
		t.Errorf("own room refused: %v", err)
	}
	err = p.CheckRoom("user:bob", g)
	var r *authz.Refusal
	if !errors.As(err, &r) || r.Rule() != "own-user" || r.Kind() != authz.KindRoom {
		t.Errorf("other room: %v", err)
	}
	seen = "unset"
	if p.CheckRoom("", g) == nil || seen != "unset" {
		t.Error("the empty room reached the function or was allowed")
	}
}

func TestNewPolicyRefuses(t *testing.T) {
	fn := func(authz.Grants, *core.Claims) bool { return true }
	tests := []struct {
		name  string
		rules authz.Rules
	}{
		{"empty AllOf namespace", authz.Rules{Namespace: authz.AllOf()}},
		{"empty AnyOf event", authz.Rules{Events: map[string]authz.Rule{"e": authz.AnyOf()}}},
		{"zero Rule event", authz.Rules{Events: map[string]authz.Rule{"e": {}}}},
		{"empty event name", authz.Rules{Events: map[string]authz.Rule{"": authz.Allow()}}},
		{"empty grant", authz.Rules{Events: map[string]authz.Rule{"e": authz.AllOf("a", "")}}},
		{"overlong grant", authz.Rules{Events: map[string]authz.Rule{"e": authz.AllOf(strings.Repeat("a", authz.MaxGrantLen+1))}}},
		{"nil func", authz.Rules{Events: map[string]authz.Rule{"e": authz.Func("f", nil)}}},
		{"unnamed func", authz.Rules{Namespace: authz.Func("", fn)}},
		{"emptied name", authz.Rules{Events: map[string]authz.Rule{"e": authz.AllOf("a").Named("")}}},
		{"renamed zero Rule namespace", authz.Rules{Namespace: authz.Rule{}.Named("admin")}},
		{"renamed zero Rule event", authz.Rules{Events: map[string]authz.Rule{"e": authz.Rule{}.Named("admin")}}},
		{"nil room func", authz.Rules{Rooms: authz.RoomsFunc("r", nil)}},
		{"unnamed room func", authz.Rules{Rooms: authz.RoomsFunc("", func(string, authz.Grants, *core.Claims) bool { return true })}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := authz.NewPolicy(tt.rules); err == nil {
				t.Fatalf("accepted: %+v", p)
			}
		})
	}
}

// TestFuncPanics: a rule or room function that panics refuses, with the
// rule's usual refusal, whose cause wraps ErrPanic and the panic's value.
func TestFuncPanics(t *testing.T) {
	boom := func(authz.Grants, *core.Claims) bool { panic("rule bug") }
	p, err := authz.NewPolicy(authz.Rules{
		Namespace: authz.Func("ns", boom),
		Events:    map[string]authz.Rule{"e": authz.Func("ev", boom)},
		Rooms:     authz.RoomsFunc("rooms", func(string, authz.Grants, *core.Claims) bool { panic("room bug") }),
	})
	if err != nil {
		t.Fatal(err)
	}
	g := authz.NewGrants([]string{"a"}, []string{"*"})
	for _, tt := range []struct {
		name, rule, value string
		err               error
	}{
		{"namespace", "ns", "rule bug", p.CheckNamespace(g)},
		{"event", "ev", "rule bug", p.CheckEvent("e", g)},
		{"room", "rooms", "room bug", p.CheckRoom("r", g)},
	} {
		var r *authz.Refusal
		if !errors.As(tt.err, &r) || r.Rule() != tt.rule || !errors.Is(tt.err, authz.ErrPanic) || !errors.Is(tt.err, authz.ErrInsufficientScope) {
			t.Errorf("%s: %v, want a refusal by %q wrapping ErrPanic and ErrInsufficientScope", tt.name, tt.err, tt.rule)
			continue
		}
		if !strings.Contains(errors.Unwrap(r).Error(), tt.value) {
			t.Errorf("%s: cause %q does not name the panic's value", tt.name, errors.Unwrap(r))
		}
		if d := r.Data(); d["message"] != r.Message() || len(d) != 3 {
			t.Errorf("%s: data %v: the client sees more than the usual refusal", tt.name, d)
		}
	}
	if authz.Func("ev", boom).Allows(g) {
		t.Error("Allows of a panicking rule")
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[authz.Kind]string{authz.KindNamespace: "namespace", authz.KindEvent: "event", authz.KindRoom: "room", 0: "unknown"} {
		if k.String() != want {
			t.Errorf("%d: %q, want %q", k, k.String(), want)
		}
	}
}

// A check that allows allocates nothing; a refusal allocates one value.
func TestCheckAllocations(t *testing.T) {
	p := chatPolicy(t)
	writer := authz.NewGrants([]string{"chat:read", "chat:write"}, []string{"team:*"})
	reader := authz.NewGrants([]string{"chat:read"}, nil)
	tests := []struct {
		name string
		fn   func()
		want float64
	}{
		{"namespace allowed", func() { _ = p.CheckNamespace(writer) }, 0},
		{"event allowed", func() { _ = p.CheckEvent("post", writer) }, 0},
		{"event AllOf two allowed", func() { _ = p.CheckEvent("both", writer) }, 0},
		{"room allowed", func() { _ = p.CheckRoom("team:1", writer) }, 0},
		{"event refused", func() { _ = p.CheckEvent("post", reader) }, 1},
		{"unlisted refused", func() { _ = p.CheckEvent("nope", reader) }, 1},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, tt.fn); got != tt.want {
			t.Errorf("%s: %v allocations, want %v", tt.name, got, tt.want)
		}
	}
}
