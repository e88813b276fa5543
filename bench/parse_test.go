package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"testing"
	"time"
)

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
BenchmarkParse/HS256-2         	   13598	     17061 ns/op	    2816 B/op	      63 allocs/op
BenchmarkVerify/RS256/siojwt-8 	    3354	     72906.5 ns/op
BenchmarkAuthenticate          	    1000	      1234 ns/op
BenchmarkHandshake-2   	    1000	   2363342 ns/op	       771.3 conn/s
BenchmarkAuthenticate          	    1000	      1500 ns/op
BenchmarkParse/HS256-2         	   13598	     19000 ns/op	    2816 B/op	      63 allocs/op
PASS`
	got := parseGoBench(out)
	want := map[string]float64{
		"BenchmarkParse/HS256": 17061, "BenchmarkVerify/RS256/siojwt": 72906.5,
		"BenchmarkAuthenticate": 1234, "BenchmarkHandshake": 2363342,
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestParseTraces(t *testing.T) {
	out := `File: profile.test
Type: cpu
-----------+-------------------------------------------------------
      10ms   crypto/sha256.block
             crypto/hmac.(*hmac).Write
             github.com/golang-jwt/jwt/v5.(*SigningMethodHMAC).Verify
             github.com/siojwt/siojwt/core.(*Verifier).Verify
-----------+-------------------------------------------------------
      20ms   runtime.mallocgc
             github.com/siojwt/siojwt.(*Auth).handshake
-----------+-------------------------------------------------------
      30ms   syscall.Syscall6
             github.com/coder/websocket.(*Conn).Write
             github.com/siojwt/siojwt/bench/loadgen.(*runner).read
-----------+-------------------------------------------------------
     40ms   runtime.scanobject
             runtime.gcBgMarkWorker
-----------+-------------------------------------------------------
      1.5s   encoding/json.Unmarshal
             github.com/zishang520/socket.io/parsers/socket/v3/parser.(*decoder).Add
-----------+-------------------------------------------------------
      5ms   runtime.futex
             runtime.findRunnable
-----------+-------------------------------------------------------
      7ms   internal/poll.(*FD).Read
             bufio.(*Reader).Read
             github.com/gorilla/websocket.(*Conn).NextReader
             github.com/zishang520/socket.io/servers/engine/v3/transports.(*websocket).message
-----------+-------------------------------------------------------
      3ms   github.com/siojwt/siojwt/revoke.(*Memory).IsRevoked
`
	got, layer, part := parseTraces(out)
	want := map[string]time.Duration{
		"token verification (golang-jwt, crypto)":          10 * time.Millisecond,
		"siojwt binding (sessions, revocation, isolation)": 23 * time.Millisecond,
		catClient: 30 * time.Millisecond,
		catGC:     40 * time.Millisecond,
		"Socket.IO / Engine.IO server (zishang520)": 1500 * time.Millisecond,
		catRuntime:                             5 * time.Millisecond,
		"websocket server (gorilla/websocket)": 7 * time.Millisecond,
		catLibrary:                             33 * time.Millisecond,
	}
	if len(got) != len(want) {
		t.Errorf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	wantPart := map[string]time.Duration{parts[0].name: 10 * time.Millisecond, "session: admission, state, listeners, cleanup": 20 * time.Millisecond, "revocation check": 3 * time.Millisecond}
	if len(part) != len(wantPart) {
		t.Errorf("part: got %v", part)
	}
	for k, v := range wantPart {
		if part[k] != v {
			t.Errorf("part %s = %v, want %v", k, part[k], v)
		}
	}
	wantLayer := map[string]time.Duration{kindVerify: 10 * time.Millisecond, kindAlloc: 20 * time.Millisecond, kindOwn: 3 * time.Millisecond}
	if len(layer) != len(wantLayer) {
		t.Errorf("layer: got %v", layer)
	}
	for k, v := range wantLayer {
		if layer[k] != v {
			t.Errorf("layer %s = %v, want %v", k, layer[k], v)
		}
	}
}

func TestParseTop(t *testing.T) {
	out := `Type: cpu
