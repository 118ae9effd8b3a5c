package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/lifecycle"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

//go:embed openapi.yaml
var openAPISpec []byte

// MaxBody is the largest JSON request body accepted.
const MaxBody = 1 << 20

// API serves /api/v1.
type API struct {
	Service *lifecycle.Service
	Store   *dispatch.Store
	Logger  *slog.Logger
	// Login bounds password guessing (zero fields: documented defaults).
	Login LoginLimits
	// Throttle counts failed logins on every node (alertd: Redis); nil
	// counts on this node only.
	Throttle LoginThrottle
	// SessionLifetime ends a console session this long after login
	// (default 12h); SessionIdle ends it when unused this long (0: never).
	SessionLifetime time.Duration
	SessionIdle     time.Duration
	loginOnce       sync.Once
	loginSt         *loginState
	// Speakers, when set, reports live loudspeaker status for GET /speakers.
	SpeakerStatus func(ctx context.Context) (any, error)
	// SpeakersLive, when set, answers the hub's live state of the devices
	// named, for GET /speakers with parameters (the fleet page); devices
	// that never connected and hold nothing may be absent.
	SpeakersLive func(ctx context.Context, ids []string) (map[string]SpeakerLive, error)
	fleetMu      sync.Mutex // one census at a time; the others wait for it (fleet.go)
	fleetLast    *fleetCounts
	// NewSpeakerCredential returns (secret, hash hex) for enrolment.
	NewSpeakerCredential func() (secret, hashHex string)
	// BaseURL is how others reach this platform (CAP links, feed).
	BaseURL string
	// CAPRules decide whether imported CAP warnings are issued or reviewed.
	CAPRules []lifecycle.CAPRule
	// DisconnectSpeaker closes a revoked device's connection on any node.
	DisconnectSpeaker func(ctx context.Context, id string) error
	// SpeakerPublicKey is the platform's Ed25519 public key (base64) that
	// loudspeaker agents verify commands with.
	SpeakerPublicKey string
	// UnconfirmedAfter, per channel, is how long a sent record waits for
	// its receipt before progress shows it as unconfirmed (sms: 10 min).
	UnconfirmedAfter map[string]time.Duration
	// ReportEvents tells open consoles of a field report change (alertd:
	// the WebSocket hub's progress feed, across nodes through Redis).
	ReportEvents func(ctx context.Context, alertID string, ev ReportEvent) error
	// Shelters applies shelter occupancy reports; nil: the store.
	Shelters ShelterOccupancy
}

type ctxKey int

const actorKey ctxKey = 1

// ActorFrom returns the authenticated actor of a request context.
func ActorFrom(ctx context.Context) (dispatch.Actor, bool) {
	a, ok := ctx.Value(actorKey).(dispatch.Actor)
	return a, ok
}

