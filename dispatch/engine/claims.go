package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
)

// Exactly once under faults (issue 16).
//
// Every task execution claims its batch (or its version's plan) in the
// store before it works on it, and writes the ids of each chunk into the
// claim before it hands them to the channel. Each node beats a heartbeat
// into the store. A sweeper on every node re-enqueues, under a new task
// id, the batches claimed by nodes that stopped beating — within seconds,
// instead of Asynq's lease recovery (30 s lease, recovered once a minute);
// and it re-enqueues batches that still have planned records but no task
// in Redis at all (lost with Redis's last second of AOF).
//
// The execution that takes a dead node's claim over finds the recipients
// that node had handed to the channel without recording a result: possibly
// sent. For channels that do not deduplicate themselves (SMS: an SMSC
// accepts the same submit twice) the bureau's rule decides: at most once
// (default) records them failed, "interrupted", never submitted blind
// again; at least once sends them again. Loudspeakers and WebSocket drop a
// replay of the same message key themselves, so they are simply sent again.

// Interrupted is what the engine does with recipients that were possibly
// sent by a node that died (see AtMostOnce, AtLeastOnce).
type Interrupted int

const (
	// AtMostOnce records possibly-sent recipients as failed ("interrupted")
	// and never sends them again: nobody gets a warning twice, a few may
	// not get it (counted, never hidden). The default.
	AtMostOnce Interrupted = iota
	// AtLeastOnce sends possibly-sent recipients again: nobody misses it,
	// a few may get it twice.
	AtLeastOnce
)

func (p Interrupted) String() string {
	if p == AtLeastOnce {
		return "at-least-once"
	}
	return "at-most-once"
}

// ParseInterrupted is the inverse of Interrupted.String.
func ParseInterrupted(s string) (Interrupted, error) {
	switch s {
	case "", "at-most-once":
		return AtMostOnce, nil
	case "at-least-once":
		return AtLeastOnce, nil
	}
	return AtMostOnce, fmt.Errorf("interrupted: want at-most-once or at-least-once, got %q", s)
}

// Defaults of the liveness protocol.
const (
	defaultHeartbeatEvery = time.Second
	defaultDeadAfter      = 4 * time.Second
	lostTaskSweepEvery    = 5 * time.Second
)

// InterruptedReason is the detail of a record failed under AtMostOnce.
const InterruptedReason = "interrupted: handed to the channel by a node that stopped before recording the result; not sent again (at most once)"

// liveness is this node's view of whether its heartbeats reach the store.
type liveness struct {
	mu sync.Mutex
	// trustFrom: before it, this node does not judge other nodes dead (its
	// own heartbeats were failing, so theirs may have been too).
	trustFrom time.Time
	failing   bool
}

// deadBefore is the heartbeat time before which a node counts as dead, or
// the zero time (nobody is) while this node's own view is not trusted.
func (e *Engine) deadBefore() time.Time {
	e.live.mu.Lock()
	defer e.live.mu.Unlock()
	now := time.Now()
	if e.live.failing || now.Before(e.live.trustFrom) {
		return time.Time{}
	}
	return now.Add(-e.cfg.DeadAfter)
}

func (e *Engine) beat(ctx context.Context) {
	err := e.store.Heartbeat(ctx, e.node, time.Now())
	e.live.mu.Lock()
	defer e.live.mu.Unlock()
	switch {
	case err != nil && !e.live.failing:
		e.live.failing = true
		e.log.Warn("node heartbeat not written: not judging other nodes dead until it is again", "node", e.node, "err", err)
	case err == nil && e.live.failing:
		// The others' heartbeats failed too, probably: give them a full
		// period to beat again before calling anyone dead.
		e.live.failing = false
		e.live.trustFrom = time.Now().Add(e.cfg.DeadAfter)
		e.log.Info("node heartbeat written again", "node", e.node)
	}
}

// livenessLoop beats the heartbeat and sweeps orphaned claims every
// HeartbeatEvery, and looks for lost tasks every lostTaskSweepEvery.
func (e *Engine) livenessLoop() {
	t := time.NewTicker(e.cfg.HeartbeatEvery)
	defer t.Stop()
	lastLost := time.Now()
	for {
		select {
		case <-e.stop:
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if err := e.store.NodeGone(ctx, e.node); err != nil {
				e.log.Warn("node heartbeat not removed at shutdown", "node", e.node, "err", err)
			}
			cancel()
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), e.cfg.HeartbeatEvery*3)
		e.beat(ctx)
		e.sweepOrphans(ctx)
		if e.inspector != nil && time.Since(lastLost) >= lostTaskSweepEvery {
			lastLost = time.Now()
			e.sweepLostTasks(ctx)
			e.sweepLostPlans(ctx, time.Now())
		}
		cancel()
	}
}

