package dispatch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/targeting"
)

const sheltersCSV = "id,name,name_ug,lat,lon,capacity,kind,accessible,contact,villages\n" +
	"S-N,北一中,,39.60,76.00,1000,school,true,0998-1,653122100002\n" +
	"S-S,南广场,,39.20,76.00,500,outdoor,false,,\n"

// shelterResidents: village 001 in the north, 003 in the south; 002 has no
// location (it is listed by shelter S-N).
const shelterResidents = "id,phone,village,language,lat,lon\n1,13800000001,653122100001,zh,39.55,76.0\n2,13800000002,653122100003,ug,39.25,76.0\n3,13800000003,653122100002,ug,,\n"

// shelterPopulation loads shelterResidents into s and returns its index.
func shelterPopulation(t *testing.T, ctx context.Context, s *Store) *PopulationIndex {
	t.Helper()
	pop, err := NewPopulationIndex(ctx, s, targeting.DefaultTree())
	if err != nil {
		t.Fatal(err)
	}
	if r, err := pop.ImportResidents(ctx, strings.NewReader(shelterResidents), false, nil); err != nil || !r.Applied {
		t.Fatalf("residents: %+v %v", r, err)
	}
	return pop
}

// A shelters import stores the shelters and assigns every located village:
// the listed one to its shelter, the others to the nearest; a village with
// no location and listed by none is reported, not guessed.
func TestImportShelters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		pop := shelterPopulation(t, ctx, s)
		out, err := pop.ImportShelters(ctx, strings.NewReader(sheltersCSV), false, Actor{Name: "duty1"})
		if err != nil || !out.Applied || out.Stored != 2 {
			t.Fatalf("import: %+v %v", out, err)
		}
		if out.Assigned != 3 || out.Explicit != 1 || len(out.Unassigned) != len(targeting.DefaultTree().Villages())-3 {
			t.Errorf("assigned %d explicit %d unassigned %d", out.Assigned, out.Explicit, len(out.Unassigned))
		}
		list, err := s.Shelters(ctx)
		if err != nil || len(list) != 2 {
			t.Fatalf("list: %v %v", list, err)
		}
		served := map[string]string{}
		for _, sh := range list {
			for _, v := range sh.Served {
				served[v] = sh.ID
			}
		}
		if served["653122100001"] != "S-N" || served["653122100002"] != "S-N" || served["653122100003"] != "S-S" {
			t.Errorf("served: %v", served)
		}
		if list[0].ID != "S-N" || !list[0].Accessible || list[0].Kind != targeting.ShelterSchool || list[0].UpdatedBy != "duty1" || list[0].Occupancy != nil {
			t.Errorf("stored: %+v", list[0])
		}

		// Occupancy: the latest report wins, an older one changes nothing.
		t0 := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
		if err := s.SetShelterOccupancy(ctx, "S-S", 120, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.SetShelterOccupancy(ctx, "S-S", 80, t0.Add(-time.Minute)); !errors.Is(err, ErrStaleOccupancy) {
			t.Errorf("older report: %v", err)
		}
		if err := s.SetShelterOccupancy(ctx, "nope", 1, t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown shelter: %v", err)
		}
		var ve *ValidationError
		if err := s.SetShelterOccupancy(ctx, "S-S", -1, t0); !errors.As(err, &ve) || ve.Problems[0].Field != "occupancy" {
			t.Errorf("negative occupancy: %v", err)
		}
		sh, err := s.Shelter(ctx, "S-S")
		if err != nil || sh.Occupancy == nil || *sh.Occupancy != 120 || !sh.OccupancyAt.Equal(t0) {
			t.Fatalf("occupancy: %+v %v", sh, err)
		}

		// Importing again keeps the occupancy; a bad line stores nothing.
		bad := sheltersCSV + "S-X,坏,,39.4,76.0,0,tent,,,\n"
		out, err = pop.ImportShelters(ctx, strings.NewReader(bad), false, Actor{Name: "duty1"})
		if err != nil || out.Applied || out.ErrorCount != 2 || out.Errors[0].Line != 4 {
			t.Fatalf("bad import: %+v %v", out, err)
		}
		if list, _ := s.Shelters(ctx); len(list) != 2 {
			t.Errorf("a failed import stored %d shelters", len(list))
		}
		if _, err := pop.ImportShelters(ctx, strings.NewReader(sheltersCSV), false, Actor{Name: "duty2"}); err != nil {
			t.Fatal(err)
		}
		if sh, _ := s.Shelter(ctx, "S-S"); sh.Occupancy == nil || *sh.Occupancy != 120 || sh.UpdatedBy != "duty2" {
			t.Errorf("re-import lost occupancy: %+v", sh)
		}

		// Edit: move the south shelter's list to include 001; 001 moves.
		edited := list[1].Shelter
		edited.Villages = []string{"653122100001"}
		got, err := pop.PutShelter(ctx, edited, Actor{Name: "duty1"})
		if err != nil || !contains(got.Served, "653122100001") {
			t.Fatalf("edit: %+v %v", got, err)
		}
		// A village another shelter lists is refused, naming the field.
		clash := list[0].Shelter
		clash.Villages = []string{"653122100001"}
		if _, err := pop.PutShelter(ctx, clash, Actor{Name: "duty1"}); !errors.As(err, &ve) || ve.Problems[0].Field != "villages" {
			t.Errorf("clash: %v", err)
		}
		clash.Capacity = 0
		if _, err := pop.PutShelter(ctx, clash, Actor{Name: "duty1"}); !errors.As(err, &ve) || ve.Problems[0].Field != "capacity" {
			t.Errorf("capacity 0: %v", err)
		}
		// A village not in the tree is a line error.
		out, err = pop.ImportShelters(ctx, strings.NewReader("id,name,lat,lon,capacity,kind,villages\nS9,x,39,76,10,park,653122999999\n"), false, Actor{})
		if err != nil || out.Applied || out.ErrorCount != 1 || out.Errors[0].Field != "villages" {
			t.Errorf("unknown village: %+v %v", out, err)
		}
	})
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Shelter assignments follow later imports: a village first without a
// location (and so without a shelter) gets the nearest shelter once
// residents or loudspeakers located there are imported, and a village
// whose located loudspeakers put it nearer another shelter moves there. A
// version submitted before keeps the guidance frozen with it.
func TestSheltersReassignedOnLaterImports(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		pop, err := NewPopulationIndex(ctx, s, targeting.DefaultTree())
		if err != nil {
			t.Fatal(err)
		}
		res := "id,phone,village,language,lat,lon\n1,13800000001,653122100001,zh,39.55,76.0\n"
		if r, err := pop.ImportResidents(ctx, strings.NewReader(res), false, nil); err != nil || !r.Applied {
			t.Fatalf("residents: %+v %v", r, err)
		}
		shel := "id,name,lat,lon,capacity,kind\nS-N,北一中,39.60,76.00,1000,school\nS-S,南广场,39.20,76.00,500,outdoor\n"
		if r, err := pop.ImportShelters(ctx, strings.NewReader(shel), false, Actor{Name: "admin"}); err != nil || !r.Applied {
			t.Fatalf("shelters: %+v %v", r, err)
		}
		assigned := func() map[string]string {
			as, err := s.ShelterAssignments(ctx)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]string{}
			for _, a := range as {
				m[a.Village] = a.Shelter
			}
			return m
		}
		if m := assigned(); m["653122100001"] != "S-N" || m["653122100003"] != "" {
			t.Fatalf("before: %v", m)
		}
		before := testAlert("R1")
		before.Action = &Action{Type: ActionEvacuate}
		if err := FreezeGuidance(ctx, s, pop, before); err != nil {
			t.Fatal(err)
		}
		// Residents located in village 003, in the south.
		more := "id,phone,village,language,lat,lon\n2,13800000002,653122100003,zh,39.25,76.0\n"
		if r, err := pop.ImportResidents(ctx, strings.NewReader(more), false, nil); err != nil || !r.Applied {
			t.Fatalf("more residents: %+v %v", r, err)
		}
		if m := assigned(); m["653122100003"] != "S-S" || m["653122100001"] != "S-N" {
			t.Fatalf("after residents: %v", m)
		}
		// A loudspeaker puts village 001 in the south (loudspeakers win over residents).
		spk := "id,village,lat,lon\nSPK-1,653122100001,39.21,76.0\n"
		if r, err := pop.ImportSpeakers(ctx, strings.NewReader(spk), false); err != nil || !r.Applied {
			t.Fatalf("speakers: %+v %v", r, err)
		}
		if m := assigned(); m["653122100001"] != "S-S" {
			t.Fatalf("after speakers: %v", m)
		}
		if g := before.Guidance.For("653122100001"); g.Shelter == nil || g.Shelter.ID != "S-N" {
			t.Fatalf("guidance frozen before the imports changed: %+v", g)
		}
		after := testAlert("R2")
		after.Action = &Action{Type: ActionEvacuate}
		if err := FreezeGuidance(ctx, s, pop, after); err != nil {
			t.Fatal(err)
		}
		if g := after.Guidance.For("653122100001"); g.Shelter == nil || g.Shelter.ID != "S-S" {
			t.Fatalf("guidance frozen after the imports: %+v", g)
		}
	})
}
