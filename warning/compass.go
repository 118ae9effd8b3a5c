package warning

import "fmt"

// Compass is one of the eight compass points a resident is told to go
// towards ("东北方向"). The zero value is Unknown: no direction (the village
// has no known location, or the shelter is in the village).
type Compass int

const (
	CompassUnknown Compass = iota
	North
	NorthEast
	East
	SouthEast
	South
	SouthWest
	West
	NorthWest
)

var compassCodes = [...]string{"", "N", "NE", "E", "SE", "S", "SW", "W", "NW"}

// String returns the code: N, NE, E, SE, S, SW, W, NW ("" for Unknown).
func (c Compass) String() string {
	if c < 0 || int(c) >= len(compassCodes) {
		return ""
	}
	return compassCodes[c]
}

// ParseCompass parses a code as String writes it.
func ParseCompass(s string) (Compass, error) {
	for i, c := range compassCodes {
		if i > 0 && c == s {
			return Compass(i), nil
		}
	}
	return CompassUnknown, fmt.Errorf("unknown compass point %q (want N, NE, E, SE, S, SW, W or NW)", s)
}

// CompassOf returns the compass point of a bearing in degrees clockwise
// from north: each point covers 45°, centred on it (337.5°–22.5° is N).
func CompassOf(bearing float64) Compass {
	for bearing < 0 {
		bearing += 360
	}
	for bearing >= 360 {
		bearing -= 360
	}
	return Compass(int((bearing+22.5)/45)%8 + 1)
}
