package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/engine"
	"github.com/alertcast/alertcast/warning"
)

// reportAlert stores an issued red warning on two channels with a few
// receipts, some failed.
func reportAlert(t *testing.T, s *dispatch.Store) *dispatch.Alert {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := &dispatch.Alert{ID: "RPTAPI", Version: 1, Event: warning.EventSandstorm, Level: warning.LevelRed, Status: warning.StatusActual,
		State: warning.StateIssued, Kind: warning.KindAlert, Area: dispatch.Area{Codes: []string{"653122100"}}, Channels: []string{"speaker", "sms"},
		Text: map[string]dispatch.Text{"zh": {Headline: "红色预警"}}, Expires: now.Add(time.Hour), CreatedBy: "olga", CreatedAt: now.Add(-time.Minute),
		IssuedAt: now.Add(-time.Minute), UpdatedAt: now}
	if _, _, err := s.InsertAlert(ctx, a, "", dispatch.AuditEntry{Actor: "olga", Action: "alert.issue"}); err != nil {
		t.Fatal(err)
	}
	var rows []dispatch.Delivery
	for i := range 6 {
		rows = append(rows, dispatch.Delivery{AlertID: a.ID, Version: 1, Channel: "speaker", Recipient: "sp" + strconv.Itoa(i)},
			dispatch.Delivery{AlertID: a.ID, Version: 1, Channel: "sms", Recipient: strconv.Itoa(100 + i)})
	}
	if err := s.PlanDeliveries(ctx, rows); err != nil {
		t.Fatal(err)
	}
	for _, ch := range a.Channels {
		if err := s.SavePlan(ctx, dispatch.Plan{AlertID: a.ID, Version: 1, Channel: ch, Recipients: 6, Batches: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var rs []channels.Receipt
	for i := range 4 {
		st, detail := channels.StateDelivered, "played"
		if i == 3 {
			st, detail = channels.StateFailed, "failed: no audio"
		}
		rs = append(rs, channels.Receipt{Channel: "speaker", Key: a.Key(), RecipientID: "sp" + strconv.Itoa(i), State: st, Detail: detail, At: now.Add(-time.Duration(30-i) * time.Second)},
			channels.Receipt{Channel: "sms", Key: a.Key(), RecipientID: strconv.Itoa(100 + i), State: channels.StateDelivered, Detail: "DELIVRD", At: now.Add(-20 * time.Second)})
	}
	rs = append(rs, channels.Receipt{Channel: "speaker", Key: a.Key(), RecipientID: "sp4", State: channels.StateSent, Detail: "playing", At: now.Add(-40 * time.Second)})
	if _, err := s.ApplyReceipts(ctx, rs); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestReportRoute: the report answers JSON whose channel figures are the
// progress every other screen reads (engine.ReadProgress), CSV that parses
// back, and names what is wrong with a bad request.
func TestReportRoute(t *testing.T) {
	e := newAccountsEnv(t, LoginLimits{})
	e.api.UnconfirmedAfter = map[string]time.Duration{"sms": 10 * time.Minute}
	viewer := e.user("vic", dispatch.RoleViewer, "")
	a := reportAlert(t, e.store)

	t.Run("json agrees with the progress screens", func(t *testing.T) {
		ans := e.do("GET", "/api/v1/alerts/"+a.ID+"/report", viewer, "", nil)
		if ans.status != 200 {
			t.Fatalf("status %d %v", ans.status, ans.body)
		}
		raw, _ := json.Marshal(ans.body)
		var rep dispatch.Report
		if err := json.Unmarshal(raw, &rep); err != nil {
			t.Fatal(err)
		}
		per, ov, err := engine.ReadProgress(context.Background(), e.store, engine.ProgressSources{UnconfirmedAfter: e.api.UnconfirmedAfter}, a)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Versions) != 1 {
			t.Fatalf("versions %+v", rep.Versions)
		}
		for ch, p := range per {
			got := rep.Versions[0].Channels[ch].Progress
			if g, w := mustJSON(t, got), mustJSON(t, p); g != w {
				t.Errorf("%s: report %s, progress screens %s", ch, g, w)
			}
		}
		if g, w := mustJSON(t, rep.Versions[0].Overall), mustJSON(t, ov); g != w {
			t.Errorf("overall: report %s, progress screens %s", g, w)
		}
		if rep.Drill || rep.ID != a.ID || len(rep.Actions) != 1 || rep.Actions[0].Action != "alert.issue" {
			t.Errorf("report head %+v", rep)
		}
		if fs := rep.Versions[0].Channels["speaker"].FirstSound; !fs.Equal(a.UpdatedAt.Add(-40 * time.Second)) {
			t.Errorf("first sound %v", fs)
		}
	})
	t.Run("csv", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/alerts/"+a.ID+"/report?format=csv", nil)
		req.Header.Set("Authorization", "Bearer "+viewer)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
			res.Header.Get("Content-Disposition") != `attachment; filename="alertcast-report-RPTAPI.csv"` {
			t.Fatalf("%d %v", res.StatusCode, res.Header)
		}
		body, ok := bytes.CutPrefix(body, []byte("\ufeff"))
		if !ok {
			t.Error("CSV has no byte order mark (spreadsheets would misread Chinese)")
		}
		recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("CSV does not parse back: %v", err)
		}
		if !slices.Equal(recs[0], dispatch.ReportCSVHeader) {
			t.Errorf("header %v", recs[0])
		}
		found := false
		for _, r := range recs {
			if r[0] == "failure" && r[2] == "speaker" && r[slices.Index(dispatch.ReportCSVHeader, "detail")] == "failed: no audio" && r[len(r)-1] == "1" {
				found = true
			}
		}
		if !found {
			t.Errorf("no failure row for the speaker that failed:\n%v", recs)
		}
	})
	for _, c := range []struct {
		name, path, token string
		status            int
		code              string
	}{
		{"unknown warning", "/api/v1/alerts/NOPE/report", viewer, 404, "not_found"},
		{"unknown warning as csv", "/api/v1/alerts/NOPE/report?format=csv", viewer, 404, "not_found"},
		{"bad format", "/api/v1/alerts/" + a.ID + "/report?format=pdf", viewer, 400, "validation"},
		{"no credentials", "/api/v1/alerts/" + a.ID + "/report", "", 401, "unauthorized"},
		{"bad token", "/api/v1/alerts/" + a.ID + "/report", "not-a-token", 401, "unauthorized"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ans := e.do("GET", c.path, c.token, "", nil)
			if ans.status != c.status || ans.code() != c.code {
				t.Errorf("status %d code %q (%s), want %d %q", ans.status, ans.code(), ans.message(), c.status, c.code)
			}
		})
	}
	t.Run("a disabled account is refused", func(t *testing.T) {
		if err := e.store.SetUserDisabled(context.Background(), "vic", true, dispatch.Actor{Name: "test"}); err != nil {
			t.Fatal(err)
		}
		if ans := e.do("GET", "/api/v1/alerts/"+a.ID+"/report", viewer, "", nil); ans.status != 401 {
			t.Errorf("disabled viewer: %d %v", ans.status, ans.body)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
