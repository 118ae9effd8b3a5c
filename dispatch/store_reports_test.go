package dispatch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alertcast/alertcast/warning"
)

func testReport(alertID, key string) FieldReportInput {
	lon, lat := 76.05, 39.40
	return FieldReportInput{AlertID: alertID, Kind: ReportCasualties, Counts: map[string]int{"injured": 3, "trapped": 1},
		Text: "两户房屋倒塌", Location: FieldReportLocation{Lon: &lon, Lat: &lat, Accuracy: 12}, IdempotencyKey: key}
}

const (
	key1 = "0b6e2f4c-1d2a-4c3b-9e8f-7a6b5c4d3e21"
	key2 = "0b6e2f4c-1d2a-4c3b-9e8f-7a6b5c4d3e22"
)

func countRows(t *testing.T, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.r.QueryRowContext(context.Background(), s.q(query), args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReportsStore(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		op := Actor{Name: "op", Role: RoleOperator}
		field := Actor{Name: "team1", Role: RoleViewer, Remote: "10.0.0.9"}
		if _, _, err := s.InsertAlert(ctx, testAlert("A1"), "", AuditEntry{Actor: op.Name, Action: "alert.issue"}); err != nil {
			t.Fatal(err)
		}
		pend := testAlert("P1")
		pend.State = warning.StatePending
		if _, _, err := s.InsertAlert(ctx, pend, "", AuditEntry{Actor: op.Name, Action: "alert.create"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateUser(ctx, "duty2", RoleOperator, "", op); err != nil {
			t.Fatal(err)
		}

		photo := StoredPhoto{UploadSHA: "sha-a", Image: []byte{0xff, 0xd8, 1, 2, 3}, Thumb: []byte{0xff, 0xd8, 9}, Width: 40, Height: 30}
		r, existed, err := s.InsertReport(ctx, testReport("A1", key1), field, []StoredPhoto{photo})
		if err != nil || existed {
			t.Fatalf("insert: %v existed=%v", err, existed)
		}
		if r.Reporter != "team1" || r.State != ReportNew || r.Kind != ReportCasualties || r.Counts["injured"] != 3 ||
			r.Location.Lon == nil || *r.Location.Lat != 39.40 || len(r.Photos) != 1 || r.Photos[0].Width != 40 {
			t.Fatalf("stored report: %+v", r)
		}

		// The same key again (the phone resent it): the same report, no second row.
		again, existed, err := s.InsertReport(ctx, testReport("A1", key1), field, []StoredPhoto{photo})
		if err != nil || !existed || again.ID != r.ID {
			t.Fatalf("resend: %v existed=%v id %s vs %s", err, existed, again.ID, r.ID)
		}
		// The same key from another reporter is another report.
		other, existed, err := s.InsertReport(ctx, testReport("A1", key1), Actor{Name: "team2", Role: RoleViewer}, nil)
		if err != nil || existed || other.ID == r.ID {
			t.Fatalf("other reporter's key: %v existed=%v", err, existed)
		}
		if n := countRows(t, s, `SELECT COUNT(*) FROM field_reports`); n != 2 {
			t.Fatalf("%d report rows, want 2", n)
		}
		if n := countRows(t, s, `SELECT COUNT(*) FROM report_photos`); n != 1 {
			t.Fatalf("%d photo rows, want 1", n)
		}

		// Refused: unknown and pending warnings, named by field.
		var fe *warning.FieldError
		if _, _, err := s.InsertReport(ctx, testReport("NOPE", key2), field, nil); !errors.As(err, &fe) || fe.Field != "alert_id" {
			t.Fatalf("unknown alert: %v", err)
		}
		if _, _, err := s.InsertReport(ctx, testReport("P1", key2), field, nil); !errors.As(err, &fe) || !strings.Contains(fe.Rule, "pending") {
			t.Fatalf("pending alert: %v", err)
		}

		// Photos: the reporter only; the same upload once.
		p2 := StoredPhoto{UploadSHA: "sha-b", Image: []byte{0xff, 0xd8, 4}, Thumb: []byte{0xff, 0xd8, 5}, Width: 4, Height: 3}
		if _, _, err := s.AddReportPhoto(ctx, r.ID, p2, Actor{Name: "team2", Role: RoleViewer}); !errors.Is(err, ErrForbidden) {
			t.Fatalf("photo by another: %v", err)
		}
		ph, existed, err := s.AddReportPhoto(ctx, r.ID, p2, field)
		if err != nil || existed {
			t.Fatalf("photo: %v %v", err, existed)
		}
		if ph2, existed, err := s.AddReportPhoto(ctx, r.ID, p2, field); err != nil || !existed || ph2.ID != ph.ID {
			t.Fatalf("photo again: %v %v %s", err, existed, ph2.ID)
		}
		for i, sha := range []string{"c", "d"} {
			if _, _, err := s.AddReportPhoto(ctx, r.ID, StoredPhoto{UploadSHA: sha, Image: []byte{1}, Thumb: []byte{1}}, field); err != nil {
				t.Fatalf("photo %d: %v", i, err)
			}
		}
		if _, _, err := s.AddReportPhoto(ctx, r.ID, StoredPhoto{UploadSHA: "e", Image: []byte{1}, Thumb: []byte{1}}, field); !errors.As(err, &fe) || fe.Field != "photo" {
			t.Fatalf("fifth photo: %v", err)
		}
		if b, err := s.ReportPhotoData(ctx, r.ID, ph.ID, true); err != nil || string(b) != string(p2.Thumb) {
			t.Fatalf("thumb: %v %x", err, b)
		}
		if _, err := s.ReportPhotoData(ctx, other.ID, ph.ID, false); !errors.Is(err, ErrNotFound) {
			t.Fatalf("photo under another report: %v", err)
		}

		// Officers: acknowledge (once), assign, reply.
		got, err := s.AcknowledgeReport(ctx, r.ID, op)
		if err != nil || got.State != ReportAcknowledged || got.AckedBy != "op" || got.AckedAt.IsZero() {
			t.Fatalf("ack: %v %+v", err, got)
		}
		if got, err = s.AcknowledgeReport(ctx, r.ID, Actor{Name: "duty2"}); err != nil || got.AckedBy != "op" {
			t.Fatalf("second ack: %v %+v", err, got)
		}
		if _, err := s.AssignReport(ctx, r.ID, "nobody", op); !errors.As(err, &fe) || fe.Field != "to" {
			t.Fatalf("assign to nobody: %v", err)
		}
		if got, err = s.AssignReport(ctx, r.ID, "duty2", op); err != nil || got.AssignedTo != "duty2" || got.AssignedBy != "op" {
			t.Fatalf("assign: %v %+v", err, got)
		}
		if _, err := s.ReplyToReport(ctx, r.ID, "  ", op); !errors.As(err, &fe) || fe.Field != "text" {
			t.Fatalf("empty reply: %v", err)
		}
		for _, text := range []string{"收到，救援队已出发", "预计20分钟到达"} {
			if got, err = s.ReplyToReport(ctx, r.ID, text, op); err != nil {
				t.Fatal(err)
			}
		}
		if len(got.Replies) != 2 || got.Replies[0].Text != "收到，救援队已出发" || got.Replies[1].By != "op" {
			t.Fatalf("replies: %+v", got.Replies)
		}
		if _, err := s.AcknowledgeReport(ctx, "rpt_missing", op); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ack missing: %v", err)
		}

		list, err := s.ReportsForAlert(ctx, "A1")
		if err != nil || len(list) != 2 {
			t.Fatalf("list: %v %d", err, len(list))
		}
		mine, err := s.ReportsBy(ctx, "team1")
		if err != nil || len(mine) != 1 || len(mine[0].Photos) != 4 || len(mine[0].Replies) != 2 {
			t.Fatalf("mine: %v %+v", err, mine)
		}

		// Every action is in the audit log, under the warning.
		entries, err := s.AuditLog(ctx, 0, "A1", 100)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range entries {
			seen[e.Action]++
		}
		want := map[string]int{"report.create": 2, "report.photo": 3, "report.acknowledge": 1, "report.assign": 1, "report.reply": 2}
		for a, n := range want {
			if seen[a] != n {
				t.Errorf("audit %s: %d entries, want %d (all: %v)", a, seen[a], n, seen)
			}
		}
		if _, err := s.VerifyAudit(ctx); err != nil {
			t.Fatalf("audit chain: %v", err)
		}
	})
}

// Concurrent sends of one report (the page's retry racing the first
// request) store one row, and every caller gets that report.
func TestReportsConcurrentSameKey(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, _, err := s.InsertAlert(ctx, testAlert("A1"), "", AuditEntry{Actor: "op", Action: "alert.issue"}); err != nil {
			t.Fatal(err)
		}
		field := Actor{Name: "team1", Role: RoleViewer}
		var wg sync.WaitGroup
		ids := make([]string, 8)
		errs := make([]error, 8)
		for i := range ids {
			wg.Go(func() {
				r, _, err := s.InsertReport(ctx, testReport("A1", key2), field, nil)
				errs[i] = err
				if r != nil {
					ids[i] = r.ID
				}
			})
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Fatalf("caller %d: %v, id %s vs %s", i, errs[i], ids[i], ids[0])
			}
		}
		if n := countRows(t, s, `SELECT COUNT(*) FROM field_reports`); n != 1 {
			t.Fatalf("%d rows, want 1", n)
		}
		if n := countRows(t, s, `SELECT COUNT(*) FROM audit WHERE action = 'report.create'`); n != 1 {
			t.Fatalf("%d report.create audit entries, want 1", n)
		}
	})
}

