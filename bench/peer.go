package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/siojwt/siojwt/bench/loadgen"
)

// peer is a server under test: how to start it and how its clients
// present the token.
type peer struct {
	key   string       // short name, used in tables and plots
	label string       // description
	argv  []string     // command line; the driver adds nothing
	mode  loadgen.Mode // token presentation
	node  bool         // a Node server (for the ratios)
	login bool         // tokens only from the server's /login (not HS256 with the fixture secret)
	// env is added to the server's environment (GOGC=200…).
	env []string
	// polling and compress start the clients over long-polling and offer
	// permessage-deflate (loadgen.Config).
	polling, compress bool
	// hold keeps the sockets open, idle, this long after the connect
	// phase, for the cost of the server's pings, sent every ping.
	hold, ping time.Duration
	// metrics: the server serves the Go collector on /metrics.
	metrics bool
	// collect: the server serves POST /debug/free (-pprof), and memory is
	// read again after it (loadgen.Config.Collect).
	collect bool
	// external runs the load generator as a process of its own (the
	// built bench/cmd/loadgen, its result read as JSON) instead of in the
	// driver's process.
	external bool
	// trace keeps the server's whole standard error (up to 8 MB), for a
	// GODEBUG=schedtrace run.
	trace bool
	// storm reconnects every socket after the connect phase, with the
	// same tokens (loadgen.Config.Storm), paced like the connect phase.
	storm bool
}

// proc is a running peer.
type proc struct {
	cmd     *exec.Cmd
	started time.Time // just before the process was started
	url     string
	stderr  *tailWriter
	done    chan struct{}
	err     error // set when done is closed
}

// tailWriter keeps the last bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

const startTimeout = 30 * time.Second

// start runs argv in dir and waits for its "listening on http://HOST:PORT"
// line on stdout.
func start(ctx context.Context, dir string, argv, env []string) (*proc, error) {
	return startCapture(ctx, dir, argv, env, 8<<10)
}

// startCapture is start keeping the last stderrMax bytes of the process's
// standard error.
func startCapture(ctx context.Context, dir string, argv, env []string, stderrMax int) (*proc, error) {
	if len(argv) == 0 {
		return nil, errors.New("bench: empty command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	p := &proc{cmd: cmd, stderr: &tailWriter{max: stderrMax}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", argv[0], err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if !sent {
				if u, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "listening on "); ok {
					lines <- u
					sent = true
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t := time.NewTimer(startTimeout)
	defer t.Stop()
	select {
	case u := <-lines:
		if _, err := loadgen.CheckLoopback(u); err != nil {
			p.stop()
			return nil, fmt.Errorf("bench: %s: %w", argv[0], err)
		}
		if pu, err := url.Parse(u); err != nil || pu.Scheme != "http" {
			p.stop()
			return nil, fmt.Errorf("bench: %s printed a bad address %q", argv[0], u)
		}
		p.url = u
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("bench: %s exited before listening (%v): %s", strings.Join(argv, " "), p.err, tail(p.stderr.String(), 2000))
	case <-t.C:
		p.stop()
		return nil, fmt.Errorf("bench: %s printed no \"listening on\" line within %s: %s", strings.Join(argv, " "), startTimeout, tail(p.stderr.String(), 2000))
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// alive reports an error if the process has exited.
func (p *proc) alive() error {
	select {
	case <-p.done:
		return fmt.Errorf("server exited (%v): %s", p.err, tail(p.stderr.String(), 2000))
	default:
		return nil
	}
}

// stop sends SIGTERM, then SIGKILL after 5 s, and waits.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
