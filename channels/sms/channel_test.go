package sms_test

import (
	"runtime"

	"bytes"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linxGnu/gosmpp/data"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/channeltest"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/channels/sms/smscsim"
	"github.com/alertcast/alertcast/internal/testsvc"
)

func TestConformance(t *testing.T) {
	var (
		mu  sync.Mutex
		sim *smscsim.Server
		n   atomic.Int64
	)
	channeltest.Run(t, channeltest.Harness{
		New: func(t *testing.T, env channeltest.Env) channels.Channel {
			s := startSim(t, smscsim.Config{Latency: time.Millisecond, Receipts: true,
				Reject: func(dest string) data.CommandStatusType {
					if dest == "8613900000099" {
						return data.ESME_RSYSERR // transient at the SMSC
					}
					return smscsim.DefaultReject(dest)
				}})
			mu.Lock()
			sim = s
			mu.Unlock()
			gw := smppGW("primary", s.Addr(), 0)
			gw.Binds, gw.Window, gw.TPS = 1, 5, 2000
			c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{gw}}, env.Reporter, env.Logger)
			waitBound(t, s, 1)
			return c
		},
		Good: func(t *testing.T, k int) []channels.Recipient {
			return recipients(int(n.Add(int64(k)))-k, k, "zh")
		},
		Permanent: func(t *testing.T) channels.Recipient {
			return channels.Recipient{ID: "bad-number", Address: "12", Language: "zh"}
		},
		Transient: func(t *testing.T) channels.Recipient {
			return channels.Recipient{ID: "smsc-error", Address: "+8613900000099", Language: "zh"}
		},
		Receipts: true,
		Delivered: func() int {
			mu.Lock()
			defer mu.Unlock()
			return sim.Submits()
		},
		CancelBatch: 3000, // at 2000 TPS: 1.5 s of work
		Secret:      testPassword,
	})
}

func TestReceiptsAndOutcomes(t *testing.T) {
	sim := startSim(t, smscsim.Config{Receipts: true, Outcome: func(dest string) (string, string) {
		switch dest[len(dest)-1] {
		case '1':
			return "UNDELIV", "012"
		case '2':
			return "EXPIRED", "000"
		}
		return "DELIVRD", "000"
	}})
	rec := &recorder{}
	var logs bytes.Buffer
	c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", sim.Addr(), 0)}}, rec, slog.New(slog.NewTextHandler(&logs, nil)))
	to := recipients(0, 30, "zh")
	res := send(t, c, message(2, false), to)
	waitFor(t, 5*time.Second, "30 receipts", func() bool { return rec.len() >= 30 })
	got := rec.byRef()
	for _, r := range to {
		ref := res[r.ID].Ref
		rc, ok := got[ref]
		if !ok {
			t.Fatalf("no receipt for %s ref %s", r.ID, ref)
		}
		want := channels.StateDelivered
		switch r.Address[len(r.Address)-1] {
		case '1':
			want = channels.StateFailed
			if rc.Detail != "UNDELIV err:012" {
				t.Errorf("detail %q, want carrier error code", rc.Detail)
			}
		case '2':
			want = channels.StateExpired
		}
		if rc.State != want || rc.RecipientID != r.ID || rc.Key != "alert-2-false/v1" || rc.Channel != "sms" {
			t.Errorf("%s: receipt %+v, want state %s", r.ID, rc, want)
		}
	}
}

func TestUnknownReceiptCountedNotFatal(t *testing.T) {
	// A second channel sharing the SMSC account gets receipts for messages
	// it never sent: counted, logged, nothing else.
	sim := startSim(t, smscsim.Config{Receipts: true, ReceiptDelay: 50 * time.Millisecond})
	var logs bytes.Buffer
	var mu sync.Mutex
	lw := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	bystander := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", sim.Addr(), 0)}}, channels.Discard, slog.New(slog.NewTextHandler(lw, nil)))
	_ = bystander
	waitBound(t, sim, 2)
	rec := &recorder{}
	sender := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", sim.Addr(), 0)}}, rec, nil)
	waitBound(t, sim, 4)
	send(t, sender, message(1, false), recipients(0, 40, "zh"))
	waitFor(t, 5*time.Second, "unknown receipt logged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return bytes.Contains(logs.Bytes(), []byte("unknown message id"))
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Close unbinds and stops every goroutine the channel started.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	sim, err := smscsim.Start(smscsim.Config{Receipts: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := sms.New(sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", sim.Addr(), 0)}}, channels.Discard, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	send(t, c, message(2, false), recipients(0, 20, "zh"))
	start := time.Now()
	c.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %s", d)
	}
	c.Close()
	sim.Close()
	testsvc.NoGoroutinesLeft(t, before, 5*time.Second)
}
