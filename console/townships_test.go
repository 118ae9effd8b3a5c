package console

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/alertcast/alertcast/targeting"
)

// syntheticVillages places every village of Shule County as the
// population generator does (the mean of its generated loudspeakers).
func syntheticVillages(t testing.TB, speakers int, seed int64) map[string]orb.Point {
	t.Helper()
	var res, spk bytes.Buffer
	if err := targeting.GeneratePopulation(targeting.DefaultTree(), targeting.DefaultOutline(), 0, speakers, seed, &res, &spk); err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(&spk)
	r.Comment = '#'
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	sum := map[string][3]float64{}
	for _, rec := range recs[1:] { // id,village,lat,lon,…
		lat, err1 := strconv.ParseFloat(rec[2], 64)
		lon, err2 := strconv.ParseFloat(rec[3], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		s := sum[rec[1]]
		sum[rec[1]] = [3]float64{s[0] + lon, s[1] + lat, s[2] + 1}
	}
	out := map[string]orb.Point{}
	for v, s := range sum {
		out[v] = orb.Point{s[0] / s[2], s[1] / s[2]}
	}
	return out
}

func ringsOf(rs [][][2]float64) [][]vec {
	var out [][]vec
	for _, r := range rs {
		v := make([]vec, 0, len(r))
		for _, p := range r {
			v = append(v, vec{p[0], p[1]})
		}
		out = append(out, v)
	}
	return out
}

// townshipAt returns the townships whose cells contain p (lon, lat): one
// inside the outline, none outside.
func townshipsAt(m *TownshipMap, p vec) (tws []string, cells int) {
	for _, ts := range m.Townships {
		hit := false
		for _, v := range ts.Villages {
			if inRings(p, ringsOf(v.Rings)) {
				cells++
				hit = true
			}
		}
		if hit {
			tws = append(tws, ts.Code)
		}
	}
	return tws, cells
}

func TestTownshipMapPartitionsTheOutline(t *testing.T) {
	tree, outline := targeting.DefaultTree(), targeting.DefaultOutline()
	villages := syntheticVillages(t, 600, 3)
	m, err := BuildTownships(tree, targeting.ShuleCounty, outline, villages)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Approximate || !strings.Contains(m.Method, "approximate") {
		t.Errorf("the map does not say it is approximate: %+v", m.Method)
	}
	if len(m.Townships) != 16 || len(m.Unplaced) != 0 {
		t.Fatalf("%d townships placed, unplaced %v; want all 16", len(m.Townships), m.Unplaced)
	}

	// Every village lies in its own cell, and in no other township's.
	placed := 0
	for _, ts := range m.Townships {
		if ts.Name == "" {
			t.Errorf("township %s has no name", ts.Code)
		}
		for _, v := range ts.Villages {
			placed++
			site := vec{v.site[0], v.site[1]}
			if !inRings(site, ringsOf(v.Rings)) {
				t.Errorf("village %s at %v is not inside its own cell", v.Code, v.site)
			}
			if tws, _ := townshipsAt(m, site); len(tws) != 1 || tws[0] != ts.Code {
				t.Errorf("village %s of %s lies in townships %v", v.Code, ts.Code, tws)
			}
			if tree.TownshipOf(v.Code) != ts.Code {
				t.Errorf("village %s listed under %s", v.Code, ts.Code)
			}
		}
		// The label is inside the township.
		if tws, _ := townshipsAt(m, vec{ts.Label[0], ts.Label[1]}); len(tws) != 1 || tws[0] != ts.Code {
			t.Errorf("label of %s at %v lies in %v", ts.Code, ts.Label, tws)
		}
	}
	if placed < 240 {
		t.Errorf("only %d villages placed of 251", placed)
	}

	// Cells do not overlap and cover the outline: a point inside the
	// outline is in exactly one cell, a point outside in none.
	b := outline.Bound()
	rng := rand.New(rand.NewPCG(1, 2))
	inside := 0
	for range 4000 {
		p := orb.Point{b.Min[0] + rng.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + rng.Float64()*(b.Max[1]-b.Min[1])}
		want := 0
		if planar.MultiPolygonContains(outline, p) {
			want = 1
			inside++
		}
		if tws, cells := townshipsAt(m, vec{p[0], p[1]}); cells != want || len(tws) != want {
			t.Errorf("point %v: in %d cells (townships %v), want %d", p, cells, tws, want)
		}
	}
	if inside < 1000 {
		t.Fatalf("only %d sample points fell inside the outline", inside)
	}
	// And the areas add up (rounding to 1e-5° costs a little).
	var sum float64
	for _, ts := range m.Townships {
		for _, v := range ts.Villages {
			for _, r := range ringsOf(v.Rings) {
				sum += ringArea(r[:len(r)-1])
			}
		}
	}
	if want := planar.Area(outline); math.Abs(math.Abs(sum)-want)/want > 1e-4 {
		t.Errorf("cells cover %.6f deg², the outline %.6f", math.Abs(sum), want)
	}

	// Every boundary segment separates two townships.
	if len(m.Boundaries) < 15 {
		t.Errorf("only %d boundary segments between 16 townships", len(m.Boundaries))
	}
	for _, s := range m.Boundaries {
		a, e := vec{s[0][0], s[0][1]}, vec{s[1][0], s[1][1]}
		d := e.sub(a)
		l := math.Hypot(d.x, d.y)
		if l < 1e-4 {
			continue // too short to probe beside it at this rounding
		}
		mid := vec{(a.x + e.x) / 2, (a.y + e.y) / 2}
		n := vec{-d.y / l * 2e-4, d.x / l * 2e-4}
		l1, _ := townshipsAt(m, vec{mid.x + n.x, mid.y + n.y})
		l2, _ := townshipsAt(m, vec{mid.x - n.x, mid.y - n.y})
		if len(l1) == 1 && len(l2) == 1 && l1[0] == l2[0] {
			t.Errorf("boundary %v has township %s on both sides", s, l1[0])
		}
	}
}

func TestTownshipMapUnplacedAndDuplicates(t *testing.T) {
	tree, outline := targeting.DefaultTree(), targeting.DefaultOutline()
	villages := syntheticVillages(t, 600, 5)
	// One township loses every location; two villages share a spot.
	gone := "653122201"
	for v := range villages {
		if strings.HasPrefix(v, gone) {
			delete(villages, v)
		}
	}
	vs := tree.Children("653122100")
	villages[vs[1].Code] = villages[vs[0].Code]
	m, err := BuildTownships(tree, targeting.ShuleCounty, outline, villages)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Unplaced) != 1 || m.Unplaced[0] != gone {
		t.Errorf("unplaced = %v, want [%s]", m.Unplaced, gone)
	}
	for _, ts := range m.Townships {
		if ts.Code == gone {
			t.Errorf("township %s has a shape without a located village", gone)
		}
	}
	p := villages[vs[0].Code]
	if tws, cells := townshipsAt(m, vec{p[0], p[1]}); cells != 1 || len(tws) != 1 {
		t.Errorf("two villages at one spot: the spot lies in %d cells", cells)
	}

	if _, err := BuildTownships(tree, "653199", outline, villages); err == nil || !strings.Contains(err.Error(), "653199") {
		t.Errorf("unknown county: err = %v", err)
	}
	if _, err := BuildTownships(tree, targeting.ShuleCounty, nil, villages); err == nil || !strings.Contains(err.Error(), "outline") {
		t.Errorf("no outline: err = %v", err)
	}
	// No located village at all: every township unplaced, no shapes.
	m, err = BuildTownships(tree, targeting.ShuleCounty, outline, nil)
	if err != nil || len(m.Townships) != 0 || len(m.Unplaced) != 16 {
		t.Errorf("no villages: %d townships, %d unplaced, err %v", len(m.Townships), len(m.Unplaced), err)
	}
}

