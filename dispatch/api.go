package dispatch

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
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

//go:embed openapi.yaml
var openAPISpec []byte

// MaxBody is the largest JSON request body accepted.
const MaxBody = 1 << 20

// API serves /api/v1.
type API struct {
	Service *Service
	Store   *Store
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
	// NewSpeakerCredential returns (secret, hash hex) for enrolment.
	NewSpeakerCredential func() (secret, hashHex string)
	// BaseURL is how others reach this platform (CAP links, feed).
	BaseURL string
	// CAPRules decide whether imported CAP warnings are issued or reviewed.
	CAPRules []CAPRule
	// DisconnectSpeaker closes a revoked device's connection on any node.
	DisconnectSpeaker func(ctx context.Context, id string) error
	// SpeakerPublicKey is the platform's Ed25519 public key (base64) that
	// loudspeaker agents verify commands with.
	SpeakerPublicKey string
	// UnconfirmedAfter, per channel, is how long a sent record waits for
	// its receipt before progress shows it as unconfirmed (sms: 10 min).
	UnconfirmedAfter map[string]time.Duration
}

type ctxKey int

const actorKey ctxKey = 1

// ActorFrom returns the authenticated actor of a request context.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey).(Actor)
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
	var ve *ValidationError
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
	case errors.Is(err, ErrForbidden):
		writeError(w, http.StatusForbidden, "forbidden", err.Error())
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, ErrConflict), errors.Is(err, ErrUserExists):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, ErrBadCredentials):
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
	h := func(pattern string, min Role, fn func(w http.ResponseWriter, r *http.Request, by Actor)) {
		mux.Handle(pattern, api.auth(min, fn))
	}
	mux.Handle("GET /api/v1/openapi.yaml", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openAPISpec)
	}))
	mux.Handle("POST /api/v1/login", http.HandlerFunc(api.login))
	mux.Handle("POST /api/v1/logout", http.HandlerFunc(api.logout))
	h("GET /api/v1/me", RoleViewer, func(w http.ResponseWriter, r *http.Request, by Actor) {
		// reason_required_levels lets the console ask for an approval reason before the API refuses one.
		me := map[string]any{"name": by.Name, "role": by.Role}
		if api.Service != nil {
			me["reason_required_levels"] = api.Service.Policy.ReasonRequiredLevels
		}
		writeJSON(w, 200, me)
	})
	mux.Handle("GET /api/v1/events", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, warning.Events()) }))
	mux.Handle("GET /api/v1/groups", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, targeting.Groups) }))
	mux.Handle("GET /api/v1/regions", http.HandlerFunc(api.regions))
	h("POST /api/v1/alerts", RoleOperator, api.createAlert)
	h("GET /api/v1/alerts", RoleViewer, api.listAlerts)
	h("GET /api/v1/alerts/{id}", RoleViewer, api.getAlert)
	h("POST /api/v1/alerts/{id}/approve", RoleApprover, api.approve)
	h("POST /api/v1/alerts/{id}/reject", RoleApprover, api.reject)
	h("POST /api/v1/alerts/{id}/cancel", RoleOperator, api.end(warning.KindCancel))
	h("POST /api/v1/alerts/{id}/allclear", RoleOperator, api.end(warning.KindAllClear))
	h("POST /api/v1/alerts/{id}/update", RoleOperator, api.update)
	h("GET /api/v1/alerts/{id}/deliveries", RoleViewer, api.deliveries)
	mux.Handle("GET /api/v1/alerts/{id}/cap", http.HandlerFunc(api.capExport))
	mux.Handle("GET /api/v1/feed.atom", http.HandlerFunc(api.feed))
	h("POST /api/v1/cap", RoleOperator, api.capImport)
	h("POST /api/v1/schedules", RoleOperator, api.createSchedule)
	h("GET /api/v1/schedules", RoleViewer, api.listSchedules)
	h("DELETE /api/v1/schedules/{id}", RoleOperator, api.stopSchedule)
	h("POST /api/v1/schedules/{id}/approve", RoleApprover, api.approveSchedule)
	h("POST /api/v1/audience/preview", RoleViewer, api.preview)
	h("POST /api/v1/users", RoleAdmin, api.createUser)
	h("GET /api/v1/users", RoleAdmin, api.listUsers)
	h("POST /api/v1/users/{name}/disable", RoleAdmin, api.setDisabled(true))
	h("POST /api/v1/users/{name}/enable", RoleAdmin, api.setDisabled(false))
	h("POST /api/v1/users/{name}/rotate-token", RoleViewer, api.rotateToken) // admin, or one's own
	h("POST /api/v1/users/{name}/password", RoleViewer, api.setPassword)     // admin, or one's own with the old one
	h("GET /api/v1/outbox", RoleViewer, api.outbox)
	h("GET /api/v1/audit", RoleViewer, api.audit)
	h("GET /api/v1/audit/verify", RoleAdmin, api.auditVerify)
	h("GET /api/v1/audit/export", RoleAdmin, api.auditExport)
	h("POST /api/v1/regions/import", RoleAdmin, api.importRegions)
	h("POST /api/v1/residents/import", RoleAdmin, api.importResidents)
	h("POST /api/v1/speakers/import", RoleAdmin, api.importSpeakers)
	h("GET /api/v1/speakers", RoleViewer, api.listSpeakers)
	mux.Handle("GET /api/v1/speakers/key", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if api.SpeakerPublicKey == "" {
			writeError(w, http.StatusNotFound, "not_found", "the loudspeaker hub is not enabled")
			return
		}
		writeJSON(w, 200, map[string]string{"public_key": api.SpeakerPublicKey, "algorithm": "ed25519"})
	}))
	h("POST /api/v1/speakers/{id}/enroll", RoleAdmin, api.enrollSpeaker)
	h("POST /api/v1/speakers/{id}/revoke", RoleAdmin, api.revokeSpeaker)
	h("POST /api/v1/field-endpoints", RoleAdmin, api.addFieldEndpoint)
	h("GET /api/v1/field-endpoints", RoleViewer, func(w http.ResponseWriter, r *http.Request, by Actor) {
		fs, err := api.Store.FieldEndpoints(r.Context())
		if err != nil {
			api.fail(w, r, err)
			return
		}
		writeJSON(w, 200, map[string]any{"field_endpoints": fs})
	})
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
func (api *API) Authenticate(r *http.Request) (Actor, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return Actor{}, fmt.Errorf("%w: Authorization must be \"Bearer TOKEN\"", ErrBadCredentials)
		}
		u, err := api.Store.UserByToken(ctx, strings.TrimSpace(tok))
		if err != nil {
			return Actor{}, err
		}
		return Actor{Name: u.Name, Role: u.Role, Remote: RemoteAddr(r)}, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return Actor{}, ErrBadCredentials
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if !hmac.Equal([]byte(r.Header.Get("X-CSRF-Token")), []byte(csrfFor(c.Value))) {
			return Actor{}, fmt.Errorf("%w: missing or wrong X-CSRF-Token", ErrForbidden)
		}
	}
	u, err := api.Store.SessionUser(ctx, c.Value, api.SessionIdle)
	if err != nil {
		return Actor{}, err
	}
	return Actor{Name: u.Name, Role: u.Role, Remote: RemoteAddr(r)}, nil
}

