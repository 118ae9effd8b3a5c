package dispatch

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alertcast/alertcast/warning"
)

// MaxReportPhotos bounds the photos of one report.
const MaxReportPhotos = 4

// StoredPhoto is a photo ready to store: already decoded and re-encoded
// (no metadata left), with its thumbnail. UploadSHA is the hash of the
// bytes the client sent, so sending the same photo again stores nothing.
type StoredPhoto struct {
	UploadSHA     string
	Image, Thumb  []byte // image/jpeg
	Width, Height int
}

func newReportID() string { return "rpt_" + strings.ToLower(rand.Text()[:16]) }
func newPhotoID() string  { return "pho_" + strings.ToLower(rand.Text()[:16]) }

// reportOnAir says whether reports may be linked to a warning in state st:
// one that went on air (a report queued on a phone may arrive after the
// all-clear, and still counts), never one pending or rejected.
func reportOnAir(st warning.State) bool {
	switch st {
	case warning.StateIssued, warning.StateCancelled, warning.StateAllClear, warning.StateExpired:
		return true
	}
	return false
}

// InsertReport stores a field report with its photos and audits it. The
// same idempotency key from the same reporter returns the report already
// stored (existed true) and stores nothing.
func (s *Store) InsertReport(ctx context.Context, in FieldReportInput, by Actor, photos []StoredPhoto) (*FieldReport, bool, error) {
	idem := by.Name + ":" + in.IdempotencyKey
	if id, err := s.reportIDByKey(ctx, idem); err == nil {
		r, err := s.FieldReport(ctx, id)
		return r, true, err
	} else if !errors.Is(err, ErrNotFound) {
		return nil, false, err
	}
	a, err := s.Alert(ctx, in.AlertID)
	if errors.Is(err, ErrNotFound) {
		return nil, false, &warning.FieldError{Field: "alert_id", Rule: "no such warning", Value: clipValue(in.AlertID)}
	}
	if err != nil {
		return nil, false, err
	}
	if !reportOnAir(a.State) {
		return nil, false, &warning.FieldError{Field: "alert_id", Rule: "the warning is " + a.State.String() + ": reports go with a warning that went on air", Value: a.ID}
	}
	if len(photos) > MaxReportPhotos {
		return nil, false, &warning.FieldError{Field: "photo", Rule: fmt.Sprintf("at most %d photos per report", MaxReportPhotos)}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	observed := in.ObservedAt
	if observed.IsZero() || observed.After(now) {
		observed = now
	}
	counts := in.Counts
	if counts == nil {
		counts = map[string]int{}
	}
	cb, _ := json.Marshal(counts)
	id := newReportID()
	var lon, lat sql.NullFloat64
	if in.Location.Lon != nil {
		lon = sql.NullFloat64{Float64: *in.Location.Lon, Valid: true}
		lat = sql.NullFloat64{Float64: *in.Location.Lat, Valid: true}
	}
	inserted := false
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `INSERT INTO field_reports (id, idem_key, alert_id, kind, counts, text, shelter_id, lon, lat, accuracy_m, village,
			reporter, observed_at, received_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idem_key) DO NOTHING`,
			id, idem, a.ID, in.Kind.String(), string(cb), in.Text, in.ShelterID, lon, lat, in.Location.Accuracy, in.Location.Village,
			by.Name, ms(observed), ms(now), string(ReportNew))
		if err != nil {
			return fmt.Errorf("insert report: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // the same key, stored meanwhile by a concurrent request
		}
		inserted = true
		for _, p := range photos {
			if _, _, err := s.insertPhoto(ctx, tx, id, p, now); err != nil {
				return err
			}
		}
		detail := map[string]any{"report": id, "kind": in.Kind.String(), "counts": counts, "photos": len(photos)}
		if in.ShelterID != "" {
			detail["shelter_id"] = in.ShelterID
		}
		return s.appendAudit(ctx, tx, AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "report.create", AlertID: a.ID, Detail: AuditDetail(detail)})
	})
	if err != nil {
		return nil, false, err
	}
	if !inserted {
		if id, err = s.reportIDByKey(ctx, idem); err != nil {
			return nil, false, err
		}
	}
	r, err := s.FieldReport(ctx, id)
	return r, !inserted, err
}

// ReportByKey returns the report a reporter sent with an idempotency key
// (ErrNotFound when none), so that a resent report's photos need not be
// processed again.
func (s *Store) ReportByKey(ctx context.Context, reporter, key string) (*FieldReport, error) {
	id, err := s.reportIDByKey(ctx, reporter+":"+key)
	if err != nil {
		return nil, err
	}
	return s.FieldReport(ctx, id)
}

func (s *Store) reportIDByKey(ctx context.Context, idem string) (string, error) {
	var id string
	err := s.w.QueryRowContext(ctx, s.q(`SELECT id FROM field_reports WHERE idem_key = ?`), idem).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return id, err
}

