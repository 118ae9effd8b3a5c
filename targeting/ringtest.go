package targeting

import (
	"math"

	"github.com/paulmach/orb"
)

// ringTester answers orb's planar.RingContains for many points against one
// ring, with the same result for every point (the property test checks this
// against orb itself). orb recomputes the ring's bound and walks every edge
// per point; here the bound is computed once and, for large rings, edges are
// bucketed by grid column, because orb's ray is vertical: only edges whose
// longitude range covers the point can touch it.
type ringTester struct {
	r       orb.Ring
	b       orb.Bound
	c0      int
	buckets [][]int32 // by column - c0: indexes i of edges r[i]–r[i+1]; -1 is the closing edge
}

const ringBucketMin = 4 // edges: even a quadrilateral gains (two edges per column, not four)

func newRingTester(r orb.Ring) *ringTester {
	t := &ringTester{r: r, b: r.Bound()}
	if len(r) < ringBucketMin {
		return t
	}
	const eps = 1e-9
	t.c0 = cellCol(t.b.Min[0] - eps)
	c1 := cellCol(t.b.Max[0] + eps)
	if c1-t.c0 > 1<<16 {
		return t // a continent-wide ring: walk every edge
	}
	t.buckets = make([][]int32, c1-t.c0+1)
	add := func(i int32, s, e orb.Point) {
		lo, hi := math.Min(s[0], e[0]), math.Max(s[0], e[0])
		for c := cellCol(lo - eps); c <= cellCol(hi+eps); c++ {
			t.buckets[c-t.c0] = append(t.buckets[c-t.c0], i)
		}
	}
	add(-1, r[0], r[len(r)-1])
	for i := 0; i+1 < len(r); i++ {
		add(int32(i), r[i], r[i+1])
	}
	return t
}

func (t *ringTester) contains(p orb.Point) bool {
	if !t.b.Contains(p) {
		return false
	}
	r := t.r
	if t.buckets == nil {
		c, on := rayIntersect(p, r[0], r[len(r)-1])
		if on {
			return true
		}
		for i := 0; i < len(r)-1; i++ {
			inter, on := rayIntersect(p, r[i], r[i+1])
			if on {
				return true
			}
			if inter {
				c = !c
			}
		}
		return c
	}
	c := false
	for _, i := range t.buckets[cellCol(p[0])-t.c0] {
		var inter, on bool
		if i < 0 {
			inter, on = rayIntersect(p, r[0], r[len(r)-1])
		} else {
			inter, on = rayIntersect(p, r[i], r[i+1])
		}
		if on {
			return true
		}
		if inter {
			c = !c
		}
	}
	return c
}

// rayIntersect is orb's planar ray test (github.com/paulmach/orb, MIT
// licence; originally http://rosettacode.org/wiki/Ray-casting_algorithm#Go),
// copied unchanged because orb does not export it.
func rayIntersect(p, s, e orb.Point) (intersects, on bool) {
	if s[0] > e[0] {
		s, e = e, s
	}

	switch p[0] {
	case s[0]:
		if p[1] == s[1] {
			return false, true
		} else if s[0] == e[0] {
			if s[1] > e[1] && s[1] >= p[1] && p[1] >= e[1] {
				return false, true
			}
			if e[1] > s[1] && e[1] >= p[1] && p[1] >= s[1] {
				return false, true
			}
		}
		p[0] = math.Nextafter(p[0], math.Inf(1))
	case e[0]:
		if p[1] == e[1] {
			return false, true
		}
		p[0] = math.Nextafter(p[0], math.Inf(1))
	}

	if p[0] < s[0] || p[0] > e[0] {
		return false, false
	}

	if s[1] > e[1] {
		if p[1] > s[1] {
			return false, false
		} else if p[1] < e[1] {
			return true, false
		}
	} else {
		if p[1] > e[1] {
			return false, false
		} else if p[1] < s[1] {
			return true, false
		}
	}

	rs := (p[1] - s[1]) / (p[0] - s[0])
	ds := (e[1] - s[1]) / (e[0] - s[0])

	if rs == ds {
		return false, true
	}

	return rs <= ds, false
}
