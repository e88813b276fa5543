package redisrevoke

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/siojwt/siojwt/internal/redistest"
	"github.com/siojwt/siojwt/revoke"
)

// partitioned starts a Redis, a Store "a" that reaches it through a proxy
// the test cuts, and a Store "b" that reaches it directly, with a Watch on
// a that has subscribed and heard one event.
func partitioned(t *testing.T, aOpts, bOpts []Option) (proxy *redistest.Proxy, a, b *Store, got <-chan revoke.Revocation) {
	t.Helper()
	addr, _, _ := redistest.Start(t)
	proxy = redistest.NewProxy(t, addr)
	direct := newClient(t, addr)
	a = newStore(t, newClient(t, proxy.Addr()), aOpts...)
	b = newStore(t, direct, bOpts...)
	got, _ = watch(t, a)
	waitSubscribers(t, direct, DefaultPrefix+"events", 1)
	if err := b.Revoke(context.Background(), revoke.JTI("warm-up", revoke.Forever)); err != nil {
		t.Fatal(err)
	}
	if r := receive(t, got); r.JTI != "warm-up" {
		t.Fatalf("got %+v, want warm-up", r)
	}
	return proxy, a, b, got
}

// cutFor cuts the proxy, runs during while it is cut, holds the cut for d
// in all, and restores it, returning when.
func cutFor(t *testing.T, p *redistest.Proxy, d time.Duration, during func()) time.Time {
	t.Helper()
	p.Cut()
	start := time.Now()
	during()
	time.Sleep(d - time.Since(start))
	p.Restore()
	return time.Now()
}

// TestWatchCatchesUpAfterPartition: a server cut off from Redis for 3 s,
// while another revokes a token ID and a subject, hears both once the
// connection is back, exactly once each.
func TestWatchCatchesUpAfterPartition(t *testing.T) {
	logger, logs := newLogger()
	proxy, _, b, got := partitioned(t, []Option{WithLogger(logger)}, nil)
	ctx := context.Background()
	back := cutFor(t, proxy, 3*time.Second, func() {
		if err := b.Revoke(ctx, revoke.JTI("missed", revoke.Forever)); err != nil {
			t.Fatal(err)
		}
		if err := b.Revoke(ctx, revoke.Revocation{Subject: "alice"}); err != nil {
			t.Fatal(err)
		}
	})
	first := receive(t, got)
	caughtUp := time.Since(back)
	second := receive(t, got)
	t.Logf("first missed revocation delivered %v after the connection came back", caughtUp)
	if first.JTI != "missed" || second.Subject != "alice" || second.Before.IsZero() {
		t.Fatalf("got %+v then %+v, want jti missed then subject alice", first, second)
	}
	// The catch-up bound the deployment guide gives, 2 s, is 20 times the
	// client's 100 ms between reconnection attempts.
	if caughtUp > 2*time.Second {
		t.Errorf("caught up %v after the connection came back, want under 2s", caughtUp)
	}
	// Live events still arrive, once: the replayed ones are not delivered
	// again by the subscription.
	if err := b.Revoke(ctx, revoke.JTI("live", revoke.Forever)); err != nil {
		t.Fatal(err)
	}
	if r := receive(t, got); r.JTI != "live" {
		t.Fatalf("got %+v, want live (a replayed event delivered twice?)", r)
	}
	if !strings.Contains(logs.String(), "replayed the revocation events missed") || !strings.Contains(logs.String(), "events=2") {
		t.Errorf("no catch-up line for 2 events logged; log:\n%s", logs.String())
	}
}

