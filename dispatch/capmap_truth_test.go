package dispatch

import (
	"strings"
	"testing"

	"github.com/alertcast/alertcast/dispatch/cap"
	"github.com/alertcast/alertcast/warning"
)

// A cancel or all-clear in CAP says why (in <note> and in every
// <description>) and never repeats the warning's instruction or
// description; an update keeps the instruction that still applies.
func TestCAPEndCarriesReasonNotInstruction(t *testing.T) {
	for _, end := range []warning.Kind{warning.KindCancel, warning.KindAllClear} {
		vs := versionsOf(end)
		c := AlertToCAP(vs[2], capBase, WithPriorVersions(vs...))
		if _, err := c.Marshal(); err != nil {
			t.Fatalf("%s: %v", end, err)
		}
		if c.Note != "风已减弱" {
			t.Errorf("%s note %q", end, c.Note)
		}
		if len(c.Infos) != 2 {
			t.Fatalf("%s: %d infos", end, len(c.Infos))
		}
		for _, in := range c.Infos {
			old := vs[0].Text[map[string]string{"zh-CN": "zh", "ug-CN": "ug"}[in.Language]]
			if in.Instruction != "" || strings.Contains(in.Description, old.Description) {
				t.Errorf("%s %s repeats the warning: description %q instruction %q", end, in.Language, in.Description, in.Instruction)
			}
			if !strings.Contains(in.Description, "风已减弱") {
				t.Errorf("%s %s description without the reason: %q", end, in.Language, in.Description)
			}
			if end == warning.KindAllClear && (len(in.ResponseTypes) != 1 || in.ResponseTypes[0] != cap.ResponseAllClear) {
				t.Errorf("all-clear response %v", in.ResponseTypes)
			}
		}
	}
	up := AlertToCAP(versionsOf(warning.KindAllClear)[1], capBase)
	if up.Infos[0].Instruction == "" {
		t.Error("an update lost its instruction")
	}
}
