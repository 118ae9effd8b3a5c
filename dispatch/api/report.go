package api

import (
	"bytes"
	"net/http"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/engine"
	"github.com/alertcast/alertcast/warning"
)

// report serves GET /api/v1/alerts/{id}/report: the after-action report
// (dispatch.BuildReport) as JSON, or with ?format=csv as one CSV table
// to file or open in a spreadsheet. Its counts are the progress every
// other screen shows, read from the same sources as api.progress.
func (api *API) report(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		writeError(w, http.StatusBadRequest, "validation", "format must be json or csv",
			warning.FieldError{Field: "format", Rule: "json or csv", Value: format})
		return
	}
	if _, ok := api.scopedAlert(w, r, by, true); !ok {
		return
	}
	src := dispatch.ReportSources{UnconfirmedAfter: api.UnconfirmedAfter}
	if api.Service != nil {
		src.Outbox, src.OfflineSpeakers = engine.OutboxChannels(api.Service.Engine), api.Service.Preview.OfflineSpeakers
		if api.Service.Population != nil {
			src.Tree = api.Service.Population.Tree()
		}
	}
	rep, err := dispatch.BuildReport(r.Context(), api.Store, r.PathValue("id"), src)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	if format != "csv" {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	// Written whole before the status: a failure half way is a 500, not a
	// truncated file that looks complete.
	var buf bytes.Buffer
	if err := rep.WriteCSV(&buf); err != nil {
		api.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="alertcast-report-`+safeFileName(rep.ID)+`.csv"`)
	// A byte order mark: spreadsheets on the bureau's desktops read UTF-8
	// Chinese and Uyghur correctly only with it.
	_, _ = w.Write([]byte("\ufeff"))
	_, _ = w.Write(buf.Bytes())
}

// safeFileName keeps letters, digits, '-' and '_' of an id.
func safeFileName(id string) string {
	b := []byte(id)
	out := b[:0]
	for _, c := range b {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			out = append(out, c)
		}
	}
	return string(out)
}
