package alertd

import (
	"context"

	"github.com/paulmach/orb"

	"github.com/alertcast/alertcast/dispatch"
)

// villageLocations places villages for the console's approximate township
// map: a village is where its registered loudspeakers are on average (the
// region data carry no village coordinates). The population generation
// moves on every import, so the map is rebuilt only then.
type villageLocations struct{ store *dispatch.Store }

func (v villageLocations) PopulationVersion(ctx context.Context) (string, error) {
	return v.store.PopulationGeneration(ctx)
}

func (v villageLocations) VillagePoints(ctx context.Context) (map[string]orb.Point, error) {
	sum := map[string][3]float64{}
	err := v.store.ForEachSpeaker(ctx, func(s dispatch.SpeakerRecord) error {
		if s.Point != nil {
			a := sum[s.Village]
			sum[s.Village] = [3]float64{a[0] + s.Point.Lon, a[1] + s.Point.Lat, a[2] + 1}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]orb.Point, len(sum))
	for code, a := range sum {
		out[code] = orb.Point{a[0] / a[2], a[1] / a[2]}
	}
	return out, nil
}
