package core

import (
	"net/http"
	"net/url"
)

// Handshake is what a client presented when it connected, converted once
// from the socket server's untyped maps. It is everything the core needs to
// find a token and to choose a key; it carries no server library types.
type Handshake struct {
	// Namespace is the Socket.IO namespace the client is joining, e.g. "/".
	Namespace string
	// Auth is the handshake payload's "token" value exactly as decoded (a
	// string for well-behaved clients; anything else is refused), and HasAuth
	// tells whether the payload had a "token" key at all.
	Auth    any
	HasAuth bool
	// Header holds the HTTP request headers (canonical keys). It may be
	// the request's own map: read it, do not change it.
	Header http.Header
	// Query holds the request's query parameters.
	Query url.Values
	// RemoteAddr is the client address as the server decided to trust it
	// (see the binding's trusted-proxy option).
	RemoteAddr string
}
