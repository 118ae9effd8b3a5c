package dispatch

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// forEachEngine runs fn against a fresh SQLite store and a fresh
// PostgreSQL store (a throwaway cluster).
func forEachEngine(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := OpenStore(context.Background(), "", t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testsvc.Postgres(t)
		s, err := OpenStore(context.Background(), dsn, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
}

func TestStoreMigratesIdempotently(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		s, err := OpenStore(context.Background(), "sqlite:"+filepath.Join(dir, "x.db"), "", nil)
		if err != nil {
			t.Fatalf("open #%d: %v", i, err)
		}
		s.Close()
		s.Close() // safe twice
	}
}

func testAlert(id string) *Alert {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return &Alert{ID: id, Version: 1, Event: warning.EventSandstorm, Level: warning.LevelOrange, Status: warning.StatusActual, State: warning.StateIssued,
		Area: Area{Codes: []string{"653122100"}}, Channels: []string{"sms"}, Kind: warning.KindAlert,
		Text: map[string]Text{"zh": {Headline: "沙尘暴"}}, Expires: now.Add(time.Hour), CreatedBy: "op", CreatedAt: now, UpdatedAt: now}
}

func TestStoreAlertsAuditDeliveries(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		by := Actor{Name: "op", Role: RoleOperator, Remote: "127.0.0.1"}
		a := testAlert("A1")
		got, existed, err := s.InsertAlert(ctx, a, "op:key1", AuditEntry{Actor: by.Name, Action: "alert.issue"})
		if err != nil || existed {
			t.Fatalf("insert: %v %v", err, existed)
		}
		// Same idempotency key: the first warning, nothing new stored.
		again, existed, err := s.InsertAlert(ctx, testAlert("A2"), "op:key1", AuditEntry{Actor: by.Name, Action: "alert.issue"})
		if err != nil || !existed || again.ID != got.ID {
			t.Fatalf("idempotent insert: %v %v %v", again, existed, err)
		}
		if _, err := s.Alert(ctx, "A2"); err != ErrNotFound {
			t.Fatalf("duplicate stored: %v", err)
		}
		pend, err := s.PendingDispatches(ctx, 10)
		if err != nil || len(pend) != 1 || pend[0].AlertID != "A1" {
			t.Fatalf("dispatch outbox: %v %v", pend, err)
		}
		if err := s.MarkDispatched(ctx, pend[0]); err != nil {
			t.Fatal(err)
		}
		if pend, _ = s.PendingDispatches(ctx, 10); len(pend) != 0 {
			t.Fatalf("still pending: %v", pend)
		}

		// Deliveries: plan twice, nothing doubles; final states stick.
		var rows []Delivery
		for i := 0; i < 2500; i++ {
			rows = append(rows, Delivery{AlertID: "A1", Version: 1, Channel: "sms", Recipient: fmt.Sprintf("r%05d", i), Address: "+86138", Batch: i / 1000})
		}
		for i := 0; i < 2; i++ {
			if err := s.PlanDeliveries(ctx, rows); err != nil {
				t.Fatal(err)
			}
		}
		c, _ := s.DeliveryCounters(ctx, "A1", 1)
		if c["sms"]["planned"] != 2500 {
			t.Fatalf("counters after double plan: %v", c)
		}
		b1, _ := s.BatchDeliveries(ctx, "A1", 1, "sms", 1)
		if len(b1) != 1000 || b1[0].Recipient != "r01000" {
			t.Fatalf("batch 1: %d rows, first %v", len(b1), b1[0].Recipient)
		}
		ups := []DeliveryUpdate{
			{AlertID: "A1", Version: 1, Channel: "sms", Recipient: "r00000", State: channels.StateSent, Attempt: true, Ref: "m0"},
			{AlertID: "A1", Version: 1, Channel: "sms", Recipient: "r00001", State: channels.StateFailed, Attempt: true, Error: "invalid destination"},
			{AlertID: "A1", Version: 1, Channel: "sms", Recipient: "r00002", Attempt: true, Error: "throttled"},
		}
		if err := s.UpdateDeliveries(ctx, ups); err != nil {
			t.Fatal(err)
		}
		// A receipt moves sent → delivered; a late "sent" cannot undo it.
		// One that names no record, or only a provider ref, matches nothing.
		m, err := s.ApplyReceipts(ctx, []channels.Receipt{{Channel: "sms", Key: "A1/v1", RecipientID: "r00000", Ref: "m0", State: channels.StateDelivered, Detail: "DELIVRD"},
			{Channel: "sms", Key: "A1/v1", RecipientID: "nope", State: channels.StateDelivered},
			{Channel: "sms", Ref: "m0", State: channels.StateDelivered}})
		if err != nil || !m[0] || m[1] || m[2] {
			t.Fatalf("receipts matched %v, %v", m, err)
		}
		_ = s.UpdateDeliveries(ctx, []DeliveryUpdate{{AlertID: "A1", Version: 1, Channel: "sms", Recipient: "r00000", State: channels.StateSent}})
		list, _ := s.ListDeliveries(ctx, DeliveryFilter{AlertID: "A1", Version: 1, Limit: 3})
		if list[0].State != channels.StateDelivered || list[0].Ref != "m0" || list[1].State != channels.StateFailed || list[2].State != channels.StatePlanned || list[2].Attempts != 1 {
			t.Fatalf("states: %+v", list)
		}
		// Cursor paging covers every row once.
		seen, cursor := 0, ""
		for {
			page, err := s.ListDeliveries(ctx, DeliveryFilter{AlertID: "A1", Version: 1, After: cursor, Limit: 700})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			seen += len(page)
			cursor = page[len(page)-1].Channel + "/" + page[len(page)-1].Recipient
		}
		if seen != 2500 {
			t.Fatalf("paged %d rows, want 2500", seen)
		}
		n, _ := s.FinishRemaining(ctx, "A1", 1, channels.StateRevoked, "cancelled")
		if n != 2498 { // all but the delivered and the failed one
			t.Fatalf("revoked %d, want 2498", n)
		}
		reached, _ := s.ReachedBefore(ctx, "A1", 2, "sms")
		if len(reached) != 1 || reached[0].ID != "r00000" {
			t.Fatalf("reached before: %+v", reached)
		}

		// Update through UpdateAlert: new version, audit, dispatch row.
		b, err := s.UpdateAlert(ctx, "A1", func(a *Alert) (Change, error) {
			a.Kind, a.State = warning.KindCancel, warning.StateCancelled
			return Change{NewVersion: true, Dispatch: true, Audit: AuditEntry{Actor: "op", Action: "alert.cancel"}}, nil
		})
		if err != nil || b.Version != 2 {
			t.Fatalf("update: %v %v", b, err)
		}
		vs, _ := s.AlertVersions(ctx, "A1")
		if len(vs) != 2 || vs[0].State != warning.StateIssued || vs[1].State != warning.StateCancelled {
			t.Fatalf("versions: %d", len(vs))
		}
		if n, err := s.VerifyAudit(ctx); err != nil || n != 2 {
			t.Fatalf("audit verify: %d %v", n, err)
		}
	})
}

