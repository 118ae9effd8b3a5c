package archtest

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// docs/architecture.md has one row per package, no more and no fewer than
// go list finds: a package added, moved or removed without its paragraph
// fails here.
func TestArchitectureMapMatchesGoList(t *testing.T) {
	raw, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	begin, end := strings.Index(doc, "<!-- package-map:begin"), strings.Index(doc, "<!-- package-map:end -->")
	if begin < 0 || end < begin {
		t.Fatal("docs/architecture.md: the package-map markers are missing")
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")
	documented := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(doc[begin:end], -1) {
		if documented[m[1]] {
			t.Errorf("docs/architecture.md lists %s twice", m[1])
		}
		documented[m[1]] = true
	}
	listed := map[string]bool{}
	for _, p := range list(t) {
		if rel, ok := strings.CutPrefix(p.ImportPath, module+"/"); ok {
			listed[rel] = true
		}
	}
	var missing, extra []string
	for p := range listed {
		if !documented[p] {
			missing = append(missing, p)
		}
	}
	for p := range documented {
		if !listed[p] {
			extra = append(extra, p)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("packages without a row in docs/architecture.md: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("rows in docs/architecture.md for packages go list does not find: %v", extra)
	}
}
