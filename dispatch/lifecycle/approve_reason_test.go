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

// Approving a warning at a level in Policy.ReasonRequiredLevels (default:
// red) needs a reason; the refusal is a ValidationError naming "reason"
// and leaves the warning pending. Lower levels, and a policy without the
// rule, approve without one.
func TestServiceApproveReasonRequired(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, st *dispatch.Store) {
		ctx := context.Background()
		svc := policyService(t, st)
		op := dispatch.Actor{Name: "op", Role: dispatch.RoleOperator}
		op2 := dispatch.Actor{Name: "op2", Role: dispatch.RoleOperator}
		ap := dispatch.Actor{Name: "ap", Role: dispatch.RoleApprover}

		refused := func(what string, err error) {
			t.Helper()
			var ve *dispatch.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Field != "reason" || !strings.Contains(ve.Problems[0].Rule, "red") {
				t.Fatalf("%s: want a ValidationError naming field reason at red, got %v", what, err)
			}
		}

		red := orangeInput()
		red.Level = "red"
		a, _, err := svc.Create(ctx, op, red, "", "api")
		if err != nil || a.State != warning.StatePending {
			t.Fatalf("create red: %v %+v", err, a)
		}
		for _, reason := range []string{"", "   "} {
			_, err := svc.Approve(ctx, ap, a.ID, reason)
			refused("red without a reason", err)
		}
		if cur, err := st.Alert(ctx, a.ID); err != nil || cur.State != warning.StatePending || cur.ApprovedBy != "" {
			t.Fatalf("a refused approval changed the warning: %v %+v", err, cur)
		}
		if a, err = svc.Approve(ctx, ap, a.ID, "confirmed by the met bureau"); err != nil || a.State != warning.StateIssued || a.ApprovalReason != "confirmed by the met bureau" {
			t.Fatalf("red with a reason: %v %+v", err, a)
		}

		// Orange: no reason needed.
		o, _, err := svc.Create(ctx, op, orangeInput(), "", "api")
		if err != nil {
			t.Fatal(err)
		}
		if o, err = svc.Approve(ctx, ap, o.ID, ""); err != nil || o.State != warning.StateIssued {
			t.Fatalf("orange without a reason: %v %+v", err, o)
		}
		// Raised to red by an update: the pending update needs a reason too.
		up := orangeInput()
		up.Level = "red"
		if u, err := svc.Update(ctx, op2, o.ID, up); err != nil || u.Pending == nil {
			t.Fatalf("raise to red: %v %+v", err, u)
		}
		_, err = svc.Approve(ctx, ap, o.ID, "")
		refused("pending red update without a reason", err)
		if v, err := svc.Approve(ctx, ap, o.ID, "river gauge confirms"); err != nil || v.Level != warning.LevelRed || v.Version != 2 {
			t.Fatalf("pending red update with a reason: %v %+v", err, v)
		}

		// A policy that requires no reasons.
		svc.Policy.ReasonRequiredLevels = nil
		b, _, err := svc.Create(ctx, op, red, "", "api")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Approve(ctx, ap, b.ID, ""); err != nil {
			t.Fatalf("red without a reason when the policy requires none: %v", err)
		}
	})
}
