package dispatch

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

type scheduleBody struct {
	Body *AlertInput   `json:"body,omitempty"`
	TTL  time.Duration `json:"ttl,omitempty"`
}

// SaveSchedule stores a new schedule (or re-activates one with that id).
func (s *Store) SaveSchedule(ctx context.Context, sc *Schedule, by Actor) error {
	body, _ := json.Marshal(scheduleBody{Body: sc.Body, TTL: sc.TTL})
	ex := "excluded"
	if s.pg {
		ex = "EXCLUDED"
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, fmt.Sprintf(`INSERT INTO schedules (id, kind, spec, alert_id, body, created_by, active, last_fired, created_at, approved_by, approved_at)
			VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET spec = %[1]s.spec, active = 1`, ex),
			sc.ID, sc.Kind, sc.Spec, sc.AlertID, string(body), sc.CreatedBy, ms(sc.LastFired), ms(sc.CreatedAt), sc.ApprovedBy, ms(sc.ApprovedAt)); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "schedule.create", AlertID: sc.AlertID,
			Detail: AuditDetail(map[string]string{"id": sc.ID, "kind": sc.Kind, "spec": sc.Spec})})
	})
}

// Schedules lists schedules (active only when activeOnly).
func (s *Store) Schedules(ctx context.Context, activeOnly bool) ([]*Schedule, error) {
	q := `SELECT id, kind, spec, alert_id, body, created_by, active, last_fired, created_at, approved_by, approved_at FROM schedules`
	if activeOnly {
		q += ` WHERE active = 1`
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Schedule{}
	for rows.Next() {
		var sc Schedule
		var body string
		var active int
		var last, created, approved int64
		if err := rows.Scan(&sc.ID, &sc.Kind, &sc.Spec, &sc.AlertID, &body, &sc.CreatedBy, &active, &last, &created, &sc.ApprovedBy, &approved); err != nil {
			return nil, err
		}
		var sb scheduleBody
		_ = json.Unmarshal([]byte(body), &sb)
		sc.Body, sc.TTL, sc.Active = sb.Body, sb.TTL, active != 0
		sc.LastFired, sc.CreatedAt, sc.ApprovedAt = fromMS(last), fromMS(created), fromMS(approved)
		out = append(out, &sc)
	}
	return out, rows.Err()
}

// StopSchedule deactivates a schedule.
func (s *Store) StopSchedule(ctx context.Context, id string, by Actor) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE schedules SET active = 0 WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.appendAudit(ctx, tx, AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "schedule.stop", Detail: AuditDetail(map[string]string{"id": id})})
	})
}

// claimFire records that the schedule fired for due, unless another node
// already did: compare-and-set on last_fired makes every due time fire once.
func (s *Store) ClaimFire(ctx context.Context, id string, prev, due time.Time) (bool, error) {
	res, err := s.exec(ctx, nil, `UPDATE schedules SET last_fired = ? WHERE id = ? AND last_fired = ? AND active = 1`, ms(due), id, ms(prev))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *Store) ApproveSchedule(ctx context.Context, id string, by Actor, at time.Time, reason string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE schedules SET approved_by = ?, approved_at = ? WHERE id = ? AND approved_by = ''`, by.Name, ms(at), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: the schedule was approved meanwhile", ErrConflict)
		}
		return s.appendAudit(ctx, tx, AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "schedule.approve",
			Detail: AuditDetail(map[string]string{"id": id, "reason": reason})})
	})
}
