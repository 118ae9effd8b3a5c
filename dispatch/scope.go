package dispatch

import (
	"fmt"
	"slices"
	"strings"

	"github.com/paulmach/orb"

	"github.com/alertcast/alertcast/targeting"
)

// Scopes: which regions an account may act in. A county officer issues,
// approves, updates, cancels, schedules, imports and speaks only within
// their county; a prefecture officer across its counties; the bootstrap
// admin everywhere. Every entry point that can put something on the air or
// change what is said calls ScopeGuard with the account that asked, so a
// stolen county account cannot reach beyond its county — nor approve
// there. Roles say what an account may do, scopes where.

// ScopeAll is the whole configured region tree (the root): the default of
// existing accounts and of the single-county embedded setup.
const ScopeAll = "*"

// Scope is a set of scope entries: ScopeAll, a 4-digit prefecture code
// (6531: every county whose code begins so), or a county, township or
// village code of the tree. A nil Scope (an Actor made in code for a system
// task that carries no account) is the whole tree; an account always has
// an explicit one, stored with it.
type Scope []string

// All reports whether s is the whole tree.
func (s Scope) All() bool { return s == nil || slices.Contains(s, ScopeAll) }

// String is the stored form: entries joined by commas.
func (s Scope) String() string { return strings.Join(s, ",") }

