package dispatch

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/channels"
)

// TestCountersMatchRecords drives random plans, results, receipts and
// finishes through the store and checks after every step that the kept
// counters equal a count of the records themselves (the oracle).
func TestCountersMatchRecords(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(7, 11))
		chans := []string{"sms", "speaker"}
		recipient := func() string { return fmt.Sprintf("r%03d", rng.IntN(300)) }
		states := []channels.State{channels.StateUnknown, channels.StateSent, channels.StateDelivered, channels.StateFailed, channels.StateExpired, channels.StateNotSent}
		version := func() int { return 1 + rng.IntN(2) }
		check := func(step int, op string) {
			t.Helper()
			for v := 1; v <= 2; v++ {
				kept, err := s.DeliveryCounters(ctx, "C1", v)
				if err != nil {
					t.Fatal(err)
				}
				scan, err := s.countByScan(ctx, "C1", v)
				if err != nil {
					t.Fatal(err)
				}
				if !maps.EqualFunc(kept, scan, maps.Equal) {
					t.Fatalf("step %d (%s), version %d: counters %v, records %v", step, op, v, kept, scan)
				}
			}
		}
		for step := 0; step < 150; step++ {
			var op string
			switch rng.IntN(6) {
			case 0, 1:
				op = "plan"
				v, ch := version(), chans[rng.IntN(2)]
				var rows []Delivery
				for i := 0; i < 1+rng.IntN(500); i++ {
					r := recipient()
					rows = append(rows, Delivery{AlertID: "C1", Version: v, Channel: ch, Recipient: r, Batch: rng.IntN(4)})
				}
				if err := s.PlanDeliveries(ctx, rows); err != nil {
					t.Fatal(err)
				}
			case 2:
				op = "results"
				var ups []DeliveryUpdate
				for i := 0; i < rng.IntN(900); i++ {
					u := DeliveryUpdate{AlertID: "C1", Version: version(), Channel: chans[rng.IntN(2)], Recipient: recipient(),
						State: states[rng.IntN(4)], Attempt: rng.IntN(2) == 0}
					if rng.IntN(2) == 0 {
						u.Ref = "m-" + u.Recipient
					}
					ups = append(ups, u)
				}
				if err := s.UpdateDeliveries(ctx, ups); err != nil {
					t.Fatal(err)
				}
			case 3:
				op = "receipts"
				var rs []channels.Receipt
				for i := 0; i < rng.IntN(900); i++ {
					r := channels.Receipt{Channel: chans[rng.IntN(2)], State: states[rng.IntN(len(states))], Detail: "x",
						Key: fmt.Sprintf("C1/v%d", version()), RecipientID: recipient()}
					rs = append(rs, r)
				}
				if _, err := s.ApplyReceipts(ctx, rs); err != nil {
					t.Fatal(err)
				}
			case 4:
				op = "finish batch"
				if _, err := s.FinishBatch(ctx, "C1", version(), chans[rng.IntN(2)], rng.IntN(4), channels.StateRevoked, "cancelled"); err != nil {
					t.Fatal(err)
				}
			case 5:
				if rng.IntN(4) > 0 {
					continue
				}
				op = "finish remaining"
				if _, err := s.FinishRemaining(ctx, "C1", version(), channels.StateExpired, "expired"); err != nil {
					t.Fatal(err)
				}
			}
			check(step, op)
		}
	})
}

// TestCountersMigration: records written before the counters existed are
// counted by the migration that adds them.
func TestCountersMigration(t *testing.T) {
	s, err := OpenStore(context.Background(), "", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.w.ExecContext(ctx, `DELETE FROM delivery_counts`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO deliveries (alert_id, version, channel, recipient, batch, state, updated_at) VALUES
		('M1', 1, 'sms', 'a', 0, 2, 0), ('M1', 1, 'sms', 'b', 0, 3, 0), ('M1', 1, 'sms', 'c', 0, 3, 0)`); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(migrations, func(m string) bool { return strings.Contains(m, "CREATE TABLE delivery_counts") })
	fill := migrations[i][strings.Index(migrations[i], "INSERT INTO delivery_counts"):]
	if _, err := s.w.ExecContext(ctx, fill); err != nil {
		t.Fatal(err)
	}
	c, err := s.DeliveryCounters(ctx, "M1", 1)
	if err != nil || c["sms"]["sent"] != 1 || c["sms"]["delivered"] != 2 {
		t.Fatalf("migrated counters %v, %v", c, err)
	}
}
