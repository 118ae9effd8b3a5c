package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/internal/testsvc"
)

// scripts/package-speaker.sh builds the amd64 loudspeaker package; it is
// lintian-clean (overrides carry their reasons), its maintainer scripts
// parse, it holds the binary, the hardened unit, the conffile and the
// sysusers entry; unpacked into a scratch root (dpkg-deb -x: nothing is
// installed on this machine), the installed binary with the installed
// config, filled in as an installer would, registers with a real alertd.
// Slow: it builds the agent for amd64 and runs lintian (about a minute).
func TestSpeakerPackage(t *testing.T) {
	dpkgDeb := testsvc.Need(t, "dpkg-deb")
	lintian := testsvc.Need(t, "lintian")
	bin := buildStatic(t, "speaker", "amd64")
	out := t.TempDir()
	run(t, repoRoot(t), []string{"SPEAKER_BIN=" + bin}, filepath.Join(repoRoot(t), "scripts", "package-speaker.sh"), "-v", "1.2.3", "-o", out, "amd64")
	deb := filepath.Join(out, "alertcast-speaker_1.2.3_amd64.deb")
	if _, err := os.Stat(deb); err != nil {
		t.Fatalf("no package: %v", err)
	}

	info := run(t, "", nil, dpkgDeb, "--info", deb)
	for _, want := range []string{"Package: alertcast-speaker", "Version: 1.2.3", "Architecture: amd64"} {
		if !strings.Contains(info, want) {
			t.Errorf("control lacks %q:\n%s", want, info)
		}
	}
	list := run(t, "", nil, dpkgDeb, "--contents", deb)
	for _, want := range []string{"./usr/bin/alertcast-speaker", "./lib/systemd/system/alertcast-speaker.service",
		"./etc/alertcast-speaker/speaker.yaml", "./usr/lib/sysusers.d/alertcast-speaker.conf", "./usr/share/doc/alertcast-speaker/copyright"} {
		if !strings.Contains(list, want) {
			t.Errorf("package lacks %s:\n%s", want, list)
		}
	}
	if regexp.MustCompile(`(?m)^\S+ (\S+)/(\S+) `).FindAllStringSubmatch(list, -1)[0][1] != "root" {
		t.Errorf("files not owned by root:\n%s", list)
	}

	// lintian: no error or warning that is not overridden with a reason.
	lint, err := exec.Command(lintian, "--fail-on", "error,warning", "--no-tag-display-limit", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("lintian: %v\n%s", err, lint)
	}

	// Unpack into a scratch root, with the control files beside it.
	root := t.TempDir()
	run(t, "", nil, dpkgDeb, "-x", deb, root)
	ctl := filepath.Join(t.TempDir(), "DEBIAN")
	run(t, "", nil, dpkgDeb, "-e", deb, ctl)
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		run(t, "", nil, "sh", "-n", filepath.Join(ctl, s))
	}
	if conff, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); strings.TrimSpace(string(conff)) != "/etc/alertcast-speaker/speaker.yaml" {
		t.Errorf("conffiles %q", conff)
	}
	unit, _ := os.ReadFile(filepath.Join(root, "lib/systemd/system/alertcast-speaker.service"))
	for _, want := range []string{"User=alertcast-speaker", "NoNewPrivileges=true", "ProtectSystem=strict", "StateDirectory=alertcast-speaker",
		"ExecStart=/usr/bin/alertcast-speaker --config /etc/alertcast-speaker/speaker.yaml"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		u := strings.ReplaceAll(string(unit), "/usr/bin/alertcast-speaker", filepath.Join(root, "usr/bin/alertcast-speaker"))
		p := filepath.Join(t.TempDir(), "alertcast-speaker.service")
		if err := os.WriteFile(p, []byte(u), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(analyze, "verify", p).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify of the packaged unit: %v\n%s", err, out)
		}
	}
	if sysusers, err := exec.LookPath("systemd-sysusers"); err == nil {
		sr := t.TempDir()
		_ = os.MkdirAll(filepath.Join(sr, "etc"), 0o755)
		_ = os.WriteFile(filepath.Join(sr, "etc", "group"), []byte("audio:x:29:\n"), 0o644)
		run(t, "", nil, sysusers, "--root="+sr, filepath.Join(root, "usr/lib/sysusers.d/alertcast-speaker.conf"))
		pw, _ := os.ReadFile(filepath.Join(sr, "etc", "passwd"))
		gr, _ := os.ReadFile(filepath.Join(sr, "etc", "group"))
		if !strings.Contains(string(pw), "alertcast-speaker:") || !regexp.MustCompile(`(?m)^audio:x:29:.*alertcast-speaker`).Match(gr) {
			t.Errorf("sysusers: passwd %q group %q", pw, gr)
		}
	}

	// The installed binary with the installed config, filled in.
	s := startAlertd(t, nil)
	base := "http://" + s.Addr
	client := newPlainClient()
	api(t, client, base, "POST", "/api/v1/speakers/import", adminToken, "id,village\nSPK-DEB1,653122100001\n", 200)
	key := api(t, client, base, "GET", "/api/v1/speakers/key", "", "", 200)["public_key"].(string)
	cred := api(t, client, base, "POST", "/api/v1/speakers/SPK-DEB1/enroll", adminToken, "", 200)["credential"].(string)

	cfgPath := filepath.Join(root, "etc/alertcast-speaker/speaker.yaml")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	credFile := filepath.Join(root, "etc/alertcast-speaker/speaker.credential")
	if err := os.WriteFile(credFile, []byte(cred+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(root, "var/lib/alertcast-speaker")
	cfg := string(raw)
	for _, r := range []struct{ old, new string }{
		{"url: https://alertcast.example.org", "url: " + base},
		{`device: ""`, "device: SPK-DEB1"},
		{`public_key: ""`, "public_key: " + key},
		{"credential_file: /etc/alertcast-speaker/speaker.credential", "credential_file: " + credFile},
		{"cache_dir: /var/lib/alertcast-speaker", "cache_dir: " + state},
		{"type: command", "type: discard"}, // no sound card here
	} {
		if !strings.Contains(cfg, r.old) {
			t.Fatalf("installed speaker.yaml no longer has %q:\n%s", r.old, cfg)
		}
		cfg = strings.Replace(cfg, r.old, r.new, 1)
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	runAgent(t, filepath.Join(root, "usr/bin/alertcast-speaker"), cfgPath, nil)
	waitUntil(t, 30*time.Second, "the packaged agent registered", func() bool { return speakerOnline(t, client, base, "SPK-DEB1") })
}
