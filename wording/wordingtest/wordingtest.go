// Package wordingtest gives the tests of every channel the same warning at
// every step of its life (alert, update, cancel, all-clear; actual, drill,
// test), so that their golden files can be read side by side.
package wordingtest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
)

// Instruction and Description are the first version's words: an all-clear
// or cancel must never repeat them.
const (
	InstructionZh = "请关好门窗，减少外出，请立即听从指挥转移到安全地点。"
	InstructionUg = "ئىشىك-دېرىزىلەرنى ئېتىۋېلىڭ، سىرتقا چىقىشنى ئازايتىڭ."
	DescriptionZh = "预计今天下午有强沙尘暴，能见度低于500米。"
	// Reason is the officer's all-clear / cancel reason.
	Reason = "沙尘暴已减弱，能见度恢复到5公里以上"
	// UpdatedDescriptionZh is the description an update brings.
	UpdatedDescriptionZh = "沙尘暴增强，能见度低于50米，阵风11级。"
)

// Sent is when each version was issued: 15:11 in Beijing.
var Sent = time.Date(2026, 12, 3, 7, 11, 0, 0, time.UTC)

// Case is one message with a name for golden files.
type Case struct {
	Name string // "<kind>_<status>", e.g. "allclear_actual"
	Msg  *channels.Message
}

// Cases is every kind × status.
func Cases() []Case {
	var out []Case
	for _, k := range []warning.Kind{warning.KindAlert, warning.KindUpdate, warning.KindCancel, warning.KindAllClear} {
		for _, st := range []warning.Status{warning.StatusActual, warning.StatusExercise, warning.StatusTest} {
			out = append(out, Case{Name: k.String() + "_" + st.String(), Msg: Message(k, st)})
		}
	}
	return out
}

// Message is the sandstorm warning of Shule County at kind and status.
func Message(kind warning.Kind, status warning.Status) *channels.Message {
	m := &channels.Message{
		Key: "a1/v1", AlertID: "a1", Version: 1, Kind: kind, Level: warning.LevelOrange,
		Event: warning.EventSandstorm, Status: status,
		Sent: Sent, Expires: Sent.Add(6 * time.Hour), Area: []string{"653122"},
		Texts: map[string]channels.Text{
			"zh": {Headline: "疏勒县沙尘暴橙色预警", Description: DescriptionZh, Instruction: InstructionZh},
			"ug": {Headline: "يېڭىشەھەر ناھىيىسى قۇم-بوران ئاپېلسىن رەڭلىك ئاگاھلاندۇرۇش",
				Description: "بۈگۈن چۈشتىن كېيىن كۈچلۈك قۇم-بوران چىقىدۇ، كۆرۈنۈشچانلىقى 500 مېتىردىن تۆۋەن.",
				Instruction: InstructionUg},
		},
	}
	switch kind {
	case warning.KindUpdate:
		m.Version, m.Key, m.Level = 2, "a1/v2", warning.LevelRed
		m.Changes = []string{"raise", "widen", "text", "extend"}
		m.Expires = Sent.Add(12 * time.Hour)
		m.Texts["zh"] = channels.Text{Headline: "疏勒县沙尘暴红色预警", Description: UpdatedDescriptionZh, Instruction: InstructionZh}
		ug := m.Texts["ug"]
		ug.Headline = "يېڭىشەھەر ناھىيىسى قۇم-بوران قىزىل ئاگاھلاندۇرۇش"
		m.Texts["ug"] = ug
	case warning.KindCancel, warning.KindAllClear:
		m.Version, m.Key = 2, "a1/v2"
		m.Sent = Sent.Add(3 * time.Hour)
		m.Reason = Reason
	}
	return m
}

// Golden compares got with the golden file at path, first writing it when
// update is set; how tells the reader how to regenerate it.
func Golden(t testing.TB, path, got string, update bool, how string) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (%s)", err, how)
	}
	if got != string(want) {
		t.Errorf("%s changed:\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// GuidanceCases are the guidance shapes a village can get, each to be put
// on a Message (Msg.Guidance) for golden files.
func GuidanceCases() []struct {
	Name     string
	Guidance *channels.Guidance
} {
	school := &channels.GuidanceShelter{ID: "SH-653122100-1", Name: "疏勒镇第一中学", NameUG: "يېڭىشەھەر بازىرى 1-ئوتتۇرا مەكتەپ",
		At: channels.LatLon{Lat: 39.4077, Lon: 76.0100}, Capacity: 1200}
	return []struct {
		Name     string
		Guidance *channels.Guidance
	}{
		{"shelter_ne", &channels.Guidance{Action: "evacuate", Village: "653122100001", Shelter: school, Compass: warning.NorthEast, DistanceM: 1210,
			From: &channels.LatLon{Lat: 39.4, Lon: 76.0}}},
		{"shelter_here", &channels.Guidance{Action: "evacuate", Village: "653122100002", Shelter: school, DistanceM: 20}},
		{"away_w", &channels.Guidance{Action: "evacuate", Village: "653122100003", Away: true, Compass: warning.West}},
		{"away_unknown", &channels.Guidance{Action: "evacuate", Away: true}},
		{"evacuate_no_shelter", &channels.Guidance{Action: "evacuate"}},
		{"shelter_in_place", &channels.Guidance{Action: "shelter_in_place"}},
	}
}
