package dispatch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alertcast/alertcast/channels"
)

// Delivery is the record of one recipient of one warning version on one
// channel. Every recipient of every warning has one.
type Delivery struct {
	AlertID   string         `json:"alert_id"`
	Version   int            `json:"version"`
	Channel   string         `json:"channel"`
	Recipient string         `json:"recipient"`
	Address   string         `json:"address,omitempty"`
	Language  string         `json:"language,omitempty"`
	Batch     int            `json:"batch"`
	State     channels.State `json:"state"`
	Attempts  int            `json:"attempts"`
	Ref       string         `json:"ref,omitempty"`
	Detail    string         `json:"detail,omitempty"`
	LastError string         `json:"last_error,omitempty"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// finalStates are never overwritten: a late or repeated result cannot undo
// a delivery, a failure, an expiry or a revocation.
const finalStates = "3,4,5,6,7"

// insertRows inserts n rows inside tx with multi-row VALUES statements of
// a few fixed sizes (spans) and returns how many rows were written.
func (s *Store) insertRows(ctx context.Context, tx *sql.Tx, head string, cols, n int, conflict string, arg func(i int) []any) (int64, error) {
	const maxParams = 6000
	row := "(" + inList(cols) + ")"
	var written int64
	for start, size := range spans(n, maxParams/cols) {
		args := make([]any, 0, size*cols)
		for i := start; i < start+size; i++ {
			args = append(args, arg(i)...)
		}
		res, err := s.txExec(ctx, tx, head+strings.TrimSuffix(strings.Repeat(row+",", size), ",")+conflict, args...)
		if err != nil {
			return written, err
		}
		if k, err := res.RowsAffected(); err == nil {
			written += k
		}
	}
	return written, nil
}

// inList is "?,?,…" for n values.
func inList(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// PlanDeliveries inserts planned delivery records. Rows that exist already
// (a re-run plan) are left as they are.
func (s *Store) PlanDeliveries(ctx context.Context, rows []Delivery) error {
	_, err := s.PlanNewDeliveries(ctx, rows)
	return err
}

// PlanNewDeliveries is PlanDeliveries, and says how many of rows were new
// (the others existed already: a re-run plan).
func (s *Store) PlanNewDeliveries(ctx context.Context, rows []Delivery) (int, error) {
	now := time.Now().UnixMilli()
	added := 0
	if s.pg {
		err := s.pgTx(ctx, func(tx *sql.Tx, cp copyFunc) error {
			added = 0
			d := countDelta{}
			for part := range versionChannelRuns(rows) {
				n, err := s.copyPlanned(ctx, tx, cp, part, now)
				if err != nil {
					return err
				}
				d.move(part[0].AlertID, part[0].Version, part[0].Channel, channels.StateUnknown, channels.StatePlanned, int(n))
				added += int(n)
			}
			return s.writeCounts(ctx, tx, d)
		})
		return added, err
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		added = 0
		d := countDelta{}
		// Counted per (warning version, channel): rows arrive grouped so.
		for start := 0; start < len(rows); {
			end := start + 1
			for end < len(rows) && rows[end].AlertID == rows[start].AlertID && rows[end].Version == rows[start].Version && rows[end].Channel == rows[start].Channel {
				end++
			}
			part := rows[start:end]
			n, err := s.insertRows(ctx, tx, `INSERT INTO deliveries (alert_id, version, channel, recipient, address, language, batch, state, updated_at) VALUES `,
				9, len(part), ` ON CONFLICT DO NOTHING`, func(i int) []any {
					d := &part[i]
					return []any{d.AlertID, d.Version, d.Channel, d.Recipient, d.Address, d.Language, d.Batch, int(channels.StatePlanned), now}
				})
			if err != nil {
				return err
			}
			d.move(part[0].AlertID, part[0].Version, part[0].Channel, channels.StateUnknown, channels.StatePlanned, int(n))
			added += int(n)
			start = end
		}
		return s.writeCounts(ctx, tx, d)
	})
	return added, err
}

// versionChannelRuns yields the runs of rows of one warning version and
// channel: planning writes them grouped so, and counts them so.
func versionChannelRuns(rows []Delivery) iter.Seq[[]Delivery] {
	return func(yield func([]Delivery) bool) {
		for start := 0; start < len(rows); {
			end := start + 1
			for end < len(rows) && rows[end].AlertID == rows[start].AlertID && rows[end].Version == rows[start].Version && rows[end].Channel == rows[start].Channel {
				end++
			}
			if !yield(rows[start:end]) {
				return
			}
			start = end
		}
	}
}

// plannedCols are the columns a planned record is written with.
var plannedCols = []string{"alert_id", "version", "channel", "recipient", "address", "language", "batch", "state", "updated_at"}

// copyPlanned writes the planned records of part inside tx by COPY and
// returns how many were new; records there already are left as they are.
func (s *Store) copyPlanned(ctx context.Context, tx *sql.Tx, cp copyFunc, part []Delivery, now int64) (int64, error) {
	n, err := s.copyRows(ctx, tx, cp, "deliveries", plannedCols, len(part), `ON CONFLICT DO NOTHING`, func(i int) []any {
		d := &part[i]
		return []any{d.AlertID, d.Version, d.Channel, d.Recipient, d.Address, d.Language, d.Batch, int(channels.StatePlanned), now}
	})
	if err != nil {
		return 0, fmt.Errorf("plan deliveries: %w", err)
	}
	return n, nil
}

// Plan records how a version was planned on one channel.
type Plan struct {
	AlertID    string    `json:"alert_id"`
	Version    int       `json:"version"`
	Channel    string    `json:"channel"`
	Recipients int       `json:"recipients"`
	Batches    int       `json:"batches"`
	Detail     string    `json:"detail,omitempty"`
	PlannedAt  time.Time `json:"planned_at"`
}

// SavePlan records a finished plan (idempotent).
func (s *Store) SavePlan(ctx context.Context, p Plan) error {
	_, err := s.exec(ctx, nil, `INSERT INTO plans (alert_id, version, channel, recipients, batches, detail, planned_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		p.AlertID, p.Version, p.Channel, p.Recipients, p.Batches, p.Detail, time.Now().UnixMilli())
	return err
}

