package targeting

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
)

// Resident is one person in the population registry. The ID is assigned by
// the caller (the database); Phone is normalised on Put (NormalizePhone).
// Coordinates are kept at float32 precision (under a metre at these
// latitudes) to keep the index within 64 bytes per resident.
type Resident struct {
	ID       uint32   `json:"id"`
	Phone    string   `json:"phone"`
	Village  string   `json:"village"`           // 12-digit village code in the tree
	Groups   []string `json:"groups,omitempty"`  // codes from Groups (Chinese names accepted on Put)
	Language string   `json:"language"`          // zh or ug
	OptOut   bool     `json:"opt_out,omitempty"` // never an SMS recipient
	Point    *Point   `json:"point,omitempty"`   // home or work place, optional
}

// Speaker is one village loudspeaker. Coordinates are kept at float32
// precision, like a resident's.
type Speaker struct {
	ID           string   `json:"id"`
	Village      string   `json:"village"`
	Point        *Point   `json:"point,omitempty"`
	Zone         string   `json:"zone,omitempty"`         // free label: market, school, north end …
	Capabilities []string `json:"capabilities,omitempty"` // e.g. tts, opus, pcm, live
}

const (
	pageBits = 12
	pageSize = 1 << pageBits
)

// resRec is a resident as the index keeps it: 24 bytes.
type resRec struct {
	phone    uint64 // E.164 digits
	lat, lon float32
	groups   uint32 // bit i = Groups[i]
	village  uint16 // village number in the tree
	lang     uint8  // 1 + index in Languages
	flags    uint8
}

const (
	flagPresent = 1 << iota
	flagOptOut
	flagPoint
)

type resPage [pageSize]resRec

type spkRec struct {
	id       string
	village  uint16
	hasPoint bool
	lat, lon float32 // same precision as residents
	zone     string
	caps     []string
}

// Index is the population index: residents and speakers held in roaring
// bitmaps per village, group, language, opt-out and grid cell, so that a
// Resolve is set algebra rather than a scan. It is pure memory, rebuilt from
// the database at start and kept current with Put/Remove. It is safe for
// concurrent use; a write holds the lock for microseconds, so Resolve never
// waits long behind one.
type Index struct {
	tree *Tree

	mu      sync.RWMutex
	pages   []*resPage
	nres    int
	all     *roaring.Bitmap // every resident
	optOut  *roaring.Bitmap
	located *roaring.Bitmap           // residents with a Point
	village []*roaring.Bitmap         // by village number
	upper   map[int32]*roaring.Bitmap // by tree slot of a township or county: the union of its villages
	group   [32]*roaring.Bitmap
	lang    [3]*roaring.Bitmap
	grid    *grid

	spkSlot    map[string]uint32
	spk        []spkRec // by slot; id "" = free
	spkFree    []uint32
	spkAll     *roaring.Bitmap
	spkLocated *roaring.Bitmap
	spkVillage []*roaring.Bitmap
	spkUpper   map[int32]*roaring.Bitmap
	spkGrid    *grid

	ancestors [][]int32 // village number → upper slots, filled on first use

	// spkOrder caches speaker slots in id order, rebuilt by the first Resolve
	// after a speaker change (writers hold mu, so readers under RLock see it
	// stable; spkOrderMu serialises concurrent rebuilds).
	spkOrderMu    sync.Mutex
	spkOrder      []uint32
	spkOrderStale bool
}

// NewIndex returns an empty index over the regions of t. Counties merged
// into t later are usable by the index.
func NewIndex(t *Tree) *Index {
	ix := &Index{
		tree: t, all: roaring.New(), optOut: roaring.New(), located: roaring.New(), grid: newGrid(),
		upper:   map[int32]*roaring.Bitmap{},
		spkSlot: map[string]uint32{}, spkAll: roaring.New(), spkLocated: roaring.New(), spkGrid: newGrid(),
		spkUpper: map[int32]*roaring.Bitmap{},
	}
	for i := range ix.group {
		ix.group[i] = roaring.New()
	}
	for i := range ix.lang {
		ix.lang[i] = roaring.New()
	}
	return ix
}

// Tree returns the region tree the index was built on.
func (ix *Index) Tree() *Tree { return ix.tree }

// villageOf validates a village code and returns its number.
func (ix *Index) villageOf(code string) (uint16, error) {
	n, ok := ix.tree.villageNum(code)
	if !ok {
		if reg, known := ix.tree.Region(code); known {
			return 0, fieldErrf("village", code, "is a %s (%s), not a village", reg.Level, reg.Name)
		}
		if err := CheckCode(code); err != nil || len(code) != 12 {
			return 0, fieldErr("village", "must be a 12-digit village code", code)
		}
		return 0, fieldErr("village", "not a village in the region tree", code)
	}
	if n > math.MaxUint16 {
		return 0, fieldErr("village", "more than 65536 villages loaded", code)
	}
	return uint16(n), nil
}

