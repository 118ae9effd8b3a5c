package sms_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/channeltest"
	"github.com/alertcast/alertcast/channels/sms"
)

const webhookSecret = "whsec-do-not-log-me"

// fakeProvider is a cloud SMS provider behind a signed JSON webhook: 200
// with a message id, 429 for "+86139...29", 400 for "+86139...40".
type fakeProvider struct {
	srv      *httptest.Server
	mu       sync.Mutex
	got      []sms.WebhookRequest
	accepted atomic.Int64
	badSig   atomic.Int64
}

func newFakeProvider(t testing.TB) *fakeProvider {
	p := &fakeProvider{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get(sms.SignatureHeader) != sms.Sign(webhookSecret, body) {
			p.badSig.Add(1)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var req sms.WebhookRequest
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch {
		case strings.HasSuffix(req.To, "29"):
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		case strings.HasSuffix(req.To, "40"):
			http.Error(w, "unknown subscriber", http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.got = append(p.got, req)
		p.mu.Unlock()
		p.accepted.Add(1)
		json.NewEncoder(w).Encode(sms.WebhookResponse{MessageID: "prov-" + req.ID})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func webhookGW(p *fakeProvider) sms.GatewayConfig {
	return sms.GatewayConfig{Name: "cloud", Type: "webhook", URL: p.srv.URL + "/send", HMACSecret: webhookSecret, Workers: 4}
}

// postReceipt plays the provider calling the DLR handler back.
func postReceipt(t testing.TB, h http.Handler, gw, secret string, rc sms.WebhookReceipt) int {
	body, _ := json.Marshal(rc)
	req := httptest.NewRequest(http.MethodPost, "/sms/dlr?gw="+gw, bytes.NewReader(body))
	req.Header.Set(sms.SignatureHeader, sms.Sign(secret, body))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code
}

func TestWebhookGateway(t *testing.T) {
	p := newFakeProvider(t)
	rec := &recorder{}
	c := newChannel(t, sms.Config{Attempts: 2, Gateways: []sms.GatewayConfig{webhookGW(p)}}, rec, nil)
	to := []channels.Recipient{
		{ID: "ok", Address: "+8613900000001", Language: "zh"},
		{ID: "throttled", Address: "+8613900000029", Language: "zh"},
		{ID: "rejected", Address: "+8613900000040", Language: "zh"},
	}
	m := message(3, false)
	res := send(t, c, m, to)
	if r := res["ok"]; r.State != channels.StateSent || !strings.HasPrefix(r.Ref, "cloud:prov-") {
		t.Fatalf("ok: %+v", r)
	}
	if r := res["throttled"]; r.State != channels.StateFailed || channels.IsPermanent(r.Err) || !errors.Is(r.Err, sms.ErrThrottled) {
		t.Errorf("429: %+v", r)
	}
	if r := res["rejected"]; r.State != channels.StateFailed || !channels.IsPermanent(r.Err) {
		t.Errorf("400: %+v", r)
	}
	want, _ := sms.Render(m, "zh", sms.Config{})
	p.mu.Lock()
	got := p.got[0]
	p.mu.Unlock()
	if got.Text != want.Text || got.Encoding != sms.UCS2 || got.Parts != want.Parts || got.To != "+8613900000001" {
		t.Errorf("provider got %+v", got)
	}
	// Receipt callbacks: signed ones count, forged ones are refused.
	id := strings.TrimPrefix(res["ok"].Ref, "cloud:")
	h := c.DLRHandler()
	if code := postReceipt(t, h, "cloud", "wrong-secret", sms.WebhookReceipt{MessageID: id, Status: "delivered"}); code != http.StatusUnauthorized {
		t.Errorf("forged receipt: %d", code)
	}
	if code := postReceipt(t, h, "cloud", webhookSecret, sms.WebhookReceipt{MessageID: id, Status: "failed", ErrorCode: "E123"}); code != http.StatusNoContent {
		t.Fatalf("receipt: %d", code)
	}
	waitFor(t, 2*time.Second, "receipt", func() bool { return rec.len() == 1 })
	rc := rec.byRef()[res["ok"].Ref]
	if rc.State != channels.StateFailed || rc.Detail != "FAILED err:E123" || rc.RecipientID != "ok" {
		t.Errorf("receipt %+v", rc)
	}
	if code := postReceipt(t, h, "cloud", webhookSecret, sms.WebhookReceipt{MessageID: id, Status: "bogus"}); code != http.StatusBadRequest {
		t.Errorf("bad status: %d", code)
	}
	if p.badSig.Load() != 0 {
		t.Errorf("provider saw %d bad signatures", p.badSig.Load())
	}
}

func TestKannelDLRNeedsSignature(t *testing.T) {
	c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{{Name: "kannel", Type: "kannel", URL: "http://127.0.0.1:1/cgi-bin/sendsms"}}}, channels.Discard, nil)
	w := httptest.NewRecorder()
	c.DLRHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/sms/dlr?gw=kannel&id=x-1&type=1&sig=forged", nil))
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("forged Kannel DLR: %d", w.Code)
	}
}

// The shared suite against the webhook gateway (the HTTP path).
func TestConformanceWebhook(t *testing.T) {
	var (
		mu sync.Mutex
		p  *fakeProvider
		ch *sms.Channel
		n  atomic.Int64
	)
	channeltest.Run(t, channeltest.Harness{
		New: func(t *testing.T, env channeltest.Env) channels.Channel {
			mu.Lock()
			p = newFakeProvider(t)
			gw := webhookGW(p)
			mu.Unlock()
			gw.TPS = 2000
			c := newChannel(t, sms.Config{Attempts: 1, Gateways: []sms.GatewayConfig{gw}}, env.Reporter, env.Logger)
			mu.Lock()
			ch = c
			mu.Unlock()
			return c
		},
		Receipts: true,
		TriggerReceipts: func(t *testing.T, res []channels.Result) {
			mu.Lock()
			h := ch.DLRHandler()
			mu.Unlock()
			for _, r := range res {
				id := strings.TrimPrefix(r.Ref, "cloud:")
				if code := postReceipt(t, h, "cloud", webhookSecret, sms.WebhookReceipt{MessageID: id, Status: "delivered"}); code != http.StatusNoContent {
					t.Fatalf("receipt for %s: %d", r.RecipientID, code)
				}
			}
		},
		Good: func(t *testing.T, k int) []channels.Recipient {
			out := make([]channels.Recipient, k)
			for i := range out {
				// Numbers ending 1..8 then 0, never 29/40 (the provider's faults).
				v := n.Add(1)*10 + 1
				out[i] = channels.Recipient{ID: fmt.Sprint("w", v), Address: fmt.Sprintf("+86139%08d", v), Language: "ug"}
			}
			return out
		},
		Permanent: func(t *testing.T) channels.Recipient {
			return channels.Recipient{ID: "rejected", Address: "+8613900000040"}
		},
		Transient: func(t *testing.T) channels.Recipient {
			return channels.Recipient{ID: "throttled", Address: "+8613900000029"}
		},
		Delivered: func() int {
			mu.Lock()
			defer mu.Unlock()
			return int(p.accepted.Load())
		},
		CancelBatch: 3000,
		Secret:      webhookSecret,
	})
}
