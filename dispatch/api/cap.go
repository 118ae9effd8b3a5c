package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/lifecycle"
	"github.com/alertcast/alertcast/warning"
)

// capExport serves a warning as CAP 1.2. Issued warnings are public (like
// the resident page); others need a viewer.
func (api *API) capExport(w http.ResponseWriter, r *http.Request) {
	a, err := api.Store.Alert(r.Context(), r.PathValue("id"))
	if err != nil {
		api.fail(w, r, err)
		return
	}
	if a.State == warning.StatePending || a.State == warning.StateRejected {
		if by, err := api.Authenticate(r); err != nil || !by.Role.Can(dispatch.RoleViewer) {
			writeError(w, http.StatusUnauthorized, "unauthorized", "authentication required for warnings that were not issued")
			return
		}
	}
	b, err := api.Service.CAPOf(r.Context(), a, api.BaseURL)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/cap+xml; charset=utf-8")
	_, _ = w.Write(b)
}

func (api *API) feed(w http.ResponseWriter, r *http.Request) {
	b, err := api.Service.ActiveFeed(r.Context(), api.BaseURL)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	_, _ = w.Write(b)
}

func (api *API) capImport(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	if !capContentType(r.Header.Get("Content-Type")) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type %q: a CAP document must be sent as application/cap+xml, application/xml or text/xml", r.Header.Get("Content-Type")),
			warning.FieldError{Field: "Content-Type", Rule: "application/cap+xml, application/xml or text/xml", Value: r.Header.Get("Content-Type")})
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 2<<20))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "CAP document over 2 MiB")
		return
	}
	res, err := api.Service.ImportCAP(r.Context(), by, raw, api.CAPRules)
	if err != nil {
		var ce *lifecycle.CAPError
		if errors.As(err, &ce) {
			probs := make([]warning.FieldError, 0, len(ce.Problems))
			for _, p := range ce.Problems {
				probs = append(probs, warning.FieldError{Field: capPath(p), Rule: p})
			}
			writeError(w, ce.Status, "cap_refused", ce.Error(), probs...)
			return
		}
		api.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	switch res.Outcome {
	case "duplicate":
		status = http.StatusOK
	case "update_pending":
		status = http.StatusAccepted
	}
	writeJSON(w, status, res)
}

// capPath extracts the element path a CAP problem names ("alert/info[0]/…: rule").
func capPath(p string) string {
	if i := strings.Index(p, ": "); i > 0 && strings.Contains(p[:i], "alert") {
		f := p[:i]
		if j := strings.LastIndex(f, " "); j >= 0 {
			f = f[j+1:]
		}
		return f
	}
	return "cap"
}
