package core

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// FuzzReadRegistered checks the one-pass claim reader against
// encoding/json's decoding into a map, on every valid JSON object.
func FuzzReadRegistered(f *testing.F) {
	for _, s := range []string{
		`{"sub":"a","exp":1,"x":{"y":[1,"}",{"z":"\""}]}}`,
		`{"sub":"a","sub":"b"}`,
		`{ "aud" : ["a","b"] , "iat":1.5e9 }`,
		`{"\u0073ub":"esc","SUB":"upper"}`,
		`{}`, `{"exp":null,"nbf":"x","iss":"é\n"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		var ref map[string]json.RawMessage
		if json.Unmarshal(b, &ref) != nil || ref == nil {
			return
		}
		r, _, ok := readRegistered(bytes.TrimSpace(b))
		if !ok {
			t.Fatalf("valid object refused: %s", s)
		}
		for name, got := range map[string]json.RawMessage{"iss": r.Iss, "sub": r.Sub, "jti": r.Jti, "aud": r.Aud, "exp": r.Exp, "nbf": r.Nbf, "iat": r.Iat} {
			want := ref[name]
			if !bytes.Equal(compact(t, got), compact(t, want)) {
				t.Fatalf("%s: got %s, want %s (input %s)", name, got, want, s)
			}
		}
	})
}

func compact(t *testing.T, r json.RawMessage) []byte {
	if len(r) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, r); err != nil {
		t.Fatalf("compact %s: %v", r, err)
	}
	return buf.Bytes()
}

func TestNumberAndStringValues(t *testing.T) {
	tests := []struct {
		in  string
		num float64
		isN bool
		str string
		isS bool
	}{
		{in: `1700000000`, num: 1700000000, isN: true},
		{in: `1.7e9`, num: 1.7e9, isN: true},
		{in: `-5`, num: -5, isN: true},
		{in: `1e309`, num: math.Inf(1), isN: true},
		{in: `"5"`, str: "5", isS: true},
		{in: `"a\"b"`, str: `a"b`, isS: true},
		{in: `true`},
		{in: `null`},
	}
	for _, tt := range tests {
		n, okN := numberValue(json.RawMessage(tt.in))
		s, okS := stringValue(json.RawMessage(tt.in))
		if okN != tt.isN || n != tt.num || okS != tt.isS || s != tt.str {
			t.Errorf("%s: number (%v,%v) string (%q,%v)", tt.in, n, okN, s, okS)
		}
	}
}

// TestHugeNumber: claims holding a number beyond float64's range outside
// the final exp, nbf and iat are refused as malformed (invalid token), as
// golang-jwt refuses them; they cannot be read as a map. The fuzzer found
// one nested in a custom claim that parse accepted.
func TestHugeNumber(t *testing.T) {
	tests := []struct {
		payload string
		huge    bool
	}{
		{`{"sub":"a","n":1e308}`, false},
		{`{"sub":"a","n":1e309}`, true},
		{`{"sub":"a","n":-1e309}`, true},
		{`{"x":{"y":[1,` + strings.Repeat("9", 400) + `]}}`, true},
		{`{"x":"1e999"}`, false},           // a string
		{`{"x":"\"1e999"}`, false},         // an escaped quote in a string
		{`{"n":1e-400}`, false},            // underflow is 0, as encoding/json reads it
		{`{"exp":1e309}`, false},           // exp has its own message
		{`{"exp":1e309,"exp":1}`, true},    // a replaced exp still counts
		{`{"iat":1e309,"sub":"a"}`, false}, // so has iat
		{`{"n":123456789012345678901234567890}`, false},
	}
	for _, tt := range tests {
		_, huge, ok := readRegistered([]byte(tt.payload))
		if !ok || huge != tt.huge {
			t.Errorf("%s: huge %v, ok %v; want huge %v", tt.payload, huge, ok, tt.huge)
		}
		var m map[string]any
		if refErr := json.Unmarshal([]byte(tt.payload), &m); tt.huge && refErr == nil {
			t.Errorf("%s: encoding/json reads it, but it is called huge", tt.payload)
		}
	}
	c := new(Claims)
	if err := c.decode([]byte(`{"sub":"a","n":1e309}`)); err == nil {
		t.Fatal("decode accepted a huge number")
	}
}
