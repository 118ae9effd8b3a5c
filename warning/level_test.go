package warning

import (
	"testing"
)

func TestLevelTable(t *testing.T) {
	tests := []struct {
		in       string
		want     Level
		roman    string
		severity string
	}{
		{"blue", LevelBlue, "IV", "Minor"},
		{"Yellow", LevelYellow, "III", "Moderate"},
		{"II", LevelOrange, "II", "Severe"},
		{"红色", LevelRed, "I", "Extreme"},
	}
	for _, tc := range tests {
		got, err := ParseLevel(tc.in)
		if err != nil || got != tc.want {
			t.Fatalf("ParseLevel(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if got.Roman() != tc.roman || got.CAPSeverity() != tc.severity {
			t.Errorf("%v: roman %q severity %q", got, got.Roman(), got.CAPSeverity())
		}
		back, _ := ParseLevel(got.String())
		if back != got {
			t.Errorf("round trip %v → %q → %v", got, got.String(), back)
		}
		if LevelFromCAPSeverity(got.CAPSeverity()) != got {
			t.Errorf("CAP severity round trip for %v", got)
		}
	}
	if !(LevelBlue < LevelYellow && LevelYellow < LevelOrange && LevelOrange < LevelRed) {
		t.Fatal("levels must order blue < yellow < orange < red")
	}
	for _, bad := range []string{"", "purple", "V", "0"} {
		if l, err := ParseLevel(bad); err == nil {
			t.Errorf("ParseLevel(%q) = %v, want error", bad, l)
		}
	}
	if LevelUnknown.String() != "unknown" || Level(99).String() != "unknown" {
		t.Error("out-of-range levels must print unknown")
	}
}

func TestStatusTable(t *testing.T) {
	for in, want := range map[string]Status{"actual": StatusActual, "exercise": StatusExercise, "drill": StatusExercise, "TEST": StatusTest} {
		got, err := ParseStatus(in)
		if err != nil || got != want {
			t.Errorf("ParseStatus(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseStatus("real"); err == nil {
		t.Error("ParseStatus(real) must fail")
	}
	if StatusActual.Drill() || !StatusExercise.Drill() || !StatusTest.Drill() {
		t.Error("Drill() wrong")
	}
}

func TestEventTable(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Events() {
		if seen[e.Code] {
			t.Errorf("duplicate event code %q", e.Code)
		}
		seen[e.Code] = true
		if e.Chinese == "" || e.English == "" || e.CAPCategory == "" {
			t.Errorf("event %q lacks documentation: %+v", e.Code, e)
		}
		for _, s := range []string{e.Code, e.Chinese, e.English} {
			got, err := ParseEvent(s)
			if err != nil || got != e.Event {
				t.Errorf("ParseEvent(%q) = %v, %v; want %v", s, got, err, e.Event)
			}
		}
	}
	for _, need := range []string{"sandstorm", "rainstorm", "hail", "flood", "earthquake", "cold_wave", "hazardous_chemicals"} {
		if !seen[need] {
			t.Errorf("event list lacks %q", need)
		}
	}
	if _, err := ParseEvent("meteor"); err == nil {
		t.Error("unknown event accepted")
	}
}

func TestStateTable(t *testing.T) {
	for s := StatePending; s <= StateExpired; s++ {
		got, err := ParseState(s.String())
		if err != nil || got != s {
			t.Errorf("state round trip %v", s)
		}
	}
	if !StateIssued.Active() || StateCancelled.Active() || !StateAllClear.Ended() || StatePending.Ended() {
		t.Error("state predicates wrong")
	}
}
