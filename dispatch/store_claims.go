package dispatch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/alertcast/alertcast/channels"
)

// Claims: exactly once when a node dies mid-batch.
//
// A worker that runs a send batch first claims it (one row per batch in
// send_claims, naming its node and this execution) and, before it hands a
// chunk of recipients to a channel, writes their ids into the claim's
// inflight column — one write per chunk, ahead of the send. When the
// chunk's results are recorded those recipients leave the planned state,
// so whatever is still both planned and inflight when someone else takes
// the claim over was handed to the channel by a node that died before it
// could record what happened: possibly sent. The engine decides what to do
// with those (at most once by default); the store only says which they are.
//
// Nodes prove they are alive with a heartbeat row (node_heartbeats); a
// claim whose node has not beaten since the caller's deadBefore can be
// taken over, and only by one taker (compare-and-set on the holder). A
// holder that was wrongly thought dead (a long pause) loses its claim at
// its next MarkInflight, before it sends anything more.

// claimsSchema is the migration that creates the claim tables.
const claimsSchema = `CREATE TABLE send_claims (
		alert_id TEXT NOT NULL,
		version INTEGER NOT NULL,
		channel TEXT NOT NULL,
		batch INTEGER NOT NULL,
		node TEXT NOT NULL,
		holder TEXT NOT NULL,
		inflight TEXT NOT NULL DEFAULT '',
		claimed_at BIGINT NOT NULL,
		PRIMARY KEY (alert_id, version, channel, batch)
	);
	CREATE INDEX send_claims_node ON send_claims (node);
	CREATE TABLE node_heartbeats (
		node TEXT PRIMARY KEY,
		seen_at BIGINT NOT NULL
	);`

// PlanBatch is the Batch of a version's plan claim (Channel ""): planning
// is claimed like a send batch so that a dead planner's work is resumed
// at once too.
const PlanBatch = -1

// BatchKey names one send batch of one warning version on one channel, or
// (Channel "", Batch PlanBatch) the version's plan.
type BatchKey struct {
	AlertID string
	Version int
	Channel string
	Batch   int
}

func (k BatchKey) String() string {
	if k.Channel == "" && k.Batch == PlanBatch {
		return fmt.Sprintf("%s v%d plan", k.AlertID, k.Version)
	}
	return fmt.Sprintf("%s v%d %s batch %d", k.AlertID, k.Version, k.Channel, k.Batch)
}

// Claim is a batch held by a node.
type Claim struct {
	BatchKey
	Node   string // the node holding it
	Holder string // the execution holding it (unique per task run)
}

// ClaimOutcome is the answer to ClaimBatch.
type ClaimOutcome struct {
	// Acquired says the caller now holds the batch.
	Acquired bool
	// HeldBy is the live node holding the batch when not acquired.
	HeldBy string
	// TakenFrom is the node whose claim the caller took over ("" when the
	// batch was free or already the caller's).
	TakenFrom string
	// Inflight are the recipients the previous holder had handed to the
	// channel without recording their results (possibly sent). Recipients
	// recorded since are among them: the caller intersects with the
	// planned records.
	Inflight []string
}

// Heartbeat records that node is alive at at.
func (s *Store) Heartbeat(ctx context.Context, node string, at time.Time) error {
	_, err := s.exec(ctx, nil, `INSERT INTO node_heartbeats (node, seen_at) VALUES (?, ?)
		ON CONFLICT (node) DO UPDATE SET seen_at = excluded.seen_at`, node, at.UnixMilli())
	return err
}

// NodeGone removes node's heartbeat (a clean shutdown): claims it still
// holds can be taken over at once.
func (s *Store) NodeGone(ctx context.Context, node string) error {
	_, err := s.exec(ctx, nil, `DELETE FROM node_heartbeats WHERE node = ?`, node)
	return err
}

