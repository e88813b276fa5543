package metrics

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/siojwt/siojwt"
	"github.com/siojwt/siojwt/core"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newCollector(t *testing.T, opts ...Option) *Collector {
	t.Helper()
	c, err := New(prometheus.NewRegistry(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ev builds an event; id and ns identify the socket.
func ev(kind siojwt.EventKind, mode siojwt.Mode, ns, id, code string, d time.Duration) siojwt.Event {
	return siojwt.Event{Kind: kind, Mode: mode, Namespace: ns, SocketID: id, Code: code, Duration: d,
		RemoteAddr: "192.0.2.1:1234", Subject: "alice", Fingerprint: "0123456789abcdef"}
}

const (
	hs = siojwt.ModeHandshake
	cn = siojwt.ModePostConnect
)

// histogramCount returns the number of observations of the duration
// histogram for mode.
func histogramCount(t *testing.T, c *Collector, mode string) uint64 {
	t.Helper()
	var m dto.Metric
	if err := c.duration.WithLabelValues(mode).(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func TestObserve(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name   string
		opts   []Option
		events []siojwt.Event
		// want maps a series, written as "metric label,values", to its value.
		want      map[string]float64
		durations map[string]uint64 // observations per mode
	}{
		{
			name:      "handshake success",
			events:    []siojwt.Event{ev(siojwt.EventAuthenticated, hs, "/", "a", "", 2*ms)},
			want:      map[string]float64{"attempts handshake,success,": 1, "sockets": 1},
			durations: map[string]uint64{"handshake": 1, "connect": 0},
		},
		{
			name: "authenticated then closed",
			events: []siojwt.Event{
				ev(siojwt.EventAuthenticated, hs, "/", "a", "", ms),
				ev(siojwt.EventClosed, hs, "/", "a", "", 0),
			},
			want: map[string]float64{"attempts handshake,success,": 1, "sockets": 0},
		},
		{
			name: "closed twice counts once",
			events: []siojwt.Event{
				ev(siojwt.EventAuthenticated, cn, "/", "a", "", ms),
				ev(siojwt.EventAuthenticated, cn, "/", "b", "", ms),
				ev(siojwt.EventClosed, cn, "/", "a", "", 0),
				ev(siojwt.EventClosed, cn, "/", "a", "", 0),
			},
			want: map[string]float64{"attempts connect,success,": 2, "sockets": 1},
		},
		{
			name: "closed without authenticated leaves the gauge alone",
			events: []siojwt.Event{
				ev(siojwt.EventAuthenticated, hs, "/", "a", "", ms),
				ev(siojwt.EventClosed, hs, "/", "recovered", "", 0),
			},
			want: map[string]float64{"sockets": 1},
		},
		{
			name: "authenticated twice counts once",
			events: []siojwt.Event{
				ev(siojwt.EventAuthenticated, hs, "/", "a", "", ms),
				ev(siojwt.EventAuthenticated, hs, "/", "a", "", ms),
			},
			want: map[string]float64{"attempts handshake,success,": 2, "sockets": 1},
		},
		{
			name: "same socket ID in two namespaces",
			events: []siojwt.Event{
				ev(siojwt.EventAuthenticated, hs, "/", "a", "", ms),
				ev(siojwt.EventAuthenticated, hs, "/admin", "a", "", ms),
				ev(siojwt.EventClosed, hs, "/admin", "a", "", 0),
			},
			want: map[string]float64{"sockets": 1},
		},
		{
			name: "expiry cut without a later closed",
			events: []siojwt.Event{
				ev(siojwt.EventAuthenticated, hs, "/", "a", "", ms),
				ev(siojwt.EventExpired, hs, "/", "a", core.CodeInvalidToken, 0),
			},
			want: map[string]float64{"expiry": 1, "sockets": 0},
		},
		{
			name: "revocation reported twice and racing a close",
			events: []siojwt.Event{
				ev(siojwt.EventAuthenticated, cn, "/", "a", "", ms),
				ev(siojwt.EventAuthenticated, cn, "/", "b", "", ms),
				ev(siojwt.EventRevoked, cn, "/", "a", core.CodeInvalidToken, 0),
				ev(siojwt.EventRevoked, cn, "/", "a", core.CodeInvalidToken, 0),
				ev(siojwt.EventClosed, cn, "/", "a", "", 0),
			},
			want: map[string]float64{"revocation": 2, "sockets": 1},
		},
		{
			name: "failed refresh cuts without closed",
			events: []siojwt.Event{
				ev(siojwt.EventAuthenticated, cn, "/", "a", "", ms),
				ev(siojwt.EventRejected, cn, "/", "a", core.CodeInvalidToken, ms),
			},
			want: map[string]float64{
				"attempts connect,success,":              1,
				"attempts connect,failure,invalid_token": 0,
				"refreshes failure":                      1,
				"refreshes success":                      0,
				"sockets":                                0,
			},
			durations: map[string]uint64{"connect": 2},
		},
		{
			name: "refresh",
			events: []siojwt.Event{
				ev(siojwt.EventAuthenticated, hs, "/", "a", "", ms),
				ev(siojwt.EventRefreshed, hs, "/", "a", "", ms),
			},
			want:      map[string]float64{"refreshes success": 1, "refreshes failure": 0, "sockets": 1},
			durations: map[string]uint64{"handshake": 2},
		},
		{
			name: "first authentication rejected",
			events: []siojwt.Event{
				ev(siojwt.EventRejected, cn, "/", "a", core.CodeUnknown, ms),
				ev(siojwt.EventRejected, hs, "/", "b", core.CodeCredentialsRequired, ms),
				ev(siojwt.EventRejected, hs, "/", "c", core.CodeCredentialsRequired, ms),
			},
			want: map[string]float64{
				"attempts connect,failure,unknown":                1,
				"attempts handshake,failure,credentials_required": 2,
				"refreshes failure":                               0,
				"sockets":                                         0,
			},
		},
		{
			name:   "application code not declared",
			events: []siojwt.Event{ev(siojwt.EventRejected, hs, "/", "a", "banned", ms)},
			want:   map[string]float64{"attempts handshake,failure,other": 1, "attempts handshake,failure,banned": 0},
		},
		{
			name:   "application code declared",
			opts:   []Option{WithCodes("banned")},
			events: []siojwt.Event{ev(siojwt.EventRejected, hs, "/", "a", "banned", ms)},
			want:   map[string]float64{"attempts handshake,failure,banned": 1, "attempts handshake,failure,other": 0},
		},
		{
			name:   "empty failure code",
			events: []siojwt.Event{ev(siojwt.EventRejected, hs, "/", "a", "", ms)},
			want:   map[string]float64{"attempts handshake,failure,other": 1},
		},
		{
			name: "rate limited refusals are not verifications",
			events: []siojwt.Event{
				ev(siojwt.EventRejected, hs, "/", "a", core.CodeRateLimited, ms),
				ev(siojwt.EventRejected, cn, "/", "b", core.CodeRateLimited, 0),
			},
			want: map[string]float64{
				"attempts handshake,failure,rate_limited": 1,
				"attempts connect,failure,rate_limited":   1,
			},
			durations: map[string]uint64{"handshake": 0, "connect": 0},
		},
		{
			name: "timeout",
			events: []siojwt.Event{
				ev(siojwt.EventTimedOut, cn, "/", "a", core.CodeCredentialsRequired, 0),
			},
			want: map[string]float64{"timeouts": 1, "sockets": 0, "attempts connect,failure,credentials_required": 0},
		},
		{
			name:      "unknown mode",
			events:    []siojwt.Event{ev(siojwt.EventAuthenticated, siojwt.Mode("x"), "/", "a", "", ms)},
			want:      map[string]float64{"attempts other,success,": 1, "attempts handshake,success,": 0},
			durations: map[string]uint64{"other": 1},
		},
		{
			name:   "event without socket ID leaves the gauge alone",
			events: []siojwt.Event{ev(siojwt.EventAuthenticated, hs, "/", "", "", ms)},
			want:   map[string]float64{"attempts handshake,success,": 1, "sockets": 0},
		},
		{
			name:   "unknown kind",
			events: []siojwt.Event{ev(siojwt.EventKind("other"), hs, "/", "a", "", ms)},
			want:   map[string]float64{"attempts handshake,success,": 0, "sockets": 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(t, tt.opts...)
			for _, e := range tt.events {
				c.Observe(e)
			}
			for series, want := range tt.want {
				if got := value(t, c, series); got != want {
					t.Errorf("%s = %v, want %v", series, got, want)
				}
			}
			for mode, want := range tt.durations {
				if got := histogramCount(t, c, mode); got != want {
					t.Errorf("duration observations for %s = %d, want %d", mode, got, want)
				}
			}
		})
	}
}

// value reads one series: "sockets", "expiry", "revocation", "timeouts",
// or a vector name followed by its comma-separated label values.
func value(t *testing.T, c *Collector, series string) float64 {
	t.Helper()
	name, labels, _ := strings.Cut(series, " ")
	lv := strings.Split(labels, ",")
	switch name {
	case "sockets":
		return testutil.ToFloat64(c.sockets)
	case "expiry":
		return testutil.ToFloat64(c.expiryCuts)
	case "revocation":
		return testutil.ToFloat64(c.revocationCuts)
	case "timeouts":
		return testutil.ToFloat64(c.timeouts)
	case "attempts":
		return testutil.ToFloat64(c.attempts.WithLabelValues(lv...))
	case "refreshes":
		return testutil.ToFloat64(c.refreshes.WithLabelValues(lv...))
	case "keyset":
		return testutil.ToFloat64(c.keySetFetches.WithLabelValues(lv...))
	}
	t.Fatalf("unknown series %q", series)
	return 0
}

func TestKeySetFetch(t *testing.T) {
	c := newCollector(t)
	c.KeySetFetch(nil)
	c.KeySetFetch(errors.New("500 Internal Server Error"))
	c.KeySetFetch(errors.New("timeout"))
	if got := value(t, c, "keyset success"); got != 1 {
		t.Errorf("success = %v, want 1", got)
	}
	if got := value(t, c, "keyset failure"); got != 2 {
		t.Errorf("failure = %v, want 2", got)
	}
	if n := testutil.CollectAndCount(c, "siojwt_keyset_fetches_total"); n != 2 {
		t.Errorf("%d keyset series, want 2 (error text must not become a label)", n)
	}
}

// TestSeriesBounded feeds events full of client-like strings and checks
// that the number of series stays within the fixed label sets, and that
// the gauge matches the sockets still authenticated.
func TestSeriesBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	kinds := []siojwt.EventKind{siojwt.EventAuthenticated, siojwt.EventRejected, siojwt.EventRefreshed,
		siojwt.EventExpired, siojwt.EventRevoked, siojwt.EventTimedOut, siojwt.EventClosed, "bogus"}
	junk := func() string { return fmt.Sprintf("%x", r.Uint64()) }
	known := []string{"", core.CodeInvalidToken, core.CodeRateLimited, core.CodeCredentialsRequired}
	live := map[socketKey]bool{} // the model of the gauge
	for i := range 10000 {
		e := siojwt.Event{
			Kind:        kinds[r.IntN(len(kinds))],
			Mode:        []siojwt.Mode{hs, cn, siojwt.Mode(junk())}[r.IntN(3)],
			Namespace:   []string{"/", "/admin", "/" + junk()}[r.IntN(3)],
			SocketID:    fmt.Sprintf("s%d", r.IntN(200)),
			RemoteAddr:  fmt.Sprintf("198.51.100.%d:%d", r.IntN(256), r.IntN(65536)),
			Subject:     junk(),
			Fingerprint: junk(),
			Duration:    time.Duration(r.IntN(int(time.Second))),
			Err:         errors.New(junk()),
			Failure:     []core.Kind{"", core.KindExpired, core.Kind(junk())}[r.IntN(3)],
		}
		if r.IntN(2) == 0 {
			e.Code = known[r.IntN(len(known))]
		} else {
			e.Code = "code-" + junk() + strings.Repeat("x", i%7)
		}
		k := socketKey{e.Namespace, e.SocketID}
		switch e.Kind {
		case siojwt.EventAuthenticated:
			live[k] = true
		case siojwt.EventRejected, siojwt.EventExpired, siojwt.EventRevoked, siojwt.EventTimedOut, siojwt.EventClosed:
			delete(live, k)
		}
		c.Observe(e)
	}
	// 3 modes x (success + 9 known codes + other), at most.
	limits := map[string]int{
		"siojwt_auth_attempts_total":     3 * 11,
		"siojwt_auth_failures_total":     3 * (len(core.Kinds()) + 1),
		"siojwt_verify_duration_seconds": 3,
		"siojwt_authenticated_sockets":   1,
		"siojwt_refreshes_total":         2,
		"siojwt_expiry_cuts_total":       1,
		"siojwt_revocation_cuts_total":   1,
		"siojwt_timeouts_total":          1,
		"siojwt_keyset_fetches_total":    2,
	}
	total := 0
	for name, max := range limits {
		n := testutil.CollectAndCount(c, name)
		if n == 0 || n > max {
			t.Errorf("%s: %d series, want 1..%d", name, n, max)
		}
		total += n
	}
	if n := testutil.CollectAndCount(c); n != total {
		t.Errorf("%d series in all, want %d: an unexpected metric", n, total)
	}
	n, err := testutil.GatherAndCount(reg)
	if err != nil {
		t.Fatal(err)
	}
	if n != total {
		t.Errorf("registry holds %d series, want %d", n, total)
	}
	if got := testutil.ToFloat64(c.sockets); got != float64(len(live)) {
		t.Errorf("gauge = %v, want %d", got, len(live))
	}
	if len(c.live) != len(live) {
		t.Errorf("collector tracks %d sockets, want %d", len(c.live), len(live))
	}
	if testutil.ToFloat64(c.attempts.WithLabelValues(Other, ResultFailure, Other)) == 0 {
		t.Error("no failure counted as other: junk codes were not folded")
	}
}

func TestConcurrentObserve(t *testing.T) {
	c := newCollector(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				id := fmt.Sprintf("%d-%d", g, i)
				c.Observe(ev(siojwt.EventAuthenticated, hs, "/", id, "", time.Microsecond))
				c.Observe(ev(siojwt.EventClosed, hs, "/", id, "", 0))
				c.KeySetFetch(nil)
			}
		})
	}
	wg.Wait()
	if got := value(t, c, "sockets"); got != 0 {
		t.Errorf("gauge = %v, want 0", got)
	}
	if got := value(t, c, "attempts handshake,success,"); got != 4000 {
		t.Errorf("attempts = %v, want 4000", got)
	}
	if got := value(t, c, "keyset success"); got != 4000 {
		t.Errorf("keyset fetches = %v, want 4000", got)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		reg     prometheus.Registerer
		opts    []Option
		wantErr bool
	}{
		{name: "defaults", reg: prometheus.NewRegistry()},
		{name: "nil registerer", wantErr: true},
		{name: "nil option", reg: prometheus.NewRegistry(), opts: []Option{nil}, wantErr: true},
		{name: "codes", reg: prometheus.NewRegistry(), opts: []Option{WithCodes("banned", "suspended")}},
		{name: "no codes", reg: prometheus.NewRegistry(), opts: []Option{WithCodes()}, wantErr: true},
		{name: "empty code", reg: prometheus.NewRegistry(), opts: []Option{WithCodes("")}, wantErr: true},
		{name: "bad UTF-8 code", reg: prometheus.NewRegistry(), opts: []Option{WithCodes("\xff")}, wantErr: true},
		{name: "too many codes", reg: prometheus.NewRegistry(), opts: []Option{WithCodes(manyCodes(65)...)}, wantErr: true},
		{name: "64 codes", reg: prometheus.NewRegistry(), opts: []Option{WithCodes(manyCodes(64)...)}},
		{name: "buckets", reg: prometheus.NewRegistry(), opts: []Option{WithBuckets(0.001, 0.01)}},
		{name: "no buckets", reg: prometheus.NewRegistry(), opts: []Option{WithBuckets()}, wantErr: true},
		{name: "unsorted buckets", reg: prometheus.NewRegistry(), opts: []Option{WithBuckets(0.01, 0.001)}, wantErr: true},
		{name: "zero bucket", reg: prometheus.NewRegistry(), opts: []Option{WithBuckets(0, 1)}, wantErr: true},
		{name: "const labels", reg: prometheus.NewRegistry(), opts: []Option{WithConstLabels(prometheus.Labels{"server": "chat"})}},
		{name: "empty const labels", reg: prometheus.NewRegistry(), opts: []Option{WithConstLabels(nil)}, wantErr: true},
		{name: "const label clash", reg: prometheus.NewRegistry(), opts: []Option{WithConstLabels(prometheus.Labels{"code": "x"})}, wantErr: true},
		{name: "invalid const label", reg: prometheus.NewRegistry(), opts: []Option{WithConstLabels(prometheus.Labels{"\xff": "x"})}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.reg, tt.opts...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New: err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && c == nil {
				t.Fatal("nil Collector without an error")
			}
		})
	}
}

