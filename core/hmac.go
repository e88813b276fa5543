package core

import (
	"crypto/hmac"
	"hash"
	"sync"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
)

// hmacPools verifies the HMAC signatures made with the verifier's own
// secret. golang-jwt's SigningMethodHMAC.Verify builds a new keyed HMAC for
// each token: two hash states, the key's two padded blocks hashed, about
// 700 bytes allocated. A keyed HMAC, once reset, returns to its keyed
// state without hashing the key again, so each algorithm keeps a pool of
// them. Secrets from a key function are verified by golang-jwt.
type hmacPools map[string]*sync.Pool // algorithm ->

// newHMACPools returns the pools for an HMAC secret, nil for any other key.
func newHMACPools(key any) hmacPools {
	secret, ok := key.([]byte)
	if !ok {
		return nil
	}
	pools := hmacPools{}
	for _, m := range []*jwt.SigningMethodHMAC{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
		pools[m.Alg()] = &sync.Pool{New: func() any { return &keyedHMAC{mac: hmac.New(m.Hash.New, secret)} }}
	}
	return pools
}

// keyedHMAC is an HMAC keyed with the verifier's secret, with room for its
// sum.
type keyedHMAC struct {
	mac hash.Hash
	sum []byte
}

// verify checks sig, the HMAC of signing made with alg and the verifier's
// secret; handled is false when there is no pool for alg (the caller then
// verifies it with golang-jwt). The error is golang-jwt's.
func (p hmacPools) verify(alg, signing string, sig []byte) (handled bool, err error) {
	pool := p[alg]
	if pool == nil {
		return false, nil
	}
	k := pool.Get().(*keyedHMAC)
	defer pool.Put(k)
	k.mac.Reset()
	// Not a copy: a hash.Hash is an io.Writer, which must neither change
	// nor keep what it is given.
	k.mac.Write(unsafe.Slice(unsafe.StringData(signing), len(signing)))
	k.sum = k.mac.Sum(k.sum[:0])
	if !hmac.Equal(sig, k.sum) {
		return true, jwt.ErrSignatureInvalid
	}
	return true, nil
}
