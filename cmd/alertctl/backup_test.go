package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/internal/alertd"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/targeting"
)

// startAlertdIn runs alertd on dataDir (SQLite there) and a fresh
// redis-server, with every channel recording to the outbox.
func startAlertdIn(t *testing.T, dataDir string) (*alertd.Server, string) {
	t.Helper()
	rs := testsvc.Redis(t)
	cfg := alertd.Defaults()
	cfg.DataDir = dataDir
	cfg.Listen = "127.0.0.1:0"
	cfg.Redis = rs.URL()
	cfg.AdminToken = e2eToken
	cfg.LogLevel = "warn"
	cfg.BatchSize = 200 // many small batches: the broadcast lasts long enough to back up during it
	cfg.SendChunk = 50
	cfg.Outbox = []string{"sms", "voice"}
	cfg.RateLimits.TokenRPS = -1
	s, err := alertd.Start(context.Background(), cfg, io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("start alertd on %s: %v", dataDir, err)
	}
	t.Cleanup(func() { _ = s.Shutdown() })
	return s, "http://" + s.Addr
}

// runAlertctlErr runs alertctl and returns its stdout, or an error
// carrying its stderr when it exits non-zero.
func runAlertctlErr(base string, args ...string) (string, error) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ALERTCTL_RUN_MAIN=1", "ALERTCAST_URL="+base, "ALERTCAST_TOKEN="+e2eToken)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%v: %s", err, errb.String())
	}
	return out.String(), nil
}

// progressOf returns the warning's per-channel counters.
func progressOf(t *testing.T, base, id string) (map[string]map[string]float64, map[string]any) {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(apiDo(t, base, "GET", "/api/v1/alerts/"+id, nil, 200), &out); err != nil {
		t.Fatal(err)
	}
	res := map[string]map[string]float64{}
	p, _ := out["progress"].(map[string]any)
	for ch, v := range p {
		m := map[string]float64{}
		for k, n := range v.(map[string]any) {
			if f, ok := n.(float64); ok {
				m[k] = f
			}
		}
		res[ch] = m
	}
	return res, out
}

// finished reports whether every planned channel has every record out of
// the queue.
func finished(p map[string]map[string]float64, out map[string]any) bool {
	plans, _ := out["plans"].(map[string]any)
	chans, _ := out["channels"].([]any)
	if len(chans) == 0 || len(plans) != len(chans) {
		return false
	}
	for _, c := range p {
		if c["queued"] > 0 || c["planned"] == 0 {
			return false
		}
	}
	return true
}

