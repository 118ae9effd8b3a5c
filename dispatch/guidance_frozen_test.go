package dispatch

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// A version's guidance is frozen when it is submitted and stored with it,
// on both engines: read back it is the same guidance (compass points
// included), a shelter renamed afterwards does not change it, a row
// changed in the database is refused, and a version with an action but no
// frozen guidance (an old row) is named as such, never recomputed.
func TestFrozenGuidanceStore(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		pop := shelterPopulation(t, ctx, s)
		if out, err := pop.ImportShelters(ctx, strings.NewReader(sheltersCSV), false, Actor{Name: "admin"}); err != nil || !out.Applied {
			t.Fatalf("shelters: %+v %v", out, err)
		}

		a := testAlert("G1")
		a.Action = &Action{Type: ActionEvacuate}
		if err := FreezeGuidance(ctx, s, pop, a); err != nil {
			t.Fatal(err)
		}
		north := a.Guidance.For("653122100001")
		if a.GuidanceDigest == "" || north == nil || north.Shelter == nil || north.Shelter.Name != "北一中" || north.Compass == warning.CompassUnknown ||
			north.Shelter.Kind != "school" || !north.Shelter.Accessible {
			t.Fatalf("frozen: %q %+v", a.GuidanceDigest, north)
		}
		want := a.Guidance
		if _, _, err := s.InsertAlert(ctx, a, "", AuditEntry{Actor: "op", Action: "alert.create"}); err != nil {
			t.Fatal(err)
		}
		stored, err := s.AlertVersion(ctx, "G1", 1)
		if err != nil || stored.GuidanceDigest != a.GuidanceDigest || stored.Guidance != nil {
			t.Fatalf("stored version: %+v %v", stored, err)
		}
		got, err := s.VersionGuidance(ctx, stored)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("read back %+v, stored %+v", got, want)
		}
		if _, d, _ := EncodeGuidance(got); d != a.GuidanceDigest {
			t.Fatalf("re-encoded digest %s, stored %s", d, a.GuidanceDigest)
		}

		// The shelter is renamed: the stored version still says the name
		// it was submitted with; a version frozen now says the new one.
		sh, err := s.Shelter(ctx, "S-N")
		if err != nil {
			t.Fatal(err)
		}
		sh.Name = "改名中学"
		if _, err := pop.PutShelter(ctx, sh.Shelter, Actor{Name: "admin"}); err != nil {
			t.Fatal(err)
		}
		again, err := s.VersionGuidance(ctx, stored)
		if err != nil || again.For("653122100001").Shelter.Name != "北一中" {
			t.Fatalf("after the edit the stored version says %+v (%v)", again.For("653122100001"), err)
		}
		next := testAlert("G2")
		next.Action = &Action{Type: ActionEvacuate}
		if err := FreezeGuidance(ctx, s, pop, next); err != nil {
			t.Fatal(err)
		}
		if next.Guidance.For("653122100001").Shelter.Name != "改名中学" || next.GuidanceDigest == a.GuidanceDigest {
			t.Fatalf("a version frozen after the edit: %+v %s", next.Guidance.For("653122100001").Shelter, next.GuidanceDigest)
		}
		// The policy sees other guidance as a text change.
		if ch := Changes(stored, next, nil); !slices.Contains(ch, ChangeText) {
			t.Errorf("changes with other guidance: %v", ch)
		}
		same := *stored
		if ch := Changes(stored, &same, nil); slices.Contains(ch, ChangeText) {
			t.Errorf("changes with the same guidance: %v", ch)
		}

		// A row changed in the database does not match its digest.
		if _, err := s.exec(ctx, nil, `UPDATE alert_guidance SET body = REPLACE(body, '北一中', '假中学') WHERE digest = ?`, a.GuidanceDigest); err != nil {
			t.Fatal(err)
		}
		if _, err := s.VersionGuidance(ctx, stored); !errors.Is(err, ErrGuidanceTampered) {
			t.Fatalf("tampered row: %v", err)
		}
		// A version with an action and no digest: named missing.
		old := *stored
		old.GuidanceDigest = ""
		if _, err := s.VersionGuidance(ctx, &old); !errors.Is(err, ErrGuidanceMissing) {
			t.Fatalf("old row: %v", err)
		}
		// No action, or a cancel: no guidance at all.
		plain := testAlert("G3")
		if g, err := s.VersionGuidance(ctx, plain); g != nil || err != nil {
			t.Fatalf("no action: %v %v", g, err)
		}
		cancel := *stored
		cancel.Kind = warning.KindCancel
		if g, err := s.VersionGuidance(ctx, &cancel); g != nil || err != nil {
			t.Fatalf("cancel: %v %v", g, err)
		}
	})
}

// Away-from and shelter-in-place guidance round-trip through the stored
// form with the same digest every time.
func TestFrozenGuidanceEncoding(t *testing.T) {
	pts := map[string]targeting.Point{"653122100001": {Lat: 39.55, Lon: 76.0}, "653122100003": {Lat: 39.25, Lon: 76.0}}
	for name, act := range map[string]*Action{
		"away":             {Type: ActionEvacuate, AwayFrom: "39.3,76.1 39.5,76.1 39.5,76.3 39.3,76.3 39.3,76.1"},
		"shelter_in_place": {Type: ActionShelterInPlace},
	} {
		a := testAlert("E1")
		a.Action = act
		g := GuidanceOf(a, nil, nil, pts)
		b1, d1, err := EncodeGuidance(g)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeGuidance(b1)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, g) {
			t.Errorf("%s: decoded %+v, want %+v", name, back, g)
		}
		if _, d2, _ := EncodeGuidance(back); d2 != d1 || d1 != GuidanceDigest(b1) {
			t.Errorf("%s: digest %s then %s", name, d1, d2)
		}
	}
	if _, err := DecodeGuidance([]byte(`{"v":2,"default":{"action":"evacuate"},"villages":[]}`)); err == nil {
		t.Error("a format this alertd does not know was read")
	}
	if _, err := DecodeGuidance([]byte(`{"v":1,"default":{"action":"evacuate","compass":"UP"},"villages":[]}`)); err == nil {
		t.Error("an unknown compass point was read")
	}
}
