package dispatch

import "github.com/alertcast/alertcast/targeting"

// checkPolygon and checkCircle validate CAP-notation geometry with the
// targeting package, which owns geometry.
func checkPolygon(s string) error {
	_, err := targeting.ParsePolygon(s)
	return err
}

func checkCircle(s string) error {
	_, err := targeting.ParseCircle(s)
	return err
}
