package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// driverSlack is how long past the scenario deadline a driver may take (Node start-up,
// closing the connections) before it is killed.
const driverSlack = 20 * time.Second

// ClientRun is a driver process started by StartClient.
type ClientRun struct {
	t        testing.TB
	scenario []byte
	cancel   context.CancelFunc
	done     chan struct{}
	stdout   bytes.Buffer
	stderr   bytes.Buffer
	err      error
	timedOut bool
}

// StartClient starts the Node driver on scenario s and returns at once, so that several
// clients can run side by side; collect each with Result. Call StartClient and Result from
// the test's goroutine. A run not collected is killed when the test ends.
func StartClient(t testing.TB, s Scenario) *ClientRun {
	t.Helper()
	return startDriver(t, s, nil)
}

func startDriver(t testing.TB, s Scenario, extra []string) *ClientRun {
	t.Helper()
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("harness: encoding scenario: %v", err)
	}
	return startDriverData(t, data, s.deadline(), extra)
}

// startDriverData starts the driver on the JSON input data, bounded by deadline.
func startDriverData(t testing.TB, data []byte, deadline time.Duration, extra []string) *ClientRun {
	t.Helper()
	node := RequireNode(t)
	driver := filepath.Join(ModuleRoot(t), "interop", "clients", "driver.js")
	ctx, cancel := context.WithTimeout(context.Background(), deadline+driverSlack)
	c := &ClientRun{t: t, scenario: data, cancel: cancel, done: make(chan struct{})}
	cmd := exec.CommandContext(ctx, node, append(append([]string{driver}, extra...), "-")...)
	cmd.Stdin = bytes.NewReader(data)
	cmd.Stdout = &c.stdout
	cmd.Stderr = &c.stderr
	cmd.WaitDelay = 5 * time.Second
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("harness: starting the driver: %v", err)
	}
	go func() {
		c.err = cmd.Wait()
		c.timedOut = ctx.Err() != nil
		close(c.done)
	}()
	t.Cleanup(func() {
		c.cancel()
		<-c.done
	})
	return c
}

// output waits for the driver and returns its result line, failing the test if the driver
// did not exit cleanly with one.
func (c *ClientRun) output() string {
	c.t.Helper()
	<-c.done
	c.cancel()
	if c.timedOut {
		c.t.Fatalf("harness: the driver was killed after running past its deadline\nscenario: %s\nstderr:\n%s",
			c.scenario, describeOutput(c.stderr.Bytes()))
	}
	if c.err != nil {
		c.t.Fatalf("harness: the driver failed: %v\nscenario: %s\nstderr:\n%s\nstdout:\n%s",
			c.err, c.scenario, describeOutput(c.stderr.Bytes()), describeOutput(c.stdout.Bytes()))
	}
	line := scanLastLine(c.stdout.Bytes())
	if line == "" {
		c.t.Fatalf("harness: the driver printed no result\nscenario: %s\nstderr:\n%s", c.scenario, describeOutput(c.stderr.Bytes()))
	}
	return line
}

// Result waits for the run to end and returns its result. The test fails if the driver
// itself failed (a bad scenario, a crash); a scenario whose steps failed is reported in
// Result.OK and Result.Failure, not as a test failure.
func (c *ClientRun) Result() Result {
	c.t.Helper()
	line := c.output()
	var r Result
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		c.t.Fatalf("harness: decoding the driver's result: %v\n%s", err, line)
	}
	return r
}

// RunClient runs the Node driver on scenario s and returns its result (StartClient, then
// Result).
func RunClient(t testing.TB, s Scenario) Result {
	t.Helper()
	return StartClient(t, s).Result()
}

// RunMany runs n copies of scenario s at once in one driver process, each with its own
// connection, and returns the aggregate.
func RunMany(t testing.TB, n int, s Scenario) ManyResult {
	t.Helper()
	if n < 1 || n > 10000 {
		t.Fatalf("harness: RunMany needs 1 to 10000 copies, not %d", n)
	}
	c := startDriver(t, s, []string{"--many", strconv.Itoa(n)})
	line := c.output()
	var m ManyResult
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("harness: decoding the driver's result: %v\n%s", err, line)
	}
	return m
}

// RunBatch runs the scenarios at once in one driver process, each with its own client,
// and returns their results in order. One Node start-up serves them all, which makes a
// table of short scenarios much cheaper than a RunClient each.
func RunBatch(t testing.TB, ss []Scenario) []Result {
	t.Helper()
	if len(ss) < 1 || len(ss) > 10000 {
		t.Fatalf("harness: RunBatch needs 1 to 10000 scenarios, not %d", len(ss))
	}
	var deadline time.Duration
	for _, s := range ss {
		deadline = max(deadline, s.deadline())
	}
	data, err := json.Marshal(ss)
	if err != nil {
		t.Fatalf("harness: encoding scenarios: %v", err)
	}
	line := startDriverData(t, data, deadline, []string{"--batch"}).output()
	var rs []Result
	if err := json.Unmarshal([]byte(line), &rs); err != nil || len(rs) != len(ss) {
		t.Fatalf("harness: decoding the driver's results (%v): want %d results in\n%s", err, len(ss), line)
	}
	return rs
}

// Login posts {"username": username} to the fixture's /login endpoint at baseURL and returns
// the token it answers with; an empty username sends {}.
func Login(t testing.TB, baseURL, username string) string {
	t.Helper()
	body := map[string]string{}
	if username != "" {
		body["username"] = username
	}
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	u, err := url.JoinPath(baseURL, "login")
	if err != nil {
		t.Fatalf("harness: login URL from %q: %v", baseURL, err)
	}
	transport := &http.Transport{DisableKeepAlives: true}
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: 10 * time.Second, Transport: transport}
	resp, err := client.Post(u, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("harness: POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("harness: POST %s: reading the answer: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("harness: POST %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	var answer struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(b, &answer); err != nil || answer.Token == "" {
		t.Fatalf("harness: POST %s: no token in %s (%v)", u, b, err)
	}
	return answer.Token
}
