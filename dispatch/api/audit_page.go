package api

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
)

// auditQuery is a parsed GET /api/v1/audit query.
type auditQuery struct {
	filter dispatch.AuditFilter
	limit  int
	before int64 // the cursor: entries below this seq
	// tail: ?after=SEQ, oldest first from there (the original answer,
	// for callers that follow the log); takes only alert and limit.
	tail   bool
	after  int64
	verify bool
	csv    bool
	lang   string
}

var auditParams = []string{"actor", "action", "alert", "since", "until", "limit", "cursor", "format", "lang", "verify", "after"}

const auditMaxLimit = 1000

func parseAuditQuery(q url.Values) (auditQuery, *warning.FieldError) {
	aq := auditQuery{limit: 100, lang: "en"}
	for k := range q {
		if !slices.Contains(auditParams, k) {
			return aq, &warning.FieldError{Field: k, Rule: "unknown parameter; known: " + strings.Join(auditParams, ", ")}
		}
		if len(q[k]) > 1 {
			return aq, &warning.FieldError{Field: k, Rule: "at most once"}
		}
	}
	text := func(name string, max int) (string, *warning.FieldError) {
		s := strings.TrimSpace(q.Get(name))
		if len(s) > max {
			return "", &warning.FieldError{Field: name, Rule: "at most " + strconv.Itoa(max) + " bytes", Value: trunc(s)}
		}
		return s, nil
	}
	var fe *warning.FieldError
	if aq.filter.Actor, fe = text("actor", 128); fe != nil {
		return aq, fe
	}
	if aq.filter.Action, fe = text("action", 64); fe != nil {
		return aq, fe
	}
	if aq.filter.AlertID, fe = text("alert", 128); fe != nil {
		return aq, fe
	}
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"since", &aq.filter.Since}, {"until", &aq.filter.Until}} {
		if s := q.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return aq, &warning.FieldError{Field: p.name, Rule: "an RFC 3339 time, e.g. 2026-07-01T08:00:00+08:00", Value: trunc(s)}
			}
			*p.to = t
		}
	}
	if !aq.filter.Since.IsZero() && !aq.filter.Until.IsZero() && !aq.filter.Since.Before(aq.filter.Until) {
		return aq, &warning.FieldError{Field: "until", Rule: "after since", Value: q.Get("until")}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > auditMaxLimit {
			return aq, &warning.FieldError{Field: "limit", Rule: "an integer from 1 to " + strconv.Itoa(auditMaxLimit), Value: trunc(s)}
		}
		aq.limit = n
	}
	if s := q.Get("cursor"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return aq, &warning.FieldError{Field: "cursor", Rule: "the next_cursor of a previous answer", Value: trunc(s)}
		}
		aq.before = n
	}
	switch f := q.Get("format"); f {
	case "", "json":
	case "csv":
		aq.csv = true
	default:
		return aq, &warning.FieldError{Field: "format", Rule: "json or csv", Value: trunc(f)}
	}
	switch l := q.Get("lang"); l {
	case "":
	case "zh", "en":
		aq.lang = l
	default:
		return aq, &warning.FieldError{Field: "lang", Rule: "zh or en (the CSV's header row)", Value: trunc(l)}
	}
	switch v := q.Get("verify"); v {
	case "", "0":
	case "1":
		aq.verify = true
	default:
		return aq, &warning.FieldError{Field: "verify", Rule: "1 to walk the whole chain, or absent", Value: trunc(v)}
	}
	if q.Has("after") {
		n, err := strconv.ParseInt(q.Get("after"), 10, 64)
		if err != nil || n < 0 {
			return aq, &warning.FieldError{Field: "after", Rule: "a sequence number (0 for the start)", Value: trunc(q.Get("after"))}
		}
		for _, k := range []string{"actor", "action", "since", "until", "cursor", "format"} {
			if q.Has(k) {
				return aq, &warning.FieldError{Field: k, Rule: "not with after: after follows the log oldest first and takes only alert and limit; newest-first pages take cursor"}
			}
		}
		aq.tail, aq.after = true, n
	}
	return aq, nil
}

