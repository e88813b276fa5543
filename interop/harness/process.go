// Package harness runs the interoperability tests' moving parts: server programs (the Go
// fixture, the Node reference server), the Node scenario driver that speaks through the real
// npm socket.io clients, and the fixture's login endpoint.
//
// Everything takes a testing.TB and reports trouble through it: a missing node binary or
// node_modules fails the test, it never skips it. Processes are killed and waited for in
// t.Cleanup.
//
// A typical test:
//
//	srv := harness.StartFixture(t, "-mode", "connect") // or harness.StartReference(t, ...)
//	token := harness.Login(t, srv.URL, "bob")
//	r := harness.RunClient(t, harness.Scenario{
//		URL:        srv.URL,
//		Client:     harness.ClientV2,
//		Transports: []string{harness.Polling},
//		Steps: []harness.Step{
//			harness.Wait("connect", 5*time.Second),
//			harness.Authenticate(token),
//			harness.Wait("authenticated", 5*time.Second),
//		},
//	})
//	if !r.OK {
//		t.Fatal(r)
//	}
//
// A package using Build (StartFixture) should call RemoveBuilds from its TestMain.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// ListenTimeout bounds how long StartProcess waits for the "listening on" line.
const ListenTimeout = 60 * time.Second

// listenPrefix starts the line a server prints once it accepts connections.
const listenPrefix = "listening on "

// outputLimit is how much of each output stream a Process keeps (the tail).
const outputLimit = 1 << 20

// Process is a server program started by StartProcess. It is killed, and waited for, when the
// test that started it finishes.
type Process struct {
	// URL is the base URL the program announced, e.g. "http://127.0.0.1:41234".
	URL string

	name   string
	cmd    *exec.Cmd
	stdout *tailBuffer
	stderr *tailBuffer
	done   chan struct{} // closed once the program has exited and its output is drained
	err    error         // exit status; read after done is closed

	mu         sync.Mutex
	expectExit bool
	killed     bool
}

// StartProcess starts the program name with args, waits up to ListenTimeout for it to print
// "listening on http://HOST:PORT" on stdout, and returns it with URL set. The test fails at
// once if the program exits or stays silent. When the test ends the program is killed and
// waited for; its stderr and stdout go to the test log if the test failed, the test is marked
// failed if the program had exited on its own (see ExpectExit), and also if its stderr holds a
// data race report (programs built by Build with -race).
func StartProcess(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	p := &Process{
		name:   name,
		stdout: newTailBuffer(outputLimit),
		stderr: newTailBuffer(outputLimit),
		done:   make(chan struct{}),
	}
	found := make(chan string, 1)
	p.cmd = exec.Command(name, args...)
	p.cmd.Stdout = &lineWatcher{w: p.stdout, onLine: func(line string) {
		if rest, ok := strings.CutPrefix(line, listenPrefix); ok {
			select {
			case found <- strings.TrimSpace(rest):
			default:
			}
		}
	}}
	p.cmd.Stderr = p.stderr
	p.cmd.WaitDelay = 5 * time.Second // a grandchild holding the pipes must not block Wait
	setProcAttr(p.cmd)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("harness: start %s: %v", p.describe(), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })

	timer := time.NewTimer(ListenTimeout)
	defer timer.Stop()
	var line string
	select {
	case line = <-found:
	case <-p.done:
		// The line may have come just before a quick exit: the output is drained by now.
		select {
		case line = <-found:
		default:
			t.Fatalf("harness: %s exited before listening: %v\nstderr:\n%s\nstdout:\n%s",
				p.describe(), p.err, p.stderr, p.stdout)
		}
	case <-timer.C:
		t.Fatalf("harness: %s printed no %q line within %v\nstderr:\n%s\nstdout:\n%s",
			p.describe(), listenPrefix+"http://HOST:PORT", ListenTimeout, p.stderr, p.stdout)
	}
	u, err := url.Parse(line)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		t.Fatalf("harness: %s announced %q, not an http URL", p.describe(), listenPrefix+line)
	}
	p.URL = strings.TrimRight(line, "/")
	return p
}

// ExpectExit tells the Process that the program may exit on its own before the test ends,
// so that doing so does not fail the test.
func (p *Process) ExpectExit() {
	p.mu.Lock()
	p.expectExit = true
	p.mu.Unlock()
}

// Done returns a channel closed once the program has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err returns the program's exit status once Done is closed (nil for a clean exit), and nil
// before.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Stderr returns what the program has written to stderr so far (the last MiB).
func (p *Process) Stderr() string { return p.stderr.String() }

// Stdout returns what the program has written to stdout so far (the last MiB).
func (p *Process) Stdout() string { return p.stdout.String() }

// Kill kills the program and waits for it, bounded. Cleanup does the same; calling Kill
// first is harmless.
func (p *Process) Kill() error {
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(15 * time.Second):
		return fmt.Errorf("%s (pid %d) still running 15s after SIGKILL", p.describe(), p.cmd.Process.Pid)
	}
}

func (p *Process) stop(t testing.TB) {
	t.Helper()
	var exitedEarly bool
	select {
	case <-p.done:
		p.mu.Lock()
		exitedEarly = !p.expectExit && !p.killed
		p.mu.Unlock()
	default:
	}
	if err := p.Kill(); err != nil {
		t.Errorf("harness: %v", err)
	}
	stderr := p.stderr.String()
	switch {
	case exitedEarly && p.URL != "":
		t.Errorf("harness: %s exited on its own during the test: %v\nstderr:\n%s", p.describe(), p.err, stderr)
	case strings.Contains(stderr, "WARNING: DATA RACE"):
		t.Errorf("harness: %s reported a data race:\n%s", p.describe(), stderr)
	case t.Failed():
		t.Logf("harness: %s stderr:\n%s\nstdout:\n%s", p.describe(), stderr, p.stdout)
	}
}

func (p *Process) describe() string {
	return strings.Join(p.cmd.Args, " ")
}

// lineWatcher passes everything to w and calls onLine for each complete line.
type lineWatcher struct {
	w      io.Writer
	onLine func(string)
	buf    []byte
}

func (l *lineWatcher) Write(b []byte) (int, error) {
	n, err := l.w.Write(b)
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.onLine(strings.TrimRight(string(l.buf[:i]), "\r"))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 { // a line this long is not the one we watch for
		l.buf = l.buf[:0]
	}
	return n, err
}

// tailBuffer is a concurrency-safe writer keeping the last limit bytes written.
type tailBuffer struct {
	mu      sync.Mutex
	limit   int
	buf     []byte
	dropped bool
}

func newTailBuffer(limit int) *tailBuffer { return &tailBuffer{limit: limit} }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.limit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.dropped = true
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped {
		return "[...]\n" + string(b.buf)
	}
	return string(b.buf)
}

// runBounded runs cmd to completion within d, returning its combined output.
func runBounded(d time.Duration, name string, dir string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	setProcAttr(cmd)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return out, fmt.Errorf("%s %s: no result within %v", name, strings.Join(args, " "), d)
	}
	return out, err
}

// describeOutput trims a program's output for a failure message.
func describeOutput(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "(no output)"
	}
	return s
}

// scanLastLine returns the last non-empty line of b.
func scanLastLine(b []byte) string {
	var last string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			last = line
		}
	}
	return last
}
