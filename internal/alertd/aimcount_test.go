package alertd

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// POST /audience/count answers what an independent count of the imported
// CSV answers: the whole county by its code, one township, a polygon (and
// the same polygon through /audience/preview); bad aims name the field.
func TestAimCountMatchesIndependentCount(t *testing.T) {
	s := startServer(t, nil)
	csvBytes := importPopulation(t, s.Base, 6000, 300)
	r := csv.NewReader(bytes.NewReader(csvBytes))
	r.Comment = '#'
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	// A triangle over the county's middle (lat,lon as CAP writes it).
	tri := orb.Polygon{orb.Ring{{75.95, 39.30}, {76.15, 39.30}, {76.05, 39.45}, {75.95, 39.30}}}
	capTri := "39.30,75.95 39.30,76.15 39.45,76.05 39.30,75.95"
	county, township, inTri := 0, 0, 0
	for _, row := range rows[1:] {
		if row[col["opt_out"]] == "true" {
			continue
		}
		county++
		if strings.HasPrefix(row[col["village"]], "653122100") {
			township++
		}
		lat, err1 := strconv.ParseFloat(row[col["lat"]], 64)
		lon, err2 := strconv.ParseFloat(row[col["lon"]], 64)
		if err1 == nil && err2 == nil && planar.PolygonContains(tri, orb.Point{lon, lat}) {
			inTri++
		}
	}
	view := addUser(t, s.Base, "watcher", "viewer")
	count := func(area map[string]any) map[string]any {
		t.Helper()
		return mustCall(t, s.Base, "POST", "/api/v1/audience/count", view, map[string]any{"area": area}, 200)
	}
	num := func(m map[string]any, k string) int { return int(m["channels"].(map[string]any)[k].(float64)) }

	whole := count(map[string]any{"codes": []string{"653122"}})
	if got := num(whole, "sms"); got != county || county == 0 {
		t.Errorf("whole county: sms %d, CSV %d", got, county)
	}
	if got := num(whole, "speaker"); got != 300 {
		t.Errorf("whole county: %d loudspeakers, 300 imported", got)
	}
	sum := 0
	for _, n := range whole["townships"].(map[string]any) {
		sum += int(n.(float64))
	}
	if sum != county || len(whole["townships"].(map[string]any)) != 16 {
		t.Errorf("whole county: townships %v add up to %d of %d", whole["townships"], sum, county)
	}
	one := count(map[string]any{"codes": []string{"653122100"}})
	if got := num(one, "sms"); got != township || township == 0 || township >= county {
		t.Errorf("township 653122100: sms %d, CSV %d (county %d)", got, township, county)
	}
	poly := count(map[string]any{"polygons": []string{capTri}})
	if got := num(poly, "sms"); got != inTri || inTri == 0 {
		t.Errorf("polygon: sms %d, located residents inside %d", got, inTri)
	}
	// The preview of a whole warning aimed at the same polygon agrees.
	var body map[string]any
	if err := json.Unmarshal(exampleBody(t), &body); err != nil {
		t.Fatal(err)
	}
	body["area"] = map[string]any{"polygons": []string{capTri}}
	delete(body, "audience")
	p := mustCall(t, s.Base, "POST", "/api/v1/audience/preview", view, body, 200)
	for _, ch := range []string{"sms", "speaker"} {
		if num(p, ch) != num(poly, ch) {
			t.Errorf("polygon %s: preview %d, count %d", ch, num(p, ch), num(poly, ch))
		}
	}

	// Bad aims: 422, every problem named by its field.
	for _, c := range []struct {
		body  string
		field []string
	}{
		{`{"area":{}}`, []string{"area"}},
		{`{"area":{"codes":["65312","653122999"]}}`, []string{"area.codes[0]", "area.codes[1]"}},
		{`{"area":{"polygons":["39.3,75.9 39.4,76.0"]},"audience":{"groups":["nobody"]}}`, []string{"area.polygons[0]"}},
		{`{"area":{"codes":["653122"]},"audience":{"groups":["nobody"],"languages":["fr"]}}`, []string{"audience.groups[0]", "audience.languages[0]"}},
		{`{"area":{"circles":["39.3,75.9 -1"]}}`, []string{"area.circles[0]"}},
	} {
		st, out := call(t, s.Base, "POST", "/api/v1/audience/count", view, c.body)
		raw, _ := json.Marshal(out)
		if st != 422 {
			t.Errorf("%s: status %d, want 422: %s", c.body, st, raw)
			continue
		}
		for _, f := range c.field {
			if !strings.Contains(string(raw), `"field":"`+f+`"`) {
				t.Errorf("%s: answer does not name %s: %s", c.body, f, raw)
			}
		}
	}
	if st, _ := call(t, s.Base, "POST", "/api/v1/audience/count", view, `{"area":{"codes":["653122"]},"text":{}}`); st != 400 {
		t.Errorf("unknown field: status %d, want 400", st)
	}
}

// /console/townships.json is built from the imported loudspeakers and
// rebuilt when an import moves the population generation.
func TestConsoleTownshipMapFollowsImports(t *testing.T) {
	s := startServer(t, nil)
	get := func() map[string]any {
		t.Helper()
		res, err := http.Get(s.Base + "/console/townships.json")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || res.StatusCode != 200 {
			t.Fatalf("townships.json: %d %.200s", res.StatusCode, b)
		}
		return m
	}
	empty := get()
	if empty["approximate"] != true || len(empty["unplaced"].([]any)) != 16 {
		t.Errorf("before any import: approximate %v, unplaced %v", empty["approximate"], empty["unplaced"])
	}
	importPopulation(t, s.Base, 100, 300)
	m := get()
	if m["version"] == empty["version"] || len(m["townships"].([]any)) != 16 {
		t.Errorf("after the import: version %v (was %v), %d townships", m["version"], empty["version"], len(m["townships"].([]any)))
	}
	if strings.Contains(mustJSON(m), `"site"`) {
		t.Error("townships.json carries village (loudspeaker) positions")
	}
}
