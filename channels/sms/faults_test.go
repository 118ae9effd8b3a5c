package sms_test

import (
	"fmt"

	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"gopkg.in/yaml.v3"

	"github.com/linxGnu/gosmpp/data"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/channeltest"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/channels/sms/smscsim"
	"github.com/alertcast/alertcast/warning"
)

// A bind that drops mid-batch loses nothing and sends nothing twice: the
// submits it acknowledged are Sent, the unacknowledged ones come back as
// transient failures, and re-running the whole batch (as dispatch does after
// a crash or retry) completes it with exactly one accepted SMS per phone.
func TestBindDropExactlyOnce(t *testing.T) {
	sim := startSim(t, smscsim.Config{Latency: 5 * time.Millisecond})
	gw := smppGW("a", sim.Addr(), 0)
	gw.Binds, gw.Window = 2, 50
	c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{gw}}, channels.Discard, nil)
	waitBound(t, sim, 2)
	to := recipients(0, 1500, "zh")
	m := message(3, false)
	sim.DropAfter(600)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.Send(ctx, m, to)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := mapResults(t, to, res)
	per := sim.PerDest()
	var sent, lost int
	for _, r := range to {
		dest := strings.TrimPrefix(r.Address, "+")
		switch res := got[r.ID]; {
		case res.State == channels.StateSent:
			sent++
			if per[dest] != 1 {
				t.Fatalf("%s reported sent, SMSC accepted %d", r.ID, per[dest])
			}
		case res.State == channels.StateFailed && !channels.IsPermanent(res.Err):
			lost++
			if !errors.Is(res.Err, sms.ErrBindLost) {
				t.Errorf("%s: %v, want ErrBindLost", r.ID, res.Err)
			}
			if per[dest] != 0 {
				t.Fatalf("%s reported lost, SMSC accepted %d", r.ID, per[dest])
			}
		default:
			t.Fatalf("%s: %s %v", r.ID, res.State, res.Err)
		}
	}
	if lost == 0 {
		t.Fatalf("no submit was in flight when the binds dropped (sent %d); the test proves nothing", sent)
	}
	t.Logf("first run: %d sent, %d lost in flight", sent, lost)
	// Re-run the whole batch.
	again := send(t, c, m, to)
	per = sim.PerDest()
	for _, r := range to {
		if !again[r.ID].State.Done() {
			t.Fatalf("re-run: %s %s %v", r.ID, again[r.ID].State, again[r.ID].Err)
		}
		if n := per[strings.TrimPrefix(r.Address, "+")]; n != 1 {
			t.Fatalf("%s accepted %d times", r.ID, n)
		}
		if got[r.ID].State == channels.StateSent && again[r.ID].Ref != got[r.ID].Ref {
			t.Errorf("%s: ref changed on re-run %s → %s", r.ID, got[r.ID].Ref, again[r.ID].Ref)
		}
	}
	if sim.Accepted() != len(to) {
		t.Fatalf("SMSC accepted %d messages for %d phones", sim.Accepted(), len(to))
	}
}

func mapResults(t *testing.T, to []channels.Recipient, res []channels.Result) map[string]channels.Result {
	t.Helper()
	m := map[string]channels.Result{}
	for _, r := range res {
		m[r.RecipientID] = r
	}
	if len(m) != len(to) {
		t.Fatalf("%d results for %d recipients", len(m), len(to))
	}
	return m
}

