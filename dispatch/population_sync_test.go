package dispatch

import (
	"context"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/targeting"
)

// Two nodes on one database: what one imports, the other plans with once it
// refreshes; a node's own import does not make it reload; an import on the
// other node while one imports still reaches it.
func TestPopulationIndexRefreshAcrossNodes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a, err := NewPopulationIndex(ctx, s, targeting.DefaultTree())
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewPopulationIndex(ctx, s, targeting.DefaultTree())
		if err != nil {
			t.Fatal(err)
		}
		aim := targeting.Aim{Codes: []string{"653122"}}
		count := func(r *PopulationIndex) int {
			res, err := r.Resolve(aim)
			if err != nil {
				t.Fatal(err)
			}
			return res.ResidentCount()
		}
		if err := b.Refresh(ctx); err != nil { // nothing imported yet: a no-op
			t.Fatal(err)
		}
		csv := "phone,village,groups,language\n13800000001,653122100001,herders,zh\n13800000002,653122201201,,ug\n"
		if _, err := a.ImportResidents(ctx, strings.NewReader(csv), false, nil); err != nil {
			t.Fatal(err)
		}
		if n := count(a); n != 2 {
			t.Fatalf("node A after its import: %d residents, want 2", n)
		}
		if n := count(b); n != 0 { // the positive control for the refresh below
			t.Fatalf("node B before refreshing: %d residents, want 0 (stale)", n)
		}
		if err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if n := count(b); n != 2 {
			t.Fatalf("node B after refreshing: %d residents, want 2", n)
		}
		// A's own import kept A current: its generation is the database's.
		gen, _ := s.PopulationGeneration(ctx)
		if a.gen != gen || b.gen != gen {
			t.Fatalf("generations: A %q, B %q, database %q", a.gen, b.gen, gen)
		}
		// B imports loudspeakers; A, which has not seen them, imports a
		// resident: A must still reload B's change.
		if _, err := b.ImportSpeakers(ctx, strings.NewReader("id,village\nSPK-1,653122100001\n"), false); err != nil {
			t.Fatal(err)
		}
		if _, err := a.ImportResidents(ctx, strings.NewReader("phone,village,groups,language\n13800000003,653122100001,,zh\n"), false, nil); err != nil {
			t.Fatal(err)
		}
		if err := a.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := a.Resolve(aim)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(res.Speakers()); n != 1 {
			t.Fatalf("node A sees %d loudspeakers after B's import, want 1", n)
		}
		if n := count(b); n != 2 {
			t.Fatalf("node B before its refresh: %d residents", n)
		}
		if err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if n := count(b); n != 3 {
			t.Fatalf("node B after its refresh: %d residents, want 3", n)
		}
	})
}
