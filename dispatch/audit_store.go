package dispatch

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// UseAuditKey keys this store's audit chain with key from now on. It checks
// that the newest keyed row verifies under key (so a node started with a
// different key file refuses to run rather than fork the chain) and, when
// the chain is not keyed yet, appends the marker row: this is the
// migration from the legacy plain-hash chain, done once, under the same
// lock as every append, whichever node gets there first.
func (s *Store) UseAuditKey(ctx context.Context, key *AuditKey) error {
	if key == nil {
		return errors.New("audit key: nil")
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Locked inside the transaction, as appendAudit does: the other
		// order could wait for SQLite's one writer connection while an
		// appender holding it waits for the mutex.
		s.auditM.Lock()
		defer s.auditM.Unlock()
		seq, prev, err := s.lockAuditTail(ctx, tx)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(prev, auditMACPrefix) {
			_, _, err := s.insertAuditMarker(ctx, tx, key, seq, prev)
			return err
		}
		tail, err := s.auditRow(ctx, tx, seq)
		if err != nil {
			return err
		}
		if key.mac(tail) == tail.Hash {
			return nil
		}
		var d auditMarkerDetail
		var detail string
		err = tx.QueryRowContext(ctx, s.q(`SELECT detail FROM audit WHERE action = ? ORDER BY seq LIMIT 1`), auditKeyedAction).Scan(&detail)
		if err == nil && json.Unmarshal([]byte(detail), &d) == nil && d.KeyID != "" && d.KeyID != key.ID() {
			return fmt.Errorf("audit key %s is not the key this database's audit chain is keyed with (%s): every node must use the same audit key file (ALERTCAST_AUDIT_KEY_FILE)", key.ID(), d.KeyID)
		}
		return fmt.Errorf("audit key %s: the newest audit row (%d) does not verify under it: the row was altered or the chain is keyed with another key; run `alertctl audit verify`", key.ID(), seq)
	})
	if err != nil {
		return err
	}
	s.audit.key.Store(key)
	return nil
}

// AuditKeyID is the id of the key the chain is appended with ("" without one).
func (s *Store) AuditKeyID() string {
	if k := s.audit.key.Load(); k != nil {
		return k.ID()
	}
	return ""
}

// SetAuditHead sets the newest row a previous verification saw (alertd
// keeps it in its data dir across restarts); later verifications fail if
// that row is gone or changed.
func (s *Store) SetAuditHead(h AuditHead) {
	if h.Seq > 0 {
		s.audit.head.Store(&h)
	}
}

// AuditHead is the newest row a verification of this store saw.
func (s *Store) AuditHead() AuditHead {
	if h := s.audit.head.Load(); h != nil {
		return *h
	}
	return AuditHead{}
}

func (s *Store) auditRow(ctx context.Context, tx *sql.Tx, seq int64) (*AuditEntry, error) {
	var e AuditEntry
	var at int64
	err := tx.QueryRowContext(ctx, s.q(`SELECT seq, at, actor, action, alert_id, remote, detail, prev_hash, hash FROM audit WHERE seq = ?`), seq).
		Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.AlertID, &e.Remote, &e.Detail, &e.PrevHash, &e.Hash)
	if err != nil {
		return nil, fmt.Errorf("audit row %d: %w", seq, err)
	}
	e.At = time.UnixMilli(at).UTC()
	return &e, nil
}

// VerifyAuditChain walks the whole chain, oldest first, with this store's
// audit key, and checks that the newest row an earlier verification saw is
// still there unchanged. The report counts the rows that verified; the
// error is the first broken row (*AuditChainError, wrapping ErrAuditChain)
// or a database error. A good result moves the remembered head forward.
func (s *Store) VerifyAuditChain(ctx context.Context) (AuditReport, error) {
	v := NewAuditVerifier(s.audit.key.Load(), s.AuditHead())
	var after int64
	for {
		batch, err := s.AuditLog(ctx, after, "", 1000)
		if err != nil {
			rep, _ := v.Finish()
			rep.OK = false
			return rep, fmt.Errorf("audit read: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		for i := range batch {
			if err := v.Add(&batch[i]); err != nil {
				return v.Finish()
			}
		}
		after = batch[len(batch)-1].Seq
	}
	rep, err := v.Finish()
	if err == nil && rep.Head.Seq > 0 {
		s.advanceAuditHead(rep.Head)
	}
	return rep, err
}

// advanceAuditHead remembers h unless a newer head is already remembered
// (two verifications may finish out of order).
func (s *Store) advanceAuditHead(h AuditHead) {
	for {
		old := s.audit.head.Load()
		if old != nil && old.Seq >= h.Seq {
			return
		}
		if s.audit.head.CompareAndSwap(old, &h) {
			return
		}
	}
}
