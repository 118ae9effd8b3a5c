package api

import (
	"net/http"
	"time"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
)

type scheduleInput struct {
	Kind    string               `json:"kind"`
	Spec    string               `json:"spec"`
	AlertID string               `json:"alert_id,omitempty"`
	Body    *dispatch.AlertInput `json:"body,omitempty"`
	TTL     string               `json:"ttl,omitempty"` // e.g. "1h"
}

func (api *API) createSchedule(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	var in scheduleInput
	if !decode(w, r, &in) {
		return
	}
	sc := dispatch.Schedule{Kind: in.Kind, Spec: in.Spec, AlertID: in.AlertID, Body: in.Body}
	if in.TTL != "" {
		d, err := time.ParseDuration(in.TTL)
		if err != nil || d <= 0 || d > 7*24*time.Hour {
			writeError(w, 422, "validation", "ttl must be a duration up to 168h", warning.FieldError{Field: "ttl", Rule: "a duration such as 1h, at most 168h", Value: in.TTL})
			return
		}
		sc.TTL = d
	}
	out, err := api.Service.NewSchedule(r.Context(), by, sc)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 201, out)
}

func (api *API) listSchedules(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	list, err := api.Store.Schedules(r.Context(), r.URL.Query().Get("all") != "1")
	if err != nil {
		api.fail(w, r, err)
		return
	}
	for _, sc := range list {
		if sp, err := dispatch.ParseSchedule(sc.Spec); err == nil && sc.Active {
			sc.Next = sp.Next(sc.LastFired)
		}
		sc.NeedsApproval = api.Service.ScheduleNeedsApproval(sc)
	}
	writeJSON(w, 200, map[string]any{"schedules": list})
}

func (api *API) stopSchedule(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	if err := api.Store.StopSchedule(r.Context(), r.PathValue("id"), by); err != nil {
		api.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
