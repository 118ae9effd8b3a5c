package dispatch

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Actor is who did something, and from where.
type Actor struct {
	Name   string
	Role   Role
	Remote string // client address
}

// AuditEntry is one line of the append-only audit log. Each entry's Hash
// covers its fields and the previous entry's hash, so editing or deleting
// an entry breaks the chain (VerifyAudit).
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

func (e *AuditEntry) computeHash() string {
	h := sha256.New()
	for _, f := range []string{strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.At.UnixMilli(), 10),
		e.Actor, e.Action, e.AlertID, e.Remote, e.Detail, e.PrevHash} {
		h.Write([]byte(strconv.Itoa(len(f))))
		h.Write([]byte{':'})
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// appendAudit adds e inside tx. On PostgreSQL an advisory lock orders
// concurrent appenders from several alertd processes; on SQLite the single
// writer connection does.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, e AuditEntry) error {
	s.auditM.Lock()
	defer s.auditM.Unlock()
	if s.pg {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(653122)`); err != nil {
			return fmt.Errorf("audit lock: %w", err)
		}
	}
	var seq int64
	var prev string
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("audit tail: %w", err)
	}
	e.Seq = seq + 1
	e.PrevHash = prev
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = e.At.Truncate(time.Millisecond)
	e.Hash = e.computeHash()
	_, err = s.exec(ctx, tx, `INSERT INTO audit (seq, at, actor, action, alert_id, remote, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, e.At.UnixMilli(), e.Actor, e.Action, e.AlertID, e.Remote, e.Detail, e.PrevHash, e.Hash)
	if err != nil {
		return fmt.Errorf("audit append: %w", err)
	}
	return nil
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

// VerifyAudit walks the whole chain and reports the first broken entry.
func (s *Store) VerifyAudit(ctx context.Context) (int64, error) {
	var after int64
	prev := ""
	var n int64
	for {
		batch, err := s.AuditLog(ctx, after, "", 1000)
		if err != nil {
			return n, err
		}
		if len(batch) == 0 {
			return n, nil
		}
		for _, e := range batch {
			if e.Seq != after+1 {
				return n, fmt.Errorf("audit entry %d missing (next is %d)", after+1, e.Seq)
			}
			if e.PrevHash != prev {
				return n, fmt.Errorf("audit entry %d: previous hash does not match entry %d", e.Seq, after)
			}
			if e.computeHash() != e.Hash {
				return n, fmt.Errorf("audit entry %d: contents do not match its hash (tampered)", e.Seq)
			}
			prev, after = e.Hash, e.Seq
			n++
		}
	}
}
