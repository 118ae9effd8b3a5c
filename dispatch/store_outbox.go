package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// OutboxRecord is what the outbox channel recorded instead of sending.
type OutboxRecord struct {
	Key       string `json:"key"`
	Channel   string `json:"channel"`
	Recipient string `json:"recipient"`
	Address   string `json:"address,omitempty"`
	Language  string `json:"language,omitempty"`
	Body      string `json:"body"`
	// Encoding and Parts are what the real channel would have submitted
	// (SMS: GSM7 or UCS2, one string per concatenated part).
	Encoding string    `json:"encoding,omitempty"`
	Parts    []string  `json:"parts,omitempty"`
	At       time.Time `json:"at"`
	// Sends is how many times the record was sent (1 normally; more after a
	// crashed worker re-ran its chunk — the outbox kept the first).
	Sends int `json:"sends,omitempty"`
}

// RecordOutbox stores outbox records; a record already there (same key,
// channel, recipient) is kept as it was: nothing is recorded twice.
func (s *Store) RecordOutbox(ctx context.Context, recs []OutboxRecord) error {
	if len(recs) == 0 {
		return nil
	}
	// Through the group-commit writer, with the workers' results.
	return s.submit(ctx, &updateReq{recs: recs, done: make(chan error, 1)})
}

const outboxConflict = ` ON CONFLICT (msg_key, channel, recipient) DO UPDATE SET sends = outbox.sends + 1`

func outboxRow(recs []OutboxRecord) func(i int) []any {
	return func(i int) []any {
		r := &recs[i]
		parts := ""
		if len(r.Parts) > 0 {
			parts = AuditDetail(r.Parts)
		}
		return []any{r.Key, r.Channel, r.Recipient, r.Address, r.Language, r.Body, r.Encoding, parts, ms(r.At)}
	}
}

var outboxCols = []string{"msg_key", "channel", "recipient", "address", "language", "body", "encoding", "parts", "at"}

// OutboxFilter narrows ListOutbox.
type OutboxFilter struct {
	Key     string // message key prefix, e.g. an alert id
	Channel string
	Limit   int
	Offset  int
}

// ListOutbox returns outbox records, oldest first.
func (s *Store) ListOutbox(ctx context.Context, f OutboxFilter) ([]OutboxRecord, int, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	where := ` WHERE 1=1`
	var args []any
	if f.Key != "" {
		where += ` AND msg_key LIKE ?`
		args = append(args, f.Key+"%")
	}
	if f.Channel != "" {
		where += ` AND channel = ?`
		args = append(args, f.Channel)
	}
	var total int
	if err := s.r.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM outbox`+where), args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT msg_key, channel, recipient, address, language, body, encoding, parts, at, sends FROM outbox`+where+
		` ORDER BY msg_key, channel, recipient LIMIT `+strconv.Itoa(f.Limit)+` OFFSET `+strconv.Itoa(f.Offset)), args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []OutboxRecord{}
	for rows.Next() {
		var r OutboxRecord
		var at int64
		var parts string
		if err := rows.Scan(&r.Key, &r.Channel, &r.Recipient, &r.Address, &r.Language, &r.Body, &r.Encoding, &parts, &at, &r.Sends); err != nil {
			return nil, 0, err
		}
		if parts != "" {
			if err := json.Unmarshal([]byte(parts), &r.Parts); err != nil {
				return nil, 0, fmt.Errorf("outbox record %s %s: parts: %w", r.Key, r.Recipient, err)
			}
		}
		r.At = fromMS(at)
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// OutboxStats counts the outbox records of messages whose key starts with
// prefix, and how many extra sends (re-runs absorbed by the outbox) they saw.
func (s *Store) OutboxStats(ctx context.Context, prefix string) (records, resends int, err error) {
	err = s.r.QueryRowContext(ctx, s.q(`SELECT COUNT(*), COALESCE(SUM(sends - 1), 0) FROM outbox WHERE msg_key LIKE ?`), prefix+"%").Scan(&records, &resends)
	return records, resends, err
}