func manyCodes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("app_code_%d", i)
	}
	return out
}

func TestRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(reg); err == nil {
		t.Error("a second Collector registered on the same registry")
	}
	if _, err := New(reg, WithConstLabels(prometheus.Labels{"server": "b"})); err == nil {
		t.Error("a Collector with const labels registered beside one without: Prometheus refuses this on scrape")
	}
	reg2 := prometheus.NewRegistry()
	for _, server := range []string{"a", "b"} {
		if _, err := New(reg2, WithConstLabels(prometheus.Labels{"server": server})); err != nil {
			t.Errorf("server %s: %v", server, err)
		}
	}
	if _, err := reg2.Gather(); err != nil {
		t.Errorf("gather: %v", err)
	}
	// Nothing reaches the global registry.
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), Namespace+"_") {
			t.Errorf("%s registered on the global registry", mf.GetName())
		}
	}
}

func TestInitialSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	const want = `
# HELP siojwt_auth_attempts_total First authentications of sockets, by mode, result and error code (empty on success).
# TYPE siojwt_auth_attempts_total counter
siojwt_auth_attempts_total{code="",mode="connect",result="success"} 0
siojwt_auth_attempts_total{code="",mode="handshake",result="success"} 0
siojwt_auth_attempts_total{code="invalid_token",mode="connect",result="failure"} 0
siojwt_auth_attempts_total{code="invalid_token",mode="handshake",result="failure"} 1
# HELP siojwt_authenticated_sockets Sockets currently authenticated.
# TYPE siojwt_authenticated_sockets gauge
siojwt_authenticated_sockets 0
# HELP siojwt_keyset_fetches_total Fetches of the JSON Web Key Set, by result.
# TYPE siojwt_keyset_fetches_total counter
siojwt_keyset_fetches_total{result="failure"} 0
siojwt_keyset_fetches_total{result="success"} 0
`
	c.Observe(ev(siojwt.EventRejected, hs, "/", "a", core.CodeInvalidToken, 0))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"siojwt_auth_attempts_total", "siojwt_authenticated_sockets", "siojwt_keyset_fetches_total"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestDefaultBuckets(t *testing.T) {
	b := DefaultBuckets()
	if b[0] != 0.00001 || b[len(b)-1] != 1 {
		t.Errorf("buckets span %v..%v, want 1e-05..1", b[0], b[len(b)-1])
	}
	for i := 1; i < len(b); i++ {
		if b[i] <= b[i-1] {
			t.Fatalf("buckets not increasing at %d: %v", i, b)
		}
	}
	b[0] = 42
	if DefaultBuckets()[0] == 42 {
		t.Error("DefaultBuckets returns shared state")
	}
}

// BenchmarkObserve is what the metrics hook costs one socket over its
// life: its authentication, then its close.
func BenchmarkObserve(b *testing.B) {
	c, err := New(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	auth := siojwt.Event{Kind: siojwt.EventAuthenticated, Mode: siojwt.ModeHandshake, Namespace: "/", SocketID: "s1", Duration: time.Millisecond}
	closed := siojwt.Event{Kind: siojwt.EventClosed, Mode: siojwt.ModeHandshake, Namespace: "/", SocketID: "s1"}
	b.ReportAllocs()
	for b.Loop() {
		c.Observe(auth)
		c.Observe(closed)
	}
}