func TestAuditChainDetectsTampering(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for i := 0; i < 5; i++ {
			if err := s.Audit(ctx, AuditEntry{Actor: "op", Action: "alert.issue", AlertID: fmt.Sprint("A", i)}); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := s.VerifyAudit(ctx); err != nil || n != 5 {
			t.Fatalf("clean chain: %d %v", n, err)
		}
		if _, err := s.w.ExecContext(ctx, s.q(`UPDATE audit SET actor = ? WHERE seq = ?`), "mallory", 3); err != nil {
			t.Fatal(err)
		}
		if _, err := s.VerifyAudit(ctx); err == nil || !strings.Contains(err.Error(), "entry 3") {
			t.Fatalf("tampering not detected: %v", err)
		}
		if _, err := s.w.ExecContext(ctx, s.q(`UPDATE audit SET actor = ? WHERE seq = ?`), "op", 3); err != nil {
			t.Fatal(err)
		}
		if _, err := s.w.ExecContext(ctx, s.q(`DELETE FROM audit WHERE seq = ?`), 4); err != nil {
			t.Fatal(err)
		}
		if _, err := s.VerifyAudit(ctx); err == nil {
			t.Fatal("deleted entry not detected")
		}
	})
}

func TestUsersAndPasswords(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		tok, err := s.CreateUser(ctx, "ap", RoleApprover, "correct horse battery", Actor{Name: "admin"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateUser(ctx, "ap", RoleViewer, "", Actor{Name: "admin"}); err != ErrUserExists {
			t.Fatalf("duplicate user: %v", err)
		}
		u, err := s.UserByToken(ctx, tok)
		if err != nil || u.Name != "ap" || u.Role != RoleApprover {
			t.Fatalf("by token: %+v %v", u, err)
		}
		if _, err := s.UserByToken(ctx, tok+"x"); err != ErrBadCredentials {
			t.Fatalf("bad token accepted: %v", err)
		}
		if _, err := s.UserByPassword(ctx, "ap", "correct horse battery"); err != nil {
			t.Fatalf("password: %v", err)
		}
		if _, err := s.UserByPassword(ctx, "ap", "wrong"); err != ErrBadCredentials {
			t.Fatalf("wrong password accepted: %v", err)
		}
		var stored string
		_ = s.r.QueryRowContext(ctx, s.q(`SELECT token_hash FROM users WHERE name = ?`), "ap").Scan(&stored)
		if strings.Contains(stored, tok) || stored != HashToken(tok) {
			t.Fatal("token must be stored hashed")
		}
	})
}

