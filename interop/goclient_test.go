package interop_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/siojwt/siojwt/internal/testclient"
	"github.com/siojwt/siojwt/interop/harness"
	"github.com/zishang520/socket.io/clients/engine/v3"
	"github.com/zishang520/socket.io/clients/engine/v3/transports"
	client "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// goEvent is one event a Go client heard.
type goEvent struct {
	name string
	args []any
}

// goClient is a github.com/zishang520/socket.io Go client that records the
// events it hears.
type goClient struct {
	s      *client.Socket
	events chan goEvent
}

// dialGo connects a Go client over transport to url through
// testclient.Dial (which avoids the Go client's own races), with auth as the
// handshake payload when not nil.
func dialGo(t *testing.T, url string, auth map[string]any, transport engine.TransportCtor) *goClient {
	t.Helper()
	opts := client.DefaultOptions()
	opts.SetTimeout(waitLong)
	opts.SetTransports(types.NewSet(transport))
	if auth != nil {
		opts.SetAuth(auth)
	}
	c := &goClient{events: make(chan goEvent, 64)}
	s, err := testclient.Dial(url, "/", opts, func(s *client.Socket) {
		for _, name := range []string{"connect", "connect_error", "disconnect", "authenticated", "unauthorized", "echo-response"} {
			_ = s.On(types.EventName(name), func(args ...any) {
				select {
				case c.events <- goEvent{name, args}:
				default:
				}
			})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	c.s = s
	t.Cleanup(func() { s.Disconnect() })
	return c
}

// next returns the next event, or an error when it is not called name or
// does not come in time.
func (c *goClient) next(name string) (goEvent, error) {
	timeout := time.After(waitShort)
	select {
	case e := <-c.events:
		if e.name != name {
			return e, fmt.Errorf("got %s %v, want %s", e.name, e.args, name)
		}
		return e, nil
	case <-timeout:
		return goEvent{}, fmt.Errorf("no %s within %v", name, waitShort)
	}
}

func firstArg(e goEvent) any {
	if len(e.args) == 0 {
		return nil
	}
	return e.args[0]
}

// check fails the test when attempt returns an error.
func check(t *testing.T, attempt func() error) {
	t.Helper()
	if err := attempt(); err != nil {
		t.Fatal(err)
	}
}

// TestGoClient checks that the Go socket.io client authenticates against
// the fixture in handshake mode and in post-connect mode, and receives the
// error data when refused.
func TestGoClient(t *testing.T) {
	hs := harness.StartFixture(t, "-mode", "handshake")
	pc := harness.StartFixture(t, "-mode", "connect", "-timeout", "5s", "-unauthorized-wait", "3s")
	good := harness.Login(t, hs.URL, "alice")
	for _, tr := range []struct {
		name string
		set  engine.TransportCtor
	}{
		{"websocket", transports.WebSocket},
		{"polling", transports.Polling},
	} {
		// The Go client (v3.0.6) over polling loses the packets it sends
		// after the handshake, whatever the server: over polling only what
		// the handshake decides is checked.
		polling := tr.name == "polling"
		t.Run("handshake/"+tr.name, func(t *testing.T) {
			check(t, func() error {
				c := dialGo(t, hs.URL, map[string]any{"token": good}, tr.set)
				if _, err := c.next("connect"); err != nil || polling {
					return err
				}
				c.s.Emit("echo", "go")
				e, err := c.next("echo-response")
				if err == nil && !reflect.DeepEqual(e.args, []any{"go"}) {
					err = fmt.Errorf("echo-response %v, want [go]", e.args)
				}
				return err
			})
		})
		for _, bad := range []struct {
			name      string
			auth      map[string]any
			code, msg string
		}{
			{"bad token", map[string]any{"token": "abc"}, "invalid_token", "jwt malformed"},
			{"no token", nil, "credentials_required", "no token provided"},
		} {
			t.Run("handshake "+bad.name+"/"+tr.name, func(t *testing.T) {
				check(t, func() error {
					e, err := dialGo(t, hs.URL, bad.auth, tr.set).next("connect_error")
					if err != nil {
						return err
					}
					var xe *types.ExtendedError
					if err, _ := firstArg(e).(error); len(e.args) != 1 || !errors.As(err, &xe) {
						return fmt.Errorf("connect_error %v, want one extended error", e.args)
					}
					if xe.Message != bad.msg || !reflect.DeepEqual(xe.Data, errorData(bad.code, bad.msg)) {
						return fmt.Errorf("connect_error %q %v, want %q %v", xe.Message, xe.Data, bad.msg, errorData(bad.code, bad.msg))
					}
					return nil
				})
			})
		}
		if polling {
			continue
		}
		t.Run("post-connect/"+tr.name, func(t *testing.T) {
			check(t, func() error {
				c := dialGo(t, pc.URL, nil, tr.set)
				if _, err := c.next("connect"); err != nil {
					return err
				}
				c.s.Emit("authenticate", map[string]any{"token": good})
				if e, err := c.next("authenticated"); err != nil {
					return err
				} else if len(e.args) != 0 {
					return fmt.Errorf("authenticated %v, want no arguments", e.args)
				}
				c.s.Emit("echo", "go")
				e, err := c.next("echo-response")
				if err == nil && !reflect.DeepEqual(e.args, []any{"go"}) {
					err = fmt.Errorf("echo-response %v, want [go]", e.args)
				}
				return err
			})
		})
		t.Run("post-connect bad token/"+tr.name, func(t *testing.T) {
			check(t, func() error {
				c := dialGo(t, pc.URL, nil, tr.set)
				if _, err := c.next("connect"); err != nil {
					return err
				}
				c.s.Emit("authenticate", map[string]any{"token": "abc"})
				e, err := c.next("unauthorized")
				if err != nil {
					return err
				}
				want := map[string]any{"message": "jwt malformed", "inner": map[string]any{"message": "jwt malformed"},
					"data": errorData("invalid_token", "jwt malformed")}
				if len(e.args) != 2 || !reflect.DeepEqual(e.args[0], want) {
					return fmt.Errorf("unauthorized %v, want %v and an ack", e.args, want)
				}
				ack, ok := e.args[1].(func([]any, error))
				if !ok {
					return fmt.Errorf("unauthorized ack is a %T", e.args[1])
				}
				start := time.Now()
				ack(nil, nil)
				if e, err := c.next("disconnect"); err != nil {
					return err
				} else if firstArg(e) != "io server disconnect" {
					return fmt.Errorf("disconnect %v, want io server disconnect", e.args)
				}
				if d := time.Since(start); d > 2*time.Second {
					return fmt.Errorf("disconnected %v after the ack, want at once (the fixture waits 3s)", d)
				}
				return nil
			})
		})
	}
}
