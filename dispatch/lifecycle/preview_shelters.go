package lifecycle

import (
	"context"
	"fmt"
	"sort"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/targeting"
)

// ShelterLoad is, for one shelter, how many of the warning's residents an
// evacuate would send there against its capacity.
type ShelterLoad struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Capacity  int    `json:"capacity"`
	Residents int    `json:"residents"`
	Villages  int    `json:"villages"`
	// Occupancy is the last reported number already there (nil: none).
	Occupancy *int `json:"occupancy,omitempty"`
	Overflow  bool `json:"overflow"`
}

// PreviewWarning is a typed warning of the preview: Code says what it is
// (shelter_overflow, no_shelter, no_shelters), Message says it to officers.
type PreviewWarning struct {
	Code      string `json:"code"`
	Shelter   string `json:"shelter,omitempty"`
	Residents int    `json:"residents,omitempty"`
	Capacity  int    `json:"capacity,omitempty"`
	Message   string `json:"message"`
}

// shelterPreview fills in, for an evacuate to shelters, the load of every
// shelter the warning's guidance g sends residents to, and warns of each
// overflow (residents plus reported occupancy over capacity) and of
// residents whose village has no shelter. Names and capacities are those
// of g (what the version will say); occupancy is the last reported.
func (s *Service) shelterPreview(ctx context.Context, a *dispatch.Alert, g *dispatch.VillageGuidance, res *targeting.Resolution, out *PreviewResult) error {
	if !a.Evacuate() || a.Action.AwayFrom != "" || s.Population == nil || g == nil {
		return nil
	}
	shelters, err := s.Store.Shelters(ctx)
	if err != nil {
		return err
	}
	byVillage := s.Population.ResidentsByVillage(res)
	if len(shelters) == 0 {
		out.warn(PreviewWarning{Code: "no_shelters", Message: "evacuate, but no shelters are registered (POST /api/v1/shelters/import): residents are told to leave without a place to go"})
		return nil
	}
	occupancy := map[string]*int{}
	for _, sh := range shelters {
		occupancy[sh.ID] = sh.Occupancy
	}
	loads := map[string]*ShelterLoad{}
	unsheltered := 0
	for v, n := range byVillage {
		if n == 0 {
			continue
		}
		vg := g.For(v)
		if vg == nil || vg.Shelter == nil {
			unsheltered += n
			continue
		}
		l := loads[vg.Shelter.ID]
		if l == nil {
			l = &ShelterLoad{ID: vg.Shelter.ID, Name: vg.Shelter.Name, Capacity: vg.Shelter.Capacity, Occupancy: occupancy[vg.Shelter.ID]}
			loads[vg.Shelter.ID] = l
		}
		l.Residents += n
		l.Villages++
	}
	for _, l := range loads {
		there := l.Residents
		if l.Occupancy != nil {
			there += *l.Occupancy
		}
		if there > l.Capacity {
			l.Overflow = true
		}
		out.Shelters = append(out.Shelters, *l)
	}
	sort.Slice(out.Shelters, func(i, j int) bool { return out.Shelters[i].ID < out.Shelters[j].ID })
	for _, l := range out.Shelters {
		if l.Overflow {
			there := l.Residents
			if l.Occupancy != nil {
				there += *l.Occupancy
			}
			out.warn(PreviewWarning{Code: "shelter_overflow", Shelter: l.ID, Residents: there, Capacity: l.Capacity,
				Message: fmt.Sprintf("shelter %s (%s) would receive %d people for %d places", l.ID, l.Name, there, l.Capacity)})
		}
	}
	if unsheltered > 0 {
		out.warn(PreviewWarning{Code: "no_shelter", Residents: unsheltered,
			Message: fmt.Sprintf("%d residents live in villages with no shelter assigned (no location known): they are told to evacuate without a place", unsheltered)})
	}
	return nil
}

// warn adds a typed warning and its message to the plain list.
func (p *PreviewResult) warn(w PreviewWarning) {
	p.ShelterWarnings = append(p.ShelterWarnings, w)
	p.Warnings = append(p.Warnings, w.Message)
}
