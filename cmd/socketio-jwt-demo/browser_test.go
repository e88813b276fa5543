package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromiumPath is Debian's Chromium: the test never downloads a browser.
const chromiumPath = "/usr/bin/chromium"

// browserScenarios are the scenarios browser/e2e.js must report.
var browserScenarios = []string{"chat", "admin", "tamper", "logout", "refresh", "expiry"}

// TestBrowser drives the demo page in headless Chromium with
// browser/e2e.js: two users chat while a viewer's post is refused (shown in
// its page), a tampered token is refused with its code
// and message, a 6 s token is refreshed in-band and keeps its socket past
// the first expiry, a token left to expire is cut, logout cuts the socket,
// and /admin refuses a user but shows an admin the connected users.
//
// It fails, never skips, when Chromium or the Node packages are missing
// (`make test-setup` installs them). With UPDATE_SCREENSHOT=1 it writes
// the chat's screenshot to docs/demo.png.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is missing (%v): install it with `apt-get install -y chromium` (or run `make test-setup`)", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is missing: %v", err)
	}
	nodeModules, err := findNodeModules()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(nodeModules, "playwright-core", "package.json")); err != nil {
		t.Fatalf("playwright-core is missing (%v): run `npm ci` in the repository root", err)
	}

	url := startDemo(t)
	// Tokens carry whole seconds, so a 6 s token lives 5 to 6 s: the
	// warning comes 2 to 3 s after login, time enough for a loaded machine
	// to open the socket first.
	shortURL := startDemo(t, "-token-ttl", "6s", "-expiry-warning", "3s")
	tmp := t.TempDir()
	shot := filepath.Join(tmp, "demo.png")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("browser", "e2e.js"),
		"--url", url, "--short-url", shortURL, "--screenshot", shot, "--chromium", chromiumPath)
	// Chromium's throwaway profile goes under the test's directory.
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "HOME="+tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	t.Logf("e2e.js ran for %v", time.Since(start).Round(100*time.Millisecond))

	type result struct {
		Scenario string `json:"scenario"`
		OK       bool   `json:"ok"`
		MS       int    `json:"ms"`
		Error    string `json:"error"`
	}
	results := map[string]result{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Errorf("e2e.js printed a line that is not a result: %q", sc.Text())
			continue
		}
		results[r.Scenario] = r
	}
	for _, name := range browserScenarios {
		t.Run(name, func(t *testing.T) {
			r, ok := results[name]
			switch {
			case !ok:
				t.Errorf("no result from e2e.js")
			case !r.OK:
				t.Errorf("failed after %d ms: %s", r.MS, r.Error)
			default:
				t.Logf("%d ms", r.MS)
			}
		})
	}
	if runErr != nil || len(results) != len(browserScenarios) {
		t.Errorf("e2e.js: %v; %d results, want %d\nstderr:\n%s", runErr, len(results), len(browserScenarios), stderr.String())
	}

	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("no PNG screenshot at %s (%v)", shot, err)
	}
	if os.Getenv("UPDATE_SCREENSHOT") == "1" && !t.Failed() {
		dst := filepath.Join("..", "..", "docs", "demo.png")
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", strings.TrimPrefix(dst, "../../"))
	}
}