func encodeResident(ix *Index, r Resident) (resRec, error) {
	var rec resRec
	var err error
	if rec.phone, err = phoneDigits(r.Phone); err != nil {
		return rec, err
	}
	if rec.village, err = ix.villageOf(r.Village); err != nil {
		return rec, err
	}
	if rec.groups, err = groupMask(r.Groups, "groups"); err != nil {
		return rec, err
	}
	var ok bool
	if rec.lang, ok = langNum(r.Language); !ok {
		return rec, fieldErr("language", "must be zh or ug", r.Language)
	}
	rec.flags = flagPresent
	if r.OptOut {
		rec.flags |= flagOptOut
	}
	if r.Point != nil {
		if err := CheckPoint(*r.Point); err != nil {
			return rec, err
		}
		rec.lat, rec.lon = float32(r.Point.Lat), float32(r.Point.Lon)
		rec.flags |= flagPoint
	}
	return rec, nil
}

// PutResident adds a resident or replaces the one with the same ID. It
// validates everything first: on error the index is unchanged.
func (ix *Index) PutResident(r Resident) error {
	rec, err := encodeResident(ix, r)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.putLocked(r.ID, rec)
	return nil
}

func (ix *Index) recLocked(id uint32) *resRec {
	p := int(id >> pageBits)
	if p >= len(ix.pages) || ix.pages[p] == nil {
		return nil
	}
	return &ix.pages[p][id&(pageSize-1)]
}

func (ix *Index) putLocked(id uint32, rec resRec) {
	p := int(id >> pageBits)
	if p >= len(ix.pages) {
		ix.pages = slices.Grow(ix.pages, p+1-len(ix.pages))[:p+1]
	}
	if ix.pages[p] == nil {
		ix.pages[p] = new(resPage)
	}
	slot := &ix.pages[p][id&(pageSize-1)]
	if slot.flags&flagPresent != 0 {
		ix.unindexLocked(id, slot)
	} else {
		ix.nres++
	}
	*slot = rec
	ix.all.Add(id)
	ix.village = ix.addRegionLocked(ix.village, ix.upper, rec.village, id)
	for g := rec.groups; g != 0; g &= g - 1 {
		ix.group[trailingZeros(g)].Add(id)
	}
	ix.lang[rec.lang].Add(id)
	if rec.flags&flagOptOut != 0 {
		ix.optOut.Add(id)
	}
	if rec.flags&flagPoint != 0 {
		ix.located.Add(id)
		ix.grid.add(id, rec.lat, rec.lon)
	}
}

// ancestorsLocked returns the upper slots of village v (cached: merging
// counties into the tree never changes an existing village's ancestors).
func (ix *Index) ancestorsLocked(v uint16) []int32 {
	for int(v) >= len(ix.ancestors) {
		ix.ancestors = append(ix.ancestors, nil)
	}
	if ix.ancestors[v] == nil {
		ix.ancestors[v] = ix.tree.upperSlots(int32(v))
		if ix.ancestors[v] == nil {
			ix.ancestors[v] = []int32{}
		}
	}
	return ix.ancestors[v]
}

// addRegionLocked adds id to its village's bitmap and to those of the
// village's township and county, so an aim at a township or county is one
// bitmap, not the union of its villages.
func (ix *Index) addRegionLocked(villages []*roaring.Bitmap, upper map[int32]*roaring.Bitmap, v uint16, id uint32) []*roaring.Bitmap {
	for int(v) >= len(villages) {
		villages = append(villages, roaring.New())
	}
	villages[v].Add(id)
	for _, s := range ix.ancestorsLocked(v) {
		bm := upper[s]
		if bm == nil {
			bm = roaring.New()
			upper[s] = bm
		}
		bm.Add(id)
	}
	return villages
}

func (ix *Index) removeRegionLocked(villages []*roaring.Bitmap, upper map[int32]*roaring.Bitmap, v uint16, id uint32) {
	villages[v].Remove(id)
	for _, s := range ix.ancestorsLocked(v) {
		if bm := upper[s]; bm != nil {
			bm.Remove(id)
		}
	}
}

func trailingZeros(x uint32) int {
	n := 0
	for x&1 == 0 {
		x >>= 1
		n++
	}
	return n
}

