package siojwt

import (
	"testing"
	"time"
)

// The Go client (v3.0.6) now and then sees its fresh websocket closed
// under it right after it connected ("transport close"), against a bare
// server too. The tests below that follow one connection through several
// steps run again, up to three times, when that happens; any other
// failure fails them at once.

// dropped stops a scenario whose client's transport dropped.
type dropped struct{}

// untilStable runs scenario up to three times, again only when it stopped
// because its client's transport dropped (it panics with dropped{}).
func untilStable(t *testing.T, scenario func()) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		if !droppedDuring(scenario) {
			return
		}
		if attempt == 3 {
			t.Fatal("the client's transport dropped in 3 attempts")
		}
		t.Logf("the client's transport dropped; running again (attempt %d)", attempt+1)
	}
}

func droppedDuring(scenario func()) (d bool) {
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(dropped); !ok {
				panic(p)
			}
			d = true
		}
	}()
	scenario()
	return false
}

// must waits for the next event called name, as wait does, but stops the
// scenario (for untilStable) when the transport drops first.
func (c *testClient) must(t *testing.T, name string, d time.Duration) event {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		select {
		case e := <-c.events:
			if e.name == name {
				return e
			}
		case <-time.After(5 * time.Millisecond):
		}
		if c.transportDropped() {
			c.s.Disconnect()
			panic(dropped{})
		}
	}
	t.Fatalf("no %q within %v; saw %v", name, d, c.names())
	return event{}
}

// until polls cond as eventually does, but stops the scenario (for
// untilStable) when c's transport drops first.
func (c *testClient) until(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return
		}
		if c.transportDropped() {
			c.s.Disconnect()
			panic(dropped{})
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
