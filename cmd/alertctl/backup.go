package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alertcast/alertcast/dispatch"
)

// A complete backup of an alertd data dir is the database plus the key
// files that make it usable:
//
//	alertcast.db            SQLite snapshot (VACUUM INTO: consistent, taken while alertd runs)
//	audit.key               the audit chain's key: without it the chain cannot be verified or extended
//	audit-head.json         the newest audit row verified so far: restored, it still detects truncation
//	speaker-ed25519.key     the platform's signing key: every loudspeaker trusts its public key
//	redis.password          the managed Redis's password (the queues themselves are not backed up)
//	MANIFEST.json           sizes and SHA-256 of the above, schema version, time
//
// Redis is not backed up: it holds queues and loudspeaker state that are
// rebuilt from the database. With PostgreSQL, back up the database with
// pg_dump (see backupPostgresHint) and this command copies the key files.
var backupKeyFiles = []string{"audit-head.json", "audit.key", "speaker-ed25519.key", "redis.password"}

const backupPostgresHint = `the database is PostgreSQL: back it up with pg_dump while alertd runs, e.g.
  pg_dump --format=custom --file=alertcast.pgdump "$ALERTCAST_DB"
and restore into an empty database with
  pg_restore --no-owner --dbname="$NEW_DB" alertcast.pgdump
This backup holds the key files only`

type backupManifest struct {
	CreatedAt     time.Time    `json:"created_at"`
	Source        string       `json:"source"`
	Engine        string       `json:"engine"`
	SchemaVersion int          `json:"schema_version,omitempty"`
	Files         []backupFile `json:"files"`
}

type backupFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// backup copies a running alertd's data dir into --out.
func backupCmd(ctx context.Context, args []string) error {
	fs := newFlags("backup")
	dataDir := fs.String("data-dir", envDefault("ALERTCAST_DATA_DIR", "alertcast-data"), "alertd's data directory (ALERTCAST_DATA_DIR)")
	db := fs.String("db", os.Getenv("ALERTCAST_DB"), "alertd's database if not the data dir's SQLite (ALERTCAST_DB)")
	auditKey := fs.String("audit-key-file", os.Getenv("ALERTCAST_AUDIT_KEY_FILE"), "audit key file if not in the data dir (ALERTCAST_AUDIT_KEY_FILE)")
	speakerKey := fs.String("speaker-key-file", "", "platform key file if speakers.key_file is set in alertcast.yaml")
	out := fs.String("out", "", "directory to create for the backup; required")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return errors.New("usage: alertctl backup --out DIR [--data-dir DIR]")
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("--out %s: already exists; a backup goes into a new directory", *out)
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	m := backupManifest{CreatedAt: time.Now().UTC(), Source: *dataDir, Engine: "sqlite"}
	srcOf := map[string]string{}
	for _, n := range backupKeyFiles {
		srcOf[n] = filepath.Join(*dataDir, n)
	}
	if *auditKey != "" {
		srcOf["audit.key"] = *auditKey
	}
	if *speakerKey != "" {
		srcOf["speaker-ed25519.key"] = *speakerKey
	}
	// The verified head first, then the database: the head must never be
	// newer than the snapshot, or the restored chain would look truncated.
	for _, n := range backupKeyFiles {
		f, err := copyPrivate(srcOf[n], filepath.Join(*out, n))
		if errors.Is(err, os.ErrNotExist) {
			continue // e.g. no managed Redis, or the speaker channel off
		}
		if err != nil {
			return err
		}
		m.Files = append(m.Files, f)
	}
	if strings.HasPrefix(*db, "postgres://") || strings.HasPrefix(*db, "postgresql://") {
		m.Engine = "postgres"
		if err := writeManifest(*out, m); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "alertctl backup: %s.\n", backupPostgresHint)
		fmt.Printf("key files backed up to %s (no database: see above)\n", *out)
		return nil
	}
	src := strings.TrimPrefix(*db, "sqlite:")
	if src == "" {
		src = filepath.Join(*dataDir, "alertcast.db")
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("database %s: %w (is --data-dir alertd's data directory?)", src, err)
	}
	dst := filepath.Join(*out, "alertcast.db")
	ver, err := snapshotSQLite(ctx, src, dst)
	if err != nil {
		return err
	}
	m.SchemaVersion = ver
	f, err := describe(dst, "alertcast.db")
	if err != nil {
		return err
	}
	m.Files = append(m.Files, f)
	if err := writeManifest(*out, m); err != nil {
		return err
	}
	fmt.Printf("backed up %s to %s: database (schema %d, %s) and %d key files\n", *dataDir, *out, ver, humanBytes(f.Size), len(m.Files)-1)
	return nil
}