func TestThrottlingRetriedThenTransient(t *testing.T) {
	t.Run("occasional", func(t *testing.T) {
		sim := startSim(t, smscsim.Config{ThrottleEvery: 7})
		c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", sim.Addr(), 0)}}, channels.Discard, nil)
		to := recipients(0, 200, "zh")
		res := send(t, c, message(2, false), to)
		for id, r := range res {
			if r.State != channels.StateSent {
				t.Fatalf("%s: %s %v", id, r.State, r.Err)
			}
		}
		if sim.Submits() <= len(to) || sim.Accepted() != len(to) {
			t.Fatalf("submits %d accepted %d for %d phones", sim.Submits(), sim.Accepted(), len(to))
		}
	})
	t.Run("always", func(t *testing.T) {
		sim := startSim(t, smscsim.Config{ThrottleEvery: 1})
		c := newChannel(t, sms.Config{Attempts: 3, Gateways: []sms.GatewayConfig{smppGW("a", sim.Addr(), 0)}}, channels.Discard, nil)
		res := send(t, c, message(2, false), recipients(0, 5, "zh"))
		for id, r := range res {
			if r.State != channels.StateFailed || channels.IsPermanent(r.Err) || !errors.Is(r.Err, sms.ErrThrottled) {
				t.Fatalf("%s: %s %v, want transient ErrThrottled", id, r.State, r.Err)
			}
		}
		if sim.Submits() != 15 {
			t.Errorf("%d submits, want 3 attempts × 5", sim.Submits())
		}
	})
}

func TestFailover(t *testing.T) {
	t.Run("gateway down", func(t *testing.T) {
		a := startSim(t, smscsim.Config{})
		b := startSim(t, smscsim.Config{})
		c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", a.Addr(), 0), smppGW("b", b.Addr(), 1)}}, channels.Discard, nil)
		waitChannelBinds(t, c, "a", 2)
		waitChannelBinds(t, c, "b", 2)
		if err := c.Ready(); err != nil {
			t.Fatal(err)
		}
		send(t, c, message(2, false), recipients(0, 100, "zh"))
		if a.Accepted() != 100 || b.Accepted() != 0 {
			t.Fatalf("primary healthy: a %d b %d", a.Accepted(), b.Accepted())
		}
		a.Close()
		// Submits written into the dying binds come back as transient
		// failures; dispatch retries them, as here.
		to := recipients(100, 100, "zh")
		res := send(t, c, message(2, false), to)
		var retry []channels.Recipient
		for _, r := range to {
			switch res := res[r.ID]; {
			case res.State == channels.StateSent:
			case res.State == channels.StateFailed && errors.Is(res.Err, sms.ErrBindLost):
				retry = append(retry, r)
			default:
				t.Fatalf("%s: %s %v", r.ID, res.State, res.Err)
			}
		}
		if len(retry) > 0 {
			for id, r := range send(t, c, message(2, false), retry) {
				if r.State != channels.StateSent || !strings.HasPrefix(r.Ref, "b:") {
					t.Fatalf("retry %s: %s %s %v", id, r.State, r.Ref, r.Err)
				}
			}
		}
		pa, pb := a.PerDest(), b.PerDest()
		for _, r := range to {
			if n := pa[r.Address[1:]] + pb[r.Address[1:]]; n != 1 {
				t.Fatalf("%s accepted %d times", r.ID, n)
			}
		}
		if b.Accepted() < 90 {
			t.Fatalf("backup accepted only %d", b.Accepted())
		}
	})
	t.Run("gateway throttled", func(t *testing.T) {
		a := startSim(t, smscsim.Config{ThrottleEvery: 1})
		b := startSim(t, smscsim.Config{})
		c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", a.Addr(), 0), smppGW("b", b.Addr(), 1)}}, channels.Discard, nil)
		waitChannelBinds(t, c, "a", 2)
		waitChannelBinds(t, c, "b", 2)
		to := recipients(0, 300, "zh")
		res := send(t, c, message(2, false), to)
		for id, r := range res {
			if r.State != channels.StateSent {
				t.Fatalf("%s: %s %v", id, r.State, r.Err)
			}
		}
		per := b.PerDest()
		for _, r := range to {
			if per[strings.TrimPrefix(r.Address, "+")] != 1 {
				t.Fatalf("%s accepted %d times by the backup", r.ID, per[r.Address[1:]])
			}
		}
		if a.Accepted() != 0 {
			t.Fatalf("throttling primary accepted %d", a.Accepted())
		}
	})
	t.Run("no gateway", func(t *testing.T) {
		a := startSim(t, smscsim.Config{})
		addr := a.Addr()
		a.Close()
		c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", addr, 0)}}, channels.Discard, nil)
		// With a deadline, Send waits for a gateway until just before it,
		// then names why none is up.
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		res, err := c.Send(ctx, message(2, false), recipients(0, 3, "zh"))
		if !errors.Is(err, sms.ErrNoGateway) || len(res) != 0 || channels.IsPermanent(err) {
			t.Fatalf("res %v err %v, want transient ErrNoGateway and no results", res, err)
		}
		if ctx.Err() != nil {
			t.Errorf("Send returned at its deadline, not before it: %v", err)
		}
		if !strings.Contains(err.Error(), "a: connection refused") {
			t.Errorf("err %q does not say why gateway a is down", err)
		}
		// Without a deadline it waits noGatewayGrace.
		sms.SetNoGatewayGrace(t, 300*time.Millisecond)
		res, err = c.Send(context.Background(), message(2, false), recipients(0, 3, "zh"))
		if !errors.Is(err, sms.ErrNoGateway) || len(res) != 0 {
			t.Fatalf("no deadline: res %v err %v, want ErrNoGateway and no results", res, err)
		}
		if err := c.Ready(); !errors.Is(err, sms.ErrNoGateway) {
			t.Errorf("Ready: %v", err)
		}
	})
}

