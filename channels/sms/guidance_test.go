package sms_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/warning"
	"github.com/alertcast/alertcast/wording/wordingtest"
)

// Each village's guidance in the SMS, zh and ug, with its encoding and
// part count (testdata/guidance; go test -update rewrites them). The parts
// are counted on the text as sent, guidance included.
func TestRenderGuidanceGolden(t *testing.T) {
	for _, c := range wordingtest.GuidanceCases() {
		for _, lang := range []string{"zh", "ug"} {
			t.Run(c.Name+"_"+lang, func(t *testing.T) {
				m := wordingtest.Message(warning.KindAlert, warning.StatusActual)
				m.Guidance = c.Guidance
				r, err := sms.Render(m, lang, sms.Config{})
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.Join(r.Segments, ""); got != r.Text || len(r.Segments) != r.Parts {
					t.Errorf("segments %d do not make up the text (%d parts)", len(r.Segments), r.Parts)
				}
				golden(t, filepath.Join("testdata", "guidance", c.Name+"_"+lang+".txt"), fmt.Sprintf("%s %d parts\n%s\n", r.Encoding, r.Parts, r.Text))
				plain, _ := sms.Render(wordingtest.Message(warning.KindAlert, warning.StatusActual), lang, sms.Config{})
				if r.Parts < plain.Parts {
					t.Errorf("guidance made the SMS shorter: %d < %d parts", r.Parts, plain.Parts)
				}
			})
		}
	}
}

// A long officer's text is cut to the part cap from the description and
// the end of the instruction: the guidance at the start of the
// instruction survives.
func TestGuidanceSurvivesShortening(t *testing.T) {
	m := wordingtest.Message(warning.KindAlert, warning.StatusActual)
	m.Guidance = wordingtest.GuidanceCases()[0].Guidance
	zh := m.Texts["zh"]
	zh.Description = strings.Repeat("沙尘暴", 300)
	m.Texts["zh"] = zh
	r, err := sms.Render(m, "zh", sms.Config{MaxParts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Shortened || r.Parts > 3 || !strings.Contains(r.Text, "请前往东北方向1.2公里的疏勒镇第一中学避难场所") {
		t.Errorf("shortened %v, %d parts: %q", r.Shortened, r.Parts, r.Text)
	}
}
