package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the module root (two levels above this package).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// run runs a command and fails the test with its output when it fails.
func run(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(cmd.Environ(), env...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{}
)

// buildStatic builds a static (CGO_ENABLED=0) binary of ./cmd/<name> for
// GOARCH arch once per test binary and returns its path.
func buildStatic(t testing.TB, name, arch string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := name + "/" + arch
	if p, ok := buildCache[key]; ok {
		return p
	}
	dir, err := osMkdirTemp("alertcast-build-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	run(t, repoRoot(t), []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + arch},
		"go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/"+name)
	buildCache[key] = out
	return out
}

// osMkdirTemp makes a directory that outlives single tests (builds are
// shared between them) and is removed when the process exits.
func osMkdirTemp(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err == nil {
		tempDirs = append(tempDirs, dir)
	}
	return dir, err
}

var tempDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range tempDirs {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}
