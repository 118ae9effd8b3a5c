package targeting

import (
	"errors"
	"fmt"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/paulmach/orb"
)

// Aim is what a warning is aimed at. The area is the union of the codes
// (each matching its own village or every village below it), the polygons
// and the circles, minus every village under an Exclude code. An entity
// with coordinates is matched by them or by its village code; one without is
// matched by its village code only. Groups combine as any-of, Languages as
// any-of; empty means everyone.
type Aim struct {
	Codes     []string  `json:"codes,omitempty"`
	Exclude   []string  `json:"exclude,omitempty"`
	Polygons  [][]Point `json:"polygons,omitempty"`
	Circles   []Circle  `json:"circles,omitempty"`
	Groups    []string  `json:"groups,omitempty"`
	Languages []string  `json:"languages,omitempty"`
}

func (a Aim) geometric() bool { return len(a.Polygons) > 0 || len(a.Circles) > 0 }

// Preview is the audience an aim reaches, counted before anything is sent.
// Channels has "sms" (residents reached, opted-out excluded) and "speaker";
// dispatch adds its own channels (websocket, voice). Townships and Languages
// break the SMS recipients down. Unplaced counts the residents and speakers a
// geometric aim could not place: they pass the group and language filters,
// have no coordinates, and are not matched by a code of the aim.
type Preview struct {
	Channels  map[string]int `json:"channels"`
	Townships map[string]int `json:"townships"`
	Languages map[string]int `json:"languages"`
	Unplaced  int            `json:"unplaced"`
}

// Resolution is the resolved audience of one aim: a snapshot that later
// index changes do not alter.
type Resolution struct {
	residents *roaring.Bitmap
	speakers  []string
	preview   Preview
}

// Residents returns the SMS recipients (matched and not opted out) in
// ascending id order: the stable order batches are cut from, so a batch
// means the same recipients after a restart.
func (r *Resolution) Residents() []uint32 { return r.residents.ToArray() }

// ResidentBitmap returns a copy of the SMS recipients as a bitmap.
func (r *Resolution) ResidentBitmap() *roaring.Bitmap { return r.residents.Clone() }

// ResidentCount returns the number of SMS recipients.
func (r *Resolution) ResidentCount() int { return int(r.residents.GetCardinality()) }

// ResidentBatches calls fn with consecutive batches of at most size
// recipients, in ascending id order, until fn returns false.
func (r *Resolution) ResidentBatches(size int, fn func(batch []uint32) bool) {
	if size <= 0 {
		size = 1000
	}
	it := r.residents.ManyIterator()
	buf := make([]uint32, size)
	for {
		n := it.NextMany(buf)
		if n == 0 || !fn(buf[:n]) {
			return
		}
	}
}

// Speakers returns the matched speaker ids in ascending order.
func (r *Resolution) Speakers() []string { return slices.Clone(r.speakers) }

// Preview returns the counts.
func (r *Resolution) Preview() Preview {
	p := r.preview
	p.Channels, p.Townships, p.Languages = cloneMap(p.Channels), cloneMap(p.Townships), cloneMap(p.Languages)
	return p
}

