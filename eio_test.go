package siojwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// eio is a bare Engine.IO v4 client over HTTP long-polling, speaking
// Socket.IO v5 packets as text: enough to open many connections from one
// address cheaply and to send exactly the packets a test needs (several
// CONNECTs, a CONNECT followed at once by a close). Every request is
// bounded by the context.
type eio struct {
	hc   *http.Client
	base string // .../socket.io/?EIO=4&transport=polling
	sid  string
	hdr  http.Header // sent with every request
	rest []string    // packets of the last poll after the one until returned
}

// newHTTPClient returns a client able to hold n connections to one host.
func newHTTPClient(n int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = n, n, n
	return &http.Client{Transport: tr}
}

// openEIO performs the Engine.IO handshake.
func openEIO(ctx context.Context, hc *http.Client, url string, hdr ...string) (*eio, error) {
	c := &eio{hc: hc, base: url + "/socket.io/?EIO=4&transport=polling", hdr: http.Header{}}
	for i := 0; i+1 < len(hdr); i += 2 {
		c.hdr.Add(hdr[i], hdr[i+1])
	}
	pkts, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	if len(pkts) == 0 || !strings.HasPrefix(pkts[0], "0") {
		return nil, fmt.Errorf("no open packet: %q", pkts)
	}
	var open struct{ Sid string }
	if err := json.Unmarshal([]byte(pkts[0][1:]), &open); err != nil {
		return nil, err
	}
	c.sid = open.Sid
	return c, nil
}

func (c *eio) url() string {
	if c.sid == "" {
		return c.base
	}
	return c.base + "&sid=" + c.sid
}

// get polls once and returns the packets received.
func (c *eio) get(ctx context.Context) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(), nil)
	if err != nil {
		return nil, err
	}
	req.Header = c.hdr.Clone()
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET: %s: %s", resp.Status, body)
	}
	return strings.Split(string(body), "\x1e"), nil
}

// send posts packets in one payload.
func (c *eio) send(ctx context.Context, pkts ...string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(), strings.NewReader(strings.Join(pkts, "\x1e")))
	if err != nil {
		return err
	}
	req.Header = c.hdr.Clone()
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST: %s", resp.Status)
	}
	return nil
}

var errClosed = errors.New("connection closed")

// until polls until a packet starts with one of prefixes, and returns it.
// Pings are answered.
func (c *eio) until(ctx context.Context, prefixes ...string) (string, error) {
	for {
		pkts := c.rest
		c.rest = nil
		if len(pkts) == 0 {
			var err error
			if pkts, err = c.get(ctx); err != nil {
				return "", err
			}
		}
		for i, p := range pkts {
			for _, pre := range prefixes {
				if strings.HasPrefix(withoutAckID(p), pre) {
					c.rest = pkts[i+1:] // for the next call: one poll may carry several packets
					return p, nil
				}
			}
			switch {
			case p == "2":
				if err := c.send(ctx, "3"); err != nil {
					return "", err
				}
			case p == "1":
				return "", errClosed
			}
		}
	}
}

// withoutAckID drops the acknowledgement ID of an event packet:
// 42<id>[...] becomes 42[...].
func withoutAckID(p string) string {
	if !strings.HasPrefix(p, "42") {
		return p
	}
	return "42" + strings.TrimLeft(p[2:], "0123456789")
}

// connectPacket is a Socket.IO CONNECT to the main namespace, with
// {token} when token is not empty.
func connectPacket(token string) string {
	if token == "" {
		return "40"
	}
	b, _ := json.Marshal(map[string]string{"token": token})
	return "40" + string(b)
}

// authenticatePacket is the "authenticate" event with {token}.
func authenticatePacket(token string) string {
	b, _ := json.Marshal([]any{AuthenticateEvent, map[string]string{"token": token}})
	return "42" + string(b)
}

// errorCode reads the code of a CONNECT_ERROR ("44{...}") or of an
// "unauthorized" event ("42[...]", "42<id>[...]").
func errorCode(pkt string) string {
	switch {
	case strings.HasPrefix(pkt, "44"):
		var d struct{ Data struct{ Code string } }
		_ = json.Unmarshal([]byte(pkt[2:]), &d)
		return d.Data.Code
	case strings.HasPrefix(pkt, "42"):
		i := strings.IndexByte(pkt, '[')
		if i < 0 {
			return ""
		}
		var args []json.RawMessage
		if json.Unmarshal([]byte(pkt[i:]), &args) != nil || len(args) < 2 {
			return ""
		}
		var d struct{ Data struct{ Code string } }
		_ = json.Unmarshal(args[1], &d)
		return d.Data.Code
	}
	return ""
}
