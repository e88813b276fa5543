package core

import "context"

// KeyRequest is what a key function receives: the handshake and the token's
// header and claims as decoded before any signature check. Nothing in it is
// trusted yet: choose a key with it, never grant anything from it.
type KeyRequest struct {
	// Handshake is the connection's handshake (nil when verifying a token
	// outside a handshake).
	Handshake *Handshake
	// Header is the token's JOSE header ("alg", "kid", "typ", ...).
	Header map[string]any

	claims *Claims
}

// Alg returns the token's "alg" header, or "".
func (r *KeyRequest) Alg() string { s, _ := r.Header["alg"].(string); return s }

// KeyID returns the token's "kid" header, or "".
func (r *KeyRequest) KeyID() string { s, _ := r.Header["kid"].(string); return s }

// Issuer returns the unverified "iss" claim, or "".
func (r *KeyRequest) Issuer() string {
	if r.claims == nil {
		return ""
	}
	return r.claims.Issuer
}

// Claims returns the token's unverified claims. They are decoded into a map
// on first use only, so key functions that need just the issuer or the
// header cost nothing more.
func (r *KeyRequest) Claims() map[string]any {
	if r.claims == nil {
		return nil
	}
	m, _ := r.claims.Map()
	return m
}

// NewKeyRequest builds a KeyRequest from a header and claims, for testing
// key functions and key sources.
func NewKeyRequest(hs *Handshake, header map[string]any, claims *Claims) *KeyRequest {
	return &KeyRequest{Handshake: hs, Header: header, claims: claims}
}

// KeyFunc returns the key that verifies one token: a []byte HMAC secret, an
// *rsa.PublicKey, an *ecdsa.PublicKey or an ed25519.PublicKey. It runs on a
// goroutine of its own with a context bounded by the verifier's key
// timeout, so that even a key function that ignores its context cannot hang
// a client.
//
// An error that is (or wraps) an *Error reaches the client with that error's
// code and message; any other error becomes code "invalid_secret" with a
// fixed message, and its text stays on the server.
type KeyFunc func(ctx context.Context, req *KeyRequest) (any, error)

// KeySource is a key function that honours its context (it returns soon
// after the context ends), such as a jwks.Set. WithKeySource calls it on the
// verifying goroutine, which saves a goroutine and a few microseconds per
// token compared with WithKeyFunc.
type KeySource interface {
	Key(ctx context.Context, req *KeyRequest) (any, error)
}
