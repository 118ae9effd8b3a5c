package dispatch

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/alertcast/alertcast/warning"
)

// ErrConflict is returned when a change does not fit the warning's state.
var ErrConflict = errors.New("conflict")

func (s *Store) putAlert(ctx context.Context, tx *sql.Tx, a *Alert, idem string, insert bool) error {
	// The proposal is not part of this version: it has a column of its own.
	bare := *a
	bare.Pending = nil
	body, err := json.Marshal(&bare)
	if err != nil {
		return err
	}
	proposal := ""
	if a.Pending != nil {
		p, err := json.Marshal(a.Pending)
		if err != nil {
			return err
		}
		proposal = string(p)
	}
	if insert {
		var ik any
		if idem != "" {
			ik = idem
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO alerts (id, version, state, level, status, event, expires, created_by, created_at, updated_at, idem_key, body, proposal)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.Version, a.State.String(), int(a.Level), a.Status.String(), a.Event.String(), ms(a.Expires),
			a.CreatedBy, ms(a.CreatedAt), ms(a.UpdatedAt), ik, string(body), proposal); err != nil {
			return fmt.Errorf("insert alert: %w", err)
		}
	} else {
		if _, err := s.exec(ctx, tx, `UPDATE alerts SET version = ?, state = ?, level = ?, status = ?, event = ?, expires = ?, updated_at = ?, body = ?, proposal = ? WHERE id = ?`,
			a.Version, a.State.String(), int(a.Level), a.Status.String(), a.Event.String(), ms(a.Expires), ms(a.UpdatedAt), string(body), proposal, a.ID); err != nil {
			return fmt.Errorf("update alert: %w", err)
		}
	}
	// The version row keeps the latest body of that version (state changes
	// such as approval update it; a new version adds a row).
	if s.pg {
		_, err = s.exec(ctx, tx, `INSERT INTO alert_versions (id, version, body, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (id, version) DO UPDATE SET body = EXCLUDED.body`, a.ID, a.Version, string(body), ms(a.UpdatedAt))
	} else {
		_, err = s.exec(ctx, tx, `INSERT INTO alert_versions (id, version, body, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (id, version) DO UPDATE SET body = excluded.body`, a.ID, a.Version, string(body), ms(a.UpdatedAt))
	}
	if err != nil {
		return fmt.Errorf("alert version: %w", err)
	}
	return s.putGuidance(ctx, tx, a)
}