// ClaimBatch makes holder (an execution on node) the holder of k if k is
// free, already its own, or held by a node whose last heartbeat is older
// than deadBefore. Otherwise it reports the live node holding it.
func (s *Store) ClaimBatch(ctx context.Context, k BatchKey, node, holder string, deadBefore time.Time) (ClaimOutcome, error) {
	if node == "" || holder == "" {
		return ClaimOutcome{}, errors.New("claim: node and holder are required")
	}
	var out ClaimOutcome
	now := time.Now().UnixMilli()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		out = ClaimOutcome{}
		res, err := s.exec(ctx, tx, `INSERT INTO send_claims (alert_id, version, channel, batch, node, holder, inflight, claimed_at)
			VALUES (?, ?, ?, ?, ?, ?, '', ?) ON CONFLICT DO NOTHING`, k.AlertID, k.Version, k.Channel, k.Batch, node, holder, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			out.Acquired = true
			return nil
		}
		var oldNode, oldHolder, inflight string
		var seen sql.NullInt64
		var claimedAt int64
		err = tx.QueryRowContext(ctx, s.q(`SELECT c.node, c.holder, c.inflight, n.seen_at, c.claimed_at FROM send_claims c
			LEFT JOIN node_heartbeats n ON n.node = c.node
			WHERE c.alert_id = ? AND c.version = ? AND c.channel = ? AND c.batch = ?`),
			k.AlertID, k.Version, k.Channel, k.Batch).Scan(&oldNode, &oldHolder, &inflight, &seen, &claimedAt)
		if errors.Is(err, sql.ErrNoRows) {
			return errClaimRace // released between the two statements: try again
		}
		if err != nil {
			return err
		}
		if oldHolder == holder {
			out.Acquired = true
			return nil
		}
		// A node that never beat is dead only once its claim is as old as
		// a heartbeat would be.
		if (seen.Valid && seen.Int64 >= deadBefore.UnixMilli()) || (!seen.Valid && claimedAt >= deadBefore.UnixMilli()) {
			out.HeldBy = oldNode
			return nil
		}
		res, err = s.exec(ctx, tx, `UPDATE send_claims SET node = ?, holder = ?, inflight = '', claimed_at = ?
			WHERE alert_id = ? AND version = ? AND channel = ? AND batch = ? AND holder = ?`,
			node, holder, now, k.AlertID, k.Version, k.Channel, k.Batch, oldHolder)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			out.HeldBy = "another taker"
			return nil
		}
		if oldNode == "" {
			oldNode = AbandonedBy
		}
		out.Acquired, out.TakenFrom, out.Inflight = true, oldNode, splitInflight(inflight)
		return nil
	})
	if errors.Is(err, errClaimRace) {
		return s.ClaimBatch(ctx, k, node, holder, deadBefore)
	}
	if err != nil {
		return ClaimOutcome{}, fmt.Errorf("claim %s: %w", k, err)
	}
	return out, nil
}

var errClaimRace = errors.New("claim released meanwhile")

