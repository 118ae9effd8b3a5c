package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/alertcast/alertcast/dispatch"
)

// auditVerifyAnswer is GET /api/v1/audit/verify's body.
type auditVerifyAnswer struct {
	dispatch.AuditReport
	NodeKeyID string `json:"node_key_id,omitempty"` // the key this node appends with
	Message   string `json:"message,omitempty"`     // why ok is false
}

// auditVerify walks the whole chain on this node with its audit key and
// reports the first broken entry. A broken chain is an answer (200, ok
// false), not a server error.
func (api *API) auditVerify(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	rep, err := api.Store.VerifyAuditChain(r.Context())
	ans := auditVerifyAnswer{AuditReport: rep, NodeKeyID: api.Store.AuditKeyID()}
	if err != nil {
		if !errors.Is(err, dispatch.ErrAuditChain) && !errors.Is(err, dispatch.ErrAuditNoKey) {
			api.fail(w, r, err)
			return
		}
		ans.OK, ans.Message = false, err.Error()
	}
	writeJSON(w, 200, ans)
}

// auditExport streams the whole audit log as JSON lines (VerifyAuditExport
// reads them). The export itself is audited first. A read error half way
// leaves the file without its end line, which the verifier reports as cut
// short.
func (api *API) auditExport(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	ctx := r.Context()
	if err := api.Store.Audit(ctx, dispatch.AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "audit.export"}); err != nil {
		// The log is exported even when it cannot be appended to: that is
		// when it is needed most.
		api.log().Warn("audit export: could not record the export", "err", err)
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="alertcast-audit-`+time.Now().UTC().Format("20060102T150405Z")+`.jsonl"`)
	if _, err := api.Store.ExportAudit(ctx, w); err != nil {
		api.log().Error("audit export failed part way", "err", err)
	}
}
