package authz_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/siojwt/siojwt/authz"
	"github.com/siojwt/siojwt/core"
)

// A namespace that needs chat:read, where posting needs chat:write and
// every other event is refused.
func Example() {
	policy, err := authz.NewPolicy(authz.Rules{
		Namespace: authz.AllOf("chat:read"),
		Events: map[string]authz.Rule{
			"post": authz.AllOf("chat:write"),
			"join": authz.Allow(),
		},
		DenyUnlistedEvents: true,
	})
	if err != nil {
		panic(err)
	}
	extract, err := authz.NewExtractor()
	if err != nil {
		panic(err)
	}

	// The claims of a verified token.
	claims := new(core.Claims)
	_ = json.Unmarshal([]byte(`{"sub":"ann","scope":"chat:read","rooms":["team:42:*"]}`), claims)
	grants, err := extract.FromClaims(claims)
	if err != nil {
		fmt.Println("ignored:", err)
	}

	fmt.Println("connect:", policy.CheckNamespace(grants))
	fmt.Println("join:", policy.CheckEvent("join", grants))
	fmt.Println("room team:42:general:", policy.CheckRoom("team:42:general", grants))

	err = policy.CheckEvent("post", grants)
	var refusal *authz.Refusal
	if errors.As(err, &refusal) {
		data, _ := json.Marshal(refusal.Data())
		fmt.Println("post:", refusal.Kind(), refusal.Rule(), string(data))
	}
	// Output:
	// connect: <nil>
	// join: <nil>
	// room team:42:general: <nil>
	// post: event chat:write {"code":"insufficient_scope","message":"insufficient scope: chat:write required","type":"UnauthorizedError"}
}

// Keycloak puts realm roles in realm_access.roles (read by default) and
// client roles in resource_access.<client>.roles (read for the client
// named).
func ExampleWithKeycloakClient() {
	extract, err := authz.NewExtractor(authz.WithKeycloakClient("chat-api"))
	if err != nil {
		panic(err)
	}
	grants, _ := extract.FromMap(map[string]any{
		"realm_access": map[string]any{"roles": []any{"user"}},
		"resource_access": map[string]any{
			"chat-api": map[string]any{"roles": []any{"moderator"}},
			"web-app":  map[string]any{"roles": []any{"admin"}},
		},
	})
	fmt.Println(grants.List())
	// Output: [moderator user]
}

// A claim of the wrong type grants nothing; the error says which, for logs.
func ExampleExtractor_FromMap_badInput() {
	extract, _ := authz.NewExtractor()
	grants, err := extract.FromMap(map[string]any{
		"scope": 42.0,
		"roles": map[string]any{"admin": true},
		"scp":   "chat:read",
	})
	fmt.Println(grants.List())
	fmt.Println(err)
	// Output:
	// [chat:read]
	// authz: invalid grants claim: scope: a value of type number
	// authz: invalid grants claim: roles: a value of type object
}

// A rule function for what grants alone cannot say, and a room rule that
// gives each user a room of their own.
func ExampleFunc() {
	policy, err := authz.NewPolicy(authz.Rules{
		Events: map[string]authz.Rule{
			"publish": authz.Func("verified-email", func(g authz.Grants, c *core.Claims) bool {
				v, _ := c.Get("email_verified")
				return v == true && g.Has("chat:write")
			}),
		},
		Rooms: authz.RoomsFunc("own-user-room", func(room string, _ authz.Grants, c *core.Claims) bool {
			return room == "user:"+c.Subject
		}),
	})
	if err != nil {
		panic(err)
	}
	extract, _ := authz.NewExtractor()
	claims, _ := core.NewClaims(map[string]any{"sub": "ann", "scope": "chat:write", "email_verified": false})
	grants, _ := extract.FromClaims(claims)

	fmt.Println(policy.CheckEvent("publish", grants))
	fmt.Println(policy.CheckRoom("user:ann", grants))
	fmt.Println(policy.CheckRoom("user:bob", grants))
	// Output:
	// event refused by rule verified-email: insufficient scope: verified-email required
	// <nil>
	// room refused by rule own-user-room: insufficient scope: room not granted
}

func ExampleGrants_AllowsRoom() {
	g := authz.NewGrants(nil, []string{"lobby", "team:42:*"})
	fmt.Println(g.AllowsRoom("lobby"), g.AllowsRoom("team:42:dev"), g.AllowsRoom("team:43:dev"))
	// Output: true true false
}
