package deploytest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/internal/alertd"
	"github.com/alertcast/alertcast/internal/testsvc"
)

const adminToken = "deploytest-admin-token-0123456789"

// startAlertd runs a whole alertd in this process on a throwaway
// redis-server; loudspeakers and resident pages are real channels, SMS and
// voice record to the outbox.
func startAlertd(t *testing.T, edit func(*alertd.Config)) *alertd.Server {
	t.Helper()
	rs := testsvc.Redis(t)
	cfg := alertd.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Redis = rs.URL()
	cfg.AdminToken = adminToken
	cfg.LogLevel = "warn"
	cfg.Outbox = []string{"sms", "voice"}
	if edit != nil {
		edit(&cfg)
	}
	var logs io.Writer = io.Discard
	if testing.Verbose() {
		logs = os.Stderr
	}
	s, err := alertd.Start(context.Background(), cfg, io.Discard, logs)
	if err != nil {
		t.Fatalf("start alertd: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown() })
	return s
}

// api does one request and decodes the JSON answer, failing the test on a
// status other than want.
func api(t *testing.T, client *http.Client, base, method, path, token string, body string, want int) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

// waitUntil polls cond every 50 ms until it holds or d passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// speakerOnline reports whether the platform lists device id as online.
func speakerOnline(t *testing.T, client *http.Client, base, id string) bool {
	st := api(t, client, base, "GET", "/api/v1/speakers", adminToken, "", 200)
	list, _ := st["status"].([]any)
	for _, d := range list {
		m := d.(map[string]any)
		if m["id"] == id && m["online"] == true {
			return true
		}
	}
	return false
}

// speakerProgress returns the warning's loudspeaker progress counters.
func speakerProgress(t *testing.T, client *http.Client, base, token, id string) map[string]any {
	out := api(t, client, base, "GET", "/api/v1/alerts/"+id, token, "", 200)
	p, _ := out["progress"].(map[string]any)
	sp, _ := p["speaker"].(map[string]any)
	return sp
}

// yellowWarning is dispatch's example warning at yellow (one officer may
// issue it) for every audience, so every loudspeaker in the area plays it.
func yellowWarning(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "dispatch", "testdata", "example_alert.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `"orange"`, `"yellow"`, 1)
	return strings.Replace(s, `"audience":{"groups":["herders"]}`, `"audience":{}`, 1)
}

func newPlainClient() *http.Client { return &http.Client{Timeout: 30 * time.Second} }