// APIError is the JSON error body.
type APIError struct {
	Code     string               `json:"code"`
	Message  string               `json:"message"`
	Problems []warning.FieldError `json:"problems,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string, problems ...warning.FieldError) {
	writeJSON(w, status, map[string]APIError{"error": {Code: code, Message: msg, Problems: problems}})
}

// fail maps domain errors to HTTP answers.
func (api *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *dispatch.ValidationError
	var fe *warning.FieldError
	var le *targeting.LineError
	switch {
	case errors.As(err, &ve):
		writeError(w, http.StatusUnprocessableEntity, "validation", ve.Error(), ve.Problems...)
	case errors.As(err, &fe):
		// err may carry context (a line number) around the field error.
		writeError(w, http.StatusUnprocessableEntity, "validation", err.Error(), *fe)
	case errors.As(err, &le):
		writeError(w, http.StatusUnprocessableEntity, "validation", le.Error(), warning.FieldError{Field: le.Field, Rule: le.Rule, Value: le.Value})
	case errors.Is(err, dispatch.ErrForbidden):
		writeError(w, http.StatusForbidden, "forbidden", err.Error())
	case errors.Is(err, dispatch.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, dispatch.ErrConflict), errors.Is(err, dispatch.ErrUserExists):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, dispatch.ErrBadCredentials):
		writeError(w, http.StatusUnauthorized, "unauthorized", "bad credentials")
	default:
		// The Go error may name tables, files or addresses: it goes to the
		// log under the request id, and the client gets only the id.
		id := RequestIDFrom(r.Context())
		api.log().Error("request failed", "method", r.Method, "path", r.URL.Path, "request_id", id, "err", err)
		msg := "internal error"
		if id != "" {
			msg += " (request id " + id + ")"
		}
		writeError(w, http.StatusInternalServerError, "internal", msg)
	}
}

func (api *API) log() *slog.Logger {
	if api.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return api.Logger
}

// decode reads a JSON body strictly: unknown fields and trailing data are
// errors that name what is wrong.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &se):
			writeError(w, http.StatusBadRequest, "bad_json", fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, err))
		case errors.As(err, &te):
			writeError(w, http.StatusBadRequest, "bad_json", fmt.Sprintf("field %q: must be %s, got %s", te.Field, te.Type, te.Value),
				warning.FieldError{Field: te.Field, Rule: "must be " + te.Type.String(), Value: te.Value})
		case errors.As(err, &mbe):
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body over %d bytes", MaxBody))
		case errors.Is(err, io.EOF):
			writeError(w, http.StatusBadRequest, "bad_json", "empty body: a JSON object is required")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			writeError(w, http.StatusBadRequest, "bad_json", "unknown field "+f, warning.FieldError{Field: f, Rule: "unknown field"})
		default:
			writeError(w, http.StatusBadRequest, "bad_json", "malformed JSON: "+err.Error())
		}
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad_json", "trailing data after the JSON object")
		return false
	}
	return true
}

// Router is where routes are registered (*http.ServeMux is one).
type Router interface {
	Handle(pattern string, h http.Handler)
}

// Routes registers the API on mux.
func (api *API) Routes(mux Router) {
	h := func(pattern string, min dispatch.Role, fn func(w http.ResponseWriter, r *http.Request, by dispatch.Actor)) {
		mux.Handle(pattern, api.auth(min, fn))
	}
	mux.Handle("GET /api/v1/openapi.yaml", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openAPISpec)
	}))
	mux.Handle("POST /api/v1/login", http.HandlerFunc(api.login))
	mux.Handle("POST /api/v1/logout", http.HandlerFunc(api.logout))
	h("GET /api/v1/me", dispatch.RoleViewer, func(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
		// reason_required_levels lets the console ask for an approval reason before the API refuses one.
		me := map[string]any{"name": by.Name, "role": by.Role, "scope": by.Scope, "scope_label": by.Scope.Label(api.tree())}
		if api.Service != nil {
			me["reason_required_levels"] = api.Service.Policy.ReasonRequiredLevels
		}
		writeJSON(w, 200, me)
	})
	mux.Handle("GET /api/v1/events", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, warning.Events()) }))
	mux.Handle("GET /api/v1/groups", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, targeting.Groups) }))
	mux.Handle("GET /api/v1/regions", http.HandlerFunc(api.regions))
	h("POST /api/v1/alerts", dispatch.RoleOperator, api.createAlert)
	h("GET /api/v1/alerts", dispatch.RoleViewer, api.listAlerts)
	h("GET /api/v1/alerts/{id}", dispatch.RoleViewer, api.getAlert)
	h("POST /api/v1/alerts/{id}/approve", dispatch.RoleApprover, api.approve)
	h("POST /api/v1/alerts/{id}/reject", dispatch.RoleApprover, api.reject)
	h("POST /api/v1/alerts/{id}/cancel", dispatch.RoleOperator, api.end(warning.KindCancel))
	h("POST /api/v1/alerts/{id}/allclear", dispatch.RoleOperator, api.end(warning.KindAllClear))
	h("POST /api/v1/alerts/{id}/update", dispatch.RoleOperator, api.update)
	h("GET /api/v1/alerts/{id}/deliveries", dispatch.RoleViewer, api.deliveries)
	h("GET /api/v1/alerts/{id}/report", dispatch.RoleViewer, api.report)
	h("GET /api/v1/alerts/{id}/guidance", dispatch.RoleViewer, api.guidance)
	mux.Handle("GET /api/v1/alerts/{id}/cap", http.HandlerFunc(api.capExport))
	mux.Handle("GET /api/v1/feed.atom", http.HandlerFunc(api.feed))
	h("POST /api/v1/cap", dispatch.RoleOperator, api.capImport)
	h("POST /api/v1/schedules", dispatch.RoleOperator, api.createSchedule)
	h("GET /api/v1/schedules", dispatch.RoleViewer, api.listSchedules)
	h("DELETE /api/v1/schedules/{id}", dispatch.RoleOperator, api.stopSchedule)
	h("POST /api/v1/schedules/{id}/approve", dispatch.RoleApprover, api.approveSchedule)
	h("POST /api/v1/audience/preview", dispatch.RoleViewer, api.preview)
	h("POST /api/v1/audience/count", dispatch.RoleViewer, api.aimCount)
	h("POST /api/v1/users", dispatch.RoleAdmin, api.createUser)
	h("GET /api/v1/users", dispatch.RoleAdmin, api.listUsers)
	h("POST /api/v1/users/{name}/disable", dispatch.RoleAdmin, api.setDisabled(true))
	h("POST /api/v1/users/{name}/enable", dispatch.RoleAdmin, api.setDisabled(false))
	h("POST /api/v1/users/{name}/rotate-token", dispatch.RoleViewer, api.rotateToken) // admin, or one's own
	h("POST /api/v1/users/{name}/password", dispatch.RoleViewer, api.setPassword)     // admin, or one's own with the old one
	h("POST /api/v1/users/{name}/scope", dispatch.RoleAdmin, api.setScope)
	h("GET /api/v1/outbox", dispatch.RoleViewer, api.outbox)
	h("GET /api/v1/audit", dispatch.RoleViewer, api.audit)
	h("GET /api/v1/audit/verify", dispatch.RoleAdmin, api.auditVerify)
	h("GET /api/v1/audit/export", dispatch.RoleAdmin, api.auditExport)
	h("POST /api/v1/regions/import", dispatch.RoleAdmin, api.importRegions)
	h("POST /api/v1/residents/import", dispatch.RoleAdmin, api.importResidents)
	h("POST /api/v1/speakers/import", dispatch.RoleAdmin, api.importSpeakers)
	h("GET /api/v1/speakers", dispatch.RoleViewer, api.listSpeakers)
	h("POST /api/v1/shelters/import", dispatch.RoleAdmin, api.importShelters)
	h("GET /api/v1/shelters", dispatch.RoleViewer, api.listShelters)
	// Shelter names and places reach the air in evacuation guidance: like
	// imports, only an admin changes them.
	h("PUT /api/v1/shelters/{id}", dispatch.RoleAdmin, api.putShelter)
	mux.Handle("GET /api/v1/speakers/key", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if api.SpeakerPublicKey == "" {
			writeError(w, http.StatusNotFound, "not_found", "the loudspeaker hub is not enabled")
			return
		}
		writeJSON(w, 200, map[string]string{"public_key": api.SpeakerPublicKey, "algorithm": "ed25519"})
	}))
	h("POST /api/v1/speakers/{id}/enroll", dispatch.RoleAdmin, api.enrollSpeaker)
	h("POST /api/v1/speakers/{id}/revoke", dispatch.RoleAdmin, api.revokeSpeaker)
	h("POST /api/v1/field-endpoints", dispatch.RoleAdmin, api.addFieldEndpoint)
	h("GET /api/v1/field-endpoints", dispatch.RoleViewer, func(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
		fs, err := api.Store.FieldEndpoints(r.Context())
		if err != nil {
			api.fail(w, r, err)
			return
		}
		writeJSON(w, 200, map[string]any{"field_endpoints": fs})
	})
	api.reportRoutes(h)
}

// RemoteAddr is the client address used in the audit log.
func RemoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

const sessionCookie = "alertcast_session"

// Authenticate resolves a bearer token or a session cookie to an actor.
// Cookie-authenticated state-changing requests must carry the CSRF token
// in X-CSRF-Token. A session is looked up on the server every time, so
// logout, a disabled user or a changed password end it at once.
func (api *API) Authenticate(r *http.Request) (dispatch.Actor, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return dispatch.Actor{}, fmt.Errorf("%w: Authorization must be \"Bearer TOKEN\"", dispatch.ErrBadCredentials)
		}
		u, err := api.Store.UserByToken(ctx, strings.TrimSpace(tok))
		if err != nil {
			return dispatch.Actor{}, err
		}
		return dispatch.Actor{Name: u.Name, Role: u.Role, Remote: RemoteAddr(r), Scope: u.Scope}, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return dispatch.Actor{}, dispatch.ErrBadCredentials
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if !hmac.Equal([]byte(r.Header.Get("X-CSRF-Token")), []byte(csrfFor(c.Value))) {
			return dispatch.Actor{}, fmt.Errorf("%w: missing or wrong X-CSRF-Token", dispatch.ErrForbidden)
		}
	}
	u, err := api.Store.SessionUser(ctx, c.Value, api.SessionIdle)
	if err != nil {
		return dispatch.Actor{}, err
	}
	return dispatch.Actor{Name: u.Name, Role: u.Role, Remote: RemoteAddr(r), Scope: u.Scope}, nil
}

// TokenRole authenticates a bearer token or a session id (for WebSocket
// consoles and voice pages): the user's name and role.
func (api *API) TokenRole(ctx context.Context, token string) (string, dispatch.Role, bool) {
	var u dispatch.User
	var err error
	if strings.HasPrefix(token, sessionPrefix) {
		u, err = api.Store.SessionUser(ctx, token, api.SessionIdle)
	} else {
		u, err = api.Store.UserByToken(ctx, token)
	}
	if err != nil {
		return "", dispatch.RoleUnknown, false
	}
	return u.Name, u.Role, true
}

func (api *API) auth(min dispatch.Role, fn func(w http.ResponseWriter, r *http.Request, by dispatch.Actor)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		by, err := api.Authenticate(r)
		if err != nil {
			if errors.Is(err, dispatch.ErrForbidden) {
				writeError(w, http.StatusForbidden, "forbidden", err.Error())
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="alertcast"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "authentication required: Authorization: Bearer TOKEN, or log in")
			return
		}
		if !by.Role.Can(min) {
			writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("role %s may not do this (needs %s)", by.Role, min))
			return
		}
		fn(w, r.WithContext(context.WithValue(r.Context(), actorKey, by)), by)
	})
}

// csrfFor derives the CSRF token of a session from its secret id: only
// a page that logged in (and was told it) knows it, and every node
// derives the same without a shared key.
func csrfFor(session string) string {
	m := hmac.New(sha256.New, []byte(session))
	m.Write([]byte("alertcast csrf"))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

func (api *API) regions(w http.ResponseWriter, r *http.Request) {
	tree := api.Service.Population.Tree()
	type node struct {
		targeting.Region
		Children []targeting.Region `json:"villages,omitempty"`
	}
	var out []node
	for _, t := range tree.Townships() {
		out = append(out, node{Region: t, Children: tree.Children(t.Code)})
	}
	// The counties too, so a warning aimed at a whole county is named.
	writeJSON(w, 200, map[string]any{"counties": tree.Counties(), "townships": out})
}

// AlertView is a warning with its delivery progress.
type AlertView struct {
	*dispatch.Alert
	Dispatch string                       `json:"dispatch,omitempty"`
	Progress map[string]dispatch.Progress `json:"progress"`
	// Overall is the one figure every screen shows (see Overall).
	Overall  dispatch.Overall  `json:"overall"`
	Versions []*dispatch.Alert `json:"versions,omitempty"`
	Audio    *channels.Audio   `json:"audio,omitempty"`
}

func (api *API) view(ctx context.Context, a *dispatch.Alert, withVersions bool) (*AlertView, error) {
	per, ov, err := api.progress(ctx, a)
	if err != nil {
		return nil, err
	}
	v := &AlertView{Alert: a, Progress: per, Overall: ov}
	if withVersions {
		if v.Versions, err = api.Store.AlertVersions(ctx, a.ID); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (api *API) createAlert(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	var in dispatch.AlertInput
	if !decode(w, r, &in) {
		return
	}
	idem := r.Header.Get("Idempotency-Key")
	if len(idem) > 200 {
		writeError(w, http.StatusBadRequest, "validation", "Idempotency-Key too long (max 200)")
		return
	}
	if idem != "" {
		idem = by.Name + ":" + idem
	}
	source := "api"
	if r.Header.Get("X-Alertcast-Client") == "console" {
		source = "console"
	}
	a, existed, err := api.Service.Create(r.Context(), by, in, idem, source)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	v := api.emptyView(a, "")
	switch {
	case a.State == warning.StatePending:
		v.Dispatch = "awaiting_approval"
	case api.Service.Engine != nil && !api.Service.Engine.QueueReady():
		v.Dispatch = "waiting_for_queue: stored; it is queued as soon as Redis is reachable"
	default:
		v.Dispatch = "queued"
	}
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	}
	w.Header().Set("Location", "/api/v1/alerts/"+a.ID)
	writeJSON(w, status, v)
}

func (api *API) listAlerts(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if st := q.Get("state"); st != "" {
		if _, err := warning.ParseState(st); err != nil {
			writeError(w, 400, "validation", err.Error(), warning.FieldError{Field: "state", Rule: "unknown state", Value: st})
			return
		}
	}
	list, err := api.Store.ListAlerts(r.Context(), dispatch.AlertFilter{State: q.Get("state"), Before: q.Get("before"), Limit: limit})
	if err != nil {
		api.fail(w, r, err)
		return
	}
	out := make([]*AlertView, 0, len(list))
	scope := api.Service.Scope(false)
	for _, a := range list {
		if !scope.Touches(by, a) {
			continue // another county's warning
		}
		v, err := api.view(r.Context(), a, false)
		if err != nil {
			api.fail(w, r, err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, 200, map[string]any{"alerts": out})
}

func (api *API) getAlert(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	a, ok := api.scopedAlert(w, r, by, false)
	if !ok {
		return
	}
	v, err := api.view(r.Context(), a, true)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	v.Audio = api.Service.Programme(r.Context(), a)
	if plans, err := api.Store.Plans(r.Context(), a.ID, a.Version); err == nil && len(plans) > 0 {
		writeJSON(w, 200, struct {
			*AlertView
			Plans map[string]dispatch.Plan `json:"plans"`
		}{v, plans})
		return
	}
	writeJSON(w, 200, v)
}

// guidance serves the per-village guidance frozen with a warning's
// pending proposal (what an approver approves) or, when none waits, its
// current version: {"guidance": null} when that version asks no action.
func (api *API) guidance(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	v, err := api.Service.VersionGuidance(r.Context(), r.PathValue("id"))
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"guidance": v})
}

type reasonBody struct {
	Reason string `json:"reason"`
	// GuidanceDigest (approve only) binds the approval to the guidance
	// the approver reviewed (GET /alerts/{id}/guidance).
	GuidanceDigest string `json:"guidance_digest,omitempty"`
}

func readReason(w http.ResponseWriter, r *http.Request) (string, bool) {
	b, ok := readReasonBody(w, r)
	return b.Reason, ok
}

func readReasonBody(w http.ResponseWriter, r *http.Request) (reasonBody, bool) {
	var b reasonBody
	if r.ContentLength == 0 {
		return b, true
	}
	if !decode(w, r, &b) {
		return b, false
	}
	if len(b.Reason) > 1000 {
		writeError(w, 422, "validation", "reason too long", warning.FieldError{Field: "reason", Rule: "at most 1000 bytes"})
		return b, false
	}
	if d := b.GuidanceDigest; d != "" && (len(d) != 64 || strings.Trim(d, "0123456789abcdef") != "") {
		writeError(w, 422, "validation", "guidance_digest must be the 64 hex digits of GET /alerts/{id}/guidance's digest",
			warning.FieldError{Field: "guidance_digest", Rule: "64 lowercase hex digits", Value: dispatch.Clip(d, 70)})
		return b, false
	}
	return b, true
}

func (api *API) approve(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	body, ok := readReasonBody(w, r)
	if !ok {
		return
	}
	a, err := api.Service.ApproveSeen(r.Context(), by, r.PathValue("id"), body.Reason, body.GuidanceDigest)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 200, api.emptyView(a, "queued"))
}

func (api *API) reject(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	reason, ok := readReason(w, r)
	if !ok {
		return
	}
	a, err := api.Service.Reject(r.Context(), by, r.PathValue("id"), reason)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 200, api.emptyView(a, ""))
}

func (api *API) end(kind warning.Kind) func(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	return func(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
		reason, ok := readReason(w, r)
		if !ok {
			return
		}
		a, err := api.Service.End(r.Context(), by, r.PathValue("id"), kind, reason)
		if err != nil {
			api.fail(w, r, err)
			return
		}
		writeJSON(w, 200, api.emptyView(a, ""))
	}
}

func (api *API) update(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	var in dispatch.AlertInput
	if !decode(w, r, &in) {
		return
	}
	a, err := api.Service.Update(r.Context(), by, r.PathValue("id"), in)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	if a.Pending != nil {
		// The update waits for a second officer; the version on air stays.
		writeJSON(w, http.StatusAccepted, api.emptyView(a, "awaiting_approval"))
		return
	}
	writeJSON(w, 200, api.emptyView(a, "queued"))
}

func (api *API) deliveries(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	q := r.URL.Query()
	a, ok := api.scopedAlert(w, r, by, true)
	if !ok {
		return
	}
	f := dispatch.DeliveryFilter{AlertID: a.ID, Version: a.Version, Channel: q.Get("channel"), After: q.Get("cursor")}
	if v := q.Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > a.Version {
			writeError(w, 400, "validation", "version out of range", warning.FieldError{Field: "version", Rule: fmt.Sprintf("1..%d", a.Version), Value: v})
			return
		}
		f.Version = n
	}
	if st := q.Get("state"); st != "" {
		s, err := channels.ParseState(st)
		if err != nil {
			writeError(w, 400, "validation", err.Error(), warning.FieldError{Field: "state", Rule: "planned, sent, delivered, failed, expired or revoked", Value: st})
			return
		}
		f.State = s
	}
	f.Limit, _ = strconv.Atoi(q.Get("limit"))
	list, err := api.Store.ListDeliveries(r.Context(), f)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	resp := map[string]any{"deliveries": list}
	if len(list) == f.PageSize() { // a full page: there may be more
		last := list[len(list)-1]
		resp["next_cursor"] = last.Channel + "/" + last.Recipient
	}
	writeJSON(w, 200, resp)
}

func (api *API) preview(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	var in dispatch.AlertInput
	if !decode(w, r, &in) {
		return
	}
	p, err := api.Service.PreviewAudience(r.Context(), in)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 200, p)
}

func (api *API) outbox(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	if !by.Scope.All() {
		// Every county's addresses and texts: not for a scoped account.
		writeError(w, http.StatusForbidden, "forbidden", "the outbox holds every county's recipients: your scope is "+by.Scope.Label(api.tree()))
		return
	}
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	offset, _ := strconv.Atoi(q.Get("offset"))
	recs, total, err := api.Store.ListOutbox(r.Context(), dispatch.OutboxFilter{Key: q.Get("alert"), Channel: q.Get("channel"), Limit: limit, Offset: max(offset, 0)})
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"note": "outbox: messages recorded instead of sent because no real channel is configured for them",
		"total": total, "records": recs})
}

// scopedAlert reads warning {id} for by: a warning that does not touch
// by's scope is not found (another county's is none of theirs); with
// whole, one that reaches beyond it is refused, because what is asked
// names its recipients (phones, villages) everywhere it reached.
func (api *API) scopedAlert(w http.ResponseWriter, r *http.Request, by dispatch.Actor, whole bool) (*dispatch.Alert, bool) {
	a, err := api.Store.Alert(r.Context(), r.PathValue("id"))
	if err != nil {
		api.fail(w, r, err)
		return nil, false
	}
	if by.Scope.All() {
		return a, true
	}
	g := api.Service.Scope(false)
	if !g.Touches(by, a) {
		api.fail(w, r, fmt.Errorf("warning %s: %w", a.ID, dispatch.ErrNotFound))
		return nil, false
	}
	if whole {
		if err := g.CheckAlert(by, a); err != nil {
			api.fail(w, r, fmt.Errorf("%w (its recipients outside your scope are not shown to you)", err))
			return nil, false
		}
	}
	return a, true
}
