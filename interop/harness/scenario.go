package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Client versions a Scenario can drive.
const (
	// ClientV4 is socket.io-client 4.8.4 (Engine.IO protocol 4).
	ClientV4 = "v4"
	// ClientV2 is socket.io-client 2.5.0 (Engine.IO protocol 3). It has no auth payload:
	// tokens go in Query.
	ClientV2 = "v2"
)

// Transports for Scenario.Transports.
const (
	// Websocket is the websocket transport.
	Websocket = "websocket"
	// Polling is the HTTP long-polling transport.
	Polling = "polling"
)

// Scenario is one client run, the Go mirror of the JSON scenario documented at the top of
// interop/clients/driver.js.
type Scenario struct {
	// URL is the server's base URL, e.g. Process.URL.
	URL string
	// Namespace defaults to "/".
	Namespace string
	// Client is ClientV4 (the default when empty) or ClientV2.
	Client string
	// Transports restricts the transports, e.g. []string{Websocket}; nil keeps the client's
	// default (polling, then upgrade to websocket).
	Transports []string
	// Auth is the v4 handshake auth payload, e.g. {"token": "..."}. Not for ClientV2.
	Auth map[string]any
	// AuthFn makes the v4 client send its auth payload from a callback: connect attempt n
	// gets AuthFn[min(n, len-1)], a string s meaning {"token": s} and a map used whole.
	// Not for ClientV2.
	AuthFn []any
	// Query is the handshake query string.
	Query map[string]string
	// Headers are extra request headers (a Node client can send them; a browser cannot).
	Headers map[string]string
	// Cookie is sent as the Cookie header.
	Cookie string
	// Reconnection turns the client's automatic reconnection on (off by default).
	Reconnection bool
	// ReconnectionAttempts, ReconnectionDelay and ReconnectionDelayMax tune reconnection
	// when non-zero.
	ReconnectionAttempts int
	ReconnectionDelay    time.Duration
	ReconnectionDelayMax time.Duration
	// NoReconnectionJitter makes the client wait exactly its reconnection
	// delay (randomizationFactor 0) instead of up to half less.
	NoReconnectionJitter bool
	// ConnectTimeout is the client's connection timeout when non-zero.
	ConnectTimeout time.Duration
	// Deadline bounds the whole run (default 20s); the running step fails when it is reached.
	Deadline time.Duration
	// Steps run in order; the first that fails ends the run.
	Steps []Step
}

// Step is one step of a Scenario. Build steps with Wait, WaitAny, Emit, EmitAck, Sleep,
// AckLast, AckLastOf, Disconnect, Connect, DropTransport and ExpectNo.
type Step struct {
	// Wait lists event names: the step waits for the next event, at or after the cursor,
	// with one of these names, and moves the cursor past it.
	Wait []string
	// Emit is an event name to emit with Args; with Ack the step waits for the server's
	// acknowledgement, recorded as event "ack:<Emit>".
	Emit string
	// Args are the arguments of Emit or AckLast.
	Args []any
	// Ack asks Emit for an acknowledgement.
	Ack bool
	// Timeout bounds Wait and Emit with Ack (default 5s).
	Timeout time.Duration
	// AckLast names an event: the step calls, with Args, the ack callback that came with
	// the last such event.
	AckLast string
	// Disconnect disconnects the client.
	Disconnect bool
	// Connect connects the client again.
	Connect bool
	// DropTransport closes the client's Engine.IO connection without a Socket.IO
	// disconnect, as a network failure would.
	DropTransport bool
	// ExpectNo lists event names that must not show up at or after the cursor within For.
	ExpectNo []string
	// For is the window of ExpectNo.
	For time.Duration
	// Sleep pauses the run; a Step with none of the fields above set is a sleep.
	Sleep time.Duration
}

// Wait returns a step waiting up to timeout for the next event called name.
func Wait(name string, timeout time.Duration) Step {
	return Step{Wait: []string{name}, Timeout: timeout}
}

// WaitAny returns a step waiting up to timeout for the next event with any of names.
func WaitAny(timeout time.Duration, names ...string) Step {
	return Step{Wait: names, Timeout: timeout}
}

// Emit returns a step emitting event with args.
func Emit(event string, args ...any) Step {
	return Step{Emit: event, Args: args}
}

// EmitAck returns a step emitting event with args and waiting up to timeout for the
// acknowledgement, recorded as event "ack:<event>".
func EmitAck(event string, timeout time.Duration, args ...any) Step {
	return Step{Emit: event, Args: args, Ack: true, Timeout: timeout}
}

// Authenticate returns a step emitting "authenticate" with {"token": token}, as
// post-connect clients of socketio-jwt do.
func Authenticate(token any) Step {
	return Emit("authenticate", map[string]any{"token": token})
}

// Sleep returns a step pausing for d.
func Sleep(d time.Duration) Step {
	return Step{Sleep: d}
}

// AckLast returns a step calling, with args, the ack callback of the last "unauthorized"
// event.
func AckLast(args ...any) Step {
	return AckLastOf("unauthorized", args...)
}

