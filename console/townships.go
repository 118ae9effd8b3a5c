package console

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/paulmach/orb"

	"github.com/alertcast/alertcast/targeting"
)

// No region file carries township boundaries, so the console draws
// approximate ones: the Voronoi cell of every located village (the area
// nearer to it than to any other village), merged per township and clipped
// to the county outline. Good enough to see which township a place is in;
// not a legal boundary, and the map and the JSON say so.

// TownshipMap is /console/townships.json.
type TownshipMap struct {
	County      string `json:"county"`
	Approximate bool   `json:"approximate"`
	Method      string `json:"method"`
	// Version is the population version the map was built from.
	Version   string          `json:"version,omitempty"`
	Townships []TownshipShape `json:"townships"`
	// Boundaries are the lines between cells of different townships,
	// inside the outline: each a segment [[lon, lat], [lon, lat]].
	Boundaries [][2][2]float64 `json:"boundaries"`
	// Unplaced lists the townships with no located village: they have no
	// shape on the map.
	Unplaced []string `json:"unplaced,omitempty"`
}

// TownshipShape is one township: its village cells and a label position.
type TownshipShape struct {
	Code     string        `json:"code"`
	Name     string        `json:"name"`
	NameUG   string        `json:"name_ug,omitempty"`
	Label    [2]float64    `json:"label"` // [lon, lat], inside the township
	Villages []VillageCell `json:"villages,omitempty"`
	// Rings is the township's own boundary when real boundaries are
	// configured (even-odd fill); the approximate map has Villages instead.
	Rings [][][2]float64 `json:"rings,omitempty"`
}

// VillageCell is a village's Voronoi cell clipped to the outline: rings of
// [lon, lat] (even-odd fill: an outline hole stays a hole). The village's
// location itself is left out: the file is public, the loudspeaker registry
// it comes from is not.
type VillageCell struct {
	Code  string         `json:"code"`
	Rings [][][2]float64 `json:"rings"`
	site  [2]float64
	area  float64    // in the local plane, for the label
	label [2]float64 // centroid of the largest ring when inside it
}

const townshipMethod = "approximate: Voronoi cells of village locations (the mean position of each village's registered " +
	"loudspeakers), merged per township and clipped to the county outline; not surveyed boundaries"

