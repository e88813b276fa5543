package revoke

import (
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/siojwt/siojwt/internal/logs"
)

// Memory is a Store and Watcher that keeps revocations in process memory:
// for a single server, or for tests. Its Watch sees the revocations made
// through this Memory only.
//
// IsRevoked costs one map lookup per identifier under a read lock and does
// not allocate. Expired entries are ignored at once and removed by later
// Revoke calls and by a background sweeper (see WithSweepInterval); with
// WithMaxEntries the number of entries is also capped.
//
// A Memory is safe for concurrent use. Call Close to stop its sweeper.
type Memory struct {
	now        func() time.Time
	lifetime   time.Duration
	maxEntries int
	interval   time.Duration
	logger     *slog.Logger
	capLogs    logs.Rate // the entry-cap warnings: a flood of revocations costs a few lines

	mu       sync.RWMutex
	jtis     map[string]*entry
	subjects map[string]*entry
	byExpiry expiryHeap
	watchers map[*watcher]struct{}
	closed   bool

	closeOnce sync.Once
	stop      chan struct{} // closed by Close
	swept     chan struct{} // closed when the sweeper has returned; nil without one
}

// entry is one recorded revocation, indexed by its identifier in jtis or
// subjects and by its expiry in byExpiry.
type entry struct {
	key     string
	subject bool
	before  time.Time // subject entries: the latest Before recorded
	expires time.Time // the latest Expires recorded
	index   int       // position in byExpiry
}

// NewMemory returns an empty Memory. Without options it keeps a subject
// revocation with no Expires for DefaultMaxTokenLifetime after its Before,
// sweeps expired entries every
// minute, reads time.Now and holds any number of entries. It returns an
// error for an invalid option.
func NewMemory(opts ...MemoryOption) (*Memory, error) {
	m := &Memory{
		now:      time.Now,
		lifetime: DefaultMaxTokenLifetime,
		interval: time.Minute,
		logger:   slog.New(slog.DiscardHandler),
		capLogs:  logs.Rate{Every: 10 * time.Second, Burst: 5},
		jtis:     make(map[string]*entry),
		subjects: make(map[string]*entry),
		watchers: make(map[*watcher]struct{}),
		stop:     make(chan struct{}),
	}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("revoke: nil MemoryOption")
		}
		if err := opt(m); err != nil {
			return nil, err
		}
	}
	if m.interval > 0 {
		m.swept = make(chan struct{})
		go m.sweep()
	}
	return m, nil
}

// Revoke records r, normalized at the Memory's current time, and hands it to
// every running Watch. An entry already recorded for the same identifier
// keeps the later of the two Before and the later of the two Expires. A
// revocation that has already expired is not recorded but is still handed to
// watchers. It returns an error wrapping ErrInvalid for an invalid r, and
// ErrClosed after Close. ctx is not used: Revoke does not block.
func (m *Memory) Revoke(_ context.Context, r Revocation) error {
	now := m.now()
	r, err := r.Normalize(now, m.lifetime)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.pruneLocked(now)
	if r.Expires.After(now) {
		m.putLocked(r)
	}
	for w := range m.watchers {
		w.push(r)
	}
	return nil
}

// IsRevoked reports whether t matches an unexpired entry (see
// Revocation.Matches). It never returns an error, and keeps answering after
// Close. ctx is not used.
func (m *Memory) IsRevoked(_ context.Context, t Token) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var jti, subject *entry
	if t.JTI != "" {
		jti = m.jtis[t.JTI]
	}
	if t.Subject != "" {
		subject = m.subjects[t.Subject]
		if subject != nil && !t.IssuedAt.IsZero() && !t.IssuedAt.Before(subject.before) {
			subject = nil
		}
	}
	if jti == nil && subject == nil {
		return false, nil
	}
	now := m.now()
	return (jti != nil && jti.expires.After(now)) ||
		(subject != nil && subject.expires.After(now)), nil
}

