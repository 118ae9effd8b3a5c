package api

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/alertcast/alertcast/dispatch"
)

func (api *API) importCSV(w http.ResponseWriter, r *http.Request, by dispatch.Actor, what string,
	run func(ctx context.Context, body io.Reader, partial bool) (dispatch.ImportResult, error)) {
	partial := r.URL.Query().Get("partial") == "1" || r.URL.Query().Get("partial") == "true"
	r.Body = http.MaxBytesReader(w, r.Body, 2<<30)
	res, err := run(r.Context(), r.Body, partial)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", "CSV over 2 GiB")
			return
		}
		api.fail(w, r, err)
		return
	}
	_ = api.Store.Audit(r.Context(), dispatch.AuditEntry{Actor: by.Name, Remote: by.Remote, Action: what + ".import",
		Detail: dispatch.AuditDetail(map[string]any{"lines": res.Lines, "accepted": res.Accepted, "errors": res.ErrorCount, "applied": res.Applied, "partial": partial})})
	status := http.StatusOK
	if !res.Applied {
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, res)
}

func (api *API) importResidents(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	api.importCSV(w, r, by, "residents", func(ctx context.Context, body io.Reader, partial bool) (dispatch.ImportResult, error) {
		return api.Service.Population.ImportResidentsBy(ctx, by, body, partial, nil)
	})
}

func (api *API) importSpeakers(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	api.importCSV(w, r, by, "speakers", func(ctx context.Context, body io.Reader, partial bool) (dispatch.ImportResult, error) {
		return api.Service.Population.ImportSpeakersBy(ctx, by, body, partial)
	})
}

// listSpeakers answers GET /api/v1/speakers. With any parameter it is the
// fleet page's filtered, paged list (fleet.go); without, the whole registry
// and the hub's status of every device seen, as existing callers read it.
func (api *API) listSpeakers(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	if r.URL.RawQuery != "" {
		api.fleet(w, r, by)
		return
	}
	var list []dispatch.SpeakerRecord
	if err := api.Store.ForEachSpeaker(r.Context(), func(s dispatch.SpeakerRecord) error {
		list = append(list, s)
		return nil
	}); err != nil {
		api.fail(w, r, err)
		return
	}
	resp := map[string]any{"speakers": list}
	if api.SpeakerStatus != nil {
		st, err := api.SpeakerStatus(r.Context())
		if err != nil {
			resp["status_error"] = err.Error()
		} else {
			resp["status"] = st
		}
	}
	writeJSON(w, 200, resp)
}

func (api *API) enrollSpeaker(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	if api.NewSpeakerCredential == nil {
		writeError(w, http.StatusNotImplemented, "unavailable", "speaker enrolment is not configured")
		return
	}
	id := r.PathValue("id")
	if !api.speakerInScope(w, r, by, id) {
		return
	}
	secret, hash := api.NewSpeakerCredential()
	if err := api.Store.SetSpeakerCredential(r.Context(), id, hash, false, by); err != nil {
		if errors.Is(err, dispatch.ErrNotFound) {
			writeError(w, 404, "not_found", "no speaker "+id+" in the registry: import it first (POST /api/v1/speakers/import)")
			return
		}
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"device_id": id, "credential": secret, "public_key": api.SpeakerPublicKey,
		"note": "the credential is shown once and stored hashed; put it and public_key in the agent's config"})
}

func (api *API) revokeSpeaker(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	if !api.speakerInScope(w, r, by, r.PathValue("id")) {
		return
	}
	if err := api.Store.SetSpeakerCredential(r.Context(), r.PathValue("id"), "", true, by); err != nil {
		api.fail(w, r, err)
		return
	}
	if api.DisconnectSpeaker != nil {
		if err := api.DisconnectSpeaker(r.Context(), r.PathValue("id")); err != nil {
			api.log().Warn("revoked speaker could not be disconnected", "device", r.PathValue("id"), "err", err)
		}
	}
	writeJSON(w, 200, map[string]any{"device_id": r.PathValue("id"), "revoked": true})
}

func (api *API) addFieldEndpoint(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	var f dispatch.FieldEndpoint
	if !decode(w, r, &f) {
		return
	}
	var ve dispatch.ValidationError
	if f.ID == "" || len(f.ID) > 64 {
		ve.Add("id", "required, at most 64 characters", f.ID)
	}
	if f.Name == "" {
		ve.Add("name", "required", "")
	}
	if _, ok := api.Service.Population.Tree().Region(f.Region); !ok {
		ve.Add("region", "must be a known region code", f.Region)
	}
	if len(ve.Problems) > 0 {
		api.fail(w, r, &ve)
		return
	}
	if err := api.Service.Scope(false).CheckRegion(by, "region", f.Region); err != nil {
		api.fail(w, r, err)
		return
	}
	if err := api.Store.UpsertFieldEndpoint(r.Context(), f); err != nil {
		api.fail(w, r, err)
		return
	}
	if err := api.Service.Population.FieldEndpointsChanged(r.Context()); err != nil {
		api.fail(w, r, err)
		return
	}
	_ = api.Store.Audit(r.Context(), dispatch.AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "field_endpoint.upsert", Detail: dispatch.AuditDetail(f)})
	writeJSON(w, 201, f)
}

func (api *API) importRegions(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	if !by.Scope.All() {
		writeError(w, http.StatusForbidden, "forbidden", "importing regions changes the tree of every county: only an admin whose scope is the whole tree ("+
			dispatch.ScopeAll+") may; your scope is "+by.Scope.Label(api.tree()))
		return
	}
	counties, err := api.Service.Population.ImportRegions(r.Context(), http.MaxBytesReader(w, r.Body, 16<<20), by)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 201, map[string]any{"counties": counties, "regions": api.Service.Population.Tree().Len(),
		"note": "merged into this node now; every node loads it at start"})
}

// speakerInScope answers 403 unless the loudspeaker id is registered in a
// village within by's scope (enrolling gives a device its credential;
// revoking takes it off the air). An unknown device is left to the store
// (404).
func (api *API) speakerInScope(w http.ResponseWriter, r *http.Request, by dispatch.Actor, id string) bool {
	if by.Scope.All() {
		return true
	}
	sp, ok := api.Service.Population.Index().Speaker(id)
	if !ok {
		return true
	}
	if err := api.Service.Scope(false).CheckRegion(by, "loudspeaker "+id+" in", sp.Village); err != nil {
		api.fail(w, r, err)
		return false
	}
	return true
}
