package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/hibiken/asynq"
)

// Kick makes the relay look for stored warnings now.
func (e *Engine) Kick() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// relayLoop is the transactional outbox: every warning version stored for
// dispatch is enqueued as a plan task; the deterministic task id makes a
// repeated enqueue harmless.
func (e *Engine) relayLoop() {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		e.relayOnce(context.Background())
		select {
		case <-e.stop:
			return
		case <-t.C:
		case <-e.kick:
		}
	}
}

func (e *Engine) relayOnce(ctx context.Context) {
	pend, err := e.store.PendingDispatches(ctx, 100)
	if err != nil {
		e.log.Error("read dispatch outbox", "err", err)
		return
	}
	for _, p := range pend {
		if err := e.EnqueuePlan(ctx, p); err != nil {
			e.setRedisOK(false)
			return
		}
		e.setRedisOK(true)
		if err := e.store.MarkDispatched(ctx, p); err != nil {
			e.log.Error("mark dispatched", "alert_id", p.AlertID, "err", err)
		}
	}
	if len(pend) == 0 {
		// Probe so readiness recovers even with nothing to send.
		e.setRedisOK(e.client.Ping() == nil)
	}
}

// EnqueuePlan puts the plan task of a version in its queue.
func (e *Engine) EnqueuePlan(ctx context.Context, p dispatch.PendingDispatch) error {
	a, err := e.store.AlertVersion(ctx, p.AlertID, p.Version)
	if err != nil {
		return fmt.Errorf("load %s v%d: %w", p.AlertID, p.Version, err)
	}
	payload, _ := json.Marshal(planPayload{ID: p.AlertID, Version: p.Version})
	_, err = e.client.EnqueueContext(ctx, asynq.NewTask(TaskPlan, payload),
		asynq.TaskID(planTaskID(p.AlertID, p.Version)),
		asynq.Queue(QueueFor(a)), asynq.MaxRetry(e.cfg.MaxRetry), asynq.Retention(24*time.Hour),
		asynq.Timeout(5*time.Minute))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return err
}

// planTaskID is the deterministic id of a version's plan task.
func planTaskID(id string, version int) string { return fmt.Sprintf("plan:%s:v%d", id, version) }

// enqueuePlanTask enqueues the plan task of a version under its id plus
// suffix (a dead planner's plan, re-run at once).
func (e *Engine) enqueuePlanTask(ctx context.Context, id string, version int, suffix string) error {
	a, err := e.store.AlertVersion(ctx, id, version)
	if err != nil {
		return fmt.Errorf("load %s v%d: %w", id, version, err)
	}
	payload, _ := json.Marshal(planPayload{ID: id, Version: version})
	_, err = e.client.EnqueueContext(ctx, asynq.NewTask(TaskPlan, payload),
		asynq.TaskID(planTaskID(id, version)+suffix),
		asynq.Queue(QueueFor(a)), asynq.MaxRetry(e.cfg.MaxRetry), asynq.Retention(24*time.Hour),
		asynq.Timeout(5*time.Minute))
	return err
}