// TokenRole authenticates a bearer token or a session id (for WebSocket
// consoles and voice pages): the user's name and role.
func (api *API) TokenRole(ctx context.Context, token string) (string, Role, bool) {
	var u User
	var err error
	if strings.HasPrefix(token, sessionPrefix) {
		u, err = api.Store.SessionUser(ctx, token, api.SessionIdle)
	} else {
		u, err = api.Store.UserByToken(ctx, token)
	}
	if err != nil {
		return "", RoleUnknown, false
	}
	return u.Name, u.Role, true
}

func (api *API) auth(min Role, fn func(w http.ResponseWriter, r *http.Request, by Actor)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		by, err := api.Authenticate(r)
		if err != nil {
			if errors.Is(err, ErrForbidden) {
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

type loginBody struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Token    string `json:"token"`
}

// login checks a name and password (or a token) and starts a session.
// The session id travels only in the HttpOnly cookie; the answer carries
// the CSRF token for state-changing requests.
func (api *API) login(w http.ResponseWriter, r *http.Request) {
	var b loginBody
	if !decode(w, r, &b) {
		return
	}
	if b.Token == "" && (b.Name == "" || b.Password == "") {
		writeError(w, http.StatusBadRequest, "validation", "name and password, or token, are required",
			warning.FieldError{Field: "password", Rule: "required with name (or give token)"})
		return
	}
	ctx := r.Context()
	addr := RemoteAddr(r)
	user := b.Name
	if b.Token != "" {
		user = "" // a token login counts against its address only
	}
	if wait, who := api.loginBlocked(ctx, user, addr); wait > 0 {
		api.loginFailed(ctx, user, addr, "throttled", false)
		tooManyLogins(w, wait, who)
		return
	}
	var u User
	var err error
	if b.Token != "" {
		u, err = api.Store.UserByToken(ctx, b.Token)
	} else {
		release, ok := api.loginState().gate.acquire(ctx)
		if !ok {
			hashBusy(w)
			return
		}
		u, err = api.Store.UserByPassword(ctx, b.Name, b.Password)
		release()
	}
	if err != nil {
		if !errors.Is(err, ErrBadCredentials) {
			api.fail(w, r, err)
			return
		}
		api.loginFailed(ctx, user, addr, "bad_credentials", true)
		writeError(w, http.StatusUnauthorized, "unauthorized", "wrong name, password or token")
		return
	}
	if user != "" {
		api.loginSucceeded(ctx, user)
	}
	sess := NewSessionID()
	life := api.sessionLifetime()
	if err := api.Store.CreateSession(ctx, sess, u.Name, time.Now().Add(life)); err != nil {
		api.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sess, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: int(life / time.Second)})
	_ = api.Store.Audit(ctx, AuditEntry{Actor: u.Name, Remote: addr, Action: "login"})
	writeJSON(w, 200, map[string]any{"name": u.Name, "role": u.Role, "csrf": csrfFor(sess),
		"expires": time.Now().Add(life).UTC().Format(time.RFC3339)})
}

// logout ends the session on the server, not only in the browser.
func (api *API) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		u, uerr := api.Store.SessionUser(r.Context(), c.Value, 0)
		if err := api.Store.DeleteSession(r.Context(), c.Value); err != nil {
			api.fail(w, r, err)
			return
		}
		if uerr == nil {
			_ = api.Store.Audit(r.Context(), AuditEntry{Actor: u.Name, Remote: RemoteAddr(r), Action: "logout"})
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
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
	writeJSON(w, 200, map[string]any{"townships": out})
}

// AlertView is a warning with its delivery progress.
type AlertView struct {
	*Alert
	Dispatch string              `json:"dispatch,omitempty"`
	Progress map[string]Progress `json:"progress"`
	// Overall is the one figure every screen shows (see Overall).
	Overall  Overall         `json:"overall"`
	Versions []*Alert        `json:"versions,omitempty"`
	Audio    *channels.Audio `json:"audio,omitempty"`
}

func (api *API) view(ctx context.Context, a *Alert, withVersions bool) (*AlertView, error) {
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

func (api *API) createAlert(w http.ResponseWriter, r *http.Request, by Actor) {
	var in AlertInput
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

func (api *API) listAlerts(w http.ResponseWriter, r *http.Request, by Actor) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if st := q.Get("state"); st != "" {
		if _, err := warning.ParseState(st); err != nil {
			writeError(w, 400, "validation", err.Error(), warning.FieldError{Field: "state", Rule: "unknown state", Value: st})
			return
		}
	}
	list, err := api.Store.ListAlerts(r.Context(), AlertFilter{State: q.Get("state"), Before: q.Get("before"), Limit: limit})
	if err != nil {
		api.fail(w, r, err)
		return
	}
	out := make([]*AlertView, 0, len(list))
	for _, a := range list {
		v, err := api.view(r.Context(), a, false)
		if err != nil {
			api.fail(w, r, err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, 200, map[string]any{"alerts": out})
}

func (api *API) getAlert(w http.ResponseWriter, r *http.Request, by Actor) {
	a, err := api.Store.Alert(r.Context(), r.PathValue("id"))
	if err != nil {
		api.fail(w, r, err)
		return
	}
	v, err := api.view(r.Context(), a, true)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	v.Audio = api.Service.programme(r.Context(), a)
	if plans, err := api.Store.Plans(r.Context(), a.ID, a.Version); err == nil && len(plans) > 0 {
		writeJSON(w, 200, struct {
			*AlertView
			Plans map[string]Plan `json:"plans"`
		}{v, plans})
		return
	}
	writeJSON(w, 200, v)
}

type reasonBody struct {
	Reason string `json:"reason"`
}

func readReason(w http.ResponseWriter, r *http.Request) (string, bool) {
	var b reasonBody
	if r.ContentLength == 0 {
		return "", true
	}
	if !decode(w, r, &b) {
		return "", false
	}
	if len(b.Reason) > 1000 {
		writeError(w, 422, "validation", "reason too long", warning.FieldError{Field: "reason", Rule: "at most 1000 bytes"})
		return "", false
	}
	return b.Reason, true
}

func (api *API) approve(w http.ResponseWriter, r *http.Request, by Actor) {
	reason, ok := readReason(w, r)
	if !ok {
		return
	}
	a, err := api.Service.Approve(r.Context(), by, r.PathValue("id"), reason)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 200, api.emptyView(a, "queued"))
}

func (api *API) reject(w http.ResponseWriter, r *http.Request, by Actor) {
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

func (api *API) end(kind warning.Kind) func(w http.ResponseWriter, r *http.Request, by Actor) {
	return func(w http.ResponseWriter, r *http.Request, by Actor) {
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

func (api *API) update(w http.ResponseWriter, r *http.Request, by Actor) {
	var in AlertInput
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

func (api *API) deliveries(w http.ResponseWriter, r *http.Request, by Actor) {
	q := r.URL.Query()
	a, err := api.Store.Alert(r.Context(), r.PathValue("id"))
	if err != nil {
		api.fail(w, r, err)
		return
	}
	f := DeliveryFilter{AlertID: a.ID, Version: a.Version, Channel: q.Get("channel"), After: q.Get("cursor")}
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

func (api *API) preview(w http.ResponseWriter, r *http.Request, by Actor) {
	var in AlertInput
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

type userBody struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password,omitempty"`
}

func (api *API) createUser(w http.ResponseWriter, r *http.Request, by Actor) {
	var b userBody
	if !decode(w, r, &b) {
		return
	}
	var ve ValidationError
	if b.Name == "" || len(b.Name) > 64 || strings.ContainsAny(b.Name, " \t\r\n/|") {
		ve.add("name", "required: 1-64 characters, no spaces, '/' or '|'", b.Name)
	}
	role, err := ParseRole(b.Role)
	if err != nil {
		ve.add("role", "must be viewer, operator, approver or admin", b.Role)
	}
	if b.Password != "" && len(b.Password) < 10 {
		ve.add("password", "at least 10 characters", "")
	}
	if len(ve.Problems) > 0 {
		api.fail(w, r, &ve)
		return
	}
	tok, err := api.Store.CreateUser(r.Context(), b.Name, role, b.Password, by)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"name": b.Name, "role": role, "token": tok,
		"note": "the token is shown once; it is stored hashed"})
}

func (api *API) listUsers(w http.ResponseWriter, r *http.Request, by Actor) {
	us, err := api.Store.Users(r.Context())
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"users": us})
}

func (api *API) outbox(w http.ResponseWriter, r *http.Request, by Actor) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	offset, _ := strconv.Atoi(q.Get("offset"))
	recs, total, err := api.Store.ListOutbox(r.Context(), OutboxFilter{Key: q.Get("alert"), Channel: q.Get("channel"), Limit: limit, Offset: max(offset, 0)})
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"note": "outbox: messages recorded instead of sent because no real channel is configured for them",
		"total": total, "records": recs})
}

func (api *API) audit(w http.ResponseWriter, r *http.Request, by Actor) {
	q := r.URL.Query()
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	list, err := api.Store.AuditLog(r.Context(), after, q.Get("alert"), limit)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	resp := map[string]any{"entries": list}
	if q.Get("verify") == "1" {
		n, err := api.Store.VerifyAudit(r.Context())
		resp["verified"] = n
		if err != nil {
			resp["verify_error"] = err.Error()
		}
	}
	writeJSON(w, 200, resp)
}

func (api *API) importCSV(w http.ResponseWriter, r *http.Request, by Actor, what string,
	run func(ctx context.Context, body io.Reader, partial bool) (ImportResult, error)) {
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
	_ = api.Store.Audit(r.Context(), AuditEntry{Actor: by.Name, Remote: by.Remote, Action: what + ".import",
		Detail: marshalJSON(map[string]any{"lines": res.Lines, "accepted": res.Accepted, "errors": res.ErrorCount, "applied": res.Applied, "partial": partial})})
	status := http.StatusOK
	if !res.Applied {
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, res)
}

func (api *API) importResidents(w http.ResponseWriter, r *http.Request, by Actor) {
	api.importCSV(w, r, by, "residents", func(ctx context.Context, body io.Reader, partial bool) (ImportResult, error) {
		return api.Service.Population.ImportResidents(ctx, body, partial, nil)
	})
}

func (api *API) importSpeakers(w http.ResponseWriter, r *http.Request, by Actor) {
	api.importCSV(w, r, by, "speakers", func(ctx context.Context, body io.Reader, partial bool) (ImportResult, error) {
		return api.Service.Population.ImportSpeakers(ctx, body, partial)
	})
}

func (api *API) listSpeakers(w http.ResponseWriter, r *http.Request, by Actor) {
	var list []SpeakerRecord
	if err := api.Store.ForEachSpeaker(r.Context(), func(s SpeakerRecord) error {
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

func (api *API) enrollSpeaker(w http.ResponseWriter, r *http.Request, by Actor) {
	if api.NewSpeakerCredential == nil {
		writeError(w, http.StatusNotImplemented, "unavailable", "speaker enrolment is not configured")
		return
	}
	id := r.PathValue("id")
	secret, hash := api.NewSpeakerCredential()
	if err := api.Store.SetSpeakerCredential(r.Context(), id, hash, false, by); err != nil {
		if errors.Is(err, ErrNotFound) {
			writeError(w, 404, "not_found", "no speaker "+id+" in the registry: import it first (POST /api/v1/speakers/import)")
			return
		}
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"device_id": id, "credential": secret, "public_key": api.SpeakerPublicKey,
		"note": "the credential is shown once and stored hashed; put it and public_key in the agent's config"})
}

func (api *API) revokeSpeaker(w http.ResponseWriter, r *http.Request, by Actor) {
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

func (api *API) addFieldEndpoint(w http.ResponseWriter, r *http.Request, by Actor) {
	var f FieldEndpoint
	if !decode(w, r, &f) {
		return
	}
	var ve ValidationError
	if f.ID == "" || len(f.ID) > 64 {
		ve.add("id", "required, at most 64 characters", f.ID)
	}
	if f.Name == "" {
		ve.add("name", "required", "")
	}
	if _, ok := api.Service.Population.Tree().Region(f.Region); !ok {
		ve.add("region", "must be a known region code", f.Region)
	}
	if len(ve.Problems) > 0 {
		api.fail(w, r, &ve)
		return
	}
	if err := api.Store.UpsertFieldEndpoint(r.Context(), f); err != nil {
		api.fail(w, r, err)
		return
	}
	if err := api.Service.Population.ReloadFieldEndpoints(r.Context()); err != nil {
		api.fail(w, r, err)
		return
	}
	_ = api.Store.Audit(r.Context(), AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "field_endpoint.upsert", Detail: marshalJSON(f)})
	writeJSON(w, 201, f)
}

// capExport serves a warning as CAP 1.2. Issued warnings are public (like
// the resident page); others need a viewer.
func (api *API) capExport(w http.ResponseWriter, r *http.Request) {
	a, err := api.Store.Alert(r.Context(), r.PathValue("id"))
	if err != nil {
		api.fail(w, r, err)
		return
	}
	if a.State == warning.StatePending || a.State == warning.StateRejected {
		if by, err := api.Authenticate(r); err != nil || !by.Role.Can(RoleViewer) {
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

func (api *API) capImport(w http.ResponseWriter, r *http.Request, by Actor) {
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
		var ce *CAPError
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

type scheduleInput struct {
	Kind    string      `json:"kind"`
	Spec    string      `json:"spec"`
	AlertID string      `json:"alert_id,omitempty"`
	Body    *AlertInput `json:"body,omitempty"`
	TTL     string      `json:"ttl,omitempty"` // e.g. "1h"
}

func (api *API) createSchedule(w http.ResponseWriter, r *http.Request, by Actor) {
	var in scheduleInput
	if !decode(w, r, &in) {
		return
	}
	sc := Schedule{Kind: in.Kind, Spec: in.Spec, AlertID: in.AlertID, Body: in.Body}
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

func (api *API) listSchedules(w http.ResponseWriter, r *http.Request, by Actor) {
	list, err := api.Store.Schedules(r.Context(), r.URL.Query().Get("all") != "1")
	if err != nil {
		api.fail(w, r, err)
		return
	}
	for _, sc := range list {
		if sp, err := ParseSchedule(sc.Spec); err == nil && sc.Active {
			sc.Next = sp.Next(sc.LastFired)
		}
		sc.NeedsApproval = api.Service.scheduleNeedsApproval(sc)
	}
	writeJSON(w, 200, map[string]any{"schedules": list})
}

func (api *API) stopSchedule(w http.ResponseWriter, r *http.Request, by Actor) {
	if err := api.Store.StopSchedule(r.Context(), r.PathValue("id"), by); err != nil {
		api.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (api *API) importRegions(w http.ResponseWriter, r *http.Request, by Actor) {
	counties, err := api.Service.Population.ImportRegions(r.Context(), http.MaxBytesReader(w, r.Body, 16<<20), by)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 201, map[string]any{"counties": counties, "regions": api.Service.Population.Tree().Len(),
		"note": "merged into this node now; every node loads it at start"})
}
