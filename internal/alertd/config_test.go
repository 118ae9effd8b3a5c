package alertd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// The sample in deploy/ loads as it is: every setting it documents exists.
func TestSampleConfigLoads(t *testing.T) {
	cfg, err := Load([]string{"--config", "../../deploy/alertcast.yaml"}, env(nil))
	if err != nil {
		t.Fatalf("deploy/alertcast.yaml: %v", err)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.Workers != 20 || len(cfg.Roles) != 3 {
		t.Fatalf("sample defaults: %+v", cfg)
	}
}

func TestConfigPrecedenceAndErrors(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "a.yaml")
	_ = os.WriteFile(f, []byte("listen: 127.0.0.1:9000\nworkers: 5\n"), 0o600)
	cfg, err := Load([]string{"--config", f, "--workers", "7"}, env(map[string]string{"ALERTCAST_LISTEN": "127.0.0.1:9100"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9100" || cfg.Workers != 7 {
		t.Fatalf("precedence flag > env > file: %s %d", cfg.Listen, cfg.Workers)
	}
	_ = os.WriteFile(f, []byte("listen: x\nworkerz: 5\n"), 0o600)
	if _, err := Load([]string{"--config", f}, env(nil)); err == nil || !strings.Contains(err.Error(), "workerz") {
		t.Fatalf("unknown key must be named: %v", err)
	}
	for _, bad := range []map[string]string{
		{"ALERTCAST_ROLES": "api,cook"},
		{"ALERTCAST_WORKERS": "many"},
		{"ALERTCAST_REDIS_URL": "http://x"},
	} {
		if _, err := Load(nil, env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	_ = os.WriteFile(f, []byte("session_lifetime: 10s\nsession_idle_timeout: -1m\nlogin:\n  user_failures: -1\n"), 0o600)
	_, err = Load([]string{"--config", f}, env(nil))
	for _, want := range []string{"session_lifetime", "session_idle_timeout", "login.user_failures"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error must name %s: %v", want, err)
		}
	}
	_ = os.WriteFile(f, []byte("policy:\n  approval_levels: [purple]\ncap:\n  rules: [{name: x, mode: sometimes}, {name: y, mode: auto, cert: /nonexistent/met.pem}, {name: z, mode: auto, cert: \"-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\"}]\noutbox: [fax]\n"), 0o600)
	_, err = Load([]string{"--config", f}, env(nil))
	for _, want := range []string{"policy.approval_levels[0]", "cap.rules[0].mode", "cap.rules[1].cert", "cap.rules[2].cert", "outbox"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error must name %s: %v", want, err)
		}
	}
}
