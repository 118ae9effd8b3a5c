package targeting

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

// RegionLevel is the administrative level of a Region.
type RegionLevel int

const (
	RegionUnknown  RegionLevel = iota
	RegionCounty               // 6-digit code (县/区)
	RegionTownship             // 9-digit code (乡/镇/街道)
	RegionVillage              // 12-digit code (村委会/社区)
)

var regionLevelNames = [...]string{"unknown", "county", "township", "village"}

func (l RegionLevel) String() string {
	if l < 0 || int(l) >= len(regionLevelNames) {
		return fmt.Sprintf("RegionLevel(%d)", int(l))
	}
	return regionLevelNames[l]
}

// ParseRegionLevel parses "county", "township" or "village".
func ParseRegionLevel(s string) (RegionLevel, error) {
	for i, n := range regionLevelNames[1:] {
		if s == n {
			return RegionLevel(i + 1), nil
		}
	}
	return RegionUnknown, fieldErr("level", "must be county, township or village", s)
}

// codeLen is the number of digits of a code at each level.
func (l RegionLevel) codeLen() int {
	switch l {
	case RegionCounty:
		return 6
	case RegionTownship:
		return 9
	case RegionVillage:
		return 12
	}
	return 0
}

// Region is one administrative division.
type Region struct {
	Code   string      `json:"code"`
	Name   string      `json:"name"`
	NameUG string      `json:"name_ug,omitempty"` // Uyghur (Arabic script); empty when not known
	Parent string      `json:"parent"`            // for a county: its prefecture, usually not in the tree
	Level  RegionLevel `json:"level"`
}

// CheckCode checks the form of an administrative code: 6 (county), 9
// (township) or 12 (village) ASCII digits. It does not say whether the code
// exists; Tree.Region does.
func CheckCode(code string) error {
	_, err := levelOfCode(code)
	return err
}

func levelOfCode(code string) (RegionLevel, error) {
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return RegionUnknown, fieldErr("code", "must be 6, 9 or 12 digits", code)
		}
	}
	switch len(code) {
	case 6:
		return RegionCounty, nil
	case 9:
		return RegionTownship, nil
	case 12:
		return RegionVillage, nil
	}
	return RegionUnknown, fieldErr("code", "must be 6, 9 or 12 digits", code)
}

// Tree is the administrative region tree: any number of counties side by
// side, each with its townships and villages. Reads are safe concurrently
// with Merge; a village never changes its internal number once added, which
// is what lets an Index keep using the tree while counties are merged in.
type Tree struct {
	mu       sync.RWMutex
	regions  []Region         // by slot
	bySlot   map[string]int32 // code → slot
	children [][]int32        // slot → child slots, in insertion order
	villages []int32          // village number → slot
	vnum     []int32          // slot → village number, -1 for non-villages
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{bySlot: map[string]int32{}} }

// ParseRegions reads the region CSV format of 653122.csv: a header row with
// the columns code, name, level, parent_code and optionally name_ug, in any
// order; UTF-8 (a BOM is skipped). Errors name the line and the field.
// Townships and villages must have their parent in the same file; a county's
// parent (its prefecture) need not be present.
func ParseRegions(r io.Reader) (*Tree, error) {
	cr := csv.NewReader(stripBOM(r))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &LineError{Line: 1, Field: "header", Rule: "missing (empty file)"}
		}
		return nil, &LineError{Line: 1, Field: "header", Rule: err.Error()}
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, need := range []string{"code", "name", "level", "parent_code"} {
		if _, ok := col[need]; !ok {
			return nil, &LineError{Line: 1, Field: "header", Rule: fmt.Sprintf("missing column %q", need), Value: strings.Join(header, ",")}
		}
	}
	get := func(rec []string, name string) string {
		i, ok := col[name]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	t := NewTree()
	lines := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &LineError{Line: pe.Line, Rule: pe.Err.Error()}
			}
			return nil, fmt.Errorf("regions: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(header) {
			return nil, &LineError{Line: line, Rule: fmt.Sprintf("has %d fields, header has %d", len(rec), len(header))}
		}
		reg := Region{Code: get(rec, "code"), Name: get(rec, "name"), NameUG: get(rec, "name_ug"), Parent: get(rec, "parent_code")}
		if reg.Level, err = ParseRegionLevel(get(rec, "level")); err != nil {
			return nil, fmt.Errorf("regions line %d: %w", line, err)
		}
		if err := checkRegion(reg); err != nil {
			return nil, fmt.Errorf("regions line %d: %w", line, err)
		}
		if first, dup := lines[reg.Code]; dup {
			return nil, fmt.Errorf("regions line %d: %w", line, fieldErrf("code", reg.Code, "duplicate (first on line %d)", first))
		}
		lines[reg.Code] = line
		t.add(reg)
	}
	// Parents may come after their children in a hand-made file; check at the end.
	for _, reg := range t.regions {
		if reg.Level == RegionCounty {
			continue
		}
		if _, ok := t.bySlot[reg.Parent]; !ok {
			return nil, fmt.Errorf("regions line %d: %w", lines[reg.Code], fieldErr("parent_code", "not in the file", reg.Parent))
		}
	}
	t.link()
	return t, nil
}

