package harness

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Result is what the driver reports for one Scenario run.
type Result struct {
	// Client is the client version that ran ("v4" or "v2").
	Client string `json:"client"`
	// OK is true when every step passed.
	OK bool `json:"ok"`
	// FailedStep is the index of the step that failed, or -1.
	FailedStep int `json:"failedStep"`
	// Failure says why that step failed, e.g. "wait connect timed out after 5000ms".
	Failure string `json:"failure"`
	// Events lists everything the client saw, in order, until the steps ended.
	Events []Event `json:"events"`
	// ReconnectAttempts counts the client manager's reconnection attempts.
	ReconnectAttempts int `json:"reconnectAttempts"`
	// Transport is the Engine.IO transport of the last open connection ("websocket",
	// "polling"), "" when none ever opened.
	Transport string `json:"transport"`
	// Connected tells whether the socket was connected when the steps ended.
	Connected bool `json:"connected"`
	// ID is the socket id at the end, "" when not connected.
	ID string `json:"id"`
	// DurationMS is the length of the run in milliseconds.
	DurationMS int64 `json:"durationMs"`
}

// Event is one thing a client saw. Socket events carry their own names ("connect",
// "connect_error", "disconnect", the v2 "error", "connect_timeout", and any server event);
// emits with an acknowledgement record the reply as "ack:<event>"; the client manager's
// events are "io:open", "io:close", "io:upgrade", "io:reconnect_attempt", "io:reconnect",
// "io:reconnect_error" and "io:reconnect_failed".
type Event struct {
	// Name is the event name.
	Name string `json:"name"`
	// AtMS is the time of the event in milliseconds since the client was created.
	AtMS int64 `json:"at"`
	// Args are the event's arguments as JSON: for "connect_error" one object {"message",
	// "data"?, ...}; for "disconnect" the reason string; for the v2 "error" the server's
	// error object.
	Args []json.RawMessage `json:"args"`
	// Ack is true when the server asked for an acknowledgement with the event.
	Ack bool `json:"ack,omitempty"`
}

// ErrorData is the error object socketio-jwt sends: {message, code, type}.
type ErrorData struct {
	// Message is the human-readable text, e.g. "no token provided".
	Message string `json:"message"`
	// Code is the machine-readable code, e.g. "credentials_required".
	Code string `json:"code"`
	// Type is always "UnauthorizedError" for authentication failures.
	Type string `json:"type"`
}

// ConnectError is the argument of a v4 "connect_error" event.
type ConnectError struct {
	// Message is err.message.
	Message string `json:"message"`
	// Data is err.data, nil when absent (transport failures).
	Data *ErrorData `json:"data"`
	// Type is err.type, "TransportError" for transport failures.
	Type string `json:"type,omitempty"`
}

// Unauthorized is the payload of socketio-jwt's post-connect "unauthorized" event.
type Unauthorized struct {
	// Message is the error text.
	Message string `json:"message"`
	// Inner holds the same text again.
	Inner struct {
		// Message is the error text.
		Message string `json:"message"`
	} `json:"inner"`
	// Data is the error object.
	Data ErrorData `json:"data"`
}

// At returns the event's time since the client was created.
func (e Event) At() time.Duration { return time.Duration(e.AtMS) * time.Millisecond }

// Decode unmarshals argument i into v.
func (e Event) Decode(i int, v any) error {
	if i < 0 || i >= len(e.Args) {
		return fmt.Errorf("event %s has %d arguments, no argument %d", e.Name, len(e.Args), i)
	}
	return json.Unmarshal(e.Args[i], v)
}

// ArgString returns argument i when it is a JSON string, else "".
func (e Event) ArgString(i int) string {
	var s string
	if e.Decode(i, &s) != nil {
		return ""
	}
	return s
}

// String renders the event as name@ms(args...).
func (e Event) String() string {
	args := make([]string, len(e.Args))
	for i, a := range e.Args {
		args[i] = string(a)
	}
	ack := ""
	if e.Ack {
		ack = "+ack"
	}
	return fmt.Sprintf("%s@%dms(%s)%s", e.Name, e.AtMS, strings.Join(args, ", "), ack)
}

