package core

import (
	"net/http"
	"strings"
)

// Extract finds the token in a handshake, in the order and with the errors
// of socketio-jwt (see "Token sources and their order" in the package
// documentation). The value returned is the token as the client sent it:
// usually a string, but a client may send a number or an object in the
// handshake payload, which Verify refuses with "jwt must be a string".
//
// Precedence: the handshake payload's "token", then the "token" query
// parameter, then the Authorization header, then the cookie. A source that
// is malformed (an Authorization header not of the form "<scheme> <value>")
// is an error only when no source before it carried a token.
func (v *Verifier) Extract(hs *Handshake) (any, error) {
	if hs == nil {
		hs = &Handshake{} // as Verify allows: nothing to extract
	}
	c := &v.cfg
	var bearer string
	var badHeader bool // present but not "<scheme> <value>"
	if !c.noHeader || c.headerRequired {
		if h := hs.Header.Get("Authorization"); h != "" {
			scheme, tok, ok := strings.Cut(h, " ")
			if !ok || strings.Contains(tok, " ") {
				badHeader = true
			} else if strings.EqualFold(scheme, "bearer") {
				bearer = tok
			}
		}
	}
	errBadHeader := func() error {
		return fail(ErrCredentialsBadFormat, CodeCredentialsBadFormat, "Format is Authorization: Bearer [token]", nil)
	}
	if c.headerRequired {
		if badHeader {
			return nil, errBadHeader()
		}
		if bearer == "" {
			return nil, fail(ErrCredentialsRequired, CodeMissingAuthorizationHeader, "Server requires Authorization Header", nil)
		}
		return bearer, nil
	}
	if !c.noAuth && hs.HasAuth {
		switch t := hs.Auth.(type) {
		case nil:
		case string:
			if t = stripBearer(t); t != "" {
				return t, nil
			}
		case []string:
			// EIO3 clients on a non-root namespace: the query arrives here.
			if len(t) > 0 {
				if tok := stripBearer(t[0]); tok != "" {
					return tok, nil
				}
			}
		default:
			return t, nil
		}
	}
	if !c.noQuery {
		if t := hs.Query.Get("token"); t != "" {
			return t, nil
		}
	}
	// A malformed header counts only when no source before it carried a
	// token: a lower source never overrides a higher one.
	if badHeader {
		return nil, errBadHeader()
	}
	if bearer != "" {
		return bearer, nil
	}
	if c.cookie != "" {
		if t := cookieValue(hs.Header, c.cookie); t != "" {
			return t, nil
		}
	}
	return nil, fail(ErrCredentialsRequired, CodeCredentialsRequired, "no token provided", nil)
}

// ExtractCookie returns the configured cookie's value from a handshake, or
// "" (post-connect mode reads it when authenticate carries no token).
func (v *Verifier) ExtractCookie(hs *Handshake) string {
	if v.cfg.cookie == "" || hs == nil {
		return ""
	}
	return cookieValue(hs.Header, v.cfg.cookie)
}

// stripBearer drops a "Bearer " prefix; "Bearer " alone leaves "", which
// is no token (the next source is read).
func stripBearer(s string) string {
	if len(s) >= 7 && strings.EqualFold(s[:7], "bearer ") {
		return strings.TrimSpace(s[7:])
	}
	return s
}

func cookieValue(h http.Header, name string) string {
	if len(h["Cookie"]) == 0 {
		return ""
	}
	r := http.Request{Header: h}
	ck, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return ck.Value
}