// insertPhoto stores p for a report unless the same upload is there;
// it returns the photo's id and whether it was there already.
func (s *Store) insertPhoto(ctx context.Context, tx *sql.Tx, reportID string, p StoredPhoto, at time.Time) (string, bool, error) {
	var have string
	err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM report_photos WHERE report_id = ? AND upload_sha = ?`), reportID, p.UploadSHA).Scan(&have)
	if err == nil {
		return have, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", false, err
	}
	var n int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM report_photos WHERE report_id = ?`), reportID).Scan(&n); err != nil {
		return "", false, err
	}
	if n >= MaxReportPhotos {
		return "", false, &warning.FieldError{Field: "photo", Rule: fmt.Sprintf("at most %d photos per report", MaxReportPhotos)}
	}
	id := newPhotoID()
	if _, err := s.exec(ctx, tx, `INSERT INTO report_photos (id, report_id, upload_sha, image, thumb, width, height, bytes, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, reportID, p.UploadSHA, p.Image, p.Thumb, p.Width, p.Height, len(p.Image), ms(at)); err != nil {
		return "", false, fmt.Errorf("insert photo: %w", err)
	}
	return id, false, nil
}

// AddReportPhoto adds a photo to a report; only its reporter may. The same
// upload twice is stored once (existed true the second time).
func (s *Store) AddReportPhoto(ctx context.Context, reportID string, p StoredPhoto, by Actor) (FieldReportPhoto, bool, error) {
	var out FieldReportPhoto
	var existed bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var reporter, alertID string
		err := tx.QueryRowContext(ctx, s.q(`SELECT reporter, alert_id FROM field_reports WHERE id = ?`), reportID).Scan(&reporter, &alertID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if reporter != by.Name {
			return fmt.Errorf("%w: only the reporter adds photos to a report", ErrForbidden)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		id, had, err := s.insertPhoto(ctx, tx, reportID, p, now)
		if err != nil {
			return err
		}
		out, existed = FieldReportPhoto{ID: id, Width: p.Width, Height: p.Height, Bytes: len(p.Image), At: now}, had
		if had {
			return nil
		}
		return s.appendAudit(ctx, tx, AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "report.photo", AlertID: alertID,
			Detail: AuditDetail(map[string]any{"report": reportID, "photo": id, "bytes": len(p.Image)})})
	})
	return out, existed, err
}

// ReportPhotoData returns a photo's JPEG bytes (its thumbnail when thumb).
func (s *Store) ReportPhotoData(ctx context.Context, reportID, photoID string, thumb bool) ([]byte, error) {
	col := "image"
	if thumb {
		col = "thumb"
	}
	var b []byte
	err := s.r.QueryRowContext(ctx, s.q(`SELECT `+col+` FROM report_photos WHERE id = ? AND report_id = ?`), photoID, reportID).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return b, err
}

const reportCols = `id, alert_id, kind, counts, text, shelter_id, lon, lat, accuracy_m, village, reporter, observed_at, received_at,
	state, acked_by, acked_at, assigned_to, assigned_by, occupancy_applied`

// FieldReport returns one report with its photos and replies.
func (s *Store) FieldReport(ctx context.Context, id string) (*FieldReport, error) {
	list, err := s.reportsWhere(ctx, `id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNotFound
	}
	return list[0], nil
}

// ReportsForAlert lists a warning's reports, newest first.
func (s *Store) ReportsForAlert(ctx context.Context, alertID string) ([]*FieldReport, error) {
	return s.reportsWhere(ctx, `alert_id = ?`, alertID)
}

// ReportsBy lists a reporter's reports, newest first (their own page).
func (s *Store) ReportsBy(ctx context.Context, reporter string) ([]*FieldReport, error) {
	return s.reportsWhere(ctx, `reporter = ?`, reporter)
}

// maxReportList bounds one listing; a warning with more reports than this
// shows the newest.
const maxReportList = 1000

