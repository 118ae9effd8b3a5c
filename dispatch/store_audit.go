package dispatch

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Actor is who did something, and from where.
type Actor struct {
	Name   string
	Role   Role
	Remote string // client address
	// Scope is where the account may act (scope.go); nil only for system
	// tasks that carry no account (the whole tree).
	Scope Scope
}

// AuditEntry is one line of the append-only audit log. Each entry's Hash
// covers its fields and the previous entry's hash, keyed with a secret the
// database never sees (audit.go), so editing, deleting, inserting or
// reordering entries breaks the chain (VerifyAuditChain).
type AuditEntry struct {
	Seq      int64     `json:"seq"`
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	AlertID  string    `json:"alert_id,omitempty"`
	Remote   string    `json:"remote,omitempty"`
	Detail   string    `json:"detail,omitempty"` // JSON
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"`
}

// computeHash is the legacy (unkeyed) hash, kept for rows written before
// the chain was keyed (audit.go).
func (e *AuditEntry) computeHash() string {
	h := sha256.New()
	writeAuditFields(h, e)
	return hex.EncodeToString(h.Sum(nil))
}

// appendAudit adds e inside tx. On PostgreSQL an advisory lock orders
// concurrent appenders from several alertd processes; on SQLite the single
// writer connection does. With an audit key the row's hash is keyed; the
// first keyed append on a legacy (or empty) chain writes the marker row
// first. Without a key, appending to a keyed chain is refused: the row
// could not be verified.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, e AuditEntry) error {
	s.auditM.Lock()
	defer s.auditM.Unlock()
	seq, prev, err := s.lockAuditTail(ctx, tx)
	if err != nil {
		return err
	}
	key := s.audit.key.Load()
	keyed := strings.HasPrefix(prev, auditMACPrefix)
	switch {
	case key == nil && keyed:
		return fmt.Errorf("audit append: the audit chain is keyed and this process has no audit key (set ALERTCAST_AUDIT_KEY_FILE)")
	case key != nil && !keyed:
		if seq, prev, err = s.insertAuditMarker(ctx, tx, key, seq, prev); err != nil {
			return err
		}
	}
	e.Seq = seq + 1
	e.PrevHash = prev
	return s.insertAudit(ctx, tx, key, &e)
}

// lockAuditTail takes the chain lock (PostgreSQL) and reads the newest
// row's seq and hash (0, "" for an empty chain).
func (s *Store) lockAuditTail(ctx context.Context, tx *sql.Tx) (int64, string, error) {
	if s.pg {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(653122)`); err != nil {
			return 0, "", fmt.Errorf("audit lock: %w", err)
		}
	}
	var seq int64
	var prev string
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("audit tail: %w", err)
	}
	return seq, prev, nil
}

// insertAudit hashes e (keyed when key is not nil) and inserts it; e.Seq
// and e.PrevHash are set.
func (s *Store) insertAudit(ctx context.Context, tx *sql.Tx, key *AuditKey, e *AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = e.At.Truncate(time.Millisecond)
	if key != nil {
		e.Hash = key.mac(e)
	} else {
		e.Hash = e.computeHash()
	}
	_, err := s.exec(ctx, tx, `INSERT INTO audit (seq, at, actor, action, alert_id, remote, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, e.At.UnixMilli(), e.Actor, e.Action, e.AlertID, e.Remote, e.Detail, e.PrevHash, e.Hash)
	if err != nil {
		return fmt.Errorf("audit append: %w", err)
	}
	return nil
}

// insertAuditMarker appends the row from which the chain is keyed after the
// legacy row (seq, prev) and returns the marker's seq and hash.
func (s *Store) insertAuditMarker(ctx context.Context, tx *sql.Tx, key *AuditKey, seq int64, prev string) (int64, string, error) {
	m := AuditEntry{Seq: seq + 1, PrevHash: prev, Actor: "alertd", Action: auditKeyedAction,
		Detail: AuditDetail(auditMarkerDetail{Scheme: "hmac-sha256", KeyID: key.ID(), LegacyRows: seq})}
	if err := s.insertAudit(ctx, tx, key, &m); err != nil {
		return 0, "", err
	}
	s.log.Info("audit chain keyed from here on", "seq", m.Seq, "legacy_rows", seq, "key_id", key.ID())
	return m.Seq, m.Hash, nil
}

// Audit appends one entry on its own.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.appendAudit(ctx, tx, e) })
}

// AuditLog returns entries after seq (0 for the start), oldest first.
// alertID filters when not empty.
func (s *Store) AuditLog(ctx context.Context, after int64, alertID string, limit int) ([]AuditEntry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	query := `SELECT seq, at, actor, action, alert_id, remote, detail, prev_hash, hash FROM audit WHERE seq > ?`
	args := []any{after}
	if alertID != "" {
		query += ` AND alert_id = ?`
		args = append(args, alertID)
	}
	query += ` ORDER BY seq LIMIT ` + strconv.Itoa(limit)
	rows, err := s.r.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.AlertID, &e.Remote, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		e.At = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// VerifyAudit walks the whole chain and reports how many rows verified and
// the first broken one (see VerifyAuditChain).
func (s *Store) VerifyAudit(ctx context.Context) (int64, error) {
	rep, err := s.VerifyAuditChain(ctx)
	return rep.Rows, err
}

// AuditDetail is the JSON of an audit detail (json.Marshal for values
// that cannot fail).
func AuditDetail(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
