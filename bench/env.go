package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// modulePath is the module whose root the driver works from: the library's, at the root of
// the repository. The benchmark and the interop suite are modules of their own in folders
// below it.
const modulePath = "github.com/siojwt/siojwt"

// Machine describes where the figures were taken.
type Machine struct {
	CPUs      int    // logical CPUs (nproc)
	CPUModel  string // "model name" of /proc/cpuinfo
	MemoryMB  int64  // MemTotal of /proc/meminfo
	Kernel    string // uname -r
	GoVersion string // go version
	Node      string // node --version
	Load      string // /proc/loadavg at the start
}

// findRoot returns the root of the siojwt module: the nearest directory at or
// above start (default: the working directory) whose go.mod is modulePath's.
// It walks past the go.mod of the repository's other modules.
func findRoot(start string) (string, error) {
	dir := start
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		dir = wd
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && modLine(b) == modulePath {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("bench: no go.mod of module %s at or above %s", modulePath, dir)
		}
	}
}

func modLine(b []byte) string {
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

func commandOutput(ctx context.Context, dir string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(errb.String(), 2000))
	}
	return out.String(), nil
}

// goIn runs the go command with args and the package "." in the folder of pkg,
// a path relative to the repository root such as "./interop/fixture", so that
// go uses the module pkg belongs to (the repository holds several).
func goIn(ctx context.Context, root, pkg string, args ...string) (string, error) {
	return commandOutput(ctx, filepath.Join(root, filepath.FromSlash(pkg)), "go", append(args, ".")...)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func machine(ctx context.Context, root string) (Machine, error) {
	m := Machine{CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		for line := range strings.SplitSeq(string(b), "\n") {
			if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
				m.MemoryMB = kb / 1024
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	if out, err := commandOutput(ctx, root, "uname", "-r"); err == nil {
		m.Kernel = strings.TrimSpace(out)
	}
	out, err := commandOutput(ctx, root, "go", "version")
	if err != nil {
		return m, err
	}
	m.GoVersion = strings.TrimSpace(out)
	node, err := exec.LookPath("node")
	if err != nil {
		return m, errors.New("bench: node is required (the Node peers and the jsonwebtoken benchmark): not found in PATH")
	}
	out, err = commandOutput(ctx, root, node, "--version")
	if err != nil {
		return m, err
	}
	m.Node = strings.TrimSpace(out)
	return m, nil
}

// raiseFileLimit raises this process's open-file limit (inherited by the
// servers it starts) to at least need, and fails when it cannot.
func raiseFileLimit(need uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("bench: getrlimit: %w", err)
	}
	if lim.Cur >= need {
		return lim.Cur, nil
	}
	want := lim
	if want.Max < need {
		want.Max = need // allowed with CAP_SYS_RESOURCE only
	}
	want.Cur = want.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		want.Max, want.Cur = lim.Max, lim.Max
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err2 != nil {
			return 0, fmt.Errorf("bench: setrlimit: %w", err2)
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("bench: getrlimit: %w", err)
	}
	if lim.Cur < need {
		return lim.Cur, fmt.Errorf("bench: open-file limit is %d (hard %d), the run needs %d: raise it (ulimit -Hn %d, as root) or lower the connection counts", lim.Cur, lim.Max, need, need)
	}
	return lim.Cur, nil
}

// helpText returns what a command prints for -h (on either stream,
// whatever its exit status).
func helpText(ctx context.Context, bin string) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput()
	return string(out)
}
