package targeting

import (
	"math"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/planar"
)

// cellDeg is the grid cell size in degrees (about 2.2 km × 1.7 km at Shule's
// latitude): small enough that a geometric aim tests only the points in the
// cells its edge crosses, large enough that a county has a couple of thousand
// cells, each a roaring bitmap of the entities located in it.
const cellDeg = 0.02

const lonCells = 18001 // (360 / cellDeg) + 1

// cellOf maps a coordinate to its cell key. It is monotonic in each axis,
// which is what makes a cell a convex set of points in the tests below.
func cellOf(lat, lon float64) uint32 {
	return uint32(cellRow(lat))*lonCells + uint32(cellCol(lon))
}

func cellRow(lat float64) int { return int(math.Floor((lat + 90) / cellDeg)) }
func cellCol(lon float64) int { return int(math.Floor((lon + 180) / cellDeg)) }

// grid is a uniform spatial index: cell key → ids located in the cell.
type grid struct {
	cells map[uint32]*roaring.Bitmap
}

func newGrid() *grid { return &grid{cells: map[uint32]*roaring.Bitmap{}} }

func (g *grid) add(id uint32, lat, lon float64) {
	k := cellOf(lat, lon)
	bm := g.cells[k]
	if bm == nil {
		bm = roaring.New()
		g.cells[k] = bm
	}
	bm.Add(id)
}

func (g *grid) remove(id uint32, lat, lon float64) {
	k := cellOf(lat, lon)
	if bm := g.cells[k]; bm != nil {
		bm.Remove(id)
		if bm.IsEmpty() {
			delete(g.cells, k)
		}
	}
}

// locator returns the stored coordinate of a located id.
type locator func(id uint32) (lat, lon float64)

// query returns the ids located inside any of the rings or circles. Whole
// cells are taken by bitmap union when the cell is certainly inside, skipped
// when certainly outside, and only cells an edge passes through (or near a
// circle's rim) are tested point by point with the same exact predicates a
// brute-force scan would use.
func (g *grid) query(rings []orb.Ring, circles []Circle, loc locator) *roaring.Bitmap {
	var whole []*roaring.Bitmap
	exact := roaring.New()
	for _, r := range rings {
		whole = g.queryRing(r, loc, whole, exact)
	}
	for _, c := range circles {
		whole = g.queryCircle(c, loc, whole, exact)
	}
	whole = append(whole, exact)
	return roaring.FastOr(whole...)
}

func (g *grid) queryRing(r orb.Ring, loc locator, whole []*roaring.Bitmap, exact *roaring.Bitmap) []*roaring.Bitmap {
	b := r.Bound()
	r0, r1 := cellRow(b.Min[1]), cellRow(b.Max[1])
	c0, c1 := cellCol(b.Min[0]), cellCol(b.Max[0])
	// Cells any edge passes through are "boundary" cells, tested point by
	// point. An edge is walked row by row: within a row's latitude band it
	// covers a longitude interval, widened by a hair so float rounding can
	// only mark more cells, never fewer.
	boundary := map[uint32]bool{}
	marked := 0
	budget := 4*len(g.cells) + 4096
	for i := 0; i+1 < len(r) && marked <= budget; i++ {
		marked += g.markEdge(r[i], r[i+1], boundary, budget-marked)
	}
	if marked > budget {
		// Edges too long to walk cell by cell (a continent-sized polygon):
		// test every occupied cell inside the polygon's box point by point.
		boundary = nil
	}
	for k, bm := range g.cells {
		row, col := int(k/lonCells), int(k%lonCells)
		if row < r0 || row > r1 || col < c0 || col > c1 {
			continue
		}
		if boundary == nil || boundary[k] {
			it := bm.Iterator()
			for it.HasNext() {
				id := it.Next()
				lat, lon := loc(id)
				if planar.RingContains(r, orb.Point{lon, lat}) {
					exact.Add(id)
				}
			}
			continue
		}
		// No edge enters this cell: every point in it is on the same side,
		// so one real point decides for all.
		lat, lon := loc(bm.Minimum())
		if planar.RingContains(r, orb.Point{lon, lat}) {
			whole = append(whole, bm)
		}
	}
	return whole
}