Duration: 12.06s, Total samples = 1.61s (13.35%)
Showing nodes accounting for 1.19s, 73.91% of 1.61s total
      flat  flat%   sum%        cum   cum%
         0     0%     0%      0.44s 27.33%  net/http.(*conn).serve
     0.03s  1.86% 44.72%      0.34s 21.12%  runtime.newobject (inline)
    10ms  0.62% 73.91%       250µs  0.02%  github.com/zishang520/socket.io/v3/pkg/types.(*Slice[go.shape.*uint8]).Clear
`
	total, rows := parseTop(out)
	if total != 1610*time.Millisecond {
		t.Errorf("total %s", total)
	}
	want := []ProfileRow{
		{Func: "net/http.(*conn).serve", Flat: 0, Cum: 440 * time.Millisecond, FlatPct: 0, CumPct: 27.33},
		{Func: "runtime.newobject", Flat: 30 * time.Millisecond, Cum: 340 * time.Millisecond, FlatPct: 1.86, CumPct: 21.12},
		{Func: "github.com/zishang520/socket.io/v3/pkg/types.(*Slice[go.shape.*uint8]).Clear", Flat: 10 * time.Millisecond, Cum: 250 * time.Microsecond, FlatPct: 0.62, CumPct: 0.02},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %+v", rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, rows[i], want[i])
		}
	}
}

func TestDurText(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{time.Minute, "1m"}, {5 * time.Second, "5s"}, {90 * time.Second, "1m30s"}, {2 * time.Minute, "2m"}} {
		if got := durText(c.d); got != c.want {
			t.Errorf("durText(%s) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
}

func TestNodeImpl(t *testing.T) {
	for _, c := range []struct{ lib, key, want string }{
		{"jsonwebtoken@9.0.3", "object", implJWT9Obj},
		{"jsonwebtoken@9.0.3", "text", implJWT9Text},
		{"jsonwebtoken@8.5.1", "object", implJWT8Obj},
		{"jsonwebtoken@8.5.1", "text", implJWT8Text},
		{"jsonwebtoken@7.0.0", "text", ""},
	} {
		if got := nodeImpl(c.lib, c.key); got != c.want {
			t.Errorf("nodeImpl(%s, %s) = %q", c.lib, c.key, got)
		}
	}
}

func wellFormed(t *testing.T, b []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, b)
		}
	}
}

func TestCharts(t *testing.T) {
	b := barChart("A <title>", "sub & title", "µs", []bar{{"x", 12.5, colGo}, {"y & z", math.NaN(), colNode}, {"w", 0, colGo}})
	wellFormed(t, b)
	if !bytes.Contains(b, []byte("A &lt;title&gt;")) || !bytes.Contains(b, []byte("n/a")) {
		t.Errorf("bar chart lacks escaped title or n/a:\n%s", b)
	}
	wellFormed(t, barChart("empty", "", "", nil))
	l := lineChart("L", "x", "y", []series{
		{name: "a", color: colGo, pts: [][2]float64{{0, 10}, {1000, 20}, {5000, math.NaN()}}},
		{name: "b", color: colNode, pts: nil},
	})
	wellFormed(t, l)
	if bytes.Count(l, []byte("<circle")) != 2 {
		t.Errorf("want 2 points drawn:\n%s", l)
	}
	for _, c := range []struct {
		max  float64
		want float64
	}{{100, 20}, {7, 2}, {0, 1}, {math.NaN(), 1}, {12000, 2500}} {
		if got := niceStep(c.max, 5); got != c.want {
			t.Errorf("niceStep(%v) = %v, want %v", c.max, got, c.want)
		}
	}
}

func TestParseFeatureBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/siojwt/siojwt/bench/profile
BenchmarkFeatures/bare-2         	     200	   5315476 ns/op	       351.0 cpu-µs/op	     37459 heap-B/conn	   70549 B/op	     795 allocs/op
BenchmarkFeatures/siojwt-off-2   	     200	   5362451 ns/op	       404.3 cpu-µs/op	     36637 heap-B/conn	   72642 B/op	     866 allocs/op
BenchmarkFeatures/bare-2         	     200	   5315476 ns/op	       341.0 cpu-µs/op	     37000 heap-B/conn	   70551 B/op	     795 allocs/op
BenchmarkFeatures/bare-2         	     200	   5315476 ns/op	       361.0 cpu-µs/op	     37900 heap-B/conn	   70553 B/op	     797 allocs/op
BenchmarkFeatures/siojwt+metrics   	     200	   5360002 ns/op	       410.1 cpu-µs/op	     36687 heap-B/conn	   73318 B/op	     869 allocs/op
PASS`
	rows := parseFeatureBench(out)
	if len(rows) != 3 || rows[0].Name != "bare" || rows[1].Name != "siojwt-off" || rows[2].Name != "siojwt+metrics" {
		t.Fatalf("rows: %+v", rows)
	}
	b := rows[0]
	if b.Runs != 3 || b.Allocs != 795 || b.Bytes != 70551 || b.Heap != 37459 || b.HeapLo != 37000 || b.HeapHi != 37900 || b.CPU != 351 || b.CPULo != 341 {
		t.Errorf("bare: %+v", b)
	}
	if rows[2].Allocs != 869 || rows[2].Runs != 1 {
		t.Errorf("siojwt+metrics: %+v", rows[2])
	}
}

