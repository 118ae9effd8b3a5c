package sms_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/channels/sms/smscsim"
)

// alertcast_sms_receipt_lag_seconds{gateway} counts one observation per
// final receipt, each at least the SMSC's receipt delay after the submit
// was acknowledged.
func TestReceiptLagHistogram(t *testing.T) {
	const delay = 300 * time.Millisecond
	sim := startSim(t, smscsim.Config{Receipts: true, ReceiptDelay: delay})
	reg := prometheus.NewRegistry()
	rec := &recorder{}
	c, err := sms.New(sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", sim.Addr(), 0)}}, rec, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	send(t, c, message(2, false), recipients(0, 10, "zh"))
	waitFor(t, 10*time.Second, "10 receipts", func() bool { return rec.len() >= 10 })

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "alertcast_sms_receipt_lag_seconds" {
			continue
		}
		m := mf.GetMetric()
		if len(m) != 1 || m[0].GetLabel()[0].GetValue() != "a" {
			t.Fatalf("receipt lag series %v, want one for gateway a", m)
		}
		h := m[0].GetHistogram()
		if h.GetSampleCount() != 10 {
			t.Errorf("receipt lag samples %d, want 10 (one per final receipt)", h.GetSampleCount())
		}
		if min := h.GetSampleSum() / float64(h.GetSampleCount()); min < delay.Seconds()*0.9 {
			t.Errorf("mean receipt lag %.3fs, want at least the SMSC's %s receipt delay", min, delay)
		}
		return
	}
	t.Fatal("alertcast_sms_receipt_lag_seconds not exported")
}

var _ channels.Reporter = (*recorder)(nil)
