package channels

import (
	"math"
	"strconv"

	"github.com/alertcast/alertcast/warning"
)

// Guidance is what one village's recipients are told to do on top of the
// warning's text: go to their shelter (its name, direction and distance
// from the village) or move away from a hazard zone, or stay indoors. The
// engine computes it once per village and hands each village's recipients
// a Message carrying theirs; a channel only renders it (package wording).
type Guidance struct {
	// Action is "evacuate" or "shelter_in_place".
	Action string `json:"action"`
	// Village is the 12-digit code the guidance was computed for.
	Village string `json:"village,omitempty"`
	// Shelter names the assigned shelter (evacuate to a shelter).
	Shelter *GuidanceShelter `json:"shelter,omitempty"`
	// Away is true when people are to move away from a zone in direction
	// Compass rather than to a shelter.
	Away bool `json:"away,omitempty"`
	// Compass is the direction to go: towards the shelter, or away.
	Compass warning.Compass `json:"-"`
	// DistanceM is the straight-line distance to the shelter in metres.
	DistanceM float64 `json:"distance_m,omitempty"`
	// From is the village's point (for maps), when known.
	From *LatLon `json:"from,omitempty"`
}

// GuidanceShelter is the shelter a village is sent to.
type GuidanceShelter struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	NameUG   string `json:"name_ug,omitempty"`
	At       LatLon `json:"at"`
	Capacity int    `json:"capacity"`
	// Kind and Accessible are the shelter's registry entry as it was when
	// the guidance was computed (CAP's shelter list carries them).
	Kind       string `json:"kind,omitempty"`
	Accessible bool   `json:"accessible,omitempty"`
}

// LatLon is a point in degrees.
type LatLon struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Key identifies what the guidance says, for caches and grouping:
// recipients whose guidance has the same key get the same words.
func (g *Guidance) Key() string {
	if g == nil {
		return ""
	}
	k := g.Action + "|" + g.Compass.String()
	if g.Away {
		k += "|away"
	}
	if g.Shelter != nil {
		// The spoken distance has one decimal of a kilometre.
		k += "|" + g.Shelter.ID + "|" + KM(g.DistanceM)
	}
	return k
}

// KM writes metres as kilometres with one decimal ("1.2").
func KM(m float64) string { return strconv.FormatFloat(math.Round(m/100)/10, 'f', 1, 64) }