func (ix *Index) unindexLocked(id uint32, rec *resRec) {
	ix.all.Remove(id)
	ix.removeRegionLocked(ix.village, ix.upper, rec.village, id)
	for g := rec.groups; g != 0; g &= g - 1 {
		ix.group[trailingZeros(g)].Remove(id)
	}
	ix.lang[rec.lang].Remove(id)
	ix.optOut.Remove(id)
	if rec.flags&flagPoint != 0 {
		ix.located.Remove(id)
		ix.grid.remove(id, rec.lat, rec.lon)
	}
}

// RemoveResident removes a resident; unknown ids are ignored.
func (ix *Index) RemoveResident(id uint32) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	rec := ix.recLocked(id)
	if rec == nil || rec.flags&flagPresent == 0 {
		return
	}
	ix.unindexLocked(id, rec)
	*rec = resRec{}
	ix.nres--
}

// SetOptOut changes only a resident's opt-out flag (the SMS "TD" reply);
// false when the resident is unknown.
func (ix *Index) SetOptOut(id uint32, optOut bool) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	rec := ix.recLocked(id)
	if rec == nil || rec.flags&flagPresent == 0 {
		return false
	}
	if optOut {
		rec.flags |= flagOptOut
		ix.optOut.Add(id)
	} else {
		rec.flags &^= flagOptOut
		ix.optOut.Remove(id)
	}
	return true
}

// Resident returns a resident by id.
func (ix *Index) Resident(id uint32) (Resident, bool) {
	ix.mu.RLock()
	rec := ix.recLocked(id)
	if rec == nil || rec.flags&flagPresent == 0 {
		ix.mu.RUnlock()
		return Resident{}, false
	}
	c := *rec
	ix.mu.RUnlock()
	return ix.decode(id, c), true
}

func (ix *Index) decode(id uint32, c resRec) Resident {
	r := Resident{
		ID:       id,
		Phone:    "+" + strconv.FormatUint(c.phone, 10),
		Village:  ix.tree.villageCode(int32(c.village)),
		Groups:   groupsOf(c.groups),
		Language: langName(c.lang),
		OptOut:   c.flags&flagOptOut != 0,
	}
	if c.flags&flagPoint != 0 {
		r.Point = &Point{Lat: float64(c.lat), Lon: float64(c.lon)}
	}
	return r
}

// Len returns the number of residents and speakers in the index.
func (ix *Index) Len() (residents, speakers int) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.nres, len(ix.spkSlot)
}

var speakerIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)
var capabilityRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)

// CheckSpeakerID checks the form of a speaker id: 1–64 characters, letters,
// digits and . _ : - (not first).
func CheckSpeakerID(id string) error {
	if !speakerIDRe.MatchString(id) {
		return fieldErr("id", "must be 1–64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit", id)
	}
	return nil
}

func (ix *Index) encodeSpeaker(s Speaker) (spkRec, error) {
	if err := CheckSpeakerID(s.ID); err != nil {
		return spkRec{}, err
	}
	v, err := ix.villageOf(s.Village)
	if err != nil {
		return spkRec{}, err
	}
	rec := spkRec{id: s.ID, village: v, zone: strings.TrimSpace(s.Zone)}
	if len(rec.zone) > 64 {
		return spkRec{}, fieldErr("zone", "at most 64 bytes", s.Zone)
	}
	for _, c := range s.Capabilities {
		c = strings.ToLower(strings.TrimSpace(c))
		if !capabilityRe.MatchString(c) {
			return spkRec{}, fieldErr("capabilities", "each must be 1–32 of a-z, 0-9, '.', '_', '-'", c)
		}
		if !slices.Contains(rec.caps, c) {
			rec.caps = append(rec.caps, c)
		}
	}
	if s.Point != nil {
		if err := CheckPoint(*s.Point); err != nil {
			return spkRec{}, err
		}
		rec.hasPoint, rec.lat, rec.lon = true, float32(s.Point.Lat), float32(s.Point.Lon)
	}
	return rec, nil
}

// PutSpeaker adds a speaker or replaces the one with the same id. On error
// the index is unchanged.
func (ix *Index) PutSpeaker(s Speaker) error {
	rec, err := ix.encodeSpeaker(s)
	if err != nil {
		return err
	}
	v := rec.village
	ix.mu.Lock()
	defer ix.mu.Unlock()
	slot, ok := ix.spkSlot[s.ID]
	if ok {
		ix.unindexSpeakerLocked(slot)
	} else if n := len(ix.spkFree); n > 0 {
		slot = ix.spkFree[n-1]
		ix.spkFree = ix.spkFree[:n-1]
	} else {
		slot = uint32(len(ix.spk))
		ix.spk = append(ix.spk, spkRec{})
	}
	ix.spkSlot[s.ID] = slot
	ix.spk[slot] = rec
	ix.spkOrderStale = true
	ix.spkAll.Add(slot)
	ix.spkVillage = ix.addRegionLocked(ix.spkVillage, ix.spkUpper, v, slot)
	if rec.hasPoint {
		ix.spkLocated.Add(slot)
		ix.spkGrid.add(slot, rec.lat, rec.lon)
	}
	return nil
}

