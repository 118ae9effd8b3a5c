package targeting

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/planar"
)

// Point is a WGS-84-style coordinate in degrees (the county data are GCJ-02;
// the difference, a few hundred metres, is below what targeting promises).
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

func (p Point) orb() orb.Point { return orb.Point{p.Lon, p.Lat} }

// String formats the point as CAP does: "lat,lon".
func (p Point) String() string {
	return strconv.FormatFloat(p.Lat, 'f', -1, 64) + "," + strconv.FormatFloat(p.Lon, 'f', -1, 64)
}

// Circle is a CAP circle: a centre and a radius in kilometres.
type Circle struct {
	Center   Point   `json:"center"`
	RadiusKM float64 `json:"radius_km"`
}

// String formats the circle as CAP does: "lat,lon radius_km".
func (c Circle) String() string {
	return c.Center.String() + " " + strconv.FormatFloat(c.RadiusKM, 'f', -1, 64)
}

// MaxPolygonPoints bounds a polygon's size so validation stays fast.
const MaxPolygonPoints = 20000

// maxRadiusKM is half the Earth's circumference: anything larger is a typo.
const maxRadiusKM = 20037.5

// CheckPoint checks that a point is a real coordinate.
func CheckPoint(p Point) error {
	switch {
	case math.IsNaN(p.Lat) || p.Lat < -90 || p.Lat > 90:
		return fieldErr("lat", "must be between -90 and 90", strconv.FormatFloat(p.Lat, 'g', -1, 64))
	case math.IsNaN(p.Lon) || p.Lon < -180 || p.Lon > 180:
		return fieldErr("lon", "must be between -180 and 180", strconv.FormatFloat(p.Lon, 'g', -1, 64))
	}
	return nil
}

// parsePoint parses "lat,lon".
func parsePoint(s string) (Point, error) {
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		return Point{}, fmt.Errorf("point %q: want \"lat,lon\"", s)
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if err1 != nil || err2 != nil {
		return Point{}, fmt.Errorf("point %q: want two decimal numbers \"lat,lon\"", s)
	}
	p := Point{Lat: lat, Lon: lon}
	if err := CheckPoint(p); err != nil {
		return Point{}, fmt.Errorf("point %q: %w", s, err)
	}
	return p, nil
}

// ParsePolygon parses a CAP polygon: whitespace-separated "lat,lon" pairs,
// at least four, the first equal to the last (closed), not crossing itself.
// The error is a *warning.FieldError with field "polygon".
func ParsePolygon(s string) ([]Point, error) {
	fields := strings.Fields(s)
	if len(fields) > MaxPolygonPoints {
		return nil, fieldErrf("polygon", "", "has %d points, at most %d allowed", len(fields), MaxPolygonPoints)
	}
	pts, err := parsePoints(fields)
	if err != nil {
		return nil, err
	}
	if err := CheckPolygon(pts); err != nil {
		return nil, err
	}
	return pts, nil
}

// ParsePoints reads the points of a CAP polygon — whitespace-separated
// "lat,lon" pairs of decimal degrees, each within range — without the
// polygon's rules (size, closure, crossing), which are the caller's: the
// CAP parser applies CAP's own, ParsePolygon targeting's. The error is a
// *warning.FieldError with field "polygon" naming the point.
func ParsePoints(s string) ([]Point, error) { return parsePoints(strings.Fields(s)) }

func parsePoints(fields []string) ([]Point, error) {
	pts := make([]Point, 0, len(fields))
	for i, f := range fields {
		p, err := parsePoint(f)
		if err != nil {
			return nil, fieldErrf("polygon", f, "point %d: %v", i+1, err)
		}
		pts = append(pts, p)
	}
	return pts, nil
}

