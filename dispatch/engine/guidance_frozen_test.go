package engine

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/storetest"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// The engine reads the guidance frozen with the version, never the
// shelters of now: a shelter renamed after submission leaves the planned
// words as submitted (on a node with a cold cache, as after a crash or on
// another node); a version with an action but no frozen guidance gets its
// action only — no shelter, though
// shelters exist — rather than guidance computed at send time.
func TestEngineReadsFrozenGuidance(t *testing.T) {
	ctx := context.Background()
	store := storetest.SQLite(t)
	pop, err := dispatch.NewPopulationIndex(ctx, store, targeting.DefaultTree())
	if err != nil {
		t.Fatal(err)
	}
	res := "id,phone,village,language,lat,lon\n1,13800000001,653122100001,zh,39.55,76.0\n2,13800000002,653122100003,ug,39.25,76.0\n"
	if r, err := pop.ImportResidents(ctx, strings.NewReader(res), false, nil); err != nil || !r.Applied {
		t.Fatalf("residents: %+v %v", r, err)
	}
	shel := "id,name,lat,lon,capacity,kind\nS-N,北一中,39.60,76.00,1000,school\nS-S,南广场,39.20,76.00,500,outdoor\n"
	if r, err := pop.ImportShelters(ctx, strings.NewReader(shel), false, dispatch.Actor{Name: "admin"}); err != nil || !r.Applied {
		t.Fatalf("shelters: %+v %v", r, err)
	}
	a := &dispatch.Alert{ID: "F1", Version: 1, Kind: warning.KindAlert, Event: warning.EventFlood, Level: warning.LevelRed, Status: warning.StatusActual, State: warning.StatePending,
		Area: dispatch.Area{Codes: []string{"653122100"}}, Channels: []string{"sms"}, Action: &dispatch.Action{Type: dispatch.ActionEvacuate},
		Text: map[string]dispatch.Text{"zh": {Headline: "洪水红色预警"}}}
	if err := dispatch.FreezeGuidance(ctx, store, pop, a); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.InsertAlert(ctx, a, "", dispatch.AuditEntry{Actor: "op", Action: "alert.create"}); err != nil {
		t.Fatal(err)
	}
	sh, err := store.Shelter(ctx, "S-N")
	if err != nil {
		t.Fatal(err)
	}
	sh.Name = "改名中学"
	if _, err := pop.PutShelter(ctx, sh.Shelter, dispatch.Actor{Name: "admin"}); err != nil {
		t.Fatal(err)
	}
	v, err := store.AlertVersion(ctx, "F1", 1)
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{cfg: EngineConfig{Population: pop}, store: store, log: slog.New(slog.DiscardHandler)}
	g, err := e.Guidance(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	if n := g.For("653122100001"); n == nil || n.Shelter == nil || n.Shelter.Name != "北一中" {
		t.Fatalf("planned guidance after the rename: %+v", n)
	}
	// The SMS part of the village carries the submitted name.
	msg := dispatch.MessageOf(v)
	parts, err := e.sendParts(ctx, v, "sms", msg, []channels.Recipient{{ID: "1", Address: "+8613800000001"}}, 200)
	if err != nil || len(parts) != 1 || parts[0].msg.Guidance == nil || parts[0].msg.Guidance.Shelter.Name != "北一中" {
		t.Fatalf("sms parts: %+v %v", parts, err)
	}

	// An old row: the action only, no shelter, though shelters exist.
	old := *v
	old.ID, old.GuidanceDigest = "F0", ""
	g, err = e.Guidance(ctx, &old)
	if err != nil || g.Default == nil || g.Default.Action != "evacuate" || g.Default.Shelter != nil || len(g.ByVillage) != 0 {
		t.Fatalf("old row: %+v %v", g, err)
	}
}
