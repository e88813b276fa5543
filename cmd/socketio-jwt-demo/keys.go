package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// signer signs the demo's tokens with an asymmetric private key, so that
// the verifying side needs only the public half, published as a JWK Set.
type signer struct {
	key    crypto.Signer
	method jwt.SigningMethod
	kid    string // derived from the public key: the same key gives the same kid in every process
}

// generateSigner returns a signer with a fresh key: ES256 (P-256) or EdDSA
// (Ed25519).
func generateSigner(alg string) (*signer, error) {
	switch alg {
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		return newSigner(k)
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return newSigner(k)
	}
	return nil, fmt.Errorf("unknown algorithm %q (ES256 | EdDSA)", alg)
}

// loadSigner reads a PEM private key: PKCS#8 ("PRIVATE KEY": ECDSA,
// Ed25519 or RSA), SEC 1 ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY").
func loadSigner(path string) (*signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s: PEM block %q is not a private key (PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: unsupported key type %T", path, key)
	}
	sg, err := newSigner(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sg, nil
}

// newSigner picks the algorithm that key signs with.
func newSigner(key crypto.Signer) (*signer, error) {
	var method jwt.SigningMethod
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			method = jwt.SigningMethodES256
		case elliptic.P384():
			method = jwt.SigningMethodES384
		case elliptic.P521():
			method = jwt.SigningMethodES512
		default:
			return nil, errors.New("unsupported elliptic curve (P-256, P-384 or P-521)")
		}
	case ed25519.PrivateKey:
		method = jwt.SigningMethodEdDSA
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits: use at least 2048", k.N.BitLen())
		}
		method = jwt.SigningMethodRS256
	default:
		return nil, fmt.Errorf("unsupported key type %T (ECDSA, Ed25519 or RSA)", key)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &signer{key: key, method: method, kid: base64.RawURLEncoding.EncodeToString(sum[:12])}, nil
}

// alg returns the JWS algorithm, e.g. "ES256".
func (s *signer) alg() string { return s.method.Alg() }

// public returns the public key.
func (s *signer) public() crypto.PublicKey { return s.key.Public() }

// sign returns a token for claims, with the key's "kid" in its header.
func (s *signer) sign(claims jwt.MapClaims) (string, error) {
	tok := jwt.NewWithClaims(s.method, claims)
	tok.Header["kid"] = s.kid
	return tok.SignedString(s.key)
}

// jwks returns the JWK Set document that publishes the public key.
func (s *signer) jwks() ([]byte, error) {
	jwk, err := jwkset.NewJWKFromKey(s.public(), jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: s.kid, ALG: jwkset.ALG(s.alg()), USE: jwkset.UseSig},
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
}

// privatePEM returns the private key as a PKCS#8 PEM block.
func privatePEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