// TestVoronoiCellsAreNearestSite checks the cells against brute force.
func TestVoronoiCellsAreNearestSite(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	sites := make([]vec, 60)
	for i := range sites {
		sites[i] = vec{rng.Float64(), rng.Float64()}
	}
	cells := voronoiCells(sites, vec{-1, -1}, vec{2, 2})
	for range 3000 {
		p := vec{rng.Float64()*3 - 1, rng.Float64()*3 - 1}
		near, best := -1, math.Inf(1)
		for i, s := range sites {
			d := p.sub(s)
			if d.dot(d) < best {
				near, best = i, d.dot(d)
			}
		}
		for i, c := range cells {
			ring := make([]vec, len(c))
			for k, v := range c {
				ring[k] = v.p
			}
			if in := inRings(p, [][]vec{ring}); in != (i == near) {
				t.Fatalf("point %v: in cell %d = %v, nearest site %d", p, i, in, near)
			}
		}
	}
	// Each labelled edge lies on the bisector with its neighbour.
	for i, c := range cells {
		for _, v := range c {
			if v.nb < 0 {
				continue
			}
			a, b := v.p.sub(sites[i]), v.p.sub(sites[v.nb])
			if math.Abs(a.dot(a)-b.dot(b)) > 1e-9 {
				t.Fatalf("cell %d: vertex %v labelled with %d is not equidistant", i, v.p, v.nb)
			}
		}
	}
}

type fakeVillages struct {
	version atomic.Value
	loads   atomic.Int32
	pts     map[string]orb.Point
}

func (f *fakeVillages) PopulationVersion(context.Context) (string, error) {
	return f.version.Load().(string), nil
}
func (f *fakeVillages) VillagePoints(context.Context) (map[string]orb.Point, error) {
	f.loads.Add(1)
	return f.pts, nil
}

func TestTownshipsHandlerBuildsOncePerVersion(t *testing.T) {
	src := &fakeVillages{pts: syntheticVillages(t, 300, 9)}
	src.version.Store("g1")
	h := TownshipsHandler(targeting.DefaultTree, src, nil)
	get := func() (*http.Response, TownshipMap) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/console/townships.json", nil))
		res := rec.Result()
		b, _ := io.ReadAll(res.Body)
		var m TownshipMap
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("townships.json: %v: %.200s", err, b)
		}
		return res, m
	}
	res, m := get()
	if res.StatusCode != 200 || res.Header.Get("Content-Security-Policy") == "" || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("status %d, headers %v", res.StatusCode, res.Header)
	}
	if !m.Approximate || m.Version != "g1" || len(m.Townships) == 0 {
		t.Errorf("map: approximate %v, version %q, %d townships", m.Approximate, m.Version, len(m.Townships))
	}
	get()
	if n := src.loads.Load(); n != 1 {
		t.Errorf("built %d times for one version, want 1", n)
	}
	src.version.Store("g2")
	if _, m := get(); m.Version != "g2" || src.loads.Load() != 2 {
		t.Errorf("a new population version did not rebuild: version %q, %d builds", m.Version, src.loads.Load())
	}
}
