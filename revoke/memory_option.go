package revoke

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// MemoryOption configures a Memory in NewMemory. An option with an invalid
// value makes NewMemory fail.
type MemoryOption func(*Memory) error

// WithClock makes the Memory read the time from now instead of time.Now, to
// test expiry without waiting.
func WithClock(now func() time.Time) MemoryOption {
	return func(m *Memory) error {
		if now == nil {
			return errors.New("revoke: WithClock(nil)")
		}
		m.now = now
		return nil
	}
}

// WithMaxTokenLifetime sets how long a subject revocation without Expires is
// kept (DefaultMaxTokenLifetime by default): until Before+d. Set it to the
// longest lifetime (exp - iat) of the tokens the application accepts, clock
// tolerance included: shorter, and a subject revocation is forgotten while
// tokens it covers are still valid. JTI revocations carry their own Expires
// (see ForToken).
func WithMaxTokenLifetime(d time.Duration) MemoryOption {
	return func(m *Memory) error {
		if d <= 0 {
			return fmt.Errorf("revoke: WithMaxTokenLifetime(%v): not positive", d)
		}
		m.lifetime = d
		return nil
	}
}

// WithMaxEntries caps the number of entries at n (0, the default, means no
// cap). When a new identifier arrives at the cap, expired entries are removed
// first; if none has expired, the entry that expires first is forgotten, or
// the new revocation is not recorded when it would expire first itself, and
// a warning goes to the logger. A forgotten revocation no longer refuses its
// tokens: choose n above the number of revocations live at once, and use the
// cap as a guard against exhaustion only. Watchers still receive every
// revocation.
func WithMaxEntries(n int) MemoryOption {
	return func(m *Memory) error {
		if n < 0 {
			return fmt.Errorf("revoke: WithMaxEntries(%d): negative", n)
		}
		m.maxEntries = n
		return nil
	}
}

// WithSweepInterval sets how often a background goroutine removes expired
// entries (every minute by default). 0 disables the sweeper: expired entries
// are then removed only by Revoke calls, and are ignored by IsRevoked either
// way.
func WithSweepInterval(d time.Duration) MemoryOption {
	return func(m *Memory) error {
		if d < 0 {
			return fmt.Errorf("revoke: WithSweepInterval(%v): negative", d)
		}
		m.interval = d
		return nil
	}
}

// WithLogger sets the logger for warnings (entries dropped at the cap). By
// default nothing is logged.
func WithLogger(l *slog.Logger) MemoryOption {
	return func(m *Memory) error {
		if l == nil {
			return errors.New("revoke: WithLogger(nil)")
		}
		m.logger = l
		return nil
	}
}
