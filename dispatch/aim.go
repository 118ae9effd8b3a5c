package dispatch

import (
	"fmt"

	"github.com/alertcast/alertcast/targeting"
)

// AimOf turns a warning's area and audience into a targeting aim.
func AimOf(a *Alert) (targeting.Aim, error) {
	aim := targeting.Aim{Codes: a.Area.Codes, Exclude: a.Area.Exclude, Groups: a.Audience.Groups, Languages: a.Audience.Languages}
	for i, s := range a.Area.Polygons {
		p, err := targeting.ParsePolygon(s)
		if err != nil {
			return aim, fmt.Errorf("area.polygons[%d]: %w", i, err)
		}
		aim.Polygons = append(aim.Polygons, p)
	}
	for i, s := range a.Area.Circles {
		c, err := targeting.ParseCircle(s)
		if err != nil {
			return aim, fmt.Errorf("area.circles[%d]: %w", i, err)
		}
		aim.Circles = append(aim.Circles, c)
	}
	return aim, nil
}