// FormatPolygon formats points as a CAP polygon string.
func FormatPolygon(pts []Point) string {
	var b strings.Builder
	for i, p := range pts {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// ParseCircle parses a CAP circle "lat,lon radius_km".
func ParseCircle(s string) (Circle, error) {
	c, err := ParseCircleText(s)
	if err != nil {
		return Circle{}, err
	}
	if err := CheckCircle(c); err != nil {
		return Circle{}, err
	}
	return c, nil
}

// ParseCircleText reads a CAP circle "lat,lon radius_km" and checks its
// centre; the radius need only be a decimal number, its bounds are the
// caller's (ParseCircle applies CheckCircle). The error is a
// *warning.FieldError with field "circle".
func ParseCircleText(s string) (Circle, error) {
	fields := strings.Fields(s)
	if len(fields) != 2 {
		return Circle{}, fieldErr("circle", `want "lat,lon radius_km"`, s)
	}
	p, err := parsePoint(fields[0])
	if err != nil {
		return Circle{}, fieldErrf("circle", s, "centre: %v", err)
	}
	r, err := strconv.ParseFloat(fields[1], 64)
	if err != nil {
		return Circle{}, fieldErr("circle", "radius must be a decimal number of kilometres", s)
	}
	return Circle{Center: p, RadiusKM: r}, nil
}

// CheckCircle checks a circle's centre and radius (0 ≤ radius ≤ half the
// Earth's circumference; 0 is a CAP point).
func CheckCircle(c Circle) error {
	if err := CheckPoint(c.Center); err != nil {
		return fieldErrf("circle", c.String(), "centre: %v", err)
	}
	if math.IsNaN(c.RadiusKM) || c.RadiusKM < 0 || c.RadiusKM > maxRadiusKM {
		return fieldErrf("circle", c.String(), "radius must be between 0 and %g km", maxRadiusKM)
	}
	return nil
}

// CheckPolygon checks a polygon given as points: valid coordinates, closed
// (first == last), at least four points of which three distinct, an area,
// and no edge crossing or touching another (CAP polygons are simple rings).
func CheckPolygon(pts []Point) error {
	if len(pts) > MaxPolygonPoints {
		return fieldErrf("polygon", "", "has %d points, at most %d allowed", len(pts), MaxPolygonPoints)
	}
	for i, p := range pts {
		if err := CheckPoint(p); err != nil {
			return fieldErrf("polygon", p.String(), "point %d: %v", i+1, err)
		}
	}
	if len(pts) < 4 {
		return fieldErrf("polygon", FormatPolygon(pts), "needs at least 4 points (3 corners and the first repeated at the end), got %d", len(pts))
	}
	if pts[0] != pts[len(pts)-1] {
		return fieldErrf("polygon", pts[len(pts)-1].String(), "is open: the last point must repeat the first (%s)", pts[0])
	}
	ring := ringOf(pts)
	if len(ring) < 4 {
		return fieldErr("polygon", "needs at least 3 distinct corners", FormatPolygon(pts))
	}
	if i, j, ok := selfIntersection(ring); ok {
		return fieldErrf("polygon", "", "crosses itself: edge %s–%s meets edge %s–%s",
			pt(ring[i]), pt(ring[i+1]), pt(ring[j]), pt(ring[j+1]))
	}
	if planar.Area(ring) == 0 {
		return fieldErr("polygon", "has no area (all points on one line)", "")
	}
	return nil
}

func pt(p orb.Point) string { return Point{Lat: p[1], Lon: p[0]}.String() }

// ringOf converts CAP points to an orb ring ([lon, lat]), dropping repeated
// consecutive points.
func ringOf(pts []Point) orb.Ring {
	r := make(orb.Ring, 0, len(pts))
	for _, p := range pts {
		op := p.orb()
		if len(r) > 0 && r[len(r)-1] == op {
			continue
		}
		r = append(r, op)
	}
	return r
}

// orient returns the sign of the cross product (b-a)×(c-a).
func orient(a, b, c orb.Point) int {
	v := (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// onSegment reports whether p, collinear with a–b, lies within its box.
func onSegment(a, b, p orb.Point) bool {
	return min(a[0], b[0]) <= p[0] && p[0] <= max(a[0], b[0]) && min(a[1], b[1]) <= p[1] && p[1] <= max(a[1], b[1])
}

func segmentsIntersect(a, b, c, d orb.Point) bool {
	o1, o2, o3, o4 := orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
	if o1 != o2 && o3 != o4 && o1 != 0 && o2 != 0 && o3 != 0 && o4 != 0 {
		return true
	}
	return o1 == 0 && onSegment(a, b, c) || o2 == 0 && onSegment(a, b, d) ||
		o3 == 0 && onSegment(c, d, a) || o4 == 0 && onSegment(c, d, b)
}

// selfIntersection finds two edges of a closed ring that meet anywhere other
// than at the vertex adjacent edges share. Edges are swept by their minimum
// longitude so a county outline of 1,000 points checks in well under a
// millisecond rather than comparing every pair.
func selfIntersection(r orb.Ring) (int, int, bool) {
	n := len(r) - 1 // edges
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	minX := func(i int) float64 { return min(r[i][0], r[i+1][0]) }
	maxX := func(i int) float64 { return max(r[i][0], r[i+1][0]) }
	slices.SortFunc(order, func(a, b int) int {
		switch x, y := minX(a), minX(b); {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return a - b
	})
	for oi, i := range order {
		hi := maxX(i)
		for _, j := range order[oi+1:] {
			if minX(j) > hi {
				break
			}
			a, b := min(i, j), max(i, j)
			adjacent := b == a+1 || (a == 0 && b == n-1)
			if !adjacent {
				if segmentsIntersect(r[a], r[a+1], r[b], r[b+1]) {
					return a, b, true
				}
				continue
			}
			// Adjacent edges share one vertex; they may not fold back onto each other.
			var shared, p, q orb.Point
			if b == a+1 {
				shared, p, q = r[b], r[a], r[b+1]
			} else {
				shared, p, q = r[0], r[1], r[n-1]
			}
			if orient(p, shared, q) == 0 && (onSegment(shared, p, q) || onSegment(shared, q, p)) {
				return a, b, true
			}
		}
	}
	return 0, 0, false
}

// inCircle is the exact circle test used everywhere (haversine distance).
func inCircle(c Circle, lat, lon float64) bool {
	return geo.DistanceHaversine(c.Center.orb(), orb.Point{lon, lat}) <= c.RadiusKM*1000
}
