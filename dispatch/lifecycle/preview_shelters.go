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
// shelter the warning sends residents to, and warns of each overflow
// (residents plus reported occupancy over capacity) and of residents whose
// village has no shelter.
func (s *Service) shelterPreview(ctx context.Context, a *dispatch.Alert, res *targeting.Resolution, out *PreviewResult) error {
	if !a.Evacuate() || a.Action.AwayFrom != "" || s.Population == nil {
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
	served := map[string]bool{}
	for _, sh := range shelters {
		l := ShelterLoad{ID: sh.ID, Name: sh.Name, Capacity: sh.Capacity, Occupancy: sh.Occupancy}
		for _, v := range sh.Served {
			served[v] = true
			if n := byVillage[v]; n > 0 {
				l.Residents += n
				l.Villages++
			}
		}
		if l.Residents == 0 {
			continue
		}
		there := l.Residents
		if l.Occupancy != nil {
			there += *l.Occupancy
		}
		if there > l.Capacity {
			l.Overflow = true
			out.warn(PreviewWarning{Code: "shelter_overflow", Shelter: sh.ID, Residents: there, Capacity: l.Capacity,
				Message: fmt.Sprintf("shelter %s (%s) would receive %d people for %d places", sh.ID, sh.Name, there, l.Capacity)})
		}
		out.Shelters = append(out.Shelters, l)
	}
	sort.Slice(out.Shelters, func(i, j int) bool { return out.Shelters[i].ID < out.Shelters[j].ID })
	unsheltered := 0
	for v, n := range byVillage {
		if !served[v] {
			unsheltered += n
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