// TestLayerKind checks that a stack under a library frame is charged by
// what the innermost library frame called.
func TestLayerKind(t *testing.T) {
	for _, c := range []struct {
		frames []string
		want   string
	}{
		{[]string{"crypto/sha256.block", "github.com/golang-jwt/jwt/v5.(*SigningMethodHMAC).Verify", "github.com/siojwt/siojwt/core.(*Verifier).parse", "github.com/siojwt/siojwt.(*Auth).handshake"}, kindVerify},
		{[]string{"encoding/json.Valid", "github.com/siojwt/siojwt/core.headerAlg"}, kindCore},
		{[]string{"runtime.mallocgc", "github.com/siojwt/siojwt/core.(*Verifier).parse"}, kindCore},
		{[]string{"runtime.mallocgc", "github.com/zishang520/socket.io/v3/pkg/types.(*emmiter).On", "github.com/siojwt/siojwt.(*earlyPackets).hold"}, kindServerLib},
		{[]string{"runtime.mallocgc", "runtime.newobject", "github.com/siojwt/siojwt.(*Auth).handshake", "github.com/zishang520/socket.io/servers/socket/v3.(*namespace).run"}, kindAlloc},
		{[]string{"runtime.addtimer", "time.AfterFunc", "github.com/siojwt/siojwt/internal/clock.Real.AfterFunc", "github.com/siojwt/siojwt.(*session).scheduleLocked"}, kindTimers},
		{[]string{"internal/sync.(*HashTrieMap).Swap", "sync.(*Map).Store", "github.com/siojwt/siojwt.(*Auth).handshake"}, kindSync},
		{[]string{"github.com/siojwt/siojwt.(*conns).add"}, kindOwn},
		{[]string{"runtime.mallocgc", "github.com/siojwt/siojwt/bench/loadgen.(*runner).read"}, ""},
		{[]string{"github.com/zishang520/socket.io/servers/socket/v3.(*Client).connect"}, ""},
	} {
		if got := layerKind(c.frames); got != c.want {
			t.Errorf("layerKind(%v) = %q, want %q", c.frames, got, c.want)
		}
	}
}

