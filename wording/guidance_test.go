package wording

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
	"github.com/alertcast/alertcast/wording/wordingtest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// The guidance sentences in zh and ug, one golden file per language.
func TestGuidanceGolden(t *testing.T) {
	for _, lang := range []string{"zh", "ug"} {
		var b strings.Builder
		for _, c := range wordingtest.GuidanceCases() {
			b.WriteString(c.Name + ": " + Guidance(c.Guidance, lang) + "\n")
		}
		wordingtest.Golden(t, filepath.Join("testdata", "guidance_"+lang+".txt"), b.String(), *update, "run go test ./wording -update")
	}
}

// The example of the issue, word for word.
func TestGuidanceToShelter(t *testing.T) {
	g := wordingtest.GuidanceCases()[0].Guidance
	if got, want := Guidance(g, "zh"), "请前往东北方向1.2公里的疏勒镇第一中学避难场所"; got != want {
		t.Errorf("zh: %q, want %q", got, want)
	}
	ug := Guidance(g, "ug")
	for _, w := range []string{"شەرقىي شىمال", "1.2 كىلومېتىر", "يېڭىشەھەر بازىرى 1-ئوتتۇرا مەكتەپ"} {
		if !strings.Contains(ug, w) {
			t.Errorf("ug %q lacks %q", ug, w)
		}
	}
	// A name that already says 避难场所 does not say it twice.
	s := *g.Shelter
	s.Name = "巴仁乡避难场所"
	if got := ShelterName(&s, "zh"); got != "巴仁乡避难场所" {
		t.Errorf("doubled: %q", got)
	}
	if Guidance(nil, "zh") != "" {
		t.Error("nil guidance says something")
	}
}

// Compose opens the instruction with the guidance on an alert and an
// update, never on a cancel or all-clear.
func TestComposeWithGuidance(t *testing.T) {
	g := wordingtest.GuidanceCases()[0].Guidance
	for _, k := range []warning.Kind{warning.KindAlert, warning.KindUpdate, warning.KindCancel, warning.KindAllClear} {
		m := wordingtest.Message(k, warning.StatusActual)
		m.Guidance = g
		got := Compose(m, "zh")
		has := strings.HasPrefix(got.Instruction, "请前往东北方向1.2公里的疏勒镇第一中学避难场所。"+wordingtest.InstructionZh)
		if want := k == warning.KindAlert || k == warning.KindUpdate; has != want {
			t.Errorf("%s: instruction %q", k, got.Instruction)
		}
		if (k == warning.KindCancel || k == warning.KindAllClear) && strings.Contains(got.Description+got.Instruction, "避难场所") {
			t.Errorf("%s repeats the guidance: %+v", k, got)
		}
	}
	m := wordingtest.Message(warning.KindAlert, warning.StatusActual)
	m.Guidance = &channels.Guidance{Action: "shelter_in_place"}
	if got := Compose(m, "ug").Instruction; !strings.HasPrefix(got, "ئۆيدە قېلىڭ") || !strings.HasSuffix(got, wordingtest.InstructionUg) {
		t.Errorf("ug shelter in place: %q", got)
	}
}

func TestDirectionNames(t *testing.T) {
	for _, lang := range []string{"zh", "ug", "en"} {
		seen := map[string]bool{}
		for c := warning.North; c <= warning.NorthWest; c++ {
			d := Direction(c, lang)
			if d == "" || seen[d] {
				t.Errorf("%s %v: %q", lang, c, d)
			}
			seen[d] = true
		}
		if Direction(warning.CompassUnknown, lang) != "" {
			t.Errorf("%s: unknown has a name", lang)
		}
	}
}
