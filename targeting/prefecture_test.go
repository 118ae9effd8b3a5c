package targeting

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// A prefecture-wide synthetic population: every county gets people, every
// located resident and speaker lies inside the outline of its own county,
// and phone numbers stay unique across counties.
func TestGeneratePopulationInPrefecture(t *testing.T) {
	tree, outlines, err := PrefectureTree()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tree.Counties()); n != 12 {
		t.Fatalf("prefecture tree: %d counties, want 12", n)
	}
	const residents, speakers = 60000, 4000
	var res, spk bytes.Buffer
	if err := GeneratePopulationIn(tree, outlines, residents, speakers, 3, &res, &spk); err != nil {
		t.Fatal(err)
	}
	perCounty := map[string]int{}
	phones := map[string]bool{}
	check := func(kind, village, lat, lon string) {
		if lat == "" {
			return
		}
		y, err1 := strconv.ParseFloat(lat, 64)
		x, err2 := strconv.ParseFloat(lon, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s in %s: bad coordinates %q,%q", kind, village, lat, lon)
		}
		county := village[:6]
		if !planar.MultiPolygonContains(outlines[county], orb.Point{x, y}) {
			t.Errorf("%s of village %s at %s,%s lies outside county %s", kind, village, lat, lon, county)
		}
	}
	sc := bufio.NewScanner(&res)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) != 8 || f[0] == "id" || strings.HasPrefix(f[0], "#") {
			continue
		}
		if phones[f[1]] {
			t.Fatalf("phone %s given twice", f[1])
		}
		phones[f[1]] = true
		perCounty[f[2][:6]]++
		check("resident", f[2], f[6], f[7])
	}
	if len(phones) != residents {
		t.Fatalf("%d residents written, want %d", len(phones), residents)
	}
	for _, c := range PrefectureCounties() {
		if perCounty[c] == 0 {
			t.Errorf("county %s got no residents", c)
		}
	}
	sc = bufio.NewScanner(&spk)
	n := 0
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) != 6 || f[0] == "id" || strings.HasPrefix(f[0], "#") {
			continue
		}
		n++
		check("speaker", f[1], f[2], f[3])
	}
	if n != speakers {
		t.Fatalf("%d speakers written, want %d", n, speakers)
	}
	if _, err := CountyTree("653199"); err == nil || !strings.Contains(err.Error(), "not an embedded county") {
		t.Fatalf("unknown county: %v", err)
	}
}
