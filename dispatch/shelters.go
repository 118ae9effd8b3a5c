package dispatch

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// ShelterImportResult reports a shelters import: the line report, and how
// the villages came out (each village of the loaded tree is either assigned
// to a shelter or has no location to measure from yet).
type ShelterImportResult struct {
	ImportResult
	Shelters   int      `json:"shelters"`             // stored in all, after the import
	Assigned   int      `json:"assigned_villages"`    // villages with a shelter
	Explicit   int      `json:"explicit_villages"`    // of those, listed by their shelter
	Unassigned []string `json:"unassigned,omitempty"` // villages with no location and listed by none
}

// checkShelterVillages checks that the villages a shelter lists are
// villages of the loaded tree and not listed by another stored shelter.
func (r *PopulationIndex) checkShelterVillages(sh targeting.Shelter, listedBy map[string]string) error {
	for _, v := range sh.Villages {
		reg, ok := r.tree.Region(v)
		if !ok || reg.Level != targeting.RegionVillage {
			return &warning.FieldError{Field: "villages", Rule: "not a village in the loaded region tree", Value: v}
		}
		if other, ok := listedBy[v]; ok && other != sh.ID {
			return &warning.FieldError{Field: "villages", Rule: "already served by shelter " + other + " (edit that one first)", Value: v}
		}
	}
	return nil
}

// ImportShelters reads a shelters CSV (targeting.ReadShelters). With partial
// false nothing is stored when any line is bad. Shelters are keyed by id:
// a shelter already stored is replaced (its reported occupancy is kept);
// shelters not in the file stay. Every village is then assigned again
// (listed, else nearest; see targeting.AssignShelters), from the village
// locations of the population loaded now.
func (r *PopulationIndex) ImportShelters(ctx context.Context, src io.Reader, partial bool, by Actor) (ShelterImportResult, error) {
	r.impMu.Lock()
	defer r.impMu.Unlock()
	stored, err := r.store.Shelters(ctx)
	if err != nil {
		return ShelterImportResult{}, err
	}
	listedBy := map[string]string{}
	for _, sh := range stored {
		for _, v := range sh.Villages {
			listedBy[v] = sh.ID
		}
	}
	var all []targeting.Shelter
	inFile := map[string]bool{}
	rep, err := targeting.ReadShelters(src, func(_ int, sh targeting.Shelter) error {
		if err := r.checkShelterVillages(sh, listedBy); err != nil {
			return err
		}
		if !by.Scope.All() && len(sh.Villages) == 0 {
			// Assigned by distance, it could serve villages across the
			// border: a scoped admin names the villages.
			return &warning.FieldError{Field: "villages", Rule: "required for an admin scoped to " + by.Scope.Label(r.tree) + ": list the villages the shelter serves"}
		}
		for _, v := range sh.Villages {
			if err := r.inScope(by, v); err != nil {
				return err
			}
		}
		all = append(all, sh)
		inFile[sh.ID] = true
		return nil
	})
	out := ShelterImportResult{ImportResult: ImportResult{ImportReport: rep}}
	if err != nil {
		return out, err
	}
	if rep.ErrorCount > 0 && !partial {
		return out, nil
	}
	merged := slices.Clone(all)
	for _, sh := range stored {
		if !inFile[sh.ID] {
			merged = append(merged, sh.Shelter)
		}
	}
	if err := r.saveShelters(ctx, all, merged, by, &out); err != nil {
		return out, err
	}
	out.Stored, out.Applied = len(all), true
	return out, nil
}

// saveShelters stores changed and the assignments derived from every
// shelter (merged), and fills in the village figures of out.
func (r *PopulationIndex) saveShelters(ctx context.Context, changed, merged []targeting.Shelter, by Actor, out *ShelterImportResult) error {
	villages := make([]string, 0, 512)
	for _, v := range r.tree.Villages() {
		villages = append(villages, v.Code)
	}
	as := targeting.AssignShelters(villages, r.ix.VillagePoints(), merged)
	if err := r.store.SaveShelters(ctx, changed, as, by.Name); err != nil {
		return err
	}
	if out != nil {
		out.Shelters, out.Assigned = len(merged), len(as)
		got := make(map[string]bool, len(as))
		for _, a := range as {
			got[a.Village] = true
			if a.Explicit {
				out.Explicit++
			}
		}
		if len(merged) > 0 {
			for _, v := range villages {
				if !got[v] {
					out.Unassigned = append(out.Unassigned, v)
				}
			}
		}
	}
	return nil
}

// reassignShelters derives every village's shelter again from the stored
// shelters and the village points of now. Imports of residents,
// loudspeakers and regions move or add villages: without this, assignments
// would stay as the last shelter import left them, and a village located
// later would get no shelter. Versions already submitted keep the guidance
// frozen with them; versions submitted from now on use the new
// assignments. Nothing to do when no shelter is stored. The caller holds
// impMu.
func (r *PopulationIndex) reassignShelters(ctx context.Context) error {
	stored, err := r.store.Shelters(ctx)
	if err != nil {
		return err
	}
	if len(stored) == 0 {
		return nil
	}
	merged := make([]targeting.Shelter, len(stored))
	for i := range stored {
		merged[i] = stored[i].Shelter
	}
	if err := r.saveShelters(ctx, nil, merged, Actor{}, nil); err != nil {
		return fmt.Errorf("shelter assignments not derived again: %w", err)
	}
	return nil
}

// PutShelter stores one shelter (new or edited) after checking it, and
// assigns every village again. It returns the shelter as stored.
func (r *PopulationIndex) PutShelter(ctx context.Context, sh targeting.Shelter, by Actor) (Shelter, error) {
	var ve ValidationError
	for _, e := range targeting.CheckShelter(sh) {
		if fe, ok := e.(*warning.FieldError); ok {
			ve.Problems = append(ve.Problems, *fe)
		} else {
			ve.Add("shelter", e.Error(), "")
		}
	}
	if err := ve.Err(); err != nil {
		return Shelter{}, err
	}
	r.impMu.Lock()
	defer r.impMu.Unlock()
	stored, err := r.store.Shelters(ctx)
	if err != nil {
		return Shelter{}, err
	}
	listedBy := map[string]string{}
	merged := []targeting.Shelter{sh}
	for _, o := range stored {
		if o.ID == sh.ID {
			continue
		}
		merged = append(merged, o.Shelter)
		for _, v := range o.Villages {
			listedBy[v] = o.ID
		}
	}
	if err := r.checkShelterVillages(sh, listedBy); err != nil {
		fe := err.(*warning.FieldError)
		return Shelter{}, &ValidationError{Problems: []warning.FieldError{*fe}}
	}
	if err := r.saveShelters(ctx, []targeting.Shelter{sh}, merged, by, nil); err != nil {
		return Shelter{}, fmt.Errorf("store shelter %s: %w", sh.ID, err)
	}
	return r.store.Shelter(ctx, sh.ID)
}
