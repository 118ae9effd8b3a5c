package engine

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"testing"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/storetest"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// BenchmarkPlanGuidance measures what evacuation guidance adds to planning
// a county-wide warning to Shule County's 355,544 residents (251
// villages, synthetic population and shelters of seed 1): "none" resolves
// the SMS recipients as planning does; "evacuate" does the same and then
// the guidance work of the whole audience — the per-village guidance frozen
// with the version, read from the store into a cold cache, and every
// recipient's lookup into it in batches of 1,000
// as the send tasks do it. The difference of the two is the budget of
// issue 21 (≤ 2 s). cpu-ms/op is this goroutine's thread CPU time (the
// database reads of Refresh and Shelters run on it too; the GC's helpers
// do not). Computing the guidance itself is now done once at submission
// (dispatch.FreezeGuidance), outside planning. Run:
//
//	go test ./dispatch/engine -run XXX -bench PlanGuidance -benchtime 3x -count 3
func BenchmarkPlanGuidance(b *testing.B) {
	ctx := context.Background()
	store := storetest.SQLite(b)
	tree := targeting.DefaultTree()
	pop, err := dispatch.NewPopulationIndex(ctx, store, tree)
	if err != nil {
		b.Fatal(err)
	}
	var res, spk, shel bytes.Buffer
	if err := targeting.GeneratePopulation(tree, targeting.DefaultOutline(), 355544, 3000, 1, &res, &spk); err != nil {
		b.Fatal(err)
	}
	if err := targeting.GenerateShelters(tree, targeting.DefaultOutline(), 1, &shel); err != nil {
		b.Fatal(err)
	}
	if r, err := pop.ImportResidents(ctx, &res, false, nil); err != nil || !r.Applied {
		b.Fatalf("residents: %v", err)
	}
	if r, err := pop.ImportSpeakers(ctx, &spk, false); err != nil || !r.Applied {
		b.Fatalf("speakers: %v", err)
	}
	if r, err := pop.ImportShelters(ctx, &shel, false, dispatch.Actor{Name: "bench"}); err != nil || !r.Applied {
		b.Fatalf("shelters: %v", err)
	}
	e := &Engine{cfg: EngineConfig{Population: pop, SendChunk: 200}, store: store, log: slog.New(slog.DiscardHandler)}
	base := dispatch.Alert{ID: "BENCH", Version: 1, Kind: warning.KindAlert, Level: warning.LevelRed, Status: warning.StatusActual,
		Area: dispatch.Area{Codes: []string{"653122"}}, Channels: []string{"sms"},
		Text: map[string]dispatch.Text{"zh": {Headline: "洪水红色预警"}, "ug": {Headline: "كەلكۈن"}}}
	runs := 0 // -count runs each sub-benchmark again on the same store
	for _, c := range []struct {
		name   string
		action *dispatch.Action
	}{{"none", nil}, {"evacuate", &dispatch.Action{Type: dispatch.ActionEvacuate}}} {
		b.Run(c.name, func(b *testing.B) {
			a := base
			runs++
			a.ID, a.Action = fmt.Sprintf("BENCH-%s-%d", c.name, runs), c.action
			// Submission freezes the guidance and stores it with the
			// version; planning reads it back (from a cold cache below).
			if err := dispatch.FreezeGuidance(ctx, store, pop, &a); err != nil {
				b.Fatal(err)
			}
			if _, _, err := store.InsertAlert(ctx, &a, "", dispatch.AuditEntry{Actor: "bench", Action: "alert.create"}); err != nil {
				b.Fatal(err)
			}
			a.Guidance = nil
			msg := dispatch.MessageOf(&a)
			villages := 0
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0 := threadCPU()
			for b.Loop() {
				e.guides = guidanceCache{} // cold: read once per version and node, here once per run
				rcpts, _, err := e.recipients(ctx, &a, "sms")
				if err != nil {
					b.Fatal(err)
				}
				if len(rcpts) < 300000 {
					b.Fatalf("%d recipients", len(rcpts))
				}
				distinct := map[*channels.Guidance]bool{}
				for i := 0; i < len(rcpts); i += 1000 {
					parts, err := e.sendParts(ctx, &a, "sms", msg, rcpts[i:min(i+1000, len(rcpts))], 200)
					if err != nil {
						b.Fatal(err)
					}
					for _, p := range parts {
						distinct[p.msg.Guidance] = true
					}
				}
				villages = len(distinct)
			}
			b.ReportMetric(float64(villages), "guidances")
			b.ReportMetric(float64((threadCPU()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}
