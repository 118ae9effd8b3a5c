package lifecycle

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/storetest"
	"github.com/alertcast/alertcast/warning"
)

// A polled CAP warning is imported under the poller's scope: aimed outside
// it, it is refused with a 403 CAP error naming the area (the poller does
// not retry); inside it, it is imported.
func TestServiceCAPImportScope(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, st *dispatch.Store) {
		ctx := context.Background()
		svc := policyService(t, st)
		up := &dispatch.Alert{ID: "met-1", Version: 1, Kind: warning.KindAlert, State: warning.StateIssued, Event: warning.EventSandstorm,
			Level: warning.LevelBlue, Status: warning.StatusActual, Area: dispatch.Area{Codes: []string{"653122201"}},
			Text: map[string]dispatch.Text{"zh": {Headline: "沙尘暴蓝色预警"}}, IssuedAt: time.Now(), CreatedAt: time.Now(),
			Expires: time.Now().Add(6 * time.Hour).UTC().Truncate(time.Second)}
		raw, err := AlertToCAP(up, "https://met.example.cn").Marshal()
		if err != nil {
			t.Fatal(err)
		}
		town := dispatch.Actor{Name: "system:cap-poll", Role: dispatch.RoleOperator, Scope: dispatch.Scope{"653122100"}}
		_, err = svc.ImportCAPFrom(ctx, town, raw, nil, dispatch.OriginCAPPoll)
		var ce *CAPError
		if !errors.As(err, &ce) || ce.Status != 403 || !strings.Contains(strings.Join(ce.Problems, " "), "is outside your scope 653122100 (疏勒镇)") {
			t.Fatalf("polled CAP outside the poll scope: %v", err)
		}
		county := town
		county.Scope = dispatch.Scope{"653122"}
		res, err := svc.ImportCAPFrom(ctx, county, raw, nil, dispatch.OriginCAPPoll)
		if err != nil || res.AlertID == "" {
			t.Fatalf("polled CAP inside the poll scope: %v %+v", err, res)
		}
	})
}

// A schedule fires under its creator's scope as stored at that moment: an
// officer narrowed since can no longer have it issue outside.
func TestScheduleFiresUnderCreatorsCurrentScope(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, st *dispatch.Store) {
		ctx := context.Background()
		svc := policyService(t, st)
		admin := dispatch.Actor{Name: "admin", Role: dispatch.RoleAdmin}
		if _, err := st.CreateUserScoped(ctx, "op", dispatch.RoleOperator, dispatch.Scope{"653122"}, "", admin); err != nil {
			t.Fatal(err)
		}
		op := dispatch.Actor{Name: "op", Role: dispatch.RoleOperator, Scope: dispatch.Scope{"653122"}}
		in := orangeInput()
		in.Level = "blue"
		sc, err := svc.NewSchedule(ctx, op, dispatch.Schedule{Kind: dispatch.ScheduleBulletin, Spec: "every 1h", Body: &in})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetUserScope(ctx, "op", dispatch.Scope{"653122201"}, admin); err != nil {
			t.Fatal(err)
		}
		err = (&Scheduler{Service: svc}).fire(ctx, sc)
		if !errors.Is(err, dispatch.ErrForbidden) || !strings.Contains(err.Error(), "area 653122100 (疏勒镇) is outside your scope 653122201") {
			t.Fatalf("fire after the creator was narrowed: %v", err)
		}
		// And a schedule outside the creator's scope is refused at once.
		narrow := dispatch.Actor{Name: "op", Role: dispatch.RoleOperator, Scope: dispatch.Scope{"653122201"}}
		if _, err := svc.NewSchedule(ctx, narrow, dispatch.Schedule{Kind: dispatch.ScheduleBulletin, Spec: "every 1h", Body: &in}); !errors.Is(err, dispatch.ErrForbidden) {
			t.Fatalf("schedule outside the scope: %v", err)
		}
	})
}
