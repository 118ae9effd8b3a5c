package alertd

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/alertcast/alertcast/channels/sms/smscsim"
	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/agent"
)

// TestSMSWithoutReceiptIsUnconfirmed sends through a real SMPP gateway (the
// simulator) that accepts every SMS and never sends a delivery report.
// Progress must not read "delivered" nor 100 %: the SMS stay "sent" until
// progress.sms_unconfirmed_after has passed since they were handed over,
// then show as "unconfirmed", and the warning's phase says so.
func TestSMSWithoutReceiptIsUnconfirmed(t *testing.T) {
	sim, err := smscsim.Start(smscsim.Config{SystemID: "alertcast", Password: "pw8chars"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	const after = 2 * time.Second
	s := startServer(t, func(c *Config) {
		c.Outbox = []string{"speaker", "websocket", "voice"}
		c.Progress.SMSUnconfirmedAfter = after
		if err := yaml.Unmarshal([]byte(fmt.Sprintf(`gateways: [{name: sim, type: smpp, addr: %q, system_id: alertcast, password: pw8chars, source_addr: "12379"}]`, sim.Addr())), &c.SMS); err != nil {
			t.Fatal(err)
		}
	})
	importPopulation(t, s.Base, 300, 5)
	op := addUser(t, s.Base, "op", "operator")
	body := `{"event":"gale","level":"blue","status":"actual","area":{"codes":["653122"]},"channels":["sms"],
		"text":{"zh":{"headline":"大风蓝色预警","instruction":"请加固门窗。"},"ug":{"headline":"شامال ئاگاھلاندۇرۇشى","instruction":"ئىشىك-دېرىزىلەرنى مۇستەھكەملەڭ."}},"expires":"2030-01-01T18:00:00+08:00"}`
	issued := time.Now()
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, body, 201)["id"].(string)

	var sms map[string]float64
	var ov map[string]any
	sawSent := false
	waitFor(t, 60*time.Second, "every SMS unconfirmed", func() bool {
		before := time.Now()
		_, out := call(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil)
		sms = progressOf(out)["sms"]
		ov, _ = out["overall"].(map[string]any)
		if sms["delivered"] != 0 || out["progress"].(map[string]any)["sms"].(map[string]any)["mode"] != "live" {
			t.Fatalf("no delivery report was sent, yet SMS progress is %v", sms)
		}
		// Nothing was handed over before the warning was issued: nothing
		// can be unconfirmed sooner than that plus the configured time.
		if before.Sub(issued) < after && sms["unconfirmed"] != 0 {
			t.Fatalf("%v after issue, %v SMS already unconfirmed (configured %s)", before.Sub(issued), sms["unconfirmed"], after)
		}
		if sms["sent"] > 0 {
			sawSent = true
			if p, ok := ov["percent"].(float64); ok && p == 100 {
				t.Fatalf("SMS without a delivery report read as 100 %%: %v", ov)
			}
		}
		return sms["planned"] > 0 && sms["unconfirmed"] == sms["planned"]
	})
	if ov["phase"] != "unconfirmed" || ov["unconfirmed"].(float64) != sms["planned"] || ov["delivered"].(float64) != 0 {
		t.Fatalf("overall %v with every SMS unconfirmed", ov)
	}
	if p, _ := ov["percent"].(float64); p != 0 {
		t.Fatalf("overall percent %v: unconfirmed SMS are not done", p)
	}
	if sim.Accepted() < int(sms["planned"]) {
		t.Fatalf("the SMSC accepted %d of %v: the SMS were not all sent", sim.Accepted(), sms["planned"])
	}
	t.Logf("%v SMS unconfirmed after %s (sent state seen first: %v)", sms["planned"], after, sawSent)
}

// TestUnconfirmedAfterIsValidated: a zero or tiny setting would call every
// SMS unconfirmed at once; the error names the setting.
func TestUnconfirmedAfterIsValidated(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Minute, 500 * time.Millisecond} {
		c := Defaults()
		c.Progress.SMSUnconfirmedAfter = d
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "progress.sms_unconfirmed_after") {
			t.Errorf("%s: %v", d, err)
		}
	}
	c := Defaults()
	if err := c.Validate(); err != nil || c.Progress.SMSUnconfirmedAfter != 10*time.Minute {
		t.Fatalf("defaults: %v, %s", err, c.Progress.SMSUnconfirmedAfter)
	}
}

