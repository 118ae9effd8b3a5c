package dispatch

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/paulmach/orb"

	"github.com/alertcast/alertcast/targeting"
)

// twoCounties is Shule (653122) and Kashgar city (653101), side by side.
func twoCounties(t testing.TB) *targeting.Tree {
	t.Helper()
	tr := targeting.NewTree()
	city, err := targeting.CountyTree("653101")
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Merge(targeting.DefaultTree()); err != nil {
		t.Fatal(err)
	}
	if err := tr.Merge(city); err != nil {
		t.Fatal(err)
	}
	return tr
}

func mustScope(t testing.TB, s string, tr *targeting.Tree) Scope {
	t.Helper()
	sc, err := ParseScope(s, tr)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestParseScope(t *testing.T) {
	tr := twoCounties(t)
	for _, tc := range []struct {
		in, want, err string
	}{
		{"*", "*", ""},
		{"653122", "653122", ""},
		{"653122, 653101", "653101,653122", ""},
		{"653122 653122", "653122", ""},
		{"6531", "6531", ""},
		{"653122,*", "*", ""},
		{"653122100", "653122100", ""},
		{"", "", "empty"},
		{"653199", "", `"653199": not a region of the tree`},
		{"65312", "", `"65312": want *`},
		{"abc", "", `"abc": want *`},
	} {
		got, err := ParseScope(tc.in, tr)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseScope(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("ParseScope(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestScopeContainsAndCovers(t *testing.T) {
	tr := twoCounties(t)
	shule, town, pref, all := mustScope(t, "653122", tr), mustScope(t, "653122100", tr), mustScope(t, "6531", tr), mustScope(t, "*", tr)
	for _, tc := range []struct {
		sc   Scope
		code string
		want bool
	}{
		{shule, "653122", true},
		{shule, "653122100001", true},
		{shule, "653101", false},
		{shule, "653101001", false},
		{town, "653122100001", true},
		{town, "653122", false}, // the parent: reaches all of Shule
		{town, "653122201", false},
		{pref, "653101", true},
		{pref, "653122100001", true},
		{pref, "654001", false},
		{all, "654001", true},
		{nil, "653101", true},      // a system task without an account
		{Scope{}, "653122", false}, // an unreadable stored scope reaches nothing
	} {
		if got := tc.sc.Contains(tr, tc.code); got != tc.want {
			t.Errorf("%v.Contains(%s) = %v, want %v", tc.sc, tc.code, got, tc.want)
		}
	}
	for _, tc := range []struct {
		s, o Scope
		want bool
	}{
		{all, pref, true},
		{pref, shule, true},
		{pref, all, false},
		{shule, pref, false},
		{shule, town, true},
		{town, shule, false},
		{shule, mustScope(t, "653122,653101", tr), false},
	} {
		if got := tc.s.Covers(tr, tc.o); got != tc.want {
			t.Errorf("%v.Covers(%v) = %v, want %v", tc.s, tc.o, got, tc.want)
		}
	}
	if got := shule.Label(tr); got != "653122 (疏勒县)" {
		t.Errorf("Label = %q", got)
	}
	if got := pref.Label(tr); got != "6531 (喀什地区)" {
		t.Errorf("Label = %q", got)
	}
}

func squarePoly(lat, lon, half float64) string {
	return fmt.Sprintf("%g,%g %g,%g %g,%g %g,%g %g,%g", lat-half, lon-half, lat-half, lon+half, lat+half, lon+half, lat+half, lon-half, lat-half, lon-half)
}

func TestScopeGuardCheckArea(t *testing.T) {
	tr := twoCounties(t)
	g := ScopeGuard{Tree: tr}
	county := Actor{Name: "shule-op", Role: RoleOperator, Scope: mustScope(t, "653122", tr)}
	pref := Actor{Name: "pref-op", Role: RoleOperator, Scope: mustScope(t, "6531", tr)}
	town := Actor{Name: "town-op", Role: RoleOperator, Scope: mustScope(t, "653122100", tr)}
	inShule := squarePoly(39.25, 76.2, 0.01)
	inCity := squarePoly(39.47, 75.99, 0.01)
	border := squarePoly(39.420464, 76.243543, 0.01)
	for _, tc := range []struct {
		name string
		by   Actor
		area Area
		err  string // "" = accepted
	}{
		{"county officer, own county", county, Area{Codes: []string{"653122"}}, ""},
		{"county officer, own village", county, Area{Codes: []string{"653122100001"}}, ""},
		{"county officer, other county", county, Area{Codes: []string{"653101"}}, "area 653101 (喀什市) is outside your scope 653122 (疏勒县)"},
		{"county officer, one code out of two", county, Area{Codes: []string{"653122100", "653101001"}}, "area 653101001"},
		{"county officer, polygon inside", county, Area{Polygons: []string{inShule}}, ""},
		{"county officer, polygon in other county", county, Area{Polygons: []string{inCity}}, "area.polygons[0] is outside your scope 653122 (疏勒县): the polygon leaves or crosses its border"},
		{"county officer, polygon crossing", county, Area{Polygons: []string{border}}, "area.polygons[0]"},
		{"county officer, circle crossing", county, Area{Circles: []string{"39.420464,76.243543 1"}}, "area.circles[0]"},
		{"township officer, parent code", town, Area{Codes: []string{"653122"}}, "area 653122 (疏勒县) is outside your scope 653122100"},
		{"township officer, polygon (no outline below county)", town, Area{Polygons: []string{inShule}}, "no outline is known"},
		{"prefecture officer, any county", pref, Area{Codes: []string{"653101", "653122"}}, ""},
		{"prefecture officer, crossing polygon", pref, Area{Polygons: []string{border}}, ""},
		{"exclusions outside do not matter", county, Area{Codes: []string{"653122"}, Exclude: []string{"653101"}}, ""},
	} {
		err := g.CheckArea(tc.by, tc.area)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.err != "" && err == nil:
			t.Errorf("%s: accepted, want %q", tc.name, tc.err)
		case tc.err != "" && !strings.Contains(err.Error(), tc.err):
			t.Errorf("%s: %v, want it to contain %q", tc.name, err, tc.err)
		case tc.err != "" && !errors.Is(err, ErrForbidden):
			t.Errorf("%s: %v is not ErrForbidden", tc.name, err)
		}
	}
}

// population puts every village of tr's two counties on the map with
// residents and loudspeakers placed inside their own county (the
// generator), into a fresh index.
func population(t testing.TB, tr *targeting.Tree) *targeting.Index {
	t.Helper()
	outlines := map[string]orb.MultiPolygon{}
	for _, c := range tr.Counties() {
		mp, err := targeting.CountyOutline(c.Code)
		if err != nil {
			t.Fatal(err)
		}
		outlines[c.Code] = mp
	}
	var res, spk bytes.Buffer
	if err := targeting.GeneratePopulationIn(tr, outlines, 30000, 3000, 7, &res, &spk); err != nil {
		t.Fatal(err)
	}
	ix := targeting.NewIndex(tr)
	var id uint32
	if _, err := targeting.ReadResidents(&res, func(_ int, r targeting.Resident) error {
		id++
		r.ID = id
		return ix.PutResident(r)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := targeting.ReadSpeakers(&spk, func(_ int, s targeting.Speaker) error { return ix.PutSpeaker(s) }); err != nil {
		t.Fatal(err)
	}
	return ix
}

// subset reports whether every resident and loudspeaker of a is in b.
func subset(a, b *targeting.Resolution) bool {
	out := a.ResidentBitmap()
	out.AndNot(b.ResidentBitmap())
	if !out.IsEmpty() {
		return false
	}
	bs := b.Speakers()
	for _, s := range a.Speakers() {
		if _, ok := slices.BinarySearch(bs, s); !ok {
			return false
		}
	}
	return true
}

// The scope property: for random areas and scopes, an accepted area's
// resolved recipients all lie within the scope's recipients; and for areas
// of codes alone (no exclusions), an area whose recipients all lie within
// the scope is accepted (no code reaches beyond it).
func TestScopePropertyAcceptedIffWithinRecipients(t *testing.T) {
	tr := twoCounties(t)
	ix := population(t, tr)
	g := ScopeGuard{Tree: tr, Resolve: ix.Resolve}
	rng := rand.New(rand.NewPCG(16, 2026))
	var codes []string
	for _, c := range tr.Counties() {
		codes = append(codes, c.Code)
	}
	for _, r := range tr.Townships() {
		codes = append(codes, r.Code)
	}
	for _, r := range tr.Villages() {
		codes = append(codes, r.Code)
	}
	pick := func() string { return codes[rng.IntN(len(codes))] }
	scopeEntry := func() string {
		switch rng.IntN(6) {
		case 0:
			return "6531"
		case 1, 2:
			return tr.Counties()[rng.IntN(2)].Code
		case 3, 4:
			return tr.Townships()[rng.IntN(len(tr.Townships()))].Code
		}
		return pick()
	}
	// Points for drawn areas: inside Shule, inside the city, on their border.
	centres := [][2]float64{{39.25, 76.2}, {39.47, 75.99}, {39.420464, 76.243543}, {39.2, 76.05}, {39.1, 76.3}}
	var accepted, refused, drawn int
	for i := range 1500 {
		entries := []string{scopeEntry()}
		if rng.IntN(4) == 0 {
			entries = append(entries, scopeEntry())
		}
		sc := mustScope(t, strings.Join(entries, ","), tr)
		by := Actor{Name: "p", Role: RoleOperator, Scope: sc}
		var area Area
		for range 1 + rng.IntN(3) {
			area.Codes = append(area.Codes, pick())
		}
		withExcl := rng.IntN(4) == 0
		if withExcl {
			area.Exclude = []string{pick()}
		}
		if rng.IntN(5) == 0 {
			c := centres[rng.IntN(len(centres))]
			area.Polygons = []string{squarePoly(c[0]+rng.Float64()*0.04-0.02, c[1]+rng.Float64()*0.04-0.02, 0.002+rng.Float64()*0.03)}
			drawn++
		}
		err := g.CheckArea(by, area)
		aim, aerr := AimOf(&Alert{Area: area})
		if aerr != nil {
			t.Fatal(aerr)
		}
		got, rerr := ix.Resolve(aim)
		if rerr != nil {
			t.Fatal(rerr)
		}
		in, rerr := ix.Resolve(targeting.Aim{Codes: sc.regionCodes(tr)})
		if rerr != nil {
			t.Fatal(rerr)
		}
		within := subset(got, in)
		if err == nil {
			accepted++
			if !within {
				t.Fatalf("case %d: scope %v accepted area %+v reaching beyond it", i, sc, area)
			}
			continue
		}
		refused++
		if !errors.Is(err, ErrForbidden) {
			t.Fatalf("case %d: %v", i, err)
		}
		if within && !withExcl && len(area.Polygons) == 0 {
			// Every code reaches someone here (generated population); a
			// refused area of codes alone must reach beyond the scope.
			empty := false
			for _, c := range area.Codes {
				r, _ := ix.Resolve(targeting.Aim{Codes: []string{c}})
				empty = empty || r.ResidentCount() == 0
			}
			if !empty {
				t.Fatalf("case %d: scope %v refused area %+v whose recipients are all within it: %v", i, sc, area, err)
			}
		}
	}
	if accepted < 100 || refused < 100 || drawn < 100 {
		t.Fatalf("too few cases of a kind: %d accepted, %d refused, %d drawn", accepted, refused, drawn)
	}
	t.Logf("%d accepted, %d refused, %d with a polygon", accepted, refused, drawn)
}

func TestScopeTouches(t *testing.T) {
	tr := twoCounties(t)
	g := ScopeGuard{Tree: tr}
	county := Actor{Scope: mustScope(t, "653122", tr)}
	town := Actor{Scope: mustScope(t, "653122100", tr)}
	pref := Actor{Scope: mustScope(t, "6531", tr)}
	for _, tc := range []struct {
		by   Actor
		area Area
		want bool
	}{
		{county, Area{Codes: []string{"653122100001"}}, true},
		{county, Area{Codes: []string{"653101"}}, false},
		{town, Area{Codes: []string{"653122"}}, true}, // the county's warning reaches the township
		{town, Area{Codes: []string{"653122201"}}, false},
		{pref, Area{Codes: []string{"653101"}}, true},
		{county, Area{Polygons: []string{squarePoly(39.47, 75.99, 0.01)}}, true},
	} {
		if got := g.Touches(tc.by, &Alert{Area: tc.area}); got != tc.want {
			t.Errorf("Touches(%v, %+v) = %v, want %v", tc.by.Scope, tc.area, got, tc.want)
		}
	}
}

// ParseScope faces the API and the CLI: whatever it is given, it does not
// panic, and what it accepts is canonical (parsing its String again gives
// the same scope) and holds only valid entries.
func FuzzParseScope(f *testing.F) {
	tr := twoCounties(f)
	for _, s := range []string{"*", "653122", "6531", "653122,653101", " 653122100 653122 ", "65312a", ",,", "653122,*", "653122100001,6531"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseScope(s, tr)
		if err != nil {
			return
		}
		again, err := ParseScope(sc.String(), tr)
		if err != nil || again.String() != sc.String() {
			t.Fatalf("%q → %q → %q, %v", s, sc, again, err)
		}
		for _, e := range sc {
			if _, known := tr.Region(e); e != ScopeAll && !isPrefecture(e) && !known {
				t.Fatalf("%q accepted entry %q", s, e)
			}
		}
	})
}
