package dispatch_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/storetest"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// BenchmarkReportCountyWide builds the after-action report of a county-wide
// warning: 352,000 SMS recipients and 3,000 loudspeakers (355,000 records),
// all registered in the county's villages, 95 % delivered over ten minutes
// of receipts, 2 % failed with three reasons, the rest sent or queued. One
// report is one op; the budget (issue 19) is a few seconds.
//
//	go test -run '^$' -bench ReportCountyWide -benchtime 3x ./dispatch/
//	ALERTCAST_BENCH_PG=1 go test -run '^$' -bench ReportCountyWide -benchtime 3x ./dispatch/   # PostgreSQL too
func BenchmarkReportCountyWide(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchReport(b, storetest.SQLite(b)) })
	if os.Getenv("ALERTCAST_BENCH_PG") != "" {
		b.Run("postgres", func(b *testing.B) {
			s, err := dispatch.OpenStore(context.Background(), testsvc.Postgres(b), "", nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			benchReport(b, s)
		})
	}
}

func benchReport(b *testing.B, s *dispatch.Store) {
	const residents, speakers = 352_000, 3_000
	ctx := context.Background()
	tree := targeting.DefaultTree()
	villages := tree.Villages()
	var rs []targeting.Resident
	for i := range residents {
		rs = append(rs, targeting.Resident{ID: uint32(i + 1), Phone: fmt.Sprintf("138%08d", i), Village: villages[i%len(villages)].Code, Language: "zh"})
	}
	var sps []targeting.Speaker
	for i := range speakers {
		sps = append(sps, targeting.Speaker{ID: fmt.Sprintf("spk-%04d", i), Village: villages[i%len(villages)].Code})
	}
	if err := s.UpsertResidents(ctx, rs); err != nil {
		b.Fatal(err)
	}
	if err := s.UpsertSpeakers(ctx, sps); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Millisecond)
	a := &dispatch.Alert{ID: "COUNTY", Version: 1, Event: warning.EventSandstorm, Level: warning.LevelRed, Status: warning.StatusActual,
		State: warning.StateIssued, Kind: warning.KindAlert, Area: dispatch.Area{Codes: []string{"653122"}}, Channels: []string{"speaker", "sms"},
		Text: map[string]dispatch.Text{"zh": {Headline: "全县红色预警"}}, Expires: time.Now().Add(time.Hour), CreatedBy: "olga", CreatedAt: t0, IssuedAt: t0, UpdatedAt: t0}
	if _, _, err := s.InsertAlert(ctx, a, "", dispatch.AuditEntry{Actor: "olga", Action: "alert.issue"}); err != nil {
		b.Fatal(err)
	}
	var rows []dispatch.Delivery
	for i := range residents {
		rows = append(rows, dispatch.Delivery{AlertID: a.ID, Version: 1, Channel: "sms", Recipient: strconv.Itoa(i + 1), Batch: i / 1000})
	}
	for _, sp := range sps {
		rows = append(rows, dispatch.Delivery{AlertID: a.ID, Version: 1, Channel: "speaker", Recipient: sp.ID})
	}
	for start := 0; start < len(rows); start += 10_000 {
		if err := s.PlanDeliveries(ctx, rows[start:min(start+10_000, len(rows))]); err != nil {
			b.Fatal(err)
		}
	}
	for ch, n := range map[string]int{"sms": residents, "speaker": speakers} {
		if err := s.SavePlan(ctx, dispatch.Plan{AlertID: a.ID, Version: 1, Channel: ch, Recipients: n}); err != nil {
			b.Fatal(err)
		}
	}
	reasons := []string{"undeliverable", "expired at SMSC", "rejected: blacklisted"}
	var rcpts []channels.Receipt
	for i, r := range rows {
		rc := channels.Receipt{Channel: r.Channel, Key: "COUNTY/v1", RecipientID: r.Recipient, At: t0.Add(time.Duration(i%600) * time.Second)}
		switch i % 100 {
		case 0, 1:
			rc.State, rc.Detail = channels.StateFailed, reasons[i%3]
		case 2, 3, 4:
			continue // left sent or queued
		default:
			rc.State, rc.Detail = channels.StateDelivered, "DELIVRD"
		}
		rcpts = append(rcpts, rc)
	}
	for start := 0; start < len(rcpts); start += 20_000 {
		if _, err := s.ApplyReceipts(ctx, rcpts[start:min(start+20_000, len(rcpts))]); err != nil {
			b.Fatal(err)
		}
	}
	src := dispatch.ReportSources{Tree: tree, UnconfirmedAfter: map[string]time.Duration{"sms": 10 * time.Minute}}
	b.ResetTimer()
	for b.Loop() {
		rep, err := dispatch.BuildReport(ctx, s, a.ID, src)
		if err != nil {
			b.Fatal(err)
		}
		if p := rep.Versions[0].Channels["sms"]; p.Planned != residents || len(rep.Reach) < 10 {
			b.Fatalf("report: sms %+v, %d townships", p.Progress, len(rep.Reach))
		}
	}
}
