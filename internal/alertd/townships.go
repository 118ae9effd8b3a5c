package alertd

import (
	"context"
	"fmt"
	"os"

	"github.com/paulmach/orb"

	"github.com/alertcast/alertcast/console"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/targeting"
)

// loadTownshipBoundaries reads township_boundaries (nil when not set) and
// checks it against the region tree at start, so a bad file stops alertd
// with its name and the problem instead of a map that fails later.
func loadTownshipBoundaries(path string, tree *targeting.Tree) (map[string]orb.MultiPolygon, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("township_boundaries: %w", err)
	}
	bounds, err := console.ParseTownshipBoundaries(b)
	if err != nil {
		return nil, fmt.Errorf("township_boundaries %s: %w", path, err)
	}
	if _, err := console.BoundaryMap(tree, targeting.ShuleCounty, bounds); err != nil {
		return nil, fmt.Errorf("township_boundaries %s: %w", path, err)
	}
	return bounds, nil
}

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