func TestWeights(t *testing.T) {
	a := startSim(t, smscsim.Config{})
	b := startSim(t, smscsim.Config{})
	ga, gb := smppGW("a", a.Addr(), 0), smppGW("b", b.Addr(), 0)
	ga.Weight, gb.Weight = 3, 1
	ga.Window, gb.Window = 200, 200
	c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{ga, gb}}, channels.Discard, nil)
	waitChannelBinds(t, c, "a", 2)
	waitChannelBinds(t, c, "b", 2)
	send(t, c, message(2, false), recipients(0, 800, "zh"))
	share := float64(a.Accepted()) / 800
	if share < 0.6 || share > 0.9 {
		t.Fatalf("weight 3:1 gave a %.2f of the traffic (a %d, b %d)", share, a.Accepted(), b.Accepted())
	}
}

// A red warning sent while a drill backlog drains overtakes it.
func TestPriorityOvertakesDrill(t *testing.T) {
	sim := startSim(t, smscsim.Config{Keep: true})
	gw := smppGW("a", sim.Addr(), 0)
	gw.Binds, gw.Window, gw.TPS = 1, 1, 400
	c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{gw}}, channels.Discard, nil)
	waitBound(t, sim, 1)
	drill := recipients(0, 600, "zh")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		send(t, c, message(1, true), drill)
	}()
	waitFor(t, 5*time.Second, "drill under way", func() bool { return sim.Accepted() >= 50 })
	red := recipients(10000, 40, "zh")
	start := time.Now()
	send(t, c, message(4, false), red)
	took := time.Since(start)
	drillDone := sim.Accepted() - len(red)
	wg.Wait()
	if drillDone >= len(drill)-100 {
		t.Fatalf("red finished after %d of %d drill messages: no overtaking", drillDone, len(drill))
	}
	t.Logf("40 red messages in %s while the drill backlog was at %d/%d", took, drillDone, len(drill))
	for _, m := range sim.Messages() {
		if strings.HasPrefix(m.Dest, "86139000100") && m.PriorityFlag != 2 {
			t.Errorf("red message without priority_flag 2: %+v", m.PriorityFlag)
		}
	}
}

func TestMalformedPDUClosesOnlyThatBind(t *testing.T) {
	sim := startSim(t, smscsim.Config{})
	var logs bytes.Buffer
	var mu sync.Mutex
	lw := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", sim.Addr(), 0)}}, channels.Discard, slog.New(slog.NewTextHandler(lw, nil)))
	waitBound(t, sim, 2)
	if !sim.SendGarbage() {
		t.Fatal("no bind to send garbage to")
	}
	waitFor(t, 5*time.Second, "malformed PDU logged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return bytes.Contains(logs.Bytes(), []byte("malformed PDU"))
	})
	res := send(t, c, message(2, false), recipients(0, 50, "zh"))
	for id, r := range res {
		if r.State != channels.StateSent {
			t.Fatalf("%s: %s %v", id, r.State, r.Err)
		}
	}
	waitBound(t, sim, 2) // the broken bind came back
}