// sweepOrphans re-enqueues the batches and plans claimed by dead nodes,
// each under a task id naming the dead execution, so that every sweeper
// on every node enqueues it once.
func (e *Engine) sweepOrphans(ctx context.Context) {
	dead := e.deadBefore()
	if dead.IsZero() {
		return
	}
	orphans, err := e.store.OrphanedClaims(ctx, dead, 1000)
	if err != nil {
		e.log.Warn("read orphaned claims", "err", err)
		return
	}
	for _, c := range orphans {
		suffix := ":after:" + c.Holder
		var err error
		if c.Channel == "" && c.Batch == dispatch.PlanBatch {
			err = e.enqueuePlanTask(ctx, c.AlertID, c.Version, suffix)
		} else {
			err = e.enqueueSendTask(ctx, c.BatchKey, suffix)
		}
		switch {
		case errors.Is(err, asynq.ErrTaskIDConflict):
		case err != nil:
			e.log.Warn("re-enqueue a dead node's batch", "batch", c.BatchKey.String(), "dead_node", c.Node, "err", err)
		default:
			e.metrics.takeovers.WithLabelValues(channelLabel(c.Channel)).Inc()
			e.log.Warn("re-enqueued a dead node's batch", "alert_id", c.AlertID, "batch", c.BatchKey.String(), "dead_node", c.Node)
		}
	}
}

// sweepLostTasks re-enqueues, under their own ids, the send tasks of
// batches that still have planned records while Redis knows no such task
// (lost with the last second of an AOF, or a flushed Redis). For a version
// whose plan is recorded (every batch's task was enqueued before it), Redis
// is asked first and the records only about the batches whose task is
// gone: finding the batches with planned records reads every record of the
// version, which on PostgreSQL took a second for a county, every sweep,
// while that county's warning was being sent.
func (e *Engine) sweepLostTasks(ctx context.Context) {
	vers, err := e.store.PlannedVersions(ctx)
	if err != nil {
		e.log.Warn("read planned batches", "err", err)
		return
	}
	budget := 2000
	for _, v := range vers {
		if budget <= 0 {
			return
		}
		a, err := e.store.AlertVersion(ctx, v.AlertID, v.Version)
		if err != nil {
			continue
		}
		q := QueueFor(a)
		lost := func(b int) bool {
			_, err := e.inspector.GetTaskInfo(q, sendTaskID(v.AlertID, v.Version, v.Channel, b))
			// Not lost when there (or when Redis did not answer: next sweep).
			return errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound)
		}
		plans, err := e.store.Plans(ctx, v.AlertID, v.Version)
		if err != nil {
			e.log.Warn("read plans", "alert_id", v.AlertID, "err", err)
			return
		}
		var candidates []int // nil: every batch (the plan is still being written)
		if p, ok := plans[v.Channel]; ok {
			candidates = []int{}
			for b := 0; b < p.Batches && len(candidates) < budget; b++ {
				if lost(b) {
					candidates = append(candidates, b)
				}
			}
		}
		batches, err := e.store.BatchesWithPlanned(ctx, v, candidates, budget)
		if err != nil {
			e.log.Warn("read planned batches", "alert_id", v.AlertID, "err", err)
			return
		}
		budget -= len(batches)
		for _, b := range batches {
			if candidates == nil && !lost(b) {
				continue
			}
			k := v
			k.Batch = b
			err = e.enqueueSendTask(ctx, k, "")
			switch {
			case errors.Is(err, asynq.ErrTaskIDConflict):
			case err != nil:
				e.log.Warn("re-enqueue a lost task", "batch", k.String(), "err", err)
				return
			default:
				e.metrics.lostTasks.WithLabelValues(channelLabel(k.Channel)).Inc()
				e.log.Warn("re-enqueued a batch whose task Redis had lost", "alert_id", k.AlertID, "batch", k.String())
			}
		}
	}
}

