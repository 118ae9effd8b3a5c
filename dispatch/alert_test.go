package dispatch

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

func timeAt(ms int64) time.Time { return time.UnixMilli(ms) }

var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func treeRegions() Regions {
	tree := targeting.DefaultTree()
	return RegionsFunc(func(c string) bool { _, ok := tree.Region(c); return ok })
}

func groupOK(g string) bool { _, err := targeting.ParseGroup(g); return err == nil }

func exampleInput(t *testing.T) AlertInput {
	t.Helper()
	b, err := os.ReadFile("testdata/example_alert.json")
	if err != nil {
		t.Fatal(err)
	}
	var in AlertInput
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("example body must decode strictly: %v", err)
	}
	return in
}

func TestExampleBodyIsValid(t *testing.T) {
	in := exampleInput(t)
	a, err := in.Validate(treeRegions(), groupOK, testNow)
	if err != nil {
		t.Fatalf("the issue's example body must be accepted: %v", err)
	}
	if a.Level != warning.LevelOrange || a.Event != warning.EventSandstorm || a.Status != warning.StatusActual {
		t.Errorf("decoded %v %v %v", a.Level, a.Event, a.Status)
	}
	if !slices.Equal(a.Area.Codes, []string{"653122100", "653122201"}) || len(a.Channels) != 4 {
		t.Errorf("area/channels: %+v %v", a.Area, a.Channels)
	}
	if !DefaultPolicy().NeedsApproval(a) {
		t.Error("orange must need approval")
	}
}

// problemFields validates in and returns the named fields.
func problemFields(t *testing.T, in AlertInput) []string {
	t.Helper()
	_, err := in.Validate(treeRegions(), groupOK, testNow)
	if err == nil {
		return nil
	}
	ve, ok := err.(*ValidationError)
	if !ok {
		t.Fatalf("want *ValidationError, got %T %v", err, err)
	}
	var out []string
	for _, p := range ve.Problems {
		if p.Rule == "" {
			t.Errorf("problem %q has no rule", p.Field)
		}
		out = append(out, p.Field)
	}
	return out
}

func TestValidationNamesFields(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(in *AlertInput)
		field string
	}{
		{"unknown event", func(in *AlertInput) { in.Event = "meteor" }, "event"},
		{"missing event", func(in *AlertInput) { in.Event = "" }, "event"},
		{"unknown level", func(in *AlertInput) { in.Level = "purple" }, "level"},
		{"bad status", func(in *AlertInput) { in.Status = "real" }, "status"},
		{"unknown region", func(in *AlertInput) { in.Area.Codes = []string{"653122999"} }, "area.codes[0]"},
		{"malformed code", func(in *AlertInput) { in.Area.Codes = []string{"65312"} }, "area.codes[0]"},
		{"no area", func(in *AlertInput) { in.Area = Area{} }, "area"},
		{"open polygon", func(in *AlertInput) { in.Area.Polygons = []string{"39.4,75.9 39.4,76.0 39.3,76.0"} }, "area.polygons[0]"},
		{"negative circle", func(in *AlertInput) { in.Area.Circles = []string{"39.4,76.0 -5"} }, "area.circles[0]"},
		{"unknown group", func(in *AlertInput) { in.Audience.Groups = []string{"wizards"} }, "audience.groups[0]"},
		{"unknown language", func(in *AlertInput) { in.Audience.Languages = []string{"fr"} }, "audience.languages[0]"},
		{"no channels", func(in *AlertInput) { in.Channels = nil }, "channels"},
		{"bad channel", func(in *AlertInput) { in.Channels = []string{"pigeon"} }, "channels[0]"},
		{"missing ug text", func(in *AlertInput) { delete(in.Text, "ug") }, "text.ug"},
		{"empty headline", func(in *AlertInput) { t := in.Text["zh"]; t.Headline = " "; in.Text["zh"] = t }, "text.zh.headline"},
		{"long description", func(in *AlertInput) {
			t := in.Text["zh"]
			t.Description = strings.Repeat("沙", MaxDescription+1)
			in.Text["zh"] = t
		}, "text.zh.description"},
		{"unsupported text language", func(in *AlertInput) { in.Text["fr"] = Text{Headline: "x"} }, "text.fr"},
		{"expired", func(in *AlertInput) { in.Expires = "2020-01-01T00:00:00+08:00" }, "expires"},
		{"no zone", func(in *AlertInput) { in.Expires = "2030-01-01T18:00:00" }, "expires"},
		{"missing expiry", func(in *AlertInput) { in.Expires = "" }, "expires"},
		{"expiry before onset", func(in *AlertInput) { in.Onset = "2030-01-02T00:00:00+08:00" }, "expires"},
		{"bad rebroadcast", func(in *AlertInput) { in.Rebroadcast = "every 1s" }, "rebroadcast"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := exampleInput(t)
			tc.edit(&in)
			got := problemFields(t, in)
			if !slices.Contains(got, tc.field) {
				t.Errorf("want a problem naming %q, got %v", tc.field, got)
			}
		})
	}
}

func TestValidationReportsAllProblemsAtOnce(t *testing.T) {
	in := exampleInput(t)
	in.Event, in.Level, in.Expires = "meteor", "purple", "yesterday"
	in.Area.Codes = []string{"123"}
	got := problemFields(t, in)
	for _, f := range []string{"event", "level", "expires", "area.codes[0]"} {
		if !slices.Contains(got, f) {
			t.Errorf("missing %q in %v", f, got)
		}
	}
}

func TestAudienceLanguagesNarrowRequiredText(t *testing.T) {
	in := exampleInput(t)
	delete(in.Text, "ug")
	in.Audience.Languages = []string{"zh"}
	if got := problemFields(t, in); len(got) != 0 {
		t.Fatalf("zh-only audience needs only zh text, got problems %v", got)
	}
}

func TestPolicy(t *testing.T) {
	p := DefaultPolicy()
	for l := warning.LevelBlue; l <= warning.LevelRed; l++ {
		a := &Alert{Level: l, Status: warning.StatusActual}
		want := l >= warning.LevelOrange
		if p.NeedsApproval(a) != want {
			t.Errorf("%v: NeedsApproval = %v", l, !want)
		}
	}
	if p.NeedsApproval(&Alert{Level: warning.LevelRed, Status: warning.StatusExercise}) {
		t.Error("drills issue directly by default")
	}
	p.ApproveDrills = true
	if !p.NeedsApproval(&Alert{Level: warning.LevelRed, Status: warning.StatusExercise}) {
		t.Error("ApproveDrills must apply the rule to drills")
	}
}
