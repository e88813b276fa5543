package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Implementations in the verification micro-benchmark, in column order.
const (
	implGolangJWT = "golang-jwt v5 ParseWithClaims"
	implCore      = "siojwt core Verify"
	implCoreCache = "siojwt core Verify, cache hit"
	implJWT9Obj   = "jsonwebtoken 9.0.3, KeyObject"
	implJWT9Text  = "jsonwebtoken 9.0.3, secret/PEM string"
	implJWT8Obj   = "jsonwebtoken 8.5.1, KeyObject"
	implJWT8Text  = "jsonwebtoken 8.5.1, secret/PEM string"
)

// MicroImpls is the column order of Micro.
var MicroImpls = []string{implGolangJWT, implCore, implCoreCache, implJWT9Obj, implJWT9Text, implJWT8Obj, implJWT8Text}

// MicroAlgs is the row order of Micro.
var MicroAlgs = []string{"HS256", "RS256", "ES256", "EdDSA"}

// Micro is the verification micro-benchmark: nanoseconds per verify by
// algorithm and implementation (absent: not measured or not supported).
type Micro struct {
	NS map[string]map[string]float64 // alg -> impl -> ns per verify
	// Unsupported records why an implementation cannot verify an
	// algorithm.
	Unsupported map[string]map[string]string
	// Authenticate is the core's whole handshake path (extraction plus
	// HS256 verification), ns per op; 0 when not measured.
	Authenticate float64
	// HS256Parts splits a bare HS256 verification (ns per op): "hmac",
	// "base64", "json", "validate", "clock" (bench/verify
	// BenchmarkHS256Parts).
	HS256Parts map[string]float64
	// SessionBytes is the binding's memory per authenticated session with
	// its expiry deadline, from the root package's TestTimers10k (0: not
	// measured).
	SessionBytes float64
	// Errors lists benchmark commands that failed.
	Errors []string
}

// set records ns for alg and impl, keeping the lowest of repeated runs.
func (m *Micro) set(alg, impl string, ns float64) {
	if m.NS[alg] == nil {
		m.NS[alg] = map[string]float64{}
	}
	if old, ok := m.NS[alg][impl]; !ok || ns < old {
		m.NS[alg][impl] = ns
	}
}

// microCount is how many times each micro-benchmark runs; the lowest
// figure is kept.
const microCount = 3

