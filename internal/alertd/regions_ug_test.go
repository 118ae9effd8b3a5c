package alertd

import (
	"testing"

	"github.com/alertcast/alertcast/targeting"
)

// GET /api/v1/regions serves every township's Uyghur name that the region
// data knows (the gaps are listed in targeting/data/README.md and checked
// by targeting's TestTownshipUyghurNamesKnownOrListed).
func TestRegionsServeUyghurTownshipNames(t *testing.T) {
	s := startServer(t, nil)
	out := mustCall(t, s.Base, "GET", "/api/v1/regions", testAdminToken, nil, 200)
	served := map[string]string{}
	for _, x := range out["townships"].([]any) {
		tw := x.(map[string]any)
		ug, _ := tw["name_ug"].(string)
		served[tw["code"].(string)] = ug
	}
	want := 0
	for _, r := range targeting.DefaultTree().Townships() {
		if r.NameUG == "" {
			continue
		}
		want++
		if got, ok := served[r.Code]; !ok || got != r.NameUG {
			t.Errorf("%s %s: served name_ug %q, region data has %q", r.Code, r.Name, got, r.NameUG)
		}
	}
	if want < 9 {
		t.Fatalf("region data knows %d Uyghur township names, want at least 9", want)
	}
	if served["653122205"] != "يېڭىئېرىق يېزىسى" {
		t.Errorf("英尔力克乡 served as %q", served["653122205"])
	}
}
