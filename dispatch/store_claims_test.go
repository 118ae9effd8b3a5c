package dispatch

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
)

func TestClaimsTakeOverOnlyFromDeadNodes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		k := BatchKey{AlertID: "a1", Version: 1, Channel: "sms", Batch: 3}
		now := time.Now()
		dead := now.Add(-5 * time.Second)
		for _, n := range []string{"n1", "n2"} {
			if err := s.Heartbeat(ctx, n, now); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.ClaimBatch(ctx, k, "n1", "n1/x", dead)
		if err != nil || !got.Acquired || got.TakenFrom != "" || got.Inflight != nil {
			t.Fatalf("first claim = %+v, %v; want acquired fresh", got, err)
		}
		// The same execution asking again keeps it (a retried statement).
		if got, err := s.ClaimBatch(ctx, k, "n1", "n1/x", dead); err != nil || !got.Acquired {
			t.Fatalf("claim again by its holder = %+v, %v", got, err)
		}
		if ok, err := s.MarkInflight(ctx, k, "n1/x", []string{"r1", "r2"}); err != nil || !ok {
			t.Fatalf("MarkInflight by the holder = %v, %v", ok, err)
		}
		// n1 is alive: n2 may not take it.
		got, err = s.ClaimBatch(ctx, k, "n2", "n2/y", dead)
		if err != nil || got.Acquired || got.HeldBy != "n1" {
			t.Fatalf("claim of a live node's batch = %+v, %v; want held by n1", got, err)
		}
		if orphans, err := s.OrphanedClaims(ctx, dead, 10); err != nil || len(orphans) != 0 {
			t.Fatalf("orphans while n1 lives = %v, %v", orphans, err)
		}
		// n1 stops beating: its claim is an orphan, and one taker gets it
		// with what n1 had in flight.
		later := now.Add(10 * time.Second)
		if err := s.Heartbeat(ctx, "n2", later); err != nil {
			t.Fatal(err)
		}
		deadLater := later.Add(-5 * time.Second)
		orphans, err := s.OrphanedClaims(ctx, deadLater, 10)
		if err != nil || len(orphans) != 1 || orphans[0].BatchKey != k || orphans[0].Node != "n1" || orphans[0].Holder != "n1/x" {
			t.Fatalf("orphans = %+v, %v; want n1's claim of %v", orphans, err, k)
		}
		var wg sync.WaitGroup
		outs := make([]ClaimOutcome, 4)
		for i := range outs {
			wg.Go(func() {
				o, err := s.ClaimBatch(ctx, k, "n2", "n2/y"+string(rune('a'+i)), deadLater)
				if err != nil {
					t.Error(err)
				}
				outs[i] = o
			})
		}
		wg.Wait()
		won := 0
		for _, o := range outs {
			if o.Acquired {
				won++
				if o.TakenFrom != "n1" || !slices.Equal(o.Inflight, []string{"r1", "r2"}) {
					t.Errorf("takeover = %+v; want from n1 with r1, r2 in flight", o)
				}
			}
		}
		if won != 1 {
			t.Fatalf("%d of 4 concurrent takers got the claim, want 1: %+v", won, outs)
		}
		// The old holder, back from a pause, may not send any more.
		if ok, err := s.MarkInflight(ctx, k, "n1/x", []string{"r3"}); err != nil || ok {
			t.Fatalf("MarkInflight by the replaced holder = %v, %v; want false", ok, err)
		}
		// Releasing by a non-holder does nothing; by the holder frees it.
		if err := s.ReleaseClaim(ctx, k, "n1/x"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.ClaimBatch(ctx, k, "n3", "n3/z", deadLater); got.Acquired {
			t.Fatal("a release by the replaced holder freed the batch")
		}
		var holder string
		for i, o := range outs {
			if o.Acquired {
				holder = "n2/y" + string(rune('a'+i))
			}
		}
		if err := s.ReleaseClaim(ctx, k, holder); err != nil {
			t.Fatal(err)
		}
		if got, err := s.ClaimBatch(ctx, k, "n3", "n3/z", deadLater); err != nil || !got.Acquired || got.TakenFrom != "" || got.Inflight != nil {
			t.Fatalf("claim after release = %+v, %v; want a fresh claim", got, err)
		}
		// An abandoned claim (its holder could not record a chunk) is free
		// at once and keeps its in-flight list for the taker.
		if ok, err := s.MarkInflight(ctx, k, "n3/z", []string{"r7"}); err != nil || !ok {
			t.Fatalf("MarkInflight = %v, %v", ok, err)
		}
		if err := s.AbandonClaim(ctx, k, "n3/z"); err != nil {
			t.Fatal(err)
		}
		got, err = s.ClaimBatch(ctx, k, "n2", "n2/w", deadLater)
		if err != nil || !got.Acquired || got.TakenFrom != AbandonedBy || !slices.Equal(got.Inflight, []string{"r7"}) {
			t.Fatalf("claim of an abandoned batch = %+v, %v; want it with r7 in flight", got, err)
		}
		if err := s.ReleaseClaim(ctx, k, "n2/w"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.ClaimBatch(ctx, k, "n3", "n3/z", deadLater); err != nil || !got.Acquired {
			t.Fatalf("claim again = %+v, %v", got, err)
		}
		// A clean shutdown frees its node's claims at once.
		if err := s.NodeGone(ctx, "n3"); err != nil {
			t.Fatal(err)
		}
		if orphans, err := s.OrphanedClaims(ctx, deadLater, 10); err != nil || len(orphans) != 1 || orphans[0].Node != "n3" {
			t.Fatalf("orphans after n3 left = %+v, %v", orphans, err)
		}
	})
}

func TestPlannedBatches(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		var rows []Delivery
		for i := range 30 {
			rows = append(rows, Delivery{AlertID: "a1", Version: 1, Channel: "sms", Recipient: string(rune('A' + i)), Batch: i / 10})
		}
		if err := s.PlanDeliveries(ctx, rows); err != nil {
			t.Fatal(err)
		}
		// Batch 1 is done; batch 2 has one recipient left.
		var ups []DeliveryUpdate
		for _, r := range rows[10:29] {
			ups = append(ups, DeliveryUpdate{AlertID: "a1", Version: 1, Channel: "sms", Recipient: r.Recipient, State: channels.StateSent, Attempt: true})
		}
		if err := s.UpdateDeliveries(ctx, ups); err != nil {
			t.Fatal(err)
		}
		got, err := s.PlannedBatches(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		want := []BatchKey{{"a1", 1, "sms", 0}, {"a1", 1, "sms", 2}}
		if !slices.Equal(got, want) {
			t.Fatalf("PlannedBatches = %v, want %v", got, want)
		}
		if got, _ := s.PlannedBatches(ctx, 1); len(got) != 1 {
			t.Fatalf("PlannedBatches(limit 1) = %v", got)
		}
	})
}
