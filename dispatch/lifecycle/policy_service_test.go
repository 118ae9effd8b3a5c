package lifecycle

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/storetest"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

func policyService(t *testing.T, s *dispatch.Store) *Service {
	t.Helper()
	reg, err := dispatch.NewPopulationIndex(context.Background(), s, targeting.DefaultTree())
	if err != nil {
		t.Fatal(err)
	}
	return &Service{Store: s, Population: reg, Policy: dispatch.DefaultPolicy()}
}

func orangeInput() dispatch.AlertInput {
	return dispatch.AlertInput{Event: "sandstorm", Level: "orange", Area: dispatch.Area{Codes: []string{"653122100"}}, Channels: []string{"sms"},
		Audience: dispatch.Audience{Languages: []string{"zh"}}, Text: map[string]dispatch.Text{"zh": {Headline: "沙尘暴橙色预警"}}, Expires: "2030-01-01T18:00:00+08:00"}
}

// A pending update lives beside the version on air, survives a reload from
// the database, carries the authors of the proposal it builds on, and is
// approved only by an approver who wrote none of it; each version keeps
// its own approval.
func TestServicePendingUpdate(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, st *dispatch.Store) {
		ctx := context.Background()
		svc := policyService(t, st)
		op := dispatch.Actor{Name: "op", Role: dispatch.RoleOperator}
		op2 := dispatch.Actor{Name: "op2", Role: dispatch.RoleOperator}
		ap := dispatch.Actor{Name: "ap", Role: dispatch.RoleApprover}
		ap2 := dispatch.Actor{Name: "ap2", Role: dispatch.RoleApprover}

		a, _, err := svc.Create(ctx, op, orangeInput(), "", "api")
		if err != nil || a.State != warning.StatePending || !slices.Equal(a.Authors, []string{"op"}) {
			t.Fatalf("create: %v %+v", err, a)
		}
		if _, err := svc.Approve(ctx, dispatch.Actor{Name: "op", Role: dispatch.RoleAdmin}, a.ID, ""); !errors.Is(err, dispatch.ErrForbidden) {
			t.Fatalf("author approving (even as admin): %v", err)
		}
		if a, err = svc.Approve(ctx, ap, a.ID, "confirmed"); err != nil || a.ApprovedBy != "ap" || a.ApprovalReason != "confirmed" || a.ApprovedAt.IsZero() {
			t.Fatalf("approve: %v %+v", err, a)
		}

		// op2 rewrites the text: waits.
		in := orangeInput()
		in.Text = map[string]dispatch.Text{"zh": {Headline: "沙尘暴橙色预警：立即撤离"}}
		u, err := svc.Update(ctx, op2, a.ID, in)
		if err != nil || u.Version != 1 || u.Pending == nil || u.Pending.State != warning.StatePending {
			t.Fatalf("update: %v %+v", err, u)
		}
		// ap builds on it (widens too): the proposal now has two authors.
		in.Area.Codes = []string{"653122"}
		u, err = svc.Update(ctx, ap, a.ID, in)
		if err != nil || u.Pending == nil || !slices.Contains(u.Pending.Authors, "op2") || !slices.Contains(u.Pending.Authors, "ap") {
			t.Fatalf("update on a pending update: %v %+v", err, u.Pending)
		}
		cur, err := st.Alert(ctx, a.ID)
		if err != nil || cur.Version != 1 || cur.Pending == nil || cur.Pending.Level != warning.LevelOrange || !slices.Contains(cur.Pending.Changes, dispatch.ChangeWiden) {
			t.Fatalf("stored: %v %+v", err, cur)
		}
		for _, by := range []dispatch.Actor{op2, ap} {
			if _, err := svc.Approve(ctx, by, a.ID, ""); !errors.Is(err, dispatch.ErrForbidden) {
				t.Fatalf("%s wrote part of the update, approve: %v", by.Name, err)
			}
		}
		if _, err := svc.Approve(ctx, op, a.ID, ""); !errors.Is(err, dispatch.ErrForbidden) {
			t.Fatalf("an operator approving: %v", err)
		}
		v2, err := svc.Approve(ctx, ap2, a.ID, "county-wide confirmed")
		if err != nil || v2.Version != 2 || v2.Pending != nil || v2.ApprovedBy != "ap2" || v2.Area.Codes[0] != "653122" || v2.CreatedBy != "op" {
			t.Fatalf("approve update: %v %+v", err, v2)
		}
		vs, err := st.AlertVersions(ctx, a.ID)
		if err != nil || len(vs) != 2 || vs[0].ApprovedBy != "ap" || vs[1].ApprovedBy != "ap2" || vs[1].Pending != nil {
			t.Fatalf("versions: %v %+v", err, vs)
		}

		// Reject keeps the version on air; cancel never waits and drops a
		// waiting update.
		in.Level = "red"
		if u, err = svc.Update(ctx, op, a.ID, in); err != nil || u.Pending == nil {
			t.Fatalf("raise: %v", err)
		}
		if r, err := svc.Reject(ctx, ap, a.ID, "no"); err != nil || r.Pending != nil || r.Version != 2 || r.State != warning.StateIssued {
			t.Fatalf("reject update: %v %+v", err, r)
		}
		if _, err = svc.Update(ctx, op, a.ID, in); err != nil {
			t.Fatal(err)
		}
		e, err := svc.End(ctx, op, a.ID, warning.KindCancel, "over")
		if err != nil || e.Pending != nil || e.State != warning.StateCancelled || e.ApprovedBy != "" {
			t.Fatalf("cancel: %v %+v", err, e)
		}
		if _, err := svc.Approve(ctx, ap2, a.ID, ""); !errors.Is(err, dispatch.ErrConflict) {
			t.Fatalf("approving after cancel: %v", err)
		}
	})
}

