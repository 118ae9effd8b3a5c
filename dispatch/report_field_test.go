package dispatch_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"slices"
	"testing"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/storetest"
)

// TestReportCarriesFieldReports: what the field teams reported under a
// warning is in its after-action record — listed, on the timeline under the
// reporter, and in the CSV — and a report under another warning is not.
func TestReportCarriesFieldReports(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, s *dispatch.Store) {
		ctx := context.Background()
		f := newReportFixture(t, s)
		team := dispatch.Actor{Name: "team7", Role: dispatch.RoleViewer}
		lon, lat := 76.05, 39.40
		in := dispatch.FieldReportInput{AlertID: f.id, Kind: dispatch.ReportRoadBlocked, Counts: map[string]int{"vehicles": 4},
			Text: "S215 被沙丘掩埋", Location: dispatch.FieldReportLocation{Lon: &lon, Lat: &lat}, IdempotencyKey: "3f1e2d4c-5b6a-4789-8abc-def012345678"}
		fr, _, err := s.InsertReport(ctx, in, team, nil)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := dispatch.BuildReport(ctx, s, f.id, f.sources(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.FieldReports) != 1 {
			t.Fatalf("field reports %+v, want the one sent", rep.FieldReports)
		}
		g := rep.FieldReports[0]
		if g.ID != fr.ID || g.Kind != dispatch.ReportRoadBlocked || g.Reporter != "team7" || g.Counts["vehicles"] != 4 || g.Text != in.Text ||
			!g.ReceivedAt.Equal(fr.ReceivedAt) || g.State != fr.State {
			t.Errorf("field report in the record %+v, stored %+v", g, fr)
		}
		i := slices.IndexFunc(rep.Timeline, func(e dispatch.TimelineEvent) bool { return e.Event == dispatch.EventFieldReport })
		if i < 0 || rep.Timeline[i].Actor != "team7" || rep.Timeline[i].Detail != "road_blocked" || !rep.Timeline[i].At.Equal(fr.ReceivedAt) {
			t.Errorf("timeline %+v lacks the field report", rep.Timeline)
		}
		if !slices.IsSortedFunc(rep.Timeline, func(a, b dispatch.TimelineEvent) int { return a.At.Compare(b.At) }) {
			t.Errorf("timeline out of order: %+v", rep.Timeline)
		}
		var buf bytes.Buffer
		if err := rep.WriteCSV(&buf); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := func(name string) int { return slices.Index(dispatch.ReportCSVHeader, name) }
		rows := 0
		for _, r := range recs[1:] {
			if r[0] == "field_report" {
				rows++
				if r[col("id")] != fr.ID || r[col("what")] != "road_blocked" || r[col("who")] != "team7" || r[col("detail")] != "vehicles=4 "+in.Text {
					t.Errorf("CSV field_report row %v", r)
				}
			}
		}
		if rows != 1 {
			t.Errorf("%d field_report rows in the CSV, want 1", rows)
		}
	})
}
