package alertd

import (
	"fmt"
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

// TestLoadReportsEveryProblem: Load decodes and checks every section —
// channels included — and one run names every problem by its key path, so
// an officer fixing a file at night does not restart once per mistake.
func TestLoadReportsEveryProblem(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key in a section", "sms:\n  gateways:\n  - {name: a, type: smpp, addr: \"x:1\", windw: 5}\n",
			[]string{"sms.gateways[0].windw (line 3): not a setting"}},
		{"unknown top-level key", "workerz: 5\n", []string{"workerz (line 1): not a setting"}},
		{"empty file", "# only a comment\n", []string{"the file is empty"}},
		{"wrong type", "workers: many\naudio:\n  speed: fast\nspeakers:\n  enabled: maybe\n",
			[]string{`workers (line 1): "many" is not a valid int`, `audio.speed (line 3): "fast" is not a valid int`, `speakers.enabled (line 5): "maybe" is not a valid bool`}},
		{"a list for a section", "voice: [1]\n", []string{"voice (line 1): a list is not a valid alertd.VoiceConfig"}},
		{"sms gateway", "sms:\n  gateways:\n  - {name: a, type: smpp, addr: \"x:1\"}\n  - {name: b, type: smpp}\n",
			[]string{"sms.gateways[1].addr: host:port required for smpp"}},
		{"sms settings without gateways", "sms:\n  max_parts: -1\n  default_language: fr\n",
			[]string{"sms.max_parts: between 1 and 255", "sms.default_language: zh or ug"}},
		{"speakers", "speakers:\n  heartbeat_timeout: -5s\n  freshness_window: -1m\n",
			[]string{"speakers.heartbeat_timeout:", "speakers.freshness_window:"}},
		{"websocket", "websocket:\n  allowed_origins: [\"*\", alert.example.cn, \"https://ok.example.cn\", \"https://x.example.cn/path\"]\n  history_len: -1\n  client_ip_header: X Real IP\n",
			[]string{`websocket.allowed_origins[1]: "*" or an origin`, `websocket.allowed_origins[3]:`, "websocket.history_len:", "websocket.client_ip_header:"}},
		{"voice", "voice:\n  ice_servers:\n  - urls: [\"http://turn.example.org\"]\n  - urls: [\"turn:turn.example.org:3478\"]\n  - urls: []\n  udp_port_min: 5000\n  udp_port_max: 4000\n  live_approval_levels: [purple]\n  live_approval_max_townships: -1\n",
			[]string{"voice.ice_servers[0].urls[0]:", "voice.ice_servers[1]: a TURN server needs username and credential", "voice.ice_servers[2].urls:",
				"voice.udp_port_min: not above udp_port_max (4000)", "voice.live_approval_levels[0]", "voice.live_approval_max_townships"}},
		{"voice port without its pair", "voice:\n  udp_port_min: 5000\n", []string{"voice.udp_port_max: set with udp_port_min"}},
		{"audio", "audio:\n  speed: 30\n  repeats: 9\n", []string{"audio.speed: 0 (default 140) or 80..450", "audio.repeats: 0 (default 2) or 1..5"}},
	}
	dir := t.TempDir()
	for i, c := range cases {
		f := filepath.Join(dir, fmt.Sprintf("c%d.yaml", i))
		if err := os.WriteFile(f, []byte(c.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load([]string{"--config", f}, env(nil))
		for _, want := range c.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error must contain %q, got:\n%v", c.name, want, err)
			}
		}
	}
	// Every problem of every section at once: one file with all of them
	// (each section once, so the sections are merged by hand).
	merged := "workers: 0\nsms:\n  max_parts: -1\n  gateways:\n  - {name: a, type: smpp, addr: \"x:1\", windw: 5}\n  - {name: b, type: smpp}\n" +
		"speakers:\n  heartbeat_timeout: -5s\nwebsocket:\n  history_len: -1\nvoice:\n  udp_port_min: 5000\n  udp_port_max: 4000\naudio:\n  repeats: 9\n"
	f := filepath.Join(dir, "all.yaml")
	if err := os.WriteFile(f, []byte(merged), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load([]string{"--config", f}, env(map[string]string{"ALERTCAST_BATCH_SIZE": "lots"}))
	for _, want := range []string{"workers: must be 1..1000", "sms.max_parts:", "sms.gateways[0].windw (line 5): not a setting", "sms.gateways[1].addr:",
		"speakers.heartbeat_timeout:", "websocket.history_len:", "voice.udp_port_min:", "audio.repeats:", "ALERTCAST_BATCH_SIZE: not a number"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("all at once: error must contain %q, got:\n%v", want, err)
		}
	}
	// A value that could not be decoded is reported once, not again as the
	// zero it was left at.
	f = filepath.Join(dir, "once.yaml")
	if err := os.WriteFile(f, []byte("workers: many\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load([]string{"--config", f}, env(nil)); err == nil || strings.Count(err.Error(), "workers") != 1 {
		t.Errorf("workers: many: want one problem, got:\n%v", err)
	}
	// The control: the sample, with every section, has none.
	if _, err := Load([]string{"--config", sampleConfig}, env(nil)); err != nil {
		t.Errorf("the sample: %v", err)
	}
}
