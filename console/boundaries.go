package console

import (
	"fmt"
	"math"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"

	"github.com/alertcast/alertcast/targeting"
)

// MaxBoundaryPoints bounds a township boundary file: a county's townships
// drawn at survey detail stay far below it.
const MaxBoundaryPoints = 500_000

// ParseTownshipBoundaries reads real township boundaries: a GeoJSON
// FeatureCollection whose features are Polygons or MultiPolygons of
// [lon, lat] with a "code" property naming a 9-digit township code. A
// township may span several features. Errors name the feature and what is
// wrong with it.
func ParseTownshipBoundaries(data []byte) (map[string]orb.MultiPolygon, error) {
	fc, err := geojson.UnmarshalFeatureCollection(data)
	if err != nil {
		return nil, fmt.Errorf("township boundaries: not a GeoJSON FeatureCollection: %w", err)
	}
	if len(fc.Features) == 0 {
		return nil, fmt.Errorf("township boundaries: the FeatureCollection has no features")
	}
	out := map[string]orb.MultiPolygon{}
	points := 0
	for i, f := range fc.Features {
		at := fmt.Sprintf("township boundaries: features[%d]", i)
		if f == nil {
			return nil, fmt.Errorf("%s: must be a Feature, got null", at)
		}
		code, _ := f.Properties["code"].(string)
		if len(code) != 9 || targeting.CheckCode(code) != nil {
			return nil, fmt.Errorf("%s.properties.code: must be a 9-digit township code as a string, got %v", at, f.Properties["code"])
		}
		var mp orb.MultiPolygon
		switch g := f.Geometry.(type) {
		case orb.Polygon:
			mp = orb.MultiPolygon{g}
		case orb.MultiPolygon:
			mp = g
		default:
			return nil, fmt.Errorf("%s.geometry: must be a Polygon or MultiPolygon (township %s)", at, code)
		}
		for j, poly := range mp {
			if len(poly) == 0 {
				return nil, fmt.Errorf("%s.geometry: polygon %d has no ring (township %s)", at, j, code)
			}
			for k, ring := range poly {
				points += len(ring)
				if len(ring) < 4 || ring[0] != ring[len(ring)-1] {
					return nil, fmt.Errorf("%s.geometry: polygon %d ring %d must be closed with at least 4 positions (township %s)", at, j, k, code)
				}
				for _, p := range ring {
					if math.IsNaN(p[0]) || math.IsNaN(p[1]) || p[0] < -180 || p[0] > 180 || p[1] < -90 || p[1] > 90 {
						return nil, fmt.Errorf("%s.geometry: position %v is not [lon, lat] in degrees (township %s)", at, p, code)
					}
				}
			}
		}
		if points > MaxBoundaryPoints {
			return nil, fmt.Errorf("township boundaries: more than %d positions", MaxBoundaryPoints)
		}
		out[code] = append(out[code], mp...)
	}
	return out, nil
}

// BoundaryMap is the township map from real boundaries: every township of
// county in the tree that bounds has, drawn as given (Approximate false).
// A code in bounds that is not a township of county is an error.
func BoundaryMap(tree *targeting.Tree, county string, bounds map[string]orb.MultiPolygon) (*TownshipMap, error) {
	if _, ok := tree.Region(county); !ok {
		return nil, fmt.Errorf("township map: county %s is not in the region tree", county)
	}
	known := map[string]targeting.Region{}
	for _, tw := range tree.Children(county) {
		known[tw.Code] = tw
	}
	for code := range bounds {
		if _, ok := known[code]; !ok {
			return nil, fmt.Errorf("township boundaries: %s is not a township of county %s in the region tree", code, county)
		}
	}
	m := &TownshipMap{County: county, Method: "township boundaries from the configured file (township_boundaries)", Boundaries: [][2][2]float64{}}
	for _, tw := range tree.Children(county) {
		mp, ok := bounds[tw.Code]
		if !ok {
			m.Unplaced = append(m.Unplaced, tw.Code)
			continue
		}
		ts := TownshipShape{Code: tw.Code, Name: tw.Name, NameUG: tw.NameUG}
		var biggest orb.Polygon
		for _, poly := range mp {
			for _, ring := range poly {
				r := make([][2]float64, len(ring))
				for i, p := range ring {
					r[i] = [2]float64{round5(p[0]), round5(p[1])}
				}
				ts.Rings = append(ts.Rings, r)
			}
			if biggest == nil || planar.Area(poly) > planar.Area(biggest) {
				biggest = poly
			}
		}
		c, _ := planar.CentroidArea(biggest)
		if !planar.PolygonContains(biggest, c) {
			c = biggest[0][0]
		}
		ts.Label = [2]float64{round5(c[0]), round5(c[1])}
		m.Townships = append(m.Townships, ts)
	}
	return m, nil
}
