package siojwt

import (
	"container/heap"
	"math"
	"sync"
	"time"

	"github.com/siojwt/siojwt/core"
	"github.com/siojwt/siojwt/internal/clock"
)

// expiries is the Auth's one timer for the expiry (and its warning) of
// every socket: the sessions with a deadline, in a min-heap by deadline,
// and one clock timer armed at the earliest. A runtime timer per socket
// cost about 160 bytes for the life of every socket; a place in the heap
// costs a pointer, and the session its deadline and index (12 bytes).
//
// A session's due and qi belong to the queue: they are read and written
// under its lock only. Lock order: a session's mu, then the queue's.
type expiries struct {
	mu    sync.Mutex
	heap  dueHeap
	timer clock.Timer // nil until the first deadline
	at    int64       // when timer fires, Unix nanoseconds; 0 when it is stopped
}

// dueHeap orders sessions by due (container/heap).
type dueHeap []*session

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].qi, h[j].qi = int32(i)+1, int32(j)+1
}
func (h *dueHeap) Push(x any) {
	ss := x.(*session)
	*h = append(*h, ss)
	ss.qi = int32(len(*h))
}
func (h *dueHeap) Pop() any {
	old := *h
	ss := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	ss.qi = 0
	return ss
}

// schedule sets the session's one deadline to at, in place of any earlier
// one.
func (a *Auth) schedule(ss *session, at time.Time) {
	q := &a.expiries
	q.mu.Lock()
	defer q.mu.Unlock()
	ss.due = unixNano(at)
	if ss.qi == 0 {
		heap.Push(&q.heap, ss)
	} else {
		heap.Fix(&q.heap, int(ss.qi)-1)
	}
	a.armLocked()
}

// unschedule drops the session's deadline, if it has one.
func (a *Auth) unschedule(ss *session) {
	q := &a.expiries
	q.mu.Lock()
	defer q.mu.Unlock()
	if ss.qi > 0 {
		heap.Remove(&q.heap, int(ss.qi)-1)
	}
	// The timer stays armed: when it fires with nothing due, it rearms for
	// the earliest deadline left, if any.
}

// scheduled reports whether the session has a deadline.
func (a *Auth) scheduled(ss *session) bool {
	a.expiries.mu.Lock()
	defer a.expiries.mu.Unlock()
	return ss.qi > 0
}

// armLocked arms the timer for the earliest deadline when it is not armed
// for it or earlier.
func (a *Auth) armLocked() {
	q := &a.expiries
	if len(q.heap) == 0 {
		return
	}
	next := q.heap[0].due
	if q.at != 0 && q.at <= next {
		return
	}
	q.at = next
	var d time.Duration // 0: a deadline already past
	if now := unixNano(a.clock.Now()); next > now {
		d = time.Duration(next - now)
	}
	if q.timer == nil {
		q.timer = a.clock.AfterFunc(d, a.fireExpiries)
	} else {
		q.timer.Reset(d)
	}
}

// unixNano is t in Unix nanoseconds, held to what an int64 holds (years
// 1678 to 2262): a token may expire thousands of years from now (up to
// core.MaxNumericDate), where time.Time.UnixNano wraps around, and such a
// deadline would come first in the heap and hold back every other.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(minUnixNano):
		return math.MinInt64
	case t.After(maxUnixNano):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var minUnixNano, maxUnixNano = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)

// fireExpiries runs on the timer: it takes every session that is due off
// the heap, rearms for the next deadline, and runs each session's onTimer,
// each on a goroutine of its own as a timer of its own would (a slow hook
// on one cut does not hold back the others): the first on the timer's
// goroutine, the others on new ones.
func (a *Auth) fireExpiries() {
	q := &a.expiries
	q.mu.Lock()
	now := unixNano(a.clock.Now())
	var due []*session
	for len(q.heap) > 0 && q.heap[0].due <= now {
		due = append(due, heap.Pop(&q.heap).(*session))
	}
	q.at = 0
	a.armLocked()
	q.mu.Unlock()
	for i, ss := range due {
		if i > 0 {
			go ss.onTimer()
		}
	}
	if len(due) > 0 {
		due[0].onTimer()
	}
}

// expiresLocked is when the socket will be cut unless it refreshes, and
// false when its token has no "exp" or expiry is not enforced. It is
// derived from the token each time rather than kept: one time.Time less
// for the life of every socket.
func (ss *session) expiresLocked() (time.Time, bool) {
	if ss.res == nil || !ss.a.expiry {
		return time.Time{}, false
	}
	return ss.ns.verifier.ExpiresAt(ss.res.Claims)
}

// scheduleLocked sets the socket's deadline for its current token: the
// warning point, or the expiry itself.
func (ss *session) scheduleLocked() {
	a := ss.a
	exp, ok := ss.expiresLocked()
	if !ok {
		a.unschedule(ss)
		return
	}
	ss.flags &^= flagWarned
	at := exp
	if a.warnBefore > 0 {
		// At the warning point, or at once for a token that is already
		// inside the warning window.
		at = exp.Add(-a.warnBefore)
	}
	a.schedule(ss, at)
}

// onTimer runs when the socket's deadline comes: it either warns and
// reschedules for the expiry itself, or cuts the socket.
func (ss *session) onTimer() {
	a := ss.a
	ss.mu.Lock()
	exp, ok := ss.expiresLocked()
	if !ss.liveLocked() || !ok {
		ss.mu.Unlock()
		return
	}
	left := exp.Sub(a.clock.Now())
	if left > 0 {
		if a.warnBefore > 0 && left > a.warnBefore {
			// Before the warning point: a refresh moved the deadline after
			// this one came due.
			a.schedule(ss, exp.Add(-a.warnBefore))
			ss.mu.Unlock()
			return
		}
		// The warning point: warn once per token, reschedule for the
		// expiry.
		a.schedule(ss, exp)
		warn := a.warnBefore > 0 && ss.flags&flagWarned == 0
		ss.flags |= flagWarned
		ss.mu.Unlock()
		if warn {
			_ = ss.s.Emit(a.warnEvent, map[string]any{"exp": exp.Unix(), "expiresIn": left.Milliseconds()})
		}
		return
	}
	res := ss.res
	ss.mu.Unlock()
	ss.cut(EventExpired, res, core.NewError(core.CodeInvalidToken, "jwt expired", nil))
}
