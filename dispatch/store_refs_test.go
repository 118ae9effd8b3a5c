package dispatch

import (
	"context"
	"testing"

	"github.com/alertcast/alertcast/channels"
)

// A provider ref written with a result is found again by DeliveryRefs —
// what lets an SMS receipt that arrives after a restart name its record —
// on that channel only; unknown refs are absent.
func TestDeliveryRefsLookup(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		var rows []Delivery
		for _, r := range []string{"r1", "r2"} {
			rows = append(rows, Delivery{AlertID: "S1", Version: 2, Channel: "sms", Recipient: r})
		}
		rows = append(rows, Delivery{AlertID: "S1", Version: 2, Channel: "speaker", Recipient: "d1"})
		if err := s.PlanDeliveries(ctx, rows); err != nil {
			t.Fatal(err)
		}
		err := s.UpdateDeliveries(ctx, []DeliveryUpdate{
			{AlertID: "S1", Version: 2, Channel: "sms", Recipient: "r1", State: channels.StateSent, Ref: "a:1f"},
			{AlertID: "S1", Version: 2, Channel: "sms", Recipient: "r2", State: channels.StateSent, Ref: "a:20"},
			{AlertID: "S1", Version: 2, Channel: "speaker", Recipient: "d1", State: channels.StateSent, Ref: "a:21"},
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.DeliveryRefs(ctx, "sms", []string{"a:1f", "a:20", "a:21", "b:1f"})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]DeliveryRef{"a:1f": {"S1", 2, "r1"}, "a:20": {"S1", 2, "r2"}}
		if len(got) != len(want) || got["a:1f"] != want["a:1f"] || got["a:20"] != want["a:20"] {
			t.Fatalf("DeliveryRefs = %v, want %v", got, want)
		}
		if k := got["a:1f"].Key(); k != "S1/v2" {
			t.Errorf("Key = %q", k)
		}
		if id, v, ok := ParseKey(got["a:1f"].Key()); !ok || id != "S1" || v != 2 {
			t.Errorf("Key does not parse back: %q %d %v", id, v, ok)
		}
	})
}
