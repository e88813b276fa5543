package bench

import (
	"bufio"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Profile is the CPU profile of the library's handshake path under load.
type Profile struct {
	// Command is how the profile was taken.
	Command string
	// Conns is the number of connections opened while profiling.
	Conns int
	// Rate is the connection rate reported by the benchmark.
	Rate float64
	// Total is the sampled CPU time, Client the part in the load
	// generator's goroutines (same process).
	Total, Client time.Duration
	// Categories share the server's samples (Total - Client).
	Categories []Category
	// Library is the server's sampled time with a frame of this library
	// (outside bench/) anywhere on the stack: its own work plus what it
	// calls in the server library and the runtime.
	Library time.Duration
	// Layer splits Library by what the library's innermost frame was
	// doing (see layerKind), shares of the server's samples; Parts by the
	// part of the library that frame belongs to (see partOf).
	Layer, Parts []Category
	// Top is `go tool pprof -top` of the server's samples only.
	Top string
	// Error is set when profiling failed.
	Error string
}

// Category is a share of the server's CPU samples.
type Category struct {
	Name  string
	Time  time.Duration
	Share float64 // of the server's samples
}

// Stack categories: a sample goes to the first frame, from the leaf up,
// that belongs to one of these packages (checked in this order); stacks
// without one go to the runtime or net/http.
var categories = []struct {
	name string
	re   *regexp.Regexp
}{
	{"load generator (client side, same process)", regexp.MustCompile(`^github\.com/coder/websocket|^github\.com/siojwt/siojwt/bench/loadgen`)},
	{"token verification (golang-jwt, crypto)", regexp.MustCompile(`^github\.com/golang-jwt/`)},
	{"siojwt core (extraction, claims, checks)", regexp.MustCompile(`^github\.com/siojwt/siojwt/core`)},
	{"siojwt binding (sessions, revocation, isolation)", regexp.MustCompile(`^github\.com/siojwt/siojwt(\.|/revoke)`)},
	{"Socket.IO / Engine.IO server (zishang520)", regexp.MustCompile(`^github\.com/zishang520/`)},
	{"websocket server (gorilla/websocket)", regexp.MustCompile(`^github\.com/gorilla/websocket`)},
	{"net/http (accept, request parsing)", regexp.MustCompile(`^net/http\.`)},
}

const (
	catGC      = "garbage collector (background)"
	catRuntime = "runtime: scheduler, netpoll, syscalls"
	catClient  = "load generator (client side, same process)"
)

// categorise assigns one stack (leaf first) to a category.
func categorise(frames []string) string {
	for _, f := range frames {
		if strings.HasPrefix(f, "runtime.gcBgMarkWorker") || strings.HasPrefix(f, "runtime.bgsweep") || strings.HasPrefix(f, "runtime.bgscavenge") {
			return catGC
		}
	}
	// The client's goroutines are recognised anywhere on the stack.
	for _, f := range frames {
		if categories[0].re.MatchString(f) {
			return catClient
		}
	}
	for _, f := range frames {
		for _, c := range categories[1:] {
			if c.re.MatchString(f) {
				return c.name
			}
		}
	}
	return catRuntime
}

var libFrame = regexp.MustCompile(`^github\.com/siojwt/siojwt[./]`)
var benchFrame = regexp.MustCompile(`^github\.com/siojwt/siojwt/bench`)

// underLibrary reports whether a server stack has a frame of the library,
// leaving out the work the adapter wrapper passes on to the server
// library's adapter (see delegated).
func underLibrary(frames []string) bool {
	for i, f := range frames {
		if libFrame.MatchString(f) && !benchFrame.MatchString(f) {
			return !delegated(frames, i)
		}
	}
	return false
}

// delegated reports whether the innermost library frame, frames[in], is a
// method of the adapter wrapper that called straight into the server
// library: the wrapped adapter's own work (making a socket leave its
// rooms), which the bare server does as well.
func delegated(frames []string, in int) bool {
	return in > 0 && strings.Contains(frames[in], ".(*isolatingAdapter).") && serverLibFrame.MatchString(frames[in-1])
}

// What the samples under a library frame were doing, by the innermost
// library frame (the one nearest the leaf) and what it called.
const (
	kindServerLib = "server library calls the binding makes (listener registration, the handshake's fields, socket state)"
	kindVerify    = "signature check (golang-jwt, crypto)"
	kindCore      = "token parsing and claims (core)"
	kindAlloc     = "allocation (runtime, on the binding's behalf)"
	kindTimers    = "timers and clock reads (time)"
	kindSync      = "locks and concurrent maps (sync)"
	kindOwn       = "the binding's own code (sessions, connection count, early-packet hold, revocation check, metrics hook)"
)

// layerKinds lists the kinds in report order.
var layerKinds = []string{kindVerify, kindCore, kindServerLib, kindAlloc, kindOwn, kindSync, kindTimers}

var allocFrame = regexp.MustCompile(`^runtime\.(mallocgc|newobject|makemap|makeslice|growslice|makechan|mapassign|concatstring|rawstring|slicebytetostring|convT)`)

// layerKind says what a server stack (leaf first) with a library frame was
// doing, judged by the innermost library frame and the frames it called;
// "" when the stack has no library frame. The adapter wrapper's promoted
// methods never show (Go tracebacks leave out such wrapper frames), and
// what its own methods pass on to the wrapped adapter is left out by
// underLibrary: either way the inner adapter's work is the server
// library's, as it is for the bare server.
func layerKind(frames []string) string {
	in := -1
	for i, f := range frames {
		if libFrame.MatchString(f) && !benchFrame.MatchString(f) {
			in = i
			break
		}
	}
	if in < 0 {
		return ""
	}
	called := frames[:in]
	calls := func(re *regexp.Regexp) bool {
		for _, f := range called {
			if re.MatchString(f) {
				return true
			}
		}
		return false
	}
	switch {
	case calls(serverLibFrame):
		return kindServerLib
	case calls(verifyFrame):
		return kindVerify
	case strings.HasPrefix(frames[in], "github.com/siojwt/siojwt/core."):
		return kindCore
	case calls(allocFrame):
		return kindAlloc
	case calls(timerFrame):
		return kindTimers
	case calls(syncFrame):
		return kindSync
	}
	return kindOwn
}

var (
	serverLibFrame = regexp.MustCompile(`^github\.com/zishang520/`)
	verifyFrame    = regexp.MustCompile(`^github\.com/golang-jwt/|^crypto/`)
	timerFrame     = regexp.MustCompile(`^time\.|^runtime\.(addtimer|deltimer|modtimer|\(\*timer\))`)
	syncFrame      = regexp.MustCompile(`^sync\.|^internal/sync\.`)
)

// The parts of the library a sample under its frames is charged to, by
// the innermost library frame outside its internal helpers (partOf), in
// report order. The first pattern that matches wins.
var parts = []struct {
	name string
	re   *regexp.Regexp
}{
	{"token check: extraction, parsing, signature (core)", regexp.MustCompile(`^github\.com/siojwt/siojwt/core\.`)},
	{"handshake view: headers, query and client address for core", regexp.MustCompile(`\.\(\*Auth\)\.(handshakeAt|handshakeOf|addrOf)|^github\.com/siojwt/siojwt\.(trusted|toStrings|clientAddress)`)},
	{"early-packet hold", regexp.MustCompile(`\.\(\*earlyPackets\)\.`)},
	{"connection count", regexp.MustCompile(`\.\(\*conns\)\.`)},
	{"expiry timer", regexp.MustCompile(`\.\(\*session\)\.(scheduleLocked|stopTimersLocked|onTimer|expiresLocked)|\.\(\*Auth\)\.(schedule|unschedule|scheduled|armLocked|fireExpiries)$|\.dueHeap\.|\.\(\*dueHeap\)\.`)},
	{"revocation check", regexp.MustCompile(`checkRevoked|^github\.com/siojwt/siojwt/revoke\.`)},
	{"events and the metrics hook: building the event, the token's fingerprint, Prometheus", regexp.MustCompile(`\.\(\*session\)\.(event|fingerprint)|^github\.com/siojwt/siojwt\.Fingerprint|\.\(\*Auth\)\.(emit|report|observed)|^github\.com/siojwt/siojwt/metrics\.`)},
	{"adapter wrapper (broadcast isolation)", regexp.MustCompile(`\.\(\*isolat(ingAdapter|ion)\)\.`)},
	{"event guard (the socket middleware)", regexp.MustCompile(`\.\(\*Auth\)\.(guard|admitEvent)|\.\(\*session\)\.allowEvent`)},
	{"session: admission, state, listeners, cleanup", regexp.MustCompile(`^github\.com/siojwt/siojwt\.`)},
}

// partOther is the part of library frames no pattern of parts matches.
const partOther = "other"

// helperFrame is a library frame that only passes work on (a clock, a
// recover wrapper): a sample is charged to the frame that called it.
var helperFrame = regexp.MustCompile(`^github\.com/siojwt/siojwt/internal/|^github\.com/siojwt/siojwt\.(safely|firstString)`)

// partOf says which part of the library a server stack (leaf first) with
// a library frame was in: its innermost library frame that is not a
// helper; "" when the stack has no library frame.
func partOf(frames []string) string {
	var in string
	for _, f := range frames {
		if !libFrame.MatchString(f) || benchFrame.MatchString(f) {
			continue
		}
		if in == "" {
			in = f // a helper, unless a caller is not
		}
		if !helperFrame.MatchString(f) {
			in = f
			break
		}
	}
	if in == "" {
		return ""
	}
	for _, p := range parts {
		if p.re.MatchString(in) {
			return p.name
		}
	}
	return partOther
}

// catLibrary is the key parseTraces uses for the inclusive library time
// (not a category: those samples are also counted in their category).
const catLibrary = "\x00library"

// parseTraces reads `go tool pprof -traces` output: blocks of a sample
// value followed by its stack, separated by dashed lines. It returns the
// time per category and, under catLibrary, the server time with a library
// frame anywhere on the stack; and that time split by layerKind.
func parseTraces(out string) (cats, layer, part map[string]time.Duration) {
	res := map[string]time.Duration{}
	layer, part = map[string]time.Duration{}, map[string]time.Duration{}
	var val time.Duration
	var frames []string
	flush := func() {
		if val > 0 && len(frames) > 0 {
			c := categorise(frames)
			res[c] += val
			if c != catClient && underLibrary(frames) {
				res[catLibrary] += val
				layer[layerKind(frames)] += val
				part[partOf(frames)] += val
			}
		}
		val, frames = 0, nil
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			flush()
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(frames) == 0 && val == 0 && len(f) >= 2 {
			if d, err := time.ParseDuration(f[0]); err == nil {
				val = d
				frames = append(frames, f[1])
				continue
			}
		}
		if val > 0 {
			frames = append(frames, f[0])
		}
	}
	flush()
	return res, layer, part
}

var rateMetric = regexp.MustCompile(`([\d.]+) conn/s`)

func (d *driver) profile(ctx context.Context, tmp string) *Profile {
	p := &Profile{Conns: d.opt.ProfileConns * d.opt.ProfileRuns}
	prof := filepath.Join(tmp, "cpu.out")
	bin := filepath.Join(tmp, "profile.test")
	args := []string{"test", "-run", "^$", "-bench", "^BenchmarkHandshake$", "-benchtime", fmt.Sprintf("%dx", d.opt.ProfileConns),
		"-count", strconv.Itoa(d.opt.ProfileRuns), "-cpuprofile", prof, "-o", bin}
	p.Command = fmt.Sprintf("cd bench && go test -run '^$' -bench '^BenchmarkHandshake$' -benchtime %dx -count %d -cpuprofile cpu.out -o profile.test ./profile/", d.opt.ProfileConns, d.opt.ProfileRuns)
	d.logf("profile: %s", p.Command)
	out, err := goIn(ctx, d.opt.Root, "./bench/profile", args...)
	if err != nil {
		p.Error = err.Error()
		d.logf("profile: error: %v", err)
		return p
	}
	var rates []float64 // one per run
	for _, m := range rateMetric.FindAllStringSubmatch(out, -1) {
		if v, err := strconv.ParseFloat(m[1], 64); err == nil {
			rates = append(rates, v)
		}
	}
	if len(rates) > 0 {
		p.Rate = median(rates)
	}
	traces, err := commandOutput(ctx, d.opt.Root, "go", "tool", "pprof", "-traces", bin, prof)
	if err != nil {
		p.Error = err.Error()
		return p
	}
	cats, layer, part := parseTraces(traces)
	p.Library = cats[catLibrary]
	delete(cats, catLibrary)
	for name, t := range cats {
		p.Total += t
		if name == catClient {
			p.Client += t
			continue
		}
	}
	server := p.Total - p.Client
	for name, t := range cats {
		if name == catClient || server <= 0 {
			continue
		}
		p.Categories = append(p.Categories, Category{Name: name, Time: t, Share: float64(t) / float64(server)})
	}
	sort.Slice(p.Categories, func(i, j int) bool { return p.Categories[i].Time > p.Categories[j].Time })
	if server > 0 {
		for _, k := range layerKinds {
			p.Layer = append(p.Layer, Category{Name: k, Time: layer[k], Share: float64(layer[k]) / float64(server)})
		}
		for _, pt := range parts {
			p.Parts = append(p.Parts, Category{Name: pt.name, Time: part[pt.name], Share: float64(part[pt.name]) / float64(server)})
		}
		if t := part[partOther]; t > 0 {
			p.Parts = append(p.Parts, Category{Name: partOther, Time: t, Share: float64(t) / float64(server)})
		}
	}
	top, err := commandOutput(ctx, d.opt.Root, "go", "tool", "pprof", "-top", "-nodecount", "25",
		"-ignore", `github.com/coder/websocket|siojwt/bench/loadgen`, bin, prof)
	if err != nil {
		p.Error = err.Error()
		return p
	}
	// Drop the header lines that name temporary files.
	var keep []string
	for line := range strings.SplitSeq(strings.TrimSpace(top), "\n") {
		if strings.HasPrefix(line, "File:") || strings.HasPrefix(line, "Build ID:") || strings.HasPrefix(line, "Time:") {
			continue
		}
		keep = append(keep, line)
	}
	p.Top = strings.Join(keep, "\n")
	d.logf("profile: %s sampled, %s of it in the client", p.Total, p.Client)
	return p
}
