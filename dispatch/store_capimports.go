package dispatch

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// capImport is the record that makes imports idempotent and lets
// Update/Cancel messages find the warning they reference.
func (s *Store) CAPImported(ctx context.Context, sender, identifier string) (alertID string, ok bool, err error) {
	err = s.w.QueryRowContext(ctx, s.q(`SELECT alert_id FROM cap_imports WHERE sender = ? AND identifier = ?`), sender, identifier).Scan(&alertID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return alertID, err == nil, err
}

func (s *Store) RecordCAPImport(ctx context.Context, sender, identifier, alertID string, version int) (bool, error) {
	res, err := s.exec(ctx, nil, `INSERT INTO cap_imports (sender, identifier, alert_id, version, received_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		sender, identifier, alertID, version, time.Now().UnixMilli())
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
