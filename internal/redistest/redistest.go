// Package redistest runs a real redis-server for tests.
//
// Start launches a private redis-server on a free loopback port, without
// persistence, and stops it when the test ends. A test that cannot start one
// fails: redis-server must be on PATH (Debian: apt-get install redis-server).
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds the wait for a new server to answer PING.
const startTimeout = 10 * time.Second

// Start runs a redis-server on 127.0.0.1 for the test t and returns its
// address ("127.0.0.1:PORT"). stop kills the server (doing nothing if it is
// not running); restart kills it if it runs and starts a fresh, empty server
// on the same port, returning once it answers PING. The server is killed when
// t ends. stop and restart fail t on error and must be called from the
// goroutine running t.
func Start(t testing.TB) (addr string, stop func(), restart func()) {
	t.Helper()
	s := startServer(t, serverPath(t), nil)
	return s.addr, func() { t.Helper(); s.stop() }, func() {
		t.Helper()
		s.stop()
		if err := s.start(); err != nil {
			t.Fatalf("redistest: restart: %v", err)
		}
	}
}

// serverPath finds redis-server, failing t when it is not installed.
func serverPath(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed, and these tests need a real one: "+
			"install it (Debian/Ubuntu: apt-get install redis-server) and make sure it is on PATH: %v", err)
	}
	return path
}

// startServer starts one redis-server with the extra arguments that
// extra(dir) gives for its working directory, stopped when t ends.
// Another process may take the free port before redis-server binds it: it
// tries a few ports.
func startServer(t testing.TB, path string, extra func(dir string) []string) *server {
	t.Helper()
	s := &server{path: path, dir: t.TempDir()}
	if extra != nil {
		s.extra = extra(s.dir)
	}
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: picking a port: %v", err)
		}
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = s.start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("redistest: %v", lastErr)
	}
	t.Cleanup(s.stop)
	return s
}

// server is one redis-server process, started and stopped in turn.
type server struct {
	path  string
	dir   string // working directory: nothing is saved there
	addr  string
	extra []string // more arguments

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// start launches redis-server on s.addr and waits until it answers PING.
func (s *server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	host, port, _ := net.SplitHostPort(s.addr)
	var out bytes.Buffer
	cmd := exec.Command(s.path, append([]string{
		"--port", port, "--bind", host,
		"--save", "", "--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no", "--loglevel", "warning"}, s.extra...)...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.path, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		err := ping(s.addr)
		if err == nil {
			s.cmd, s.exited = cmd, exited
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited at start (%v); output:\n%s", s.addr, cmd.ProcessState, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not answer PING within %v: %v; output:\n%s", s.addr, startTimeout, err, out.String())
		}
	}
}

// stop kills the server, if it runs, and waits for it to exit.
func (s *server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd, s.exited = nil, nil
}

// ping sends PING over a fresh connection and expects +PONG.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return errors.New("unexpected reply to PING: " + strconv.Quote(line))
	}
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
