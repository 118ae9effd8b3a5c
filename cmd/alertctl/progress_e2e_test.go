package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/internal/alertd"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/targeting"
)

const e2eToken = "progress-e2e-admin-token-0123456789"

// startAlertd runs a whole alertd with no SMS gateway and no voice: those
// channels are the outbox, as on a fresh install following the README.
func startAlertd(t *testing.T) string {
	t.Helper()
	rs := testsvc.Redis(t)
	cfg := alertd.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Redis = rs.URL()
	cfg.AdminToken = e2eToken
	cfg.LogLevel = "warn"
	cfg.BatchSize = 200 // many batches: planning and sending take a while to sample
	cfg.SendChunk = 50
	cfg.Outbox = []string{"speaker", "sms", "voice"}
	s, err := alertd.Start(context.Background(), cfg, io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("start alertd: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown() })
	base := "http://" + s.Addr
	var res, spk bytes.Buffer
	if err := targeting.GeneratePopulation(targeting.DefaultTree(), targeting.DefaultOutline(), 20000, 300, 7, &res, &spk); err != nil {
		t.Fatal(err)
	}
	apiDo(t, base, "POST", "/api/v1/residents/import", res.Bytes(), 200)
	apiDo(t, base, "POST", "/api/v1/speakers/import", spk.Bytes(), 200)
	return base
}

func apiDo(t *testing.T, base, method, path string, body []byte, want int) []byte {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	return b
}

func runAlertctl(t *testing.T, base string, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ALERTCTL_RUN_MAIN=1", "ALERTCAST_URL="+base, "ALERTCAST_TOKEN="+e2eToken)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("alertctl %v: exit %d: %s", args, ee.ExitCode(), errb.String())
		}
		t.Fatal(err)
	}
	return out.String()
}

// TestProgressWithoutGatewayNeverSaysDelivered issues a county-wide blue
// warning on a system without an SMS gateway and samples its progress from
// the API the whole way: the SMS channel is in outbox mode from the first
// sample, it never counts a record as sent or delivered, and the overall
// percentage never goes backwards (none while planning, then only up).
// At the end, alertctl status — reading the same API fields — says NOT
// SENT (outbox) and the API lists sms under overall.outbox.
func TestProgressWithoutGatewayNeverSaysDelivered(t *testing.T) {
	base := startAlertd(t)
	body := `{"event":"sandstorm","level":"blue","status":"actual","area":{"codes":["653122"]},
		"channels":["speaker","sms","websocket"],
		"text":{"zh":{"headline":"疏勒县沙尘暴蓝色预警","description":"预计今天下午有沙尘暴。","instruction":"请关好门窗。"},
		        "ug":{"headline":"قۇم بورىنى ئاگاھلاندۇرۇشى","description":"بۈگۈن قۇم بورىنى بولىدۇ.","instruction":"ئىشىك-دېرىزىلەرنى ئېتىۋېلىڭ."}},
		"expires":"2030-01-01T18:00:00+08:00"}`
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(apiDo(t, base, "POST", "/api/v1/alerts", []byte(body), 201), &created); err != nil {
		t.Fatal(err)
	}
	var (
		last                     alertView
		samples, planningSamples int
		lastPct                  = -1
		phases                   []string
		deadline                 = time.Now().Add(120 * time.Second)
	)
	for {
		var v alertView
		if err := json.Unmarshal(apiDo(t, base, "GET", "/api/v1/alerts/"+created.ID, nil, 200), &v); err != nil {
			t.Fatal(err)
		}
		samples++
		if n := len(phases); n == 0 || phases[n-1] != v.Overall.Phase {
			phases = append(phases, v.Overall.Phase)
		}
		sms := v.Progress["sms"]
		if sms.Mode != "outbox" || sms.Delivered != 0 || sms.Sent != 0 || sms.Unconfirmed != 0 {
			t.Fatalf("sample %d: SMS without a gateway shows %+v", samples, sms)
		}
		if v.Overall.Percent == nil {
			if lastPct >= 0 {
				t.Fatalf("sample %d: the percentage went from %d%% back to none (phase %s)", samples, lastPct, v.Overall.Phase)
			}
			planningSamples++
		} else {
			if *v.Overall.Percent < lastPct {
				t.Fatalf("sample %d: overall progress went backwards: %d%% → %d%% (phase %s)", samples, lastPct, *v.Overall.Percent, v.Overall.Phase)
			}
			lastPct = *v.Overall.Percent
		}
		last = v
		if v.Overall.Phase == "done" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done after %d samples: %+v", samples, v.Overall)
		}
	}
	t.Logf("%d samples (%d without a percentage), phases %v", samples, planningSamples, phases)
	if samples < 3 {
		t.Fatalf("only %d samples: the run was too short to show anything about monotonic progress", samples)
	}
	if last.Overall.NotSent == 0 || last.Overall.NotSent != last.Progress["sms"].NotSent+last.Progress["speaker"].NotSent ||
		!strings.Contains(strings.Join(last.Overall.Outbox, ","), "sms") {
		t.Fatalf("done: overall %+v, sms %+v", last.Overall, last.Progress["sms"])
	}
	if *last.Overall.Percent != 100 {
		t.Fatalf("done at %d%%", *last.Overall.Percent)
	}

	// The metrics come from the same model.
	metrics := string(apiDo(t, base, "GET", "/metrics", nil, 200))
	smsNotSent := last.Progress["sms"].NotSent
	for _, want := range []string{
		fmt.Sprintf(`alertcast_progress_records{alert_id=%q,channel="sms",outbox="1",state="not_sent"} %d`, created.ID, smsNotSent),
		fmt.Sprintf(`alertcast_progress_records{alert_id=%q,channel="sms",outbox="1",state="delivered"} 0`, created.ID),
		fmt.Sprintf(`alertcast_progress_percent{alert_id=%q} 100`, created.ID),
		fmt.Sprintf(`alertcast_deliveries_not_sent_total{channel="sms"} %d`, smsNotSent),
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, `alertcast_deliveries_sent_total{channel="sms"}`) {
		t.Errorf("/metrics counts outbox SMS as sent")
	}

	out := runAlertctl(t, base, "status", "--once", created.ID)
	t.Logf("alertctl status:\n%s", out)
	var smsLine string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "sms ") {
			smsLine = l
		}
	}
	if !strings.Contains(smsLine, "NOT SENT (outbox)") || !strings.Contains(smsLine, "delivered 0") {
		t.Errorf("alertctl's SMS line does not say NOT SENT: %q", smsLine)
	}
	if !strings.Contains(out, "NOT SENT (outbox: sms, speaker)") {
		t.Errorf("alertctl's overall line does not name the outbox channels:\n%s", out)
	}
}