// What reaches the SMSC: UCS-2 (data_coding 8) for Chinese and Uyghur with
// concatenation UDH whose parts decode back to the rendered segments;
// GSM-7 (data_coding 0) for Latin text.
func TestWireEncoding(t *testing.T) {
	sim := startSim(t, smscsim.Config{Keep: true})
	c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", sim.Addr(), 0)}}, channels.Discard, nil)
	m := message(3, false)
	m.Expires = time.Now().Add(6 * time.Hour)
	m.Texts["zh"] = channels.Text{Headline: "沙尘暴红色预警", Description: longZh, Instruction: "请关好门窗。"}
	m.Texts["en"] = channels.Text{Headline: "Sandstorm", Description: "Visibility below 50 m {gusts 11}.", Instruction: "Stay inside."}
	to := []channels.Recipient{
		{ID: "zh", Address: "+8613900000001", Language: "zh"},
		{ID: "ug", Address: "+8613900000002", Language: "ug"},
		{ID: "en", Address: "+8613900000003", Language: "en"},
	}
	send(t, c, m, to)
	byDest := map[string][]smscsim.Message{}
	for _, sm := range sim.Messages() {
		byDest[sm.Dest] = append(byDest[sm.Dest], sm)
	}
	for _, r := range to {
		want, err := sms.Render(m, r.Language, sms.Config{})
		if err != nil {
			t.Fatal(err)
		}
		parts := byDest[r.Address[1:]]
		if len(parts) != want.Parts {
			t.Fatalf("%s: %d parts on the wire, rendered %d", r.ID, len(parts), want.Parts)
		}
		for _, p := range parts {
			if want := m.Expires.UTC().Format("060102150405") + "000+"; p.Validity != want {
				t.Errorf("%s: validity_period %q, want %q", r.ID, p.Validity, want)
			}
			wantCoding := byte(8)
			if want.Encoding == sms.GSM7 {
				wantCoding = 0
			}
			if p.DataCoding != wantCoding {
				t.Errorf("%s: data_coding %d, want %d", r.ID, p.DataCoding, wantCoding)
			}
			idx := 0
			if want.Parts > 1 {
				if int(p.Total) != want.Parts || p.Part < 1 || int(p.Part) > want.Parts || p.Ref != parts[0].Ref {
					t.Fatalf("%s: UDH total %d part %d ref %d", r.ID, p.Total, p.Part, p.Ref)
				}
				idx = int(p.Part) - 1
			}
			var text string
			if wantCoding == 8 {
				u := make([]uint16, len(p.Raw)/2)
				for i := range u {
					u[i] = uint16(p.Raw[2*i])<<8 | uint16(p.Raw[2*i+1])
				}
				text = string(utf16.Decode(u))
			} else {
				text = p.Text
			}
			if text != want.Segments[idx] {
				t.Errorf("%s part %d: %q, want %q", r.ID, idx+1, text, want.Segments[idx])
			}
		}
	}
}

func TestDedupAcrossSends(t *testing.T) {
	sim := startSim(t, smscsim.Config{})
	c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", sim.Addr(), 0)}}, channels.Discard, nil)
	to := recipients(0, 50, "zh")
	first := send(t, c, message(2, false), to)
	second := send(t, c, message(2, false), to)
	for id, r := range second {
		if r.State != channels.StateSent || r.Ref != first[id].Ref || r.Detail != "already submitted" {
			t.Fatalf("%s: %+v", id, r)
		}
	}
	if sim.Accepted() != 50 {
		t.Fatalf("SMSC accepted %d for 50 phones", sim.Accepted())
	}
	// A new version of the warning is a new message.
	m2 := message(2, false)
	m2.Key = "alert-2/v2"
	send(t, c, m2, to)
	if sim.Accepted() != 100 {
		t.Fatalf("v2: SMSC accepted %d", sim.Accepted())
	}
}

