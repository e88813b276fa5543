package redisrevoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/siojwt/siojwt/revoke"
)

// DefaultEventHistory is how many revocation events the event stream keeps
// unless WithEventHistory says otherwise.
const DefaultEventHistory = 10_000

// Bounds of the work a catch-up does.
const (
	catchUpPage = 1000 // entries per XRANGE
	scanCount   = 1000 // COUNT hint per SCAN
)

// WithEventHistory sets how many revocation events the event stream keeps
// (DefaultEventHistory by default). A server cut off from Redis replays the
// events it missed from the stream when it reconnects; when more than n
// were made meanwhile, it re-reads every recorded revocation instead (see
// the package documentation).
func WithEventHistory(n int) Option {
	return func(s *Store) error {
		if n <= 0 {
			return fmt.Errorf("redisrevoke: WithEventHistory(%d): not positive", n)
		}
		s.history = n
		return nil
	}
}

// announceScript appends the event ARGV[2] to the stream KEYS[1], trimmed to
// ARGV[1] entries, then publishes it on the channel ARGV[3] with the
// entry's ID as its first field. Both happen in one script so that the
// order of the IDs is the order of the messages: a Watch that skips
// messages at or below the last ID it read misses none. The event is a
// JSON object with at least one field.
const announceScript = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'e', ARGV[2])
redis.call('PUBLISH', ARGV[3], '{"id":"' .. id .. '",' .. string.sub(ARGV[2], 2))
return id
`

// announce appends payload to the event stream and publishes it.
func (s *Store) announce(ctx context.Context, payload string) error {
	return s.announcer.Run(ctx, s.client, []string{s.stream}, s.history, payload, s.channel).Err()
}

// streamID is the ID of a stream entry, "<ms>-<seq>".
type streamID struct{ ms, seq uint64 }

// parseStreamID parses "<ms>-<seq>".
func parseStreamID(v string) (streamID, bool) {
	ms, seq, ok := strings.Cut(v, "-")
	if !ok {
		return streamID{}, false
	}
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(seq, 10, 64)
	return streamID{a, b}, err1 == nil && err2 == nil
}

func (id streamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}

func (id streamID) less(o streamID) bool {
	return id.ms < o.ms || (id.ms == o.ms && id.seq < o.seq)
}

func (id streamID) isZero() bool { return id == streamID{} }

// eventID reads the "id" field of a published event, if any.
func eventID(payload string) (streamID, bool) {
	var e struct {
		ID string `json:"id"`
	}
	if json.Unmarshal([]byte(payload), &e) != nil || e.ID == "" {
		return streamID{}, false
	}
	return parseStreamID(e.ID)
}

// cursor is how far a Watch has read the event stream.
type cursor struct {
	last     streamID // the last event delivered, or the end of the stream at the first subscription
	known    bool     // last is set: every event after it was delivered or is to be caught up on
	started  bool     // a subscription came, or failed, before: the next one catches up
	behind   bool     // the last catch-up failed: events are missing after last
	replayed streamID // the last event a catch-up delivered
}

// fresh reports whether the event with this payload is to be delivered:
// a catch-up has not delivered it already. Events without an ID (published
// by an older version) are always delivered. Unless a catch-up is owed, the
// event moves the position forward.
func (c *cursor) fresh(payload string) bool {
	id, ok := eventID(payload)
	if !ok {
		return true
	}
	if !c.replayed.less(id) {
		return false
	}
	if !c.behind && (!c.known || c.last.less(id)) {
		c.last, c.known = id, true
	}
	return true
}

// advance notes an event delivered by a catch-up.
func (c *cursor) advance(id streamID) {
	if c.last.less(id) {
		c.last = id
	}
	if c.replayed.less(id) {
		c.replayed = id
	}
}

// subscribed runs when the subscription to the event channel is
// confirmed. The first time, unless the Watch could not subscribe at once,
// it notes the end of the stream; later, after a connection loss, it
// delivers to fn the events missed meanwhile (see catchUp).
func (s *Store) subscribed(ctx context.Context, c *cursor, fn func(revoke.Revocation)) {
	if !c.started {
		c.started = true
		last, err := s.streamEnd(ctx)
		if err != nil {
			// The next event sets the position; a reconnection before it
			// re-reads every recorded revocation.
			s.logger.Warn("redisrevoke: reading the end of the revocation stream", "error", err)
			return
		}
		c.last, c.known = last, true
		return
	}
	s.logger.Info("redisrevoke: resubscribed to revocation events after a connection loss; "+
		"reading the ones missed", "from", c.last.String(), "known", c.known)
	start := time.Now()
	n, full, err := s.catchUp(ctx, c, fn)
	c.behind = err != nil
	switch {
	case err != nil:
		s.logger.Error("redisrevoke: could not read the revocation events missed during a connection loss; "+
			"retrying at the next reconnection", "error", err, "from", c.last.String())
	case full:
		s.logger.Warn("redisrevoke: the stream could not tell which revocation events were missed during a "+
			"connection loss (trimmed, emptied, or no position in it was known), so every recorded revocation "+
			"was re-read", "revocations", n, "took", time.Since(start))
	default:
		s.logger.Info("redisrevoke: replayed the revocation events missed during a connection loss",
			"events", n, "took", time.Since(start))
	}
}

// streamEnd returns the ID of the last entry of the event stream, zero when
// it is empty.
func (s *Store) streamEnd(ctx context.Context) (streamID, error) {
	msgs, err := s.client.XRevRangeN(ctx, s.stream, "+", "-", 1).Result()
	if err != nil || len(msgs) == 0 {
		return streamID{}, err
	}
	id, ok := parseStreamID(msgs[0].ID)
	if !ok {
		return streamID{}, fmt.Errorf("malformed stream ID %q", msgs[0].ID)
	}
	return id, nil
}

// catchUp delivers the events after c.last and moves c.last past them. When
// the stream no longer holds every one of them (trimmed, or gone with a
// Redis that restarted empty), or c.last is not known (the end of the
// stream could not be read at the first subscription, or the Watch could
// not subscribe at once), it delivers every recorded revocation instead
// (full is true). n counts what was delivered.
func (s *Store) catchUp(ctx context.Context, c *cursor, fn func(revoke.Revocation)) (n int, full bool, err error) {
	info, err := s.client.XInfoStream(ctx, s.stream).Result()
	missing := err != nil && strings.Contains(err.Error(), "no such key")
	if err != nil && !missing {
		return 0, false, err
	}
	if missing {
		if c.known && c.last.isZero() {
			return 0, false, nil // never held an event
		}
		n, err := s.recheck(ctx, fn)
		if err == nil {
			// A new stream, if one starts, is read from its beginning.
			c.last, c.known = streamID{}, true
		}
		return n, true, err
	}
	if !c.known || s.trimmedPast(info, c.last) {
		end, _ := parseStreamID(info.LastEntry.ID)
		n, err := s.recheck(ctx, fn)
		if err == nil {
			c.advance(end)
			c.known = true
		}
		return n, true, err
	}
	// Pages bounded by the stream's length: every entry is read at most
	// once, even if events keep coming meanwhile (those also arrive on the
	// subscription).
	for range info.Length/catchUpPage + 1 {
		msgs, err := s.client.XRangeN(ctx, s.stream, "("+c.last.String(), "+", catchUpPage).Result()
		if err != nil {
			return n, false, err
		}
		for _, m := range msgs {
			id, ok := parseStreamID(m.ID)
			if !ok {
				continue
			}
			c.advance(id)
			payload, _ := m.Values["e"].(string)
			r, err := decodeEvent(payload)
			if err != nil {
				s.logger.Warn("redisrevoke: dropping a malformed revocation event from the stream",
					"id", m.ID, "error", err, "bytes", len(payload))
				continue
			}
			fn(r)
			n++
		}
		if len(msgs) < catchUpPage {
			break
		}
	}
	return n, false, nil
}

// trimmedPast reports whether entries after last may have been removed
// from the stream. Entries are only removed from its head, so while last
// itself is still there (the first entry is not after it) none after it
// was. A stream that was empty when the Watch started (last is zero) lost
// entries when it holds fewer than were ever added (Redis 7), or, on older
// versions, when it is full.
func (s *Store) trimmedPast(info *redis.XInfoStream, last streamID) bool {
	if deleted, ok := parseStreamID(info.MaxDeletedEntryID); ok && last.less(deleted) {
		return true
	}
	if !last.isZero() {
		first, ok := parseStreamID(info.FirstEntry.ID)
		return ok && last.less(first)
	}
	if info.EntriesAdded > 0 {
		return info.EntriesAdded > info.Length
	}
	return info.Length >= int64(s.history)
}

// recheck delivers every revocation recorded in Redis, read with SCAN (on
// every master of a cluster): the answer to events missed for good.
func (s *Store) recheck(ctx context.Context, fn func(revoke.Revocation)) (int, error) {
	var (
		mu    sync.Mutex
		found []revoke.Revocation
	)
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		rs, err := s.scanRevocations(ctx, c)
		mu.Lock()
		found = append(found, rs...)
		mu.Unlock()
		return err
	}
	var err error
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.client)
	}
	for _, r := range found {
		fn(r)
	}
	return len(found), err
}

// scanRevocations reads the revocations recorded on one server (or through
// one client): the token IDs from the key names, the subjects' Before from
// their values, read in pipelines of one GET per key found.
func (s *Store) scanRevocations(ctx context.Context, c redis.UniversalClient) ([]revoke.Revocation, error) {
	var out []revoke.Revocation
	jti, sub := s.jtiKey(""), s.subjectKey("")
	iter := c.Scan(ctx, 0, globEscape(s.prefix)+"*", scanCount).Iterator()
	var subjects []string
	for iter.Next(ctx) {
		key := iter.Val()
		switch {
		case strings.HasPrefix(key, jti):
			out = append(out, revoke.Revocation{JTI: key[len(jti):]})
		case strings.HasPrefix(key, sub):
			subjects = append(subjects, key)
		}
	}
	if err := iter.Err(); err != nil {
		return out, err
	}
	for len(subjects) > 0 {
		batch := subjects[:min(len(subjects), scanCount)]
		subjects = subjects[len(batch):]
		pipe := c.Pipeline()
		cmds := make([]*redis.StringCmd, len(batch))
		for i, k := range batch {
			cmds[i] = pipe.Get(ctx, k)
		}
		_, _ = pipe.Exec(ctx) // read per command below
		for i, cmd := range cmds {
			v, err := cmd.Result()
			if errors.Is(err, redis.Nil) {
				continue // expired since the scan
			}
			if err != nil {
				return out, err
			}
			us, perr := strconv.ParseInt(v, 10, 64)
			if perr != nil {
				s.logger.Warn("redisrevoke: skipping a malformed subject entry", "key", batch[i])
				continue
			}
			out = append(out, revoke.Revocation{Subject: batch[i][len(sub):], Before: time.UnixMicro(us)})
		}
	}
	return out, nil
}

// globEscape escapes the characters that a SCAN MATCH pattern reads as
// wildcards, so that the pattern matches s itself.
func globEscape(s string) string {
	var b strings.Builder
	for i := range len(s) {
		if strings.IndexByte(`*?[]\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
