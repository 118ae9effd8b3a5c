package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// shelterInput is a shelter as PUT /api/v1/shelters/{id} takes it: the
// kind as a string, so that an unknown kind is a field error like the rest.
type shelterInput struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	NameUG     string          `json:"name_ug"`
	Point      targeting.Point `json:"point"`
	Capacity   int             `json:"capacity"`
	Kind       string          `json:"kind"`
	Accessible bool            `json:"accessible"`
	Contact    string          `json:"contact"`
	Villages   []string        `json:"villages"`
	Synthetic  bool            `json:"synthetic"`
}

func (api *API) importShelters(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	partial := r.URL.Query().Get("partial") == "1" || r.URL.Query().Get("partial") == "true"
	r.Body = http.MaxBytesReader(w, r.Body, 64<<20)
	res, err := api.Service.Population.ImportShelters(r.Context(), r.Body, partial, by)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", "CSV over 64 MiB")
			return
		}
		api.fail(w, r, err)
		return
	}
	_ = api.Store.Audit(r.Context(), dispatch.AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "shelters.import",
		Detail: dispatch.AuditDetail(map[string]any{"lines": res.Lines, "accepted": res.Accepted, "errors": res.ErrorCount, "applied": res.Applied,
			"partial": partial, "assigned_villages": res.Assigned, "unassigned_villages": len(res.Unassigned)})})
	status := http.StatusOK
	if !res.Applied {
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, res)
}

func (api *API) listShelters(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	list, err := api.Store.Shelters(r.Context())
	if err != nil {
		api.fail(w, r, err)
		return
	}
	if list == nil {
		list = []dispatch.Shelter{}
	}
	writeJSON(w, 200, map[string]any{"shelters": list, "kinds": targeting.ShelterKinds()})
}

func (api *API) putShelter(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	var in shelterInput
	if !decode(w, r, &in) {
		return
	}
	id := r.PathValue("id")
	if in.ID != "" && in.ID != id {
		var ve dispatch.ValidationError
		ve.Add("id", "must match the id in the path ("+id+") or be left out", in.ID)
		api.fail(w, r, &ve)
		return
	}
	sh := targeting.Shelter{ID: id, Name: in.Name, NameUG: in.NameUG, Point: in.Point, Capacity: in.Capacity,
		Accessible: in.Accessible, Contact: in.Contact, Villages: in.Villages, Synthetic: in.Synthetic}
	if k, err := targeting.ParseShelterKind(in.Kind); err != nil {
		api.fail(w, r, err)
		return
	} else {
		sh.Kind = k
	}
	if err := api.shelterInScope(r.Context(), by, sh); err != nil {
		api.fail(w, r, err)
		return
	}
	got, err := api.Service.Population.PutShelter(r.Context(), sh, by)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	_ = api.Store.Audit(context.WithoutCancel(r.Context()), dispatch.AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "shelter.put", Detail: dispatch.AuditDetail(sh)})
	writeJSON(w, 200, got)
}

// shelterInScope refuses a scoped admin's shelter edit unless it names the
// villages it serves, all within scope, and the shelter it replaces served
// only villages within scope too (its name reaches their guidance).
func (api *API) shelterInScope(ctx context.Context, by dispatch.Actor, sh targeting.Shelter) error {
	if by.Scope.All() {
		return nil
	}
	g := api.Service.Scope(false)
	if len(sh.Villages) == 0 {
		return &dispatch.ValidationError{Problems: []warning.FieldError{{Field: "villages",
			Rule: "required for an admin scoped to " + by.Scope.Label(g.Tree) + ": list the villages the shelter serves"}}}
	}
	for _, v := range sh.Villages {
		if err := g.CheckRegion(by, "village", v); err != nil {
			return err
		}
	}
	list, err := api.Store.Shelters(ctx)
	if err != nil {
		return err
	}
	for _, old := range list {
		if old.ID != sh.ID {
			continue
		}
		for _, v := range old.Villages {
			if err := g.CheckRegion(by, "shelter "+sh.ID+" serves village", v); err != nil {
				return err
			}
		}
	}
	return nil
}
