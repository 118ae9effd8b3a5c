package console

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/targeting"
	"github.com/paulmach/orb"
)

// square is a GeoJSON feature: a square of side d at (lon, lat) for code.
func square(code any, lon, lat, d float64) string {
	c, _ := json.Marshal(code)
	return fmt.Sprintf(`{"type":"Feature","properties":{"code":%s},"geometry":{"type":"Polygon","coordinates":[[[%g,%g],[%g,%g],[%g,%g],[%g,%g],[%g,%g]]]}}`,
		c, lon, lat, lon+d, lat, lon+d, lat+d, lon, lat+d, lon, lat)
}

func collection(features ...string) []byte {
	return []byte(`{"type":"FeatureCollection","features":[` + strings.Join(features, ",") + `]}`)
}

func TestTownshipBoundariesFromFile(t *testing.T) {
	tree := targeting.DefaultTree()
	data := collection(square("653122100", 76.0, 39.3, 0.1), square("653122201", 76.1, 39.3, 0.1), square("653122201", 76.3, 39.3, 0.05))
	bounds, err := ParseTownshipBoundaries(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(bounds) != 2 || len(bounds["653122201"]) != 2 {
		t.Fatalf("parsed %d townships, 653122201 in %d parts", len(bounds), len(bounds["653122201"]))
	}
	m, err := BoundaryMap(tree, targeting.ShuleCounty, bounds)
	if err != nil {
		t.Fatal(err)
	}
	if m.Approximate || len(m.Townships) != 2 || len(m.Unplaced) != 14 {
		t.Errorf("approximate %v, %d townships, %d unplaced", m.Approximate, len(m.Townships), len(m.Unplaced))
	}
	for _, ts := range m.Townships {
		if ts.Name == "" || len(ts.Rings) == 0 || len(ts.Villages) != 0 {
			t.Errorf("township %+v", ts)
		}
		if tws, _ := townshipsAtRings(m, vec{ts.Label[0], ts.Label[1]}); len(tws) != 1 || tws[0] != ts.Code {
			t.Errorf("label of %s at %v lies in %v", ts.Code, ts.Label, tws)
		}
	}
	// The handler serves them, not approximate ones, and never asks for villages.
	h := TownshipsHandler(TownshipsConfig{Tree: targeting.DefaultTree, Boundaries: bounds})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/townships.json", nil))
	b, _ := io.ReadAll(rec.Result().Body)
	var got TownshipMap
	if err := json.Unmarshal(b, &got); err != nil || rec.Code != 200 || got.Approximate || len(got.Townships) != 2 {
		t.Errorf("served %d %.300s", rec.Code, b)
	}

	for _, c := range []struct {
		data []byte
		want string
	}{
		{[]byte(`{"type":"Feature"}`), "FeatureCollection"},
		{collection(), "no features"},
		{collection(square(653122100, 76, 39, 1)), "features[0].properties.code"},
		{collection(square("65312210", 76, 39, 1)), "features[0].properties.code"},
		{collection(square("653122100", 76, 39, 1), square("653122100001", 76, 39, 1)), "features[1].properties.code"},
		{collection(`{"type":"Feature","properties":{"code":"653122100"},"geometry":{"type":"Point","coordinates":[76,39]}}`), "features[0].geometry: must be a Polygon"},
		{collection(`{"type":"Feature","properties":{"code":"653122100"},"geometry":{"type":"Polygon","coordinates":[[[76,39],[77,39],[77,40]]]}}`), "must be closed"},
		{collection(square("653122100", 200, 39, 1)), "not [lon, lat]"},
	} {
		if _, err := ParseTownshipBoundaries(c.data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.80s: err = %v, want it to name %q", c.data, err, c.want)
		}
	}
	if _, err := BoundaryMap(tree, targeting.ShuleCounty, map[string]orb.MultiPolygon{"653121100": nil}); err == nil || !strings.Contains(err.Error(), "653121100") {
		t.Errorf("a township of another county: err = %v", err)
	}
}

// townshipsAtRings is townshipsAt for real boundaries.
func townshipsAtRings(m *TownshipMap, p vec) (tws []string, n int) {
	for _, ts := range m.Townships {
		if inRings(p, ringsOf(ts.Rings)) {
			tws = append(tws, ts.Code)
			n++
		}
	}
	return tws, n
}

// FuzzTownshipBoundaries: the file is outside input; parsing never panics,
// and what it accepts has closed rings of valid positions.
func FuzzTownshipBoundaries(f *testing.F) {
	f.Add(collection(square("653122100", 76.0, 39.3, 0.1)))
	f.Add(collection(square("653122100", 76.0, 39.3, 0.1), square(1, 0, 0, 1)))
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"653122100"},"geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[]]}}]}`))
	f.Add([]byte(`{"type":"FeatureCollection","features":[null]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		bounds, err := ParseTownshipBoundaries(data)
		if err != nil {
			return
		}
		for code, mp := range bounds {
			if len(code) != 9 {
				t.Fatalf("accepted code %q", code)
			}
			for _, poly := range mp {
				for _, r := range poly {
					if len(r) < 4 || r[0] != r[len(r)-1] {
						t.Fatalf("accepted an open ring %v", r)
					}
				}
			}
		}
		_, _ = BoundaryMap(targeting.DefaultTree(), targeting.ShuleCounty, bounds)
	})
}
