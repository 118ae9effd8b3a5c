package dispatch

import (
	"fmt"
	"strings"
)

// ActionType is what a warning tells people to do beyond its text: the
// zero value is Unknown (no action given).
type ActionType int

const (
	ActionUnknown ActionType = iota
	// ActionEvacuate: leave, to the village's assigned shelter (or away
	// from the Action's polygon when one is given).
	ActionEvacuate
	// ActionShelterInPlace: stay indoors where you are.
	ActionShelterInPlace
)

var actionNames = [...]string{"", "evacuate", "shelter_in_place"}

// String returns the code: evacuate, shelter_in_place ("" for Unknown).
func (t ActionType) String() string {
	if t < 0 || int(t) >= len(actionNames) {
		return ""
	}
	return actionNames[t]
}

// ParseActionType parses a code as String writes it.
func ParseActionType(s string) (ActionType, error) {
	for i, n := range actionNames {
		if i > 0 && n == s {
			return ActionType(i), nil
		}
	}
	return ActionUnknown, fmt.Errorf("unknown action type %q", s)
}

// MarshalText writes the code.
func (t ActionType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses the code.
func (t *ActionType) UnmarshalText(b []byte) error {
	v, err := ParseActionType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Action is a version's protective action (stored with the version).
type Action struct {
	Type ActionType `json:"type"`
	// AwayFrom is a CAP polygon ("lat,lon lat,lon …", closed) to move away
	// from, instead of going to the assigned shelter. Evacuate only.
	AwayFrom string `json:"away_from,omitempty"`
}

// ActionInput is an action as submitted: plain strings, checked by Validate.
type ActionInput struct {
	Type     string `json:"type"`
	AwayFrom string `json:"away_from,omitempty"`
}

// Evacuate reports whether a version tells people to evacuate.
func (a *Alert) Evacuate() bool { return a.Action != nil && a.Action.Type == ActionEvacuate }

// sameAction reports whether two versions ask the same of people.
func sameAction(a, b *Action) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// validateAction checks an action input and returns the action (nil when
// none was given). Problems are added to ve.
func validateAction(in *ActionInput, ve *ValidationError) *Action {
	if in == nil {
		return nil
	}
	var out Action
	switch t, err := ParseActionType(strings.TrimSpace(in.Type)); {
	case in.Type == "":
		ve.Add("action.type", "required: evacuate or shelter_in_place", "")
	case err != nil:
		ve.Add("action.type", "must be evacuate or shelter_in_place", in.Type)
	default:
		out.Type = t
	}
	if in.AwayFrom != "" {
		if out.Type == ActionShelterInPlace {
			ve.Add("action.away_from", "only with type evacuate (shelter in place stays where it is)", Clip(in.AwayFrom, 60))
		} else if err := checkPolygon(in.AwayFrom); err != nil {
			ve.Add("action.away_from", err.Error(), Clip(in.AwayFrom, 60))
		}
		out.AwayFrom = strings.TrimSpace(in.AwayFrom)
	}
	return &out
}
