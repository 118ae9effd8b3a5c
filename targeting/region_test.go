package targeting

import (
	"errors"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/warning"
)

func TestRegionLevel(t *testing.T) {
	for _, tc := range []struct {
		l RegionLevel
		s string
	}{{RegionUnknown, "unknown"}, {RegionCounty, "county"}, {RegionTownship, "township"}, {RegionVillage, "village"}} {
		if tc.l.String() != tc.s {
			t.Errorf("%d.String() = %q, want %q", tc.l, tc.l.String(), tc.s)
		}
		got, err := ParseRegionLevel(tc.s)
		if tc.l == RegionUnknown {
			if err == nil {
				t.Errorf("ParseRegionLevel(%q) accepted", tc.s)
			}
			continue
		}
		if err != nil || got != tc.l {
			t.Errorf("ParseRegionLevel(%q) = %v, %v", tc.s, got, err)
		}
	}
	if s := RegionLevel(9).String(); s != "RegionLevel(9)" {
		t.Errorf("out of range: %q", s)
	}
}

func TestDefaultTree(t *testing.T) {
	tr := DefaultTree()
	if n := len(tr.Townships()); n != 16 {
		t.Errorf("townships = %d, want 16", n)
	}
	if n := len(tr.Villages()); n != 251 {
		t.Errorf("villages = %d, want 251", n)
	}
	if n := len(tr.Counties()); n != 1 || tr.Len() != 268 {
		t.Errorf("counties = %d, len %d", n, tr.Len())
	}
	c, ok := tr.Region("653122")
	if !ok || c.Name != "疏勒县" || c.NameUG == "" || c.Level != RegionCounty {
		t.Fatalf("county = %+v %v", c, ok)
	}
	if !tr.Contains("653122", "653122100001") || !tr.Contains("653122100", "653122100001") || !tr.Contains("653122100001", "653122100001") {
		t.Error("Contains misses an ancestor or self")
	}
	if tr.Contains("653122201", "653122100001") || tr.Contains("653122100001", "653122100") || tr.Contains("999999", "653122") {
		t.Error("Contains accepts a non-ancestor")
	}
	anc := tr.Ancestors("653122100001")
	if len(anc) != 2 || anc[0].Code != "653122100" || anc[1].Code != "653122" {
		t.Errorf("Ancestors = %+v", anc)
	}
	if got := tr.TownshipOf("653122100001"); got != "653122100" {
		t.Errorf("TownshipOf village = %q", got)
	}
	if got := tr.TownshipOf("653122100"); got != "653122100" {
		t.Errorf("TownshipOf township = %q", got)
	}
	if got := tr.TownshipOf("653122"); got != "" {
		t.Errorf("TownshipOf county = %q", got)
	}
	if kids := tr.Children("653122"); len(kids) != 16 {
		t.Errorf("county children = %d", len(kids))
	}
	if r := tr.ByName("疏勒镇"); len(r) != 1 || r[0].Code != "653122100" {
		t.Errorf("ByName zh = %+v", r)
	}
	if r := tr.ByName(c.NameUG); len(r) != 1 || r[0].Code != "653122" {
		t.Errorf("ByName ug = %+v", r)
	}
	if len(DefaultOutline()) == 0 || len(DefaultOutline()[0][0]) < 800 {
		t.Error("outline missing")
	}
	b := DefaultOutline().Bound()
	if b.Min[0] < 75.8 || b.Max[0] > 76.9 || b.Min[1] < 38.8 || b.Max[1] > 39.5 {
		t.Errorf("outline bound %v", b)
	}
}

func TestCheckCode(t *testing.T) {
	for _, ok := range []string{"653122", "653122100", "653122100001"} {
		if err := CheckCode(ok); err != nil {
			t.Errorf("CheckCode(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "65312", "6531221", "65312210a", "６５３１２２", "653122100001 "} {
		err := CheckCode(bad)
		var fe *warning.FieldError
		if !errors.As(err, &fe) || fe.Field != "code" {
			t.Errorf("CheckCode(%q) = %v, want a code FieldError", bad, err)
		}
	}
}

func TestParseRegionsErrors(t *testing.T) {
	const hdr = "code,name,level,parent_code,name_ug\n"
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "line 1"},
		{"missing column", "code,name,level\n", `missing column "parent_code"`},
		{"bad level", hdr + "653122,疏勒县,prefecture,653100,\n", "line 2: level"},
		{"level mismatch", hdr + "653122100,疏勒镇,county,653122,\n", "line 2: level"},
		{"bad code", hdr + "65312x,疏勒县,county,653100,\n", "line 2: code"},
		{"no name", hdr + "653122,,county,653100,\n", "line 2: name"},
		{"parent prefix", hdr + "653122,疏勒县,county,653100,\n653122100,疏勒镇,township,653123,\n", "line 3: parent_code"},
		{"missing parent", hdr + "653122100,疏勒镇,township,653122,\n", "line 2: parent_code"},
		{"duplicate", hdr + "653122,疏勒县,county,653100,\n653122,疏勒县,county,653100,\n", "line 3: code: duplicate (first on line 2)"},
		{"field count", hdr + "653122,疏勒县,county\n", "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRegions(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	tr := DefaultTree()
	other, err := ParseRegions(strings.NewReader("\ufeffcode,level,name,parent_code\n653121,county,疏附县,653100\n653121100,township,托克扎克镇,653121\n653121100001,village,某社区,653121100\n"))
	if err != nil {
		t.Fatal(err)
	}
	ix := NewIndex(tr) // an index built before the merge keeps working
	if err := tr.Merge(other); err != nil {
		t.Fatal(err)
	}
	if len(tr.Counties()) != 2 || len(tr.Villages()) != 252 || !tr.Contains("653121", "653121100001") {
		t.Error("merge lost regions")
	}
	if err := ix.PutResident(Resident{ID: 1, Phone: "13800000000", Village: "653121100001", Language: "zh"}); err != nil {
		t.Error(err)
	}
	if err := tr.Merge(other); err == nil {
		t.Error("merging the same county twice succeeded")
	}
	if len(tr.Villages()) != 252 {
		t.Error("failed merge changed the tree")
	}
}
