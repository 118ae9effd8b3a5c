package targeting

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The prefecture's other eleven counties (data/kashgar) load as region
// trees: every row parses, every township and village hangs under its own
// county, and the counts are those of the NBS 2023 edition.
func TestKashgarCountyFiles(t *testing.T) {
	want := map[string][2]int{ // county → townships, villages (NBS 2023, china-division@2.7.0)
		"653101": {19, 291}, "653121": {15, 148}, "653123": {15, 198}, "653124": {15, 157},
		"653125": {45, 582}, "653126": {25, 375}, "653127": {13, 164}, "653128": {9, 107},
		"653129": {13, 325}, "653130": {12, 235}, "653131": {12, 53},
	}
	files, err := filepath.Glob("data/kashgar/*.csv")
	if err != nil || len(files) != len(want) {
		t.Fatalf("data/kashgar has %d county files (%v), want %d", len(files), err, len(want))
	}
	prefecture := NewTree()
	if err := prefecture.Merge(DefaultTree()); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		county := strings.TrimSuffix(filepath.Base(f), ".csv")
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		tree, err := ParseRegions(r)
		r.Close()
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := prefecture.Merge(tree); err != nil {
			t.Errorf("%s: merging into the prefecture: %v", f, err)
		}
		if c := tree.Counties(); len(c) != 1 || c[0].Code != county {
			t.Errorf("%s: counties %v, want only %s", f, c, county)
		}
		n := [2]int{len(tree.Townships()), len(tree.Villages())}
		for _, reg := range append(tree.Townships(), tree.Villages()...) {
			if !tree.Contains(county, reg.Code) {
				t.Errorf("%s: region %s is not under county %s", f, reg.Code, county)
			}
		}
		if n != want[county] {
			t.Errorf("%s: %d townships and %d villages, want %v", f, n[0], n[1], want[county])
		}
	}
	if c := len(prefecture.Counties()); c != 12 {
		t.Errorf("the prefecture tree has %d counties, want 12", c)
	}
	if v := len(prefecture.Villages()); v != 2635+251 {
		t.Errorf("the prefecture tree has %d villages, want %d", v, 2635+251)
	}
}
