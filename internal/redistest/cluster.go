package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// clusterFormTimeout bounds the wait for a new Redis Cluster to agree on its
// slots.
const clusterFormTimeout = 60 * time.Second

// StartCluster runs a Redis Cluster of n masters (no replicas) on 127.0.0.1
// for the test t, each a redis-server with --cluster-enabled yes, and
// returns their addresses once the cluster reports state ok. The slots are
// split evenly (CLUSTER ADDSLOTSRANGE, Redis 7) and the nodes introduced
// to the first (CLUSTER MEET). The servers are killed when t ends.
func StartCluster(t testing.TB, n int) []string {
	t.Helper()
	path := serverPath(t)
	addrs := make([]string, n)
	for i := range n {
		addrs[i] = startServer(t, path, func(dir string) []string {
			return []string{"--cluster-enabled", "yes", "--cluster-config-file", dir + "/nodes.conf",
				"--cluster-node-timeout", "5000"}
		}).addr
	}
	for i, addr := range addrs {
		lo, hi := i*clusterSlots/n, (i+1)*clusterSlots/n-1
		if err := command(addr, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi)); err != nil {
			t.Fatalf("redistest: %s: %v (Redis 7 or later is needed)", addr, err)
		}
	}
	for _, addr := range addrs[1:] {
		host, port, _ := net.SplitHostPort(addr)
		if err := command(addrs[0], "CLUSTER", "MEET", host, port); err != nil {
			t.Fatalf("redistest: CLUSTER MEET %s: %v", addr, err)
		}
	}
	// The nodes learn each other's slots by gossip (a ping every 100 ms or
	// so), which a CPU-starved machine slows down: one node still knew 10922
	// of 16384 slots after 10 s beside a CPU burner and two other test runs.
	// The bound only stops a cluster that never forms.
	deadline := time.Now().Add(clusterFormTimeout)
	for _, addr := range addrs {
		for {
			info, err := reply(addr, "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: the cluster is not ok on %s after %v: %v\n%s", addr, clusterFormTimeout, err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return addrs
}

// command sends a command and expects +OK.
func command(addr string, args ...string) error {
	r, err := reply(addr, args...)
	if err != nil {
		return err
	}
	if r != "OK" {
		return fmt.Errorf("%s: %q", strings.Join(args, " "), r)
	}
	return nil
}

// reply sends a command over a fresh connection and returns its reply: a
// simple string, or the body of a bulk string.
func reply(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	rd := bufio.NewReader(conn)
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"):
		return line[1:], nil
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("%s", line[1:])
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("unexpected reply %q", line)
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(rd, body); err != nil {
			return "", err
		}
		return string(body[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}
