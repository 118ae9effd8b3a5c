package dispatch

import (
	"context"
	"fmt"
	"testing"

	"github.com/alertcast/alertcast/channels"
)

// BenchmarkDeliveryWrites measures the SQLite writer's cost per recipient
// of a county-wide SMS warning: plan the record, record the submit result
// (with the carrier's message id) and apply the delivery report. Reported
// as µs per recipient for each of the three writes.
//
//	go test -run '^$' -bench DeliveryWrites -benchtime 3x ./dispatch/
func BenchmarkDeliveryWrites(b *testing.B) {
	const n, chunk = 100_000, 1000
	ctx := context.Background()
	var planT, resT, rcptT float64
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		s, err := OpenStore(ctx, "", b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		id := fmt.Sprintf("B%d", it)
		rows := make([]Delivery, n)
		for i := range rows {
			rows[i] = Delivery{AlertID: id, Version: 1, Channel: "sms", Recipient: fmt.Sprint(100000 + i), Address: fmt.Sprintf("+86138%08d", i), Language: "zh", Batch: i / chunk}
		}
		b.StartTimer()
		t := b.Elapsed()
		for i := 0; i < n; i += 10 * chunk {
			if err := s.PlanDeliveries(ctx, rows[i:i+10*chunk]); err != nil {
				b.Fatal(err)
			}
		}
		planT += float64(b.Elapsed() - t)
		t = b.Elapsed()
		for i := 0; i < n; i += chunk {
			ups := make([]DeliveryUpdate, chunk)
			for j := range ups {
				ups[j] = DeliveryUpdate{AlertID: id, Version: 1, Channel: "sms", Recipient: rows[i+j].Recipient, State: channels.StateSent, Attempt: true, Ref: fmt.Sprintf("sim:%x", i+j)}
			}
			if err := s.UpdateDeliveries(ctx, ups); err != nil {
				b.Fatal(err)
			}
		}
		resT += float64(b.Elapsed() - t)
		t = b.Elapsed()
		for i := 0; i < n; i += chunk {
			rs := make([]channels.Receipt, chunk)
			for j := range rs {
				rs[j] = channels.Receipt{Channel: "sms", Key: id + "/v1", RecipientID: rows[i+j].Recipient, Ref: fmt.Sprintf("sim:%x", i+j), State: channels.StateDelivered, Detail: "DELIVRD"}
			}
			if _, err := s.ApplyReceipts(ctx, rs); err != nil {
				b.Fatal(err)
			}
		}
		rcptT += float64(b.Elapsed() - t)
		b.StopTimer()
		s.Close()
	}
	per := float64(b.N) * n * 1000 // ns → µs per recipient
	b.ReportMetric(planT/per, "plan-µs/rcpt")
	b.ReportMetric(resT/per, "result-µs/rcpt")
	b.ReportMetric(rcptT/per, "receipt-µs/rcpt")
}
