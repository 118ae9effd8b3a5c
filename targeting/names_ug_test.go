package targeting

import (
	"os"
	"strings"
	"testing"
)

// Every township of the default tree either has its Uyghur name, or
// data/README.md lists it (code and Chinese name) among the names no
// citable source gave: a blank name_ug is a known gap, never an oversight.
func TestTownshipUyghurNamesKnownOrListed(t *testing.T) {
	readme, err := os.ReadFile("data/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, gaps, ok := strings.Cut(string(readme), "<!-- name_ug gaps:begin -->")
	if !ok {
		t.Fatal(`data/README.md has no "<!-- name_ug gaps:begin -->" list`)
	}
	gaps, _, _ = strings.Cut(gaps, "<!-- name_ug gaps:end -->")
	tree := DefaultTree()
	known := 0
	for _, r := range tree.Townships() {
		listed := strings.Contains(gaps, "`"+r.Code+"`")
		switch {
		case r.NameUG == "" && !listed:
			t.Errorf("%s %s has no name_ug and is not listed as a gap in data/README.md", r.Code, r.Name)
		case r.NameUG != "" && listed:
			t.Errorf("%s %s has name_ug %q but data/README.md still lists it as a gap", r.Code, r.Name, r.NameUG)
		case r.NameUG != "":
			known++
			// Uyghur names are in Arabic script, never a copy of the Chinese.
			if !strings.ContainsFunc(r.NameUG, func(c rune) bool { return c >= 0x0600 && c <= 0x06FF }) {
				t.Errorf("%s name_ug %q is not in Uyghur Arabic script", r.Code, r.NameUG)
			}
		}
	}
	// Yengieriq (英尔力克乡) was filled from cited sources in issue 19.
	if r, _ := tree.Region("653122205"); r.NameUG != "يېڭىئېرىق يېزىسى" {
		t.Errorf("653122205 name_ug = %q", r.NameUG)
	}
	if known < 9 {
		t.Errorf("only %d townships have a Uyghur name; 9 are sourced", known)
	}
}
