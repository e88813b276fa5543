package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/siojwt/siojwt/bench/loadgen"
)

// Metric names of the Prometheus Go and process collectors the driver
// reads from a server's /metrics.
const (
	mGoroutines = "go_goroutines"
	mMallocs    = "go_memstats_mallocs_total"
	mAllocBytes = "go_memstats_alloc_bytes_total"
	mHeapAlloc  = "go_memstats_heap_alloc_bytes"
	mHeapInuse  = "go_memstats_heap_inuse_bytes"
	mStackInuse = "go_memstats_stack_inuse_bytes"
	mRSS        = "process_resident_memory_bytes"
	mGOMAXPROCS = "go_sched_gomaxprocs_threads"
	mGCCycles   = "go_gc_duration_seconds_count"
)

// scrape reads the unlabelled samples of a Prometheus text exposition at
// base+"/metrics".
func scrape(ctx context.Context, base string) (map[string]float64, error) {
	return readMetrics(ctx, base, parseMetrics)
}

// readMetrics passes the body of base+"/metrics" (at most 8 MB) to parse.
func readMetrics(ctx context.Context, base string, parse func(io.Reader) (map[string]float64, error)) (map[string]float64, error) {
	if _, err := loadgen.CheckLoopback(base); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: metrics: status %s", resp.Status)
	}
	return parse(io.LimitReader(resp.Body, 8<<20))
}

// mCloses is the fixture's count of Engine.IO closes by reason
// (-close-reasons).
const mCloses = "fixture_engine_closes_total"

// parseCloses returns the samples of mCloses by their reason label.
func parseCloses(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), mCloses+`{reason=`)
		if !ok {
			continue
		}
		i := strings.LastIndex(rest, "} ")
		if i < 0 {
			return nil, fmt.Errorf("bench: metrics line %q", sc.Text())
		}
		reason, err := strconv.Unquote(rest[:i])
		if err != nil {
			return nil, fmt.Errorf("bench: metrics line %q: %w", sc.Text(), err)
		}
		f := strings.Fields(rest[i+2:])
		if len(f) == 0 {
			return nil, fmt.Errorf("bench: metrics line %q", sc.Text())
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("bench: metrics line %q: %w", sc.Text(), err)
		}
		out[reason] = v
	}
	return out, sc.Err()
}

// scrapeCloses reads mCloses from base+"/metrics".
func scrapeCloses(ctx context.Context, base string) (map[string]float64, error) {
	return readMetrics(ctx, base, parseCloses)
}

// parseMetrics returns the samples without labels of a Prometheus text
// exposition ("name value [timestamp]" lines).
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || strings.ContainsRune(f[0], '{') {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return nil, fmt.Errorf("bench: metrics line %q: %w", line, err)
		}
		out[f[0]] = v
	}
	return out, sc.Err()
}

// metricOr returns m[name], or NaN when absent.
func metricOr(m map[string]float64, name string) float64 {
	if v, ok := m[name]; ok {
		return v
	}
	return math.NaN()
}

// freeMemory asks a Go server started with -pprof to collect its garbage
// and return the freed memory to the OS (POST /debug/free), and returns
// once it has.
func freeMemory(ctx context.Context, base string) error {
	return debugCall(ctx, http.MethodPost, base+"/debug/free", http.StatusNoContent, "free memory")
}

// forceGC asks a server started with -pprof to collect garbage (the heap
// profile's gc=1) and discards the profile.
func forceGC(ctx context.Context, base string) error {
	return debugCall(ctx, http.MethodGet, base+"/debug/pprof/heap?gc=1", http.StatusOK, "forced GC")
}

// debugCall makes a request to one of the -pprof endpoints, within 30 s,
// discards the answer and wants status want; what names it in errors.
func debugCall(ctx context.Context, method, url string, want int, what string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("bench: %s: %w", what, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("bench: %s: status %s (is the server running with -pprof?)", what, resp.Status)
	}
	return nil
}
