package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// sessionPrefix starts every session id (tokens start with "act_").
const sessionPrefix = "acs_"

// DefaultSessionLifetime is how long a console session lasts when
// API.SessionLifetime is zero.
const DefaultSessionLifetime = 12 * time.Hour

func (api *API) sessionLifetime() time.Duration {
	if api.SessionLifetime > 0 {
		return api.SessionLifetime
	}
	return DefaultSessionLifetime
}

// loginState is what the login path keeps between requests.
type loginState struct {
	lim       LoginLimits
	mem       *MemoryThrottle // used when Throttle is nil or fails
	gate      *hashGate
	failAudit *failureAudit
}

func (api *API) loginState() *loginState {
	api.loginOnce.Do(func() {
		lim := api.Login.WithDefaults()
		api.loginSt = &loginState{lim: lim, mem: NewMemoryThrottle(lim), gate: newHashGate(lim), failAudit: newFailureAudit(lim.AuditWindow)}
	})
	return api.loginSt
}

// loginBlocked asks the shared throttle, or this node's when the shared
// one is unreachable (logins keep working when Redis does not).
func (api *API) loginBlocked(ctx context.Context, user, addr string) (time.Duration, string) {
	st := api.loginState()
	if api.Throttle != nil {
		wait, who, err := api.Throttle.Blocked(ctx, user, addr)
		if err == nil {
			return wait, who
		}
		api.log().Warn("login throttle unreachable: counting on this node", "err", err)
	}
	wait, who, _ := st.mem.Blocked(ctx, user, addr)
	return wait, who
}

// loginFailed counts a failure and audits it: its own row when it is the
// first of its user and address in the audit window, else counted into
// that window's summary.
func (api *API) loginFailed(ctx context.Context, user, addr, reason string, count bool) {
	st := api.loginState()
	if count {
		_ = st.mem.Failed(ctx, user, addr)
		if api.Throttle != nil {
			if err := api.Throttle.Failed(ctx, user, addr); err != nil {
				api.log().Warn("login throttle unreachable: counting on this node", "err", err)
			}
		}
	}
	now := time.Now()
	first, done := st.failAudit.failed(user, addr, now)
	if first {
		done = append(done, dispatch.AuditEntry{Actor: user, Remote: addr, Action: "login.fail", Detail: fmt.Sprintf(`{"reason":%q}`, reason)})
	}
	if len(done) == 0 && st.failAudit.dueSweep(now) {
		done = st.failAudit.sweep(now)
	}
	if err := api.writeAudit(ctx, done); err != nil {
		api.log().Error("audit of failed logins", "err", err)
	}
}

func (api *API) loginSucceeded(ctx context.Context, user string) {
	st := api.loginState()
	_ = st.mem.Succeeded(ctx, user)
	if api.Throttle != nil {
		if err := api.Throttle.Succeeded(ctx, user); err != nil {
			api.log().Warn("login throttle unreachable", "err", err)
		}
	}
}

func retryAfter(w http.ResponseWriter, d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(s))
	return s
}

func tooManyLogins(w http.ResponseWriter, wait time.Duration, who string) {
	s := retryAfter(w, wait)
	msg := fmt.Sprintf("too many failed logins for this user name: try again in %d s", s)
	if who == "address" {
		msg = fmt.Sprintf("too many failed logins from this address: try again in %d s", s)
	}
	writeError(w, http.StatusTooManyRequests, "too_many_logins", msg)
}

func hashBusy(w http.ResponseWriter) {
	retryAfter(w, time.Second)
	writeError(w, http.StatusServiceUnavailable, "busy", "too many passwords are being checked at once: try again in a second")
}

