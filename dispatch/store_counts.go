package dispatch

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/alertcast/alertcast/channels"
)

// Progress counters. Every statement that writes a delivery record's state
// knows the state it moves the record from (planned and sent are the only
// states that can change, and each UPDATE is split by them), so it adds
// the transition to delivery_counts in the same transaction. Reading a
// county-wide warning's progress is then a read of a few rows instead of a
// scan of hundreds of thousands — the scan used to cost a third of a CPU
// while the warning was being sent.

// countKey names one counter.
type countKey struct {
	alertID, channel string
	version, state   int
}

// countDelta is the change a transaction makes to the counters.
type countDelta map[countKey]int

// move counts n records of (alertID, version, channel) moving from one
// state to another; from StateUnknown means new records.
func (d countDelta) move(alertID string, version int, channel string, from, to channels.State, n int) {
	if n == 0 || from == to {
		return
	}
	if from != channels.StateUnknown {
		d[countKey{alertID, channel, version, int(from)}] -= n
	}
	d[countKey{alertID, channel, version, int(to)}] += n
}

// writeCounts adds d to delivery_counts inside tx. Keys are written in one
// order by every writer, so PostgreSQL transactions that touch the same
// counters wait for each other instead of deadlocking.
func (s *Store) writeCounts(ctx context.Context, tx *sql.Tx, d countDelta) error {
	keys := make([]countKey, 0, len(d))
	for k, n := range d {
		if n != 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, func(a, b countKey) int {
		return cmp.Or(cmp.Compare(a.alertID, b.alertID), cmp.Compare(a.version, b.version),
			cmp.Compare(a.channel, b.channel), cmp.Compare(a.state, b.state))
	})
	_, err := s.insertRows(ctx, tx, `INSERT INTO delivery_counts (alert_id, version, channel, state, n) VALUES `, 5, len(keys),
		` ON CONFLICT (alert_id, version, channel, state) DO UPDATE SET n = delivery_counts.n + excluded.n`, func(i int) []any {
			k := keys[i]
			return []any{k.alertID, k.version, k.channel, k.state, d[k]}
		})
	return err
}

// Counters is per-channel progress: channel → state name → count.
type Counters map[string]map[string]int

// DeliveryCounters counts a version's records by channel and state.
func (s *Store) DeliveryCounters(ctx context.Context, alertID string, version int) (Counters, error) {
	return s.queryCounters(ctx, `SELECT channel, state, n FROM delivery_counts WHERE alert_id = ? AND version = ? AND n <> 0`, alertID, version)
}

// SentBefore counts a version's records on channel that were handed over
// (state sent) before t and have had no receipt since: the unconfirmed.
func (s *Store) SentBefore(ctx context.Context, alertID string, version int, channel string, t time.Time) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM deliveries WHERE alert_id = ? AND version = ? AND channel = ? AND state = ? AND updated_at < ?`),
		alertID, version, channel, int(channels.StateSent), t.UnixMilli()).Scan(&n)
	return n, err
}

// RecipientsInState lists a version's recipients on channel in state.
func (s *Store) RecipientsInState(ctx context.Context, alertID string, version int, channel string, state channels.State) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT recipient FROM deliveries WHERE alert_id = ? AND version = ? AND channel = ? AND state = ?`),
		alertID, version, channel, int(state))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// countByScan counts a version's records from the records themselves: the
// oracle the counters are tested against.
func (s *Store) countByScan(ctx context.Context, alertID string, version int) (Counters, error) {
	return s.queryCounters(ctx, `SELECT channel, state, COUNT(*) FROM deliveries WHERE alert_id = ? AND version = ? GROUP BY channel, state`, alertID, version)
}

// queryCounters reads (channel, state, count) rows.
func (s *Store) queryCounters(ctx context.Context, query string, args ...any) (Counters, error) {
	rows, err := s.r.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := Counters{}
	for rows.Next() {
		var ch string
		var st, n int
		if err := rows.Scan(&ch, &st, &n); err != nil {
			return nil, err
		}
		if out[ch] == nil {
			out[ch] = map[string]int{}
		}
		out[ch][channels.State(st).String()] += n
	}
	return out, rows.Err()
}
