package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/dispatch"
)

// exportFixture writes a keyed audit chain of n entries and its export.
func exportFixture(t *testing.T, n int) (file, keyFile string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	keyFile = filepath.Join(dir, "audit.key")
	key, _, err := dispatch.LoadAuditKeyFile(keyFile, true)
	if err != nil {
		t.Fatal(err)
	}
	s, err := dispatch.OpenStore(ctx, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.UseAuditKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := s.Audit(ctx, dispatch.AuditEntry{Actor: "op", Action: "alert.issue", Detail: `{"level":"red"}`}); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := s.ExportAudit(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(dir, "audit.jsonl")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, keyFile
}

func TestAuditVerifyCommandOffline(t *testing.T) {
	t.Setenv("ALERTCAST_AUDIT_KEY_FILE", "")
	ctx := context.Background()
	file, keyFile := exportFixture(t, 4)
	var out bytes.Buffer
	if err := runAuditVerify(ctx, &out, []string{file, "--key-file", keyFile}); err != nil {
		t.Fatalf("good export: %v", err)
	}
	if !strings.Contains(out.String(), "OK: 5 audit entries verified") {
		t.Fatalf("output: %s", out.String())
	}
	// The key from the environment, flags before the file.
	t.Setenv("ALERTCAST_AUDIT_KEY_FILE", keyFile)
	if err := runAuditVerify(ctx, &out, []string{file}); err != nil {
		t.Fatalf("key from ALERTCAST_AUDIT_KEY_FILE: %v", err)
	}
	t.Setenv("ALERTCAST_AUDIT_KEY_FILE", "")
	if err := runAuditVerify(ctx, &out, []string{file}); err == nil || !strings.Contains(err.Error(), "--key-file") {
		t.Fatalf("keyed export without a key: %v", err)
	}

	// Entry 3 edited in the file: named, with the reason.
	b, _ := os.ReadFile(file)
	lines := strings.Split(string(b), "\n")
	lines[3] = strings.Replace(lines[3], `"actor":"op"`, `"actor":"mallory"`, 1)
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	err := runAuditVerify(ctx, &out, []string{"--key-file", keyFile, file})
	if err == nil || !strings.Contains(err.Error(), "first bad entry 3: contents do not match its keyed hash") {
		t.Fatalf("tampered export: %v", err)
	}
	if err := runAuditVerify(ctx, &out, []string{filepath.Join(t.TempDir(), "none.jsonl"), "--key-file", keyFile}); err == nil {
		t.Fatal("missing file accepted")
	}
	if err := runAuditVerify(ctx, &out, nil); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("no file: %v", err)
	}
}

// audit export downloads with the token, writes --out whole, and the file
// verifies offline; an HTTP error leaves no file behind.
func TestAuditExportCommand(t *testing.T) {
	t.Setenv("ALERTCAST_AUDIT_KEY_FILE", "")
	file, keyFile := exportFixture(t, 3)
	body, _ := os.ReadFile(file)
	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		if r.URL.Path != "/api/v1/audit/export" || gotAuth != "Bearer admin-token" {
			http.Error(w, `{"error":{"code":"forbidden","message":"admin only"}}`, 403)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	t.Setenv("ALERTCAST_URL", srv.URL)
	t.Setenv("ALERTCAST_TOKEN", "admin-token")
	out := filepath.Join(t.TempDir(), "export.jsonl")
	if err := auditExport(context.Background(), []string{"--out", out}); err != nil {
		t.Fatal(err)
	}
	var msg bytes.Buffer
	if err := runAuditVerify(context.Background(), &msg, []string{out, "--key-file", keyFile}); err != nil {
		t.Fatalf("downloaded export: %v", err)
	}
	t.Setenv("ALERTCAST_TOKEN", "viewer-token")
	out2 := filepath.Join(t.TempDir(), "denied.jsonl")
	if err := auditExport(context.Background(), []string{"--out", out2}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("refused export: %v", err)
	}
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Fatalf("a refused export left a file: %v", err)
	}
	if err := auditExport(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Fatalf("no --out: %v", err)
	}
}