func TestFieldReportInputValidate(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	lon, lat, bad := 76.0, 39.4, 200.0
	known := func(c string) bool { return c == "653122100001" }
	ok := FieldReportInput{AlertID: "A1", Kind: ReportWaterLevel, Counts: map[string]int{"level_cm": 120}, IdempotencyKey: key1,
		Location: FieldReportLocation{Village: "653122100001"}}
	if err := ok.Validate(now, known); err != nil {
		t.Fatalf("valid input refused: %v", err)
	}
	for _, c := range []struct {
		name  string
		edit  func(in *FieldReportInput)
		field string
	}{
		{"no alert", func(in *FieldReportInput) { in.AlertID = "" }, "alert_id"},
		{"no key", func(in *FieldReportInput) { in.IdempotencyKey = "" }, "idempotency_key"},
		{"key not a uuid", func(in *FieldReportInput) { in.IdempotencyKey = "abc" }, "idempotency_key"},
		{"no kind", func(in *FieldReportInput) { in.Kind = ReportUnknown }, "kind"},
		{"count of another kind", func(in *FieldReportInput) { in.Counts["dead"] = 1 }, "counts.dead"},
		{"negative count", func(in *FieldReportInput) { in.Counts["level_cm"] = -5 }, "counts.level_cm"},
		{"huge count", func(in *FieldReportInput) { in.Counts["level_cm"] = MaxReportCount + 1 }, "counts.level_cm"},
		{"missing required count", func(in *FieldReportInput) { delete(in.Counts, "level_cm") }, "counts.level_cm"},
		{"shelter on another kind", func(in *FieldReportInput) { in.ShelterID = "S1" }, "shelter_id"},
		{"occupancy without shelter", func(in *FieldReportInput) {
			in.Kind, in.Counts = ReportShelterOccupancy, map[string]int{"people": 40}
		}, "shelter_id"},
		{"long text", func(in *FieldReportInput) { in.Text = strings.Repeat("x", MaxReportText+1) }, "text"},
		{"bad utf8", func(in *FieldReportInput) { in.Text = "\xff" }, "text"},
		{"no location", func(in *FieldReportInput) { in.Location = FieldReportLocation{} }, "location"},
		{"lon without lat", func(in *FieldReportInput) { in.Location.Lon = &lon }, "location"},
		{"lon out of range", func(in *FieldReportInput) { in.Location.Lon, in.Location.Lat = &bad, &lat }, "location.lon"},
		{"village not a code", func(in *FieldReportInput) { in.Location.Village = "6531221" }, "location.village"},
		{"unknown village", func(in *FieldReportInput) { in.Location.Village = "653122999999" }, "location.village"},
		{"observed in the future", func(in *FieldReportInput) { in.ObservedAt = now.Add(time.Hour) }, "observed_at"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := ok
			in.Counts = map[string]int{"level_cm": 120}
			c.edit(&in)
			err := in.Validate(now, known)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("accepted: %v", err)
			}
			for _, p := range ve.Problems {
				if p.Field == c.field {
					return
				}
			}
			t.Fatalf("problems %v do not name %s", ve.Problems, c.field)
		})
	}
}

func TestFieldReportKindText(t *testing.T) {
	for k := ReportCasualties; k <= ReportAllWell; k++ {
		got, err := ParseFieldReportKind(k.String())
		if err != nil || got != k {
			t.Errorf("%d: %q → %v %v", k, k.String(), got, err)
		}
	}
	if ReportUnknown.String() != "unknown" || FieldReportKind(99).String() != "unknown" {
		t.Error("out of range kinds must read unknown")
	}
	if _, err := ParseFieldReportKind("unknown"); err == nil {
		t.Error("unknown parsed")
	}
}
