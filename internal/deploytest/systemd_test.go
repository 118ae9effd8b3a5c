package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/internal/testsvc"
)

// Every unit in deploy/systemd passes systemd-analyze verify (with
// /usr/local/bin/alertd pointed at a freshly built binary, since verify
// checks that the executable exists), and the all-in-one unit's sandbox
// scores as "OK" (exposure below 2.0) in systemd-analyze security.
func TestSystemdUnits(t *testing.T) {
	analyze := testsvc.Need(t, "systemd-analyze")
	alertd := buildStatic(t, "alertd", "amd64")
	src := filepath.Join(repoRoot(t), "deploy", "systemd")
	units, _ := filepath.Glob(filepath.Join(src, "*.service"))
	if len(units) < 4 {
		t.Fatalf("deploy/systemd has %d units, want the all-in-one and three roles", len(units))
	}
	dir := t.TempDir()
	for _, u := range units {
		raw, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), "/usr/local/bin/alertd") {
			t.Fatalf("%s does not run /usr/local/bin/alertd", u)
		}
		dst := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(dst, []byte(strings.ReplaceAll(string(raw), "/usr/local/bin/alertd", alertd)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", dst).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", filepath.Base(u), err, out)
		}
	}

	out, err := exec.Command(analyze, "security", "--offline=true", filepath.Join(dir, "alertcast.service")).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for alertcast.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	if v, _ := strconv.ParseFloat(string(m[1]), 64); v >= 2.0 {
		t.Errorf("alertcast.service exposure %v, want < 2.0 (\"OK\"):\n%s", v, out)
	}

	// The sysusers snippet creates the alertcast user (in a scratch root).
	sysusers := testsvc.Need(t, "systemd-sysusers")
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "", nil, sysusers, "--root="+root, filepath.Join(src, "alertcast-sysusers.conf"))
	pw, _ := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if !regexp.MustCompile(`(?m)^alertcast:x:\d+:\d+:.*:/var/lib/alertcast:/usr/sbin/nologin$`).Match(pw) {
		t.Errorf("sysusers made no alertcast system user: %q", pw)
	}
}