// Plans returns the plans of a version, by channel.
func (s *Store) Plans(ctx context.Context, alertID string, version int) (map[string]Plan, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT channel, recipients, batches, detail, planned_at FROM plans WHERE alert_id = ? AND version = ?`), alertID, version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]Plan{}
	for rows.Next() {
		p := Plan{AlertID: alertID, Version: version}
		var at int64
		if err := rows.Scan(&p.Channel, &p.Recipients, &p.Batches, &p.Detail, &at); err != nil {
			return nil, err
		}
		p.PlannedAt = fromMS(at)
		out[p.Channel] = p
	}
	return out, rows.Err()
}

func scanDeliveries(rows *sql.Rows) ([]Delivery, error) {
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		var d Delivery
		var st int
		var at int64
		if err := rows.Scan(&d.AlertID, &d.Version, &d.Channel, &d.Recipient, &d.Address, &d.Language, &d.Batch, &st,
			&d.Attempts, &d.Ref, &d.Detail, &d.LastError, &at); err != nil {
			return nil, err
		}
		d.State, d.UpdatedAt = channels.State(st), fromMS(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

// deliveryCols are the columns scanDeliveries reads, from deliveries d and
// its provider ref r (deliveryFrom); a batch read for sending leaves the
// ref out (batchCols).
const (
	deliveryCols = `d.alert_id, d.version, d.channel, d.recipient, d.address, d.language, d.batch, d.state, d.attempts, COALESCE(r.ref, ''), d.detail, d.last_error, d.updated_at`
	deliveryFrom = ` FROM deliveries d LEFT JOIN delivery_refs r ON r.alert_id = d.alert_id AND r.version = d.version AND r.channel = d.channel AND r.recipient = d.recipient`
	batchCols    = `alert_id, version, channel, recipient, address, language, batch, state, attempts, '', detail, last_error, updated_at`
)

// BatchDeliveries returns the records of one batch, in recipient order.
// (Committed writes are visible to the reader pool under WAL.)
func (s *Store) BatchDeliveries(ctx context.Context, alertID string, version int, channel string, batch int) ([]Delivery, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+batchCols+` FROM deliveries WHERE alert_id = ? AND version = ? AND channel = ? AND batch = ? ORDER BY recipient`),
		alertID, version, channel, batch)
	if err != nil {
		return nil, err
	}
	return scanDeliveries(rows)
}

// DeliveryFilter narrows ListDeliveries.
type DeliveryFilter struct {
	AlertID string
	Version int // 0: current version of the alert (caller resolves)
	Channel string
	State   channels.State // StateUnknown: any
	After   string         // cursor: "channel/recipient" of the last row seen
	Limit   int
}

// PageSize is the number of records a page holds: Limit, or 100 when
// Limit is unset or over 1000.
func (f DeliveryFilter) PageSize() int {
	if f.Limit <= 0 || f.Limit > 1000 {
		return 100
	}
	return f.Limit
}

// ListDeliveries pages through a version's delivery records.
func (s *Store) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	f.Limit = f.PageSize()
	query := `SELECT ` + deliveryCols + deliveryFrom + ` WHERE d.alert_id = ? AND d.version = ?`
	args := []any{f.AlertID, f.Version}
	if f.Channel != "" {
		query += ` AND d.channel = ?`
		args = append(args, f.Channel)
	}
	if f.State != channels.StateUnknown {
		query += ` AND d.state = ?`
		args = append(args, int(f.State))
	}
	if f.After != "" {
		ch, rc, _ := strings.Cut(f.After, "/")
		// A row comparison, which both SQLite and PostgreSQL answer from
		// the primary key's order (the OR form made PostgreSQL scan the
		// version's records for every page: 3 s a page at 20,000 records).
		query += ` AND (d.channel, d.recipient) > (?, ?)`
		args = append(args, ch, rc)
	}
	query += ` ORDER BY d.channel, d.recipient LIMIT ` + strconv.Itoa(f.Limit)
	rows, err := s.r.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	return scanDeliveries(rows)
}

// DeliveryUpdate is a change to one delivery record.
type DeliveryUpdate struct {
	AlertID   string
	Version   int
	Channel   string
	Recipient string
	State     channels.State // StateUnknown: keep the state (an attempt that will be retried)
	Attempt   bool           // count an attempt
	Ref       string
	Detail    string
	Error     string
}

// UpdateDeliveries applies updates in one transaction. Final states are
// never overwritten. Updates of the same shape (a chunk all sent, all
// delivered to the outbox …) go in one statement per few hundred
// recipients; their provider refs ride along in a CASE.
func (s *Store) UpdateDeliveries(ctx context.Context, ups []DeliveryUpdate) error {
	if len(ups) == 0 {
		return nil
	}
	for i := range ups {
		if d, e := cleanText(ups[i].Detail), cleanText(ups[i].Error); d != ups[i].Detail || e != ups[i].Error {
			ups = slices.Clone(ups) // the caller's slice stays as it was
			for j := i; j < len(ups); j++ {
				ups[j].Detail, ups[j].Error = cleanText(ups[j].Detail), cleanText(ups[j].Error)
			}
			break
		}
	}
	return s.submit(ctx, &updateReq{ups: ups, done: make(chan error, 1)})
}

// submit hands req to the group-commit writer and waits until it is
// written (durable) or failed.
func (s *Store) submit(ctx context.Context, req *updateReq) error {
	s.updOnce.Do(func() {
		s.updCh = make(chan *updateReq)
		s.updStop = make(chan struct{})
		s.updDone = make(chan struct{})
		go s.updateLoop()
	})
	if s.updCh == nil {
		return errors.New("store closed")
	}
	select {
	case s.updCh <- req:
	case <-s.updStop:
		return errors.New("store closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	// The caller's results are durable once this returns nil: a worker
	// never sends its next chunk before the last one is recorded.
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// groupHook, when set (tests), is told the number of chunks in each group
// the writer is about to write.
var groupHook func(chunks int)

// cleanText is a channel's text (a result's detail or error, a receipt's
// detail) as it can be stored: without NUL bytes and as valid UTF-8, both
// of which PostgreSQL refuses in TEXT — one SMSC reply must not fail the
// recording of a whole chunk's results.
func cleanText(s string) string {
	if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

// updateReq is one worker's chunk of results, or of outbox records (what
// the outbox channel "sends"), waiting for the group commit.
type updateReq struct {
	ups  []DeliveryUpdate
	recs []OutboxRecord
	done chan error
}

// updateLoop is the group commit: the results (and outbox records) of
// every worker that is waiting are written in one transaction, so many
// small chunks cost one commit (SQLite has one writer; PostgreSQL one WAL
// flush) instead of one each — and on PostgreSQL one backend writes them,
// instead of twenty workers' backends contending for the same index pages
// (measured under load, with the sweeper's change of the same commit:
// PostgreSQL's CPU for a county's warning went from 72 s to 26 s).
func (s *Store) updateLoop() {
	defer close(s.updDone)
	for {
		var first *updateReq
		select {
		case first = <-s.updCh:
		case <-s.updStop:
			return
		}
		batch := []*updateReq{first}
		n := len(first.ups) + len(first.recs)
	drain:
		for n < 10000 {
			select {
			case r := <-s.updCh:
				batch = append(batch, r)
				n += len(r.ups) + len(r.recs)
			default:
				break drain
			}
		}
		if groupHook != nil {
			groupHook(len(batch))
		}
		ups, recs := first.ups, first.recs
		if len(batch) > 1 {
			ups, recs = nil, nil
			for _, r := range batch {
				ups = append(ups, r.ups...)
				recs = append(recs, r.recs...)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := s.writeGroup(ctx, recs, ups)
		cancel()
		if err != nil && len(batch) > 1 {
			// The group's transaction wrote nothing. One chunk's bad write
			// must not fail the others (a worker whose results are not
			// recorded abandons its batch, and under at most once its
			// recipients are then failed as interrupted): each is written
			// again on its own, and told its own outcome.
			for _, r := range batch {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				r.done <- s.writeGroup(ctx, r.recs, r.ups)
				cancel()
			}
			continue
		}
		for _, r := range batch {
			r.done <- err
		}
	}
}

// writeGroup writes outbox records and results in one transaction: the
// outbox records first (by COPY on PostgreSQL), then the results.
func (s *Store) writeGroup(ctx context.Context, recs []OutboxRecord, ups []DeliveryUpdate) error {
	if s.pg {
		return s.pgTx(ctx, func(tx *sql.Tx, cp copyFunc) error {
			if len(recs) > 0 {
				if _, err := s.copyRows(ctx, tx, cp, "outbox", outboxCols, len(recs), outboxConflict, outboxRow(recs)); err != nil {
					return fmt.Errorf("record outbox: %w", err)
				}
			}
			return s.updateDeliveriesTx(ctx, tx, ups)
		})
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if len(recs) > 0 {
			if _, err := s.insertRows(ctx, tx, `INSERT INTO outbox (`+strings.Join(outboxCols, ", ")+`) VALUES `, len(outboxCols), len(recs), outboxConflict, outboxRow(recs)); err != nil {
				return fmt.Errorf("record outbox: %w", err)
			}
		}
		return s.updateDeliveriesTx(ctx, tx, ups)
	})
}

func (s *Store) updateDeliveriesTx(ctx context.Context, tx *sql.Tx, ups []DeliveryUpdate) error {
	if len(ups) == 0 {
		return nil
	}
	now := time.Now().UnixMilli()
	type shape struct {
		alertID, channel, detail, errS string
		version, state                 int
		attempt                        bool
	}
	var order []shape
	groups := map[shape][]string{}
	for _, u := range ups {
		k := shape{u.AlertID, u.Channel, u.Detail, u.Error, u.Version, int(u.State), u.Attempt}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], u.Recipient)
	}
	const set = `state = CASE WHEN ? = 0 THEN state ELSE ? END,
		attempts = attempts + ?,
		detail = CASE WHEN ? = '' THEN detail ELSE ? END,
		last_error = CASE WHEN ? = '' THEN last_error ELSE ? END,
		updated_at = ?`
	{
		d := countDelta{}
		for _, k := range order {
			att := 0
			if k.attempt {
				att = 1
			}
			key := countKey{k.alertID, k.channel, k.version, k.state}
			setArgs := []any{k.state, k.state, att, k.detail, k.detail, k.errS, k.errS, now}
			update := func(part []string, from channels.State, extra string) (int, error) {
				return s.moveRecords(ctx, tx, d, key, from, set, setArgs, part, extra)
			}
			rcpts := groups[k]
			const per = 2000
			for i := 0; i < len(rcpts); i += per {
				part := rcpts[i:min(i+per, len(rcpts))]
				if k.state == int(channels.StateUnknown) {
					// The state stays: nothing to count.
					if _, err := update(part, channels.StateUnknown, ""); err != nil {
						return err
					}
					continue
				}
				// A worker sends records it read as planned: most are still
				// planned. The others are final (left alone) or were moved
				// to sent by a receipt that overtook this result ("received"
				// from a loudspeaker) — never attempted, unlike the ones the
				// first statement just moved to sent.
				n, err := update(part, channels.StatePlanned, "")
				if err != nil {
					return err
				}
				if n < len(part) {
					extra := ""
					if k.state == int(channels.StateSent) {
						if !k.attempt {
							continue // sent stays sent; nothing else to write
						}
						extra = ` AND attempts = 0`
					}
					if _, err := update(part, channels.StateSent, extra); err != nil {
						return err
					}
				}
			}
		}
		if err := s.writeRefs(ctx, tx, ups); err != nil {
			return err
		}
		return s.writeCounts(ctx, tx, d)
	}
}

// writeRefs records the provider refs of ups (the latest one wins).
func (s *Store) writeRefs(ctx context.Context, tx *sql.Tx, ups []DeliveryUpdate) error {
	withRef := make([]*DeliveryUpdate, 0, len(ups))
	seen := make(map[[4]string]int, len(ups))
	for i := range ups {
		u := &ups[i]
		if u.Ref == "" {
			continue
		}
		// One row per record in a statement: PostgreSQL refuses to
		// update a row twice in one INSERT … ON CONFLICT.
		k := [4]string{u.AlertID, strconv.Itoa(u.Version), u.Channel, u.Recipient}
		if j, dup := seen[k]; dup {
			withRef[j] = u
			continue
		}
		seen[k] = len(withRef)
		withRef = append(withRef, u)
	}
	_, err := s.insertRows(ctx, tx, `INSERT INTO delivery_refs (alert_id, version, channel, recipient, ref) VALUES `, 5, len(withRef),
		` ON CONFLICT (alert_id, version, channel, recipient) DO UPDATE SET ref = excluded.ref`, func(i int) []any {
			u := withRef[i]
			return []any{u.AlertID, u.Version, u.Channel, u.Recipient, u.Ref}
		})
	if err != nil {
		return fmt.Errorf("record refs: %w", err)
	}
	return nil
}

// ApplyReceipts applies asynchronous receipts in one transaction. A receipt
// names its record by (channel, message key, recipient); one without both,
// or naming no record, matches nothing. A receipt for a record already
// final matches and changes nothing. It reports which receipts matched.
// Receipts of the same shape go in one statement.
func (s *Store) ApplyReceipts(ctx context.Context, rs []channels.Receipt) ([]bool, error) {
	matched := make([]bool, len(rs))
	now := time.Now().UnixMilli()
	type shape struct {
		channel, alertID, detail string
		version, state           int
		tick                     int64 // the receipt time in 10 ms steps: records keep their own time
	}
	// Only a record's last receipt in rs is written ("received" and
	// "playing" can come in one batch, and go in different statements);
	// the earlier ones match as it does.
	last := map[[3]string]int{}
	for i, r := range rs {
		last[[3]string{r.Channel, r.Key, r.RecipientID}] = i
	}
	var order []shape
	groups := map[shape][]int{} // receipt indexes
	for i, r := range rs {
		id, ver, ok := ParseKey(r.Key)
		if !ok || r.RecipientID == "" || last[[3]string{r.Channel, r.Key, r.RecipientID}] != i {
			continue
		}
		k := shape{channel: r.Channel, alertID: id, version: ver, detail: cleanText(r.Detail), state: int(r.State), tick: r.At.UnixMilli() / 10}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		d := countDelta{}
		for _, k := range order {
			idx := groups[k]
			const per = 2000
			for start := 0; start < len(idx); start += per {
				part := idx[start:min(start+per, len(idx))]
				// The record shows when the event happened (the latest in
				// this group, within 10 ms), not when the batch was written.
				at := int64(0)
				for _, i := range part {
					if t := rs[i].At.UnixMilli(); !rs[i].At.IsZero() && t > at {
						at = t
					}
				}
				if at == 0 || at > now {
					at = now
				}
				want := map[string][]int{}
				var rcpts []string
				for _, i := range part {
					v := rs[i].RecipientID
					if _, dup := want[v]; !dup {
						rcpts = append(rcpts, v)
					}
					want[v] = append(want[v], i)
				}
				key := countKey{k.alertID, k.channel, k.version, k.state}
				update := func(from channels.State) (int, error) {
					return s.moveRecords(ctx, tx, d, key, from, `state = CASE WHEN ? = 0 THEN state ELSE ? END, detail = ?, updated_at = ?`,
						[]any{k.state, k.state, k.detail, at}, rcpts, "")
				}
				var n int
				var err error
				if k.state == int(channels.StateUnknown) {
					n, err = update(channels.StateUnknown) // the state stays
				} else if n, err = update(channels.StateSent); err == nil && n < len(rcpts) {
					// A receipt usually follows its sent record; one that
					// overtook the worker's result finds it still planned.
					// (A receipt never moves a record back to planned, so
					// the ones just written are not written twice.)
					var more int
					more, err = update(channels.StatePlanned)
					n += more
				}
				if err != nil {
					return err
				}
				written := map[string]bool{}
				if n < len(rcpts) {
					// Some were final already, or name no record: a receipt
					// matches when its record exists.
					for start, size := range spans(len(rcpts), 500) {
						args := []any{k.channel, k.alertID, k.version}
						for _, v := range rcpts[start : start+size] {
							args = append(args, v)
						}
						if err := s.selectSet(ctx, tx, written, `SELECT recipient FROM deliveries WHERE channel = ? AND alert_id = ? AND version = ? AND recipient IN (`+inList(size)+`)`, args...); err != nil {
							return err
						}
					}
				}
				for _, v := range rcpts {
					if n == len(rcpts) || written[v] {
						for _, i := range want[v] {
							matched[i] = true
						}
					}
				}
			}
		}
		if err := s.recordFirsts(ctx, tx, rs, func(i int) bool {
			return matched[last[[3]string{rs[i].Channel, rs[i].Key, rs[i].RecipientID}]]
		}, now); err != nil {
			return err
		}
		return s.writeCounts(ctx, tx, d)
	})
	for i, r := range rs {
		matched[i] = matched[last[[3]string{r.Channel, r.Key, r.RecipientID}]]
	}
	return matched, err
}

// moveRecords sets (set, with setArgs) the records of rcpts of one warning
// version and channel (k) that are in state from — any not-final state for
// StateUnknown; extra narrows it further — in statements of a few fixed
// sizes. It counts the records it moved to state k.state in d (nothing when
// that is StateUnknown: the state is kept) and returns how many it wrote.
func (s *Store) moveRecords(ctx context.Context, tx *sql.Tx, d countDelta, k countKey, from channels.State, set string, setArgs []any, rcpts []string, extra string) (int, error) {
	cond := `state NOT IN (` + finalStates + `)`
	if from != channels.StateUnknown {
		cond = `state = ?`
	}
	total := 0
	for start, size := range spans(len(rcpts), 500) {
		args := append(slices.Clone(setArgs), k.alertID, k.version, k.channel)
		for _, r := range rcpts[start : start+size] {
			args = append(args, r)
		}
		if from != channels.StateUnknown {
			args = append(args, int(from))
		}
		res, err := s.txExec(ctx, tx, `UPDATE deliveries SET `+set+`
			WHERE alert_id = ? AND version = ? AND channel = ? AND recipient IN (`+inList(size)+`) AND `+cond+extra, args...)
		if err != nil {
			return 0, fmt.Errorf("update deliveries: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("update deliveries: %w", err)
		}
		d.move(k.alertID, k.version, k.channel, from, channels.State(k.state), int(n))
		total += int(n)
	}
	return total, nil
}

// selectSet runs a query of one text column inside tx and adds the
// values it returns to got.
func (s *Store) selectSet(ctx context.Context, tx *sql.Tx, got map[string]bool, query string, args ...any) error {
	rows, err := s.txQuery(ctx, tx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return err
		}
		got[v] = true
	}
	return rows.Err()
}

// ParseKey splits a message key "<id>/v<version>".
func ParseKey(key string) (id string, version int, ok bool) {
	id, v, found := strings.Cut(key, "/v")
	if !found || id == "" {
		return "", 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return "", 0, false
	}
	return id, n, true
}

// FinishRemaining moves every not-yet-sent record of a version (on all
// channels) to state (StateRevoked on cancel, StateExpired at expiry).
func (s *Store) FinishRemaining(ctx context.Context, alertID string, version int, state channels.State, reason string) (int64, error) {
	return s.finishPlanned(ctx, state, reason, `alert_id = ? AND version = ?`, alertID, version)
}

// FinishBatch moves a batch's not-yet-sent records to state.
func (s *Store) FinishBatch(ctx context.Context, alertID string, version int, channel string, batch int, state channels.State, reason string) (int64, error) {
	return s.finishPlanned(ctx, state, reason, `alert_id = ? AND version = ? AND channel = ? AND batch = ?`, alertID, version, channel, batch)
}

// finishPlanned moves the planned records that where selects to state.
func (s *Store) finishPlanned(ctx context.Context, state channels.State, reason, where string, args ...any) (int64, error) {
	var total int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.q(`UPDATE deliveries SET state = ?, detail = ?, updated_at = ? WHERE `+where+` AND state = ?
			RETURNING alert_id, version, channel`), append(append([]any{int(state), reason, time.Now().UnixMilli()}, args...), int(channels.StatePlanned))...)
		if err != nil {
			return err
		}
		defer rows.Close()
		d := countDelta{}
		for rows.Next() {
			var id, ch string
			var ver int
			if err := rows.Scan(&id, &ver, &ch); err != nil {
				return err
			}
			d.move(id, ver, ch, channels.StatePlanned, state, 1)
			total++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		return s.writeCounts(ctx, tx, d)
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}

// ReachedBefore lists the recipients of earlier versions of a warning on a
// channel that were sent to or delivered, each once, in recipient order.
// Records the outbox kept count too: a dry run records the update or cancel
// exactly as it would have gone out.
func (s *Store) ReachedBefore(ctx context.Context, alertID string, version int, channel string) ([]channels.Recipient, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT recipient, MAX(address), MAX(language) FROM deliveries
		WHERE alert_id = ? AND version < ? AND channel = ? AND state IN (2, 3, 7) GROUP BY recipient ORDER BY recipient`), alertID, version, channel)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []channels.Recipient
	for rows.Next() {
		var r channels.Recipient
		if err := rows.Scan(&r.ID, &r.Address, &r.Language); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