// Lost plan tasks: the outbox marks a version dispatched once its plan task
// is in Redis; a Redis that loses its last second of AOF can lose the task
// with it, and nothing else would ever plan that version.
const (
	// lostPlanGrace is how long a dispatched version's plan task has to
	// show itself before a missing one counts as lost.
	lostPlanGrace = 10 * time.Second
	// lostPlanWindow bounds how far back the sweeper looks.
	lostPlanWindow = 6 * time.Hour
)

// sweepLostPlans re-enqueues, under its own id, the plan task of every
// version dispatched in the last lostPlanWindow (and more than
// lostPlanGrace before now) that is still to be delivered, whose plan is
// not complete, and whose plan task Redis no longer has.
func (e *Engine) sweepLostPlans(ctx context.Context, now time.Time) {
	vers, err := e.store.DispatchedBetween(ctx, now.Add(-lostPlanWindow), now.Add(-lostPlanGrace), 200)
	if err != nil {
		e.log.Warn("read dispatched versions", "err", err)
		return
	}
	for _, v := range vers {
		a, err := e.store.AlertVersion(ctx, v.AlertID, v.Version)
		if err != nil || !now.Before(sendDeadline(a)) {
			continue
		}
		if gone, err := e.superseded(ctx, a); err != nil || gone {
			continue
		}
		plans, err := e.store.Plans(ctx, a.ID, a.Version)
		if err != nil {
			continue
		}
		complete := true
		for _, ch := range a.Channels {
			if a.Round > 0 && ch != "speaker" {
				continue
			}
			if _, ok := plans[ch]; !ok {
				complete = false
			}
		}
		if complete {
			continue
		}
		_, err = e.inspector.GetTaskInfo(QueueFor(a), planTaskID(a.ID, a.Version))
		if !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			continue // there (or Redis did not answer: next sweep)
		}
		err = e.enqueuePlanTask(ctx, a.ID, a.Version, "")
		switch {
		case errors.Is(err, asynq.ErrTaskIDConflict):
		case err != nil:
			e.log.Warn("re-enqueue a lost plan task", "alert_id", a.ID, "version", a.Version, "err", err)
			return
		default:
			e.metrics.lostTasks.WithLabelValues("plan").Inc()
			e.log.Warn("re-enqueued a plan task Redis had lost", "alert_id", a.ID, "version", a.Version)
		}
	}
}

func channelLabel(ch string) string {
	if ch == "" {
		return "plan"
	}
	return ch
}

// enqueueSendTask enqueues the send task of batch k, with suffix appended
// to its deterministic id ("" for the batch's own task).
func (e *Engine) enqueueSendTask(ctx context.Context, k dispatch.BatchKey, suffix string) error {
	a, err := e.store.AlertVersion(ctx, k.AlertID, k.Version)
	if err != nil {
		return err
	}
	payload, _ := json.Marshal(sendPayload{ID: k.AlertID, Version: k.Version, Channel: k.Channel, Batch: k.Batch})
	deadline := sendDeadline(a)
	_, err = e.client.EnqueueContext(ctx, asynq.NewTask(TaskSend, payload),
		asynq.TaskID(sendTaskID(k.AlertID, k.Version, k.Channel, k.Batch)+suffix),
		asynq.Queue(QueueFor(a)), asynq.MaxRetry(e.cfg.MaxRetry), asynq.Deadline(deadline),
		asynq.Retention(time.Until(deadline)))
	return err
}

// claimToken names one execution of a task on this node.
func (e *Engine) claimToken() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return e.node + "/" + hex.EncodeToString(b[:])
}

// heldClaim is a claim this execution holds; release frees it.
type heldClaim struct {
	e      *Engine
	key    dispatch.BatchKey
	holder string
}

// claim takes k for this execution. A nil claim with a nil error means a
// live node holds it: this execution must not touch the batch now.
func (e *Engine) claim(ctx context.Context, k dispatch.BatchKey) (*heldClaim, dispatch.ClaimOutcome, error) {
	holder := e.claimToken()
	out, err := e.store.ClaimBatch(ctx, k, e.node, holder, e.deadBefore())
	if err != nil || !out.Acquired {
		return nil, out, err
	}
	if out.TakenFrom != "" {
		e.log.Warn("took over a dead node's batch", "alert_id", k.AlertID, "batch", k.String(), "dead_node", out.TakenFrom, "possibly_sent", len(out.Inflight))
	}
	return &heldClaim{e: e, key: k, holder: holder}, out, nil
}

