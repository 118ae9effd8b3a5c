package targeting

import (
	"math"
	"slices"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// Whether a drawn area lies inside a set of outlines (an officer's scope:
// one county, or several side by side). Used to refuse a polygon or circle
// that leaves or crosses the scope, before anything is resolved.

// withinEps is how far (degrees, about 1 cm) a probe point is set off an
// outline edge to see which side is inside.
const withinEps = 1e-7

// PolygonWithin reports whether the polygon pts (closed, as CheckPolygon
// accepts) lies inside the union of outlines. Touching an outline's border
// from inside counts as inside; an edge that leaves the union, or a hole of
// the union (another region, a gap between outlines) inside the polygon,
// does not.
func PolygonWithin(pts []Point, outlines []orb.MultiPolygon) bool {
	return ringWithin(ringOf(pts), outlines)
}

// CircleWithin reports whether the circle lies inside the union of
// outlines, tested on a 64-gon drawn around it (slightly larger than the
// circle, so a circle that only grazes the border is refused).
func CircleWithin(c Circle, outlines []orb.MultiPolygon) bool {
	const n = 64
	// Circumscribed: the polygon's edges touch the circle from outside.
	r := c.RadiusKM / math.Cos(math.Pi/n)
	dLat := r / 111.32
	dLon := r / (111.32 * math.Cos(c.Center.Lat*math.Pi/180))
	ring := make(orb.Ring, 0, n+1)
	for i := range n {
		a := 2 * math.Pi * float64(i) / n
		ring = append(ring, orb.Point{c.Center.Lon + dLon*math.Cos(a), c.Center.Lat + dLat*math.Sin(a)})
	}
	ring = append(ring, ring[0])
	if c.RadiusKM == 0 {
		return inUnion(c.Center.orb(), outlines)
	}
	return ringWithin(ring, outlines)
}

type seg struct{ a, b orb.Point }

func ringWithin(ring orb.Ring, outlines []orb.MultiPolygon) bool {
	if len(ring) < 2 || len(outlines) == 0 {
		return false
	}
	if ring[0] != ring[len(ring)-1] {
		ring = append(slices.Clip(ring), ring[0])
	}
	box := ring.Bound()
	// The outline edges near the polygon: only they can cross it or lie
	// inside it.
	var edges []seg
	for _, mp := range outlines {
		if !mp.Bound().Intersects(box) {
			continue
		}
		for _, p := range mp {
			for _, r := range p {
				for i := 0; i+1 < len(r); i++ {
					e := seg{r[i], r[i+1]}
					if (orb.Bound{Min: e.a, Max: e.a}).Extend(e.b).Intersects(box) {
						edges = append(edges, e)
					}
				}
			}
		}
	}
	// 1. The polygon's border stays inside: cut each edge where outline
	// edges cross it; every piece's middle must be inside (or on a border).
	for i := 0; i+1 < len(ring); i++ {
		a, b := ring[i], ring[i+1]
		if !inUnionOrOnEdge(a, outlines, edges) {
			return false
		}
		ts := []float64{0, 1}
		eb := orb.Bound{Min: a, Max: a}.Extend(b)
		for _, e := range edges {
			if !eb.Intersects(orb.Bound{Min: e.a, Max: e.a}.Extend(e.b)) {
				continue
			}
			if t, ok := segParam(a, b, e.a, e.b); ok {
				ts = append(ts, t)
			}
		}
		slices.Sort(ts)
		for k := 0; k+1 < len(ts); k++ {
			if ts[k+1]-ts[k] < 1e-12 {
				continue
			}
			t := (ts[k] + ts[k+1]) / 2
			m := orb.Point{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t}
			if !inUnionOrOnEdge(m, outlines, edges) {
				return false
			}
		}
	}
	// 2. Nothing outside the union lies inside the polygon: any outline
	// edge inside it must have the union on both sides (a border between
	// two regions of the scope), not outside on one.
	for _, e := range edges {
		m := orb.Point{(e.a[0] + e.b[0]) / 2, (e.a[1] + e.b[1]) / 2}
		if !planar.RingContains(ring, m) {
			continue
		}
		dx, dy := e.b[0]-e.a[0], e.b[1]-e.a[1]
		l := math.Hypot(dx, dy)
		if l == 0 {
			continue
		}
		nx, ny := -dy/l*withinEps, dx/l*withinEps
		for _, p := range []orb.Point{{m[0] + nx, m[1] + ny}, {m[0] - nx, m[1] - ny}} {
			if planar.RingContains(ring, p) && !inUnion(p, outlines) {
				return false
			}
		}
	}
	return true
}

func inUnion(p orb.Point, outlines []orb.MultiPolygon) bool {
	for _, mp := range outlines {
		if mp.Bound().Contains(p) && planar.MultiPolygonContains(mp, p) {
			return true
		}
	}
	return false
}

func inUnionOrOnEdge(p orb.Point, outlines []orb.MultiPolygon, edges []seg) bool {
	if inUnion(p, outlines) {
		return true
	}
	for _, e := range edges {
		if orient(e.a, e.b, p) == 0 && onSegment(e.a, e.b, p) {
			return true
		}
	}
	return false
}

// segParam returns where (0..1 along a–b) segment c–d crosses or touches
// it; collinear overlaps report both ends of the overlap through the
// caller's pieces (their middles are then on a border).
func segParam(a, b, c, d orb.Point) (float64, bool) {
	rx, ry := b[0]-a[0], b[1]-a[1]
	sx, sy := d[0]-c[0], d[1]-c[1]
	den := rx*sy - ry*sx
	qx, qy := c[0]-a[0], c[1]-a[1]
	if den == 0 {
		return 0, false // parallel: pieces on it are checked by their middles
	}
	t := (qx*sy - qy*sx) / den
	u := (qx*ry - qy*rx) / den
	if t < 0 || t > 1 || u < 0 || u > 1 {
		return 0, false
	}
	return t, true
}
