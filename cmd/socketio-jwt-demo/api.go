package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/revoke"
)

// maxBody bounds the body of every API request.
const maxBody = 1 << 10

// maxName bounds a user name, in characters.
const maxName = 32

// routes registers the page, the API, the key set and the Socket.IO
// endpoint.
func (d *demo) routes(jwksDoc []byte, assets *clientAssets, metricsHandler http.Handler) {
	m := d.mux
	page := http.FileServerFS(webFS())
	m.Handle("GET /{$}", page)
	m.Handle("GET /app.js", page)
	m.Handle("GET /style.css", page)
	m.HandleFunc("GET /vendor/socket.io.min.js", static("text/javascript; charset=utf-8", assets.script))
	if assets.srcMap != nil {
		m.HandleFunc("GET /vendor/socket.io.min.js.map", static("application/json", assets.srcMap))
	}
	m.HandleFunc("GET /.well-known/jwks.json", static("application/jwk-set+json", jwksDoc))
	m.Handle("GET /metrics", metricsHandler)
	m.HandleFunc("POST /login", d.login)
	m.HandleFunc("POST /refresh", d.refresh)
	m.HandleFunc("POST /logout", d.logout)
	for _, p := range []string{"/login", "/refresh", "/logout"} {
		m.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, "use POST")
		})
	}
	m.Handle("/socket.io/", d.io.ServeHandler(nil))
}

// securityHeaders are set on every answer: the page loads only its own
// scripts and styles, and talks only to its own origin.
func securityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
}

func static(contentType string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(body)
	}
}

// loginRequest is the body of POST /login. Admin is a shortcut for Role
// "admin".
type loginRequest struct {
	Username string `json:"username"`
	Admin    bool   `json:"admin"`
	Role     string `json:"role"`
}

// login issues a token for a name and a role. Anyone may be an admin: the
// point is to show what the server does with the role, not to guard it.
func (d *demo) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if status, err := decodeBody(w, r, &req); err != nil {
		writeError(w, status, err.Error())
		return
	}
	name, err := validName(req.Username)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	role, err := validRole(req.Role, req.Admin)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	tok, err := d.issue("u-"+randomID(6), name, role, time.Now())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "signing failed")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
}

// maxSession is how long after its login a session may be refreshed: a
// token that leaked cannot be renewed for ever.
const maxSession = 12 * time.Hour

// refresh issues a new token for the same subject, name, role and login
// time as the valid, unrevoked bearer token, within maxSession of the
// login. The bearer token stays valid until it expires: the sockets that
// hold it are refreshed in-band with the new one.
func (d *demo) refresh(w http.ResponseWriter, r *http.Request) {
	res, ok := d.bearer(w, r)
	if !ok {
		return
	}
	u := userOf(res.Claims)
	login := res.Claims.IssuedAt
	if v, ok := res.Claims.Get("auth_time"); ok {
		if f, ok := v.(float64); ok {
			login = time.Unix(int64(f), 0)
		}
	}
	if time.Since(login) > maxSession {
		writeError(w, http.StatusUnauthorized, "session too old: log in again")
		return
	}
	tok, err := d.issue(u.Subject, u.Name, u.Role, login)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "signing failed")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
}

// logout ends the session: it revokes the bearer token's subject, which
// each login makes anew, so every token of the session goes (the earlier
// ones of its refresh chain too), the sockets that hold them are cut at
// once, and none opens or refreshes anything any more.
func (d *demo) logout(w http.ResponseWriter, r *http.Request) {
	res, ok := d.bearer(w, r)
	if !ok {
		return
	}
	// Kept until the last token of the session could expire.
	err := d.revoked.Revoke(r.Context(), revoke.Revocation{Subject: res.Claims.Subject, Expires: time.Now().Add(d.cfg.tokenTTL + time.Minute)})
	if err != nil {
		d.log.Error("revoke failed", "err", err)
		writeError(w, http.StatusInternalServerError, "revocation failed")
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"revoked": true})
}

// bearer verifies the request's "Authorization: Bearer" token, as the
// sockets' verifier does, and checks that it is not revoked. On failure it
// answers 401 and reports false.
func (d *demo) bearer(w http.ResponseWriter, r *http.Request) (*core.Result, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "bearer") || tok == "" {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeError(w, http.StatusUnauthorized, "want the token in an Authorization: Bearer header")
		return nil, false
	}
	res, err := d.verifier.Verify(r.Context(), tok, nil)
	if err == nil && res.Claims.ID == "" {
		err = core.NewError(core.CodeInvalidToken, "jwt id required", nil)
	}
	if err == nil {
		var revoked bool
		revoked, err = d.revoked.IsRevoked(r.Context(), revoke.Token{JTI: res.Claims.ID, Subject: res.Claims.Subject, IssuedAt: res.Claims.IssuedAt})
		if err == nil && revoked {
			err = core.NewError(core.CodeInvalidToken, "jwt revoked", nil)
		}
	}
	if err != nil {
		e := core.AsError(err)
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": e.Message, "code": e.Code})
		return nil, false
	}
	return res, true
}

// issue signs a token for the demo.
func (d *demo) issue(sub, name, role string, login time.Time) (string, error) {
	now := time.Now()
	return d.signer.sign(jwt.MapClaims{
		"iss":       issuer,
		"aud":       audience,
		"sub":       sub,
		"name":      name,
		"role":      role,
		"jti":       randomID(16),
		"iat":       now.Unix(),
		"exp":       now.Add(d.cfg.tokenTTL).Unix(),
		"auth_time": login.Unix(), // OpenID Connect's: when the user logged in
	})
}

var errTrailing = errors.New("trailing data after the JSON object")

// decodeBody reads one JSON object of at most maxBody bytes into v, with
// no unknown fields. On failure it returns the status to answer.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) (int, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			return http.StatusBadRequest, errTrailing
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", maxBody)
	case errors.Is(err, io.EOF):
		return http.StatusBadRequest, errors.New(`empty body: want {"username": "...", "admin": false}`)
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return http.StatusBadRequest, fmt.Errorf("field %q: want a %s", typeErr.Field, typeErr.Type)
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		return http.StatusBadRequest, fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return http.StatusBadRequest, errors.New(`bad JSON: want {"username": "...", "admin": false}`)
}

// validName checks a user name: 1 to 32 printable characters, spaces
// around it trimmed.
func validName(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", errors.New("username is required")
	case !utf8.ValidString(s):
		return "", errors.New("username is not valid UTF-8")
	case utf8.RuneCountInString(s) > maxName:
		return "", fmt.Errorf("username is longer than %d characters", maxName)
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return "", errors.New("username has characters that cannot be printed")
		}
	}
	return s, nil
}

// validRole resolves the requested role.
func validRole(role string, admin bool) (string, error) {
	switch role {
	case "":
		if admin {
			return roleAdmin, nil
		}
		return roleUser, nil
	case roleAdmin:
		return roleAdmin, nil
	case roleUser, roleViewer:
		if admin {
			return "", fmt.Errorf("role %q contradicts \"admin\": true", role)
		}
		return role, nil
	}
	return "", fmt.Errorf("unknown role %q (viewer | user | admin)", role)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
