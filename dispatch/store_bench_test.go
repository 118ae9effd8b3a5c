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
// as µs per recipient for each of the three writes. The writes come in the
// engine's sizes: plans ten default batches (1,000 recipients each) at a
// time, submit results one send chunk at a time — the default send_chunk
// of 200, and 1,000 (send_chunk = batch_size) for comparison — and
// receipts as the receipt loop flushes them, up to 1,000.
//
//	go test -run '^$' -bench DeliveryWrites -benchtime 3x ./dispatch/
func BenchmarkDeliveryWrites(b *testing.B) {
	for _, chunk := range []int{200, 1000} {
		b.Run(fmt.Sprintf("send_chunk=%d", chunk), func(b *testing.B) { benchDeliveryWrites(b, chunk) })
	}
}

func benchDeliveryWrites(b *testing.B, chunk int) {
	const n, batch, receipts = 100_000, 1000, 1000
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
			rows[i] = Delivery{AlertID: id, Version: 1, Channel: "sms", Recipient: fmt.Sprint(100000 + i), Address: fmt.Sprintf("+86138%08d", i), Language: "zh", Batch: i / batch}
		}
		b.StartTimer()
		t := b.Elapsed()
		for i := 0; i < n; i += 10 * batch {
			if err := s.PlanDeliveries(ctx, rows[i:i+10*batch]); err != nil {
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
		for i := 0; i < n; i += receipts {
			rs := make([]channels.Receipt, receipts)
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