// sessionBytes reads TestTimers10k's log line "N sessions with a
// deadline: B bytes each".
var sessionBytes = regexp.MustCompile(`sessions with a deadline: ([\d.]+) bytes each`)

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op`)

// parseGoBench returns benchmark name (without the -GOMAXPROCS suffix) ->
// ns/op, the lowest of the benchmark's lines (-count): on a shared
// machine, interference only ever adds time.
func parseGoBench(out string) map[string]float64 {
	res := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if v, err := strconv.ParseFloat(m[2], 64); err == nil {
			if old, ok := res[m[1]]; !ok || v < old {
				res[m[1]] = v
			}
		}
	}
	return res
}

// nodeVerifyLine is one line of bench/node/verify.js.
type nodeVerifyLine struct {
	Lib     string  `json:"lib"`
	Alg     string  `json:"alg"`
	Key     string  `json:"key"`
	NsPerOp float64 `json:"nsPerOp"`
	Error   string  `json:"error"`
}

func nodeImpl(lib, key string) string {
	major := strings.SplitN(strings.TrimPrefix(lib, "jsonwebtoken@"), ".", 2)[0]
	switch {
	case major == "9" && key == "object":
		return implJWT9Obj
	case major == "9":
		return implJWT9Text
	case major == "8" && key == "object":
		return implJWT8Obj
	case major == "8":
		return implJWT8Text
	}
	return ""
}

func (d *driver) micro(ctx context.Context, tmp string) *Micro {
	m := &Micro{NS: map[string]map[string]float64{}, Unsupported: map[string]map[string]string{}, HS256Parts: map[string]float64{}}
	// Each benchmark runs microCount times for MicroTime in all.
	per := max(d.opt.MicroTime/microCount, 100*time.Millisecond)
	bt := per.String()
	count := strconv.Itoa(microCount)

	d.logf("micro: golang-jwt")
	out, err := goIn(ctx, d.opt.Root, "./bench/verify", "test", "-run", "^$", "-bench", "^(BenchmarkParse|BenchmarkHS256Parts)$", "-benchtime", bt, "-count", count)
	if err != nil {
		m.Errors = append(m.Errors, err.Error())
	}
	for name, ns := range parseGoBench(out) {
		if alg, ok := strings.CutPrefix(name, "BenchmarkParse/"); ok {
			m.set(alg, implGolangJWT, ns)
		}
		if part, ok := strings.CutPrefix(name, "BenchmarkHS256Parts/"); ok {
			m.HS256Parts[part] = ns
		}
	}

	d.logf("micro: the binding's memory per session (TestTimers10k)")
	out, err = goIn(ctx, d.opt.Root, ".", "test", "-run", "^TestTimers10k$", "-count", "1", "-v")
	if err != nil {
		m.Errors = append(m.Errors, err.Error())
	}
	if sm := sessionBytes.FindStringSubmatch(out); sm != nil {
		m.SessionBytes, _ = strconv.ParseFloat(sm[1], 64)
	} else if err == nil {
		m.Errors = append(m.Errors, "TestTimers10k printed no \"bytes each\" line")
	}

	if coreHasBench(d.opt.Root) {
		d.logf("micro: core")
		out, err := goIn(ctx, d.opt.Root, "./core", "test", "-run", "^$", "-bench", "^(BenchmarkVerify|BenchmarkVerifyCached|BenchmarkAuthenticate)$", "-benchtime", bt, "-count", count)
		if err != nil {
			m.Errors = append(m.Errors, err.Error())
		}
		for name, ns := range parseGoBench(out) {
			if rest, ok := strings.CutPrefix(name, "BenchmarkVerify/"); ok {
				if alg, ok := strings.CutSuffix(rest, "/siojwt"); ok {
					m.set(alg, implCore, ns)
				}
			}
			if alg, ok := strings.CutPrefix(name, "BenchmarkVerifyCached/"); ok {
				m.set(alg, implCoreCache, ns)
			}
			if name == "BenchmarkAuthenticate" {
				m.Authenticate = ns
			}
		}
	} else {
		d.note("core has no BenchmarkVerify: the library's own verification figures are missing.")
	}

	d.logf("micro: jsonwebtoken")
	var outs []string
	for range microCount {
		out, err := commandOutput(ctx, d.opt.Root, "node", filepath.Join("bench", "node", "verify.js"), "-ms", strconv.FormatInt(per.Milliseconds(), 10))
		if err != nil {
			m.Errors = append(m.Errors, err.Error())
			break
		}
		outs = append(outs, out)
	}
	sc := bufio.NewScanner(strings.NewReader(strings.Join(outs, "\n")))
	for sc.Scan() {
		var l nodeVerifyLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		impl := nodeImpl(l.Lib, l.Key)
		if impl == "" {
			continue
		}
		if l.Error != "" {
			if m.Unsupported[l.Alg] == nil {
				m.Unsupported[l.Alg] = map[string]string{}
			}
			m.Unsupported[l.Alg][impl] = l.Error
			continue
		}
		m.set(l.Alg, impl, l.NsPerOp)
	}
	for _, e := range m.Errors {
		d.logf("micro: error: %s", e)
	}
	return m
}

func coreHasBench(root string) bool {
	files, _ := filepath.Glob(filepath.Join(root, "core", "*_test.go"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), "func BenchmarkVerify(") {
			return true
		}
	}
	return false
}

// fmtNS formats nanoseconds as microseconds.
func fmtNS(ns float64) string {
	if ns <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f µs", ns/1000)
}
