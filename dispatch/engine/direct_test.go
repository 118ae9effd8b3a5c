package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/storetest"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/warning"
)

// recordingSpeakers stands in for the loudspeaker hub: it checks that every
// recipient handed to it already has its planned record (a device's report
// must always find one), counts sends per recipient and fails the ones
// named in transient once each.
type recordingSpeakers struct {
	store     *dispatch.Store
	mu        sync.Mutex
	sends     map[string]int
	transient map[string]bool
	missing   []string
}

func (s *recordingSpeakers) Name() string { return "speaker" }

func (s *recordingSpeakers) Send(ctx context.Context, m *channels.Message, to []channels.Recipient) ([]channels.Result, error) {
	rows, err := s.store.BatchDeliveries(ctx, m.AlertID, m.Version, "speaker", 0)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, d := range rows {
		have[d.Recipient] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]channels.Result, len(to))
	for i, r := range to {
		if !have[r.ID] {
			s.missing = append(s.missing, r.ID)
		}
		s.sends[r.ID]++
		out[i] = channels.Result{RecipientID: r.ID, State: channels.StateSent, Ref: r.Address}
		if s.transient[r.ID] {
			delete(s.transient, r.ID)
			out[i] = channels.Result{RecipientID: r.ID, State: channels.StateFailed, Err: errors.New("redis timeout")}
		}
	}
	return out, nil
}

func directRig(t *testing.T, transient ...string) (*Engine, *recordingSpeakers, *dispatch.Alert, []channels.Recipient) {
	t.Helper()
	store := storetest.SQLite(t)
	rds := testsvc.Redis(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := &dispatch.Alert{ID: "D1", Version: 1, Event: warning.EventSandstorm, Level: warning.LevelRed, Status: warning.StatusActual, State: warning.StateIssued,
		Area: dispatch.Area{Codes: []string{"653122"}}, Channels: []string{"speaker"}, Kind: warning.KindAlert,
		Text: map[string]dispatch.Text{"zh": {Headline: "沙尘暴"}}, Expires: now.Add(time.Hour), CreatedBy: "op", CreatedAt: now, UpdatedAt: now, IssuedAt: now}
	ctx := context.Background()
	if _, _, err := store.InsertAlert(ctx, a, "", dispatch.AuditEntry{Actor: "op", Action: "alert.issue"}); err != nil {
		t.Fatal(err)
	}
	spk := &recordingSpeakers{store: store, sends: map[string]int{}, transient: map[string]bool{}}
	for _, id := range transient {
		spk.transient[id] = true
	}
	opt := asynq.RedisClientOpt{Addr: rds.Addr}
	e, err := NewEngine(EngineConfig{Store: store, Redis: opt, Channels: map[string]channels.Channel{"speaker": spk},
		NodeID: "n1", Registry: prometheus.NewRegistry(), Inspector: asynq.NewInspector(opt)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.client.Close(); e.inspector.Close() })
	var rcpts []channels.Recipient
	var rows []dispatch.Delivery
	for i := range 10 {
		id := fmt.Sprintf("spk-%d", i)
		rcpts = append(rcpts, channels.Recipient{ID: id, Address: id})
		rows = append(rows, dispatch.Delivery{AlertID: a.ID, Version: 1, Channel: "speaker", Recipient: id, Address: id})
	}
	if n, err := store.PlanNewDeliveries(ctx, rows); err != nil || n != len(rows) {
		t.Fatalf("planned %d of %d: %v", n, len(rows), err)
	}
	if n, err := store.PlanNewDeliveries(ctx, rows); err != nil || n != 0 {
		t.Fatalf("a re-run plan wrote %d new records (%v), want 0", n, err)
	}
	return e, spk, a, rcpts
}

func speakerRecords(t *testing.T, e *Engine) map[string]dispatch.Delivery {
	t.Helper()
	rows, err := e.store.BatchDeliveries(context.Background(), "D1", 1, "speaker", 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]dispatch.Delivery{}
	for _, d := range rows {
		out[d.Recipient] = d
	}
	return out
}

// The plan step sends a loudspeaker batch itself: records written first,
// every result recorded (sent, one attempt), the batch's claim released
// for whoever comes next, and nothing left for a send task.
func TestDirectSendRecordsEveryResult(t *testing.T) {
	e, spk, a, rcpts := directRig(t)
	ctx := context.Background()
	if done := e.sendDirect(ctx, a, "speaker", rcpts, idempotentBatch, 0, 1); !done[0] {
		t.Fatal("direct send did not finish the batch")
	}
	if len(spk.missing) > 0 {
		t.Fatalf("sent before their records existed: %v", spk.missing)
	}
	for id, d := range speakerRecords(t, e) {
		if d.State != channels.StateSent || d.Attempts != 1 || spk.sends[id] != 1 {
			t.Errorf("%s: state %v, attempts %d, sends %d", id, d.State, d.Attempts, spk.sends[id])
		}
	}
	out, err := e.store.ClaimBatch(ctx, dispatch.BatchKey{AlertID: "D1", Version: 1, Channel: "speaker"}, "n2", "n2/x", e.deadBefore())
	if err != nil || !out.Acquired {
		t.Fatalf("the batch's claim was not released: %+v %v", out, err)
	}
}

// A recipient the direct send could not reach stays planned and the batch
// goes to its send task, which sends that one only: nobody twice, nobody
// left out.
func TestDirectSendLeavesTheRestToItsTask(t *testing.T) {
	e, spk, a, rcpts := directRig(t, "spk-3")
	ctx := context.Background()
	if done := e.sendDirect(ctx, a, "speaker", rcpts, idempotentBatch, 0, 1); done[0] {
		t.Fatal("a batch with a recipient to retry counted as done")
	}
	recs := speakerRecords(t, e)
	if recs["spk-3"].State != channels.StatePlanned || recs["spk-4"].State != channels.StateSent {
		t.Fatalf("after the direct send: spk-3 %v, spk-4 %v", recs["spk-3"].State, recs["spk-4"].State)
	}
	b, _ := json.Marshal(sendPayload{ID: "D1", Version: 1, Channel: "speaker", Batch: 0})
	if err := e.handleSend(ctx, asynq.NewTask(TaskSend, b)); err != nil {
		t.Fatal(err)
	}
	for id, d := range speakerRecords(t, e) {
		want := 1
		if id == "spk-3" {
			want = 2
		}
		if d.State != channels.StateSent || spk.sends[id] != want {
			t.Errorf("%s: state %v, sends %d (want %d)", id, d.State, spk.sends[id], want)
		}
	}
}

// An expired warning is not sent directly: its task records it expired.
func TestDirectSendSkipsExpired(t *testing.T) {
	e, spk, a, rcpts := directRig(t)
	a.Expires = time.Now().Add(-time.Second)
	if done := e.sendDirect(context.Background(), a, "speaker", rcpts, idempotentBatch, 0, 1); done[0] || len(spk.sends) > 0 {
		t.Fatalf("expired warning sent directly: done %v, sends %v", done, spk.sends)
	}
}
