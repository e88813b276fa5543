// Command benchall runs the whole benchmark suite and writes BENCHMARKS.md
// at the repository root, with plots in bench/plots. Run it from the
// repository root, usually through bench/run.sh:
//
//	go run ./bench/cmd/benchall          the full run (about 20 minutes)
//	go run ./bench/cmd/benchall -smoke   tiny counts, output in a temporary directory
//	go run ./bench/cmd/benchall -only tuning,soak -out /tmp/part.md   some parts only
//
// It exits 1 when a connection failed or a server errored, 2 when the run
// could not be carried out.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/siojwt/siojwt/bench"
)

func main() {
	var o bench.Options
	flag.BoolVar(&o.Smoke, "smoke", false, "tiny counts, Go peers and one Node peer, output in a temporary directory unless -out is given")
	flag.StringVar(&o.Out, "out", "", "report path (default BENCHMARKS.md at the repository root)")
	flag.StringVar(&o.PlotDir, "plots", "", "plot directory (default bench/plots)")
	flag.IntVar(&o.TargetReps, "target-reps", 0, "interleaved repetitions of the parts whose rounds judge the targets, handshake and keyset (default 9)")
	flag.IntVar(&o.Reps, "reps", 0, "interleaved repetitions of the other rate parts, features, event and variance (default 5)")
	flag.IntVar(&o.Conns, "n", 0, "connections per rate run (default 2000)")
	flag.IntVar(&o.Concurrency, "c", 0, "connection attempts in flight (default 100)")
	sizes := flag.String("sizes", "", "comma-separated open-socket counts of the scaling runs (default 1000,5000,10000)")
	flag.IntVar(&o.HoldConns, "hold-n", 0, "sockets held by each server with one message per second (default 1000)")
	flag.DurationVar(&o.HoldFor, "hold-for", 0, "how long they are held (default 10s)")
	flag.IntVar(&o.TuneReps, "tune-reps", 0, "interleaved repetitions of the server-library tuning part (default 4)")
	flag.IntVar(&o.TuneConns, "tune-n", 0, "connections per tuning run (default 1500)")
	flag.IntVar(&o.SoakConns, "soak-n", 0, "authenticated sockets in the soak (default 10000)")
	flag.DurationVar(&o.SoakFor, "soak-for", 0, "soak duration (default 1m)")
	only := flag.String("only", "", "comma-separated parts to run ("+strings.Join(bench.Parts, ", ")+"); needs -out")
	flag.DurationVar(&o.MicroTime, "micro-time", 0, "time per verification micro-benchmark (default 1s)")
	flag.IntVar(&o.ProfileConns, "profile-n", 0, "connections in the profiled run (default 5000)")
	flag.IntVar(&o.ProfileRuns, "profile-runs", 0, "times the in-process profile opens them, into one profile (default 40)")
	flag.StringVar(&o.Command, "command", "./bench/run.sh", "command line shown in the report")
	timeout := flag.Duration("timeout", time.Hour, "cap on the whole run")
	flag.Parse()
	o.Log = os.Stderr
	if *only != "" {
		o.Only = strings.Split(*only, ",")
	}
	if *sizes != "" {
		for f := range strings.SplitSeq(*sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				fmt.Fprintln(os.Stderr, "benchall: -sizes:", err)
				os.Exit(2)
			}
			o.ScaleSizes = append(o.ScaleSizes, n)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := bench.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchall:", err)
		os.Exit(2)
	}
	if n := rep.Failures(); n > 0 {
		fmt.Fprintf(os.Stderr, "benchall: %d failed connections or errored runs (see %s)\n", n, rep.Options.Out)
		os.Exit(1)
	}
}