// auditAnswer is GET /api/v1/audit's body.
type auditAnswer struct {
	Entries     []dispatch.AuditEntry `json:"entries"`
	NextCursor  string                `json:"next_cursor,omitempty"`
	Verified    *int64                `json:"verified,omitempty"`
	VerifyError string                `json:"verify_error,omitempty"`
}

// audit answers GET /api/v1/audit: the log newest first, filtered, in
// keyset pages (cursor: entries below that sequence number); ?format=csv
// streams every matching entry; ?after=SEQ follows it oldest first.
func (api *API) audit(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	aq, fe := parseAuditQuery(r.URL.Query())
	if fe != nil {
		writeError(w, http.StatusBadRequest, "bad_parameter", fe.Error(), *fe)
		return
	}
	ctx := r.Context()
	if aq.csv {
		api.auditCSV(w, r, by, aq)
		return
	}
	var ans auditAnswer
	var err error
	if aq.tail {
		ans.Entries, err = api.Store.AuditLog(ctx, aq.after, aq.filter.AlertID, aq.limit)
	} else {
		ans.Entries, err = api.Store.AuditPage(ctx, aq.filter, aq.before, aq.limit+1)
		if len(ans.Entries) > aq.limit {
			ans.Entries = ans.Entries[:aq.limit]
			ans.NextCursor = strconv.FormatInt(ans.Entries[aq.limit-1].Seq, 10)
		}
	}
	if err != nil {
		api.fail(w, r, err)
		return
	}
	if ans.Entries == nil {
		ans.Entries = []dispatch.AuditEntry{}
	}
	if aq.verify {
		n, err := api.Store.VerifyAudit(ctx)
		ans.Verified = &n
		if err != nil {
			ans.VerifyError = err.Error()
		}
	}
	writeJSON(w, 200, ans)
}

var auditCSVHeader = map[string][]string{
	"en": {"seq", "time (UTC+8)", "actor", "action", "alert", "from", "detail", "hash"},
	"zh": {"序号", "时间（北京时间）", "操作人", "操作", "预警", "来源地址", "详情", "哈希"},
}

// auditCSV streams every entry matching aq, newest first, as CSV (with a
// UTF-8 byte-order mark for spreadsheets). Taking the log away is itself
// audited, as the JSON-lines export is.
func (api *API) auditCSV(w http.ResponseWriter, r *http.Request, by dispatch.Actor, aq auditQuery) {
	ctx := r.Context()
	if err := api.Store.Audit(ctx, dispatch.AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "audit.export",
		Detail: dispatch.AuditDetail(map[string]any{"format": "csv", "filter": r.URL.RawQuery})}); err != nil {
		api.log().Warn("audit CSV: could not record the export", "err", err)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="alertcast-audit-`+time.Now().In(beijing).Format("20060102T150405")+`.csv"`)
	_, _ = w.Write([]byte("\ufeff"))
	cw := csv.NewWriter(w)
	_ = cw.Write(auditCSVHeader[aq.lang])
	before := aq.before
	for {
		page, err := api.Store.AuditPage(ctx, aq.filter, before, auditMaxLimit)
		if err != nil {
			api.log().Error("audit CSV export failed part way", "request_id", RequestIDFrom(ctx), "err", err)
			break
		}
		for _, e := range page {
			_ = cw.Write(csvRow(strconv.FormatInt(e.Seq, 10), e.At.In(beijing).Format(time.RFC3339), e.Actor, e.Action, e.AlertID, e.Remote, e.Detail, e.Hash))
		}
		if len(page) < auditMaxLimit || cw.Error() != nil {
			break
		}
		before = page[len(page)-1].Seq
	}
	cw.Flush()
}
