package dispatch

import (
	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/targeting"
)

// VillageGuidance is one version's guidance, per village: computed once per
// version from the shelters, their assignments and the village points, so
// that a county-wide evacuate costs 251 computations, not one per
// resident.
type VillageGuidance struct {
	ByVillage map[string]*channels.Guidance
	// Default is for a village with no guidance of its own (no shelter
	// assigned, no known location): still told to evacuate, without a
	// place or a direction.
	Default *channels.Guidance
}

// For returns a village's guidance (nil when the version asks no action).
func (v *VillageGuidance) For(village string) *channels.Guidance {
	if v == nil {
		return nil
	}
	if g, ok := v.ByVillage[village]; ok {
		return g
	}
	return v.Default
}

// GuidanceOf computes a version's guidance. Evacuate with away_from: each
// village with a point is told which way leads away from the polygon's
// nearest edge (targeting.AwayFrom). Evacuate otherwise: each assigned
// village is told its shelter, with the compass point and distance from
// the point it was assigned from. Shelter in place: the same words for
// everyone. nil when the version has no action.
func GuidanceOf(a *Alert, shelters []Shelter, assignments []targeting.Assignment, points map[string]targeting.Point) *VillageGuidance {
	if a.Action == nil || a.Action.Type == ActionUnknown {
		return nil
	}
	if a.Action.Type == ActionShelterInPlace {
		return &VillageGuidance{Default: &channels.Guidance{Action: ActionShelterInPlace.String()}}
	}
	out := &VillageGuidance{ByVillage: map[string]*channels.Guidance{}, Default: &channels.Guidance{Action: ActionEvacuate.String()}}
	if a.Action.AwayFrom != "" {
		out.Default.Away = true
		poly, err := targeting.ParsePolygon(a.Action.AwayFrom)
		if err != nil {
			return out // validated on input; a stored bad polygon still evacuates
		}
		for v, p := range points {
			out.ByVillage[v] = &channels.Guidance{Action: ActionEvacuate.String(), Village: v, Away: true,
				Compass: targeting.AwayFrom(poly, p), From: &channels.LatLon{Lat: p.Lat, Lon: p.Lon}}
		}
		return out
	}
	byID := make(map[string]*channels.GuidanceShelter, len(shelters))
	for i := range shelters {
		s := &shelters[i]
		byID[s.ID] = &channels.GuidanceShelter{ID: s.ID, Name: s.Name, NameUG: s.NameUG,
			At: channels.LatLon{Lat: s.Point.Lat, Lon: s.Point.Lon}, Capacity: s.Capacity,
			Kind: s.Kind.String(), Accessible: s.Accessible}
	}
	for _, as := range assignments {
		sh, ok := byID[as.Shelter]
		if !ok {
			continue
		}
		g := &channels.Guidance{Action: ActionEvacuate.String(), Village: as.Village, Shelter: sh}
		if as.Point != nil {
			h := targeting.HeadingTo(*as.Point, targeting.Point{Lat: sh.At.Lat, Lon: sh.At.Lon})
			g.Compass, g.DistanceM = h.Compass, h.Distance
			g.From = &channels.LatLon{Lat: as.Point.Lat, Lon: as.Point.Lon}
		}
		out.ByVillage[as.Village] = g
	}
	return out
}

// VillagePoints is where each village is (targeting.Index.VillagePoints).
func (r *PopulationIndex) VillagePoints() map[string]targeting.Point { return r.ix.VillagePoints() }

// ResidentsByVillage counts a resolution's SMS recipients per village.
func (r *PopulationIndex) ResidentsByVillage(res *targeting.Resolution) map[string]int {
	return r.ix.ResidentsByVillage(res)
}

// ResidentVillages reports the village of each resident in ids
// (targeting.Index.ResidentVillages).
func (r *PopulationIndex) ResidentVillages(ids []uint32, fn func(i int, village string)) {
	r.ix.ResidentVillages(ids, fn)
}
