package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// readRegistered reads the registered claims from a payload that is valid
// JSON (json.Unmarshal checks the whole input before it calls
// UnmarshalJSON; parse calls json.Valid). It makes one pass over the
// top-level object, skipping the application's claims without decoding
// them, which is what makes verification cheaper than decoding into a map.
// Keys match exactly (JSON is case-sensitive; encoding/json's struct
// decoding is not), and a repeated key keeps its last value, as JSON.parse
// does.
//
// It also reports, in huge, a number beyond float64's range anywhere in
// the payload but in the values exp, nbf and iat keep (which have their own
// messages): such a payload cannot be read as a map (Claims.Map), and
// golang-jwt refuses it as malformed.
func readRegistered(b []byte) (r registered, huge, ok bool) {
	var hugeExp, hugeNbf, hugeIat bool
	keep := func(dst *json.RawMessage, dstHuge *bool, val []byte) {
		huge = huge || *dstHuge // a repeated key: the value it replaces
		*dst, *dstHuge = val, hugeNumber(val)
	}
	ok = members(b, func(key, val []byte) {
		switch unquoteKey(key) {
		case "exp":
			keep(&r.Exp, &hugeExp, val)
			return
		case "nbf":
			keep(&r.Nbf, &hugeNbf, val)
			return
		case "iat":
			keep(&r.Iat, &hugeIat, val)
			return
		case "iss":
			r.Iss = val
		case "sub":
			r.Sub = val
		case "jti":
			r.Jti = val
		case "aud":
			r.Aud = val
		}
		huge = huge || hugeNumber(val)
	})
	return r, huge, ok
}

// hugeNumber reports whether the JSON value v holds a number beyond
// float64's range. Only a number with an exponent or of more than 308
// digits can be: the others are not parsed.
func hugeNumber(v []byte) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"':
			if i = skipString(v, i); i < 0 {
				return false
			}
			i--
		case c == '-' || c >= '0' && c <= '9':
			j, exp := i, false
			for j < len(v) && (v[j] == '-' || v[j] == '+' || v[j] == '.' || v[j] == 'e' || v[j] == 'E' || v[j] >= '0' && v[j] <= '9') {
				exp = exp || v[j] == 'e' || v[j] == 'E'
				j++
			}
			if exp || j-i > 308 {
				if _, err := strconv.ParseFloat(string(v[i:j]), 64); err != nil {
					return true
				}
			}
			i = j - 1
		}
	}
	return false
}

// members calls fn with the quoted key and the raw value of each member of
// the top-level object in b, which must be valid JSON. It reports false
// when b is not an object.
func members(b []byte, fn func(key, val []byte)) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			return true
		}
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		if i >= len(b) || b[i] != '"' {
			return false
		}
		kEnd := skipString(b, i)
		if kEnd < 0 {
			return false
		}
		key := b[i:kEnd]
		i = skipSpace(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		vEnd := skipValue(b, i)
		if vEnd < 0 {
			return false
		}
		fn(key, b[i:vEnd])
		i = vEnd
	}
}

// knownKeys are the member names the scanners look for, all of three or
// four letters.
var knownKeys = [...]string{"iss", "sub", "jti", "aud", "exp", "nbf", "iat", "alg", "crit"}

// unquoteKey returns the name of a quoted member key when it is one of
// knownKeys, and "" otherwise. The common case, a key without escapes,
// allocates nothing.
func unquoteKey(k []byte) string {
	if len(k) < 2 {
		return ""
	}
	inner := k[1 : len(k)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		var s string
		if json.Unmarshal(k, &s) != nil {
			return ""
		}
		inner = []byte(s)
	}
	if len(inner) != 3 && len(inner) != 4 {
		return ""
	}
	for _, n := range knownKeys {
		if string(inner) == n {
			return n
		}
	}
	return ""
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = skipString(b, j)
				if j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// stringValue decodes a JSON string value, fast when it has no escapes.
func stringValue(r json.RawMessage) (string, bool) {
	if len(r) < 2 || r[0] != '"' {
		return "", false
	}
	inner := r[1 : len(r)-1]
	if strings.IndexByte(string(inner), '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(r, &s) != nil {
		return "", false
	}
	return s, true
}

// numberValue decodes a JSON number value; one beyond float64's range is
// ±Inf.
func numberValue(r json.RawMessage) (float64, bool) {
	if len(r) == 0 || !(r[0] == '-' || r[0] >= '0' && r[0] <= '9') {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(r), 64)
	return v, err == nil || errors.Is(err, strconv.ErrRange)
}
