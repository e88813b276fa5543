package harness

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// ModulePath is the import path of the module whose root ModuleRoot finds: the library's, at
// the root of the repository (the interop and bench modules live in folders below it).
const ModulePath = "github.com/siojwt/siojwt"

// FixturePackage is the Go fixture program, relative to the repository root.
const FixturePackage = "./interop/fixture"

// BuildTimeout bounds one go build.
const BuildTimeout = 10 * time.Minute

var moduleRoot = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modulePathOf(string(b)) == ModulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s in the working directory or above", ModulePath)
		}
		dir = parent
	}
})

func modulePathOf(gomod string) string {
	sc := bufio.NewScanner(strings.NewReader(gomod))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module"); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// ModuleRoot returns the root directory of the module, found by walking up from the working
// directory (a test's package directory) to the go.mod of ModulePath.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := moduleRoot()
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return dir
}

// builds holds one build per package for the life of the test binary.
var builds struct {
	mu   sync.Mutex
	dir  string
	pkgs map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

// Build compiles the main package pkg (a path relative to the repository root, such as
// "./interop/fixture") once per test binary and returns the executable's path. It builds in
// pkg's folder, so that the go command uses the module pkg belongs to (the repository holds
// several). It builds with
// -race when the test binary was built with -race. The executables live in a temporary
// directory that RemoveBuilds deletes.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	root := ModuleRoot(t)
	builds.mu.Lock()
	if builds.pkgs == nil {
		builds.pkgs = map[string]*build{}
	}
	b := builds.pkgs[pkg]
	if b == nil {
		b = &build{}
		builds.pkgs[pkg] = b
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "siojwt-interop-")
		if err != nil {
			builds.mu.Unlock()
			t.Fatalf("harness: %v", err)
		}
		builds.dir = dir
	}
	dir := builds.dir
	builds.mu.Unlock()

	b.once.Do(func() {
		goTool, err := goBinary()
		if err != nil {
			b.err = err
			return
		}
		name := path.Base(filepath.ToSlash(pkg))
		if name == "." || name == "/" || name == "" {
			name = "main"
		}
		sub, err := os.MkdirTemp(dir, name+"-")
		if err != nil {
			b.err = err
			return
		}
		out := filepath.Join(sub, name)
		if runtime.GOOS == "windows" {
			out += ".exe"
		}
		args := []string{"build", "-o", out}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, ".")
		if o, err := runBounded(BuildTimeout, goTool, filepath.Join(root, filepath.FromSlash(pkg)), args...); err != nil {
			b.err = fmt.Errorf("go %s (in %s): %v\n%s", strings.Join(args, " "), pkg, err, describeOutput(o))
			return
		}
		b.path = out
	})
	if b.err != nil {
		t.Fatalf("harness: building %s: %v", pkg, b.err)
	}
	return b.path
}

// BuildFixture builds the Go fixture (FixturePackage) once per test binary and returns the
// executable's path.
func BuildFixture(t testing.TB) string {
	t.Helper()
	return Build(t, FixturePackage)
}

// StartFixture builds the Go fixture and starts it with args, listening on a free loopback
// port unless args hold an -addr flag of their own.
func StartFixture(t testing.TB, args ...string) *Process {
	t.Helper()
	return StartProcess(t, BuildFixture(t), withAddr(args)...)
}

// StartReference starts the Node reference server (interop/reference/server.js: socket.io
// 4.8.4 with socketio-jwt 4.6.2, or @thream/socketio-jwt with "-impl thream") with args,
// listening on a free loopback port unless args hold an -addr flag of their own.
func StartReference(t testing.TB, args ...string) *Process {
	t.Helper()
	node := RequireNode(t)
	script := filepath.Join(ModuleRoot(t), "interop", "reference", "server.js")
	return StartProcess(t, node, append([]string{script}, withAddr(args)...)...)
}

func withAddr(args []string) []string {
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "addr" {
			return args
		}
	}
	return append([]string{"-addr", "127.0.0.1:0"}, args...)
}

// RemoveBuilds deletes the executables Build made. Call it from TestMain after m.Run; Build
// must not be called afterwards.
func RemoveBuilds() error {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir == "" {
		return nil
	}
	err := os.RemoveAll(builds.dir)
	builds.dir = ""
	builds.pkgs = nil
	return err
}

// goBinary finds the go command on PATH; go test puts its own toolchain's bin folder first
// on the PATH of the test binary.
func goBinary() (string, error) {
	p, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("no go command on PATH")
	}
	return p, nil
}

// nodePackages are the npm packages the driver and the reference server load.
var nodePackages = []string{
	"socket.io-client",
	"socket.io-client-v2",
	"socket.io",
	"socketio-jwt",
	"@thream/socketio-jwt",
	"jsonwebtoken8",
}

// RequireNode returns the path of the node binary, failing the test when node is not on PATH
// or the module root's node_modules lacks a package the driver or reference server needs.
func RequireNode(t testing.TB) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("harness: the interop tests need Node.js: no node on PATH (%v)", err)
	}
	root := ModuleRoot(t)
	for _, pkg := range nodePackages {
		if _, err := os.Stat(filepath.Join(root, "node_modules", filepath.FromSlash(pkg), "package.json")); err != nil {
			t.Fatalf("harness: node_modules/%s is missing: run `npm ci` in the module root", pkg)
		}
	}
	return node
}