// markEdge marks the occupied cells segment a–e passes through and returns
// how many cells it visited (stopping once past budget).
func (g *grid) markEdge(a, e orb.Point, boundary map[uint32]bool, budget int) int {
	const eps = 1e-9
	if a[1] > e[1] {
		a, e = e, a
	}
	visited := 0
	for row := cellRow(a[1] - eps); row <= cellRow(e[1]+eps); row++ {
		lo := float64(row)*cellDeg - 90 - eps
		hi := lo + cellDeg + 2*eps
		var lon0, lon1 float64
		if dy := e[1] - a[1]; dy == 0 {
			lon0, lon1 = a[0], e[0]
		} else {
			t0 := math.Max(0, (lo-a[1])/dy)
			t1 := math.Min(1, (hi-a[1])/dy)
			lon0, lon1 = a[0]+t0*(e[0]-a[0]), a[0]+t1*(e[0]-a[0])
		}
		if lon0 > lon1 {
			lon0, lon1 = lon1, lon0
		}
		c0, c1 := cellCol(lon0-eps), cellCol(lon1+eps)
		visited += c1 - c0 + 1
		if visited > budget {
			return visited
		}
		for col := c0; col <= c1; col++ {
			k := uint32(row)*lonCells + uint32(col)
			if _, ok := g.cells[k]; ok {
				boundary[k] = true
			}
		}
	}
	return visited
}

// circleMargin is the slack, in metres, that keeps cell classification
// conservative against the curvature the corner tests do not model.
func circleMargin(radiusM float64) float64 { return 200 + radiusM*1e-3 }

func (g *grid) queryCircle(c Circle, loc locator, whole []*roaring.Bitmap, exact *roaring.Bitmap) []*roaring.Bitmap {
	rm := c.RadiusKM * 1000
	margin := circleMargin(rm)
	box := geo.NewBoundAroundPoint(c.Center.orb(), rm+margin)
	// Near a pole, across the antimeridian or for continent-sized circles the
	// box and corner tests below are not reliable: test every point instead.
	fullLon := c.RadiusKM > 2000 || math.Abs(c.Center.Lat)+(rm+margin)/111000 >= 89 ||
		box.Min[0] <= -180 || box.Max[0] >= 180 || box.Min[0] > box.Max[0]
	center := c.Center.orb()
	for k, bm := range g.cells {
		row, col := int(k/lonCells), int(k%lonCells)
		south := float64(row)*cellDeg - 90
		west := float64(col)*cellDeg - 180
		north, east := south+cellDeg, west+cellDeg
		if !fullLon {
			if north < box.Min[1] || south > box.Max[1] || east < box.Min[0] || west > box.Max[0] {
				continue
			}
			// Nearest point of the cell (clamped) and farthest corner.
			near := orb.Point{math.Max(west, math.Min(east, center[0])), math.Max(south, math.Min(north, center[1]))}
			if geo.DistanceHaversine(center, near) > rm+margin {
				continue
			}
			far := 0.0
			for _, p := range [4]orb.Point{{west, south}, {west, north}, {east, south}, {east, north}} {
				far = math.Max(far, geo.DistanceHaversine(center, p))
			}
			if far+margin < rm {
				whole = append(whole, bm)
				continue
			}
		}
		it := bm.Iterator()
		for it.HasNext() {
			id := it.Next()
			lat, lon := loc(id)
			if inCircle(c, lat, lon) {
				exact.Add(id)
			}
		}
	}
	return whole
}

// size returns the bytes the grid's bitmaps take.
func (g *grid) size() uint64 {
	var n uint64
	for _, bm := range g.cells {
		n += bm.GetSizeInBytes() + 16
	}
	return n
}
