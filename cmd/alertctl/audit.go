package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/internal/apiclient"
)

// defaultAuditKeyFile is alertd's key file when it runs from the same
// directory with its default data dir.
var defaultAuditKeyFile = filepath.Join("alertcast-data", "audit.key")

// auditKeyPath picks the key file: --key-file, else ALERTCAST_AUDIT_KEY_FILE,
// else alertd's default if it exists ("" when none).
func auditKeyPath(flagV string) string {
	if flagV != "" {
		return flagV
	}
	if v := os.Getenv("ALERTCAST_AUDIT_KEY_FILE"); v != "" {
		return v
	}
	if _, err := os.Stat(defaultAuditKeyFile); err == nil {
		return defaultAuditKeyFile
	}
	return ""
}

// auditExport downloads the whole audit log as JSON lines into --out,
// written to a temporary file first so a failed download never leaves a
// file that looks complete.
func auditExport(ctx context.Context, args []string) error {
	fs := newFlags("audit export")
	out := fs.String("out", "", "file to write (JSON lines); required")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return errors.New("usage: alertctl audit export --out FILE")
	}
	c := apiclient.FromEnv()
	req, err := http.NewRequestWithContext(ctx, "GET", c.Base+"/api/v1/audit/export", nil)
	if err != nil {
		return err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach alertd at %s (set ALERTCAST_URL): %w", c.Base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("audit export: HTTP %d: %s", resp.StatusCode, msg)
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".audit-export-*")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, resp.Body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	hdr, rep, verr := verifyAuditFile(*out, nil)
	fmt.Printf("wrote %s (%d bytes, %d entries, exported by a node with audit key %s)\n", *out, n, rep.Rows, orNone(hdr.KeyID))
	if verr != nil && !errors.Is(verr, dispatch.ErrAuditNoKey) {
		fmt.Printf("warning: the exported chain is broken: %v\n", verr)
	}
	fmt.Printf("verify it offline with: alertctl audit verify %s --key-file PATH\n", *out)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func verifyAuditFile(path string, key *dispatch.AuditKey) (dispatch.AuditExportHeader, dispatch.AuditReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return dispatch.AuditExportHeader{}, dispatch.AuditReport{}, err
	}
	defer f.Close()
	return dispatch.VerifyAuditExport(f, key)
}

// auditVerify checks an export offline with the key file, or (--online)
// asks alertd to check its database.
func auditVerify(ctx context.Context, args []string) error {
	return runAuditVerify(ctx, os.Stdout, args)
}

func runAuditVerify(ctx context.Context, w io.Writer, args []string) error {
	fs := newFlags("audit verify")
	keyFile := fs.String("key-file", "", "the audit key file (default $ALERTCAST_AUDIT_KEY_FILE, else alertcast-data/audit.key)")
	online := fs.Bool("online", false, "ask alertd to verify its database instead of reading an export")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Flags may also follow the file name.
	var file string
	if fs.NArg() > 0 {
		file = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
	}
	if *online {
		if file != "" {
			return errors.New("usage: alertctl audit verify --online (no file)")
		}
		var ans struct {
			dispatch.AuditReport
			NodeKeyID string `json:"node_key_id"`
			Message   string `json:"message"`
		}
		if err := apiclient.FromEnv().Do(ctx, "GET", "/api/v1/audit/verify", nil, &ans); err != nil {
			return err
		}
		if !ans.OK {
			return fmt.Errorf("audit chain FAILED verification on the server after %d good entries: %s", ans.Rows, ans.Message)
		}
		printAuditOK(w, ans.AuditReport)
		return nil
	}
	if file == "" {
		return errors.New("usage: alertctl audit verify FILE [--key-file PATH] | --online")
	}
	var key *dispatch.AuditKey
	if p := auditKeyPath(*keyFile); p != "" {
		k, _, err := dispatch.LoadAuditKeyFile(p, false)
		if err != nil {
			return err
		}
		key = k
		fmt.Fprintf(w, "audit key %s from %s\n", key.ID(), p)
	}
	_, rep, err := verifyAuditFile(file, key)
	if err != nil {
		var ce *dispatch.AuditChainError
		switch {
		case errors.As(err, &ce):
			return fmt.Errorf("%s FAILED verification: first bad entry %d: %s (%d entries before it verified)", file, ce.Seq, ce.Reason, rep.Rows)
		case errors.Is(err, dispatch.ErrAuditNoKey):
			return fmt.Errorf("%s: %w; give it with --key-file (%d legacy entries verified)", file, err, rep.LegacyRows)
		case errors.Is(err, os.ErrNotExist):
			return err
		}
		return fmt.Errorf("%s FAILED verification: %w", file, err)
	}
	printAuditOK(w, rep)
	return nil
}

func printAuditOK(w io.Writer, rep dispatch.AuditReport) {
	fmt.Fprintf(w, "OK: %d audit entries verified, the newest is entry %d", rep.Rows, rep.Head.Seq)
	if rep.KeyedFrom > 0 {
		fmt.Fprintf(w, "; keyed (audit key %s) from entry %d, %d legacy entries before it", rep.KeyID, rep.KeyedFrom, rep.LegacyRows)
	} else {
		fmt.Fprint(w, "; none keyed (legacy SHA-256 chain only)")
	}
	fmt.Fprintln(w)
}

// auditKey prints the id of the audit key file, to check that every node
// and the auditor hold the same key without showing it.
func auditKey(ctx context.Context, args []string) error {
	fs := newFlags("audit key")
	keyFile := fs.String("key-file", "", "the audit key file (default $ALERTCAST_AUDIT_KEY_FILE, else alertcast-data/audit.key)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p := auditKeyPath(*keyFile)
	if p == "" {
		return errors.New("no audit key file: give --key-file or set ALERTCAST_AUDIT_KEY_FILE")
	}
	k, _, err := dispatch.LoadAuditKeyFile(p, false)
	if err != nil {
		return err
	}
	fmt.Printf("audit key id %s (%s)\n", k.ID(), p)
	return nil
}
