package console

import (
	"math"
	"slices"
)

// The geometry behind the approximate township map: Voronoi cells by
// half-plane clipping (each cell is the bounding box cut by the bisector
// with every other site, nearest first, stopping once no farther site can
// cut it), then the county outline clipped by each convex cell
// (Sutherland–Hodgman, which is exact for a convex clip window and any
// subject ring). Plain float64 in a local plane: x = lon·cos(lat₀), y = lat.

type vec struct{ x, y float64 }

func (a vec) sub(b vec) vec     { return vec{a.x - b.x, a.y - b.y} }
func (a vec) dot(b vec) float64 { return a.x*b.x + a.y*b.y }
func (a vec) cross(b vec) float64 {
	return a.x*b.y - a.y*b.x
}

// cellVertex is a corner of a convex cell; the edge from it to the next
// corner lies on the bisector with site nb (-1: the bounding box).
type cellVertex struct {
	p  vec
	nb int // the neighbour whose bisector runs from this vertex to the next
}

// halfPlane keeps the points p with n·p <= c.
type halfPlane struct {
	n vec
	c float64
}

// clipConvex cuts the convex polygon poly (counter-clockwise) by h; the new
// edge along h's line is labelled nb.
func clipConvex(poly []cellVertex, h halfPlane, nb int) []cellVertex {
	if len(poly) == 0 {
		return nil
	}
	out := make([]cellVertex, 0, len(poly)+1)
	side := func(p vec) float64 { return h.n.dot(p) - h.c }
	for i := range poly {
		cur, next := poly[i], poly[(i+1)%len(poly)]
		sc, sn := side(cur.p), side(next.p)
		if sc <= 0 {
			v := cur
			if sc == 0 && sn > 0 { // leaving at this very vertex: its edge now runs along h
				v.nb = nb
			}
			out = append(out, v)
		}
		if (sc < 0 && sn > 0) || (sc > 0 && sn < 0) {
			t := sc / (sc - sn)
			x := vec{cur.p.x + t*(next.p.x-cur.p.x), cur.p.y + t*(next.p.y-cur.p.y)}
			if sc < 0 { // leaving: the edge from here on runs along h
				out = append(out, cellVertex{x, nb})
			} else { // entering: the rest of the original edge keeps its label
				out = append(out, cellVertex{x, cur.nb})
			}
		}
	}
	if len(out) < 3 {
		return nil
	}
	return out
}

// voronoiCells returns the Voronoi cell of every site inside box (min, max),
// counter-clockwise, each edge labelled with the neighbour it faces. Sites
// must be distinct.
func voronoiCells(sites []vec, min, max vec) [][]cellVertex {
	cells := make([][]cellVertex, len(sites))
	order := make([]int, len(sites))
	for i := range order {
		order[i] = i
	}
	dist2 := make([]float64, len(sites))
	for i, s := range sites {
		cell := []cellVertex{{vec{min.x, min.y}, -1}, {vec{max.x, min.y}, -1}, {vec{max.x, max.y}, -1}, {vec{min.x, max.y}, -1}}
		for j, o := range sites {
			d := o.sub(s)
			dist2[j] = d.dot(d)
		}
		slices.SortFunc(order, func(a, b int) int {
			if dist2[a] < dist2[b] {
				return -1
			}
			if dist2[a] > dist2[b] {
				return 1
			}
			return a - b
		})
		for _, j := range order {
			if j == i {
				continue
			}
			// A site farther than twice the cell's radius cannot cut it.
			r2 := 0.0
			for _, v := range cell {
				d := v.p.sub(s)
				r2 = math.Max(r2, d.dot(d))
			}
			if dist2[j] > 4*r2 {
				break
			}
			o := sites[j]
			n := o.sub(s)
			cell = clipConvex(cell, halfPlane{n, (o.dot(o) - s.dot(s)) / 2}, j)
			if cell == nil {
				break
			}
		}
		cells[i] = cell
	}
	return cells
}

// clipRing clips a ring (any simple ring, either orientation; closing point
// not repeated) to the convex polygon win (counter-clockwise): the part of
// the ring's area inside win. The result may touch itself along win's
// edges where the ring leaves and re-enters; its area is exact.
func clipRing(ring []vec, win []cellVertex) []vec {
	out := ring
	for i := range win {
		if len(out) == 0 {
			return nil
		}
		a, b := win[i].p, win[(i+1)%len(win)].p
		e := b.sub(a)
		inside := func(p vec) float64 { return e.cross(p.sub(a)) } // >= 0: left of a→b, inside
		in := out
		out = make([]vec, 0, len(in)+4)
		for k := range in {
			cur, next := in[k], in[(k+1)%len(in)]
			sc, sn := inside(cur), inside(next)
			if sc >= 0 {
				out = append(out, cur)
			}
			if (sc >= 0) != (sn >= 0) {
				t := sc / (sc - sn)
				out = append(out, vec{cur.x + t*(next.x-cur.x), cur.y + t*(next.y-cur.y)})
			}
		}
	}
	if len(out) < 3 || math.Abs(ringArea(out)) < 1e-14 {
		return nil
	}
	return out
}

// ringArea is the signed area (counter-clockwise positive).
func ringArea(r []vec) float64 {
	a := 0.0
	for i := range r {
		j := (i + 1) % len(r)
		a += r[i].cross(r[j])
	}
	return a / 2
}

// clipSegment returns the parts of segment a–b inside the rings (even-odd:
// holes count as outside).
func clipSegment(a, b vec, rings [][]vec) [][2]vec {
	ts := []float64{0, 1}
	d := b.sub(a)
	for _, r := range rings {
		for i := range r {
			p, q := r[i], r[(i+1)%len(r)]
			e := q.sub(p)
			den := d.cross(e)
			if den == 0 {
				continue
			}
			w := p.sub(a)
			t, u := w.cross(e)/den, w.cross(d)/den
			if t > 0 && t < 1 && u >= 0 && u <= 1 {
				ts = append(ts, t)
			}
		}
	}
	slices.Sort(ts)
	var out [][2]vec
	at := func(t float64) vec { return vec{a.x + t*d.x, a.y + t*d.y} }
	for i := 0; i+1 < len(ts); i++ {
		if ts[i+1]-ts[i] < 1e-12 {
			continue
		}
		if inRings(at((ts[i]+ts[i+1])/2), rings) {
			s, e := at(ts[i]), at(ts[i+1])
			if n := len(out); n > 0 && out[n-1][1] == s {
				out[n-1][1] = e
				continue
			}
			out = append(out, [2]vec{s, e})
		}
	}
	return out
}

// inRings is the even-odd point-in-polygon test over all rings.
func inRings(p vec, rings [][]vec) bool {
	in := false
	for _, r := range rings {
		for i, j := 0, len(r)-1; i < len(r); j, i = i, i+1 {
			a, b := r[i], r[j]
			if (a.y > p.y) != (b.y > p.y) && p.x < (b.x-a.x)*(p.y-a.y)/(b.y-a.y)+a.x {
				in = !in
			}
		}
	}
	return in
}