// release frees the claim: the execution ended with every chunk's
// results recorded. If the store does not answer, it keeps trying in the
// background (a retry of the batch waits for it meanwhile).
func (c *heldClaim) release() {
	c.e.untilDone("release claim", c.key, func(ctx context.Context) error { return c.e.store.ReleaseClaim(ctx, c.key, c.holder) })
}

// abandon gives the claim up keeping its in-flight list: the execution
// could not record a chunk's results, so those recipients are possibly
// sent and the next holder must settle them by the Interrupted rule.
func (c *heldClaim) abandon() {
	c.e.untilDone("abandon claim", c.key, func(ctx context.Context) error { return c.e.store.AbandonClaim(ctx, c.key, c.holder) })
}

// untilDone runs op now and, while it fails, every second in the
// background until it works or the engine stops (then the node's claims
// are orphans the other nodes take over).
func (e *Engine) untilDone(what string, k dispatch.BatchKey, op func(ctx context.Context) error) {
	try := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return op(ctx)
	}
	err := try()
	if err == nil {
		return
	}
	e.log.Warn(what+": store unreachable, retrying in the background", "batch", k.String(), "err", err)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-e.stop:
				return
			case <-t.C:
			}
			if try() == nil {
				e.log.Info(what+": done", "batch", k.String())
				return
			}
		}
	}()
}

// errHeld is returned (and the task retried) when a live node holds the
// batch: it may be sending it, or be about to give it up.
var errHeld = errors.New("batch held by a live node")

// errClaimLost stops an execution whose claim was taken over: it must not
// send anything more.
var errClaimLost = errors.New("claim taken over by another node")

// markInflight is the write-ahead record of a chunk.
func (c *heldClaim) markInflight(ctx context.Context, chunk []channels.Recipient) error {
	ids := make([]string, len(chunk))
	for i, r := range chunk {
		ids[i] = r.ID
	}
	ok, err := c.e.store.MarkInflight(ctx, c.key, c.holder, ids)
	if err != nil {
		return err
	}
	if !ok {
		return errClaimLost
	}
	return nil
}

// settleInterrupted applies the Interrupted rule of channel ch to the
// possibly-sent recipients among todo (inflight: what the dead holder had
// handed over) and returns the recipients still to send.
func (e *Engine) settleInterrupted(ctx context.Context, p sendPayload, todo []channels.Recipient, inflight []string) ([]channels.Recipient, error) {
	if len(inflight) == 0 || e.replaySafe(p.Channel) {
		return todo, nil
	}
	possibly := make(map[string]bool, len(inflight))
	for _, id := range inflight {
		possibly[id] = true
	}
	rule := e.cfg.Interrupted[p.Channel]
	var keep []channels.Recipient
	var ups []dispatch.DeliveryUpdate
	again := 0
	for _, r := range todo {
		switch {
		case !possibly[r.ID]:
			keep = append(keep, r)
		case rule == AtLeastOnce:
			keep = append(keep, r)
			again++
		default:
			ups = append(ups, dispatch.DeliveryUpdate{AlertID: p.ID, Version: p.Version, Channel: p.Channel, Recipient: r.ID,
				State: channels.StateFailed, Error: InterruptedReason})
		}
	}
	if len(ups) > 0 {
		if err := e.store.UpdateDeliveries(ctx, ups); err != nil {
			return nil, fmt.Errorf("record interrupted recipients: %w", err)
		}
		e.metrics.interrupted.WithLabelValues(p.Channel).Add(float64(len(ups)))
	}
	if len(ups) > 0 || again > 0 {
		e.log.Warn("recipients possibly sent by a dead node", "alert_id", p.ID, "channel", p.Channel, "batch", p.Batch,
			"rule", rule.String(), "failed_interrupted", len(ups), "sent_again", again)
	}
	return keep, nil
}

// replaySafeChannel is a channel that drops a repeat of a (Message.Key,
// Recipient.ID) itself, across processes (the dry run's outbox).
type replaySafeChannel interface {
	ReplaySafe() bool
}

// replaySafe reports whether sending a batch's recipients again is
// harmless on channel name: no write-ahead and no Interrupted rule needed.
func (e *Engine) replaySafe(name string) bool {
	if idempotentChannels[name] {
		return true
	}
	rs, ok := e.cfg.Channels[name].(replaySafeChannel)
	return ok && rs.ReplaySafe()
}

// nodeName returns a node id for cfg: the one given, else host-pid-random.
func nodeName(given string) string {
	if given != "" {
		return given
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "node-" + strings.ToLower(hex.EncodeToString(b[:]))
}