// ParseScope parses a stored or typed scope: entries separated by commas or
// spaces. Each entry must be ScopeAll, a 4-digit prefecture code or a code
// of tree (nil tree: any 6, 9 or 12 digit code). The error names the entry.
// The result is sorted, without duplicates, and ScopeAll alone when
// present.
func ParseScope(text string, tree *targeting.Tree) (Scope, error) {
	f := strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	if len(f) == 0 {
		return nil, fmt.Errorf("scope: empty: want %s (the whole tree), a prefecture such as 6531, or region codes such as 653122", ScopeAll)
	}
	var out Scope
	for _, e := range f {
		switch {
		case e == ScopeAll:
			return Scope{ScopeAll}, nil
		case isPrefecture(e):
		case targeting.CheckCode(e) != nil:
			return nil, fmt.Errorf("scope entry %q: want %s, a 4-digit prefecture code (6531) or a 6, 9 or 12 digit region code", e, ScopeAll)
		case tree != nil:
			if _, ok := tree.Region(e); !ok {
				return nil, fmt.Errorf("scope entry %q: not a region of the tree (import its regions first)", e)
			}
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out, nil
}

func isPrefecture(e string) bool {
	if len(e) != 4 {
		return false
	}
	for i := range 4 {
		if e[i] < '0' || e[i] > '9' {
			return false
		}
	}
	return true
}

// entryContains reports whether region code lies within scope entry e.
func entryContains(tree *targeting.Tree, e, code string) bool {
	switch {
	case e == ScopeAll:
		return true
	case isPrefecture(e):
		return len(code) >= 6 && strings.HasPrefix(code, e)
	}
	return within(tree, e, code)
}

// Contains reports whether region code lies within the scope.
func (s Scope) Contains(tree *targeting.Tree, code string) bool {
	if s.All() {
		return true
	}
	for _, e := range s {
		if entryContains(tree, e, code) {
			return true
		}
	}
	return false
}

// Covers reports whether every region of o lies within s: what an admin
// may grant (never wider than their own).
func (s Scope) Covers(tree *targeting.Tree, o Scope) bool {
	if s.All() {
		return true
	}
	if o.All() {
		return false
	}
	for _, e := range o {
		if isPrefecture(e) {
			if !slices.Contains(s, e) {
				return false
			}
			continue
		}
		if !s.Contains(tree, e) {
			return false
		}
	}
	return true
}

// Label names the scope for people: "653122 (疏勒县)", "6531 (喀什地区)",
// "* (the whole tree)".
func (s Scope) Label(tree *targeting.Tree) string {
	if s.All() {
		return ScopeAll + " (the whole tree)"
	}
	parts := make([]string, len(s))
	for i, e := range s {
		parts[i] = regionLabel(tree, e)
	}
	return strings.Join(parts, ", ")
}

// prefectureNames names the prefectures whose counties Alertcast carries.
var prefectureNames = map[string]string{targeting.PrefectureCode: "喀什地区"}

func regionLabel(tree *targeting.Tree, code string) string {
	if n, ok := prefectureNames[code]; ok {
		return code + " (" + n + ")"
	}
	if tree != nil {
		if r, ok := tree.Region(code); ok {
			return code + " (" + r.Name + ")"
		}
	}
	return code
}

// counties returns the tree's counties within the scope.
func (s Scope) counties(tree *targeting.Tree) []string {
	var out []string
	for _, c := range tree.Counties() {
		if s.Contains(tree, c.Code) {
			out = append(out, c.Code)
		}
	}
	return out
}

// ScopeError refuses something outside the actor's scope; it is an
// ErrForbidden (403) whose message names what and the scope.
type ScopeError struct {
	What  string // "area 653101 (喀什市)", "area.polygons[0]"
	Scope string // the actor's scope, labelled
	Why   string // optional: how it leaves the scope
}

func (e *ScopeError) Error() string {
	msg := e.What + " is outside your scope " + e.Scope
	if e.Why != "" {
		msg += ": " + e.Why
	}
	return msg
}

// Unwrap makes a ScopeError an ErrForbidden.
func (e *ScopeError) Unwrap() error { return ErrForbidden }

// ScopeGuard checks a warning's area, a region or a device against an
// actor's scope.
type ScopeGuard struct {
	// Tree is the region tree (nil: codes nest by their digit prefixes).
	Tree *targeting.Tree
	// Outline returns a county's outline, for drawn areas; nil: the
	// embedded outlines of Kashgar Prefecture (targeting.CountyOutline).
	Outline func(county string) (orb.MultiPolygon, error)
	// Resolve, when set, resolves an aim against the population: a drawn
	// area must then also reach no resident or loudspeaker outside the
	// scope (a second check that does not depend on outlines).
	Resolve func(targeting.Aim) (*targeting.Resolution, error)
}

// CheckRegion refuses code unless it lies within by's scope; what names it
// for the error ("area", "village", "speaker SPK-1 in").
func (g ScopeGuard) CheckRegion(by Actor, what, code string) error {
	if by.Scope.Contains(g.Tree, code) {
		return nil
	}
	return &ScopeError{What: what + " " + regionLabel(g.Tree, code), Scope: by.Scope.Label(g.Tree)}
}

// CheckArea refuses an area unless it lies wholly within by's scope: every
// code (a parent code reaches all below it, so it is refused unless the
// scope holds it whole), and every polygon and circle inside the outline
// of the scope. Exclusions only narrow and are not checked.
func (g ScopeGuard) CheckArea(by Actor, area Area) error {
	if by.Scope.All() {
		return nil
	}
	label := by.Scope.Label(g.Tree)
	for _, c := range area.Codes {
		if !by.Scope.Contains(g.Tree, c) {
			return &ScopeError{What: "area " + regionLabel(g.Tree, c), Scope: label}
		}
	}
	if len(area.Polygons) == 0 && len(area.Circles) == 0 {
		return nil
	}
	aim, err := AimOf(&Alert{Area: area})
	if err != nil {
		return err
	}
	if g.Tree != nil {
		all := true
		for _, c := range g.Tree.Counties() {
			if !by.Scope.Contains(g.Tree, c.Code) {
				all = false
				break
			}
		}
		if all {
			// Every county of the tree is in scope: a drawn area can reach
			// no one outside it (everyone lives in a village of the tree).
			return nil
		}
	}
	outlines, err := g.outlines(by.Scope)
	if err != nil {
		return &ScopeError{What: "a drawn area (polygon or circle)", Scope: label, Why: err.Error()}
	}
	for i, p := range aim.Polygons {
		if !targeting.PolygonWithin(p, outlines) {
			return &ScopeError{What: fmt.Sprintf("area.polygons[%d]", i), Scope: label, Why: "the polygon leaves or crosses its border"}
		}
	}
	for i, c := range aim.Circles {
		if !targeting.CircleWithin(c, outlines) {
			return &ScopeError{What: fmt.Sprintf("area.circles[%d]", i), Scope: label, Why: "the circle leaves or crosses its border"}
		}
	}
	if g.Resolve == nil {
		return nil
	}
	return g.checkRecipients(by, aim, label)
}

// checkRecipients refuses a drawn aim that reaches a resident or speaker
// outside the scope.
func (g ScopeGuard) checkRecipients(by Actor, aim targeting.Aim, label string) error {
	aim.Groups, aim.Languages = nil, nil // everyone the area reaches
	got, err := g.Resolve(aim)
	if err != nil {
		return err
	}
	in, err := g.Resolve(targeting.Aim{Codes: by.Scope.regionCodes(g.Tree)})
	if err != nil {
		return err
	}
	out := got.ResidentBitmap()
	out.AndNot(in.ResidentBitmap())
	if n := out.GetCardinality(); n > 0 {
		return &ScopeError{What: "the drawn area", Scope: label, Why: fmt.Sprintf("it reaches %d residents outside it", n)}
	}
	spk := in.Speakers()
	for _, id := range got.Speakers() {
		if _, ok := slices.BinarySearch(spk, id); !ok {
			return &ScopeError{What: "the drawn area", Scope: label, Why: "it reaches loudspeaker " + id + " outside it"}
		}
	}
	return nil
}

// regionCodes returns the scope as codes of the tree (a prefecture as its
// counties).
func (s Scope) regionCodes(tree *targeting.Tree) []string {
	var out []string
	for _, e := range s {
		if isPrefecture(e) {
			if tree != nil {
				out = append(out, s.counties(tree)...)
			}
			continue
		}
		out = append(out, e)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// outlines returns the outlines of the scope's regions: counties' own, a
// prefecture's as its counties'. A scope below county level has none.
func (g ScopeGuard) outlines(s Scope) ([]orb.MultiPolygon, error) {
	outline := g.Outline
	if outline == nil {
		outline = targeting.CountyOutline
	}
	var out []orb.MultiPolygon
	for _, c := range s.regionCodes(g.Tree) {
		if len(c) != 6 {
			return nil, fmt.Errorf("no outline is known for %s (below county level): aim by region codes", regionLabel(g.Tree, c))
		}
		mp, err := outline(c)
		if err != nil || len(mp) == 0 {
			return nil, fmt.Errorf("no outline is known for %s: aim by region codes", regionLabel(g.Tree, c))
		}
		out = append(out, mp)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no county of the tree is in it")
	}
	return out, nil
}

// CheckAlert checks a version's area (see CheckArea).
func (g ScopeGuard) CheckAlert(by Actor, a *Alert) error {
	if a == nil {
		return nil
	}
	return g.CheckArea(by, a.Area)
}

// Touches reports whether a warning concerns by's scope: one of its codes
// lies within the scope or contains part of it, or it is drawn (a polygon
// or circle is shown to every scope it might reach). A county officer's
// lists show these; details that name recipients need the warning wholly
// within the scope (CheckAlert).
func (g ScopeGuard) Touches(by Actor, a *Alert) bool {
	if by.Scope.All() || a == nil {
		return true
	}
	if len(a.Area.Polygons) > 0 || len(a.Area.Circles) > 0 {
		return true
	}
	for _, c := range a.Area.Codes {
		if by.Scope.Contains(g.Tree, c) {
			return true
		}
		for _, e := range by.Scope {
			if isPrefecture(e) {
				if strings.HasPrefix(c, e) {
					return true
				}
				continue
			}
			if within(g.Tree, c, e) {
				return true
			}
		}
	}
	return a.Pending != nil && g.Touches(by, a.Pending)
}