// checkRegion checks one row on its own: code form, level, parent prefix.
func checkRegion(reg Region) error {
	lvl, err := levelOfCode(reg.Code)
	if err != nil {
		return err
	}
	if lvl != reg.Level {
		return fieldErrf("level", reg.Level.String(), "code %s has %d digits, which is a %s code", reg.Code, len(reg.Code), lvl)
	}
	if reg.Name == "" {
		return fieldErr("name", "required", "")
	}
	if _, err := levelOfCode(reg.Parent); err != nil || len(reg.Parent) != 6 && len(reg.Parent) != 9 {
		return fieldErr("parent_code", "must be a 6- or 9-digit code", reg.Parent)
	}
	switch reg.Level {
	case RegionTownship, RegionVillage:
		want := reg.Level.codeLen() - 3
		if len(reg.Parent) != want || !strings.HasPrefix(reg.Code, reg.Parent) {
			return fieldErrf("parent_code", reg.Parent, "must be the first %d digits of code %s", want, reg.Code)
		}
	}
	return nil
}

func (t *Tree) add(reg Region) {
	slot := int32(len(t.regions))
	t.regions = append(t.regions, reg)
	t.bySlot[reg.Code] = slot
	t.children = append(t.children, nil)
	if reg.Level == RegionVillage {
		t.vnum = append(t.vnum, int32(len(t.villages)))
		t.villages = append(t.villages, slot)
	} else {
		t.vnum = append(t.vnum, -1)
	}
}

// link rebuilds the children lists.
func (t *Tree) link() {
	for i := range t.children {
		t.children[i] = t.children[i][:0]
	}
	for slot, reg := range t.regions {
		if p, ok := t.bySlot[reg.Parent]; ok {
			t.children[p] = append(t.children[p], int32(slot))
		}
	}
}

// Merge adds the regions of o, typically another county, to t. No code may
// be in both trees; on error t is unchanged.
func (t *Tree) Merge(o *Tree) error {
	if t == o {
		return errors.New("merge: a tree cannot be merged into itself")
	}
	o.mu.RLock()
	add := slices.Clone(o.regions)
	o.mu.RUnlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, reg := range add {
		if _, dup := t.bySlot[reg.Code]; dup {
			return fmt.Errorf("merge: %w", fieldErr("code", "already in the tree", reg.Code))
		}
	}
	for _, reg := range add {
		t.add(reg)
	}
	t.link()
	return nil
}

// Len returns the number of regions in the tree.
func (t *Tree) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.regions)
}

// Region looks a code up.
func (t *Tree) Region(code string) (Region, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.bySlot[code]
	if !ok {
		return Region{}, false
	}
	return t.regions[s], true
}

// Contains reports whether code is ancestor or code itself, and both are in
// the tree.
func (t *Tree) Contains(ancestor, code string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if _, ok := t.bySlot[ancestor]; !ok {
		return false
	}
	s, ok := t.bySlot[code]
	for ok {
		if t.regions[s].Code == ancestor {
			return true
		}
		s, ok = t.bySlot[t.regions[s].Parent]
	}
	return false
}

// Children returns the direct children of code in file order.
func (t *Tree) Children(code string) []Region {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.bySlot[code]
	if !ok {
		return nil
	}
	out := make([]Region, 0, len(t.children[s]))
	for _, c := range t.children[s] {
		out = append(out, t.regions[c])
	}
	return out
}

// Ancestors returns the ancestors of code that are in the tree, nearest
// first (village → township → county).
func (t *Tree) Ancestors(code string) []Region {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.bySlot[code]
	if !ok {
		return nil
	}
	var out []Region
	for {
		s, ok = t.bySlot[t.regions[s].Parent]
		if !ok {
			return out
		}
		out = append(out, t.regions[s])
	}
}

func (t *Tree) ofLevel(l RegionLevel) []Region {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []Region
	for _, reg := range t.regions {
		if reg.Level == l {
			out = append(out, reg)
		}
	}
	return out
}

// Counties returns every county in the tree.
func (t *Tree) Counties() []Region { return t.ofLevel(RegionCounty) }

// Townships returns every township-level region in the tree.
func (t *Tree) Townships() []Region { return t.ofLevel(RegionTownship) }

// Villages returns every village-level region in the tree.
func (t *Tree) Villages() []Region { return t.ofLevel(RegionVillage) }

// ByName returns the regions whose Chinese or Uyghur name is exactly name.
// Names repeat across counties (and sometimes inside one), so it is a list.
func (t *Tree) ByName(name string) []Region {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []Region
	for _, reg := range t.regions {
		if reg.Name == name || reg.NameUG == name {
			out = append(out, reg)
		}
	}
	return out
}

// TownshipOf returns the township code a village (or the township itself)
// belongs to, or "" when code is not a village or township in the tree.
func (t *Tree) TownshipOf(code string) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.bySlot[code]
	for ok {
		if t.regions[s].Level == RegionTownship {
			return t.regions[s].Code
		}
		if t.regions[s].Level != RegionVillage {
			return ""
		}
		s, ok = t.bySlot[t.regions[s].Parent]
	}
	return ""
}

// villageNum returns the internal village number of a village code.
func (t *Tree) villageNum(code string) (int32, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.bySlot[code]
	if !ok || t.vnum[s] < 0 {
		return 0, false
	}
	return t.vnum[s], true
}

// villageCode returns the code of village number n.
func (t *Tree) villageCode(n int32) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.regions[t.villages[n]].Code
}

// lookup returns a code's slot and, for a village, its village number (-1
// otherwise).
func (t *Tree) lookup(code string) (slot, vnum int32, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, ok := t.bySlot[code]
	if !ok {
		return 0, -1, false
	}
	return s, t.vnum[s], true
}

// upperSlots returns the slots of a village's ancestors in the tree
// (township, county), nearest first.
func (t *Tree) upperSlots(vnum int32) []int32 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []int32
	s, ok := t.villages[vnum], true
	for {
		s, ok = t.bySlot[t.regions[s].Parent]
		if !ok {
			return out
		}
		out = append(out, s)
	}
}

// regionAt returns the region in a slot.
func (t *Tree) regionAt(slot int32) Region {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.regions[slot]
}
