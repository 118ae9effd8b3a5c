package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/storetest"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/warning"
)

// countingSMS stands in for an SMSC: it records every recipient submitted
// and can run a hook inside Send (a fault in the middle of a chunk).
type countingSMS struct {
	mu        sync.Mutex
	submitted []string
	during    func(chunk []channels.Recipient)
}

func (c *countingSMS) Name() string        { return "sms" }
func (c *countingSMS) SubmitRate() float64 { return 2000 }
func (c *countingSMS) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.submitted)
}
func (c *countingSMS) Send(ctx context.Context, m *channels.Message, to []channels.Recipient) ([]channels.Result, error) {
	c.mu.Lock()
	for _, r := range to {
		c.submitted = append(c.submitted, r.ID)
	}
	hook := c.during
	c.mu.Unlock()
	if hook != nil {
		hook(to)
	}
	out := make([]channels.Result, len(to))
	for i, r := range to {
		out[i] = channels.Result{RecipientID: r.ID, State: channels.StateSent, Ref: "smsc-" + r.ID}
	}
	return out, nil
}

type claimRig struct {
	store *dispatch.Store
	redis *testsvc.RedisServer
	sms   *countingSMS
	alert *dispatch.Alert
	reg   *prometheus.Registry
}

const rigRecipients = 10

// newClaimRig stores an issued SMS warning with one planned batch of ten
// recipients, r0..r9.
func newClaimRig(t *testing.T) *claimRig {
	t.Helper()
	rig := &claimRig{store: storetest.SQLite(t), redis: testsvc.Redis(t), sms: &countingSMS{}, reg: prometheus.NewRegistry()}
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := &dispatch.Alert{ID: "A1", Version: 1, Event: warning.EventSandstorm, Level: warning.LevelBlue, Status: warning.StatusExercise, State: warning.StateIssued,
		Area: dispatch.Area{Codes: []string{"653122"}}, Channels: []string{"sms"}, Kind: warning.KindAlert,
		Text: map[string]dispatch.Text{"zh": {Headline: "沙尘暴"}}, Expires: now.Add(time.Hour), CreatedBy: "op", CreatedAt: now, UpdatedAt: now}
	ctx := context.Background()
	if _, _, err := rig.store.InsertAlert(ctx, a, "", dispatch.AuditEntry{Actor: "op", Action: "alert.issue"}); err != nil {
		t.Fatal(err)
	}
	rig.alert = a
	var rows []dispatch.Delivery
	for i := range rigRecipients {
		rows = append(rows, dispatch.Delivery{AlertID: "A1", Version: 1, Channel: "sms", Recipient: fmt.Sprintf("r%d", i), Address: fmt.Sprintf("+8613900000%03d", i), Batch: 0})
	}
	if err := rig.store.PlanDeliveries(ctx, rows); err != nil {
		t.Fatal(err)
	}
	return rig
}

func (rig *claimRig) engine(t *testing.T, node string, rule Interrupted) *Engine {
	t.Helper()
	opt := asynq.RedisClientOpt{Addr: rig.redis.Addr}
	e, err := NewEngine(EngineConfig{Store: rig.store, Redis: opt, Channels: map[string]channels.Channel{"sms": rig.sms},
		NodeID: node, Interrupted: map[string]Interrupted{"sms": rule}, SendChunk: 2, Registry: rig.reg, Inspector: asynq.NewInspector(opt)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.client.Close(); e.inspector.Close() })
	return e
}

var batchKey = dispatch.BatchKey{AlertID: "A1", Version: 1, Channel: "sms", Batch: 0}

func sendTask(t *testing.T) *asynq.Task {
	b, err := json.Marshal(sendPayload{ID: "A1", Version: 1, Channel: "sms", Batch: 0})
	if err != nil {
		t.Fatal(err)
	}
	return asynq.NewTask(TaskSend, b)
}

