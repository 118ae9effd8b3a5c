package dispatch

import (
	"encoding/json"
	"testing"
	"time"
)

func TestActionTypeTable(t *testing.T) {
	for _, c := range []struct {
		s    string
		want ActionType
	}{{"evacuate", ActionEvacuate}, {"shelter_in_place", ActionShelterInPlace}} {
		got, err := ParseActionType(c.s)
		if err != nil || got != c.want || got.String() != c.s {
			t.Errorf("%q: %v %v", c.s, got, err)
		}
	}
	for _, bad := range []string{"", "Evacuate", "run"} {
		if _, err := ParseActionType(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if ActionUnknown.String() != "" || ActionType(9).String() != "" {
		t.Error("unknown action types have names")
	}
}

func actionInput(act string) AlertInput {
	in := AlertInput{Event: "flood", Level: "orange", Area: Area{Codes: []string{"653122"}}, Channels: []string{"sms"},
		Text: map[string]Text{"zh": {Headline: "洪水"}, "ug": {Headline: "كەلكۈن"}}, Expires: "2099-01-01T00:00:00+08:00"}
	if act != "" {
		if err := json.Unmarshal([]byte(act), &in.Action); err != nil {
			panic(err)
		}
	}
	return in
}

func TestValidateAction(t *testing.T) {
	now := time.Now()
	poly := "39.3,76.1 39.5,76.1 39.5,76.3 39.3,76.1"
	for _, c := range []struct {
		action string
		want   *Action
		field  string
	}{
		{"", nil, ""},
		{`{"type":"evacuate"}`, &Action{Type: ActionEvacuate}, ""},
		{`{"type":"shelter_in_place"}`, &Action{Type: ActionShelterInPlace}, ""},
		{`{"type":"evacuate","away_from":"` + poly + `"}`, &Action{Type: ActionEvacuate, AwayFrom: poly}, ""},
		{`{}`, nil, "action.type"},
		{`{"type":"flee"}`, nil, "action.type"},
		{`{"type":"shelter_in_place","away_from":"` + poly + `"}`, nil, "action.away_from"},
		{`{"type":"evacuate","away_from":"39.3,76.1 39.5,76.1"}`, nil, "action.away_from"},
	} {
		in := actionInput(c.action)
		a, err := in.Validate(nil, nil, now)
		if c.field != "" {
			ve, ok := err.(*ValidationError)
			if !ok || len(ve.Problems) != 1 || ve.Problems[0].Field != c.field || ve.Problems[0].Rule == "" {
				t.Errorf("%s: %v, want one problem on %s", c.action, err, c.field)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.action, err)
			continue
		}
		if !sameAction(a.Action, c.want) {
			t.Errorf("%s: %+v, want %+v", c.action, a.Action, c.want)
		}
	}
}

// The action is stored with the version, and a new or changed action is
// a change a second officer must see.
func TestActionStoredAndAChange(t *testing.T) {
	in := actionInput(`{"type":"evacuate"}`)
	a, err := in.Validate(nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(a.Action)
	if string(body) != `{"type":"evacuate"}` {
		t.Errorf("body: %s", body)
	}
	back := Alert{}
	if err := json.Unmarshal(body, &back.Action); err != nil || !back.Evacuate() {
		t.Fatalf("round trip: %+v %v", back.Action, err)
	}
	prev := *a
	prev.Action = nil
	has := func(ks []ChangeKind, k ChangeKind) bool {
		for _, x := range ks {
			if x == k {
				return true
			}
		}
		return false
	}
	if ks := Changes(&prev, a, nil); !has(ks, ChangeText) {
		t.Errorf("adding evacuate: %v", ks)
	}
	same := *a
	if ks := Changes(a, &same, nil); has(ks, ChangeText) {
		t.Errorf("same action: %v", ks)
	}
}