// sessionOf is the session id a request was authenticated with ("" for a
// bearer token).
func sessionOf(r *http.Request) string {
	if r.Header.Get("Authorization") != "" {
		return ""
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// accountTarget reads {name} and checks by may act on it: admins on
// accounts within their scope, others on themselves when self is allowed.
// A county admin who could reset a prefecture officer's password or token
// would hold the wider scope: so an admin manages only accounts whose
// scope their own covers.
func (api *API) accountTarget(w http.ResponseWriter, r *http.Request, by dispatch.Actor, self bool) (string, bool) {
	name := r.PathValue("name")
	if name == by.Name && self {
		return name, true
	}
	if !by.Role.Can(dispatch.RoleAdmin) {
		writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("role %s may do this only for its own account (needs admin for %q)", by.Role, name))
		return "", false
	}
	if by.Scope.All() {
		return name, true
	}
	u, err := api.Store.UserNamed(r.Context(), name)
	if err != nil {
		api.fail(w, r, err)
		return "", false
	}
	if tree := api.tree(); !by.Scope.Covers(tree, u.Scope) {
		writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("account %s has scope %s, wider than your scope %s: only an admin whose scope covers it may manage it",
			name, u.Scope.Label(tree), by.Scope.Label(tree)))
		return "", false
	}
	return name, true
}

// tree is the region tree scopes are read against (nil without a
// population: codes then nest by their digits).
func (api *API) tree() *targeting.Tree {
	if api.Service == nil || api.Service.Population == nil {
		return nil
	}
	return api.Service.Population.Tree()
}

// grantable parses a scope an admin asks to give and checks it is within
// the admin's own; "" gives the admin's own scope.
func (api *API) grantable(by dispatch.Actor, text string) (dispatch.Scope, error) {
	tree := api.tree()
	if text == "" {
		if by.Scope.All() {
			return dispatch.Scope{dispatch.ScopeAll}, nil
		}
		return by.Scope, nil
	}
	sc, err := dispatch.ParseScope(text, tree)
	if err != nil {
		return nil, &dispatch.ValidationError{Problems: []warning.FieldError{{Field: "scope", Rule: err.Error(), Value: text}}}
	}
	if !by.Scope.Covers(tree, sc) {
		return nil, fmt.Errorf("%w: scope %s is wider than your own scope %s: an admin grants at most their own",
			dispatch.ErrForbidden, sc.Label(tree), by.Scope.Label(tree))
	}
	return sc, nil
}

type scopeBody struct {
	Scope string `json:"scope"`
}

// setScope changes where an account may act: admins only, within their
// own scope, audited (user.scope, with the old scope).
func (api *API) setScope(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	name, ok := api.accountTarget(w, r, by, false)
	if !ok {
		return
	}
	var b scopeBody
	if !decode(w, r, &b) {
		return
	}
	if b.Scope == "" {
		api.fail(w, r, &dispatch.ValidationError{Problems: []warning.FieldError{{Field: "scope", Rule: "required: * (the whole tree), a prefecture such as 6531, or region codes such as 653122"}}})
		return
	}
	sc, err := api.grantable(by, b.Scope)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	if err := api.Store.SetUserScope(r.Context(), name, sc, by); err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"name": name, "scope": sc, "scope_label": sc.Label(api.tree())})
}

func (api *API) setDisabled(disabled bool) func(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	return func(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
		name, ok := api.accountTarget(w, r, by, false)
		if !ok {
			return
		}
		if disabled && name == by.Name {
			writeError(w, http.StatusUnprocessableEntity, "validation", "an admin cannot disable their own account (ask another admin)",
				warning.FieldError{Field: "name", Rule: "not your own account", Value: name})
			return
		}
		if err := api.Store.SetUserDisabled(r.Context(), name, disabled, by); err != nil {
			api.fail(w, r, err)
			return
		}
		writeJSON(w, 200, map[string]any{"name": name, "disabled": disabled})
	}
}

func (api *API) rotateToken(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	name, ok := api.accountTarget(w, r, by, true)
	if !ok {
		return
	}
	tok, err := api.Store.RotateToken(r.Context(), name, by)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"name": name, "token": tok,
		"note": "the new token is shown once; the old one no longer works"})
}

type passwordBody struct {
	OldPassword string `json:"old_password"`
	Password    string `json:"password"`
}