// A bulletin schedule at an approval level is authored by its creator; its
// output waits until another approver approves the schedule, then issues
// with that approval.
func TestServiceScheduleApproval(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, st *dispatch.Store) {
		ctx := context.Background()
		svc := policyService(t, st)
		ap := dispatch.Actor{Name: "ap", Role: dispatch.RoleApprover}
		// A schedule fires under its creator's scope as stored now.
		if _, err := st.CreateUser(ctx, "ap", dispatch.RoleApprover, "", dispatch.Actor{Name: "test"}); err != nil {
			t.Fatal(err)
		}
		in := orangeInput()
		in.Level, in.Channels = "red", []string{"sms", "speaker"}
		sc, err := svc.NewSchedule(ctx, ap, dispatch.Schedule{Kind: dispatch.ScheduleBulletin, Spec: "every 1h", Body: &in})
		if err != nil || !sc.NeedsApproval {
			t.Fatalf("schedule: %v %+v", err, sc)
		}
		sched := &Scheduler{Service: svc}
		if err := sched.fire(ctx, sc); err != nil {
			t.Fatal(err)
		}
		list, _ := st.ListAlerts(ctx, dispatch.AlertFilter{})
		if len(list) != 1 || list[0].State != warning.StatePending || list[0].CreatedBy != "ap" {
			t.Fatalf("unapproved output: %+v", list[0])
		}
		if _, err := svc.ApproveSchedule(ctx, ap, sc.ID, ""); !errors.Is(err, dispatch.ErrForbidden) {
			t.Fatalf("creator approving the schedule: %v", err)
		}
		if _, err := svc.ApproveSchedule(ctx, dispatch.Actor{Name: "op", Role: dispatch.RoleOperator}, sc.ID, ""); !errors.Is(err, dispatch.ErrForbidden) {
			t.Fatalf("operator approving the schedule: %v", err)
		}
		if _, err := svc.ApproveSchedule(ctx, dispatch.Actor{Name: "ap2", Role: dispatch.RoleApprover}, sc.ID, "weekly bulletin text checked"); err != nil {
			t.Fatal(err)
		}
		scheds, _ := st.Schedules(ctx, true)
		if len(scheds) != 1 || scheds[0].ApprovedBy != "ap2" || scheds[0].ApprovedAt.IsZero() {
			t.Fatalf("stored schedule: %+v", scheds)
		}
		first := list[0].ID
		if err := sched.fire(ctx, scheds[0]); err != nil {
			t.Fatal(err)
		}
		list, _ = st.ListAlerts(ctx, dispatch.AlertFilter{})
		// Two fired within one millisecond may list in either order.
		if len(list) == 2 && list[0].ID == first {
			list[0], list[1] = list[1], list[0]
		}
		if len(list) != 2 || list[0].State != warning.StateIssued || list[0].ApprovedBy != "ap2" || list[0].CreatedBy != "ap" {
			t.Fatalf("approved output: %+v", list[0])
		}
		// A rebroadcast round of it is not a change: it issues, keeping the
		// version's approval.
		rb, err := svc.Rebroadcast(ctx, list[0].ID)
		if err != nil || rb.State != warning.StateIssued || rb.Version != 2 || rb.ApprovedBy != "ap2" || len(rb.Changes) != 0 {
			t.Fatalf("rebroadcast round: %v %+v", err, rb)
		}
	})
}

// A polled feed speaks for its own sender only: its Cancel of one of the
// county's own warnings is refused; the same Cancel posted by an officer
// ends it at once (lifting never waits).
func TestServiceCAPPollCannotEndOthersWarnings(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, st *dispatch.Store) {
		ctx := context.Background()
		svc := policyService(t, st)
		in := orangeInput()
		in.Level = "blue"
		a, _, err := svc.Create(ctx, dispatch.Actor{Name: "op", Role: dispatch.RoleOperator}, in, "", "api")
		if err != nil || a.State != warning.StateIssued {
			t.Fatalf("create: %v", err)
		}
		end := *a
		end.Version, end.Kind, end.State = 2, warning.KindCancel, warning.StateCancelled
		raw, err := AlertToCAP(&end, "https://alert.example.cn", WithPriorVersions(a)).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		_, err = svc.ImportCAPFrom(ctx, dispatch.Actor{Name: "system:cap-poll", Role: dispatch.RoleOperator}, raw, nil, dispatch.OriginCAPPoll)
		var ce *CAPError
		if !errors.As(err, &ce) || ce.Status != 403 {
			t.Fatalf("polled cancel of our own warning: %v", err)
		}
		if cur, _ := st.Alert(ctx, a.ID); cur.State != warning.StateIssued {
			t.Fatalf("the refused cancel changed the warning: %s", cur.State)
		}
		res, err := svc.ImportCAP(ctx, dispatch.Actor{Name: "op2", Role: dispatch.RoleOperator}, raw, nil)
		if err != nil || res.Outcome != "cancelled" {
			t.Fatalf("officer's CAP cancel: %v %+v", err, res)
		}
	})
}

// A version stored before authors were recorded: its creator is its
// author, and a bulletin's "scheduler:<name>" is that officer.
func TestLegacyAuthors(t *testing.T) {
	for created, want := range map[string][]string{"op": {"op"}, "scheduler:ap": {"scheduler:ap", "ap"}} {
		if got := (&dispatch.Alert{CreatedBy: created}).AuthorsOf(); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", created, got, want)
		}
	}
}