// BuildTownships computes the approximate township map of county from the
// located villages of tree (villages: code → [lon, lat]) and the county
// outline. Villages outside county or without a location are left out;
// two villages at the same spot share the first one's cell.
func BuildTownships(tree *targeting.Tree, county string, outline orb.MultiPolygon, villages map[string]orb.Point) (*TownshipMap, error) {
	if len(outline) == 0 {
		return nil, fmt.Errorf("township map: empty outline for county %s", county)
	}
	if _, ok := tree.Region(county); !ok {
		return nil, fmt.Errorf("township map: county %s is not in the region tree", county)
	}
	b := outline.Bound()
	lat0 := (b.Min[1] + b.Max[1]) / 2
	k := math.Cos(lat0 * math.Pi / 180)
	to := func(p orb.Point) vec { return vec{p[0] * k, p[1]} }
	from := func(v vec) [2]float64 { return [2]float64{round5(v.x / k), round5(v.y)} }

	// Sites: located villages of the county, in code order (deterministic).
	type site struct {
		code, township string
		p              vec
	}
	var sites []site
	seen := map[vec]bool{}
	for _, v := range tree.Villages() {
		if !strings.HasPrefix(v.Code, county) {
			continue
		}
		p, ok := villages[v.Code]
		if !ok || math.IsNaN(p[0]) || math.IsNaN(p[1]) {
			continue
		}
		q := to(p)
		if seen[q] {
			continue
		}
		seen[q] = true
		sites = append(sites, site{v.Code, tree.TownshipOf(v.Code), q})
	}
	m := &TownshipMap{County: county, Approximate: true, Method: townshipMethod, Boundaries: [][2][2]float64{}}
	var rings [][]vec
	for _, poly := range outline {
		for _, r := range poly {
			rv := make([]vec, 0, len(r))
			for _, p := range r {
				rv = append(rv, to(p))
			}
			if len(rv) > 1 && rv[0] == rv[len(rv)-1] {
				rv = rv[:len(rv)-1]
			}
			rings = append(rings, rv)
		}
	}
	pts := make([]vec, len(sites))
	for i, s := range sites {
		pts[i] = s.p
	}
	pad := 0.01 + math.Max(b.Max[0]-b.Min[0], b.Max[1]-b.Min[1])
	lo, hi := to(b.Min), to(b.Max)
	for _, s := range pts { // sites outside the outline still get a cell
		lo, hi = vec{math.Min(lo.x, s.x), math.Min(lo.y, s.y)}, vec{math.Max(hi.x, s.x), math.Max(hi.y, s.y)}
	}
	cells := voronoiCells(pts, vec{lo.x - pad, lo.y - pad}, vec{hi.x + pad, hi.y + pad})

	byTownship := map[string]*TownshipShape{}
	for i, s := range sites {
		vc := VillageCell{Code: s.code, site: from(s.p)}
		best := 0.0
		for _, r := range rings {
			c := clipRing(r, cells[i])
			if c == nil {
				continue
			}
			out := make([][2]float64, 0, len(c)+1)
			for _, p := range c {
				out = append(out, from(p))
			}
			out = append(out, out[0])
			vc.Rings = append(vc.Rings, out)
			a := ringArea(c)
			vc.area += a
			if math.Abs(a) > best {
				best = math.Abs(a)
				vc.label = from(centroid(c))
				if !inRings(centroid(c), [][]vec{c}) {
					vc.label = vc.site
				}
			}
		}
		if len(vc.Rings) == 0 { // the village lies outside the outline and so does its cell
			continue
		}
		ts := byTownship[s.township]
		if ts == nil {
			ts = &TownshipShape{Code: s.township}
			byTownship[s.township] = ts
		}
		ts.Villages = append(ts.Villages, vc)
		// Boundary edges: faces towards a village of another township,
		// each pair once, clipped to the outline.
		for j, v := range cells[i] {
			nb := v.nb
			if nb < 0 || nb < i || sites[nb].township == s.township {
				continue
			}
			a, e := v.p, cells[i][(j+1)%len(cells[i])].p
			for _, seg := range clipSegment(a, e, rings) {
				m.Boundaries = append(m.Boundaries, [2][2]float64{from(seg[0]), from(seg[1])})
			}
		}
	}
	for _, tw := range tree.Children(county) {
		ts := byTownship[tw.Code]
		if ts == nil {
			m.Unplaced = append(m.Unplaced, tw.Code)
			continue
		}
		ts.Name, ts.NameUG = tw.Name, tw.NameUG
		// The label goes in the township's largest village cell.
		big := slices.MaxFunc(ts.Villages, func(a, b VillageCell) int { return cmpFloat(math.Abs(a.area), math.Abs(b.area)) })
		ts.Label = big.label
		m.Townships = append(m.Townships, *ts)
	}
	return m, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func round5(v float64) float64 { return math.Round(v*1e5) / 1e5 }

// centroid is the area centroid of a ring.
func centroid(r []vec) vec {
	var cx, cy, a float64
	for i := range r {
		p, q := r[i], r[(i+1)%len(r)]
		c := p.cross(q)
		a += c
		cx += (p.x + q.x) * c
		cy += (p.y + q.y) * c
	}
	if a == 0 {
		return r[0]
	}
	return vec{cx / (3 * a), cy / (3 * a)}
}

// VillageLocations tells the township map where villages are.
type VillageLocations interface {
	// PopulationVersion changes whenever the located villages may have
	// changed (an import, a refresh).
	PopulationVersion(ctx context.Context) (string, error)
	// VillagePoints returns village code → [lon, lat].
	VillagePoints(ctx context.Context) (map[string]orb.Point, error)
}

// TownshipsConfig is what the township map is built from.
type TownshipsConfig struct {
	Tree func() *targeting.Tree // the region tree in use (it grows with region imports)
	// Villages places villages for the approximate map.
	Villages VillageLocations
	// Boundaries, when set, are real township boundaries (from
	// ParseTownshipBoundaries): the map draws them and is not approximate.
	Boundaries map[string]orb.MultiPolygon
	Logger     *slog.Logger
}

// TownshipsHandler serves /console/townships.json: real township
// boundaries when configured, otherwise the approximate map, built on first
// request and again only when the population version changes. Mount it for
// "GET /console/townships.json".
func TownshipsHandler(cfg TownshipsConfig) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		mu      sync.Mutex
		version string
		built   *asset
	)
	get := func(ctx context.Context) (*asset, error) {
		v := "boundaries"
		if cfg.Boundaries == nil {
			var err error
			if v, err = cfg.Villages.PopulationVersion(ctx); err != nil {
				return nil, err
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if built != nil && v == version {
			return built, nil
		}
		var m *TownshipMap
		var err error
		n := 0
		if cfg.Boundaries != nil {
			m, err = BoundaryMap(cfg.Tree(), targeting.ShuleCounty, cfg.Boundaries)
		} else {
			var pts map[string]orb.Point
			if pts, err = cfg.Villages.VillagePoints(ctx); err != nil {
				return nil, err
			}
			n = len(pts)
			m, err = BuildTownships(cfg.Tree(), targeting.ShuleCounty, targeting.DefaultOutline(), pts)
		}
		if err != nil {
			return nil, err
		}
		if cfg.Boundaries == nil {
			m.Version = v
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		built, version = newAsset(b, "application/json; charset=utf-8"), v
		log.Info("township map built", "approximate", m.Approximate, "townships", len(m.Townships), "unplaced", len(m.Unplaced), "villages", n, "bytes", len(b))
		return built, nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := get(r.Context())
		if err != nil {
			log.Error("township map", "err", err)
			w.Header().Set("Content-Security-Policy", ContentSecurityPolicy)
			http.Error(w, "township map unavailable", http.StatusServiceUnavailable)
			return
		}
		serveAsset(w, r, a, ContentSecurityPolicy)
	})
}
