package siojwt_test

import (
	"fmt"

	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/authz"
	"github.com/siojwt/siojwt/core"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// Authorization from the token's grants: "/chat" needs chat:read to
// connect and chat:write to post; rooms are joined through the checked
// Join, which follows the token's "rooms" claim.
func ExampleNamespaceAuthorization() {
	io := socket.NewServer(nil, nil)
	defer io.Close(nil)
	verifier, _ := core.New(core.WithSecretString("a secret of at least 32 bytes....."))
	auth, _ := siojwt.New(io, verifier)
	defer auth.Close()

	policy, err := authz.NewPolicy(authz.Rules{
		Namespace: authz.AllOf("chat:read"),
		Events:    map[string]authz.Rule{"post": authz.AllOf("chat:write")},
	})
	if err != nil {
		panic(err)
	}
	chat := io.Of("/chat", nil)
	if err := auth.Protect(chat, siojwt.NamespaceAuthorization(policy)); err != nil {
		panic(err)
	}
	_ = chat.On("connection", func(args ...any) {
		s := args[0].(*socket.Socket)
		// Reached only with chat:write: a refused "post" is answered by
		// the binding (its ack gets the refusal, or "forbidden" is sent).
		_ = s.On("post", func(args ...any) { chat.Emit("message", args[0]) })
		_ = s.On("join", func(args ...any) {
			room, _ := args[0].(string)
			if err := auth.Join(s, room); err != nil {
				_ = s.Emit("refused", core.AsError(err).Data())
			}
		})
	})
	fmt.Println("ready")
	// Output: ready
}
