package dispatch

import (
	"testing"

	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

func TestGuidanceOf(t *testing.T) {
	shelters := []Shelter{{Shelter: targeting.Shelter{ID: "S1", Name: "一中", Point: targeting.Point{Lat: 39.4077, Lon: 76.0100}, Capacity: 900}}}
	assign := []targeting.Assignment{
		{Village: "653122100001", Shelter: "S1", Point: &targeting.Point{Lat: 39.4, Lon: 76.0}},
		{Village: "653122100002", Shelter: "S1", Explicit: true}, // listed, no point
		{Village: "653122100003", Shelter: "gone"},
	}
	if GuidanceOf(&Alert{}, shelters, assign, nil) != nil {
		t.Error("guidance without an action")
	}
	g := GuidanceOf(&Alert{Action: &Action{Type: ActionEvacuate}}, shelters, assign, nil)
	v1 := g.For("653122100001")
	if v1.Shelter == nil || v1.Shelter.ID != "S1" || v1.Compass != warning.NorthEast || v1.DistanceM < 1100 || v1.DistanceM > 1300 || v1.From == nil {
		t.Errorf("village 1: %+v", v1)
	}
	if v2 := g.For("653122100002"); v2.Shelter == nil || v2.Compass != warning.CompassUnknown {
		t.Errorf("village 2 (listed, no point): %+v", v2)
	}
	if v3 := g.For("653122100003"); v3 != g.Default || v3.Shelter != nil || v3.Action != "evacuate" {
		t.Errorf("village 3 (its shelter is gone): %+v", v3)
	}
	away := GuidanceOf(&Alert{Action: &Action{Type: ActionEvacuate, AwayFrom: "39.3,76.1 39.5,76.1 39.5,76.3 39.3,76.3 39.3,76.1"}}, shelters, assign,
		map[string]targeting.Point{"653122100001": {Lat: 39.4, Lon: 76.0}})
	if a := away.For("653122100001"); !a.Away || a.Compass != warning.West || a.Shelter != nil {
		t.Errorf("away: %+v", a)
	}
	if a := away.For("653122100009"); !a.Away || a.Compass != warning.CompassUnknown {
		t.Errorf("away, no point: %+v", a)
	}
	sip := GuidanceOf(&Alert{Action: &Action{Type: ActionShelterInPlace}}, shelters, assign, nil)
	if s := sip.For("653122100001"); s.Action != "shelter_in_place" || s.Shelter != nil {
		t.Errorf("shelter in place: %+v", s)
	}
	var none *VillageGuidance
	if none.For("x") != nil {
		t.Error("nil guidance")
	}
}