// Names returns the names of the socket-level events in order: all but the manager's
// "io:*" events.
func (r Result) Names() []string {
	var names []string
	for _, e := range r.Events {
		if !strings.HasPrefix(e.Name, "io:") {
			names = append(names, e.Name)
		}
	}
	return names
}

// First returns the first event called name.
func (r Result) First(name string) (Event, bool) {
	for _, e := range r.Events {
		if e.Name == name {
			return e, true
		}
	}
	return Event{}, false
}

// Last returns the last event called name.
func (r Result) Last(name string) (Event, bool) {
	for i := len(r.Events) - 1; i >= 0; i-- {
		if r.Events[i].Name == name {
			return r.Events[i], true
		}
	}
	return Event{}, false
}

// Count returns how many events are called name.
func (r Result) Count(name string) int {
	n := 0
	for _, e := range r.Events {
		if e.Name == name {
			n++
		}
	}
	return n
}

// Rejection returns the error object of the first handshake rejection, read the same way
// for both clients: the data of a v4 "connect_error" (one carrying data), or the object of a
// v2 "error" event. ok is false when there was no such event.
func (r Result) Rejection() (data ErrorData, ok bool) {
	for _, e := range r.Events {
		switch e.Name {
		case "connect_error":
			var ce ConnectError
			if e.Decode(0, &ce) == nil && ce.Data != nil {
				return *ce.Data, true
			}
		case "error":
			if e.Decode(0, &data) == nil {
				return data, true
			}
		}
	}
	return ErrorData{}, false
}

// DisconnectReason returns the reason of the first "disconnect" event, "" when none.
func (r Result) DisconnectReason() string {
	if e, ok := r.First("disconnect"); ok {
		return e.ArgString(0)
	}
	return ""
}

// String summarises the run for failure messages: outcome, transport and every event.
func (r Result) String() string {
	var b strings.Builder
	if r.OK {
		fmt.Fprintf(&b, "%s client: all steps passed", r.Client)
	} else {
		fmt.Fprintf(&b, "%s client: step %d failed: %s", r.Client, r.FailedStep, r.Failure)
	}
	fmt.Fprintf(&b, "; transport %q, connected %v, %d reconnect attempts, %dms; events:",
		r.Transport, r.Connected, r.ReconnectAttempts, r.DurationMS)
	for _, e := range r.Events {
		b.WriteString("\n  ")
		b.WriteString(e.String())
	}
	return b.String()
}

// ManyResult is what the driver reports for N concurrent copies of a Scenario (RunMany).
type ManyResult struct {
	// N is the number of copies.
	N int `json:"n"`
	// OK counts the copies whose steps all passed.
	OK int `json:"ok"`
	// Failed counts the others.
	Failed int `json:"failed"`
	// Outcomes counts each copy's last socket-level event as "<name>" or "<name>:<detail>",
	// detail being its first argument when a string, else its data.code, else its code,
	// else its message, e.g. "disconnect:io server disconnect",
	// "connect_error:credentials_required"; "none" when a copy saw no socket event.
	Outcomes map[string]int `json:"outcomes"`
	// Events counts every event name over all copies.
	Events map[string]int `json:"events"`
	// Failures counts step failures as "step <i>: <failure>".
	Failures map[string]int `json:"failures"`
	// ReconnectAttempts is the total over all copies.
	ReconnectAttempts int `json:"reconnectAttempts"`
	// TerminalAtMaxMS is the latest time of a copy's last socket-level event, in
	// milliseconds since that copy's client was created.
	TerminalAtMaxMS int64 `json:"terminalAtMax"`
	// TerminalAtP50MS is the median of those times.
	TerminalAtP50MS int64 `json:"terminalAtP50"`
	// DurationMS is the length of the whole run in milliseconds.
	DurationMS int64 `json:"durationMs"`
}

// String renders the aggregate as JSON, for failure messages.
func (m ManyResult) String() string {
	b, _ := json.Marshal(m)
	return string(b)
}