// setPassword changes a password: one's own giving the old one, or
// (admins) anyone's. The user's other sessions end.
func (api *API) setPassword(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	name, ok := api.accountTarget(w, r, by, true)
	if !ok {
		return
	}
	var b passwordBody
	if !decode(w, r, &b) {
		return
	}
	var ve dispatch.ValidationError
	if len(b.Password) < 10 || len(b.Password) > 1024 {
		ve.Add("password", "10 to 1024 characters", "")
	}
	self := name == by.Name
	if self && b.OldPassword == "" {
		ve.Add("old_password", "required to change your own password", "")
	}
	if len(ve.Problems) > 0 {
		api.fail(w, r, &ve)
		return
	}
	ctx := r.Context()
	addr := RemoteAddr(r)
	release, ok := api.loginState().gate.acquire(ctx)
	if !ok {
		hashBusy(w)
		return
	}
	defer release()
	if self {
		// Checking the old password is a login attempt: throttled alike.
		if wait, who := api.loginBlocked(ctx, name, addr); wait > 0 {
			tooManyLogins(w, wait, who)
			return
		}
		if _, err := api.Store.UserByPassword(ctx, name, b.OldPassword); err != nil {
			if !errors.Is(err, dispatch.ErrBadCredentials) {
				api.fail(w, r, err)
				return
			}
			api.loginFailed(ctx, name, addr, "wrong old password", true)
			writeError(w, http.StatusForbidden, "forbidden", "old_password is wrong",
				warning.FieldError{Field: "old_password", Rule: "must be the current password"})
			return
		}
	}
	if err := api.Store.SetPassword(ctx, name, b.Password, sessionOf(r), by); err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"name": name, "note": "password changed; the account's other sessions have ended"})
}

type userBody struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password,omitempty"`
	// Scope: where the account may act; empty: the creating admin's own.
	Scope string `json:"scope,omitempty"`
}

func (api *API) createUser(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	var b userBody
	if !decode(w, r, &b) {
		return
	}
	var ve dispatch.ValidationError
	if b.Name == "" || len(b.Name) > 64 || strings.ContainsAny(b.Name, " \t\r\n/|") {
		ve.Add("name", "required: 1-64 characters, no spaces, '/' or '|'", b.Name)
	}
	role, err := dispatch.ParseRole(b.Role)
	if err != nil {
		ve.Add("role", "must be viewer, operator, approver or admin", b.Role)
	}
	if b.Password != "" && len(b.Password) < 10 {
		ve.Add("password", "at least 10 characters", "")
	}
	if len(ve.Problems) > 0 {
		api.fail(w, r, &ve)
		return
	}
	sc, err := api.grantable(by, b.Scope)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	tok, err := api.Store.CreateUserScoped(r.Context(), b.Name, role, sc, b.Password, by)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"name": b.Name, "role": role, "scope": sc, "scope_label": sc.Label(api.tree()), "token": tok,
		"note": "the token is shown once; it is stored hashed"})
}

func (api *API) listUsers(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	us, err := api.Store.Users(r.Context())
	if err != nil {
		api.fail(w, r, err)
		return
	}
	type userView struct {
		dispatch.User
		ScopeLabel string `json:"scope_label"`
	}
	tree := api.tree()
	out := make([]userView, 0, len(us))
	for _, u := range us {
		out = append(out, userView{User: u, ScopeLabel: u.Scope.Label(tree)})
	}
	writeJSON(w, 200, map[string]any{"users": out})
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
	var u dispatch.User
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
		if !errors.Is(err, dispatch.ErrBadCredentials) {
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
	sess := dispatch.NewSessionID()
	life := api.sessionLifetime()
	if err := api.Store.CreateSession(ctx, sess, u.Name, time.Now().Add(life)); err != nil {
		api.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sess, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: int(life / time.Second)})
	_ = api.Store.Audit(ctx, dispatch.AuditEntry{Actor: u.Name, Remote: addr, Action: "login"})
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
			_ = api.Store.Audit(r.Context(), dispatch.AuditEntry{Actor: u.Name, Remote: RemoteAddr(r), Action: "logout"})
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}
