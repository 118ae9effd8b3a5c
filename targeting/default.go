package targeting

import (
	"bytes"
	_ "embed"
	"fmt"
	"sync"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

// ShuleCounty is the code of the embedded default county, 疏勒县.
const ShuleCounty = "653122"

var (
	//go:embed data/653122.csv
	shuleCSV []byte
	//go:embed data/653122.geojson
	shuleGeoJSON []byte

	outlineOnce sync.Once
	outline     orb.MultiPolygon
)

// DefaultTree returns a fresh copy of the embedded Shule County tree
// (1 county, 16 townships, 251 villages; NBS 2023 codes, see data/README.md).
// Each call parses anew, so callers may Merge into the result.
func DefaultTree() *Tree {
	t, err := ParseRegions(bytes.NewReader(shuleCSV))
	if err != nil {
		panic(fmt.Sprintf("targeting: embedded regions: %v", err)) // a build defect, caught by tests
	}
	return t
}

// DefaultOutline returns the embedded Shule County outline ([lon, lat],
// probably GCJ-02; see data/README.md). The result is shared: do not modify it.
func DefaultOutline() orb.MultiPolygon {
	outlineOnce.Do(func() {
		mp, err := ParseOutline(shuleGeoJSON)
		if err != nil {
			panic(fmt.Sprintf("targeting: embedded outline: %v", err))
		}
		outline = mp
	})
	return outline
}

// ParseOutline reads a GeoJSON FeatureCollection, Feature or bare geometry and
// returns the union of its Polygon and MultiPolygon geometries.
func ParseOutline(data []byte) (orb.MultiPolygon, error) {
	var mp orb.MultiPolygon
	addGeom := func(g orb.Geometry) {
		switch g := g.(type) {
		case orb.Polygon:
			mp = append(mp, g)
		case orb.MultiPolygon:
			mp = append(mp, g...)
		}
	}
	if fc, err := geojson.UnmarshalFeatureCollection(data); err == nil && len(fc.Features) > 0 {
		for _, f := range fc.Features {
			addGeom(f.Geometry)
		}
	} else if f, err := geojson.UnmarshalFeature(data); err == nil && f.Geometry != nil {
		addGeom(f.Geometry)
	} else if g, err := geojson.UnmarshalGeometry(data); err == nil {
		addGeom(g.Geometry())
	} else {
		return nil, fmt.Errorf("outline: not GeoJSON: %w", err)
	}
	if len(mp) == 0 {
		return nil, fmt.Errorf("outline: no Polygon or MultiPolygon in the GeoJSON")
	}
	return mp, nil
}