// snapshotSQLite writes a consistent copy of the live database src to dst
// with VACUUM INTO (one read transaction: alertd keeps writing meanwhile)
// and returns its schema version.
func snapshotSQLite(ctx context.Context, src, dst string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+src+"?_pragma=busy_timeout(15000)")
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", src, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		_ = os.Remove(dst)
		return 0, fmt.Errorf("snapshot %s: %w", src, err)
	}
	if err := os.Chmod(dst, 0o600); err != nil {
		return 0, err
	}
	snap, err := sql.Open("sqlite", "file:"+dst+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer snap.Close()
	var ok string
	if err := snap.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		return 0, fmt.Errorf("snapshot %s fails integrity_check: %q %v", dst, ok, err)
	}
	var ver int
	if err := snap.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&ver); err != nil {
		return 0, fmt.Errorf("snapshot %s: schema version: %w", dst, err)
	}
	return ver, nil
}

// restore puts a backup into a new data dir and proves it usable: every
// file's checksum, the database's migrations to this version, and the
// audit chain verified with the restored key from the restored head.
func restoreCmd(ctx context.Context, args []string) error {
	fs := newFlags("restore")
	from := fs.String("from", "", "backup directory made by alertctl backup; required")
	dataDir := fs.String("data-dir", "", "new data directory for alertd (must not hold a database); required")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *dataDir == "" || fs.NArg() > 0 {
		return errors.New("usage: alertctl restore --from BACKUP_DIR --data-dir NEW_DATA_DIR")
	}
	raw, err := os.ReadFile(filepath.Join(*from, "MANIFEST.json"))
	if err != nil {
		return fmt.Errorf("--from %s: not a backup: %w", *from, err)
	}
	var m backupManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("%s/MANIFEST.json: %w", *from, err)
	}
	if m.Engine != "sqlite" {
		return fmt.Errorf("--from %s: a %s backup holds only the key files; restore the database with pg_restore and copy the key files into the data dir", *from, m.Engine)
	}
	if _, err := os.Stat(filepath.Join(*dataDir, "alertcast.db")); err == nil {
		return fmt.Errorf("--data-dir %s already holds alertcast.db: restore into a new, empty data dir", *dataDir)
	}
	for _, f := range m.Files {
		got, err := describe(filepath.Join(*from, f.Name), f.Name)
		if err != nil {
			return err
		}
		if got.SHA256 != f.SHA256 || got.Size != f.Size {
			return fmt.Errorf("%s/%s: checksum does not match MANIFEST.json: the backup is damaged", *from, f.Name)
		}
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	for _, f := range m.Files {
		if _, err := copyPrivate(filepath.Join(*from, f.Name), filepath.Join(*dataDir, f.Name)); err != nil {
			return err
		}
	}
	rep, n, err := checkRestored(ctx, *dataDir)
	if err != nil {
		return fmt.Errorf("restored %s, but it does not check out: %w", *dataDir, err)
	}
	fmt.Printf("restored %s into %s: %d warnings, audit chain intact (%d entries); start alertd with --data-dir %s\n",
		*from, *dataDir, n, rep.Rows, *dataDir)
	return nil
}

// checkRestored opens the restored database (migrating it to this
// version), verifies the audit chain and counts the warnings.
func checkRestored(ctx context.Context, dataDir string) (dispatch.AuditReport, int, error) {
	st, err := dispatch.OpenStore(ctx, "", dataDir, slog.New(slog.DiscardHandler))
	if err != nil {
		return dispatch.AuditReport{}, 0, err
	}
	defer st.Close()
	if key, _, err := dispatch.LoadAuditKeyFile(filepath.Join(dataDir, "audit.key"), false); err == nil {
		if err := st.UseAuditKey(ctx, key); err != nil {
			return dispatch.AuditReport{}, 0, err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return dispatch.AuditReport{}, 0, err
	}
	if raw, err := os.ReadFile(filepath.Join(dataDir, "audit-head.json")); err == nil {
		var h dispatch.AuditHead
		if err := json.Unmarshal(raw, &h); err != nil {
			return dispatch.AuditReport{}, 0, fmt.Errorf("audit-head.json: %w", err)
		}
		st.SetAuditHead(h)
	}
	rep, err := st.VerifyAuditChain(ctx)
	if err != nil {
		return rep, 0, err
	}
	n, before := 0, ""
	for {
		page, err := st.ListAlerts(ctx, dispatch.AlertFilter{Before: before, Limit: 500})
		if err != nil {
			return rep, 0, err
		}
		n += len(page)
		if len(page) < 500 {
			return rep, n, nil
		}
		before = page[len(page)-1].ID
	}
}

func copyPrivate(src, dst string) (backupFile, error) {
	in, err := os.Open(src)
	if err != nil {
		return backupFile{}, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return backupFile{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncFile(dst)
	}
	if err != nil {
		return backupFile{}, fmt.Errorf("copy %s: %w", src, err)
	}
	return backupFile{Name: filepath.Base(dst), Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func describe(path, name string) (backupFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return backupFile{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return backupFile{}, fmt.Errorf("read %s: %w", path, err)
	}
	return backupFile{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func writeManifest(dir string, m backupManifest) error {
	b, _ := json.MarshalIndent(m, "", "  ")
	path := filepath.Join(dir, "MANIFEST.json")
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return syncFile(path)
}

func envDefault(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", (n+1023)/1024)
}
