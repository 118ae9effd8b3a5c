package targeting

import (
	"math"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
)

// cellDeg is the grid cell size in degrees (about 430 m × 555 m at Shule's
// latitude). A geometric aim takes whole cells that lie inside it and tests
// point by point only the cells its edge passes through, so smaller cells
// mean fewer exact tests; the cost is a few dozen bytes per occupied cell.
const cellDeg = 0.005

const lonCells = 72001 // 360/cellDeg + 1

// cellOf maps a coordinate to its cell key. It is monotonic in each axis,
// which makes every cell a convex set of points: the property the
// whole-cell shortcuts below rest on.
func cellOf(lat, lon float64) uint64 {
	return uint64(cellRow(lat))*lonCells + uint64(cellCol(lon))
}

func cellRow(lat float64) int { return int(math.Floor((lat + 90) / cellDeg)) }
func cellCol(lon float64) int { return int(math.Floor((lon + 180) / cellDeg)) }

func cellKey(row, col int) uint64 { return uint64(row)*lonCells + uint64(col) }

// gridEntry is a located entity as the grid keeps it: its id and the same
// float32 coordinates the index stores, side by side so that testing a
// cell's points reads one contiguous slice.
type gridEntry struct {
	id       uint32
	lat, lon float32
}

// grid is a uniform spatial index: cell → entities located in it.
type grid struct {
	cells map[uint64][]gridEntry
	maxID uint32
	n     int
}

func newGrid() *grid { return &grid{cells: map[uint64][]gridEntry{}} }

func (g *grid) add(id uint32, lat, lon float32) {
	k := cellOf(float64(lat), float64(lon))
	g.cells[k] = append(g.cells[k], gridEntry{id, lat, lon})
	g.maxID = max(g.maxID, id)
	g.n++
}

func (g *grid) remove(id uint32, lat, lon float32) {
	k := cellOf(float64(lat), float64(lon))
	es := g.cells[k]
	for i := range es {
		if es[i].id == id {
			es[i] = es[len(es)-1]
			es = es[:len(es)-1]
			g.n--
			break
		}
	}
	if len(es) == 0 {
		delete(g.cells, k)
	} else {
		g.cells[k] = es
	}
}

// idSet collects query results: a dense bitset when ids are small (the
// usual database sequence), else a list.
type idSet struct {
	words []uint64
	list  []uint32
}

const maxDenseID = 1 << 26 // 8 MiB of bitset at most

func (g *grid) newSet() *idSet {
	if g.maxID < maxDenseID {
		return &idSet{words: make([]uint64, g.maxID/64+1)}
	}
	return &idSet{}
}

func (s *idSet) add(id uint32) {
	if s.words != nil {
		s.words[id>>6] |= 1 << (id & 63)
	} else {
		s.list = append(s.list, id)
	}
}

func (s *idSet) addAll(es []gridEntry) {
	for _, e := range es {
		s.add(e.id)
	}
}

func (s *idSet) bitmap() *roaring.Bitmap {
	if s.words != nil {
		return roaring.FromDense(s.words, false)
	}
	slices.Sort(s.list)
	bm := roaring.New()
	bm.AddMany(slices.Compact(s.list))
	return bm
}

// query returns the ids located inside any of the rings or circles. Cells
// certainly inside are taken whole, cells certainly outside skipped, and
// only cells an edge passes through (or near a circle's rim) are tested
// point by point, with the same exact predicates (orb's RingContains,
// haversine distance) a brute-force scan uses.
func (g *grid) query(rings []orb.Ring, circles []Circle) *roaring.Bitmap {
	set := g.newSet()
	for _, r := range rings {
		g.queryRing(r, set)
	}
	for _, c := range circles {
		g.queryCircle(c, set)
	}
	return set.bitmap()
}

// forCells calls fn for every occupied cell in the row/column box, walking
// whichever is smaller: the box or the occupied cells.
func (g *grid) forCells(r0, r1, c0, c1 int, fn func(row, col int, es []gridEntry)) {
	if boxCells := (r1 - r0 + 1) * (c1 - c0 + 1); boxCells > 0 && boxCells <= len(g.cells) {
		for row := r0; row <= r1; row++ {
			for col := c0; col <= c1; col++ {
				if es, ok := g.cells[cellKey(row, col)]; ok {
					fn(row, col, es)
				}
			}
		}
		return
	}
	for k, es := range g.cells {
		row, col := int(k/lonCells), int(k%lonCells)
		if row >= r0 && row <= r1 && col >= c0 && col <= c1 {
			fn(row, col, es)
		}
	}
}

