package alertd

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"gopkg.in/yaml.v3"

	"github.com/alertcast/alertcast/channels/voice"
	"github.com/alertcast/alertcast/channels/voice/rtcclient"
	"github.com/alertcast/alertcast/channels/voice/wire"
	"github.com/alertcast/alertcast/dispatch"
)

func voiceSection(t *testing.T, src string) VoiceConfig {
	t.Helper()
	var vc VoiceConfig
	if err := yaml.Unmarshal([]byte(src), &vc); err != nil {
		t.Fatal(err)
	}
	return vc
}

func TestVoiceLiveConfig(t *testing.T) {
	for _, tc := range []struct {
		src     string
		want    voice.ThresholdPolicy
		timeout time.Duration
		err     string
	}{
		{src: "enabled: true", want: voice.DefaultLivePolicy()},
		{src: "live_approval_levels: [yellow, orange, red]\nlive_approval_county_wide: false\nlive_approval_timeout: 90s",
			want: voice.ThresholdPolicy{Levels: []int{2, 3, 4}, MaxTownships: 3}, timeout: 90 * time.Second},
		{src: "live_approval_levels: []\nlive_approval_max_townships: 5", want: voice.ThresholdPolicy{CountyWide: true, MaxTownships: 5}},
		{src: "live_approval_levels: [red, purple]", err: "voice.live_approval_levels[1]: \"purple\" is not a level"},
		{src: "live_approval_max_townships: -1", err: "voice.live_approval_max_townships"},
	} {
		vc := voiceSection(t, tc.src)
		p, err := vc.livePolicy()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one containing %q", tc.src, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.src, err)
			continue
		}
		if p.CountyWide != tc.want.CountyWide || p.MaxTownships != tc.want.MaxTownships || len(p.Levels) != len(tc.want.Levels) {
			t.Errorf("%q: policy %+v, want %+v", tc.src, p, tc.want)
		}
		for i := range p.Levels {
			if p.Levels[i] != tc.want.Levels[i] {
				t.Errorf("%q: policy %+v, want %+v", tc.src, p, tc.want)
			}
		}
		if vc.LiveApprovalTimeout != tc.timeout {
			t.Errorf("%q: timeout %s, want %s", tc.src, vc.LiveApprovalTimeout, tc.timeout)
		}
	}
	// The sample documents the defaults.
	cfg, err := Load([]string{"--config", "../../deploy/alertcast.yaml"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	sample := cfg.Voice
	if p, err := sample.livePolicy(); err != nil || p.CountyWide != true || p.MaxTownships != 3 || len(p.Levels) != 2 || p.Levels[0] != 3 || p.Levels[1] != 4 ||
		sample.LiveApprovalTimeout != 2*time.Minute || sample.recordDir("/d") != "/d/recordings" {
		t.Errorf("sample voice section: %+v %v", p, err)
	}

	var vc VoiceConfig
	if vc.recordDir("/d") != "/d/recordings" {
		t.Errorf("recording is not on by default: %q", vc.recordDir("/d"))
	}
	off := false
	vc.Record = &off
	if vc.recordDir("/d") != "" {
		t.Error("record: false does not turn recording off")
	}
}

// TestVoiceLiveAudited: through a whole alertd, an operator's red live
// announcement waits for an approver; once approved and finished, the
// dispatch audit log holds the request, the approval, the start and the end
// with who, who approved, region, level, times, reason and the recording,
// which is on disk.
func TestVoiceLiveAudited(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.Outbox = []string{"speaker", "sms", "websocket"}
		c.Voice = voiceSection(t, "loopback: true")
	})
	op := addUser(t, s.Base, "op1", "operator")
	chief := addUser(t, s.Base, "chief1", "approver")
	wsURL := "ws" + strings.TrimPrefix(s.Base, "http") + "/voice/ws"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	requests := make(chan wire.Frame, 8)
	approver, err := rtcclient.Dial(ctx, wsURL, chief, rtcclient.Config{Loopback: true, OnFrame: func(f wire.Frame) {
		if f.Type == wire.TypeLiveRequest && f.State == wire.LivePending {
			requests <- f
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer approver.Close()
	officer, err := rtcclient.Dial(ctx, wsURL, op, rtcclient.Config{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer officer.Close()

	type result struct {
		pub *rtcclient.Publication
		err error
	}
	live := make(chan result, 1)
	go func() {
		p, err := officer.GoLive(ctx, "653122100", 4)
		live <- result{p, err}
	}()
	var req wire.Frame
	select {
	case req = <-requests:
	case r := <-live:
		t.Fatalf("an operator went live at red without approval: %+v", r)
	case <-ctx.Done():
		t.Fatal("the approver was not shown the request")
	}
	if err := approver.Send(wire.Frame{Type: wire.TypeApprove, Request: req.Request}); err != nil {
		t.Fatal(err)
	}
	r := <-live
	if r.err != nil {
		t.Fatalf("GoLive after approval: %v", r.err)
	}
	select {
	case <-r.pub.Connected:
	case <-ctx.Done():
		t.Fatal("publisher not connected")
	}
	for seq := uint16(1); seq <= 10; seq++ {
		if err := r.pub.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960},
			Payload: []byte{0xF8, 0x01, 0x02, 0x03}}); err != nil {
			t.Fatal(err)
		}
	}
	// The recording row comes when the file is closed, after the room ends.
	waitAudit := func(action string) dispatch.AuditEntry {
		t.Helper()
		for {
			es, err := s.store.AuditLog(ctx, 0, "", 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if e.Action == action {
					return e
				}
			}
			select {
			case <-ctx.Done():
				t.Fatalf("no %s in the audit log", action)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	// Packets reach the recorder before the publisher leaves: wait until
	// the SFU has seen the publisher's track, then end.
	publishing := func() bool {
		rs := s.voice.Rooms()
		return len(rs) == 1 && len(rs[0].Members) == 1 && rs[0].Members[0].Publishing
	}
	for !publishing() {
		select {
		case <-ctx.Done():
			t.Fatal("the SFU never saw the publisher's audio")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := officer.Send(wire.Frame{Type: wire.TypeEnd, Room: r.pub.Room}); err != nil {
		t.Fatal(err)
	}

	detail := func(e dispatch.AuditEntry) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(e.Detail), &m); err != nil {
			t.Fatalf("%s detail %q: %v", e.Action, e.Detail, err)
		}
		return m
	}
	if e := waitAudit(voice.AuditLiveRequest); e.Actor != "op1" {
		t.Errorf("request row %+v", e)
	}
	if e := waitAudit(voice.AuditLiveApprove); e.Actor != "chief1" || detail(e)["approved_by"] != "chief1" {
		t.Errorf("approve row %+v", e)
	}
	start := waitAudit(voice.AuditLiveStart)
	d := detail(start)
	if start.Actor != "op1" || d["started_by"] != "op1" || d["approved_by"] != "chief1" || d["approval"] != "approved" ||
		d["room"] != r.pub.Room || d["level"] != 4.0 || d["started"] == nil || d["recording"] != "on" {
		t.Errorf("start row %+v", start)
	}
	if regions, _ := d["regions"].([]any); len(regions) != 1 || regions[0] != "653122100" {
		t.Errorf("start row regions %v", d["regions"])
	}
	end := waitAudit(voice.AuditLiveEnd)
	d = detail(end)
	recs, _ := d["recordings"].([]any)
	if end.Actor != "op1" || d["reason"] != "ended by op1" || d["ended"] == nil || d["approved_by"] != "chief1" || len(recs) != 1 {
		t.Fatalf("end row %+v", end)
	}
	rec := waitAudit("voice.recording")
	if !strings.Contains(rec.Detail, recs[0].(string)) {
		t.Errorf("recording row %s does not name %s", rec.Detail, recs[0])
	}
	if st, err := os.Stat(recs[0].(string)); err != nil || st.Size() == 0 {
		t.Errorf("recording %v: %v", recs[0], err)
	}
}