func TestPopulationIndexImportAllOrNothing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		reg, err := NewPopulationIndex(ctx, s, targeting.DefaultTree())
		if err != nil {
			t.Fatal(err)
		}
		bad := "phone,village,groups,language\n13800000001,653122100001,herders,zh\n12345,653122100001,,zh\n"
		res, err := reg.ImportResidents(ctx, strings.NewReader(bad), false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied || res.ErrorCount != 1 || res.Errors[0].Line != 3 || res.Errors[0].Field != "phone" {
			t.Fatalf("bad import report: %+v", res)
		}
		if n, _ := reg.Index().Len(); n != 0 {
			t.Fatalf("all-or-nothing import stored %d residents", n)
		}
		res, err = reg.ImportResidents(ctx, strings.NewReader(bad), true, nil)
		if err != nil || !res.Applied || res.Stored != 1 {
			t.Fatalf("partial import: %+v %v", res, err)
		}
		// Re-import keeps the id of a known phone.
		good := "phone,village,groups,language\n+8613800000001,653122201201,farmers,ug\n"
		if _, err := reg.ImportResidents(ctx, strings.NewReader(good), false, nil); err != nil {
			t.Fatal(err)
		}
		if n, _ := reg.Index().Len(); n != 1 {
			t.Fatalf("re-import duplicated a phone: %d residents", n)
		}
		// A fresh registry rebuilds the same index from the database.
		reg2, err := NewPopulationIndex(ctx, s, targeting.DefaultTree())
		if err != nil {
			t.Fatal(err)
		}
		r, ok := reg2.Resident(1)
		if !ok || r.Village != "653122201201" || r.Language != "ug" {
			t.Fatalf("rebuilt resident: %+v %v", r, ok)
		}
	})
}

// TestReceiptsLatestWins: "received" and "playing" for one record in one
// batch leave "playing", whatever order the statements run in, and each
// record keeps its own report time (to 10 ms), not its batch's latest.
func TestReceiptsLatestWins(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		var rows []Delivery
		for _, r := range []string{"d1", "d2", "d3"} {
			rows = append(rows, Delivery{AlertID: "L1", Version: 1, Channel: "speaker", Recipient: r})
		}
		if err := s.PlanDeliveries(ctx, rows); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
		rc := func(dev, step string, at time.Duration) channels.Receipt {
			return channels.Receipt{Channel: "speaker", Key: "L1/v1", RecipientID: dev, State: channels.StateSent, Detail: step, At: t0.Add(at)}
		}
		m, err := s.ApplyReceipts(ctx, []channels.Receipt{
			rc("d2", "playing", 20*time.Millisecond), // opens the statement d1's "playing" joins, before d1's "received"
			rc("d1", "received", 0), rc("d1", "playing", 20*time.Millisecond),
			rc("d3", "received", 500*time.Millisecond),
		})
		if err != nil || !m[0] || !m[1] || !m[2] || !m[3] {
			t.Fatalf("matched %v, %v", m, err)
		}
		list, _ := s.ListDeliveries(ctx, DeliveryFilter{AlertID: "L1", Version: 1})
		want := map[string]struct {
			detail string
			at     time.Duration
		}{"d1": {"playing", 20 * time.Millisecond}, "d2": {"playing", 20 * time.Millisecond}, "d3": {"received", 500 * time.Millisecond}}
		for _, d := range list {
			w := want[d.Recipient]
			if d.Detail != w.detail || !d.UpdatedAt.Equal(t0.Add(w.at)) {
				t.Errorf("%s: %s at %v, want %s at %v", d.Recipient, d.Detail, d.UpdatedAt.Sub(t0), w.detail, w.at)
			}
		}
	})
}