// TestOfflineSpeakerIsHeld: a loudspeaker that is offline when a warning
// goes out is "held", not "sent" — and not done — until it comes back and
// plays; the warning's phase says commands are held.
func TestOfflineSpeakerIsHeld(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Outbox = []string{"sms", "voice"} })
	mustCall(t, s.Base, "POST", "/api/v1/residents/import", testAdminToken, "phone,village,groups,language\n13800000001,653122100001,herders,zh\n", 200)
	mustCall(t, s.Base, "POST", "/api/v1/speakers/import", testAdminToken, "id,village\nSPK-ON,653122100001\nSPK-OFF,653122100002\n", 200)
	pub, err := speaker.ParsePublicKey(mustCall(t, s.Base, "GET", "/api/v1/speakers/key", "", nil, 200)["public_key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	dev := map[string]agent.SimDevice{}
	for _, id := range []string{"SPK-ON", "SPK-OFF"} {
		e := mustCall(t, s.Base, "POST", "/api/v1/speakers/"+id+"/enroll", testAdminToken, nil, 200)
		dev[id] = agent.SimDevice{ID: id, Credential: e["credential"].(string)}
	}
	simulate := func(id string) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- agent.Simulate(ctx, agent.SimConfig{URL: s.Base, PublicKey: pub, Devices: []agent.SimDevice{dev[id]}})
		}()
		t.Cleanup(func() { cancel(); <-done })
	}
	online := func(id string) bool {
		for _, d := range mustCall(t, s.Base, "GET", "/api/v1/speakers", testAdminToken, nil, 200)["status"].([]any) {
			if m := d.(map[string]any); m["id"] == id && m["online"] == true {
				return true
			}
		}
		return false
	}
	simulate("SPK-ON")
	waitFor(t, 15*time.Second, "SPK-ON online", func() bool { return online("SPK-ON") })

	op := addUser(t, s.Base, "op", "operator")
	body := strings.Replace(string(exampleBody(t)), `"orange"`, `"yellow"`, 1)
	body = strings.Replace(body, `"audience":{"groups":["herders"]}`, `"audience":{}`, 1)
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, body, 201)["id"].(string)
	var p map[string]float64
	var ov map[string]any
	read := func() {
		_, out := call(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil)
		p, ov = progressOf(out)["speaker"], out["overall"].(map[string]any)
	}
	waitFor(t, 30*time.Second, "the online speaker played, the offline one held", func() bool {
		read()
		return p["delivered"] == 1 && p["held"] == 1
	})
	if p["planned"] != 2 || p["sent"] != 0 || p["done"] != 1 || p["percent"] != 50 {
		t.Fatalf("speaker progress %v: the offline speaker must be held, not sent nor done", p)
	}
	if ov["held"].(float64) != 1 {
		t.Fatalf("overall %v", ov)
	}
	// Websocket and the outbox finish; the held command keeps the warning
	// from reading done.
	waitFor(t, 30*time.Second, "phase held", func() bool { read(); return ov["phase"] == "held" })

	// Back within validity: it plays, and the record is delivered.
	simulate("SPK-OFF")
	waitFor(t, 30*time.Second, "the held command played", func() bool {
		read()
		return p["delivered"] == 2 && p["held"] == 0
	})
	if ov["phase"] != "done" || ov["held"].(float64) != 0 {
		t.Fatalf("after the speaker came back: overall %v", ov)
	}
}
