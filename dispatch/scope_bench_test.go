package dispatch

import (
	"testing"
)

// BenchmarkScopeCheck is what the scope check adds to issuing a warning for
// a county officer (Shule + Kashgar city, 30,000 generated residents and
// 3,000 loudspeakers): codes alone, and a drawn polygon (outline test plus
// resolving the area and the scope).
func BenchmarkScopeCheck(b *testing.B) {
	tr := twoCounties(b)
	ix := population(b, tr)
	g := ScopeGuard{Tree: tr, Resolve: ix.Resolve}
	by := Actor{Name: "shule-op", Role: RoleOperator, Scope: mustScope(b, "653122", tr)}
	b.Run("codes", func(b *testing.B) {
		area := Area{Codes: []string{"653122100", "653122201", "653122100001"}}
		for b.Loop() {
			if err := g.CheckArea(by, area); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("polygon", func(b *testing.B) {
		area := Area{Polygons: []string{squarePoly(39.25, 76.2, 0.02)}}
		for b.Loop() {
			if err := g.CheckArea(by, area); err != nil {
				b.Fatal(err)
			}
		}
	})
}