// deadHolder leaves batch 0 claimed by node "dead", which stopped beating
// ten seconds ago after recording r0, r1 as sent and handing r0..r4 to the
// channel: r2, r3, r4 are possibly sent.
func (rig *claimRig) deadHolder(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := rig.store.Heartbeat(ctx, "dead", time.Now().Add(-10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if out, err := rig.store.ClaimBatch(ctx, batchKey, "dead", "dead/1", time.Now().Add(-time.Minute)); err != nil || !out.Acquired {
		t.Fatalf("dead node's claim: %+v %v", out, err)
	}
	if ok, err := rig.store.MarkInflight(ctx, batchKey, "dead/1", []string{"r0", "r1", "r2", "r3", "r4"}); err != nil || !ok {
		t.Fatalf("dead node's inflight: %v %v", ok, err)
	}
	ups := []dispatch.DeliveryUpdate{
		{AlertID: "A1", Version: 1, Channel: "sms", Recipient: "r0", State: channels.StateSent, Attempt: true},
		{AlertID: "A1", Version: 1, Channel: "sms", Recipient: "r1", State: channels.StateSent, Attempt: true},
	}
	if err := rig.store.UpdateDeliveries(ctx, ups); err != nil {
		t.Fatal(err)
	}
}

func (rig *claimRig) records(t *testing.T) map[string]dispatch.Delivery {
	t.Helper()
	rows, err := rig.store.BatchDeliveries(context.Background(), "A1", 1, "sms", 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]dispatch.Delivery{}
	for _, d := range rows {
		out[d.Recipient] = d
	}
	return out
}

// The node resuming a dead node's batch never submits blind what the dead
// node had handed to the SMSC without recording it: at most once, those
// end failed "interrupted", the rest are sent once, nothing twice.
func TestResumeAtMostOnce(t *testing.T) {
	rig := newClaimRig(t)
	rig.deadHolder(t)
	e := rig.engine(t, "live", AtMostOnce)
	if err := e.handleSend(context.Background(), sendTask(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := rig.sms.got(), []string{"r5", "r6", "r7", "r8", "r9"}; !slices.Equal(got, want) {
		t.Fatalf("submitted %v, want %v (r0..r4 were handed over by the dead node)", got, want)
	}
	recs := rig.records(t)
	for i := range rigRecipients {
		r := recs[fmt.Sprintf("r%d", i)]
		switch {
		case i >= 2 && i <= 4:
			if r.State != channels.StateFailed || r.LastError != InterruptedReason {
				t.Errorf("%s: %v %q, want failed %q", r.Recipient, r.State, r.LastError, InterruptedReason)
			}
		default:
			if r.State != channels.StateSent {
				t.Errorf("%s: %v, want sent", r.Recipient, r.State)
			}
		}
	}
	if n := testutil.ToFloat64(e.metrics.interrupted.WithLabelValues("sms")); n != 3 {
		t.Errorf("alertcast_deliveries_interrupted_total{sms} = %v, want 3", n)
	}
	// The claim is free again: the next run finds nothing to send.
	if err := e.handleSend(context.Background(), sendTask(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(rig.sms.got()); n != 5 {
		t.Fatalf("a re-run submitted again: %d submits in all", n)
	}
}

// Under the at-least-once rule the possibly-sent are sent again; what the
// dead node had recorded is not.
func TestResumeAtLeastOnce(t *testing.T) {
	rig := newClaimRig(t)
	rig.deadHolder(t)
	e := rig.engine(t, "live", AtLeastOnce)
	if err := e.handleSend(context.Background(), sendTask(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := rig.sms.got(), []string{"r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"}; !slices.Equal(got, want) {
		t.Fatalf("submitted %v, want %v", got, want)
	}
	for id, r := range rig.records(t) {
		if r.State != channels.StateSent {
			t.Errorf("%s: %v, want sent", id, r.State)
		}
	}
}

// A batch claimed by a live node is left to it: a second execution (Asynq
// recovering a task, or a sweeper's copy) sends nothing.
func TestLiveHolderKeepsItsBatch(t *testing.T) {
	rig := newClaimRig(t)
	ctx := context.Background()
	other := rig.engine(t, "other", AtMostOnce)
	other.beat(ctx)
	if out, err := rig.store.ClaimBatch(ctx, batchKey, "other", "other/1", time.Now().Add(-time.Minute)); err != nil || !out.Acquired {
		t.Fatalf("claim: %+v %v", out, err)
	}
	e := rig.engine(t, "live", AtMostOnce)
	if err := e.handleSend(ctx, sendTask(t)); !errors.Is(err, errHeld) {
		t.Fatalf("send of a batch a live node holds: %v, want %v (retried later)", err, errHeld)
	}
	if got := rig.sms.got(); len(got) != 0 {
		t.Fatalf("submitted %v while a live node held the batch", got)
	}
	// Positive control: released, the batch is sent.
	if err := rig.store.ReleaseClaim(ctx, batchKey, "other/1"); err != nil {
		t.Fatal(err)
	}
	if err := e.handleSend(ctx, sendTask(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(rig.sms.got()); n != rigRecipients {
		t.Fatalf("submitted %d after the release, want %d", n, rigRecipients)
	}
}

// A node wrongly thought dead (a long pause) whose batch was taken over
// stops at its next chunk: it sends nothing more.
func TestTakenOverHolderStops(t *testing.T) {
	rig := newClaimRig(t)
	ctx := context.Background()
	e := rig.engine(t, "paused", AtMostOnce)
	e.beat(ctx)
	chunks := 0
	rig.sms.during = func([]channels.Recipient) {
		if chunks++; chunks == 1 {
			// While the first chunk is in the channel, another node takes
			// the batch over (it believes "paused" dead).
			out, err := rig.store.ClaimBatch(ctx, batchKey, "taker", "taker/1", time.Now().Add(time.Minute))
			if err != nil || !out.Acquired || out.TakenFrom != "paused" || !slices.Equal(out.Inflight, []string{"r0", "r1"}) {
				t.Errorf("takeover: %+v %v", out, err)
			}
		}
	}
	if err := e.handleSend(ctx, sendTask(t)); err != nil {
		t.Fatal(err)
	}
	if got := rig.sms.got(); !slices.Equal(got, []string{"r0", "r1"}) {
		t.Fatalf("the replaced holder submitted %v, want only its first chunk r0, r1", got)
	}
}

// The sweeper re-enqueues a dead node's batch at once, under an id naming
// the dead execution, once however many sweeps see it; a live node's
// batch is not touched.
func TestSweeperReenqueuesDeadNodesBatch(t *testing.T) {
	rig := newClaimRig(t)
	ctx := context.Background()
	e := rig.engine(t, "live", AtMostOnce)
	e.beat(ctx)
	// Negative first: a live node's claim is no orphan.
	if out, err := rig.store.ClaimBatch(ctx, batchKey, "live", "live/1", time.Now().Add(-time.Minute)); err != nil || !out.Acquired {
		t.Fatalf("claim: %+v %v", out, err)
	}
	e.sweepOrphans(ctx)
	if n := testutil.ToFloat64(e.metrics.takeovers.WithLabelValues("sms")); n != 0 {
		t.Fatalf("swept a live node's batch (%v takeovers)", n)
	}
	if err := rig.store.ReleaseClaim(ctx, batchKey, "live/1"); err != nil {
		t.Fatal(err)
	}
	rig.deadHolder(t)
	e.sweepOrphans(ctx)
	e.sweepOrphans(ctx)
	if n := testutil.ToFloat64(e.metrics.takeovers.WithLabelValues("sms")); n != 1 {
		t.Fatalf("takeovers = %v after two sweeps, want 1", n)
	}
	id := sendTaskID("A1", 1, "sms", 0) + ":after:dead/1"
	info, err := e.inspector.GetTaskInfo(QueueLow, id)
	if err != nil {
		t.Fatalf("re-enqueued task %s: %v", id, err)
	}
	// Running it resumes the batch by the claim rules.
	if err := e.handleSend(ctx, asynq.NewTask(info.Type, info.Payload)); err != nil {
		t.Fatal(err)
	}
	if got, want := rig.sms.got(), []string{"r5", "r6", "r7", "r8", "r9"}; !slices.Equal(got, want) {
		t.Fatalf("submitted %v, want %v", got, want)
	}
}

// A batch with planned records whose task Redis no longer has is enqueued
// again under its own id; one whose task is there is left alone.
func TestSweeperFindsLostTasks(t *testing.T) {
	rig := newClaimRig(t)
	ctx := context.Background()
	e := rig.engine(t, "live", AtMostOnce)
	e.sweepLostTasks(ctx)
	if n := testutil.ToFloat64(e.metrics.lostTasks.WithLabelValues("sms")); n != 1 {
		t.Fatalf("lost tasks re-enqueued = %v, want 1", n)
	}
	if _, err := e.inspector.GetTaskInfo(QueueLow, sendTaskID("A1", 1, "sms", 0)); err != nil {
		t.Fatalf("the batch's task: %v", err)
	}
	e.sweepLostTasks(ctx)
	if n := testutil.ToFloat64(e.metrics.lostTasks.WithLabelValues("sms")); n != 1 {
		t.Fatalf("lost tasks re-enqueued = %v after a second sweep, want still 1", n)
	}
}

// Once the plan is recorded the sweeper asks Redis first: a batch whose
// task is there is not looked up in the records, one whose task is gone
// and that still has planned records is enqueued again, one whose task is
// gone and that is done is left alone.
func TestSweeperFindsLostTasksOfARecordedPlan(t *testing.T) {
	rig := newClaimRig(t)
	ctx := context.Background()
	var rows []dispatch.Delivery
	for i := range 20 { // batch 1 still planned, batch 2 done
		rows = append(rows, dispatch.Delivery{AlertID: "A1", Version: 1, Channel: "sms", Recipient: fmt.Sprintf("s%02d", i), Address: "+86139", Batch: 1 + i/10})
	}
	if err := rig.store.PlanDeliveries(ctx, rows); err != nil {
		t.Fatal(err)
	}
	var ups []dispatch.DeliveryUpdate
	for _, d := range rows[10:] {
		ups = append(ups, dispatch.DeliveryUpdate{AlertID: "A1", Version: 1, Channel: "sms", Recipient: d.Recipient, State: channels.StateSent, Attempt: true})
	}
	if err := rig.store.UpdateDeliveries(ctx, ups); err != nil {
		t.Fatal(err)
	}
	if err := rig.store.SavePlan(ctx, dispatch.Plan{AlertID: "A1", Version: 1, Channel: "sms", Recipients: 30, Batches: 3}); err != nil {
		t.Fatal(err)
	}
	e := rig.engine(t, "live", AtMostOnce)
	if err := e.enqueueSendTask(ctx, batchKey, ""); err != nil { // batch 0's task is there
		t.Fatal(err)
	}
	e.sweepLostTasks(ctx)
	if n := testutil.ToFloat64(e.metrics.lostTasks.WithLabelValues("sms")); n != 1 {
		t.Fatalf("lost tasks re-enqueued = %v, want 1 (batch 1)", n)
	}
	if _, err := e.inspector.GetTaskInfo(QueueLow, sendTaskID("A1", 1, "sms", 1)); err != nil {
		t.Fatalf("batch 1's task: %v", err)
	}
	if _, err := e.inspector.GetTaskInfo(QueueLow, sendTaskID("A1", 1, "sms", 2)); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Fatalf("batch 2 (done) was enqueued again: %v", err)
	}
	e.sweepLostTasks(ctx)
	if n := testutil.ToFloat64(e.metrics.lostTasks.WithLabelValues("sms")); n != 1 {
		t.Fatalf("lost tasks re-enqueued = %v after a second sweep, want still 1", n)
	}
}

// replaySafeSMS is a channel that drops repeats itself (like the dry run).
type replaySafeSMS struct{ *countingSMS }

func (replaySafeSMS) ReplaySafe() bool { return true }

// On a channel that drops repeats itself, the possibly-sent are simply
// sent again whatever the rule: the channel keeps them once.
func TestResumeReplaySafeChannelSendsAgain(t *testing.T) {
	rig := newClaimRig(t)
	rig.deadHolder(t)
	opt := asynq.RedisClientOpt{Addr: rig.redis.Addr}
	e, err := NewEngine(EngineConfig{Store: rig.store, Redis: opt, Channels: map[string]channels.Channel{"sms": replaySafeSMS{rig.sms}},
		NodeID: "live", SendChunk: 2, Registry: rig.reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.client.Close() })
	if err := e.handleSend(context.Background(), sendTask(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := rig.sms.got(), []string{"r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"}; !slices.Equal(got, want) {
		t.Fatalf("submitted %v, want %v", got, want)
	}
}

// A dispatched version whose plan task Redis lost (and whose plan is not
// complete) is planned again under its own id; a second sweep does not
// enqueue it twice, and a version whose plan is complete is left alone.
func TestSweeperFindsLostPlans(t *testing.T) {
	rig := newClaimRig(t)
	ctx := context.Background()
	e := rig.engine(t, "live", AtMostOnce)
	if err := rig.store.MarkDispatched(ctx, dispatch.PendingDispatch{AlertID: "A1", Version: 1}); err != nil {
		t.Fatal(err)
	}
	lost := func() float64 { return testutil.ToFloat64(e.metrics.lostTasks.WithLabelValues("plan")) }
	// Within the grace period the task may still be on its way.
	e.sweepLostPlans(ctx, time.Now())
	if n := lost(); n != 0 {
		t.Fatalf("plan tasks re-enqueued within the grace period = %v, want 0", n)
	}
	later := time.Now().Add(lostPlanGrace + time.Second)
	e.sweepLostPlans(ctx, later)
	if n := lost(); n != 1 {
		t.Fatalf("plan tasks re-enqueued = %v, want 1", n)
	}
	if _, err := e.inspector.GetTaskInfo(QueueFor(rig.alert), planTaskID("A1", 1)); err != nil {
		t.Fatalf("the version's plan task: %v", err)
	}
	e.sweepLostPlans(ctx, later)
	if n := lost(); n != 1 {
		t.Fatalf("plan tasks re-enqueued = %v after a second sweep, want still 1", n)
	}

	// A complete plan needs no task: flush Redis's copy and sweep again.
	if err := e.inspector.DeleteTask(QueueFor(rig.alert), planTaskID("A1", 1)); err != nil {
		t.Fatal(err)
	}
	if err := rig.store.SavePlan(ctx, dispatch.Plan{AlertID: "A1", Version: 1, Channel: "sms", Recipients: rigRecipients, Batches: 1}); err != nil {
		t.Fatal(err)
	}
	e.sweepLostPlans(ctx, later)
	if n := lost(); n != 1 {
		t.Fatalf("plan tasks re-enqueued = %v for a complete plan, want still 1", n)
	}
}