// MarkInflight is the write-ahead record of a chunk: holder is about to hand
// recipients to the channel. It replaces the previous chunk's list (whose
// results are recorded by then). false means holder no longer holds k
// (taken over): it must not send.
func (s *Store) MarkInflight(ctx context.Context, k BatchKey, holder string, recipients []string) (bool, error) {
	res, err := s.exec(ctx, nil, `UPDATE send_claims SET inflight = ?
		WHERE alert_id = ? AND version = ? AND channel = ? AND batch = ? AND holder = ?`,
		strings.Join(recipients, "\n"), k.AlertID, k.Version, k.Channel, k.Batch, holder)
	if err != nil {
		return false, fmt.Errorf("mark inflight %s: %w", k, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ReleaseClaim frees k if holder still holds it.
func (s *Store) ReleaseClaim(ctx context.Context, k BatchKey, holder string) error {
	_, err := s.exec(ctx, nil, `DELETE FROM send_claims WHERE alert_id = ? AND version = ? AND channel = ? AND batch = ? AND holder = ?`,
		k.AlertID, k.Version, k.Channel, k.Batch, holder)
	if err != nil {
		return fmt.Errorf("release claim %s: %w", k, err)
	}
	return nil
}

// AbandonedBy is ClaimOutcome.TakenFrom for a claim its holder abandoned.
const AbandonedBy = "(abandoned)"

// AbandonClaim gives k up without forgetting what holder had in flight:
// holder could not record a chunk's results (the database went away), so
// those recipients stay possibly sent for whoever takes the batch next,
// which anyone may do at once.
func (s *Store) AbandonClaim(ctx context.Context, k BatchKey, holder string) error {
	_, err := s.exec(ctx, nil, `UPDATE send_claims SET node = '', claimed_at = 0
		WHERE alert_id = ? AND version = ? AND channel = ? AND batch = ? AND holder = ?`,
		k.AlertID, k.Version, k.Channel, k.Batch, holder)
	if err != nil {
		return fmt.Errorf("abandon claim %s: %w", k, err)
	}
	return nil
}

// OrphanedClaims lists up to limit claims whose node has not beaten since
// deadBefore (or never did, and the claim is older than deadBefore).
func (s *Store) OrphanedClaims(ctx context.Context, deadBefore time.Time, limit int) ([]Claim, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT c.alert_id, c.version, c.channel, c.batch, c.node, c.holder FROM send_claims c
		LEFT JOIN node_heartbeats n ON n.node = c.node
		WHERE (n.seen_at IS NULL AND c.claimed_at < ?) OR n.seen_at < ? ORDER BY c.claimed_at LIMIT ?`), deadBefore.UnixMilli(), deadBefore.UnixMilli(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Claim
	for rows.Next() {
		var c Claim
		if err := rows.Scan(&c.AlertID, &c.Version, &c.Channel, &c.Batch, &c.Node, &c.Holder); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DispatchedBetween lists, newest first, the versions whose plan task was
// put in the queue in (from, to], at most
// limit: the versions a lost plan task could have left unplanned.
func (s *Store) DispatchedBetween(ctx context.Context, from, to time.Time, limit int) ([]PendingDispatch, error) {
	return s.outboxRows(ctx, `SELECT alert_id, version FROM dispatch_outbox
		WHERE enqueued_at > ? AND enqueued_at <= ? ORDER BY enqueued_at DESC LIMIT `+strconv.Itoa(limit),
		from.UnixMilli(), to.UnixMilli())
}

// PlannedBatches lists the send batches that still have planned records
// (read from the progress counters first, so a store with nothing pending
// answers from a few rows), up to limit.
func (s *Store) PlannedBatches(ctx context.Context, limit int) ([]BatchKey, error) {
	vers, err := s.PlannedVersions(ctx)
	if err != nil {
		return nil, err
	}
	var out []BatchKey
	for _, v := range vers {
		if len(out) >= limit {
			break
		}
		bs, err := s.BatchesWithPlanned(ctx, v, nil, limit-len(out))
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			k := v
			k.Batch = b
			out = append(out, k)
		}
	}
	return out, nil
}

// PlannedVersions lists the (warning version, channel)s that still have
// planned records, from the progress counters (Batch is 0).
func (s *Store) PlannedVersions(ctx context.Context) ([]BatchKey, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT alert_id, version, channel FROM delivery_counts WHERE state = ? AND n > 0`), int(channels.StatePlanned))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var vers []BatchKey
	for rows.Next() {
		var k BatchKey
		if err := rows.Scan(&k.AlertID, &k.Version, &k.Channel); err != nil {
			return nil, err
		}
		vers = append(vers, k)
	}
	return vers, rows.Err()
}

// BatchesWithPlanned returns, in order and up to limit, the batches of v
// (one warning version and channel) that still have planned records:
// among the batches given, or all when batches is nil. Looking at all of
// them reads every record of the version — a second of PostgreSQL's time
// for a county — so the sweeper asks only about batches whose task it
// could not find.
func (s *Store) BatchesWithPlanned(ctx context.Context, v BatchKey, batches []int, limit int) ([]int, error) {
	query := `SELECT DISTINCT batch FROM deliveries WHERE alert_id = ? AND version = ? AND channel = ? AND state = ?`
	args := []any{v.AlertID, v.Version, v.Channel, int(channels.StatePlanned)}
	if batches != nil {
		if len(batches) == 0 {
			return nil, nil
		}
		query += ` AND batch IN (` + inList(len(batches)) + `)`
		for _, b := range batches {
			args = append(args, b)
		}
	}
	rows, err := s.r.QueryContext(ctx, s.q(query+` ORDER BY batch LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var b int
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

func splitInflight(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
