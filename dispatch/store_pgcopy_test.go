package dispatch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// checkCounts fails the test when the kept counters of (id, version)
// differ from a count of the records.
func checkCounts(t *testing.T, s *Store, id string, version int) Counters {
	t.Helper()
	ctx := context.Background()
	kept, err := s.DeliveryCounters(ctx, id, version)
	if err != nil {
		t.Fatal(err)
	}
	scan, err := s.countByScan(ctx, id, version)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(kept, scan, maps.Equal) {
		t.Fatalf("counters %v, records %v", kept, scan)
	}
	return kept
}

func planRows(id string, from, to, batch int) []Delivery {
	var rows []Delivery
	for i := from; i < to; i++ {
		rows = append(rows, Delivery{AlertID: id, Version: 1, Channel: "sms", Recipient: fmt.Sprint(100000 + i),
			Address: fmt.Sprintf("+86138%08d", i), Language: "zh", Batch: i / batch})
	}
	return rows
}

// TestPlanRerunKeepsRecords: planning writes each record once. A plan
// re-run over records that exist (its node died after writing some) adds
// only the missing ones and leaves the others as they are — sent stays
// sent — and the same recipient twice in one write is one record; the
// counters count what was written (on PostgreSQL the first write is a
// COPY, the others fall back to INSERT … ON CONFLICT DO NOTHING).
func TestPlanRerunKeepsRecords(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.PlanDeliveries(ctx, planRows("P1", 0, 3000, 1000)); err != nil {
			t.Fatal(err)
		}
		if c := checkCounts(t, s, "P1", 1); c["sms"]["planned"] != 3000 {
			t.Fatalf("after the first write: %v", c)
		}
		// Some are sent meanwhile, with a detail the re-run must not erase.
		var ups []DeliveryUpdate
		for _, d := range planRows("P1", 0, 500, 1000) {
			ups = append(ups, DeliveryUpdate{AlertID: "P1", Version: 1, Channel: "sms", Recipient: d.Recipient, State: channels.StateSent, Attempt: true, Detail: "submitted"})
		}
		if err := s.UpdateDeliveries(ctx, ups); err != nil {
			t.Fatal(err)
		}
		// The re-run: the first 3,000 again (in another batch numbering),
		// 2,000 new, and one recipient twice.
		again := planRows("P1", 0, 5000, 500)
		again = append(again, again[4321])
		if err := s.PlanDeliveries(ctx, again); err != nil {
			t.Fatal(err)
		}
		c := checkCounts(t, s, "P1", 1)
		if c["sms"]["planned"] != 4500 || c["sms"]["sent"] != 500 {
			t.Fatalf("after the re-run: %v, want 4500 planned and 500 sent", c)
		}
		b, err := s.BatchDeliveries(ctx, "P1", 1, "sms", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 1000 || b[0].State != channels.StateSent || b[0].Detail != "submitted" || b[0].Address != "+8613800000000" {
			t.Fatalf("batch 0 after the re-run: %d records, first %+v", len(b), b[0])
		}
		// Nothing new: nothing written, nothing counted.
		if err := s.PlanDeliveries(ctx, again[:100]); err != nil {
			t.Fatal(err)
		}
		if c2 := checkCounts(t, s, "P1", 1); !maps.EqualFunc(c, c2, maps.Equal) {
			t.Fatalf("a re-run of existing records changed the counters: %v → %v", c, c2)
		}
	})
}

