package bench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// FeatureBench is the in-process per-feature benchmark (BenchmarkFeatures
// in bench/profile): client and server in one process, one iteration one
// connection, so that differences between rows are the server's.
type FeatureBench struct {
	Command string
	// Count is the number of times each row ran (-count); Rows are in
	// the benchmark's order.
	Count int
	Rows  []*FeatureBenchRow
	Error string
}

// FeatureBenchRow is one sub-benchmark: the median over its runs of each
// figure per connection (NaN when not reported).
type FeatureBenchRow struct {
	Name                         string
	Allocs, Bytes, Heap, CPU     float64
	HeapLo, HeapHi, CPULo, CPUHi float64
	Runs                         int
}

func (b *FeatureBench) row(name string) *FeatureBenchRow {
	if b == nil {
		return nil
	}
	for _, r := range b.Rows {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// featureBenchLine is a BenchmarkFeatures result line: the sub-benchmark
// (without the -GOMAXPROCS suffix), the iterations, then value-unit pairs.
var featureBenchLine = regexp.MustCompile(`^BenchmarkFeatures/(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// parseFeatureBench reads go test -bench output of BenchmarkFeatures: per
// sub-benchmark, the median over its lines of allocs/op, B/op,
// heap-B/conn and cpu-µs/op.
func parseFeatureBench(out string) []*FeatureBenchRow {
	var order []string
	vals := map[string]map[string][]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := featureBenchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		if vals[m[1]] == nil {
			vals[m[1]] = map[string][]float64{}
			order = append(order, m[1])
		}
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				vals[m[1]][f[i+1]] = append(vals[m[1]][f[i+1]], v)
			}
		}
	}
	var rows []*FeatureBenchRow
	for _, name := range order {
		v := vals[name]
		r := &FeatureBenchRow{Name: name, Allocs: median(v["allocs/op"]), Bytes: median(v["B/op"]), Heap: median(v["heap-B/conn"]), CPU: median(v["cpu-µs/op"]),
			Runs: len(v["ns/op"])}
		r.HeapLo, r.HeapHi = spanOrNaN(v["heap-B/conn"])
		r.CPULo, r.CPUHi = spanOrNaN(v["cpu-µs/op"])
		rows = append(rows, r)
	}
	return rows
}

func spanOrNaN(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	return slices.Min(xs), slices.Max(xs)
}

// featureBench runs BenchmarkFeatures: 4000 connections per row, three
// times (smoke: 200, once).
func (d *driver) featureBench(ctx context.Context) *FeatureBench {
	n, count := 4000, 3
	if d.opt.Smoke {
		n, count = 200, 1
	}
	b := &FeatureBench{Count: count}
	bt := fmt.Sprintf("%dx", n)
	b.Command = fmt.Sprintf("cd bench && go test -run '^$' -bench '^BenchmarkFeatures$' -benchtime %s -count %d ./profile/", bt, count)
	d.logf("features in process: %s", b.Command)
	out, err := goIn(ctx, d.opt.Root, "./bench/profile", "test", "-run", "^$", "-bench", "^BenchmarkFeatures$", "-benchtime", bt, "-count", strconv.Itoa(count))
	if err != nil {
		b.Error = err.Error()
		d.logf("features in process: error: %v", err)
	}
	b.Rows = parseFeatureBench(out)
	if err == nil && len(b.Rows) == 0 {
		b.Error = "no BenchmarkFeatures line in the output"
	}
	for _, r := range b.Rows {
		d.logf("features in process %s: %s allocs/op, %s B/op, %s heap-B/conn, %s cpu-µs/op", r.Name, f0(r.Allocs), f0(r.Bytes), f0(r.Heap), f0(r.CPU))
	}
	return b
}

// featureBenchSection writes the in-process table of the features part.
func (d *driver) featureBenchSection(p func(string, ...any)) {
	b := d.rep.FeatureBench
	if b == nil {
		return
	}
	p("### In process, per feature (`BenchmarkFeatures`)\n\n")
	p("`%s`: client and server in one process, one iteration one connection (100 in flight, opened and closed), without sockets to another process; the client's share is the same in every row, so the differences between rows are the server's. Median of %d run(s) per row. ", b.Command, b.Count)
	p("This table prices what the socket-level rows above cannot resolve: differences of a few µs per connection are below their run-to-run noise. ")
	p("The parts of the binding that are always on (the session, the connection count, the early-packet hold, the adapter wrapper, the token check) are in `siojwt-off`: its difference to `bare` is their price with the token check, and to `jwt` (a bare golang-jwt middleware) without it. `mw` is the bare server with a middleware that admits every socket: what the server library charges for running a middleware at all, which every check made in the handshake pays. ")
	p("Allocations and bytes allocated per connection are exact and steady from run to run; the live heap per open connection is read after a forced collection (its range over the runs in brackets); cpu-µs/op is the process's CPU, client included, and moves with the machine's load: it is noisy, a rough figure only.\n\n")
	if b.Error != "" {
		p("Error: `%s`\n\n", oneLine(tail(b.Error, 500)))
	}
	if len(b.Rows) == 0 {
		return
	}
	bare, off := b.row("bare"), b.row("siojwt-off")
	delta := func(v float64, ref *FeatureBenchRow, of func(*FeatureBenchRow) float64, r *FeatureBenchRow) string {
		if ref == nil || ref == r || math.IsNaN(v) || math.IsNaN(of(ref)) {
			return ""
		}
		return fmt.Sprintf("%+.0f", v-of(ref))
	}
	withRange := func(v, lo, hi float64) string {
		if math.IsNaN(v) {
			return "n/a"
		}
		if b.Count > 1 && !math.IsNaN(lo) {
			return fmt.Sprintf("%s (%s–%s)", f0(v), f0(lo), f0(hi))
		}
		return f0(v)
	}
	allocs := func(r *FeatureBenchRow) float64 { return r.Allocs }
	bytes := func(r *FeatureBenchRow) float64 { return r.Bytes }
	heap := func(r *FeatureBenchRow) float64 { return r.Heap }
	p("| row | allocs/op | Δ vs bare | Δ vs siojwt-off | B/op | Δ vs bare | Δ vs siojwt-off | heap B/conn | Δ vs bare | Δ vs siojwt-off | cpu-µs/op (noisy) |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range b.Rows {
		p("| `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Name,
			f0(r.Allocs), delta(r.Allocs, bare, allocs, r), delta(r.Allocs, off, allocs, r),
			f0(r.Bytes), delta(r.Bytes, bare, bytes, r), delta(r.Bytes, off, bytes, r),
			withRange(r.Heap, r.HeapLo, r.HeapHi), delta(r.Heap, bare, heap, r), delta(r.Heap, off, heap, r),
			withRange(r.CPU, r.CPULo, r.CPUHi))
	}
	p("\n")
}
