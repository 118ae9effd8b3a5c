// Package testsvc starts throwaway real services (redis-server, PostgreSQL,
// Chromium, espeak-ng …) for tests, each in a temp dir on a random loopback
// port. A missing service skips the test with a clear reason, unless
// ALERTCAST_REQUIRE_SERVICES=1 (CI sets it), in which case the test fails.
package testsvc

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Required reports whether missing services must fail tests.
func Required() bool { return os.Getenv("ALERTCAST_REQUIRE_SERVICES") == "1" }

// Need looks up binary on PATH (or at an absolute path) and returns its path.
// When it is missing the test is skipped, or failed when services are required.
func Need(t testing.TB, binary string) string {
	t.Helper()
	p, err := exec.LookPath(binary)
	if err != nil {
		Missing(t, fmt.Sprintf("%s not found on PATH", binary))
	}
	return p
}

// Missing skips (or fails, under ALERTCAST_REQUIRE_SERVICES=1) with reason.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("required service missing: %s (ALERTCAST_REQUIRE_SERVICES=1)", reason)
	}
	t.Skipf("skipping: %s (set ALERTCAST_REQUIRE_SERVICES=1 to fail instead)", reason)
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitTCP waits until addr accepts connections or the timeout passes.
func WaitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting connections after %s: %w", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitFor polls cond until it holds, and fails the test naming what it
// waited for when it still does not after timeout. The timeout is a bound
// for a test that would otherwise hang, not a budget: pick it generously.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for pause := time.Millisecond; !cond(); pause = min(2*pause, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(pause)
	}
}

// NoGoroutinesLeft waits until no more goroutines run than before (counted
// at the start of the test), and fails with every goroutine's stack when
// some are still there after timeout.
func NoGoroutinesLeft(t testing.TB, before int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// RedisServer is a running throwaway redis-server.
type RedisServer struct {
	Addr   string // host:port
	Dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	args   []string
	bin    string
}

// URL is the server's redis:// URL.
func (r *RedisServer) URL() string { return "redis://" + r.Addr + "/0" }

// Stop kills the server, like a crash.
func (r *RedisServer) Stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		<-r.exited
		r.cmd = nil
	}
}

// Restart starts the server again on the same port and data dir.
func (r *RedisServer) Restart(t testing.TB) {
	t.Helper()
	r.Stop()
	r.start(t)
}

func (r *RedisServer) start(t testing.TB) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		// On restart the old port may linger briefly.
		if err = r.tryStart(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("restart redis-server: %v", err)
}

// Redis starts a throwaway redis-server (AOF on) for the test and stops it
// when the test ends.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	bin := Need(t, "redis-server")
	dir := t.TempDir()
	// A free port can be taken by another process's outgoing connection
	// before redis-server binds it: try a few.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := FreePort(t)
		r := &RedisServer{
			Addr: fmt.Sprintf("127.0.0.1:%d", port),
			Dir:  dir,
			bin:  bin,
			args: []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
				"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
				"--protected-mode", "yes", "--loglevel", "warning"},
		}
		if lastErr = r.tryStart(); lastErr == nil {
			t.Cleanup(r.Stop)
			return r
		}
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
}

func (r *RedisServer) tryStart() error {
	cmd := exec.Command(r.bin, r.args...)
	cmd.Dir = r.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited at start (port %s taken?)", r.Addr)
		default:
		}
		if c, err := net.DialTimeout("tcp", r.Addr, 200*time.Millisecond); err == nil {
			c.Close()
			r.cmd, r.exited = cmd, exited
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not answer within 10s", r.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	pgOnce sync.Once
	pgDSN  string
	pgErr  error
	pgN    int
	pgMu   sync.Mutex
)

// Postgres returns the DSN of a fresh, empty database on a throwaway
// PostgreSQL cluster. The cluster is started once per test binary (initdb is
// slow) and lives until the process exits; every call gets its own database.
func Postgres(t testing.TB) string {
	t.Helper()
	if dsn := os.Getenv("ALERTCAST_TEST_POSTGRES"); dsn != "" {
		return freshDB(t, dsn)
	}
	pgOnce.Do(func() { pgDSN, pgErr = startPostgres() })
	if pgErr != nil {
		Missing(t, "PostgreSQL: "+pgErr.Error())
	}
	return freshDB(t, pgDSN)
}

func freshDB(t testing.TB, base string) string {
	t.Helper()
	pgMu.Lock()
	pgN++
	name := fmt.Sprintf("t%d_%d", os.Getpid(), pgN)
	pgMu.Unlock()
	psql, err := exec.LookPath("psql")
	if err != nil {
		Missing(t, "psql not found")
	}
	out, err := exec.Command(psql, base, "-c", "CREATE DATABASE "+name).CombinedOutput()
	if err != nil {
		t.Fatalf("create database: %v: %s", err, out)
	}
	return strings.Replace(base, "/postgres?", "/"+name+"?", 1)
}

func pgBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", fmt.Errorf("initdb not found (install Debian package postgresql)")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

func startPostgres() (string, error) {
	bin, err := pgBinDir()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "alertcast-pg-")
	if err != nil {
		return "", err
	}
	data := filepath.Join(dir, "data")
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", fmt.Errorf("running as root and no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return "", err
		}
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	run := func(args ...string) *exec.Cmd {
		c := exec.Command(args[0], args[1:]...)
		c.Dir = dir
		c.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
		return c
	}
	if out, err := run(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %v: %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := run(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-h", "127.0.0.1",
		"-k", dir, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		return "", err
	}
	go func() { // drain logs
		s := bufio.NewScanner(stderr)
		for s.Scan() {
		}
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := WaitTCP(addr, 30*time.Second); err != nil {
		_ = cmd.Process.Kill()
		return "", err
	}
	// Give the server a moment to accept authenticated sessions.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if exec.Command("psql", fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr), "-c", "select 1").Run() == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr), nil
}
