package cap

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

func parsePoint(s string) (Point, error) {
	lat, lon, ok := strings.Cut(s, ",")
	if !ok {
		return Point{}, fmt.Errorf("%q is not a \"lat,lon\" pair", s)
	}
	la, err1 := strconv.ParseFloat(lat, 64)
	lo, err2 := strconv.ParseFloat(lon, 64)
	if err1 != nil || err2 != nil {
		return Point{}, fmt.Errorf("%q is not a \"lat,lon\" pair of decimal degrees", s)
	}
	p := Point{Lat: la, Lon: lo}
	if err := p.check(); err != nil {
		return Point{}, err
	}
	return p, nil
}

func (p Point) check() error {
	if math.IsNaN(p.Lat) || math.IsNaN(p.Lon) || p.Lat < -90 || p.Lat > 90 || p.Lon < -180 || p.Lon > 180 {
		return fmt.Errorf("point %s,%s is outside -90..90, -180..180", fmtFloat(p.Lat), fmtFloat(p.Lon))
	}
	return nil
}

func (p Point) String() string { return fmtFloat(p.Lat) + "," + fmtFloat(p.Lon) }

// ParsePolygon parses CAP's "lat,lon lat,lon …" polygon and checks that it is
// closed with at least four points.
func ParsePolygon(s string) (Polygon, error) {
	fields := strings.Fields(s)
	pg := make(Polygon, 0, len(fields))
	for _, f := range fields {
		p, err := parsePoint(f)
		if err != nil {
			return nil, err
		}
		pg = append(pg, p)
	}
	if err := pg.Check(); err != nil {
		return nil, err
	}
	return pg, nil
}

// Check reports whether pg is a valid CAP polygon.
func (pg Polygon) Check() error {
	if len(pg) < 4 {
		return fmt.Errorf("has %d points, a closed polygon needs at least 4", len(pg))
	}
	for _, p := range pg {
		if err := p.check(); err != nil {
			return err
		}
	}
	if pg[0] != pg[len(pg)-1] {
		return fmt.Errorf("not closed: first point %s differs from last point %s", pg[0], pg[len(pg)-1])
	}
	return nil
}

func (pg Polygon) String() string {
	var b strings.Builder
	for i, p := range pg {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// ParseCircle parses CAP's "lat,lon radius" circle (radius in km).
func ParseCircle(s string) (Circle, error) {
	fields := strings.Fields(s)
	if len(fields) != 2 {
		return Circle{}, fmt.Errorf("%q is not \"lat,lon radius\"", s)
	}
	p, err := parsePoint(fields[0])
	if err != nil {
		return Circle{}, err
	}
	r, err := strconv.ParseFloat(fields[1], 64)
	if err != nil {
		return Circle{}, fmt.Errorf("radius %q is not a number of kilometres", fields[1])
	}
	c := Circle{Center: p, RadiusKm: r}
	if err := c.Check(); err != nil {
		return Circle{}, err
	}
	return c, nil
}

// Check reports whether c is a valid CAP circle.
func (c Circle) Check() error {
	if err := c.Center.check(); err != nil {
		return err
	}
	if math.IsNaN(c.RadiusKm) || c.RadiusKm < 0 || math.IsInf(c.RadiusKm, 0) {
		return fmt.Errorf("radius %s km is not a non-negative number", fmtFloat(c.RadiusKm))
	}
	return nil
}

func (c Circle) String() string { return c.Center.String() + " " + fmtFloat(c.RadiusKm) }

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