// Watch calls fn with every revocation made through this Memory, in order,
// until ctx ends or the Memory is closed. fn runs on the goroutine that
// called Watch; Revoke does not wait for it. Watch returns ctx.Err(), or
// ErrClosed after Close.
func (m *Memory) Watch(ctx context.Context, fn func(Revocation)) error {
	if fn == nil {
		return errors.New("revoke: Watch with a nil function")
	}
	w := &watcher{ready: make(chan struct{}, 1)}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	m.watchers[w] = struct{}{}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.watchers, w)
		m.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.stop:
			return ErrClosed
		case <-w.ready:
			for _, r := range w.take() {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				fn(r)
			}
		}
	}
}

// Close stops the sweeper and ends running Watch calls, and waits for the
// sweeper to return. Revoke fails afterwards; IsRevoked still answers from
// the entries held. Close always returns nil; calling it again does nothing.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		close(m.stop)
		if m.swept != nil {
			<-m.swept
		}
	})
	return nil
}

// sweep removes expired entries every interval until Close.
func (m *Memory) sweep() {
	defer close(m.swept)
	ticker := time.NewTicker(m.interval)
	defer ticker.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-ticker.C:
			now := m.now()
			m.mu.Lock()
			m.pruneLocked(now)
			m.mu.Unlock()
		}
	}
}

// pruneLocked removes the entries expired at now.
func (m *Memory) pruneLocked(now time.Time) {
	for len(m.byExpiry) > 0 && !m.byExpiry[0].expires.After(now) {
		m.removeLocked(heap.Pop(&m.byExpiry).(*entry))
	}
}

// removeLocked deletes e, already popped from byExpiry, from its map.
func (m *Memory) removeLocked(e *entry) {
	if e.subject {
		delete(m.subjects, e.key)
	} else {
		delete(m.jtis, e.key)
	}
}

// putLocked records the normalized, unexpired r, merging it into an existing
// entry or, when the cap is reached, evicting the entry that expires first
// (possibly r itself).
func (m *Memory) putLocked(r Revocation) {
	table, key, subject := m.jtis, r.JTI, false
	if r.Subject != "" {
		table, key, subject = m.subjects, r.Subject, true
	}
	if e := table[key]; e != nil {
		if r.Before.After(e.before) {
			e.before = r.Before
		}
		if r.Expires.After(e.expires) {
			e.expires = r.Expires
			heap.Fix(&m.byExpiry, e.index)
		}
		return
	}
	if m.maxEntries > 0 && len(m.byExpiry) >= m.maxEntries {
		first := m.byExpiry[0]
		if !r.Expires.After(first.expires) {
			if suppressed, ok := m.capLogs.Allow(m.now()); ok {
				m.logger.Warn("revoke: entry cap reached; the new revocation is not recorded",
					"max_entries", m.maxEntries, "subject", subject, "expires", r.Expires, "suppressed", suppressed)
			}
			return
		}
		heap.Pop(&m.byExpiry)
		m.removeLocked(first)
		if suppressed, ok := m.capLogs.Allow(m.now()); ok {
			m.logger.Warn("revoke: entry cap reached; forgetting the revocation that expires first",
				"max_entries", m.maxEntries, "subject", first.subject, "expires", first.expires, "suppressed", suppressed)
		}
	}
	e := &entry{key: key, subject: subject, before: r.Before, expires: r.Expires}
	table[key] = e
	heap.Push(&m.byExpiry, e)
}

// watcher queues revocations for one Watch call.
type watcher struct {
	ready chan struct{} // holds a signal while queue is not empty
	mu    sync.Mutex
	queue []Revocation
}

// push queues r and signals the Watch loop without blocking.
func (w *watcher) push(r Revocation) {
	w.mu.Lock()
	w.queue = append(w.queue, r)
	w.mu.Unlock()
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

// take empties the queue and returns what it held.
func (w *watcher) take() []Revocation {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queue
	w.queue = nil
	return q
}

// expiryHeap orders entries by expiry, earliest first (container/heap).
type expiryHeap []*entry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }

func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *expiryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *expiryHeap) Pop() any {
	old := *h
	n := len(old) - 1
	e := old[n]
	old[n] = nil
	*h = old[:n]
	e.index = -1
	return e
}
