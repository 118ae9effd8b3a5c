package targeting

import (
	"errors"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/warning"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

func TestParsePolygon(t *testing.T) {
	pts, err := ParsePolygon("39.1,76.0 39.1,76.2 39.3,76.2 39.3,76.0 39.1,76.0")
	if err != nil || len(pts) != 5 || pts[2] != (Point{39.3, 76.2}) {
		t.Fatalf("%v %v", pts, err)
	}
	if back, err := ParsePolygon(FormatPolygon(pts)); err != nil || len(back) != 5 {
		t.Error("round trip failed")
	}
	// Repeated consecutive points are tolerated.
	if _, err := ParsePolygon("39.1,76.0 39.1,76.0 39.1,76.2 39.3,76.2 39.1,76.0"); err != nil {
		t.Error(err)
	}
	for name, tc := range map[string]struct{ in, want string }{
		"open":        {"39.1,76.0 39.1,76.2 39.3,76.2 39.3,76.0", "open"},
		"too few":     {"39.1,76.0 39.1,76.2 39.1,76.0", "at least 4"},
		"bow tie":     {"39.0,76.0 39.2,76.2 39.2,76.0 39.0,76.2 39.0,76.0", "crosses itself"},
		"spike":       {"39.0,76.0 39.0,76.2 39.0,76.1 39.2,76.1 39.0,76.0", "crosses itself"},
		"touching":    {"39.0,76.0 39.0,76.4 39.2,76.2 39.0,76.2 39.1,76.1 39.0,76.0", "crosses itself"},
		"flat":        {"39.0,76.0 39.0,76.1 39.0,76.2 39.0,76.0", "crosses itself"},
		"lat":         {"99,76.0 39.1,76.2 39.3,76.2 99,76.0", "between -90 and 90"},
		"lon":         {"39,181 39.1,76.2 39.3,76.2 39,181", "between -180 and 180"},
		"not numbers": {"a,b c,d e,f a,b", "decimal"},
		"no comma":    {"39.1 76.0 39.1 76.2", "lat,lon"},
		"nan":         {"NaN,76 39.1,76.2 39.3,76.2 NaN,76", "between"},
		"empty":       {"", "at least 4"},
	} {
		_, err := ParsePolygon(tc.in)
		var fe *warning.FieldError
		if !errors.As(err, &fe) || fe.Field != "polygon" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want polygon FieldError containing %q", name, err, tc.want)
		}
	}
	// The county outline itself is a simple polygon and passes.
	var outline []Point
	for _, p := range DefaultOutline()[0][0] {
		outline = append(outline, Point{Lat: p[1], Lon: p[0]})
	}
	if err := CheckPolygon(outline); err != nil {
		t.Errorf("county outline: %v", err)
	}
}

func TestParseCircle(t *testing.T) {
	c, err := ParseCircle("39.2,76.1 12.5")
	if err != nil || c != (Circle{Point{39.2, 76.1}, 12.5}) {
		t.Fatalf("%+v %v", c, err)
	}
	if c, err := ParseCircle(c.String()); err != nil || c.RadiusKM != 12.5 {
		t.Error("round trip")
	}
	if _, err := ParseCircle("39.2,76.1 0"); err != nil {
		t.Errorf("radius 0 (a CAP point): %v", err)
	}
	for _, bad := range []string{"", "39.2,76.1", "39.2,76.1 -1", "39.2,76.1 x", "91,76.1 1", "39.2,76.1 1 2", "39.2,76.1 NaN", "39.2,76.1 1e9", "39.2;76.1 1"} {
		_, err := ParseCircle(bad)
		var fe *warning.FieldError
		if !errors.As(err, &fe) || fe.Field != "circle" {
			t.Errorf("ParseCircle(%q) = %v", bad, err)
		}
	}
}

func TestGridFarAway(t *testing.T) {
	// Polygons and circles far from Shule, huge ones, and ones across the
	// antimeridian still answer exactly.
	ix := NewIndex(DefaultTree())
	pts := []Point{{39.2, 76.1}, {-33.9, 151.2}, {64.1, -21.9}, {0, 179.999}, {0, -179.999}, {89.9, 0}}
	for i, p := range pts {
		p := p
		if err := ix.PutResident(Resident{ID: uint32(i), Phone: "+4479460958" + string(rune('0'+i)), Village: "653122100001", Language: "zh", Point: &p}); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		aim  Aim
		want int
	}{
		"world":        {Aim{Polygons: [][]Point{{{-80, -170}, {-80, 170}, {80, 170}, {80, -170}, {-80, -170}}}}, 3}, // Shule, Sydney, Reykjavík
		"sydney":       {Aim{Circles: []Circle{{Point{-33.8, 151.1}, 20}}}, 1},
		"antimeridian": {Aim{Circles: []Circle{{Point{0, 180}, 5}}}, 2},
		"pole":         {Aim{Circles: []Circle{{Point{90, 0}, 20}}}, 1},
		"half earth":   {Aim{Circles: []Circle{{Point{39, 76}, 15000}}}, 6},
	} {
		res, err := ix.Resolve(tc.aim)
		if err != nil {
			t.Fatal(err)
		}
		if n := res.ResidentCount(); n != tc.want {
			t.Errorf("%s: %d residents, want %d", name, n, tc.want)
		}
	}
}

// TestRingTesterMatchesOrb: the bucketed ring test answers exactly as orb's
// planar.RingContains, on the county outline and random polygons, including
// points on vertices, on edges and on grid lines.
func TestRingTesterMatchesOrb(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rings := []orb.Ring{DefaultOutline()[0][0]}
	for range 30 {
		c := orb.Point{76 + rng.Float64()*0.5, 39 + rng.Float64()*0.3}
		n := 3 + rng.IntN(80)
		angles := make([]float64, n)
		for i := range angles {
			angles[i] = rng.Float64() * 2 * math.Pi
		}
		sort.Float64s(angles)
		var r orb.Ring
		for _, a := range angles {
			d := 0.001 + rng.Float64()*0.2
			p := orb.Point{c[0] + d*math.Cos(a), c[1] + d*math.Sin(a)}
			if rng.IntN(4) == 0 { // snap to the grid so edges run along cell lines
				p = orb.Point{math.Round(p[0]/cellDeg) * cellDeg, math.Round(p[1]/cellDeg) * cellDeg}
			}
			r = append(r, p)
		}
		rings = append(rings, append(r, r[0]))
	}
	for _, r := range rings {
		rt := newRingTester(r)
		b := r.Bound()
		check := func(p orb.Point) {
			if got, want := rt.contains(p), planar.RingContains(r, p); got != want {
				t.Fatalf("ring of %d: point %v: got %v, orb %v", len(r), p, got, want)
			}
		}
		for range 3000 {
			check(orb.Point{b.Min[0] - 0.01 + rng.Float64()*(b.Max[0]-b.Min[0]+0.02), b.Min[1] - 0.01 + rng.Float64()*(b.Max[1]-b.Min[1]+0.02)})
		}
		for i := 0; i+1 < len(r); i++ {
			check(r[i])
			f := rng.Float64()
			check(orb.Point{r[i][0] + f*(r[i+1][0]-r[i][0]), r[i][1] + f*(r[i+1][1]-r[i][1])})
			check(orb.Point{r[i][0], r[i+1][1]})
			check(orb.Point{math.Round(r[i][0]/cellDeg) * cellDeg, r[i][1]})
		}
	}
}
