package targeting

import (
	"math"
	"slices"

	"github.com/alertcast/alertcast/warning"
)

const earthRadiusM = 6371008.8 // mean Earth radius (IUGG)

// DistanceM is the great-circle (haversine) distance from a to b in metres.
func DistanceM(a, b Point) float64 {
	φ1, φ2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dφ := φ2 - φ1
	dλ := (b.Lon - a.Lon) * math.Pi / 180
	h := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(φ1)*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * earthRadiusM * math.Asin(math.Min(1, math.Sqrt(h)))
}

// BearingDeg is the initial great-circle bearing from a to b, in degrees
// clockwise from north in [0, 360).
func BearingDeg(a, b Point) float64 {
	φ1, φ2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dλ := (b.Lon - a.Lon) * math.Pi / 180
	y := math.Sin(dλ) * math.Cos(φ2)
	x := math.Cos(φ1)*math.Sin(φ2) - math.Sin(φ1)*math.Cos(φ2)*math.Cos(dλ)
	deg := math.Atan2(y, x) * 180 / math.Pi
	if deg < 0 {
		deg += 360
	}
	return deg
}

// Heading is where to go from a point: a compass point and a distance.
type Heading struct {
	Compass  warning.Compass `json:"compass"`
	Distance float64         `json:"distance_m"`
}

// HeadingTo is the heading from a to b. A target within 50 m has no
// direction worth saying.
func HeadingTo(a, b Point) Heading {
	d := DistanceM(a, b)
	if d < 50 {
		return Heading{Distance: d}
	}
	return Heading{Compass: warning.CompassOf(BearingDeg(a, b)), Distance: d}
}

// AwayFrom is the compass point to move in from p to get away from the
// polygon: from the nearest point of its edge towards p (p outside), or
// from that point out through the edge (p inside: the shortest way out).
// Distances are computed on a local equirectangular projection, which at
// a county's scale is exact enough for eight compass points.
func AwayFrom(poly []Point, p Point) warning.Compass {
	if len(poly) < 2 {
		return warning.CompassUnknown
	}
	kx := math.Cos(p.Lat * math.Pi / 180)
	proj := func(q Point) (float64, float64) { return (q.Lon - p.Lon) * kx, q.Lat - p.Lat }
	best, bx, by := math.Inf(1), 0.0, 0.0
	for i := range poly { // a closed ring's last edge has length 0: harmless
		a, b := poly[i], poly[(i+1)%len(poly)]
		ax, ay := proj(a)
		cx, cy := proj(b)
		dx, dy := cx-ax, cy-ay
		t := 0.0
		if l := dx*dx + dy*dy; l > 0 {
			t = math.Max(0, math.Min(1, -(ax*dx+ay*dy)/l))
		}
		nx, ny := ax+t*dx, ay+t*dy
		if d := nx*nx + ny*ny; d < best {
			best, bx, by = d, nx, ny
		}
	}
	if best == 0 {
		return warning.CompassUnknown // on the edge: no side is away
	}
	// (bx, by) is the nearest edge point seen from p; away is the opposite
	// of it when p is outside, towards it when p is inside.
	vx, vy := -bx, -by
	if pointInRing(poly, p) {
		vx, vy = bx, by
	}
	return warning.CompassOf(math.Atan2(vx, vy) * 180 / math.Pi)
}

func pointInRing(poly []Point, p Point) bool {
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[i], poly[j]
		if (a.Lat > p.Lat) != (b.Lat > p.Lat) && p.Lon < (b.Lon-a.Lon)*(p.Lat-a.Lat)/(b.Lat-a.Lat)+a.Lon {
			in = !in
		}
	}
	return in
}

// Assignment says which shelter serves a village and why.
type Assignment struct {
	Village  string `json:"village"`
	Shelter  string `json:"shelter"`
	Explicit bool   `json:"explicit"` // listed by the shelter; else the nearest
	Point    *Point `json:"point,omitempty"`
}

// AssignShelters assigns every village in villages to a shelter: the one
// that lists it, else the nearest shelter to the village's point (ties go
// to the smaller id, so the result does not depend on order). A village
// without a point and not listed gets no assignment. Output is in village
// order.
func AssignShelters(villages []string, points map[string]Point, shelters []Shelter) []Assignment {
	explicit := map[string]string{}
	for _, s := range shelters {
		for _, v := range s.Villages {
			explicit[v] = s.ID
		}
	}
	sorted := slices.Clone(shelters)
	slices.SortFunc(sorted, func(a, b Shelter) int { return compareStrings(a.ID, b.ID) })
	vs := slices.Clone(villages)
	slices.Sort(vs)
	vs = slices.Compact(vs)
	out := make([]Assignment, 0, len(vs))
	for _, v := range vs {
		a := Assignment{Village: v}
		if p, ok := points[v]; ok {
			a.Point = &p
		}
		if id, ok := explicit[v]; ok {
			a.Shelter, a.Explicit = id, true
		} else if a.Point != nil && len(sorted) > 0 {
			best := math.Inf(1)
			for _, s := range sorted {
				if d := DistanceM(*a.Point, s.Point); d < best {
					best, a.Shelter = d, s.ID
				}
			}
		}
		if a.Shelter != "" {
			out = append(out, a)
		}
	}
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// VillagePoints is where each village is, for guidance: the mean of its
// located loudspeakers (mounted in the village centre), else the mean of
// its located residents. Villages with neither are absent.
func (ix *Index) VillagePoints() map[string]Point {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	type acc struct {
		lat, lon float64
		n        int
	}
	spk := map[uint16]*acc{}
	for _, s := range ix.spk {
		if s.id == "" || !s.hasPoint {
			continue
		}
		a := spk[s.village]
		if a == nil {
			a = &acc{}
			spk[s.village] = a
		}
		a.lat += float64(s.lat)
		a.lon += float64(s.lon)
		a.n++
	}
	res := map[uint16]*acc{}
	for _, pg := range ix.pages {
		if pg == nil {
			continue
		}
		for i := range pg {
			r := &pg[i]
			if r.flags&flagPresent == 0 || r.flags&flagPoint == 0 {
				continue
			}
			if _, ok := spk[r.village]; ok {
				continue
			}
			a := res[r.village]
			if a == nil {
				a = &acc{}
				res[r.village] = a
			}
			a.lat += float64(r.lat)
			a.lon += float64(r.lon)
			a.n++
		}
	}
	out := make(map[string]Point, len(spk)+len(res))
	for _, m := range []map[uint16]*acc{res, spk} {
		for v, a := range m {
			out[ix.tree.villageCode(int32(v))] = Point{Lat: a.lat / float64(a.n), Lon: a.lon / float64(a.n)}
		}
	}
	return out
}
