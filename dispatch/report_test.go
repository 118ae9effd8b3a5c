package dispatch_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/storetest"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// reportFixture is a drill warning with known receipts: two townships, ten
// loudspeakers, nine SMS recipients (one no longer registered) and the
// WebSocket broadcast; then a cancel. Every receipt time is in the past so
// the store keeps it as the record's time.
type reportFixture struct {
	id       string
	t0       time.Time // composed
	tw       [2]targeting.Region
	villages [2]string
	offline  map[string]bool
}

func (f *reportFixture) at(sec int) time.Time { return f.t0.Add(time.Duration(sec) * time.Second) }

func newReportFixture(t *testing.T, s *dispatch.Store) *reportFixture {
	t.Helper()
	ctx := context.Background()
	tree := targeting.DefaultTree()
	f := &reportFixture{id: "RPT1", t0: time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond), offline: map[string]bool{"s08": true}}
	for i := range 2 {
		f.tw[i] = tree.Townships()[i]
		f.villages[i] = tree.Children(f.tw[i].Code)[0].Code
	}
	var sps []targeting.Speaker
	for i := 1; i <= 10; i++ {
		sps = append(sps, targeting.Speaker{ID: fmt.Sprintf("s%02d", i), Village: f.villages[(i-1)/5]})
	}
	var rs []targeting.Resident
	for i := 1; i <= 8; i++ {
		rs = append(rs, targeting.Resident{ID: uint32(i), Phone: fmt.Sprintf("1380000000%d", i), Village: f.villages[(i-1)/4], Language: "zh"})
	}
	if err := s.UpsertSpeakers(ctx, sps); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertResidents(ctx, rs); err != nil {
		t.Fatal(err)
	}
	a := &dispatch.Alert{ID: f.id, Version: 1, Event: warning.EventSandstorm, Level: warning.LevelOrange, Status: warning.StatusExercise,
		State: warning.StatePending, Kind: warning.KindAlert, Area: dispatch.Area{Codes: []string{f.tw[0].Code, f.tw[1].Code}},
		Channels: []string{"speaker", "sms", "websocket"}, Text: map[string]dispatch.Text{"zh": {Headline: "演练：沙尘暴橙色预警"}},
		Expires: time.Now().Add(24 * time.Hour).UTC().Truncate(time.Millisecond), CreatedBy: "olga", CreatedAt: f.t0, UpdatedAt: f.t0}
	if _, _, err := s.InsertAlert(ctx, a, "", dispatch.AuditEntry{Actor: "olga", Remote: "10.0.0.5", Action: "alert.create"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateAlert(ctx, f.id, func(a *dispatch.Alert) (dispatch.Change, error) {
		a.State, a.IssuedAt, a.ApprovedBy, a.ApprovedAt = warning.StateIssued, f.at(1), "aziz", f.at(1)
		return dispatch.Change{Dispatch: true, Audit: dispatch.AuditEntry{Actor: "aziz", Action: "alert.approve", Detail: `{"reason":"met office confirmed"}`}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	var rows []dispatch.Delivery
	for _, sp := range sps {
		rows = append(rows, dispatch.Delivery{AlertID: f.id, Version: 1, Channel: "speaker", Recipient: sp.ID})
	}
	for i := 1; i <= 8; i++ {
		rows = append(rows, dispatch.Delivery{AlertID: f.id, Version: 1, Channel: "sms", Recipient: strconv.Itoa(i)})
	}
	rows = append(rows, dispatch.Delivery{AlertID: f.id, Version: 1, Channel: "sms", Recipient: "999"},
		dispatch.Delivery{AlertID: f.id, Version: 1, Channel: "websocket", Recipient: "broadcast"})
	if err := s.PlanDeliveries(ctx, rows); err != nil {
		t.Fatal(err)
	}
	for ch, n := range map[string]int{"speaker": 10, "sms": 9, "websocket": 1} {
		if err := s.SavePlan(ctx, dispatch.Plan{AlertID: f.id, Version: 1, Channel: ch, Recipients: n, Batches: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var ups []dispatch.DeliveryUpdate
	for _, r := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "999"} {
		ups = append(ups, dispatch.DeliveryUpdate{AlertID: f.id, Version: 1, Channel: "sms", Recipient: r, State: channels.StateSent, Attempt: true})
	}
	ups = append(ups, dispatch.DeliveryUpdate{AlertID: f.id, Version: 1, Channel: "websocket", Recipient: "broadcast", State: channels.StateDelivered, Attempt: true})
	if err := s.UpdateDeliveries(ctx, ups); err != nil {
		t.Fatal(err)
	}
	key := f.id + "/v1"
	rc := func(ch, who string, st channels.State, detail string, sec int) channels.Receipt {
		return channels.Receipt{Channel: ch, Key: key, RecipientID: who, State: st, Detail: detail, At: f.at(sec)}
	}
	batches := [][]channels.Receipt{
		{rc("speaker", "s02", channels.StateSent, "playing", 3), rc("speaker", "s08", channels.StateSent, "playing", 4),
			rc("speaker", "s01", channels.StateSent, "playing", 5), rc("speaker", "s09", channels.StateSent, "received", 6)},
		// "playing" and "played" in one batch: the record keeps "played",
		// the first sound is still the "playing".
		{rc("speaker", "s03", channels.StateSent, "playing", 2), rc("speaker", "s03", channels.StateDelivered, "played", 30)},
		{rc("speaker", "s01", channels.StateDelivered, "played", 10), rc("speaker", "s02", channels.StateDelivered, "played", 11),
			rc("speaker", "s04", channels.StateDelivered, "played", 12), rc("speaker", "s05", channels.StateDelivered, "played", 13),
			rc("speaker", "s06", channels.StateDelivered, "played", 14), rc("speaker", "s07", channels.StateFailed, "refused: stale command", 20)},
		{rc("sms", "1", channels.StateDelivered, "DELIVRD", 40), rc("sms", "2", channels.StateDelivered, "DELIVRD", 41),
			rc("sms", "3", channels.StateDelivered, "DELIVRD", 42), rc("sms", "4", channels.StateDelivered, "DELIVRD", 43),
			rc("sms", "5", channels.StateDelivered, "DELIVRD", 44), rc("sms", "6", channels.StateFailed, "undeliverable", 50),
			rc("sms", "7", channels.StateFailed, "undeliverable", 51), rc("sms", "999", channels.StateFailed, "unknown number", 52)},
	}
	for i, b := range batches {
		m, err := s.ApplyReceipts(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(m, slices.Repeat([]bool{true}, len(b))) {
			t.Fatalf("receipt batch %d: matched %v", i, m)
		}
	}
	if _, err := s.UpdateAlert(ctx, f.id, func(a *dispatch.Alert) (dispatch.Change, error) {
		a.Kind, a.State, a.IssuedAt, a.Reason = warning.KindCancel, warning.StateCancelled, time.Now().UTC(), "passed north"
		return dispatch.Change{NewVersion: true, Audit: dispatch.AuditEntry{Actor: "olga", Action: "alert.cancel", Detail: `{"reason":"passed north"}`}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *reportFixture) sources(t *testing.T) dispatch.ReportSources {
	return dispatch.ReportSources{Tree: targeting.DefaultTree(), UnconfirmedAfter: map[string]time.Duration{"sms": 10 * time.Minute},
		OfflineSpeakers: func(_ context.Context, ids []string) int {
			n := 0
			for _, id := range ids {
				if f.offline[id] {
					n++
				}
			}
			return n
		}}
}

// TestReportKnownReceipts checks a report against an oracle worked out by
// hand from the fixture's receipts: timeline, per channel and per township
// counts, milestone times, failures, loudspeakers and actions.
func TestReportKnownReceipts(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, s *dispatch.Store) {
		ctx := context.Background()
		f := newReportFixture(t, s)
		rep, err := dispatch.BuildReport(ctx, s, f.id, f.sources(t))
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Drill || rep.Version != 2 || rep.State != warning.StateCancelled || rep.ReachVersion != 1 || rep.Headline != "演练：沙尘暴橙色预警" {
			t.Errorf("head: drill %v version %d state %s reach v%d headline %q", rep.Drill, rep.Version, rep.State, rep.ReachVersion, rep.Headline)
		}
		// The WebSocket record's time is the worker's, read back here.
		ws, err := s.ListDeliveries(ctx, dispatch.DeliveryFilter{AlertID: f.id, Version: 1, Channel: "websocket"})
		if err != nil || len(ws) != 1 {
			t.Fatalf("websocket record: %v %v", ws, err)
		}
		wsAt := ws[0].UpdatedAt
		audit, err := s.AuditLog(ctx, 0, f.id, 100)
		if err != nil || len(audit) != 3 {
			t.Fatalf("audit: %v %v", audit, err)
		}
		want := []dispatch.TimelineEvent{
			{At: f.t0, Event: "composed", Version: 1, Actor: "olga"},
			{At: f.at(1), Event: "issued", Version: 1, Actor: "aziz"},
			{At: f.at(2), Event: "first_sound", Version: 1, Channel: "speaker"},
			// speaker: done at 10,11,12,13,14 (played), 20 (failed), 30
			// (played): 50 % of 10 is the 5th; 95 % (10th) never came.
			{At: f.at(14), Event: "reached_50", Version: 1, Channel: "speaker"},
			// sms: done at 40..44, 50, 51, 52; 50 % of 9 is the 5th.
			{At: f.at(44), Event: "reached_50", Version: 1, Channel: "sms"},
			{At: wsAt, Event: "reached_50", Version: 1, Channel: "websocket"},
			{At: wsAt, Event: "reached_95", Version: 1, Channel: "websocket"},
			{At: wsAt, Event: "reached_100", Version: 1, Channel: "websocket"},
			{At: audit[1].At, Event: "approved", Actor: "aziz", Detail: "met office confirmed"},
			{At: audit[2].At, Event: "cancelled", Actor: "olga", Detail: "passed north"},
		}
		slices.SortStableFunc(want, func(a, b dispatch.TimelineEvent) int { return a.At.Compare(b.At) })
		if len(rep.Timeline) != len(want) {
			t.Fatalf("timeline has %d events, want %d:\n%+v", len(rep.Timeline), len(want), rep.Timeline)
		}
		for i := range want {
			g := rep.Timeline[i]
			if !g.At.Equal(want[i].At) || g.Event != want[i].Event || g.Version != want[i].Version || g.Channel != want[i].Channel ||
				g.Actor != want[i].Actor || g.Detail != want[i].Detail {
				t.Errorf("timeline[%d] = %+v, want %+v", i, g, want[i])
			}
		}
		if len(rep.Versions) != 1 || rep.Versions[0].Version != 1 {
			t.Fatalf("versions %+v, want v1 only (the cancel reached nobody)", rep.Versions)
		}
		type counts struct{ planned, queued, sent, held, delivered, failed, done, pct int }
		of := func(p dispatch.Progress) counts {
			pct := -1
			if p.Percent != nil {
				pct = *p.Percent
			}
			return counts{p.Planned, p.Queued, p.Sent, p.Held, p.Delivered, p.Failed, p.Done, pct}
		}
		chans := rep.Versions[0].Channels
		for ch, w := range map[string]counts{
			"speaker":   {planned: 10, queued: 1, sent: 1, held: 1, delivered: 6, failed: 1, done: 7, pct: 70},
			"sms":       {planned: 9, sent: 1, delivered: 5, failed: 3, done: 8, pct: 88},
			"websocket": {planned: 1, delivered: 1, done: 1, pct: 100},
		} {
			if g := of(chans[ch].Progress); g != w {
				t.Errorf("%s: %+v, want %+v", ch, g, w)
			}
		}
		if ov := rep.Versions[0].Overall; ov.Planned != 20 || ov.Done != 16 || ov.Delivered != 12 || ov.Held != 1 || ov.Phase != dispatch.PhaseSending {
			t.Errorf("overall %+v", ov)
		}
		if g := chans["speaker"].FirstSound; !g.Equal(f.at(2)) {
			t.Errorf("first sound %v, want %v", g, f.at(2))
		}
		reach := map[string]map[string]counts{}
		for _, tw := range rep.Reach {
			reach[tw.Code] = map[string]counts{}
			for ch, p := range tw.Channels {
				reach[tw.Code][ch] = of(p)
			}
			if tw.Code == f.tw[0].Code && tw.Name != f.tw[0].Name {
				t.Errorf("township %s named %q, want %q", tw.Code, tw.Name, f.tw[0].Name)
			}
		}
		wantReach := map[string]map[string]counts{
			f.tw[0].Code: {"speaker": {planned: 5, delivered: 5, done: 5, pct: 100}, "sms": {planned: 4, delivered: 4, done: 4, pct: 100}},
			f.tw[1].Code: {"speaker": {planned: 5, queued: 1, sent: 1, held: 1, delivered: 1, failed: 1, done: 2, pct: 40},
				"sms": {planned: 4, sent: 1, delivered: 1, failed: 2, done: 3, pct: 75}},
			"": {"sms": {planned: 1, failed: 1, done: 1, pct: 100}, "websocket": {planned: 1, delivered: 1, done: 1, pct: 100}},
		}
		if fmt.Sprint(reach) != fmt.Sprint(wantReach) {
			t.Errorf("reach\n got %v\nwant %v", reach, wantReach)
		}
		// The townships add up to the channel totals.
		for ch := range chans {
			sum := 0
			for _, tw := range rep.Reach {
				sum += tw.Channels[ch].Planned
			}
			if sum != chans[ch].Planned {
				t.Errorf("%s: townships plan %d, channel %d", ch, sum, chans[ch].Planned)
			}
		}
		wantFails := []dispatch.FailureGroup{{"sms", "undeliverable", 2}, {"sms", "unknown number", 1}, {"speaker", "refused: stale command", 1}}
		if !slices.Equal(rep.Failures, wantFails) {
			t.Errorf("failures %+v, want %+v", rep.Failures, wantFails)
		}
		var spk []string
		for _, sp := range rep.Speakers {
			spk = append(spk, sp.ID+":"+sp.Outcome)
			if sp.Township != f.tw[1].Code || sp.Village != f.villages[1] {
				t.Errorf("speaker %s placed in %s/%s", sp.ID, sp.Township, sp.Village)
			}
		}
		if w := []string{"s07:failed", "s08:held", "s09:sent", "s10:planned"}; !slices.Equal(spk, w) {
			t.Errorf("speakers %v, want %v", spk, w)
		}
		var acts []string
		for _, a := range rep.Actions {
			acts = append(acts, a.Actor+" "+a.Action)
		}
		if w := []string{"olga alert.create", "aziz alert.approve", "olga alert.cancel"}; !slices.Equal(acts, w) {
			t.Errorf("actions %v, want %v", acts, w)
		}
		if rep.Actions[0].Remote != "10.0.0.5" {
			t.Errorf("action remote %q", rep.Actions[0].Remote)
		}
	})
}

// TestReportCSVParsesBack writes the fixture's report as CSV and reads it
// back with encoding/csv: every row has the header's width and the values
// of the JSON report.
func TestReportCSVParsesBack(t *testing.T) {
	s := storetest.SQLite(t)
	f := newReportFixture(t, s)
	rep, err := dispatch.BuildReport(context.Background(), s, f.id, f.sources(t))
	if err != nil {
		t.Fatal(err)
	}
	rep.Headline = "=HYPERLINK(\"http://x\")" // a formula must not reach a spreadsheet as one
	var buf bytes.Buffer
	if err := rep.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v", err)
	}
	if !slices.Equal(recs[0], dispatch.ReportCSVHeader) {
		t.Fatalf("header %v", recs[0])
	}
	col := func(name string) int { return slices.Index(dispatch.ReportCSVHeader, name) }
	sections := map[string]int{}
	for _, r := range recs[1:] {
		sections[r[0]]++
		switch {
		case r[0] == "warning" && r[col("what")] == "id" && r[col("detail")] != f.id:
			t.Errorf("warning id %q", r[col("detail")])
		case r[0] == "warning" && r[col("what")] == "headline" && r[col("detail")] != "'"+rep.Headline:
			t.Errorf("headline cell %q is not defused", r[col("detail")])
		case r[0] == "channel" && r[col("channel")] == "speaker" && (r[col("planned")] != "10" || r[col("delivered")] != "6" || r[col("held")] != "1" || r[col("percent")] != "70"):
			t.Errorf("speaker row %v", r)
		case r[0] == "reach" && r[col("code")] == f.tw[1].Code && r[col("channel")] == "sms" && (r[col("failed")] != "2" || r[col("name")] != f.tw[1].Name):
			t.Errorf("reach row %v", r)
		case r[0] == "timeline" && r[col("what")] == "first_sound":
			if at, err := time.Parse(time.RFC3339Nano, r[col("at")]); err != nil || !at.Equal(f.at(2)) {
				t.Errorf("first sound at %q (%v)", r[col("at")], err)
			}
		}
	}
	want := map[string]int{"warning": 12, "timeline": len(rep.Timeline), "channel": 3, "reach": 6, "failure": 3, "speaker": 4, "action": 3}
	if fmt.Sprint(sections) != fmt.Sprint(want) {
		t.Errorf("rows per section %v, want %v", sections, want)
	}
}

// TestReportUnknownWarning: a report of no warning is ErrNotFound.
func TestReportUnknownWarning(t *testing.T) {
	s := storetest.SQLite(t)
	if _, err := dispatch.BuildReport(context.Background(), s, "NOPE", dispatch.ReportSources{}); err != dispatch.ErrNotFound {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
}
