package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
)

// Field reports (issue 21): field teams send them from /field/, officers
// read and handle them on the console. Who is who is dispatch's
// IsFieldAccount / IsOfficer; every change is audited by the store and
// told to the open consoles through ReportEvents.

// ShelterOccupancy updates a shelter's current figure from a field report:
// n people at time at (the store; the latest count wins, an older one is
// dispatch.ErrStaleOccupancy).
type ShelterOccupancy interface {
	SetShelterOccupancy(ctx context.Context, shelterID string, n int, at time.Time) error
}

var _ ShelterOccupancy = (*dispatch.Store)(nil)

// ReportEvent is what consoles are told of a report: which one, of which
// warning, and what happened. Consoles fetch the report itself through the
// API, which checks their role: the live feed carries no report content.
type ReportEvent struct {
	ID     string `json:"id"`
	Change string `json:"change"` // created, photo, acknowledged, assigned, replied
	Kind   string `json:"kind"`
	At     int64  `json:"at"` // Unix ms, when the API stored the change
}

func (api *API) reportRoutes(h func(pattern string, min dispatch.Role, fn func(w http.ResponseWriter, r *http.Request, by dispatch.Actor))) {
	h("POST /api/v1/reports", dispatch.RoleViewer, api.createReport)
	h("GET /api/v1/reports/mine", dispatch.RoleViewer, api.myReports)
	h("GET /api/v1/reports/{id}", dispatch.RoleOperator, api.getReport)
	h("POST /api/v1/reports/{id}/photos", dispatch.RoleViewer, api.addReportPhoto)
	h("GET /api/v1/reports/{id}/photos/{photo}", dispatch.RoleOperator, api.reportPhoto)
	h("POST /api/v1/reports/{id}/acknowledge", dispatch.RoleOperator, api.acknowledgeReport)
	h("POST /api/v1/reports/{id}/assign", dispatch.RoleOperator, api.assignReport)
	h("POST /api/v1/reports/{id}/reply", dispatch.RoleOperator, api.replyReport)
	h("GET /api/v1/alerts/{id}/reports", dispatch.RoleOperator, api.alertReports)
}

func fieldOnly(w http.ResponseWriter, by dispatch.Actor) bool {
	if dispatch.IsFieldAccount(by.Role) {
		return true
	}
	writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("only field team accounts (role viewer) send field reports; %s is %s", by.Name, by.Role))
	return false
}

func (api *API) villageKnown() func(string) bool {
	if api.Service == nil || api.Service.Population == nil {
		return nil
	}
	tree := api.Service.Population.Tree()
	return func(code string) bool { _, ok := tree.Region(code); return ok }
}

func (api *API) createReport(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	if !fieldOnly(w, by) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxReportRequest)
	in, uploads, err := parseReportRequest(r.Header.Get("Content-Type"), r.Body)
	if err != nil {
		api.failRequest(w, r, err)
		return
	}
	if err := in.Validate(time.Now(), api.villageKnown()); err != nil {
		api.fail(w, r, err)
		return
	}
	if err := api.reportInScope(r.Context(), by, in); err != nil {
		api.fail(w, r, err)
		return
	}
	// Sent again (the phone never saw the answer): the stored report, and
	// its photos are not decoded a second time.
	if rep, err := api.Store.ReportByKey(r.Context(), by.Name, in.IdempotencyKey); err == nil {
		w.Header().Set("Location", "/api/v1/reports/"+rep.ID)
		writeJSON(w, http.StatusOK, rep)
		return
	} else if !errors.Is(err, dispatch.ErrNotFound) {
		api.fail(w, r, err)
		return
	}
	photos := make([]dispatch.StoredPhoto, 0, len(uploads))
	for i, b := range uploads {
		p, err := processPhoto(r.Context(), "photo["+strconv.Itoa(i)+"]", b)
		if err != nil {
			api.fail(w, r, err)
			return
		}
		photos = append(photos, p)
	}
	rep, existed, err := api.Store.InsertReport(r.Context(), in, by, photos)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if !existed {
		status = http.StatusCreated
		api.applyOccupancy(r.Context(), rep)
		api.tellConsoles(r.Context(), rep, "created")
	}
	w.Header().Set("Location", "/api/v1/reports/"+rep.ID)
	writeJSON(w, status, rep)
}

// applyOccupancy updates the shelter's figure from a shelter_occupancy
// report. The report is stored whatever happens here: a field team's word
// is never lost because a shelter id is wrong.
func (api *API) applyOccupancy(ctx context.Context, rep *dispatch.FieldReport) {
	if rep.Kind != dispatch.ReportShelterOccupancy {
		return
	}
	var so ShelterOccupancy = api.Store
	if api.Shelters != nil {
		so = api.Shelters
	}
	// The count is as of when the team made it (observed_at): a report
	// queued offline for an hour does not overwrite a newer figure.
	if err := so.SetShelterOccupancy(ctx, rep.ShelterID, rep.Counts["people"], rep.ObservedAt); err != nil {
		api.log().Warn("shelter occupancy report not applied", "report", rep.ID, "shelter", rep.ShelterID, "err", err)
		return
	}
	if err := api.Store.MarkOccupancyApplied(ctx, rep.ID); err != nil {
		api.log().Warn("shelter occupancy applied but not marked on the report", "report", rep.ID, "err", err)
		return
	}
	rep.OccupancyApplied = true
}