func TestConfigValidate(t *testing.T) {
	good := smppGW("a", "127.0.0.1:2775", 0)
	cases := []struct {
		cfg   sms.Config
		field string
	}{
		{sms.Config{}, "sms.gateways"},
		{sms.Config{MaxParts: -1, Gateways: []sms.GatewayConfig{good}}, "sms.max_parts"},
		{sms.Config{DefaultLanguage: "fr", Gateways: []sms.GatewayConfig{good}}, "sms.default_language"},
		{sms.Config{Gateways: []sms.GatewayConfig{{Type: "carrier-pigeon"}}}, "sms.gateways[0].type"},
		{sms.Config{Gateways: []sms.GatewayConfig{{Type: "smpp"}}}, "sms.gateways[0].addr"},
		{sms.Config{Gateways: []sms.GatewayConfig{good, good}}, "sms.gateways[1].name"},
		{sms.Config{Gateways: []sms.GatewayConfig{{Type: "smpp", Addr: "x:1", Password: "longerthan8"}}}, "sms.gateways[0].password"},
		{sms.Config{Gateways: []sms.GatewayConfig{{Type: "kannel", URL: "ftp://x"}}}, "sms.gateways[0].url"},
		{sms.Config{Gateways: []sms.GatewayConfig{{Type: "webhook", URL: "https://x/send"}}}, "sms.gateways[0].hmac_secret"},
		{sms.Config{Gateways: []sms.GatewayConfig{{Type: "smpp", Addr: "x:1", TPS: -1}}}, "sms.gateways[0].tps"},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		var fe *warning.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: %v, want a FieldError on %s", tc.cfg, err, tc.field)
		}
		if err != nil && strings.Contains(err.Error(), "longerthan8") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	if err := (sms.Config{Gateways: []sms.GatewayConfig{good}}).Validate(); err != nil {
		t.Errorf("good config: %v", err)
	}
	// Every problem at once, not the first of them.
	err := sms.Config{MaxParts: -1, Gateways: []sms.GatewayConfig{good, {Type: "smpp"}, {Type: "kannel", URL: "ftp://x", Workers: 999}}}.Validate()
	for _, want := range []string{"sms.max_parts", "sms.gateways[1].addr", "sms.gateways[2].url", "sms.gateways[2].workers"} {
		if err == nil || !strings.Contains(err.Error(), want+":") {
			t.Errorf("all problems: %v, want one naming %s", err, want)
		}
	}
	// Without gateways the settings are still checked (the outbox and
	// previews render with them), and the missing gateway is not a problem.
	if err := (sms.Config{DefaultLanguage: "fr"}).ValidateSettings(); err == nil || !strings.Contains(err.Error(), "sms.default_language") {
		t.Errorf("settings without gateways: %v", err)
	}
	if err := (sms.Config{}).ValidateSettings(); err != nil {
		t.Errorf("default settings: %v", err)
	}
}