// TestPartOf checks that a stack is charged to the part of the innermost
// library frame, helpers passed over.
func TestPartOf(t *testing.T) {
	for _, c := range []struct {
		frames []string
		want   string
	}{
		{[]string{"time.AfterFunc", "github.com/siojwt/siojwt/internal/clock.Real.AfterFunc", "github.com/siojwt/siojwt.(*session).scheduleLocked", "github.com/siojwt/siojwt.(*Auth).connected"}, "expiry timer"},
		{[]string{"time.AfterFunc", "github.com/siojwt/siojwt/internal/clock.Real.AfterFunc", "github.com/siojwt/siojwt.(*session).unbound"}, "session: admission, state, listeners, cleanup"},
		{[]string{"container/heap.up", "github.com/siojwt/siojwt.(*Auth).schedule", "github.com/siojwt/siojwt.(*session).scheduleLocked"}, "expiry timer"},
		{[]string{"sync.(*Mutex).Lock", "github.com/siojwt/siojwt.(*Auth).unschedule", "github.com/siojwt/siojwt.(*session).stopTimersLocked"}, "expiry timer"},
		{[]string{"github.com/siojwt/siojwt.dueHeap.Less", "container/heap.down", "github.com/siojwt/siojwt.(*Auth).fireExpiries"}, "expiry timer"},
		{[]string{"sync.(*Map).Load", "github.com/siojwt/siojwt.(*Auth).admitEvent", "github.com/siojwt/siojwt.(*Auth).guard.func1"}, "event guard (the socket middleware)"},
		{[]string{"crypto/sha256.Sum256", "github.com/siojwt/siojwt.Fingerprint", "github.com/siojwt/siojwt.(*session).event"}, "events and the metrics hook: building the event, the token's fingerprint, Prometheus"},
		{[]string{"sync.(*Mutex).Lock", "github.com/siojwt/siojwt.(*session).fingerprint", "github.com/siojwt/siojwt.(*session).event"}, "events and the metrics hook: building the event, the token's fingerprint, Prometheus"},
		{[]string{"github.com/zishang520/socket.io/servers/engine/v3.(*socket).On", "github.com/siojwt/siojwt.(*earlyPackets).hold"}, "early-packet hold"},
		{[]string{"runtime.mapassign_faststr", "github.com/siojwt/siojwt.(*Auth).handshakeAt", "github.com/siojwt/siojwt.(*Auth).handshake"}, "handshake view: headers, query and client address for core"},
		{[]string{"encoding/json.Valid", "github.com/siojwt/siojwt/core.headerAlg", "github.com/siojwt/siojwt.safely"}, "token check: extraction, parsing, signature (core)"},
		{[]string{"github.com/siojwt/siojwt/internal/clock.Real.Now"}, partOther},
		{[]string{"github.com/siojwt/siojwt/authz.FromClaims"}, partOther},
		{[]string{"github.com/zishang520/socket.io/servers/socket/v3.(*Client).connect"}, ""},
	} {
		if got := partOf(c.frames); got != c.want {
			t.Errorf("partOf(%v) = %q, want %q", c.frames, got, c.want)
		}
	}
}

// TestDelegated checks that the wrapped adapter's own work, reached
// through the adapter wrapper, is not counted as the library's.
func TestDelegated(t *testing.T) {
	inner := []string{"runtime.mapdelete", "github.com/zishang520/socket.io/servers/socket/v3.(*adapter).DelAll", "github.com/siojwt/siojwt.(*isolatingAdapter).DelAll", "github.com/zishang520/socket.io/servers/socket/v3.(*Socket).leaveAll"}
	if underLibrary(inner) {
		t.Errorf("the inner adapter's DelAll counted as the library's: %v", inner)
	}
	own := []string{"sync/atomic.(*Int64).Load", "github.com/siojwt/siojwt.(*earlyPackets).forget", "github.com/siojwt/siojwt.(*isolatingAdapter).DelAll"}
	if !underLibrary(own) {
		t.Errorf("the wrapper's own work not counted: %v", own)
	}
}
