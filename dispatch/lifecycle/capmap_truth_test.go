package lifecycle

import (
	"strings"
	"testing"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/cap"
	"github.com/alertcast/alertcast/targeting"
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

// Each exported version names its own approver, and an imported document's
// approvedBy is never taken as an approval here.
func TestCAPExportNamesTheApprover(t *testing.T) {
	tree := targeting.DefaultTree()
	v1 := capTestAlert()
	v1.Level = warning.LevelOrange
	v1.ApprovedBy = "ap"
	v2 := capTestAlert()
	v2.Level = warning.LevelOrange
	v2.Version, v2.Kind, v2.ApprovedBy = 2, warning.KindUpdate, ""
	for _, c := range []struct {
		v    *dispatch.Alert
		want string
	}{{v1, "ap"}, {v2, ""}} {
		doc := AlertToCAP(c.v, "https://alert.example.cn", WithRegionTree(tree), WithPriorVersions(v1))
		var got []string
		for _, in := range doc.Infos {
			for _, p := range in.Parameters {
				if p.ValueName == CAPParamApprovedBy {
					got = append(got, p.Value)
				}
			}
		}
		if (c.want == "" && len(got) != 0) || (c.want != "" && (len(got) != len(doc.Infos) || got[0] != c.want)) {
			t.Errorf("v%d: %s = %v, want %q in every info", c.v.Version, CAPParamApprovedBy, got, c.want)
		}
		raw, err := doc.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := cap.ParseBytes(raw)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := CAPToDraft(parsed, tree); d == nil || d.ApprovedBy != "" {
			t.Errorf("v%d: an imported approval must not be taken over: %+v", c.v.Version, d)
		}
	}
}
