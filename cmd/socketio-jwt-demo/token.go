package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// claimFlags collects repeated -claim name=value flags.
type claimFlags map[string]any

func (c claimFlags) String() string { return "" }

// Set parses name=value. A value that is JSON (true, 42, null, [1,2],
// {"a":1}, "quoted") keeps its JSON type; anything else is a string.
func (c claimFlags) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("%q: want name=value", s)
	}
	var v any
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		v = value
	}
	c[name] = v
	return nil
}

// tokenCommand mints a token for manual testing and prints it.
func tokenCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("socketio-jwt-demo token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := fs.String("sub", "", "subject (required)")
	name := fs.String("name", "", "display name (default: the subject)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	iss := fs.String("iss", issuer, `issuer ("" leaves it out)`)
	aud := fs.String("aud", audience, `audience ("" leaves it out)`)
	keyFile := fs.String("key", "", "sign with this PEM private key (as the demo server started with the same -key)")
	secret := fs.String("secret", "", "sign with HS256 and this secret instead (for servers that verify with a secret, such as interop/fixture; the demo server never accepts these)")
	claims := claimFlags{}
	fs.Var(claims, "claim", "extra claim name=value, repeatable (role=admin; JSON values keep their type: n=42, ok=true)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: socketio-jwt-demo token -sub NAME [-ttl D] [-claim k=v]... (-key FILE | -secret S)\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("token: unexpected argument %q", fs.Arg(0))
	case *sub == "":
		return errors.New("token: -sub is required")
	case *ttl <= 0:
		return errors.New("token: -ttl must be positive")
	case (*keyFile == "") == (*secret == ""):
		return errors.New("token: give exactly one of -key FILE and -secret S")
	}
	now := time.Now()
	c := jwt.MapClaims{
		"sub": *sub,
		"jti": randomID(16),
		"iat": now.Unix(),
		"exp": now.Add(*ttl).Unix(),
	}
	if *name != "" {
		c["name"] = *name
	}
	if *iss != "" {
		c["iss"] = *iss
	}
	if *aud != "" {
		c["aud"] = *aud
	}
	for k, v := range claims {
		c[k] = v
	}
	var tok string
	var err error
	if *secret != "" {
		tok, err = jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(*secret))
	} else {
		var s *signer
		if s, err = loadSigner(*keyFile); err == nil {
			tok, err = s.sign(c)
		}
	}
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// keygenCommand prints a new PEM private key for -key.
func keygenCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("socketio-jwt-demo keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	alg := fs.String("alg", "ES256", "ES256 or EdDSA")
	out := fs.String("out", "", "write to this new file (mode 0600) instead of standard output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("keygen: unexpected argument %q", fs.Arg(0))
	}
	s, err := generateSigner(*alg)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	pemBytes, err := privatePEM(s.key)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // never overwrite a key
		if err != nil {
			return fmt.Errorf("keygen: %w", err)
		}
		if _, err := f.Write(pemBytes); err != nil {
			_ = f.Close()
			return fmt.Errorf("keygen: %w", err)
		}
		return f.Close()
	}
	_, err = stdout.Write(pemBytes)
	return err
}
