package dispatch

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/alertcast/alertcast/channels"
)

// firstSteps are the receipt steps whose first time per version and
// channel is kept (receipt_firsts): a record's own time is overwritten by
// its next receipt ("playing" by "played"), so without this table the
// after-action report could not say when the first loudspeaker sounded.
var firstSteps = map[string]bool{"playing": true}

// FirstSound is the step whose first receipt is a warning's first sound.
const FirstSound = "playing"

// recordFirsts keeps the earliest time of each first step among the
// receipts of rs that matched a record (matched(i)), inside the receipts'
// own transaction. Receipts that are not the last of their record in rs
// count too: "playing" and "played" in one batch still mark first sound.
func (s *Store) recordFirsts(ctx context.Context, tx *sql.Tx, rs []channels.Receipt, matched func(i int) bool, now int64) error {
	type key struct {
		alertID, channel, step string
		version                int
	}
	first := map[key]int64{}
	for i, r := range rs {
		if !firstSteps[r.Detail] || !matched(i) {
			continue
		}
		id, ver, ok := ParseKey(r.Key)
		if !ok {
			continue
		}
		at := r.At.UnixMilli()
		if r.At.IsZero() || at > now {
			at = now
		}
		k := key{id, r.Channel, r.Detail, ver}
		if v, seen := first[k]; !seen || at < v {
			first[k] = at
		}
	}
	for k, at := range first {
		if _, err := s.txExec(ctx, tx, `INSERT INTO receipt_firsts (alert_id, version, channel, step, at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (alert_id, version, channel, step) DO UPDATE SET at = CASE WHEN excluded.at < receipt_firsts.at THEN excluded.at ELSE receipt_firsts.at END`,
			k.alertID, k.version, k.channel, k.step, at); err != nil {
			return fmt.Errorf("record first %s: %w", k.step, err)
		}
	}
	return nil
}

// ReceiptFirsts returns, per channel and step, the time of the first
// matching receipt of a version (FirstSound on "speaker": the first
// loudspeaker that started playing).
func (s *Store) ReceiptFirsts(ctx context.Context, alertID string, version int) (map[string]map[string]time.Time, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT channel, step, at FROM receipt_firsts WHERE alert_id = ? AND version = ?`), alertID, version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[string]time.Time{}
	for rows.Next() {
		var ch, step string
		var at int64
		if err := rows.Scan(&ch, &step, &at); err != nil {
			return nil, err
		}
		if out[ch] == nil {
			out[ch] = map[string]time.Time{}
		}
		out[ch][step] = fromMS(at)
	}
	return out, rows.Err()
}

// ReportRecord is what the after-action report reads of one delivery
// record. Place is the recipient's village (loudspeaker, resident) or
// region (field endpoint) in the registry now; "" when the record names no
// registered recipient (the WebSocket broadcast, a removed resident).
type ReportRecord struct {
	Channel   string
	Recipient string
	State     channels.State
	Detail    string
	LastError string
	At        int64 // updated_at, Unix ms
	Place     string
}

// ForEachReportRecord streams every delivery record of a version, in no
// particular order, with its recipient's place when places is set. fn
// gets the same *ReportRecord each time: it must copy what it keeps. One
// query, one pass: a county-wide warning's 355,000 records are read
// without being held in memory.
func (s *Store) ForEachReportRecord(ctx context.Context, alertID string, version int, places bool, fn func(*ReportRecord) error) error {
	query := `SELECT d.channel, d.recipient, d.state, d.detail, d.last_error, d.updated_at, '' FROM deliveries d WHERE d.alert_id = ? AND d.version = ?`
	if places {
		// Residents are SMS recipients by their numeric id; PostgreSQL
		// must not be asked to cast anything else (a hash join computes
		// the key of every row, whatever the channel).
		residentID := `CAST(d.recipient AS INTEGER)`
		if s.pg {
			residentID = `CASE WHEN d.recipient ~ '^[0-9]{1,18}$' THEN CAST(d.recipient AS BIGINT) END`
		}
		query = `SELECT d.channel, d.recipient, d.state, d.detail, d.last_error, d.updated_at, COALESCE(sp.village, fe.region, rs.village, '')
			FROM deliveries d
			LEFT JOIN speakers sp ON d.channel = 'speaker' AND sp.id = d.recipient
			LEFT JOIN field_endpoints fe ON d.channel = 'voice' AND fe.id = d.recipient
			LEFT JOIN residents rs ON d.channel = 'sms' AND rs.id = ` + residentID + `
			WHERE d.alert_id = ? AND d.version = ?`
	}
	rows, err := s.r.QueryContext(ctx, s.q(query), alertID, version)
	if err != nil {
		return fmt.Errorf("report records: %w", err)
	}
	defer rows.Close()
	var rec ReportRecord
	var st int
	for rows.Next() {
		if err := rows.Scan(&rec.Channel, &rec.Recipient, &st, &rec.Detail, &rec.LastError, &rec.At, &rec.Place); err != nil {
			return fmt.Errorf("report records: %w", err)
		}
		rec.State = channels.State(st)
		if err := fn(&rec); err != nil {
			return err
		}
	}
	return rows.Err()
}
