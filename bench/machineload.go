package bench

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/siojwt/siojwt/bench/loadgen"
)

// PhaseLoad is the machine's load during one phase of one run, with the
// server's CPU over the same phase (to tell the other processes' share).
type PhaseLoad struct {
	Machine loadgen.MachineLoad
	Server  time.Duration
}

// loadsOf returns the connect phases' loads of results (those read).
func loadsOf(rs []*loadgen.Result) []PhaseLoad {
	var out []PhaseLoad
	for _, r := range rs {
		if r != nil && r.Connect.Machine != nil {
			out = append(out, PhaseLoad{Machine: *r.Connect.Machine, Server: r.Connect.ServerCPU})
		}
	}
	return out
}

// statsLoads returns the connect phases' loads of every run of stats.
func statsLoads(stats []*Stats) []PhaseLoad {
	var rs []*loadgen.Result
	for _, s := range stats {
		rs = append(rs, s.Runs...)
	}
	return loadsOf(rs)
}

// loadSpan is the range over runs of the machine's load.
type loadSpan struct {
	n                   int
	steal, busy, others [2]float64 // per cent, lowest and highest
	load1               [2]float64
}

func spanOf(ls []PhaseLoad) loadSpan {
	sp := loadSpan{n: len(ls)}
	if len(ls) == 0 {
		return sp
	}
	var steal, busy, others, load []float64
	for _, l := range ls {
		steal = append(steal, l.Machine.StealPct())
		busy = append(busy, l.Machine.BusyPct())
		others = append(others, l.Machine.OthersPct(l.Server))
		load = append(load, l.Machine.Load1)
	}
	mm := func(xs []float64) [2]float64 { return [2]float64{slices.Min(xs), slices.Max(xs)} }
	sp.steal, sp.busy, sp.others, sp.load1 = mm(steal), mm(busy), mm(others), mm(load)
	return sp
}

func rangeText(r [2]float64, format string) string {
	a, b := fmt.Sprintf(format, r[0]), fmt.Sprintf(format, r[1])
	if a == b {
		return a
	}
	return a + "–" + b
}

// text describes the span in one sentence (without a final stop), or ""
// when no run was read.
func (sp loadSpan) text(cpus int) string {
	if sp.n == 0 {
		return ""
	}
	return fmt.Sprintf("CPU steal %s %%, busy %s %% of the %d CPUs' time, of which %s %% went to neither the server nor the load generator (other processes, the kernel); 1-minute load average %s at the start (%d run(s), /proc/stat over each connect phase)",
		rangeText(sp.steal, "%.1f"), rangeText(sp.busy, "%.0f"), cpus, rangeText(sp.others, "%.0f"), rangeText(sp.load1, "%.2f"), sp.n)
}

// loadLine prints the machine's load during the runs of a table.
func (d *driver) loadLine(p func(string, ...any), ls []PhaseLoad) {
	if t := spanOf(ls).text(d.rep.Machine.CPUs); t != "" {
		p("Machine during these runs: %s.\n\n", t)
	}
}

// pearson is the correlation coefficient of xs and ys (NaN with fewer
// than 3 pairs or no variation).
func pearson(xs, ys []float64) float64 {
	n := min(len(xs), len(ys))
	if n < 3 {
		return math.NaN()
	}
	var mx, my float64
	for i := range n {
		mx += xs[i]
		my += ys[i]
	}
	mx, my = mx/float64(n), my/float64(n)
	var sxy, sxx, syy float64
	for i := range n {
		dx, dy := xs[i]-mx, ys[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}