// TestWatchRechecksWhenStreamTrimmed: when more revocations were made during
// the partition than the stream keeps, the cut-off server re-reads every
// recorded revocation, and says so.
func TestWatchRechecksWhenStreamTrimmed(t *testing.T) {
	logger, logs := newLogger()
	proxy, _, b, got := partitioned(t, []Option{WithLogger(logger)}, []Option{WithEventHistory(2)})
	ctx := context.Background()
	want := map[string]bool{"warm-up": true}
	cutFor(t, proxy, 500*time.Millisecond, func() {
		for _, jti := range []string{"m1", "m2", "m3", "m4"} {
			want[jti] = true
			if err := b.Revoke(ctx, revoke.JTI(jti, revoke.Forever)); err != nil {
				t.Fatal(err)
			}
		}
		want["bob"] = true
		if err := b.Revoke(ctx, revoke.Revocation{Subject: "bob"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	for len(want) > 0 {
		r := receive(t, got)
		name := r.JTI + r.Subject
		if !want[name] {
			t.Fatalf("got %+v, not recorded or delivered twice; still expected %v", r, want)
		}
		if r.Subject != "" && r.Before.IsZero() {
			t.Errorf("subject revocation without Before: %+v", r)
		}
		delete(want, name)
	}
	// The warning follows the deliveries.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "re-read") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the full re-check within 10s; log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatchOlderPublisher: an event without a stream ID, as an older
// version publishes it, is delivered.
func TestWatchOlderPublisher(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	client := newClient(t, addr)
	s := newStore(t, client)
	got, _ := watch(t, s)
	waitSubscribers(t, client, DefaultPrefix+"events", 1)
	if err := client.Publish(context.Background(), DefaultPrefix+"events", `{"jti":"old"}`).Err(); err != nil {
		t.Fatal(err)
	}
	if r := receive(t, got); r.JTI != "old" {
		t.Fatalf("got %+v, want old", r)
	}
}

func TestStreamID(t *testing.T) {
	for _, bad := range []string{"", "1", "a-1", "1-b", "-1", "1-"} {
		if _, ok := parseStreamID(bad); ok {
			t.Errorf("parseStreamID(%q) accepted", bad)
		}
	}
	a, _ := parseStreamID("5-10")
	b, _ := parseStreamID("10-1")
	if !a.less(b) || b.less(a) || a.less(a) || a.String() != "5-10" {
		t.Errorf("ordering of %v and %v", a, b)
	}
	var c cursor
	c.last, c.known = streamID{9, 0}, true // the end of the stream when first subscribed
	if !c.fresh(`{"id":"5-1","jti":"x"}`) {
		t.Error("cursor skips an event published before it read the end of the stream")
	}
	c.advance(streamID{5, 1})
	if c.fresh(`{"id":"5-1","jti":"x"}`) || c.fresh(`{"id":"4-9","jti":"x"}`) {
		t.Error("cursor delivers an ID a catch-up replayed")
	}
	if c.last != (streamID{9, 0}) {
		t.Errorf("last moved back to %v", c.last)
	}
	if !c.fresh(`{"jti":"no id"}`) || !c.fresh(`{"id":"6-0"}`) {
		t.Error("cursor skips an event without ID or with a later one")
	}
}

func TestWithEventHistory(t *testing.T) {
	client := newClient(t, "127.0.0.1:1")
	for _, n := range []int{0, -1} {
		if _, err := New(client, WithEventHistory(n)); err == nil {
			t.Errorf("WithEventHistory(%d) accepted", n)
		}
	}
}

// flaky is a client hook that fails the first command named fail, as a
// connection dropping at that moment would, and counts the attempts to
// send it and the dials.
type flaky struct {
	fail  string
	sent  atomic.Int64
	dials atomic.Int64
}

func (h *flaky) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		h.dials.Add(1)
		return next(ctx, network, addr)
	}
}

func (h *flaky) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == h.fail && h.sent.Add(1) == 1 {
			cmd.SetErr(errors.New("flaky: injected failure"))
			return cmd.Err()
		}
		return next(ctx, cmd)
	}
}

func (h *flaky) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWatchCatchesUpAfterFailedFirstRead: when reading the end of the
// stream fails at the first subscription, the Watch does not know where it
// stands; the next reconnection re-reads every recorded revocation instead
// of taking itself for a first subscription and missing those made during
// the connection loss.
func TestWatchCatchesUpAfterFailedFirstRead(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	proxy := redistest.NewProxy(t, addr)
	direct := newClient(t, addr)
	hook := &flaky{fail: "xrevrange"}
	cut := newClient(t, proxy.Addr())
	cut.AddHook(hook)
	logger, logs := newLogger()
	a, b := newStore(t, cut, WithLogger(logger)), newStore(t, direct)
	got, _ := watch(t, a)
	waitSubscribers(t, direct, DefaultPrefix+"events", 1)
	waitFor(t, "reading the end of the stream", func() bool { return hook.sent.Load() > 0 })
	ctx := context.Background()
	cutFor(t, proxy, 500*time.Millisecond, func() {
		if err := b.Revoke(ctx, revoke.JTI("missed", revoke.Forever)); err != nil {
			t.Fatal(err)
		}
	})
	if r := receive(t, got); r.JTI != "missed" {
		t.Fatalf("got %+v, want missed", r)
	}
	if err := b.Revoke(ctx, revoke.JTI("live", revoke.Forever)); err != nil {
		t.Fatal(err)
	}
	if r := receive(t, got); r.JTI != "live" {
		t.Fatalf("got %+v, want live; log:\n%s", r, logs.String())
	}
}

// TestWatchStartedDuringPartition: a Watch started while Redis is
// unreachable delivers, once it subscribes, the revocations made meanwhile.
func TestWatchStartedDuringPartition(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	proxy := redistest.NewProxy(t, addr)
	direct := newClient(t, addr)
	hook := &flaky{}
	cut := newClient(t, proxy.Addr())
	cut.AddHook(hook)
	a, b := newStore(t, cut, WithFailOpen(true)), newStore(t, direct)
	ctx := context.Background()
	proxy.Cut()
	got, _ := watch(t, a)
	waitFor(t, "the Watch trying to connect", func() bool { return hook.dials.Load() > 0 })
	if err := b.Revoke(ctx, revoke.JTI("missed", revoke.Forever)); err != nil {
		t.Fatal(err)
	}
	proxy.Restore()
	if r := receive(t, got); r.JTI != "missed" {
		t.Fatalf("got %+v, want missed", r)
	}
	waitSubscribers(t, direct, DefaultPrefix+"events", 1)
	if err := b.Revoke(ctx, revoke.JTI("live", revoke.Forever)); err != nil {
		t.Fatal(err)
	}
	if r := receive(t, got); r.JTI != "live" {
		t.Fatalf("got %+v, want live", r)
	}
}

// TestRecheckGlobPrefix: the full re-read finds the keys of a prefix that
// holds characters SCAN MATCH reads as wildcards.
func TestRecheckGlobPrefix(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	client := newClient(t, addr)
	ctx := context.Background()
	for _, prefix := range []string{"app[1]:", `back\slash:`, "a*b:", "q?:", "plain:"} {
		s := newStore(t, client, WithPrefix(prefix))
		if err := s.Revoke(ctx, revoke.JTI("t-"+prefix, revoke.Forever)); err != nil {
			t.Fatal(err)
		}
		var found []string
		if _, err := s.recheck(ctx, func(r revoke.Revocation) { found = append(found, r.JTI) }); err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 || found[0] != "t-"+prefix {
			t.Errorf("prefix %q: recheck found %q, want [t-%s]", prefix, found, prefix)
		}
	}
}

// TestWatchRetriesFailedCatchUp: when the catch-up after a reconnection
// fails, the events that arrive live do not move the Watch's position past
// the ones it missed: the next reconnection still delivers them.
func TestWatchRetriesFailedCatchUp(t *testing.T) {
	addr, _, _ := redistest.Start(t)
	proxy := redistest.NewProxy(t, addr)
	direct := newClient(t, addr)
	hook := &flaky{fail: "xinfo"}
	cut := newClient(t, proxy.Addr())
	cut.AddHook(hook)
	logger, logs := newLogger()
	a, b := newStore(t, cut, WithLogger(logger)), newStore(t, direct)
	got, _ := watch(t, a)
	waitSubscribers(t, direct, DefaultPrefix+"events", 1)
	ctx := context.Background()
	revokeJTI := func(jti string) {
		t.Helper()
		if err := b.Revoke(ctx, revoke.JTI(jti, revoke.Forever)); err != nil {
			t.Fatal(err)
		}
	}
	revokeJTI("warm-up")
	if r := receive(t, got); r.JTI != "warm-up" {
		t.Fatalf("got %+v, want warm-up", r)
	}
	cutFor(t, proxy, 500*time.Millisecond, func() { revokeJTI("missed") })
	waitFor(t, "the failed catch-up", func() bool { return strings.Contains(logs.String(), "could not read") })
	waitSubscribers(t, direct, DefaultPrefix+"events", 1)
	revokeJTI("live")
	if r := receive(t, got); r.JTI != "live" {
		t.Fatalf("got %+v, want live", r)
	}
	cutFor(t, proxy, 500*time.Millisecond, func() {})
	for {
		r := receive(t, got)
		if r.JTI == "missed" {
			return
		}
		if r.JTI != "live" { // replayed: it came after the position
			t.Fatalf("got %+v, want missed", r)
		}
	}
}
