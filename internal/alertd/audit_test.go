package alertd

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/dispatch"
)

// metric reads one unlabelled metric from /metrics.
func metric(t *testing.T, base, name string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("metric %s not exported", name)
	}
	return string(m[1])
}

// alertd keys the audit chain with a key file it creates in the data dir,
// verifies it on demand (admin API) and periodically (metrics), exports it
// for offline verification, and notices a row rewritten in the database.
func TestAuditChainKeyedVerifiedAndTamperDetected(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	keyPath := filepath.Join(s.cfg.DataDir, "audit.key")
	st, err := os.Stat(keyPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("audit key file: %v %v", st, err)
	}
	key, _, err := dispatch.LoadAuditKeyFile(keyPath, false)
	if err != nil {
		t.Fatal(err)
	}
	op := addUser(t, s.Base, "op", "operator") // audited: user.create
	mustCall(t, s.Base, "GET", "/api/v1/audit/verify", op, nil, 403)

	rep, err := s.VerifyAudit(ctx)
	if err != nil || rep.KeyedFrom != 1 || rep.KeyID != key.ID() || rep.Rows < 3 {
		t.Fatalf("fresh chain: %+v %v", rep, err)
	}
	if v := metric(t, s.Base, "alertcast_audit_chain_ok"); v != "1" {
		t.Fatalf("alertcast_audit_chain_ok %s after a good verification", v)
	}
	ans := mustCall(t, s.Base, "GET", "/api/v1/audit/verify", testAdminToken, nil, 200)
	if ans["ok"] != true || ans["node_key_id"] != key.ID() || ans["key_id"] != key.ID() {
		t.Fatalf("online verify: %v", ans)
	}
	if b, err := os.ReadFile(filepath.Join(s.cfg.DataDir, auditHeadFile)); err != nil || !bytes.Contains(b, []byte(`"seq"`)) {
		t.Fatalf("verified head not remembered: %s %v", b, err)
	}

	// The export verifies offline with the key file, and not without it.
	export := func() []byte {
		req, _ := http.NewRequest("GET", s.Base+"/api/v1/audit/export", nil)
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("export: %v %v", resp, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	file := export()
	if _, rep, err := dispatch.VerifyAuditExport(bytes.NewReader(file), key); err != nil || !rep.OK {
		t.Fatalf("offline verify of a good export: %+v %v", rep, err)
	}
	if !bytes.Contains(file, []byte(`"action":"audit.export"`)) {
		t.Fatal("the export itself is not audited")
	}
	if _, _, err := dispatch.VerifyAuditExport(bytes.NewReader(file), nil); !errors.Is(err, dispatch.ErrAuditNoKey) {
		t.Fatalf("offline verify without the key: %v", err)
	}

	// Someone with write access to the database rewrites who created the
	// operator account.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.cfg.DataDir, "alertcast.db")+"?_pragma=busy_timeout(15000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(`UPDATE audit SET actor = 'mallory' WHERE action = 'user.create' AND detail LIKE '%"op"%'`)
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("tamper: %v %d", err, n)
	}
	var bad int64
	if err := db.QueryRow(`SELECT seq FROM audit WHERE actor = 'mallory'`).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	_, err = s.VerifyAudit(ctx)
	var ce *dispatch.AuditChainError
	if !errors.As(err, &ce) || ce.Seq != bad {
		t.Fatalf("periodic verification: %v, want entry %d", err, bad)
	}
	if v := metric(t, s.Base, "alertcast_audit_chain_ok"); v != "0" {
		t.Fatalf("alertcast_audit_chain_ok %s after tampering", v)
	}
	if v := metric(t, s.Base, "alertcast_audit_first_bad_seq"); v != strconv.FormatInt(bad, 10) {
		t.Fatalf("alertcast_audit_first_bad_seq %s, want %d", v, bad)
	}
	ans = mustCall(t, s.Base, "GET", "/api/v1/audit/verify", testAdminToken, nil, 200)
	if e, _ := ans["error"].(map[string]any); ans["ok"] != false || e == nil || e["seq"] != float64(bad) {
		t.Fatalf("online verify after tampering: %v", ans)
	}
	var ce2 *dispatch.AuditChainError
	if _, _, err := dispatch.VerifyAuditExport(bytes.NewReader(export()), key); !errors.As(err, &ce2) || ce2.Seq != bad {
		t.Fatalf("offline verify after tampering: %v", err)
	}
}

// A node started on the same database with another audit key (its own
// data dir, no shared key file) refuses to start instead of forking the
// chain; pointed at the first node's key file it starts.
func TestAuditKeyMismatchRefusesToStart(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	a := startServer(t, func(c *Config) { c.DB = db })
	cfg := a.cfg
	cfg.DataDir = t.TempDir()
	cfg.Roles = []string{"api"}
	cfg.Listen = "127.0.0.1:0"
	_, err := Start(context.Background(), cfg, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "every node must use the same audit key file") {
		t.Fatalf("node with another audit key: %v", err)
	}
	cfg.AuditKeyFile = filepath.Join(a.cfg.DataDir, "audit.key")
	b, err := Start(context.Background(), cfg, io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("node with the shared key: %v", err)
	}
	t.Cleanup(func() { _ = b.Shutdown() })
	cfg.AuditKeyFile = filepath.Join(t.TempDir(), "missing.key")
	if _, err := Start(context.Background(), cfg, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "ALERTCAST_AUDIT_KEY_FILE") {
		t.Fatalf("configured key file missing: %v", err)
	}
}

func TestAuditConfigFromEnvironment(t *testing.T) {
	cfg, err := Load(nil, env(map[string]string{"ALERTCAST_AUDIT_KEY_FILE": "/etc/alertcast/audit.key", "ALERTCAST_AUDIT_VERIFY_INTERVAL": "90s"}))
	if err != nil || cfg.AuditKeyFile != "/etc/alertcast/audit.key" || cfg.AuditVerifyInterval.Seconds() != 90 {
		t.Fatalf("%+v %v", cfg, err)
	}
	for _, bad := range []string{"soon", "-1m", "0s"} {
		if _, err := Load(nil, env(map[string]string{"ALERTCAST_AUDIT_VERIFY_INTERVAL": bad})); err == nil || !strings.Contains(err.Error(), "ALERTCAST_AUDIT_VERIFY_INTERVAL") {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}
