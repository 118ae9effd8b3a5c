package cap

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/alertcast/alertcast/targeting"
)

func (p Point) check() error {
	if math.IsNaN(p.Lat) || math.IsNaN(p.Lon) || p.Lat < -90 || p.Lat > 90 || p.Lon < -180 || p.Lon > 180 {
		return fmt.Errorf("point %s,%s is outside -90..90, -180..180", fmtFloat(p.Lat), fmtFloat(p.Lon))
	}
	return nil
}

func (p Point) String() string { return fmtFloat(p.Lat) + "," + fmtFloat(p.Lon) }

// ParsePolygon parses CAP's "lat,lon lat,lon …" polygon and checks that it is
// closed with at least four points. The syntax is targeting's (one parser
// for CAP geometry); the rules are CAP's, which accept what targeting would
// not resolve (a ring that crosses itself, any number of points).
func ParsePolygon(s string) (Polygon, error) {
	pts, err := targeting.ParsePoints(s)
	if err != nil {
		return nil, err
	}
	pg := make(Polygon, len(pts))
	for i, p := range pts {
		pg[i] = Point(p)
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

// ParseCircle parses CAP's "lat,lon radius" circle (radius in km), with
// targeting's syntax and CAP's rule (any non-negative finite radius).
func ParseCircle(s string) (Circle, error) {
	tc, err := targeting.ParseCircleText(s)
	if err != nil {
		return Circle{}, err
	}
	c := Circle{Center: Point(tc.Center), RadiusKm: tc.RadiusKM}
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
