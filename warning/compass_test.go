package warning

import "testing"

func TestCompass(t *testing.T) {
	for _, c := range []struct {
		deg  float64
		want Compass
	}{
		{0, North}, {22.4, North}, {22.5, NorthEast}, {45, NorthEast}, {67.4, NorthEast}, {90, East},
		{135, SouthEast}, {180, South}, {225, SouthWest}, {270, West}, {315, NorthWest}, {337.4, NorthWest},
		{337.5, North}, {359.9, North}, {-45, NorthWest}, {405, NorthEast},
	} {
		if got := CompassOf(c.deg); got != c.want {
			t.Errorf("CompassOf(%v) = %v, want %v", c.deg, got, c.want)
		}
	}
	for c := North; c <= NorthWest; c++ {
		back, err := ParseCompass(c.String())
		if err != nil || back != c {
			t.Errorf("ParseCompass(%q) = %v, %v", c.String(), back, err)
		}
	}
	if _, err := ParseCompass(""); err == nil {
		t.Error("ParseCompass(\"\") accepted")
	}
	if CompassUnknown.String() != "" || Compass(99).String() != "" {
		t.Error("Unknown and out-of-range compass points must have no code")
	}
}
