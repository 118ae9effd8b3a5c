package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// AimInput is the body of POST /audience/count: a warning's area and
// audience alone, as the console sends them while the officer aims.
type AimInput struct {
	Area     dispatch.Area     `json:"area"`
	Audience dispatch.Audience `json:"audience"`
}

// AimCount is whom an aim reaches: residents by SMS and loudspeakers, SMS
// recipients per township and language, and what a polygon or circle could
// not place. It is the part of /audience/preview that depends on the aim
// only: no text is validated, no programme rendered, so the console can ask
// on every change of the aim.
type AimCount struct {
	Channels  map[string]int `json:"channels"`
	Townships map[string]int `json:"townships"`
	Languages map[string]int `json:"languages"`
	Unplaced  int            `json:"unplaced"`
}

func (api *API) aimCount(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	var in AimInput
	if !decode(w, r, &in) {
		return
	}
	// Geometry first, so each problem names its polygon or circle.
	var ve dispatch.ValidationError
	for i, s := range in.Area.Polygons {
		if _, err := targeting.ParsePolygon(s); err != nil {
			ve.Add(fmt.Sprintf("area.polygons[%d]", i), ruleOf(err), dispatch.Clip(s, 60))
		}
	}
	for i, s := range in.Area.Circles {
		if _, err := targeting.ParseCircle(s); err != nil {
			ve.Add(fmt.Sprintf("area.circles[%d]", i), ruleOf(err), s)
		}
	}
	if err := ve.Err(); err != nil {
		api.fail(w, r, err)
		return
	}
	aim, err := dispatch.AimOf(&dispatch.Alert{Area: in.Area, Audience: in.Audience})
	if err != nil {
		api.fail(w, r, err)
		return
	}
	res, err := api.Service.Population.Resolve(aim)
	if err != nil {
		api.fail(w, r, aimProblems(err))
		return
	}
	p := res.Preview()
	writeJSON(w, 200, AimCount{Channels: map[string]int{"sms": p.Channels["sms"], "speaker": p.Channels["speaker"]},
		Townships: p.Townships, Languages: p.Languages, Unplaced: p.Unplaced})
}

// ruleOf is the rule of a field error (its field is targeting's own name,
// "polygon"), or the error's text.
func ruleOf(err error) string {
	var fe *warning.FieldError
	if errors.As(err, &fe) {
		return fe.Rule
	}
	return err.Error()
}

// aimProblems turns targeting's errors (one, or several joined, each a
// field error naming area.codes[i], area.polygons[i], audience.groups[i] …)
// into one validation error listing them all; anything else passes through.
func aimProblems(err error) error {
	var walk func(error) ([]warning.FieldError, bool)
	walk = func(e error) ([]warning.FieldError, bool) {
		// errors.Join of several problems; a problem itself may wrap two
		// errors (the field error and ErrUnknownRegion).
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			var all []warning.FieldError
			good := true
			for _, x := range j.Unwrap() {
				ps, ok := walk(x)
				good = good && ok
				all = append(all, ps...)
			}
			if good {
				return all, true
			}
		}
		var fe *warning.FieldError
		if !errors.As(e, &fe) {
			return nil, false
		}
		f := *fe
		if errors.Is(e, targeting.ErrUnknownRegion) {
			f.Rule = "unknown region code (not in the loaded region tree)"
		}
		return []warning.FieldError{f}, true
	}
	ps, ok := walk(err)
	if !ok {
		return err
	}
	return (&dispatch.ValidationError{Problems: ps}).Err()
}
