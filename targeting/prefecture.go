package targeting

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/paulmach/orb"
)

// The other eleven counties of Kashgar Prefecture (喀什地区, 6531): real NBS
// 2023 codes and names, and DataV outlines (see data/README.md).
//
//go:embed data/kashgar/*.csv data/kashgar/*.geojson
var kashgarFS embed.FS

// PrefectureCode is the one prefecture whose counties are embedded.
const PrefectureCode = "6531"

// PrefectureCounties lists the county codes of Kashgar Prefecture, Shule
// (the default tree) included, in code order.
func PrefectureCounties() []string {
	codes := []string{"653122"}
	ents, _ := kashgarFS.ReadDir("data/kashgar")
	for _, e := range ents {
		if c, ok := strings.CutSuffix(e.Name(), ".csv"); ok {
			codes = append(codes, c)
		}
	}
	sort.Strings(codes)
	return codes
}

// CountyTree returns a fresh tree of one embedded county of Kashgar
// Prefecture: Shule (653122) or one of data/kashgar.
func CountyTree(code string) (*Tree, error) {
	if code == "653122" {
		return DefaultTree(), nil
	}
	f, err := kashgarFS.Open(path.Join("data/kashgar", code+".csv"))
	if err != nil {
		return nil, fmt.Errorf("county %q: not an embedded county of prefecture %s (want one of %s)",
			code, PrefectureCode, strings.Join(PrefectureCounties(), ", "))
	}
	defer f.Close()
	return ParseRegions(f)
}

// CountyOutline returns the outline of one embedded county of Kashgar
// Prefecture ([lon, lat], probably GCJ-02).
func CountyOutline(code string) (orb.MultiPolygon, error) {
	if code == "653122" {
		return DefaultOutline(), nil
	}
	data, err := kashgarFS.ReadFile(path.Join("data/kashgar", code+".geojson"))
	if err != nil {
		return nil, fmt.Errorf("county %q: no embedded outline", code)
	}
	return ParseOutline(data)
}

// PrefectureTree returns a fresh tree of all twelve counties of Kashgar
// Prefecture (12 counties, 209 townships, 2,886 villages) and their
// outlines by county code, for the prefecture-scale generator and tests.
func PrefectureTree() (*Tree, map[string]orb.MultiPolygon, error) {
	t := NewTree()
	outlines := map[string]orb.MultiPolygon{}
	for _, c := range PrefectureCounties() {
		ct, err := CountyTree(c)
		if err != nil {
			return nil, nil, err
		}
		if err := t.Merge(ct); err != nil {
			return nil, nil, fmt.Errorf("county %s: %w", c, err)
		}
		if outlines[c], err = CountyOutline(c); err != nil {
			return nil, nil, err
		}
	}
	return t, outlines, nil
}
