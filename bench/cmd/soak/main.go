// Command soak holds many authenticated sockets on the fixture, each
// sending a message a second, then closes them and checks that nothing
// failed and that the server's goroutines came back to the baseline:
//
//	go run ./bench/cmd/soak -n 10000 -for 1m
//
// It builds interop/fixture (or runs the binary given with -fixture),
// raises its open-file limit, and prints sockets, messages, failures, and
// the server's goroutines, RSS and heap before, during and after. It exits
// 1 when the soak found a problem, 2 when it could not run.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/siojwt/siojwt/bench"
)

func main() {
	var c bench.SoakConfig
	asJSON := flag.Bool("json", false, "print the result as JSON")
	flag.IntVar(&c.Conns, "n", 10000, "authenticated sockets")
	flag.DurationVar(&c.For, "for", time.Minute, "how long the sockets are held")
	flag.DurationVar(&c.Interval, "every", time.Second, "each socket sends a message this often")
	flag.IntVar(&c.Concurrency, "c", 100, "connection attempts in flight")
	flag.StringVar(&c.Fixture, "fixture", "", "a built fixture binary (default: go build ./interop/fixture)")
	flag.DurationVar(&c.Settle, "settle", 30*time.Second, "wait at most this long for the goroutines to come back")
	flag.Parse()
	c.Log = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.Soak(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		mb := func(b float64) float64 { return b / (1 << 20) }
		fmt.Printf("sockets     %d connected of %d, failures %v\n", res.Connected, res.Conns, res.Failures)
		fmt.Printf("held        %s, a message every %s: %d sent, %d answered, %d closed by the server %v\n", res.Hold, res.Interval, res.Sent, res.Answered, res.Dropped, res.DropReasons)
		if res.Dropped > 0 || len(res.ServerCloses) > 0 {
			fmt.Printf("            server library's close reasons during the hold: %v\n", res.ServerCloses)
		}
		for _, d := range res.Drops {
			fmt.Printf("            dropped %s\n", d)
		}
		fmt.Printf("server CPU  %.0f µs per connection, %.1f µs per message\n", res.ConnectCPU, res.MessageCPU)
		fmt.Printf("goroutines  before %.0f, peak %.0f, after close %.0f (back in %s), %.2f per open socket\n",
			res.Before.Goroutines, res.Peak.Goroutines, res.After.Goroutines, res.BackIn.Round(time.Millisecond), res.GoroutinesPerSocket())
		fmt.Printf("RSS         before %.1f MB, peak %.1f MB, after close %.1f MB, after a forced GC %.1f MB\n",
			mb(float64(res.Before.RSS)), mb(float64(res.Peak.RSS)), mb(float64(res.After.RSS)), mb(float64(res.AfterGC.RSS)))
		fmt.Printf("Go heap     before %.1f MB, peak %.1f MB, after a forced GC %.1f MB, after a second cycle %.1f MB\n",
			mb(res.Before.HeapAlloc), mb(res.Peak.HeapAlloc), mb(res.AfterGC.HeapAlloc), mb(res.SecondHeap))
	}
	if err := res.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "soak: passed")
}
