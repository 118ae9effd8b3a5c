package dispatch

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/alertcast/alertcast/targeting"
)

// SpeakerFilter narrows the loudspeaker registry for the fleet page. Empty
// fields do not filter.
type SpeakerFilter struct {
	// Region is a county (6), township (9) or village (12 digit) code: the
	// speakers of that area.
	Region string
	// Q matches a substring of the device id (ASCII case-insensitive), or
	// any of Villages.
	Q string
	// Villages are the village codes whose names matched Q (the caller
	// resolves names through the region tree; the store knows codes only).
	Villages []string
}

// SpeakersPage returns up to limit registered loudspeakers with an id after
// after ("" for the start), in id order, that match f: keyset paging on the
// primary key, so page 80 costs what page 1 does and a speaker imported
// meanwhile neither repeats nor shifts a row.
func (s *Store) SpeakersPage(ctx context.Context, f SpeakerFilter, after string, limit int) ([]SpeakerRecord, error) {
	if limit <= 0 {
		limit = 100
	}
	query := `SELECT id, village, lat, lon, zone, capabilities, credential_hash, revoked FROM speakers WHERE id > ?`
	args := []any{after}
	if f.Region != "" {
		// Codes are digits (the API checks them against the tree), so the
		// prefix needs no escaping.
		query += ` AND village LIKE ?`
		args = append(args, f.Region+"%")
	}
	if f.Q != "" {
		query += ` AND (LOWER(id) LIKE ? ESCAPE '\'`
		args = append(args, "%"+likeEscape(strings.ToLower(f.Q))+"%")
		if len(f.Villages) > 0 {
			query += ` OR village IN (` + inList(len(f.Villages)) + `)`
			for _, v := range f.Villages {
				args = append(args, v)
			}
		}
		query += `)`
	}
	query += ` ORDER BY id LIMIT ` + strconv.Itoa(limit)
	rows, err := s.r.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]SpeakerRecord, 0, min(limit, 1024))
	for rows.Next() {
		var r SpeakerRecord
		var caps string
		var rev int
		var lat, lon sql.NullFloat64
		if err := rows.Scan(&r.ID, &r.Village, &lat, &lon, &r.Zone, &caps, &r.CredentialHash, &rev); err != nil {
			return nil, err
		}
		if caps != "" {
			r.Capabilities = strings.Split(caps, ";")
		}
		if lat.Valid && lon.Valid {
			r.Point = &targeting.Point{Lat: lat.Float64, Lon: lon.Float64}
		}
		r.Revoked = rev != 0
		out = append(out, r)
	}
	return out, rows.Err()
}

// likeEscape escapes LIKE's wildcards (and the escape character) in a
// user's search text.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// AuditFilter narrows the audit log for the audit page. Empty fields do
// not filter.
type AuditFilter struct {
	Actor string
	// Action is an action ("alert.approve"), or a family of them when it
	// ends with a dot ("speaker.").
	Action  string
	AlertID string
	Since   time.Time // inclusive
	Until   time.Time // exclusive
}

// AuditPage returns up to limit entries matching f, newest first, with a
// sequence number below before (0 for the newest): keyset paging on the
// chain's own order.
func (s *Store) AuditPage(ctx context.Context, f AuditFilter, before int64, limit int) ([]AuditEntry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	query := `SELECT seq, at, actor, action, alert_id, remote, detail, prev_hash, hash FROM audit WHERE 1 = 1`
	var args []any
	if before > 0 {
		query += ` AND seq < ?`
		args = append(args, before)
	}
	if f.Actor != "" {
		query += ` AND actor = ?`
		args = append(args, f.Actor)
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			query += ` AND action LIKE ? ESCAPE '\'`
			args = append(args, likeEscape(f.Action)+"%")
		} else {
			query += ` AND action = ?`
			args = append(args, f.Action)
		}
	}
	if f.AlertID != "" {
		query += ` AND alert_id = ?`
		args = append(args, f.AlertID)
	}
	if !f.Since.IsZero() {
		query += ` AND at >= ?`
		args = append(args, f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		query += ` AND at < ?`
		args = append(args, f.Until.UnixMilli())
	}
	query += ` ORDER BY seq DESC LIMIT ` + strconv.Itoa(limit)
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
