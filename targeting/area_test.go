package targeting

import (
	"math"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// TestThirdOfCounty keeps the benchmark's polygon honest: it covers about a
// third of the county's area (sampled on a 200×200 lattice).
func TestThirdOfCounty(t *testing.T) {
	ol := DefaultOutline()
	ring := ringOf(thirdOfCounty())
	b := ol.Bound()
	mask := newOutlineMask(ol)
	county, both := 0, 0
	for i := range 200 {
		for j := range 200 {
			p := orb.Point{b.Min[0] + (float64(i)+.5)/200*(b.Max[0]-b.Min[0]), b.Min[1] + (float64(j)+.5)/200*(b.Max[1]-b.Min[1])}
			if mask.contains(p) {
				county++
				if planar.RingContains(ring, p) {
					both++
				}
			}
		}
	}
	share := float64(both) / float64(county)
	t.Logf("share of the county's area: %.3f", share)
	if math.Abs(share-1.0/3) > 0.03 {
		t.Errorf("polygon covers %.3f of the county, want about 1/3", share)
	}
}