func (g *grid) queryRing(r orb.Ring, set *idSet) {
	rt := newRingTester(r)
	b := rt.b
	r0, r1 := cellRow(b.Min[1]), cellRow(b.Max[1])
	c0, c1 := cellCol(b.Min[0]), cellCol(b.Max[0])
	// Cells any edge passes through are "boundary" cells, tested point by
	// point. An edge is walked row by row: within a row's latitude band it
	// covers a longitude interval, widened by a hair so float rounding can
	// only mark more cells, never fewer.
	boundary := map[uint64]bool{}
	budget := 4*len(g.cells) + 4096
	marked := 0
	for i := 0; i+1 < len(r) && marked <= budget; i++ {
		marked += g.markEdge(r[i], r[i+1], boundary, budget-marked)
	}
	if marked > budget {
		// Edges too long to walk cell by cell (a continent-sized polygon):
		// test every occupied cell in the polygon's box point by point.
		g.forCells(r0, r1, c0, c1, func(_, _ int, es []gridEntry) { exactRing(rt, es, set) })
		return
	}
	// Cells no edge enters are wholly inside or wholly outside. Decide each
	// by even-odd parity of edge crossings left of its centre, one sorted
	// crossing list per row.
	var xs []float64
	lastRow := -1
	g.forCells(r0, r1, c0, c1, func(row, col int, es []gridEntry) {
		if boundary[cellKey(row, col)] {
			exactRing(rt, es, set)
			return
		}
		y := (float64(row)+0.5)*cellDeg - 90
		if row != lastRow {
			xs = xs[:0]
			for i := 0; i+1 < len(r); i++ {
				a, e := r[i], r[i+1]
				if (a[1] > y) != (e[1] > y) {
					xs = append(xs, a[0]+(y-a[1])*(e[0]-a[0])/(e[1]-a[1]))
				}
			}
			slices.Sort(xs)
			lastRow = row
		}
		x := (float64(col)+0.5)*cellDeg - 180
		n, _ := slices.BinarySearch(xs, x)
		if n%2 == 1 {
			set.addAll(es)
		}
	})
}

func exactRing(rt *ringTester, es []gridEntry, set *idSet) {
	for _, e := range es {
		if rt.contains(orb.Point{float64(e.lon), float64(e.lat)}) {
			set.add(e.id)
		}
	}
}

// markEdge marks the occupied cells segment a–e passes through and returns
// how many cells it visited (stopping once past budget).
func (g *grid) markEdge(a, e orb.Point, boundary map[uint64]bool, budget int) int {
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
			if k := cellKey(row, col); g.cells[k] != nil {
				boundary[k] = true
			}
		}
	}
	return visited
}

// circleMargin is the slack, in metres, that keeps cell classification
// conservative against the curvature the corner tests do not model.
func circleMargin(radiusM float64) float64 { return 200 + radiusM*1e-3 }

func (g *grid) queryCircle(c Circle, set *idSet) {
	rm := c.RadiusKM * 1000
	margin := circleMargin(rm)
	box := geo.NewBoundAroundPoint(c.Center.orb(), rm+margin)
	// Near a pole, across the antimeridian or for continent-sized circles the
	// box and corner tests are not reliable: test every point instead.
	if c.RadiusKM > 2000 || math.Abs(c.Center.Lat)+(rm+margin)/111000 >= 89 ||
		box.Min[0] <= -180 || box.Max[0] >= 180 || box.Min[0] > box.Max[0] {
		for _, es := range g.cells {
			exactCircle(c, es, set)
		}
		return
	}
	center := c.Center.orb()
	g.forCells(cellRow(box.Min[1]), cellRow(box.Max[1]), cellCol(box.Min[0]), cellCol(box.Max[0]), func(row, col int, es []gridEntry) {
		south := float64(row)*cellDeg - 90
		west := float64(col)*cellDeg - 180
		north, east := south+cellDeg, west+cellDeg
		near := orb.Point{math.Max(west, math.Min(east, center[0])), math.Max(south, math.Min(north, center[1]))}
		if geo.DistanceHaversine(center, near) > rm+margin {
			return
		}
		far := 0.0
		for _, p := range [4]orb.Point{{west, south}, {west, north}, {east, south}, {east, north}} {
			far = math.Max(far, geo.DistanceHaversine(center, p))
		}
		if far+margin < rm {
			set.addAll(es)
			return
		}
		exactCircle(c, es, set)
	})
}

func exactCircle(c Circle, es []gridEntry, set *idSet) {
	for _, e := range es {
		if inCircle(c, float64(e.lat), float64(e.lon)) {
			set.add(e.id)
		}
	}
}

// size returns the bytes the grid takes (entries and per-cell overhead).
func (g *grid) size() uint64 {
	var n uint64
	for _, es := range g.cells {
		n += uint64(cap(es))*12 + 48
	}
	return n
}
