package redisrevoke

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Option configures a Store in New. An option with an invalid value makes
// New fail.
type Option func(*Store) error

// WithPrefix sets the string that starts every key and the event channel
// (DefaultPrefix by default). Servers that must share revocations use the
// same prefix; a separate prefix keeps separate applications on one Redis
// apart.
func WithPrefix(prefix string) Option {
	return func(s *Store) error {
		if prefix == "" {
			return errors.New("redisrevoke: WithPrefix(\"\"): keys without a prefix would mix with the application's")
		}
		s.prefix = prefix
		return nil
	}
}

// WithTimeout bounds each IsRevoked call (DefaultTimeout by default): it
// runs under context.WithTimeout(ctx, d). Every authentication waits up to d
// while Redis is unreachable, so keep it short.
func WithTimeout(d time.Duration) Option {
	return func(s *Store) error {
		if d <= 0 {
			return fmt.Errorf("redisrevoke: WithTimeout(%v): not positive", d)
		}
		s.timeout = d
		return nil
	}
}

// WithFailOpen, given true, makes IsRevoked return false and no error when
// Redis fails or times out, after passing the error to the handler set by
// WithErrorHandler, or else logging it. Revoked tokens are then accepted
// during an outage, and the sockets they open stay open after it, until
// their tokens expire or are revoked again: choose it only when
// availability matters more than revocation. The default, false, returns the error so that the caller
// refuses the token.
func WithFailOpen(failOpen bool) Option {
	return func(s *Store) error {
		s.failOpen = failOpen
		return nil
	}
}

// WithErrorHandler sets the function that receives the errors IsRevoked
// swallows in fail-open mode (for metrics or rate-limited logging); it
// replaces the warning logged for each. It is called on the goroutine of
// IsRevoked and must be safe for concurrent use.
func WithErrorHandler(fn func(error)) Option {
	return func(s *Store) error {
		if fn == nil {
			return errors.New("redisrevoke: WithErrorHandler(nil)")
		}
		s.onError = fn
		return nil
	}
}

// WithLogger sets the logger for warnings: malformed events, resubscription
// after a connection loss, errors swallowed in fail-open mode. By default
// nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) error {
		if l == nil {
			return errors.New("redisrevoke: WithLogger(nil)")
		}
		s.logger = l
		return nil
	}
}

// WithMaxTokenLifetime sets how long after its Before a subject revocation
// without Expires is kept (revoke.DefaultMaxTokenLifetime by default): see
// revoke.Revocation.Normalize. Set it to the longest lifetime (exp - iat) of
// the tokens the application accepts, clock tolerance included. JTI
// revocations carry their own Expires (see revoke.ForToken).
func WithMaxTokenLifetime(d time.Duration) Option {
	return func(s *Store) error {
		if d <= 0 {
			return fmt.Errorf("redisrevoke: WithMaxTokenLifetime(%v): not positive", d)
		}
		s.lifetime = d
		return nil
	}
}
