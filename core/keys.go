package core

import "context"

// KeyRequest is what a KeyFunc receives: the handshake and the token's
// header and claims as decoded before any signature check. Nothing in it is
// trusted yet: choose a key with it, never grant anything from it.
type KeyRequest struct {
	// Handshake is the connection's handshake.
	Handshake *Handshake
	// Header is the token's JOSE header ("alg", "kid", "typ", ...).
	Header map[string]any
	// Claims are the token's unverified claims.
	Claims map[string]any
}

// Alg returns the token's "alg" header, or "".
func (r *KeyRequest) Alg() string { s, _ := r.Header["alg"].(string); return s }

// KeyID returns the token's "kid" header, or "".
func (r *KeyRequest) KeyID() string { s, _ := r.Header["kid"].(string); return s }

// Issuer returns the unverified "iss" claim, or "".
func (r *KeyRequest) Issuer() string { s, _ := r.Claims["iss"].(string); return s }

// KeyFunc returns the key that verifies one token: a []byte HMAC secret, an
// *rsa.PublicKey, an *ecdsa.PublicKey or an ed25519.PublicKey. It runs with
// a context bounded by the verifier's key timeout.
//
// An error that is (or wraps) an *Error reaches the client with that error's
// code and message; any other error becomes code "invalid_secret" with a
// fixed message, and its text stays on the server.
type KeyFunc func(ctx context.Context, req *KeyRequest) (any, error)
