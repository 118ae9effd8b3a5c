package api

import (
	"net/http"

	"github.com/alertcast/alertcast/dispatch"
)

// approveSchedule: POST /api/v1/schedules/{id}/approve — a second officer
// approves a drill or bulletin schedule once, so its outputs at an approval
// level go out without waiting.
func (api *API) approveSchedule(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	reason, ok := readReason(w, r)
	if !ok {
		return
	}
	sc, err := api.Service.ApproveSchedule(r.Context(), by, r.PathValue("id"), reason)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	sc.NeedsApproval = api.Service.ScheduleNeedsApproval(sc)
	writeJSON(w, http.StatusOK, sc)
}
