package targeting

import (
	"strings"
	"testing"
)

func TestScopesCovers(t *testing.T) {
	sc := DefaultTree().Scopes()
	const (
		county   = "653122"
		town     = "653122100"    // 疏勒镇
		village  = "653122100001" // in 疏勒镇
		sibling  = "653122100002" // also in 疏勒镇
		otherTwn = "653122201"    // 洋大曼乡
	)
	for _, tc := range []struct {
		name   string
		area   []string
		region string
		want   bool
	}{
		{"the village itself", []string{village}, village, true},
		{"its township", []string{town}, village, true},
		{"its county", []string{county}, village, true},
		{"a village inside a township dashboard", []string{village}, town, true},
		{"a village inside a county dashboard", []string{village}, county, true},
		{"a sibling village", []string{sibling}, village, false},
		{"another township", []string{otherTwn}, village, false},
		{"another township's dashboard", []string{village}, otherTwn, false},
		{"one of several codes", []string{otherTwn, sibling, town}, village, true},
		{"empty area: the whole jurisdiction", nil, village, true},
		{"unknown area code", []string{"653122999"}, village, false},
		{"unknown area code equal to the region", []string{"999999"}, "999999", false},
		{"unknown region, empty area", nil, "653122999999", false},
	} {
		if got := sc.Covers(tc.area, tc.region); got != tc.want {
			t.Errorf("%s: Covers(%v, %s) = %v, want %v", tc.name, tc.area, tc.region, got, tc.want)
		}
	}
}

func TestScopesCycleInHandMadeFile(t *testing.T) {
	// A county whose parent is one of its own townships must not hang Covers.
	tr, err := ParseRegions(strings.NewReader("code,name,level,parent_code\n653122,疏勒县,county,653122100\n653122100,疏勒镇,township,653122\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Scopes().Covers([]string{"653122"}, "653122100") {
		t.Error("county should cover its township")
	}
	if tr.Scopes().Covers([]string{"653122999"}, "653122100") {
		t.Error("unknown code covers nothing")
	}
}

func TestScopesDirectory(t *testing.T) {
	tr := DefaultTree()
	sc := tr.Scopes()
	if !sc.Known("653122100001") || sc.Known("653122100999") || sc.Known("") {
		t.Error("Known")
	}
	towns := sc.Townships()
	if len(towns) != len(tr.Townships()) || towns[0] != tr.Townships()[0].Code {
		t.Errorf("Townships = %v", towns)
	}
	v := sc.Villages("653122100")
	if len(v) == 0 || v[0] != "653122100001" {
		t.Errorf("Villages(653122100) = %v", v)
	}
	if zh, ug := sc.Names("653122201"); zh != "洋大曼乡" || ug == "" {
		t.Errorf("Names = %q, %q", zh, ug)
	}
	if zh, ug := sc.Names("999999"); zh != "" || ug != "" {
		t.Errorf("unknown Names = %q, %q", zh, ug)
	}
}
