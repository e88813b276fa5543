// Command loadgen opens many Socket.IO connections to one loopback server
// over bare websockets and prints what it measured.
//
//	loadgen -url http://127.0.0.1:9000 -n 2000 -c 100 -mode auth -login [-pid PID]
//
// Flags:
//
//	-url       server base URL (loopback only)
//	-n, -c     connections and attempts in flight
//	-mode      auth | auth-bearer | query | none | event (see package loadgen)
//	-token     the JWT to present; -login fetches one with POST /login instead;
//	           -tokens-file gives one token per line, connection i presenting
//	           line i (modulo the lines; the warm-up takes the lines after -n)
//	-pid       the server's process id: adds server CPU per connection and
//	           memory per open connection, read from /proc
//	-hold      keep the sockets open this long; -msg-every sends one echo
//	           per socket per interval while held (soak)
//	-storm     then drop every socket and reconnect them all at once
//	           (-storm-c at a time, after -storm-delay)
//	-polling   start each connection over HTTP long-polling and upgrade to a
//	           websocket, as socket.io-client does by default
//	-compress  ask for permessage-deflate, as browsers do
//	-retries   extra attempts after dial errors and timeouts
//	-timeout   per-connection connect deadline; -max caps the run
//	-warmup    connections opened and closed first (0: min(n, 100); -1: none)
//	-settle    pause before memory is read; -close-wait after the close
//	-json      print the result as JSON (loadgen.Result), for a driver
//
// Every phase also reports the machine's CPU steal and busy time (from
// /proc/stat) and this process's own CPU time.
//
// The exit status is 1 when any connection failed, 2 on bad flags.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/siojwt/siojwt/bench/loadgen"
)

func main() {
	var cfg loadgen.Config
	var mode string
	var login, asJSON bool
	var tokensFile string
	flag.StringVar(&cfg.URL, "url", "", "server base URL, e.g. http://127.0.0.1:9000 (loopback only)")
	flag.StringVar(&cfg.Namespace, "nsp", "/", "namespace")
	flag.IntVar(&cfg.Conns, "n", 1000, "connections to open")
	flag.IntVar(&cfg.Concurrency, "c", 100, "connection attempts in flight")
	flag.StringVar(&mode, "mode", "auth", "token presentation: auth | auth-bearer | query | none | event")
	flag.StringVar(&cfg.Token, "token", "", "JWT to present")
	flag.BoolVar(&login, "login", false, "fetch the token with POST /login on the server")
	flag.StringVar(&tokensFile, "tokens-file", "", "file of tokens, one per line: connection i presents line i")
	flag.IntVar(&cfg.ServerPID, "pid", 0, "server process id for CPU and memory readings")
	flag.DurationVar(&cfg.Hold, "hold", 0, "keep the sockets open this long")
	flag.DurationVar(&cfg.MessageInterval, "msg-every", 0, "while held, each socket emits echo this often")
	flag.BoolVar(&cfg.Storm, "storm", false, "drop every socket and reconnect them all at once")
	flag.IntVar(&cfg.StormConcurrency, "storm-c", 0, "reconnection attempts in flight in the storm (0: all)")
	flag.DurationVar(&cfg.StormDelay, "storm-delay", 0, "pause between dropping the sockets and reconnecting them")
	flag.BoolVar(&cfg.Polling, "polling", false, "start over HTTP long-polling, then upgrade to a websocket")
	flag.BoolVar(&cfg.Compress, "compress", false, "ask for permessage-deflate")
	flag.IntVar(&cfg.Retries, "retries", 0, "extra attempts after dial errors and timeouts")
	flag.DurationVar(&cfg.ConnectTimeout, "timeout", 10*time.Second, "per-connection connect deadline")
	flag.DurationVar(&cfg.MaxDuration, "max", 5*time.Minute, "cap on the whole run")
	flag.IntVar(&cfg.Warmup, "warmup", 0, "warm-up connections opened and closed first (0: min(n, 100); -1: none)")
	flag.DurationVar(&cfg.Settle, "settle", time.Second, "pause before memory is read with every connection open")
	flag.DurationVar(&cfg.CloseWait, "close-wait", time.Second, "pause after the close before the server's CPU is read again")
	flag.BoolVar(&asJSON, "json", false, "print the result as JSON")
	flag.Parse()

	m, err := loadgen.ParseMode(mode)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg.Mode = m
	if tokensFile != "" {
		b, err := os.ReadFile(tokensFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		cfg.Tokens = strings.Fields(string(b))
		if len(cfg.Tokens) == 0 {
			fmt.Fprintln(os.Stderr, "loadgen: -tokens-file holds no token")
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if login && m != loadgen.ModeNone {
		cfg.Token, err = loadgen.FetchToken(ctx, cfg.URL, "loadgen")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		printPhase("connect", &res.Connect, res.Measured)
		if res.Measured {
			fmt.Printf("  memory: base %.1f MB, open %.1f MB, %.1f KB per open connection\n",
				mb(res.RSSBase), mb(res.RSSOpen), res.MemPerConn()/1024)
		}
		if s := res.Soak; s != nil {
			fmt.Printf("hold: %s, %d sockets, %d sent, %d received, %d dropped", s.Duration.Round(time.Millisecond), s.Sockets, s.Sent, s.Received, s.Dropped)
			if res.Measured && s.Received > 0 {
				fmt.Printf(", server CPU %s (%.1f µs per message)", s.ServerCPU, us(s.CPUPerMessage()))
			}
			fmt.Println()
		}
		if res.Storm != nil {
			printPhase("storm", res.Storm, res.Measured)
		}
	}
	if res.Failures() > 0 {
		os.Exit(1)
	}
}

func printPhase(name string, p *loadgen.Phase, measured bool) {
	fmt.Printf("%s: %d/%d connected in %s (%.0f conn/s), p50 %s, p99 %s, max %s, %d retries, %d with permessage-deflate\n",
		name, p.Connected, p.Attempted, p.Elapsed.Round(time.Millisecond), p.Rate(),
		p.P50.Round(10*time.Microsecond), p.P99.Round(10*time.Microsecond), p.Max.Round(10*time.Microsecond), p.Retries, p.Deflated)
	if measured {
		fmt.Printf("  server CPU %s, %.0f µs per connection\n", p.ServerCPU, us(p.CPUPerConn()))
	}
	if m := p.Machine; m != nil {
		fmt.Printf("  machine: steal %.1f %%, busy %.1f %%", m.StealPct(), m.BusyPct())
		if measured {
			fmt.Printf(" (%.1f %% neither the server nor the load generator)", m.OthersPct(p.ServerCPU))
		}
		fmt.Printf(", load generator CPU %s, 1-minute load %.2f at the start\n", m.Client, m.Load1)
	}
	codes := make([]string, 0, len(p.Failures))
	for c := range p.Failures {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		fmt.Printf("  failed %s: %d\n", c, p.Failures[c])
	}
}

func mb(b int64) float64         { return float64(b) / (1 << 20) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
