package deploytest

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alertcast/alertcast/internal/testsvc"
)

// startInEmptyRoot runs bin as /<name> chrooted into a fresh directory
// that holds nothing else but a data dir and /tmp: no libc, no shell, no
// /etc, no redis-server. It needs root (CAP_SYS_CHROOT), as in CI.
func startInEmptyRoot(t *testing.T, bin string, args ...string) (root string, out *bytes.Buffer, exited chan struct{}) {
	t.Helper()
	if os.Geteuid() != 0 {
		testsvc.Missing(t, "chroot into an empty root needs root")
	}
	root = t.TempDir()
	name := filepath.Base(bin)
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, name), raw, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data", "tmp"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("/"+name, args...)
	cmd.Env = []string{"TMPDIR=/tmp"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Pdeathsig: syscall.SIGKILL}
	out = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s in an empty root: %v", name, err)
	}
	exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	return root, out, exited
}

// assertStatic fails unless bin is a static executable: no ELF
// interpreter and no shared libraries.
func assertStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s has an ELF interpreter: it needs libc", bin)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("%s links shared libraries %v", bin, libs)
	}
}

// alertd built with CGO_ENABLED=0 is a static executable and, alone in an
// empty root (no libc, no shell, no redis-server, no /etc), starts on its
// embedded defaults (in-process Redis, SQLite in /data) and answers /readyz
// green — what the FROM scratch image in deploy/Containerfile relies on.
func TestStaticAlertdInEmptyRoot(t *testing.T) {
	bin := buildStatic(t, "alertd", "amd64")
	assertStatic(t, bin)
	addr := fmt.Sprintf("127.0.0.1:%d", testsvc.FreePort(t))
	root, out, exited := startInEmptyRoot(t, bin, "--data-dir", "/data", "--listen", addr)

	var body map[string]any
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("alertd exited in the empty root:\n%s", out)
		default:
		}
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && json.Unmarshal(raw, &body) == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not green within 60 s:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	checks, _ := body["checks"].(map[string]any)
	if body["ready"] != true || checks["database"] != "ok" || !strings.Contains(fmt.Sprint(checks["redis"]), "in-process") {
		t.Fatalf("/readyz = %v, want ready on SQLite and the in-process Redis", body)
	}
	// It wrote its state inside the empty root, nowhere else.
	entries, _ := os.ReadDir(filepath.Join(root, "data"))
	if len(entries) == 0 {
		t.Fatalf("nothing written to /data in the root:\n%s", out)
	}
}
