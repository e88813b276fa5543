// Command listener is a stand-in server for the harness's own tests: it serves GET /hello
// and announces itself the way the fixture does.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	exit := flag.Bool("exit", false, "write to stderr and exit with status 3 before listening")
	exitAfter := flag.Duration("exit-after", 0, "exit with status 4 this long after listening")
	race := flag.Bool("fake-race", false, "write a data race report header to stderr before announcing")
	flag.Parse()
	if *exit {
		fmt.Fprintln(os.Stderr, "listener: told to exit")
		os.Exit(3)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listener:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "listener: starting")
	if *race {
		fmt.Fprintln(os.Stderr, "==================\nWARNING: DATA RACE")
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	if *exitAfter > 0 {
		go func() {
			time.Sleep(*exitAfter)
			os.Exit(4)
		}()
	}
	http.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "listener:", err)
		os.Exit(1)
	}
}