func cloneMap(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// aimPlan is a validated aim in index terms.
type aimPlan struct {
	include, exclude []regionRef
	rings            []orb.Ring
	circles          []Circle
	groups           uint32
	langs            []uint8
}

// regionRef is a region of the tree: a village (vnum ≥ 0) or a township or
// county (slot).
type regionRef struct{ slot, vnum int32 }

// plan validates a and reports every bad field at once (errors.Join of
// *channels.FieldError, fields named like the API: area.codes[0], …).
func (ix *Index) plan(a Aim) (aimPlan, error) {
	var p aimPlan
	var errs []error
	refs := func(codes []string, field string) []regionRef {
		var out []regionRef
		for i, c := range codes {
			f := fmt.Sprintf("%s[%d]", field, i)
			if err := CheckCode(c); err != nil {
				errs = append(errs, fieldErr(f, "must be a 6, 9 or 12 digit code", c))
				continue
			}
			slot, vnum, ok := ix.tree.lookup(c)
			if !ok {
				errs = append(errs, fmt.Errorf("%w: %w", fieldErr(f, "not in the region tree", c), ErrUnknownRegion))
				continue
			}
			out = append(out, regionRef{slot: slot, vnum: vnum})
		}
		return out
	}
	p.include = refs(a.Codes, "area.codes")
	p.exclude = refs(a.Exclude, "area.exclude")
	for i, poly := range a.Polygons {
		if err := CheckPolygon(poly); err != nil {
			errs = append(errs, fieldErrf(fmt.Sprintf("area.polygons[%d]", i), "", "%v", err))
			continue
		}
		p.rings = append(p.rings, ringOf(poly))
	}
	for i, c := range a.Circles {
		if err := CheckCircle(c); err != nil {
			errs = append(errs, fieldErrf(fmt.Sprintf("area.circles[%d]", i), c.String(), "%v", err))
			continue
		}
		p.circles = append(p.circles, c)
	}
	if len(a.Codes) == 0 && !a.geometric() {
		errs = append(errs, fieldErr("area", "needs at least one code, polygon or circle", ""))
	}
	for i, g := range a.Groups {
		b, ok := groupBit(g)
		if !ok {
			errs = append(errs, fieldErrf(fmt.Sprintf("audience.groups[%d]", i), g, "unknown group (known: %s)", groupCodes()))
			continue
		}
		p.groups |= 1 << b
	}
	for i, l := range a.Languages {
		n, ok := langNum(l)
		if !ok {
			errs = append(errs, fieldErr(fmt.Sprintf("audience.languages[%d]", i), "must be zh or ug", l))
			continue
		}
		if !slices.Contains(p.langs, n) {
			p.langs = append(p.langs, n)
		}
	}
	return p, errors.Join(errs...)
}

// Resolve computes the audience of an aim. Errors name every bad field.
func (ix *Index) Resolve(a Aim) (*Resolution, error) {
	p, err := ix.plan(a)
	if err != nil {
		return nil, err
	}
	geometric := a.geometric()

	ix.mu.RLock()
	defer ix.mu.RUnlock()

	pick := func(villages []*roaring.Bitmap, upper map[int32]*roaring.Bitmap, refs []regionRef) *roaring.Bitmap {
		sel := make([]*roaring.Bitmap, 0, len(refs))
		for _, r := range refs {
			if r.vnum >= 0 && int(r.vnum) < len(villages) {
				sel = append(sel, villages[r.vnum])
			} else if bm := upper[r.slot]; r.vnum < 0 && bm != nil {
				sel = append(sel, bm)
			}
		}
		return roaring.FastOr(sel...) // a fresh bitmap, even for one
	}
	// within returns who is in the area: by code (included, not excluded)
	// and, with geometry, inside a ring or circle and not excluded.
	within := func(villages []*roaring.Bitmap, upper map[int32]*roaring.Bitmap, g *grid) (area, byCode, excl *roaring.Bitmap) {
		byCode = pick(villages, upper, p.include)
		excl = pick(villages, upper, p.exclude)
		byCode.AndNot(excl)
		area = byCode
		if geometric {
			geo := g.query(p.rings, p.circles)
			geo.AndNot(excl)
			area = roaring.Or(byCode, geo)
		}
		return area, byCode, excl
	}

	// Residents.
	area, byCode, excl := within(ix.village, ix.upper, ix.grid)
	audience := (*roaring.Bitmap)(nil) // residents passing the group and language filters; nil = all
	if p.groups != 0 {
		var gs []*roaring.Bitmap
		for g := p.groups; g != 0; g &= g - 1 {
			gs = append(gs, ix.group[trailingZeros(g)])
		}
		audience = roaring.FastOr(gs...)
	}
	if len(p.langs) > 0 {
		var ls []*roaring.Bitmap
		for _, l := range p.langs {
			ls = append(ls, ix.lang[l])
		}
		lb := roaring.FastOr(ls...)
		if audience == nil {
			audience = lb
		} else {
			audience.And(lb)
		}
	}
	sms := area // built above for this call: ours to change
	if audience != nil {
		sms = roaring.And(area, audience)
	}
	sms.AndNot(ix.optOut)
	sms.RunOptimize()

	unplaced := 0
	if geometric {
		u := ix.all.Clone()
		if audience != nil {
			u.And(audience)
		}
		u.AndNot(ix.optOut)
		u.AndNot(ix.located)
		u.AndNot(byCode)
		u.AndNot(excl)
		unplaced = int(u.GetCardinality())
	}

	// Speakers.
	spkArea, spkCode, spkExcl := within(ix.spkVillage, ix.spkUpper, ix.spkGrid)
	if geometric {
		u := ix.spkAll.Clone()
		u.AndNot(ix.spkLocated)
		u.AndNot(spkCode)
		u.AndNot(spkExcl)
		unplaced += int(u.GetCardinality())
	}
	speakers := ix.speakerIDsLocked(spkArea)

	// Preview.
	pv := Preview{
		Channels:  map[string]int{"sms": int(sms.GetCardinality()), "speaker": len(speakers)},
		Townships: map[string]int{},
		Languages: map[string]int{},
		Unplaced:  unplaced,
	}
	if card := sms.GetCardinality(); card*8 < ix.all.GetCardinality() {
		// Few recipients: one ascending pass over their records (pages are
		// contiguous, so this streams memory) counts villages and languages.
		perVillage := make([]int, len(ix.village))
		var perLang [3]int // 1 + len(Languages)
		it := sms.ManyIterator()
		buf := make([]uint32, 2048)
		for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
			for _, id := range buf[:n] {
				rec := &ix.pages[id>>pageBits][id&(pageSize-1)]
				perVillage[rec.village]++
				perLang[rec.lang]++
			}
		}
		for v, n := range perVillage {
			if n == 0 {
				continue
			}
			// Every village with a resident has its ancestors cached by Put.
			for _, slot := range ix.ancestors[v] {
				if reg := ix.tree.regionAt(slot); reg.Level == RegionTownship {
					pv.Townships[reg.Code] += n
					break
				}
			}
		}
		for l := 1; l < len(perLang); l++ {
			if perLang[l] > 0 {
				pv.Languages[langName(uint8(l))] = perLang[l]
			}
		}
	} else {
		// Many recipients: intersect with the township and language bitmaps.
		for slot, bm := range ix.upper {
			if reg := ix.tree.regionAt(slot); reg.Level == RegionTownship {
				if n := sms.AndCardinality(bm); n > 0 {
					pv.Townships[reg.Code] = int(n)
				}
			}
		}
		for l := 1; l < len(ix.lang); l++ {
			if n := sms.AndCardinality(ix.lang[l]); n > 0 {
				pv.Languages[langName(uint8(l))] = int(n)
			}
		}
	}
	return &Resolution{residents: sms, speakers: speakers, preview: pv}, nil
}