// tellConsoles publishes a report change on the consoles' live feed.
func (api *API) tellConsoles(ctx context.Context, rep *dispatch.FieldReport, change string) {
	if api.ReportEvents == nil {
		return
	}
	ev := ReportEvent{ID: rep.ID, Change: change, Kind: rep.Kind.String(), At: time.Now().UnixMilli()}
	if err := api.ReportEvents(context.WithoutCancel(ctx), rep.AlertID, ev); err != nil {
		// Consoles still poll; the report is stored.
		api.log().Warn("report not told to consoles", "report", rep.ID, "alert_id", rep.AlertID, "err", err)
	}
}

func (api *API) failRequest(w http.ResponseWriter, r *http.Request, err error) {
	var re *requestError
	if errors.As(err, &re) {
		re.write(w)
		return
	}
	api.fail(w, r, err)
}

func (api *API) myReports(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	list, err := api.Store.ReportsBy(r.Context(), by.Name)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"reports": list})
}

func (api *API) getReport(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	rep, err := api.Store.FieldReport(r.Context(), r.PathValue("id"))
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 200, rep)
}

func (api *API) alertReports(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	a, ok := api.scopedAlert(w, r, by, true)
	if !ok {
		return
	}
	list, err := api.Store.ReportsForAlert(r.Context(), a.ID)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"alert_id": a.ID, "reports": list})
}

func (api *API) addReportPhoto(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	if !fieldOnly(w, by) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxPhotoBytes+MaxBody)
	b, err := parsePhotoRequest(r.Header.Get("Content-Type"), r.Body)
	if err != nil {
		api.failRequest(w, r, err)
		return
	}
	p, err := processPhoto(r.Context(), "photo", b)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	ph, existed, err := api.Store.AddReportPhoto(r.Context(), r.PathValue("id"), p, by)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if !existed {
		status = http.StatusCreated
		if rep, err := api.Store.FieldReport(r.Context(), r.PathValue("id")); err == nil {
			api.tellConsoles(r.Context(), rep, "photo")
		}
	}
	writeJSON(w, status, ph)
}

// reportPhoto serves a photo (or with ?size=thumb its thumbnail) to
// officers only: photos show people and houses.
func (api *API) reportPhoto(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	size := r.URL.Query().Get("size")
	if size != "" && size != "thumb" && size != "full" {
		writeError(w, 400, "validation", "size must be thumb or full", warning.FieldError{Field: "size", Rule: "thumb or full", Value: clip(size)})
		return
	}
	b, err := api.Store.ReportPhotoData(r.Context(), r.PathValue("id"), r.PathValue("photo"), size == "thumb")
	if err != nil {
		api.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	_, _ = w.Write(b)
}

func (api *API) changeReport(w http.ResponseWriter, r *http.Request, change string, fn func() (*dispatch.FieldReport, error)) {
	rep, err := fn()
	if err != nil {
		api.fail(w, r, err)
		return
	}
	api.tellConsoles(r.Context(), rep, change)
	writeJSON(w, 200, rep)
}

func (api *API) acknowledgeReport(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	api.changeReport(w, r, "acknowledged", func() (*dispatch.FieldReport, error) {
		return api.Store.AcknowledgeReport(r.Context(), r.PathValue("id"), by)
	})
}

func (api *API) assignReport(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	var b struct {
		To string `json:"to"`
	}
	if !decode(w, r, &b) {
		return
	}
	if b.To == "" {
		writeError(w, 422, "validation", "to: required: the user to assign the report to", warning.FieldError{Field: "to", Rule: "required"})
		return
	}
	api.changeReport(w, r, "assigned", func() (*dispatch.FieldReport, error) {
		return api.Store.AssignReport(r.Context(), r.PathValue("id"), b.To, by)
	})
}

func (api *API) replyReport(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	var b struct {
		Text string `json:"text"`
	}
	if !decode(w, r, &b) {
		return
	}
	api.changeReport(w, r, "replied", func() (*dispatch.FieldReport, error) {
		return api.Store.ReplyToReport(r.Context(), r.PathValue("id"), b.Text, by)
	})
}

// reportInScope refuses a scoped field account's report about a village, or
// a shelter's occupancy, outside its scope: an occupancy report changes the
// figure every screen and resident page shows for that shelter.
func (api *API) reportInScope(ctx context.Context, by dispatch.Actor, in dispatch.FieldReportInput) error {
	if by.Scope.All() {
		return nil
	}
	g := api.Service.Scope(false)
	if in.Location.Village != "" {
		if err := g.CheckRegion(by, "location.village", in.Location.Village); err != nil {
			return err
		}
	}
	if in.ShelterID == "" {
		return nil
	}
	list, err := api.Store.Shelters(ctx)
	if err != nil {
		return err
	}
	for _, sh := range list {
		if sh.ID != in.ShelterID {
			continue
		}
		for _, v := range sh.Villages {
			if err := g.CheckRegion(by, "shelter "+sh.ID+" serves village", v); err != nil {
				return err
			}
		}
	}
	return nil
}