// TestPlanCopyAbortedMidway: a plan write stopped halfway through its COPY
// (the task's context ends, the connection drops) writes nothing at all —
// no records and no counts — and the retry writes them all.
func TestPlanCopyAbortedMidway(t *testing.T) {
	s, err := OpenStore(context.Background(), testsvc.Postgres(t), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	copyRowHook = func(table string, i int) error {
		if i == 6000 {
			cancel() // the planner's context ends while rows are on the wire
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	}
	defer func() { copyRowHook = nil }()
	rows := planRows("P2", 0, 10000, 1000)
	if err := s.PlanDeliveries(ctx, rows); err == nil {
		t.Fatal("a plan write whose context ended midway reported success")
	}
	if c := checkCounts(t, s, "P2", 1); len(c) != 0 {
		t.Fatalf("an aborted plan write left %v", c)
	}
	// A source that fails (not the context) is rolled back the same way.
	copyRowHook = func(table string, i int) error {
		if i == 9999 {
			return errors.New("source failed")
		}
		return nil
	}
	if err := s.PlanDeliveries(context.Background(), rows); err == nil {
		t.Fatal("a failed COPY reported success")
	}
	if c := checkCounts(t, s, "P2", 1); len(c) != 0 {
		t.Fatalf("a failed plan write left %v", c)
	}
	copyRowHook = nil
	if err := s.PlanDeliveries(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	if c := checkCounts(t, s, "P2", 1); c["sms"]["planned"] != 10000 {
		t.Fatalf("the retry wrote %v", c)
	}
	// The store still works on the connection the aborted COPY used.
	if err := s.PlanDeliveries(context.Background(), planRows("P3", 0, 10, 5)); err != nil {
		t.Fatal(err)
	}
}

// TestOutboxRecordsOnceCountsResends: the outbox keeps the first record of
// a (key, channel, recipient) and counts a chunk sent again (COPY on
// PostgreSQL, the conflict path when some are there).
func TestOutboxRecordsOnceCountsResends(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		at := time.Now()
		recs := func(from, to int, body string) []OutboxRecord {
			var out []OutboxRecord
			for i := from; i < to; i++ {
				out = append(out, OutboxRecord{Key: "O1/v1", Channel: "sms", Recipient: fmt.Sprint(i), Address: "+86", Language: "zh",
					Body: body, Encoding: "UCS2", Parts: []string{body}, At: at})
			}
			return out
		}
		if err := s.RecordOutbox(ctx, recs(0, 300, "第一")); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordOutbox(ctx, recs(200, 400, "第二")); err != nil { // 100 again, 100 new
			t.Fatal(err)
		}
		n, resends, err := s.OutboxStats(ctx, "O1/")
		if err != nil || n != 400 || resends != 100 {
			t.Fatalf("outbox: %d records, %d resends, %v; want 400, 100", n, resends, err)
		}
		got, _, err := s.ListOutbox(ctx, OutboxFilter{Key: "O1/", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			want := "第一"
			if n, _ := strconv.Atoi(r.Recipient); n >= 300 {
				want = "第二"
			}
			if r.Body != want || len(r.Parts) != 1 || r.Parts[0] != want || !r.At.Equal(at.Truncate(time.Millisecond)) {
				t.Fatalf("record %s: %+v, want body %s", r.Recipient, r, want)
			}
		}
	})
}

// TestGroupCommitIsolatesAFailure: results of several workers' chunks are
// written in one transaction; when that transaction fails because of one
// chunk, the others are still recorded (and told so), and only the chunk
// that failed is told it failed — a worker told its results are lost
// abandons its batch, and under at most once its recipients would be
// failed as interrupted though they were sent.
func TestGroupCommitIsolatesAFailure(t *testing.T) {
	s, err := OpenStore(context.Background(), testsvc.Postgres(t), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.PlanDeliveries(ctx, planRows("G1", 0, 1000, 200)); err != nil {
		t.Fatal(err)
	}
	chunk := func(from, to int) []DeliveryUpdate {
		var ups []DeliveryUpdate
		for _, d := range planRows("G1", from, to, 200) {
			ups = append(ups, DeliveryUpdate{AlertID: "G1", Version: 1, Channel: "sms", Recipient: d.Recipient, State: channels.StateSent,
				Attempt: true, Ref: "ref-" + d.Recipient})
		}
		return ups
	}
	// Hold the writer in a first group (its counter row is locked by
	// another transaction) while the next three chunks queue behind it, so
	// that they are written together.
	lock, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(ctx, `SELECT n FROM delivery_counts WHERE alert_id = 'G1' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	var groups []int
	groupHook = func(n int) { groups = append(groups, n) }
	defer func() { groupHook = nil }()
	errs := make([]error, 4)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); errs[0] = s.UpdateDeliveries(ctx, chunk(0, 200)) }()
	time.Sleep(300 * time.Millisecond) // the first group is waiting for the lock
	bad := chunk(400, 600)
	bad[17].Version = 1 << 40 // no such version can be stored: the statement fails
	for i, ups := range [][]DeliveryUpdate{chunk(200, 400), bad, chunk(600, 800)} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i+1] = s.UpdateDeliveries(ctx, ups) }()
	}
	time.Sleep(300 * time.Millisecond) // all three are queued
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(groups) < 2 || groups[1] != 3 {
		t.Fatalf("groups written %v: the three queued chunks were not written together", groups)
	}
	for i, err := range errs {
		if (err != nil) != (i == 2) {
			t.Fatalf("chunk %d: error %v (only chunk 2 has a bad record)", i, err)
		}
	}
	c := checkCounts(t, s, "G1", 1)
	if c["sms"]["sent"] != 600 || c["sms"]["planned"] != 400 {
		t.Fatalf("counters %v: want the three good chunks (600) sent, the bad one and the last 200 planned", c)
	}
	b, err := s.BatchDeliveries(ctx, "G1", 1, "sms", 2) // the bad chunk's batch
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range b {
		if d.State != channels.StatePlanned {
			t.Fatalf("a record of the failed chunk was written: %+v", d)
		}
	}
	refs, err := s.DeliveryRefs(ctx, "sms", []string{"ref-100000", "ref-100300", "ref-100700", "ref-100500"})
	if err != nil || len(refs) != 3 || refs["ref-100000"].Recipient != "100000" || refs["ref-100700"].Recipient != "100700" {
		t.Fatalf("refs %v, %v: want the three good chunks' refs, each on its own record", refs, err)
	}
}

// TestResultTextStoredSafely: a channel's detail or error text with a NUL
// byte or invalid UTF-8 (an SMSC's reply) is stored, cleaned, instead of
// failing the chunk's results (PostgreSQL refuses both in TEXT).
func TestResultTextStoredSafely(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.PlanDeliveries(ctx, planRows("T1", 0, 2, 10)); err != nil {
			t.Fatal(err)
		}
		err := s.UpdateDeliveries(ctx, []DeliveryUpdate{
			{AlertID: "T1", Version: 1, Channel: "sms", Recipient: "100000", State: channels.StateFailed, Attempt: true, Error: "smsc: \x00bad\xff reply"},
			{AlertID: "T1", Version: 1, Channel: "sms", Recipient: "100001", State: channels.StateSent, Attempt: true, Detail: "ok\x00"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ApplyReceipts(ctx, []channels.Receipt{{Channel: "sms", Key: "T1/v1", RecipientID: "100001", State: channels.StateDelivered, Detail: "DELIVRD\x00\xfe"}}); err != nil {
			t.Fatal(err)
		}
		b, err := s.BatchDeliveries(ctx, "T1", 1, "sms", 0)
		if err != nil {
			t.Fatal(err)
		}
		if b[0].LastError != "smsc: bad\uFFFD reply" || b[1].Detail != "DELIVRD\uFFFD" || b[1].State != channels.StateDelivered {
			t.Fatalf("stored %q / %q (%v)", b[0].LastError, b[1].Detail, b[1].State)
		}
	})
}
