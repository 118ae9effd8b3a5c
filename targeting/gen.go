package targeting

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// SyntheticMarker starts the first line of every generated file.
const SyntheticMarker = "# SYNTHETIC"

// GeneratePopulation writes a synthetic resident registry and speaker
// registry for tests and benchmarks, in the import CSV formats. Residents
// are spread over every village of t (town communities denser), clustered
// around an invented village centre inside outline; group and language mixes
// are plausible for Shule County (mostly Uyghur-speaking, farmers and
// herders), not census figures. Phones are unique 1[3-9]… numbers that
// belong to no one known; the first line of each file says the data are
// synthetic. The output is a function of the arguments alone (seed included).
func GeneratePopulation(t *Tree, outline orb.MultiPolygon, residents, speakers int, seed int64, resW, spkW io.Writer) error {
	if len(outline) == 0 {
		return errors.New("gen population: empty outline")
	}
	return generate(t, func(string) orb.MultiPolygon { return outline }, residents, speakers, seed, resW, spkW)
}

// GeneratePopulationIn is GeneratePopulation over several counties, each
// village placed inside the outline of its own county (outlines by county
// code; every county of t needs one).
func GeneratePopulationIn(t *Tree, outlines map[string]orb.MultiPolygon, residents, speakers int, seed int64, resW, spkW io.Writer) error {
	for _, c := range t.Counties() {
		if len(outlines[c.Code]) == 0 {
			return fmt.Errorf("gen population: no outline for county %s", c.Code)
		}
	}
	return generate(t, func(county string) orb.MultiPolygon { return outlines[county] }, residents, speakers, seed, resW, spkW)
}

