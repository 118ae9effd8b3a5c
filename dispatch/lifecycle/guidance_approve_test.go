package lifecycle

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/storetest"
	"github.com/alertcast/alertcast/warning"
)

// An approval covers the guidance frozen with the version: bound to the
// digest the approver reviewed, another one is refused and the warning
// stays pending; a pending version with an action but no frozen guidance
// (stored before guidance was frozen) cannot be approved; an update that
// changes the action is frozen anew and carries it (it used to be
// dropped).
func TestApproveBindsFrozenGuidance(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, st *dispatch.Store) {
		ctx := context.Background()
		svc := policyService(t, st)
		res := "id,phone,village,language,lat,lon\n1,13800000001,653122100001,zh,39.55,76.0\n2,13800000002,653122100003,zh,39.25,76.0\n"
		if r, err := svc.Population.ImportResidents(ctx, strings.NewReader(res), false, nil); err != nil || !r.Applied {
			t.Fatalf("residents: %+v %v", r, err)
		}
		shel := "id,name,lat,lon,capacity,kind\nS-N,北一中,39.60,76.00,1000,school\nS-S,南广场,39.20,76.00,500,outdoor\n"
		if r, err := svc.Population.ImportShelters(ctx, strings.NewReader(shel), false, dispatch.Actor{Name: "admin"}); err != nil || !r.Applied {
			t.Fatalf("shelters: %+v %v", r, err)
		}
		op := dispatch.Actor{Name: "op", Role: dispatch.RoleOperator}
		ap := dispatch.Actor{Name: "ap", Role: dispatch.RoleApprover}
		in := orangeInput()
		in.Action = &dispatch.ActionInput{Type: "evacuate"}

		a, _, err := svc.Create(ctx, op, in, "", "api")
		if err != nil || a.State != warning.StatePending || len(a.GuidanceDigest) != 64 {
			t.Fatalf("create: %v %+v", err, a)
		}
		view, err := svc.VersionGuidance(ctx, a.ID)
		if err != nil || view.Digest != a.GuidanceDigest || view.Villages != 2 || len(view.Groups) != 2 || !strings.Contains(view.Groups[0].Villages[0].Text["zh"], "北一中") {
			t.Fatalf("guidance view: %+v %v", view, err)
		}
		if _, err := svc.ApproveSeen(ctx, ap, a.ID, "", strings.Repeat("0", 64)); !errors.Is(err, dispatch.ErrConflict) {
			t.Fatalf("approval bound to other guidance: %v", err)
		}
		if cur, _ := st.Alert(ctx, a.ID); cur.State != warning.StatePending {
			t.Fatalf("a refused approval changed the warning: %+v", cur)
		}
		if a, err = svc.ApproveSeen(ctx, ap, a.ID, "", a.GuidanceDigest); err != nil || a.State != warning.StateIssued {
			t.Fatalf("approval bound to the frozen guidance: %v %+v", err, a)
		}

		// An update to shelter in place carries its action, frozen anew.
		sip := orangeInput()
		sip.Action = &dispatch.ActionInput{Type: "shelter_in_place"}
		u, err := svc.Update(ctx, op, a.ID, sip)
		if err != nil || u.Pending == nil || u.Pending.Action == nil || u.Pending.Action.Type != dispatch.ActionShelterInPlace ||
			u.Pending.GuidanceDigest == "" || u.Pending.GuidanceDigest == a.GuidanceDigest {
			t.Fatalf("update to shelter in place: %v %+v", err, u.Pending)
		}
		if v, err := svc.Approve(ctx, ap, a.ID, ""); err != nil || v.Action.Type != dispatch.ActionShelterInPlace {
			t.Fatalf("approve the update: %v %+v", err, v)
		}

		// An old row: pending, with an action and no frozen guidance.
		old, _, err := svc.Create(ctx, op, in, "", "api")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.UpdateAlert(ctx, old.ID, func(a *dispatch.Alert) (dispatch.Change, error) {
			a.GuidanceDigest = ""
			return dispatch.Change{Audit: dispatch.AuditEntry{Actor: "test", Action: "test.old_row"}}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Approve(ctx, ap, old.ID, ""); !errors.Is(err, dispatch.ErrConflict) || !strings.Contains(err.Error(), "submit it again") {
			t.Fatalf("old row approved: %v", err)
		}
		if _, err := svc.VersionGuidance(ctx, old.ID); !errors.Is(err, dispatch.ErrConflict) {
			t.Fatalf("old row's guidance view: %v", err)
		}
	})
}