// An SMSC that stops answering: the bind is declared dead after
// ResponseTimeout, its unanswered submits come back transient, Send returns.
func TestStalledSMSC(t *testing.T) {
	sim := startSim(t, smscsim.Config{Latency: time.Hour})
	gw := smppGW("a", sim.Addr(), 0)
	gw.ResponseTimeout = 300 * time.Millisecond
	c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{gw}}, channels.Discard, nil)
	waitBound(t, sim, 2)
	start := time.Now()
	res := send(t, c, message(2, false), recipients(0, 10, "zh"))
	for id, r := range res {
		if r.State != channels.StateFailed || channels.IsPermanent(r.Err) || !errors.Is(r.Err, sms.ErrBindLost) {
			t.Fatalf("%s: %s %v", id, r.State, r.Err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s to give up on a silent SMSC", d)
	}
	if sim.Accepted() != 0 {
		t.Fatalf("accepted %d", sim.Accepted())
	}
}

const sampleYAML = `
signature: "【疏勒县应急管理局】"
max_parts: 4
drill_marker: {zh: "【演练】"}
gateways:
  - name: cmcc
    type: smpp
    addr: 10.1.2.3:2775
    system_id: shule
    password: s3cret
    source_addr: "12379"
    binds: 4
    window: 50
    tps: 500
    enquire_link: 20s
    priority: 0
  - name: kannel
    type: kannel
    url: http://127.0.0.1:13013/cgi-bin/sendsms
    username: alertcast
    password: kpw
    dlr_url: https://alertd.example/sms/dlr
    priority: 1
  - name: cloud
    type: webhook
    url: https://sms.example.com/v1/send
    hmac_secret: whsec
    priority: 1
    weight: 2
`

func TestConfigYAML(t *testing.T) {
	var cfg sms.Config
	if err := yaml.Unmarshal([]byte(sampleYAML), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g := cfg.Gateways[0]
	if cfg.MaxParts != 4 || g.Binds != 4 || g.TPS != 500 || g.EnquireLink != 20*time.Second || cfg.Gateways[2].Weight != 2 {
		t.Errorf("decoded %+v", cfg)
	}
	if s := fmt.Sprint(g); strings.Contains(s, "s3cret") {
		t.Errorf("GatewayConfig prints its password: %s", s)
	}
}

// A refused bind is reported by its SMPP status, by name and number, with
// what to check — in the log, in Status (the console) and in Ready /
// Readiness (/readyz) — never as "EOF": SMSCs answer a refused bind with a
// header-only bind_resp.
func TestBindRefusalNamed(t *testing.T) {
	for _, tc := range []struct {
		status data.CommandStatusType
		want   string
	}{
		{data.ESME_RINVPASWD, "ESME_RINVPASWD (0x0E): the SMSC refused the password — check sms.gateways[a].password"},
		{data.ESME_RINVSYSID, "ESME_RINVSYSID (0x0F): the SMSC does not know this system_id — check sms.gateways[a].system_id"},
		{data.ESME_RBINDFAIL, "ESME_RBINDFAIL (0x0D): the SMSC refused the bind without saying why"},
		{data.ESME_RALYBND, "ESME_RALYBND (0x05)"},
	} {
		t.Run(tc.status.String(), func(t *testing.T) {
			sim := startSim(t, smscsim.Config{})
			sim.RefuseBindsWith(tc.status)
			var logs logBuffer
			c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", sim.Addr(), 0)}}, channels.Discard, logs.logger())
			waitFor(t, 5*time.Second, "a refused bind in Status", func() bool {
				st := c.Status()
				return len(st) == 1 && st[0].Error != ""
			})
			st := c.Status()[0]
			if !strings.Contains(st.Error, tc.want) || st.Healthy || st.Binds != 0 || st.ErrorAt == nil {
				t.Errorf("Status = %+v, want an unhealthy gateway whose error contains %q", st, tc.want)
			}
			err := c.Ready()
			if !errors.Is(err, sms.ErrNoGateway) || !strings.Contains(err.Error(), "a: bind refused: "+tc.want) {
				t.Errorf("Ready = %v, want ErrNoGateway naming %q", err, tc.want)
			}
			waitFor(t, 5*time.Second, "the refusal logged", func() bool { return strings.Contains(logs.String(), tc.want) })
			if l := logs.String(); strings.Contains(l, "EOF") || strings.Contains(l, "malformed") || strings.Contains(l, testPassword) {
				t.Errorf("log says EOF, malformed or the password:\n%s", l)
			}
		})
	}
}

// A connection the SMSC resets is called a reset, one it closes a close;
// neither is a "malformed PDU". The reason shows in Status while the bind
// is down, and the binds come back.
func TestConnectionEndsNamed(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(*smscsim.Server)
		want string
	}{
		{"reset", (*smscsim.Server).ResetBinds, "connection reset by SMSC"},
		{"close", (*smscsim.Server).DropBinds, "connection closed by SMSC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := startSim(t, smscsim.Config{})
			var logs logBuffer
			gw := smppGW("a", sim.Addr(), 0)
			gw.Binds = 1
			c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{gw}}, channels.Discard, logs.logger())
			waitChannelBinds(t, c, "a", 1)
			tc.end(sim)
			waitFor(t, 5*time.Second, "the lost bind logged", func() bool { return strings.Contains(logs.String(), "sms bind lost") })
			l := logs.String()
			if !strings.Contains(l, tc.want) {
				t.Errorf("log does not say %q:\n%s", tc.want, l)
			}
			if strings.Contains(l, "malformed") {
				t.Errorf("a %s is logged as a malformed PDU:\n%s", tc.name, l)
			}
			waitChannelBinds(t, c, "a", 1) // and it binds again
		})
	}
}