func (s *Store) reportsWhere(ctx context.Context, where string, arg any) ([]*FieldReport, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+reportCols+` FROM field_reports WHERE `+where+
		fmt.Sprintf(` ORDER BY received_at DESC, id DESC LIMIT %d`, maxReportList)), arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*FieldReport{}
	byID := map[string]*FieldReport{}
	for rows.Next() {
		var r FieldReport
		var kind, counts, state string
		var lon, lat sql.NullFloat64
		var observed, received, acked int64
		var applied int
		if err := rows.Scan(&r.ID, &r.AlertID, &kind, &counts, &r.Text, &r.ShelterID, &lon, &lat, &r.Location.Accuracy, &r.Location.Village,
			&r.Reporter, &observed, &received, &state, &r.AckedBy, &acked, &r.AssignedTo, &r.AssignedBy, &applied); err != nil {
			return nil, err
		}
		r.Kind, _ = ParseFieldReportKind(kind)
		_ = json.Unmarshal([]byte(counts), &r.Counts)
		if lon.Valid && lat.Valid {
			r.Location.Lon, r.Location.Lat = &lon.Float64, &lat.Float64
		}
		r.ObservedAt, r.ReceivedAt, r.AckedAt = fromMS(observed), fromMS(received), fromMS(acked)
		r.State, r.OccupancyApplied = FieldReportState(state), applied != 0
		r.Photos, r.Replies = []FieldReportPhoto{}, []FieldReportReply{}
		out = append(out, &r)
		byID[r.ID] = &r
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	sub := `SELECT id FROM field_reports WHERE ` + where
	prows, err := s.r.QueryContext(ctx, s.q(`SELECT report_id, id, width, height, bytes, created_at FROM report_photos
		WHERE report_id IN (`+sub+`) ORDER BY created_at, id`), arg)
	if err != nil {
		return nil, err
	}
	defer prows.Close()
	for prows.Next() {
		var rid string
		var p FieldReportPhoto
		var at int64
		if err := prows.Scan(&rid, &p.ID, &p.Width, &p.Height, &p.Bytes, &at); err != nil {
			return nil, err
		}
		p.At = fromMS(at)
		if r := byID[rid]; r != nil {
			r.Photos = append(r.Photos, p)
		}
	}
	if err := prows.Err(); err != nil {
		return nil, err
	}
	rrows, err := s.r.QueryContext(ctx, s.q(`SELECT report_id, by_name, text, at FROM report_replies
		WHERE report_id IN (`+sub+`) ORDER BY at, seq`), arg)
	if err != nil {
		return nil, err
	}
	defer rrows.Close()
	for rrows.Next() {
		var rid string
		var p FieldReportReply
		var at int64
		if err := rrows.Scan(&rid, &p.By, &p.Text, &at); err != nil {
			return nil, err
		}
		p.At = fromMS(at)
		if r := byID[rid]; r != nil {
			r.Replies = append(r.Replies, p)
		}
	}
	return out, rrows.Err()
}

// reportChange runs fn on a report inside a transaction and audits it.
func (s *Store) reportChange(ctx context.Context, id string, by Actor, action string, fn func(tx *sql.Tx, alertID string) (detail map[string]any, err error)) (*FieldReport, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var alertID string
		err := tx.QueryRowContext(ctx, s.q(`SELECT alert_id FROM field_reports WHERE id = ?`), id).Scan(&alertID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		detail, err := fn(tx, alertID)
		if err != nil || detail == nil {
			return err
		}
		detail["report"] = id
		return s.appendAudit(ctx, tx, AuditEntry{Actor: by.Name, Remote: by.Remote, Action: action, AlertID: alertID, Detail: AuditDetail(detail)})
	})
	if err != nil {
		return nil, err
	}
	return s.FieldReport(ctx, id)
}

// AcknowledgeReport marks a report as seen by the command centre.
// Acknowledging it again changes nothing and is not audited again.
func (s *Store) AcknowledgeReport(ctx context.Context, id string, by Actor) (*FieldReport, error) {
	return s.reportChange(ctx, id, by, "report.acknowledge", func(tx *sql.Tx, _ string) (map[string]any, error) {
		res, err := s.exec(ctx, tx, `UPDATE field_reports SET state = ?, acked_by = ?, acked_at = ? WHERE id = ? AND state = ?`,
			string(ReportAcknowledged), by.Name, time.Now().UnixMilli(), id, string(ReportNew))
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, nil
		}
		return map[string]any{}, nil
	})
}

// AssignReport hands a report to a user (an officer or a field team) to
// follow up. The user must exist and be enabled.
func (s *Store) AssignReport(ctx context.Context, id, to string, by Actor) (*FieldReport, error) {
	return s.reportChange(ctx, id, by, "report.assign", func(tx *sql.Tx, _ string) (map[string]any, error) {
		var disabled int
		err := tx.QueryRowContext(ctx, s.q(`SELECT disabled FROM users WHERE name = ?`), to).Scan(&disabled)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && disabled != 0) {
			return nil, &warning.FieldError{Field: "to", Rule: "an existing, enabled user", Value: clipValue(to)}
		}
		if err != nil {
			return nil, err
		}
		if _, err := s.exec(ctx, tx, `UPDATE field_reports SET assigned_to = ?, assigned_by = ? WHERE id = ?`, to, by.Name, id); err != nil {
			return nil, err
		}
		return map[string]any{"to": to}, nil
	})
}

// ReplyToReport adds an officer's answer, which the reporter's page shows.
func (s *Store) ReplyToReport(ctx context.Context, id, text string, by Actor) (*FieldReport, error) {
	if err := validReplyText(text); err != nil {
		return nil, err
	}
	return s.reportChange(ctx, id, by, "report.reply", func(tx *sql.Tx, _ string) (map[string]any, error) {
		var seq int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COALESCE(MAX(seq), 0) FROM report_replies WHERE report_id = ?`), id).Scan(&seq); err != nil {
			return nil, err
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO report_replies (report_id, seq, by_name, text, at) VALUES (?, ?, ?, ?, ?)`,
			id, seq+1, by.Name, text, time.Now().UnixMilli()); err != nil {
			return nil, err
		}
		return map[string]any{"text": text}, nil
	})
}

// MarkOccupancyApplied records that a shelter_occupancy report updated its
// shelter's figure.
func (s *Store) MarkOccupancyApplied(ctx context.Context, id string) error {
	_, err := s.exec(ctx, nil, `UPDATE field_reports SET occupancy_applied = 1 WHERE id = ?`, id)
	return err
}
