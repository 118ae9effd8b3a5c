package engine

import (
	"log/slog"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/warning"
)

// A stored version that sends loudspeakers guidance has its village
// programmes rendered ahead: one render per distinct guidance of the
// villages in its area (and the default), none for villages outside it or
// excluded, and nothing for a version without loudspeakers or action.
func TestPrewarmVillageProgrammes(t *testing.T) {
	shelter := func(id string) *channels.GuidanceShelter {
		return &channels.GuidanceShelter{ID: id, Name: "避难场所" + id}
	}
	guide := func(v, s string, m float64) *channels.Guidance {
		return &channels.Guidance{Action: "evacuate", Village: v, Shelter: shelter(s), Compass: warning.East, DistanceM: m}
	}
	g := &dispatch.VillageGuidance{
		ByVillage: map[string]*channels.Guidance{
			"653122100201": guide("653122100201", "X", 1200),
			"653122100202": guide("653122100202", "X", 1230), // says the same as 100201
			"653122100203": guide("653122100203", "Y", 800),
			"653122201201": guide("653122201201", "Z", 500),  // another township
			"653122100299": guide("653122100299", "W", 3000), // excluded
		},
		Default: &channels.Guidance{Action: "evacuate"},
	}
	engine := func(a *dispatch.Alert, r *villageRenderer) *Engine {
		e := &Engine{cfg: EngineConfig{Audio: r}, log: slog.New(slog.DiscardHandler)}
		e.guides.m = map[string]*dispatch.VillageGuidance{guidanceKey(a): g}
		return e
	}
	a := evacuateVersion()
	a.Area = dispatch.Area{Codes: []string{"653122100"}, Exclude: []string{"653122100299"}}
	r := &villageRenderer{renders: map[string]int{}}
	engine(a, r).prewarmVillages(t.Context(), a)
	want := map[string]int{g.Default.Key(): 1, g.ByVillage["653122100201"].Key(): 1, g.ByVillage["653122100203"].Key(): 1}
	if len(r.renders) != len(want) {
		t.Fatalf("rendered %v, want %v", r.renders, want)
	}
	for k, n := range want {
		if r.renders[k] != n {
			t.Fatalf("rendered %v, want %v", r.renders, want)
		}
	}
	// Prewarm (called when a version is stored or approved) does it in
	// the background.
	r2 := &villageRenderer{renders: map[string]int{}}
	engine(a, r2).Prewarm(a)
	testsvc.WaitFor(t, 10*time.Second, "the village programmes prewarmed", func() bool {
		r2.mu.Lock()
		defer r2.mu.Unlock()
		return len(r2.renders) == len(want)
	})
	for _, c := range []func(*dispatch.Alert){
		func(a *dispatch.Alert) { a.Channels = []string{"sms"} },
		func(a *dispatch.Alert) { a.Action = nil },
		func(a *dispatch.Alert) { a.Kind = warning.KindAllClear },
	} {
		b := evacuateVersion()
		c(b)
		r := &villageRenderer{renders: map[string]int{}}
		engine(b, r).prewarmVillages(t.Context(), b)
		if len(r.renders) != 0 {
			t.Errorf("%+v: rendered %v", b, r.renders)
		}
	}
}