// While no gateway is up, Send keeps its recipients queued until shortly
// before its deadline instead of failing after a fixed grace (and waiting
// for the task queue's retry backoff): the first submit follows the
// re-accepted bind within a second, as the simulator's own clock shows.
func TestSendResumesWhenBindComesBack(t *testing.T) {
	sim := startSim(t, smscsim.Config{Keep: true})
	sim.RefuseBindsWith(data.ESME_RBINDFAIL)
	// A grace this short would fail the Send long before the binds come
	// back; it must not apply to a Send with a deadline.
	sms.SetNoGatewayGrace(t, 50*time.Millisecond)
	gw := smppGW("a", sim.Addr(), 0)
	gw.Binds = 1
	c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{gw}}, channels.Discard, nil)
	to := recipients(0, 20, "zh")
	type out struct {
		res []channels.Result
		err error
	}
	done := make(chan out, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		res, err := c.Send(ctx, message(3, false), to)
		done <- out{res, err}
	}()
	// Three refusals span ~0.7 s of bind backoff: far past the grace.
	waitFor(t, 10*time.Second, "3 refused binds", func() bool { return len(sim.BindLog()) >= 3 })
	select {
	case o := <-done:
		t.Fatalf("Send returned while no bind was up: %v %v", o.res, o.err)
	default:
	}
	sim.RefuseBindsWith(data.ESME_ROK)
	var o out
	select {
	case o = <-done:
	case <-ctx.Done():
		t.Fatal("Send did not finish after the binds came back")
	}
	if o.err != nil {
		t.Fatalf("Send: %v", o.err)
	}
	for id, r := range channeltest.CheckResults(t, to, o.res) {
		if r.State != channels.StateSent {
			t.Fatalf("%s: %s %v", id, r.State, r.Err)
		}
	}
	var bound time.Time
	for _, e := range sim.BindLog() {
		if e.Status == data.ESME_ROK {
			bound = e.At
			break
		}
	}
	msgs := sim.Messages()
	if bound.IsZero() || len(msgs) == 0 {
		t.Fatalf("bind log %v, %d messages", sim.BindLog(), len(msgs))
	}
	first := msgs[0].At
	for _, m := range msgs {
		if m.At.Before(first) {
			first = m.At
		}
	}
	if lag := first.Sub(bound); lag < 0 || lag > time.Second {
		t.Fatalf("first submit %s after the bind was accepted, want within 1 s", lag)
	}
	t.Logf("first submit %s after the bind came back", first.Sub(bound))
}