func generate(t *Tree, outlineOf func(county string) orb.MultiPolygon,
	residents, speakers int, seed int64, resW, spkW io.Writer) error {
	if residents < 0 || speakers < 0 {
		return errors.New("gen population: counts must not be negative")
	}
	if residents > 700_000_000 {
		return errors.New("gen population: at most 700,000,000 residents (unique phone numbers)")
	}
	villages := t.Villages()
	if len(villages) == 0 {
		return errors.New("gen population: the region tree has no villages")
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x616c657274636173)) // "alertcas"
	pl := placeVillages(t, villages, outlineOf, rng)
	vs, total, near := pl.vs, pl.total, pl.near
	cum := make([]float64, len(vs))
	acc := 0.0
	for i := range vs {
		acc += vs[i].weight / total
		cum[i] = acc
	}
	pickVillage := func() int {
		x := rng.Float64()
		lo, hi := 0, len(cum)-1
		for lo < hi {
			m := (lo + hi) / 2
			if cum[m] < x {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return lo
	}

	header := fmt.Sprintf("%s data from alertctl gen population --residents %d --speakers %d --seed %d: invented people and phone numbers for tests and benchmarks; never send to them.\n",
		SyntheticMarker, residents, speakers, seed)
	rw := bufio.NewWriterSize(resW, 256<<10)
	rw.WriteString(header)
	rw.WriteString("id,phone,village,groups,language,opt_out,lat,lon\n")
	phoneBase := uint64(13_000_000_000)
	offset := uint64(seed) % 700_000_000
	var line []byte
	var groups []string
	for i := range residents {
		v := &vs[pickVillage()]
		phone := phoneBase + (uint64(i)*7919+offset)%700_000_000
		groups = groups[:0]
		age := rng.Float64()
		switch {
		case age < 0.20:
			groups = append(groups, "students")
		case age > 0.88:
			groups = append(groups, "elderly")
		}
		work := rng.Float64()
		switch {
		case v.urban && work < 0.03:
			groups = append(groups, "drivers")
		case v.urban && work < 0.05:
			groups = append(groups, "construction")
		case v.urban && work < 0.06:
			groups = append(groups, "medical")
		case !v.urban && work < 0.45:
			groups = append(groups, "farmers")
		case !v.urban && work < 0.58:
			groups = append(groups, "herders")
		}
		extra := rng.Float64()
		switch {
		case extra < 0.02:
			groups = append(groups, "disabled")
		case extra < 0.03:
			groups = append(groups, "cadres")
		case extra < 0.036:
			groups = append(groups, "schools")
		case extra < 0.046:
			groups = append(groups, "tourists")
		case extra < 0.047:
			groups = append(groups, "hazchem")
		}
		lang := "ug"
		zhShare := 0.04
		if v.urban {
			zhShare = 0.22
		}
		if rng.Float64() < zhShare {
			lang = "zh"
		}
		optOut := rng.Float64() < 0.005
		located := rng.Float64() < 0.92
		var p orb.Point
		if located {
			sigma := 0.02
			if v.urban {
				sigma = 0.006
			}
			p = near(v.code, v.centre, sigma)
		}
		line = strconv.AppendInt(line[:0], int64(i+1), 10)
		line = append(line, ',')
		line = strconv.AppendUint(line, phone, 10)
		line = append(line, ',')
		line = append(line, v.code...)
		line = append(line, ',')
		line = append(line, strings.Join(groups, ";")...)
		line = append(line, ',')
		line = append(line, lang...)
		if optOut {
			line = append(line, ",true,"...)
		} else {
			line = append(line, ",false,"...)
		}
		if located {
			line = strconv.AppendFloat(line, p[1], 'f', 6, 64)
			line = append(line, ',')
			line = strconv.AppendFloat(line, p[0], 'f', 6, 64)
		} else {
			line = append(line, ',')
		}
		line = append(line, '\n')
		if _, err := rw.Write(line); err != nil {
			return fmt.Errorf("gen population: residents: %w", err)
		}
	}
	if err := rw.Flush(); err != nil {
		return fmt.Errorf("gen population: residents: %w", err)
	}

	sw := bufio.NewWriter(spkW)
	sw.WriteString(header)
	sw.WriteString("id,village,lat,lon,zone,capabilities\n")
	zones := []string{"centre", "north", "south", "east", "west", "market", "school", "mosque-square", "fields"}
	perVillage := map[string]int{}
	for i := range speakers {
		var v *vill
		if i < len(vs) {
			v = &vs[i] // every village gets one before any gets two
		} else {
			v = &vs[pickVillage()]
		}
		perVillage[v.code]++
		id := fmt.Sprintf("SPK-%s-%02d", v.code, perVillage[v.code])
		caps := "pcm;opus;tts"
		if rng.Float64() < 0.3 {
			caps += ";live"
		}
		zone := zones[rng.IntN(len(zones))]
		var err error
		if rng.Float64() < 0.97 {
			p := near(v.code, v.centre, 0.008)
			_, err = fmt.Fprintf(sw, "%s,%s,%.6f,%.6f,%s,%s\n", id, v.code, p[1], p[0], zone, caps)
		} else {
			_, err = fmt.Fprintf(sw, "%s,%s,,,%s,%s\n", id, v.code, zone, caps)
		}
		if err != nil {
			return fmt.Errorf("gen population: speakers: %w", err)
		}
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("gen population: speakers: %w", err)
	}
	return nil
}

// outlineMask answers point-in-outline quickly for the generator: a raster
// of small cells, each known to be inside, outside, or crossed by an edge
// (only those are tested exactly against the 800-vertex outline).
type outlineMask struct {
	mp         orb.MultiPolygon
	b          orb.Bound
	step       float64
	rows, cols int
	state      []uint8 // 0 outside, 1 inside, 2 edge
}

func newOutlineMask(mp orb.MultiPolygon) *outlineMask {
	m := &outlineMask{mp: mp, b: mp.Bound(), step: 0.005}
	m.cols = int((m.b.Max[0]-m.b.Min[0])/m.step) + 1
	m.rows = int((m.b.Max[1]-m.b.Min[1])/m.step) + 1
	if m.rows*m.cols > 4<<20 { // a huge outline: no raster, exact tests only
		m.rows, m.cols = 0, 0
		return m
	}
	m.state = make([]uint8, m.rows*m.cols)
	for _, poly := range mp {
		for _, ring := range poly {
			for i := 0; i+1 < len(ring); i++ {
				a, e := ring[i], ring[i+1]
				r0, c0 := m.cell(orb.Point{min(a[0], e[0]), min(a[1], e[1])})
				r1, c1 := m.cell(orb.Point{max(a[0], e[0]), max(a[1], e[1])})
				for r := r0; r <= r1; r++ {
					for c := c0; c <= c1; c++ {
						m.state[r*m.cols+c] = 2
					}
				}
			}
		}
	}
	// Scanline through each row's centre: a cell no edge enters is inside
	// when an odd number of edges cross the row to the left of its centre.
	var xs []float64
	for r := range m.rows {
		y := m.b.Min[1] + (float64(r)+0.5)*m.step
		xs = xs[:0]
		for _, poly := range mp {
			for _, ring := range poly {
				for i := 0; i+1 < len(ring); i++ {
					a, e := ring[i], ring[i+1]
					if (a[1] > y) != (e[1] > y) {
						xs = append(xs, a[0]+(y-a[1])*(e[0]-a[0])/(e[1]-a[1]))
					}
				}
			}
		}
		slices.Sort(xs)
		k := 0
		for c := range m.cols {
			x := m.b.Min[0] + (float64(c)+0.5)*m.step
			for k < len(xs) && xs[k] < x {
				k++
			}
			if m.state[r*m.cols+c] != 2 && k%2 == 1 {
				m.state[r*m.cols+c] = 1
			}
		}
	}
	return m
}

func (m *outlineMask) cell(p orb.Point) (int, int) {
	r := min(max(int((p[1]-m.b.Min[1])/m.step), 0), m.rows-1)
	c := min(max(int((p[0]-m.b.Min[0])/m.step), 0), m.cols-1)
	return r, c
}

func (m *outlineMask) contains(p orb.Point) bool {
	if !m.b.Contains(p) {
		return false
	}
	if m.rows == 0 {
		return planar.MultiPolygonContains(m.mp, p)
	}
	r, c := m.cell(p)
	switch m.state[r*m.cols+c] {
	case 0:
		return false
	case 1:
		return true
	}
	return planar.MultiPolygonContains(m.mp, p)
}

type vill struct {
	code   string
	centre orb.Point
	urban  bool
	weight float64
}

// placement is where the generator put the townships and villages: the
// same for every file generated from one seed (residents, speakers,
// shelters), because it is drawn first from the seed's stream.
type placement struct {
	townCentre map[string]orb.Point
	vs         []vill
	total      float64
	near       func(code string, c orb.Point, sigma float64) orb.Point
}

func placeVillages(t *Tree, villages []Region, outlineOf func(county string) orb.MultiPolygon, rng *rand.Rand) placement {
	type area struct {
		bound  orb.Bound
		inside func(orb.Point) bool
	}
	areas := map[string]*area{}
	areaOf := func(code string) *area {
		county := code[:min(6, len(code))]
		a := areas[county]
		if a == nil {
			mp := outlineOf(county)
			if len(mp) == 0 { // a region outside every outline given: the first county's
				mp = outlineOf(t.Counties()[0].Code)
			}
			a = &area{bound: mp.Bound(), inside: newOutlineMask(mp).contains}
			areas[county] = a
		}
		return a
	}
	randomInside := func(code string) orb.Point {
		a := areaOf(code)
		for {
			p := orb.Point{a.bound.Min[0] + rng.Float64()*(a.bound.Max[0]-a.bound.Min[0]), a.bound.Min[1] + rng.Float64()*(a.bound.Max[1]-a.bound.Min[1])}
			if a.inside(p) {
				return p
			}
		}
	}
	near := func(code string, c orb.Point, sigma float64) orb.Point {
		inside := areaOf(code).inside
		for range 20 {
			p := orb.Point{c[0] + rng.NormFloat64()*sigma, c[1] + rng.NormFloat64()*sigma*0.8}
			if inside(p) {
				return p
			}
		}
		return c
	}

	// Township centres, then village centres around them.
	townCentre := map[string]orb.Point{}
	for _, tw := range t.Townships() {
		townCentre[tw.Code] = randomInside(tw.Code)
	}
	vs := make([]vill, len(villages))
	total := 0.0
	for i, v := range villages {
		c, ok := townCentre[v.Parent]
		if !ok {
			c = randomInside(v.Code)
		}
		last3, _ := strconv.Atoi(v.Code[9:])
		urban := last3 < 200 // 001–199: residents' committees (社区/居委会)
		sigma := 0.06
		if urban {
			sigma = 0.015
		}
		w := math.Exp(rng.NormFloat64() * 0.4)
		if urban {
			w *= 1.8
		}
		vs[i] = vill{code: v.Code, centre: near(v.Code, c, sigma), urban: urban, weight: w}
		total += w
	}
	return placement{townCentre: townCentre, vs: vs, total: total, near: near}
}