func (ix *Index) unindexSpeakerLocked(slot uint32) {
	rec := &ix.spk[slot]
	ix.spkAll.Remove(slot)
	ix.removeRegionLocked(ix.spkVillage, ix.spkUpper, rec.village, slot)
	if rec.hasPoint {
		ix.spkLocated.Remove(slot)
		ix.spkGrid.remove(slot, rec.lat, rec.lon)
	}
}

// RemoveSpeaker removes a speaker; unknown ids are ignored.
func (ix *Index) RemoveSpeaker(id string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	slot, ok := ix.spkSlot[id]
	if !ok {
		return
	}
	ix.unindexSpeakerLocked(slot)
	ix.spk[slot] = spkRec{}
	delete(ix.spkSlot, id)
	ix.spkOrderStale = true
	ix.spkFree = append(ix.spkFree, slot)
}

// Speaker returns a speaker by id.
func (ix *Index) Speaker(id string) (Speaker, bool) {
	ix.mu.RLock()
	slot, ok := ix.spkSlot[id]
	if !ok {
		ix.mu.RUnlock()
		return Speaker{}, false
	}
	rec := ix.spk[slot]
	ix.mu.RUnlock()
	s := Speaker{ID: rec.id, Village: ix.tree.villageCode(int32(rec.village)), Zone: rec.zone, Capabilities: slices.Clone(rec.caps)}
	if rec.hasPoint {
		s.Point = &Point{Lat: float64(rec.lat), Lon: float64(rec.lon)}
	}
	return s, true
}

// MemoryBytes estimates the index's resident-side memory: records plus
// bitmaps. Benchmarks divide it by the resident count.
func (ix *Index) MemoryBytes() uint64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	n := uint64(0)
	for _, p := range ix.pages {
		if p != nil {
			n += uint64(len(p)) * 24
		}
	}
	for _, bm := range append(append([]*roaring.Bitmap{ix.all, ix.optOut, ix.located}, ix.village...), append(ix.group[:], ix.lang[:]...)...) {
		n += bm.GetSizeInBytes()
	}
	for _, bm := range ix.upper {
		n += bm.GetSizeInBytes()
	}
	return n + ix.grid.size()
}

func (ix *Index) String() string {
	r, s := ix.Len()
	return fmt.Sprintf("targeting.Index{residents: %d, speakers: %d}", r, s)
}

// CheckResident validates a resident against the index's tree without
// changing anything: the first pass of an all-or-nothing import.
func (ix *Index) CheckResident(r Resident) error {
	_, err := encodeResident(ix, r)
	return err
}

// CheckSpeaker validates a speaker against the index's tree without
// changing anything.
func (ix *Index) CheckSpeaker(s Speaker) error {
	_, err := ix.encodeSpeaker(s)
	return err
}

// speakerIDsLocked returns the ids of the speakers in area (slots), in id
// order. The caller holds mu for reading.
func (ix *Index) speakerIDsLocked(area *roaring.Bitmap) []string {
	n := int(area.GetCardinality())
	out := make([]string, 0, n)
	if n < 256 {
		it := area.Iterator()
		for it.HasNext() {
			out = append(out, ix.spk[it.Next()].id)
		}
		slices.Sort(out)
		return out
	}
	ix.spkOrderMu.Lock()
	if ix.spkOrderStale || ix.spkOrder == nil {
		order := ix.spkOrder[:0]
		for _, slot := range ix.spkSlot {
			order = append(order, slot)
		}
		slices.SortFunc(order, func(a, b uint32) int { return strings.Compare(ix.spk[a].id, ix.spk[b].id) })
		ix.spkOrder, ix.spkOrderStale = order, false
	}
	order := ix.spkOrder
	ix.spkOrderMu.Unlock()
	in := make([]bool, len(ix.spk))
	it := area.Iterator()
	for it.HasNext() {
		in[it.Next()] = true
	}
	for _, slot := range order {
		if in[slot] {
			out = append(out, ix.spk[slot].id)
		}
	}
	return out
}