// During an outage only MaxHeldSends Sends hold their worker to their
// deadline; one more gives up after the short grace, so SMS batches cannot
// occupy every task queue worker while the SMSC is down.
func TestHeldSendsBounded(t *testing.T) {
	a := startSim(t, smscsim.Config{})
	addr := a.Addr()
	a.Close()
	c := newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", addr, 0)}}, channels.Discard, nil)
	sms.SetNoGatewayGrace(t, 50*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, sms.MaxHeldSends+1)
	for i := range sms.MaxHeldSends + 1 {
		go func() {
			_, err := c.Send(ctx, message(2, false), recipients(i*10, 2, "zh"))
			errs <- err
		}()
	}
	select {
	case err := <-errs:
		if !errors.Is(err, sms.ErrNoGateway) {
			t.Fatalf("first Send to return: %v, want ErrNoGateway", err)
		}
	case <-ctx.Done():
		t.Fatal("no Send gave up after the grace")
	}
	// One more Send cannot hold either: it gives up after the grace, which
	// is time enough for the others to have given up too had they not held.
	if _, err := c.Send(ctx, message(2, false), recipients(1000, 2, "zh")); !errors.Is(err, sms.ErrNoGateway) {
		t.Fatalf("Send beyond the held ones: %v, want ErrNoGateway", err)
	}
	// The others hold: none has returned (Close releases them below).
	select {
	case err := <-errs:
		t.Fatalf("a second Send returned while %d may hold: %v", sms.MaxHeldSends, err)
	default:
	}
	c.Close()
	for range sms.MaxHeldSends {
		if err := <-errs; !errors.Is(err, channels.ErrClosed) {
			t.Errorf("held Send after Close: %v, want ErrClosed", err)
		}
	}
}

// refTable stands in for dispatch's delivery_refs: it keeps each Result.Ref
// the way the writer records it, and outlives the channel.
type refTable struct {
	mu sync.Mutex
	m  map[string]sms.SentRef
}

func (r *refTable) record(key string, res map[string]channels.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, x := range res {
		if x.Ref != "" {
			r.m[x.Ref] = sms.SentRef{Key: key, RecipientID: id}
		}
	}
}

func (r *refTable) LookupRefs(_ context.Context, refs []string) (map[string]sms.SentRef, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]sms.SentRef{}
	for _, ref := range refs {
		if s, ok := r.m[ref]; ok {
			out[ref] = s
		}
	}
	return out, nil
}

// Receipts that arrive after a restart (a new channel, the same store) are
// matched through the recorded refs: delivered and undelivered phones are
// reported as such for their message and recipient, not counted unknown.
func TestReceiptsAfterRestartMatched(t *testing.T) {
	sim := startSim(t, smscsim.Config{Keep: true, Outcome: func(dest string) (string, string) {
		if strings.HasSuffix(dest, "01") {
			return "UNDELIV", "001"
		}
		return "DELIVRD", "000"
	}})
	refs := &refTable{m: map[string]sms.SentRef{}}
	cfg := sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", sim.Addr(), 0)}, Refs: refs}
	first := newChannel(t, cfg, channels.Discard, nil)
	m := message(3, false)
	to := recipients(0, 3, "zh")
	sent := send(t, first, m, to)
	refs.record(m.Key, sent)
	first.Close()

	rec := &recorder{}
	second := newChannel(t, cfg, rec, nil)
	waitChannelBinds(t, second, "a", 1)
	msgs := sim.Messages()
	if len(msgs) != len(to) {
		t.Fatalf("SMSC accepted %d messages, want %d", len(msgs), len(to))
	}
	for _, msg := range msgs {
		if !sim.SendReceipt(msg) {
			t.Fatalf("no bind took the receipt for %s", msg.ID)
		}
	}
	waitFor(t, 10*time.Second, "a receipt per recipient", func() bool { return rec.len() >= len(to) })
	got := rec.byRef()
	for _, r := range to {
		rc, ok := got[sent[r.ID].Ref]
		if !ok {
			t.Fatalf("%s (ref %s): no receipt reported", r.ID, sent[r.ID].Ref)
		}
		want := channels.StateDelivered
		if strings.HasSuffix(r.Address, "01") {
			want = channels.StateFailed
		}
		if rc.Key != m.Key || rc.RecipientID != r.ID || rc.State != want || rc.Channel != sms.Name {
			t.Errorf("%s: receipt %+v, want %s for %s", r.ID, rc, want, m.Key)
		}
	}
}
