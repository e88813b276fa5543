package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/coder/websocket"
)

// maxPollBody bounds a long-polling response.
const maxPollBody = 1 << 20

// connectPolling starts a connection as socket.io-client does with its
// default transports: the Engine.IO open and the Socket.IO connect (and
// authenticate, in ModeEvent) over HTTP long-polling, then the upgrade to a
// websocket (2probe, 3probe, 5). It returns the upgraded websocket and
// whether permessage-deflate was negotiated on it.
func (r *runner) connectPolling(ctx context.Context, req *request) (*websocket.Conn, bool, string) {
	h := hsState{r: r, req: req}
	body, fail := r.poll(ctx, http.MethodGet, req.pollURL, nil)
	if fail != "" {
		return nil, false, fail
	}
	packets := bytes.Split(body, []byte{0x1e})
	if len(packets[0]) == 0 || packets[0][0] != '0' {
		return nil, false, FailProtocol
	}
	var open struct {
		SID      string   `json:"sid"`
		Upgrades []string `json:"upgrades"`
	}
	if json.Unmarshal(packets[0][1:], &open) != nil || open.SID == "" {
		return nil, false, FailProtocol
	}
	if !slices.Contains(open.Upgrades, "websocket") {
		return nil, false, "no_upgrade"
	}
	sidURL := req.pollURL + "&sid=" + open.SID
	for {
		var outs [][]byte
		done := false
		for _, p := range packets {
			out, d, f := h.handle(p)
			if out != nil {
				outs = append(outs, out)
			}
			if d {
				done, fail = true, f
				break
			}
		}
		if len(outs) > 0 {
			if _, f := r.poll(ctx, http.MethodPost, sidURL, bytes.Join(outs, []byte{0x1e})); f != "" {
				return nil, false, f
			}
		}
		if done {
			break
		}
		if body, fail = r.poll(ctx, http.MethodGet, sidURL, nil); fail != "" {
			return nil, false, fail
		}
		packets = bytes.Split(body, []byte{0x1e})
	}
	if fail != "" {
		return nil, false, fail
	}
	ws, deflate, fail := r.dial(ctx, req.wsURL+"&sid="+open.SID)
	if fail != "" {
		return nil, false, fail
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte("2probe")); err != nil {
		_ = ws.CloseNow()
		return nil, false, readFailure(ctx)
	}
	for {
		typ, msg, err := ws.Read(ctx)
		if err != nil {
			_ = ws.CloseNow()
			return nil, false, readFailure(ctx)
		}
		if typ == websocket.MessageText && string(msg) == "3probe" {
			break
		}
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte("5")); err != nil {
		_ = ws.CloseNow()
		return nil, false, readFailure(ctx)
	}
	return ws, deflate, ""
}

// poll performs one long-polling request and returns the response body.
func (r *runner) poll(ctx context.Context, method, u string, body []byte) ([]byte, string) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, FailProtocol
	}
	if body != nil {
		hr.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := r.pollClient.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, FailTimeout
		}
		return nil, FailDial
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPollBody))
	if err != nil {
		return nil, readFailure(ctx)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Sprintf("http_%d", resp.StatusCode)
	}
	return b, ""
}