func (s *Store) queueDispatch(ctx context.Context, tx *sql.Tx, a *Alert) error {
	_, err := s.exec(ctx, tx, `INSERT INTO dispatch_outbox (alert_id, version, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		a.ID, a.Version, time.Now().UnixMilli())
	return err
}

// InsertAlert stores a new warning with its audit entry, and, when the
// warning is issued, a dispatch outbox row in the same transaction, so a
// stored warning is never left undispatched. A repeated idempotency key
// returns the warning stored the first time and existed=true.
func (s *Store) InsertAlert(ctx context.Context, a *Alert, idem string, audit AuditEntry) (stored *Alert, existed bool, err error) {
	if idem != "" {
		if prev, err := s.alertWhere(ctx, s.r, `idem_key = ?`, idem); err == nil {
			return prev, true, nil
		}
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.putAlert(ctx, tx, a, idem, true); err != nil {
			return err
		}
		audit.AlertID = a.ID
		if err := s.appendAudit(ctx, tx, audit); err != nil {
			return err
		}
		if a.State == warning.StateIssued {
			return s.queueDispatch(ctx, tx, a)
		}
		return nil
	})
	if err != nil && idem != "" {
		// A concurrent request with the same key won the race.
		if prev, err2 := s.alertWhere(ctx, s.r, `idem_key = ?`, idem); err2 == nil {
			return prev, true, nil
		}
	}
	return a, false, err
}

// Change describes what UpdateAlert's callback decided.
type Change struct {
	NewVersion bool       // store as a new version (update, cancel, all-clear)
	Dispatch   bool       // queue the (new) version for delivery
	Audit      AuditEntry // the audit entry for the change
}

// UpdateAlert loads the warning in a write transaction, lets fn change it
// and stores the result with its audit entry and dispatch row atomically.
func (s *Store) UpdateAlert(ctx context.Context, id string, fn func(a *Alert) (Change, error)) (*Alert, error) {
	var out *Alert
	err := s.tx(ctx, func(tx *sql.Tx) error {
		lock := ""
		if s.pg {
			lock = " FOR UPDATE"
		}
		a, err := s.alertWhere(ctx, tx, `id = ?`+lock, id)
		if err != nil {
			return err
		}
		ch, err := fn(a)
		if err != nil {
			return err
		}
		a.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
		if ch.NewVersion {
			a.Version++
		}
		if err := s.putAlert(ctx, tx, a, "", false); err != nil {
			return err
		}
		ch.Audit.AlertID = a.ID
		if err := s.appendAudit(ctx, tx, ch.Audit); err != nil {
			return err
		}
		if ch.Dispatch {
			if err := s.queueDispatch(ctx, tx, a); err != nil {
				return err
			}
		}
		out = a
		return nil
	})
	return out, err
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) alertWhere(ctx context.Context, q querier, where string, args ...any) (*Alert, error) {
	var body, proposal string
	err := q.QueryRowContext(ctx, s.q(`SELECT body, proposal FROM alerts WHERE `+where), args...).Scan(&body, &proposal)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decodeAlert(body, proposal)
}

// decodeAlert decodes a stored warning and its pending proposal, if any.
func decodeAlert(body, proposal string) (*Alert, error) {
	var a Alert
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		return nil, fmt.Errorf("decode stored alert: %w", err)
	}
	if proposal != "" {
		a.Pending = new(Alert)
		if err := json.Unmarshal([]byte(proposal), a.Pending); err != nil {
			return nil, fmt.Errorf("decode stored proposal: %w", err)
		}
	}
	return &a, nil
}

// Alert returns the current version of a warning.
func (s *Store) Alert(ctx context.Context, id string) (*Alert, error) {
	return s.alertWhere(ctx, s.r, `id = ?`, id)
}

// AlertVersion returns one version of a warning.
func (s *Store) AlertVersion(ctx context.Context, id string, version int) (*Alert, error) {
	var body string
	err := s.r.QueryRowContext(ctx, s.q(`SELECT body FROM alert_versions WHERE id = ? AND version = ?`), id, version).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var a Alert
	return &a, json.Unmarshal([]byte(body), &a)
}

// AlertVersions returns every version of a warning, oldest first.
func (s *Store) AlertVersions(ctx context.Context, id string) ([]*Alert, error) {
	return s.queryAlerts(ctx, `SELECT body FROM alert_versions WHERE id = ? ORDER BY version`, id)
}

// queryAlerts runs a query selecting stored alert bodies and decodes them.
func (s *Store) queryAlerts(ctx context.Context, query string, args ...any) ([]*Alert, error) {
	rows, err := s.r.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []*Alert
	for rows.Next() {
		var body, proposal string
		dst := []any{&body, &proposal}[:len(cols)] // body, and the proposal when selected
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		a, err := decodeAlert(body, proposal)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// AlertFilter narrows ListAlerts.
type AlertFilter struct {
	State  string // empty for all
	Before string // id cursor: alerts with a smaller id (older)
	Limit  int
}

// ListAlerts returns warnings newest first.
func (s *Store) ListAlerts(ctx context.Context, f AlertFilter) ([]*Alert, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	query := `SELECT body, proposal FROM alerts WHERE 1=1`
	var args []any
	if f.State != "" {
		query += ` AND state = ?`
		args = append(args, f.State)
	}
	if f.Before != "" {
		query += ` AND id < ?`
		args = append(args, f.Before)
	}
	query += ` ORDER BY id DESC LIMIT ` + strconv.Itoa(f.Limit)
	return s.queryAlerts(ctx, query, args...)
}

// ExpiredIssued returns ids of issued warnings whose expiry has passed.
func (s *Store) ExpiredIssued(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT id FROM alerts WHERE state = ? AND expires <= ? LIMIT 100`), warning.StateIssued.String(), ms(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// PendingDispatch is a warning version stored but not yet handed to the queue.
type PendingDispatch struct {
	AlertID string
	Version int
}

// PendingDispatches returns outbox rows not yet enqueued, oldest first.
func (s *Store) PendingDispatches(ctx context.Context, limit int) ([]PendingDispatch, error) {
	return s.outboxRows(ctx, `SELECT alert_id, version FROM dispatch_outbox WHERE enqueued_at = 0 ORDER BY created_at LIMIT `+strconv.Itoa(limit))
}

// outboxRows runs query (placeholders in SQLite's form), which selects
// alert_id and version from dispatch_outbox, and returns the rows.
func (s *Store) outboxRows(ctx context.Context, query string, args ...any) ([]PendingDispatch, error) {
	rows, err := s.r.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PendingDispatch
	for rows.Next() {
		var p PendingDispatch
		if err := rows.Scan(&p.AlertID, &p.Version); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// MarkDispatched records that the version's plan task is in the queue.
func (s *Store) MarkDispatched(ctx context.Context, p PendingDispatch) error {
	_, err := s.exec(ctx, nil, `UPDATE dispatch_outbox SET enqueued_at = ? WHERE alert_id = ? AND version = ?`, time.Now().UnixMilli(), p.AlertID, p.Version)
	return err
}
