package redistest

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStartStopRestart(t *testing.T) {
	addr, stop, restart := Start(t)
	steps := []struct {
		name   string
		do     func()
		wantUp bool
	}{
		{name: "started", do: func() {}, wantUp: true},
		{name: "stopped", do: stop, wantUp: false},
		{name: "stopped twice", do: stop, wantUp: false},
		{name: "restarted after stop", do: restart, wantUp: true},
		{name: "restarted while running", do: restart, wantUp: true},
		{name: "stopped again", do: stop, wantUp: false},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do()
			err := ping(addr)
			if up := err == nil; up != s.wantUp {
				t.Errorf("server at %s answers PING: %v (error %v), want %v", addr, up, err, s.wantUp)
			}
		})
	}
}

func TestStartTwoServers(t *testing.T) {
	a, _, _ := Start(t)
	b, _, _ := Start(t)
	if a == b {
		t.Fatalf("two servers share the address %s", a)
	}
	for _, addr := range []string{a, b} {
		if err := ping(addr); err != nil {
			t.Errorf("PING %s: %v", addr, err)
		}
	}
}
