// Package logs bounds what the library's packages write to a log: how
// often (Rate) and how much text that a client chose (Clip).
package logs

import (
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Rate lets Burst lines through per Every and counts the others, so that a
// flood (an attacker's rejected handshakes, a failing Redis) costs one
// line per interval rather than one per event. The zero value is not
// usable: set Every and Burst.
type Rate struct {
	Every time.Duration
	Burst int

	mu         sync.Mutex
	start      time.Time // of the current interval
	logged     int       // in the current interval
	suppressed int       // since the last line let through
}

// Allow reports whether to log now, with the number of lines suppressed
// since the last one let through (report it with the line).
func (r *Rate) Allow(now time.Time) (suppressed int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start.IsZero() || now.Sub(r.start) >= r.Every || now.Before(r.start) {
		r.start, r.logged = now, 0
	}
	if r.logged >= r.Burst {
		r.suppressed++
		return 0, false
	}
	r.logged++
	n := r.suppressed
	r.suppressed = 0
	return n, true
}

// Clip returns s cut to at most n bytes (on a rune boundary), followed by
// the length of what was cut, for text a client chose (a namespace name, a
// "kid", an error cause quoting one): a log line stays short whatever the
// client sends.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