// AckLastOf returns a step calling, with args, the ack callback of the last event called
// event.
func AckLastOf(event string, args ...any) Step {
	return Step{AckLast: event, Args: args}
}

// Disconnect returns a step disconnecting the client.
func Disconnect() Step {
	return Step{Disconnect: true}
}

// Connect returns a step connecting the client again.
func Connect() Step {
	return Step{Connect: true}
}

// DropTransport returns a step closing the client's Engine.IO connection under the
// socket (socket.io.engine.close()) without a Socket.IO disconnect, as a network failure
// would: the server sees "transport close", and a client with Reconnection on reconnects,
// a v4 client with connection-state recovery when the server offers it.
func DropTransport() Step {
	return Step{DropTransport: true}
}

// ExpectNo returns a step failing if an event with any of names shows up, at or after the
// cursor, within d.
func ExpectNo(d time.Duration, names ...string) Step {
	return Step{ExpectNo: names, For: d}
}

func ms(d time.Duration) int64 {
	return d.Milliseconds()
}

// MarshalJSON encodes the scenario in the driver's JSON format (times in milliseconds).
func (s Scenario) MarshalJSON() ([]byte, error) {
	type wire struct {
		URL                  string            `json:"url"`
		Namespace            string            `json:"namespace,omitempty"`
		Client               string            `json:"client,omitempty"`
		Transports           []string          `json:"transports,omitempty"`
		Auth                 map[string]any    `json:"auth,omitempty"`
		AuthFn               []any             `json:"authFn,omitempty"`
		Query                map[string]string `json:"query,omitempty"`
		Headers              map[string]string `json:"headers,omitempty"`
		Cookie               *string           `json:"cookie,omitempty"`
		Reconnection         bool              `json:"reconnection"`
		ReconnectionAttempts int               `json:"reconnectionAttempts,omitempty"`
		ReconnectionDelay    int64             `json:"reconnectionDelay,omitempty"`
		ReconnectionDelayMax int64             `json:"reconnectionDelayMax,omitempty"`
		RandomizationFactor  *float64          `json:"randomizationFactor,omitempty"`
		ConnectTimeout       int64             `json:"connectTimeout,omitempty"`
		Deadline             int64             `json:"deadline,omitempty"`
		Steps                []Step            `json:"steps"`
	}
	w := wire{
		URL: s.URL, Namespace: s.Namespace, Client: s.Client, Transports: s.Transports,
		Auth: s.Auth, AuthFn: s.AuthFn, Query: s.Query, Headers: s.Headers,
		Reconnection: s.Reconnection, ReconnectionAttempts: s.ReconnectionAttempts,
		ReconnectionDelay: ms(s.ReconnectionDelay), ReconnectionDelayMax: ms(s.ReconnectionDelayMax),
		ConnectTimeout: ms(s.ConnectTimeout), Deadline: ms(s.Deadline), Steps: s.Steps,
	}
	if s.Cookie != "" {
		w.Cookie = &s.Cookie
	}
	if s.NoReconnectionJitter {
		zero := 0.0
		w.RandomizationFactor = &zero
	}
	if w.Steps == nil {
		w.Steps = []Step{}
	}
	return json.Marshal(w)
}

// deadline is the run's bound as the driver applies it.
func (s Scenario) deadline() time.Duration {
	if s.Deadline > 0 {
		return s.Deadline
	}
	return 20 * time.Second
}

// MarshalJSON encodes the step in the driver's JSON format (times in milliseconds).
func (st Step) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	kinds := 0
	if len(st.Wait) > 0 {
		kinds++
		m["wait"] = st.Wait
	}
	if st.Emit != "" {
		kinds++
		m["emit"] = st.Emit
		if st.Ack {
			m["ack"] = true
		}
	}
	if st.AckLast != "" {
		kinds++
		m["ackLast"] = st.AckLast
	}
	if st.Disconnect {
		kinds++
		m["disconnect"] = true
	}
	if st.Connect {
		kinds++
		m["connect"] = true
	}
	if st.DropTransport {
		kinds++
		m["dropTransport"] = true
	}
	if len(st.ExpectNo) > 0 {
		kinds++
		m["expectNo"] = st.ExpectNo
		m["for"] = ms(st.For)
	}
	switch kinds {
	case 0:
		m["sleep"] = ms(st.Sleep)
	case 1:
	default:
		return nil, errors.New("harness: a step sets more than one of Wait, Emit, AckLast, Disconnect, Connect, DropTransport, ExpectNo")
	}
	if st.Timeout > 0 {
		m["timeout"] = ms(st.Timeout)
	}
	if st.Args != nil {
		m["args"] = st.Args
	}
	return json.Marshal(m)
}

// String describes the step briefly, for failure messages.
func (st Step) String() string {
	b, err := st.MarshalJSON()
	if err != nil {
		return fmt.Sprintf("invalid step: %v", err)
	}
	return string(b)
}
