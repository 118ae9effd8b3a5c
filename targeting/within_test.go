package targeting

import (
	"testing"

	"github.com/paulmach/orb"
)

func square(lat, lon, half float64) []Point {
	return []Point{{lat - half, lon - half}, {lat - half, lon + half}, {lat + half, lon + half}, {lat + half, lon - half}, {lat - half, lon - half}}
}

func TestPolygonWithin(t *testing.T) {
	shule := DefaultOutline()
	city, err := CountyOutline("653101")
	if err != nil {
		t.Fatal(err)
	}
	// A point shared by both outlines: on the border of Shule and Kashgar city.
	border := Point{Lat: 39.420464, Lon: 76.243543}
	// Points well inside each (checked below, so a changed outline fails
	// here rather than passing for the wrong reason).
	inShule := Point{Lat: 39.25, Lon: 76.2}
	inCity := Point{Lat: 39.47, Lon: 75.99}
	if !inUnion(inShule.orb(), []orb.MultiPolygon{shule}) || inUnion(inShule.orb(), []orb.MultiPolygon{city}) {
		t.Fatalf("fixture: %v should be in Shule only", inShule)
	}
	if !inUnion(inCity.orb(), []orb.MultiPolygon{city}) || inUnion(inCity.orb(), []orb.MultiPolygon{shule}) {
		t.Fatalf("fixture: %v should be in Kashgar city only", inCity)
	}
	for _, tc := range []struct {
		name     string
		poly     []Point
		outlines []orb.MultiPolygon
		want     bool
	}{
		{"small square inside Shule", square(inShule.Lat, inShule.Lon, 0.01), []orb.MultiPolygon{shule}, true},
		{"inside Kashgar city, scope Shule", square(inCity.Lat, inCity.Lon, 0.01), []orb.MultiPolygon{shule}, false},
		{"crossing the border, scope Shule", square(border.Lat, border.Lon, 0.01), []orb.MultiPolygon{shule}, false},
		{"crossing the border, scope Kashgar city", square(border.Lat, border.Lon, 0.01), []orb.MultiPolygon{city}, false},
		{"covering all of Shule", square(39.2, 76.4, 1), []orb.MultiPolygon{shule}, false},
		{"no outline", square(inShule.Lat, inShule.Lon, 0.01), nil, false},
	} {
		if got := PolygonWithin(tc.poly, tc.outlines); got != tc.want {
			t.Errorf("%s: PolygonWithin = %v, want %v", tc.name, got, tc.want)
		}
	}
	// A hole of the union inside the polygon: a ring around a square hole.
	outer := orb.Ring{{0, 0}, {10, 0}, {10, 10}, {0, 10}, {0, 0}}
	hole := orb.Ring{{4, 4}, {4, 6}, {6, 6}, {6, 4}, {4, 4}}
	donut := orb.MultiPolygon{{outer, hole}}
	if PolygonWithin(square(5, 5, 2), []orb.MultiPolygon{donut}) {
		t.Error("a polygon around the hole is inside")
	}
	if !PolygonWithin(square(2, 2, 1), []orb.MultiPolygon{donut}) {
		t.Error("a polygon beside the hole is outside")
	}
	// Two squares side by side: a polygon across their shared border is
	// inside their union, and inside neither alone.
	left := orb.MultiPolygon{{{{0, 0}, {5, 0}, {5, 5}, {0, 5}, {0, 0}}}}
	right := orb.MultiPolygon{{{{5, 0}, {10, 0}, {10, 5}, {5, 5}, {5, 0}}}}
	across := square(2, 5, 1) // lat 1..3, lon 4..6
	if !PolygonWithin(across, []orb.MultiPolygon{left, right}) {
		t.Error("across a shared border of two scope regions: refused")
	}
	if PolygonWithin(across, []orb.MultiPolygon{left}) {
		t.Error("across a border, one region: accepted")
	}
}

func TestCircleWithin(t *testing.T) {
	shule := []orb.MultiPolygon{DefaultOutline()}
	if !CircleWithin(Circle{Center: Point{Lat: 39.25, Lon: 76.2}, RadiusKM: 1}, shule) {
		t.Error("1 km circle inside Shule refused")
	}
	if CircleWithin(Circle{Center: Point{Lat: 39.25, Lon: 76.2}, RadiusKM: 80}, shule) {
		t.Error("80 km circle accepted")
	}
	if CircleWithin(Circle{Center: Point{Lat: 39.420464, Lon: 76.243543}, RadiusKM: 0.5}, shule) {
		t.Error("circle on the border accepted")
	}
	// A square 10×10 degrees; circle of radius 0 at its centre.
	sq := []orb.MultiPolygon{{{{{0, 0}, {10, 0}, {10, 10}, {0, 10}, {0, 0}}}}}
	if !CircleWithin(Circle{Center: Point{Lat: 5, Lon: 5}}, sq) || CircleWithin(Circle{Center: Point{Lat: 20, Lon: 5}}, sq) {
		t.Error("radius 0")
	}
}