// alertctl backup, taken while a county-wide warning is being sent, and
// alertctl restore into a fresh data dir give an alertd that verifies the
// audit chain, signs with the same platform key, and holds every warning
// and every delivery record that existed when the backup began.
func TestBackupMidBroadcastAndRestore(t *testing.T) {
	src := t.TempDir()
	_, base := startAlertdIn(t, src)
	var res, spk bytes.Buffer
	if err := targeting.GeneratePopulation(targeting.DefaultTree(), targeting.DefaultOutline(), 20000, 300, 7, &res, &spk); err != nil {
		t.Fatal(err)
	}
	apiDo(t, base, "POST", "/api/v1/residents/import", res.Bytes(), 200)
	apiDo(t, base, "POST", "/api/v1/speakers/import", spk.Bytes(), 200)
	key := string(apiDo(t, base, "GET", "/api/v1/speakers/key", nil, 200))

	body := []byte(`{"event":"sandstorm","level":"blue","status":"actual","area":{"codes":["653122"]},"audience":{},
	 "channels":["sms","speaker","websocket"],
	 "text":{"zh":{"headline":"疏勒县沙尘暴蓝色预警","description":"预计有沙尘。","instruction":"减少外出。"},
	         "ug":{"headline":"قۇم بورىنى ئاگاھلاندۇرۇشى","description":"قۇم بورىنى بولىدۇ.","instruction":"ئۆيدە تۇرۇڭ."}},
	 "expires":"2030-01-01T18:00:00+08:00"}`)
	var a struct{ ID string }
	_ = json.Unmarshal(apiDo(t, base, "POST", "/api/v1/alerts", body, 201), &a)
	deadline := time.Now().Add(120 * time.Second)
	var doneA map[string]map[string]float64
	for {
		p, out := progressOf(t, base, a.ID)
		if finished(p, out) {
			doneA = p
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("first warning not sent within 120 s: %v", p)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The second warning is on the air while the backup runs.
	var b struct{ ID string }
	_ = json.Unmarshal(apiDo(t, base, "POST", "/api/v1/alerts", bytes.Replace(body, []byte("蓝色"), []byte("蓝色（更新）"), 1), 201), &b)
	backup := filepath.Join(t.TempDir(), "backup")
	out := runAlertctl(t, base, "backup", "--data-dir", src, "--out", backup)
	pB, outB := progressOf(t, base, b.ID)
	if finished(pB, outB) {
		t.Logf("note: the second warning finished before the backup did (%v)", pB)
	}
	if !strings.Contains(out, "backed up") {
		t.Fatalf("backup output: %s", out)
	}
	for _, f := range []string{"alertcast.db", "audit.key", "speaker-ed25519.key", "audit-head.json", "MANIFEST.json"} {
		st, err := os.Stat(filepath.Join(backup, f))
		if err != nil {
			t.Fatalf("backup lacks %s: %v", f, err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("backup file %s is mode %v: readable by others", f, st.Mode().Perm())
		}
	}
	// A backup into an existing directory is refused.
	if _, err := runAlertctlErr(base, "backup", "--data-dir", src, "--out", backup); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second backup into the same dir: %v", err)
	}

	dst := filepath.Join(t.TempDir(), "restored")
	out = runAlertctl(t, base, "restore", "--from", backup, "--data-dir", dst)
	if !strings.Contains(out, "audit chain intact") || !strings.Contains(out, "2 warnings") {
		t.Fatalf("restore output: %s", out)
	}
	// Restoring over a data dir that has a database is refused.
	if _, err := runAlertctlErr(base, "restore", "--from", backup, "--data-dir", dst); err == nil || !strings.Contains(err.Error(), "already holds alertcast.db") {
		t.Fatalf("restore over a database: %v", err)
	}

	// alertd on the restored data dir.
	_, rbase := startAlertdIn(t, dst)
	if got := string(apiDo(t, rbase, "GET", "/api/v1/speakers/key", nil, 200)); got != key {
		t.Errorf("restored platform key %s, want %s: loudspeakers would refuse its commands", got, key)
	}
	var verify struct {
		OK   bool  `json:"ok"`
		Rows int64 `json:"rows"`
	}
	_ = json.Unmarshal(apiDo(t, rbase, "GET", "/api/v1/audit/verify", nil, 200), &verify)
	if !verify.OK || verify.Rows == 0 {
		t.Fatalf("restored audit chain: %+v", verify)
	}
	pA, _ := progressOf(t, rbase, a.ID)
	for ch, c := range doneA {
		if pA[ch]["planned"] != c["planned"] || pA[ch]["not_sent"] != c["not_sent"] || pA[ch]["delivered"] != c["delivered"] {
			t.Errorf("restored %s records of the first warning %v, before the backup %v", ch, pA[ch], c)
		}
	}
	if _, outRB := progressOf(t, rbase, b.ID); outRB["id"] != b.ID {
		t.Errorf("restored database lacks the warning on the air during the backup: %v", outRB)
	}
	// A damaged backup is refused before anything is copied.
	raw, _ := os.ReadFile(filepath.Join(backup, "audit.key"))
	raw[0] ^= 1
	if err := os.WriteFile(filepath.Join(backup, "audit.key"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runAlertctlErr(base, "restore", "--from", backup, "--data-dir", filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(err.Error(), "audit.key: checksum does not match") {
		t.Fatalf("restore of a damaged backup: %v", err)
	}
}
