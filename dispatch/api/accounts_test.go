package api

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alertcast/alertcast/dispatch"
)

// accountsEnv is an API over a fresh SQLite store, served by httptest.
type accountsEnv struct {
	t     *testing.T
	api   *API
	store *dispatch.Store
	db    string // the SQLite file behind store
	srv   *httptest.Server
	admin string // admin's bearer token
}

func newAccountsEnv(t *testing.T, lim LoginLimits) *accountsEnv {
	t.Helper()
	dir := t.TempDir()
	s, err := dispatch.OpenStore(context.Background(), "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	api := &API{Store: s, Login: lim}
	mux := http.NewServeMux()
	api.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	admin, err := s.CreateUser(context.Background(), "root", dispatch.RoleAdmin, "", dispatch.Actor{Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return &accountsEnv{t: t, api: api, store: s, db: filepath.Join(dir, "alertcast.db"), srv: srv, admin: admin}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	cookie *http.Cookie
}

// sql runs a statement on the store's SQLite file directly, as someone
// with the file would.
func (e *accountsEnv) sql(query string, args ...any) *sql.Row {
	e.t.Helper()
	db, err := sql.Open("sqlite", "file:"+e.db+"?_pragma=busy_timeout(15000)")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	return db.QueryRow(query, args...)
}

func (a answer) code() string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (a answer) message() string {
	e, _ := a.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// do sends a JSON request; auth is a bearer token, or a session cookie
// value when it starts with "acs_" (with csrf for non-GET requests).
func (e *accountsEnv) do(method, path, auth, csrf string, body any) answer {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	switch {
	case strings.HasPrefix(auth, sessionPrefix):
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: auth})
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
	case auth != "":
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			e.t.Fatalf("%s %s: bad JSON %q", method, path, raw)
		}
	}
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			a.cookie = c
		}
	}
	return a
}

func (e *accountsEnv) login(name, pw string) answer {
	e.t.Helper()
	return e.do("POST", "/api/v1/login", "", "", map[string]string{"name": name, "password": pw})
}

// session logs in and returns the session id and CSRF token.
func (e *accountsEnv) session(name, pw string) (string, string) {
	e.t.Helper()
	a := e.login(name, pw)
	if a.status != 200 || a.cookie == nil {
		e.t.Fatalf("login %s: %d %v", name, a.status, a.body)
	}
	return a.cookie.Value, a.body["csrf"].(string)
}

func (e *accountsEnv) user(name string, role dispatch.Role, pw string) string {
	e.t.Helper()
	tok, err := e.store.CreateUser(context.Background(), name, role, pw, dispatch.Actor{Name: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *accountsEnv) auditActions(actor string) []dispatch.AuditEntry {
	e.t.Helper()
	es, err := e.store.AuditLog(context.Background(), 0, "", 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []dispatch.AuditEntry
	for _, x := range es {
		if actor == "" || x.Actor == actor {
			out = append(out, x)
		}
	}
	return out
}

func countAction(es []dispatch.AuditEntry, action string) int {
	n := 0
	for _, e := range es {
		if e.Action == action {
			n++
		}
	}
	return n
}

const pw = "correct horse battery"

func TestLoginSessionOnlyInHttpOnlyCookie(t *testing.T) {
	e := newAccountsEnv(t, LoginLimits{})
	e.api.SessionLifetime = 90 * time.Minute
	e.user("op", dispatch.RoleOperator, pw)
	a := e.login("op", pw)
	if a.status != 200 {
		t.Fatalf("login: %d %v", a.status, a.body)
	}
	if _, ok := a.body["session"]; ok {
		t.Fatalf("the session id must not be in the JSON answer (JavaScript could read it): %v", a.body)
	}
	if a.cookie == nil || !a.cookie.HttpOnly || a.cookie.SameSite != http.SameSiteStrictMode || a.cookie.MaxAge != 90*60 {
		t.Fatalf("cookie: %+v", a.cookie)
	}
	if a.body["csrf"] == "" || a.body["expires"] == nil {
		t.Fatalf("answer: %v", a.body)
	}
	var stored string
	_ = e.sql(`SELECT id_hash FROM sessions`).Scan(&stored)
	if stored != dispatch.HashToken(a.cookie.Value) {
		t.Fatal("the session id must be stored hashed")
	}
	// A state-changing request by cookie needs the CSRF token.
	if got := e.do("POST", "/api/v1/users/op/rotate-token", a.cookie.Value, "", nil); got.status != 403 {
		t.Fatalf("without CSRF: %d", got.status)
	}
	if got := e.do("POST", "/api/v1/users/op/rotate-token", a.cookie.Value, a.body["csrf"].(string), nil); got.status != 200 {
		t.Fatalf("with CSRF: %d %v", got.status, got.body)
	}
}

func TestLogoutEndsSessionOnServer(t *testing.T) {
	e := newAccountsEnv(t, LoginLimits{})
	e.user("op", dispatch.RoleOperator, pw)
	sess, _ := e.session("op", pw)
	if a := e.do("GET", "/api/v1/me", sess, "", nil); a.status != 200 || a.body["name"] != "op" {
		t.Fatalf("me with cookie: %d %v", a.status, a.body)
	}
	if a := e.do("POST", "/api/v1/logout", sess, "", nil); a.status != 204 || a.cookie == nil || a.cookie.MaxAge >= 0 {
		t.Fatalf("logout: %d %+v", a.status, a.cookie)
	}
	// The old cookie, replayed, is refused: the session is gone.
	if a := e.do("GET", "/api/v1/me", sess, "", nil); a.status != 401 {
		t.Fatalf("cookie after logout: %d %v", a.status, a.body)
	}
	if _, _, ok := e.api.TokenRole(context.Background(), sess); ok {
		t.Fatal("TokenRole accepted a logged-out session")
	}
	if n := countAction(e.auditActions("op"), "logout"); n != 1 {
		t.Fatalf("logout audited %d times", n)
	}
}

func TestSessionLifetimeAndIdle(t *testing.T) {
	e := newAccountsEnv(t, LoginLimits{})
	e.user("op", dispatch.RoleOperator, pw)
	ctx := context.Background()
	expired := dispatch.NewSessionID()
	if err := e.store.CreateSession(ctx, expired, "op", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	live := dispatch.NewSessionID()
	if err := e.store.CreateSession(ctx, live, "op", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if a := e.do("GET", "/api/v1/me", live, "", nil); a.status != 200 {
		t.Fatalf("live session: %d", a.status)
	}
	if a := e.do("GET", "/api/v1/me", expired, "", nil); a.status != 401 {
		t.Fatalf("expired session: %d", a.status)
	}
	// Idle: last used two hours ago, idle limit one hour.
	if err := e.sql(`UPDATE sessions SET seen_at = ? WHERE id_hash = ?`, time.Now().Add(-2*time.Hour).UnixMilli(), dispatch.HashToken(live)).Err(); err != nil {
		t.Fatal(err)
	}
	e.api.SessionIdle = time.Hour
	if a := e.do("GET", "/api/v1/me", live, "", nil); a.status != 401 {
		t.Fatalf("idle session: %d", a.status)
	}
	if n, _ := e.store.SessionCount(ctx, "op"); n != 0 {
		t.Fatalf("ended sessions must be deleted, %d left", n)
	}
}

func TestDisabledUserRefusedOnTokenAndCookie(t *testing.T) {
	e := newAccountsEnv(t, LoginLimits{})
	tok := e.user("op", dispatch.RoleOperator, pw)
	sess, _ := e.session("op", pw)
	if a := e.do("GET", "/api/v1/me", tok, "", nil); a.status != 200 {
		t.Fatalf("control: token works before: %d", a.status)
	}
	if a := e.do("POST", "/api/v1/users/op/disable", e.admin, "", nil); a.status != 200 {
		t.Fatalf("disable: %d %v", a.status, a.body)
	}
	if a := e.do("GET", "/api/v1/me", tok, "", nil); a.status != 401 {
		t.Fatalf("disabled user's token: %d", a.status)
	}
	if a := e.do("GET", "/api/v1/me", sess, "", nil); a.status != 401 {
		t.Fatalf("disabled user's cookie: %d", a.status)
	}
	if _, _, ok := e.api.TokenRole(context.Background(), tok); ok {
		t.Fatal("TokenRole accepted a disabled user's token")
	}
	if a := e.login("op", pw); a.status != 401 {
		t.Fatalf("disabled user logged in: %d", a.status)
	}
	// Admins only, and not themselves.
	opTok := e.user("op2", dispatch.RoleOperator, "")
	if a := e.do("POST", "/api/v1/users/root/disable", opTok, "", nil); a.status != 403 {
		t.Fatalf("operator disabled an admin: %d", a.status)
	}
	if a := e.do("POST", "/api/v1/users/root/disable", e.admin, "", nil); a.status != 422 {
		t.Fatalf("admin disabled themselves: %d", a.status)
	}
	if a := e.do("POST", "/api/v1/users/nobody/disable", e.admin, "", nil); a.status != 404 {
		t.Fatalf("unknown user: %d", a.status)
	}
	if a := e.do("POST", "/api/v1/users/op/enable", e.admin, "", nil); a.status != 200 {
		t.Fatalf("enable: %d", a.status)
	}
	if a := e.do("GET", "/api/v1/me", tok, "", nil); a.status != 200 {
		t.Fatalf("re-enabled user's token: %d", a.status)
	}
	// The sessions ended by disabling stay ended.
	if a := e.do("GET", "/api/v1/me", sess, "", nil); a.status != 401 {
		t.Fatalf("session from before the disable: %d", a.status)
	}
	es := e.auditActions("root")
	if countAction(es, "user.disable") != 1 || countAction(es, "user.enable") != 1 {
		t.Fatalf("audit: %+v", es)
	}
}

func TestRotateToken(t *testing.T) {
	e := newAccountsEnv(t, LoginLimits{})
	old := e.user("op", dispatch.RoleOperator, "")
	other := e.user("vw", dispatch.RoleViewer, "")
	a := e.do("POST", "/api/v1/users/op/rotate-token", e.admin, "", nil)
	if a.status != 200 {
		t.Fatalf("rotate: %d %v", a.status, a.body)
	}
	nt, _ := a.body["token"].(string)
	if !strings.HasPrefix(nt, "act_") || nt == old {
		t.Fatalf("new token %q", nt)
	}
	if a := e.do("GET", "/api/v1/me", old, "", nil); a.status != 401 {
		t.Fatalf("old token still works: %d", a.status)
	}
	if a := e.do("GET", "/api/v1/me", nt, "", nil); a.status != 200 || a.body["name"] != "op" {
		t.Fatalf("new token: %d %v", a.status, a.body)
	}
	// One's own: allowed; someone else's: admins only.
	if a := e.do("POST", "/api/v1/users/vw/rotate-token", nt, "", nil); a.status != 403 {
		t.Fatalf("operator rotated another's token: %d", a.status)
	}
	if a := e.do("POST", "/api/v1/users/vw/rotate-token", other, "", nil); a.status != 200 {
		t.Fatalf("own rotation: %d %v", a.status, a.body)
	}
	if n := countAction(e.auditActions(""), "user.rotate_token"); n != 2 {
		t.Fatalf("rotations audited: %d", n)
	}
}

func TestChangePassword(t *testing.T) {
	e := newAccountsEnv(t, LoginLimits{})
	e.user("op", dispatch.RoleOperator, pw)
	e.user("vw", dispatch.RoleViewer, pw)
	a1, csrf1 := e.session("op", pw)
	a2, _ := e.session("op", pw)
	const np = "a brand new passphrase"
	if a := e.do("POST", "/api/v1/users/op/password", a1, csrf1, map[string]string{"password": np}); a.status != 422 ||
		!strings.Contains(a.message(), "old_password") {
		t.Fatalf("own change without the old password: %d %v", a.status, a.body)
	}
	if a := e.do("POST", "/api/v1/users/op/password", a1, csrf1, map[string]string{"old_password": "wrong one!", "password": np}); a.status != 403 {
		t.Fatalf("wrong old password: %d %v", a.status, a.body)
	}
	if a := e.do("POST", "/api/v1/users/op/password", a1, csrf1, map[string]string{"old_password": pw, "password": "short"}); a.status != 422 {
		t.Fatalf("short password: %d %v", a.status, a.body)
	}
	if a := e.do("POST", "/api/v1/users/vw/password", a1, csrf1, map[string]string{"password": np}); a.status != 403 {
		t.Fatalf("operator changed another's password: %d", a.status)
	}
	if a := e.do("POST", "/api/v1/users/op/password", a1, csrf1, map[string]string{"old_password": pw, "password": np}); a.status != 200 {
		t.Fatalf("change: %d %v", a.status, a.body)
	}
	if a := e.do("GET", "/api/v1/me", a1, "", nil); a.status != 200 {
		t.Fatalf("the session that changed it ends: %d", a.status)
	}
	if a := e.do("GET", "/api/v1/me", a2, "", nil); a.status != 401 {
		t.Fatalf("the other session survived: %d", a.status)
	}
	if a := e.login("op", pw); a.status != 401 {
		t.Fatalf("old password: %d", a.status)
	}
	if a := e.login("op", np); a.status != 200 {
		t.Fatalf("new password: %d", a.status)
	}
	// An admin sets another's password without the old one.
	if a := e.do("POST", "/api/v1/users/vw/password", e.admin, "", map[string]string{"password": np}); a.status != 200 {
		t.Fatalf("admin set: %d %v", a.status, a.body)
	}
	if a := e.login("vw", np); a.status != 200 {
		t.Fatalf("password set by admin: %d", a.status)
	}
	if n := countAction(e.auditActions(""), "user.password"); n != 2 {
		t.Fatalf("password changes audited: %d", n)
	}
}

func TestLoginThrottlePerUser(t *testing.T) {
	e := newAccountsEnv(t, LoginLimits{UserFailures: 3, UserBackoff: time.Minute, UserWindow: 15 * time.Minute})
	e.user("op", dispatch.RoleOperator, pw)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e.api.loginState().mem.now = clock
	// A success resets the count: 2 wrong, right, 2 wrong stays below 3.
	for i, p := range []string{"bad-1", "bad-2", pw, "bad-3", "bad-4"} {
		want := 401
		if p == pw {
			want = 200
		}
		if a := e.login("op", p); a.status != want {
			t.Fatalf("attempt %d: %d, want %d", i, a.status, want)
		}
	}
	if a := e.login("op", "bad-5"); a.status != 401 {
		t.Fatalf("third failure: %d", a.status)
	}
	// Locked: even the right password is refused, cheaply and clearly.
	a := e.login("op", pw)
	ra, _ := strconv.Atoi(a.header.Get("Retry-After"))
	if a.status != 429 || a.code() != "too_many_logins" || !strings.Contains(a.message(), "user name") || ra < 1 || ra > 60 {
		t.Fatalf("locked: %d Retry-After %q %v", a.status, a.header.Get("Retry-After"), a.body)
	}
	// Another user from the same address is not affected.
	e.user("vw", dispatch.RoleViewer, pw)
	if a := e.login("vw", pw); a.status != 200 {
		t.Fatalf("other user: %d", a.status)
	}
	// After the lockout, the right password works.
	mu.Lock()
	now = now.Add(61 * time.Second)
	mu.Unlock()
	if a := e.login("op", pw); a.status != 200 {
		t.Fatalf("after the lockout: %d %v", a.status, a.body)
	}
}

func TestLoginThrottleBackoffDoubles(t *testing.T) {
	lim := LoginLimits{UserFailures: 2, UserBackoff: time.Minute, UserWindow: 5 * time.Minute}.WithDefaults()
	m := NewMemoryThrottle(lim)
	now := time.Unix(1_700_000_000, 0)
	m.now = func() time.Time { return now }
	ctx := context.Background()
	want := []time.Duration{0, time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		_ = m.Failed(ctx, "op", "10.0.0."+strconv.Itoa(i))
		got, who, _ := m.Blocked(ctx, "op", "10.0.0.99")
		if got != w || (w > 0 && who != "user") {
			t.Fatalf("after %d failures: wait %s (%s), want %s", i+1, got, who, w)
		}
	}
	// Forgotten a window after the last failure.
	now = now.Add(5*time.Minute + time.Second)
	if got, _, _ := m.Blocked(ctx, "op", "10.0.0.99"); got != 0 {
		t.Fatalf("after the window: %s", got)
	}
	_ = m.Failed(ctx, "op", "x")
	if got, _, _ := m.Blocked(ctx, "op", "x"); got != 0 {
		t.Fatalf("a new window starts at one failure: %s", got)
	}
}

func TestLoginThrottlePerAddress(t *testing.T) {
	e := newAccountsEnv(t, LoginLimits{AddrFailures: 4, UserFailures: 100})
	e.user("op", dispatch.RoleOperator, pw)
	for i := range 4 {
		if a := e.login("guess"+strconv.Itoa(i), "whatever"); a.status != 401 {
			t.Fatalf("guess %d: %d", i, a.status)
		}
	}
	before := dispatch.DummyPasswordChecks()
	a := e.login("op", pw)
	if a.status != 429 || !strings.Contains(a.message(), "address") || a.header.Get("Retry-After") == "" {
		t.Fatalf("address over its limit: %d %v", a.status, a.body)
	}
	if dispatch.DummyPasswordChecks() != before {
		t.Fatal("a throttled login must not cost a hash")
	}
	// A bearer token still works from that address.
	if a := e.do("GET", "/api/v1/me", e.admin, "", nil); a.status != 200 {
		t.Fatalf("token during the lockout: %d", a.status)
	}
}

func TestUnknownAndDisabledUsersCostAHash(t *testing.T) {
	e := newAccountsEnv(t, LoginLimits{UserFailures: 100, AddrFailures: 100})
	e.user("op", dispatch.RoleOperator, pw)
	e.user("gone", dispatch.RoleOperator, pw)
	e.user("tokenonly", dispatch.RoleOperator, "")
	if err := e.store.SetUserDisabled(context.Background(), "gone", true, dispatch.Actor{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, pw string
		dummy    int64
	}{
		{"op", "wrong password", 0}, // control: the real hash runs, not the dummy
		{"nobody", "wrong password", 1},
		{"gone", pw, 1},
		{"tokenonly", "any password", 1},
	}
	for _, c := range cases {
		before := dispatch.DummyPasswordChecks()
		if a := e.login(c.name, c.pw); a.status != 401 || a.message() != "wrong name, password or token" {
			t.Fatalf("%s: %d %v", c.name, a.status, a.body)
		}
		if got := dispatch.DummyPasswordChecks() - before; got != c.dummy {
			t.Fatalf("%s: %d dummy hashes, want %d", c.name, got, c.dummy)
		}
	}
}

func TestHashGateBoundsWaiting(t *testing.T) {
	e := newAccountsEnv(t, LoginLimits{HashSlots: 1, HashQueue: 1, HashWait: time.Minute})
	e.user("op", dispatch.RoleOperator, pw)
	g := e.api.loginState().gate
	release, ok := g.acquire(context.Background())
	if !ok {
		t.Fatal("first slot")
	}
	got := make(chan bool)
	go func() {
		r, ok := g.acquire(context.Background())
		if ok {
			r()
		}
		got <- ok
	}()
	for g.waiting.Load() != 1 { // the queue's one place is taken
		select {
		case ok := <-got:
			t.Fatalf("second acquire returned %v without waiting", ok)
		default:
			time.Sleep(time.Millisecond)
		}
	}
	// Beyond the queue: refused at once, no hash, 503 with Retry-After.
	a := e.login("op", pw)
	if a.status != 503 || a.code() != "busy" || a.header.Get("Retry-After") != "1" {
		t.Fatalf("login with the queue full: %d %v", a.status, a.body)
	}
	release()
	if !<-got {
		t.Fatal("the waiting request did not get the freed slot")
	}
	if a := e.login("op", pw); a.status != 200 {
		t.Fatalf("after the slot is free: %d", a.status)
	}
}

func TestFailedLoginsSummarisedInAudit(t *testing.T) {
	e := newAccountsEnv(t, LoginLimits{UserFailures: 1000, AddrFailures: 1000})
	e.user("op", dispatch.RoleOperator, pw)
	for range 10 {
		if a := e.login("op", "wrong password"); a.status != 401 {
			t.Fatalf("%d", a.status)
		}
	}
	if a := e.login("nobody", "x"); a.status != 401 {
		t.Fatal(a.status)
	}
	es := e.auditActions("")
	if countAction(es, "login.fail") != 2 || countAction(es, "login.fail.summary") != 0 {
		t.Fatalf("before the window ends: %+v", es)
	}
	if err := e.api.FlushLoginAudit(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	es = e.auditActions("op")
	if countAction(es, "login.fail") != 1 || countAction(es, "login.fail.summary") != 1 {
		t.Fatalf("after: %+v", es)
	}
	for _, x := range es {
		if x.Action == "login.fail.summary" && !strings.Contains(x.Detail, `"failures":9`) {
			t.Fatalf("summary: %s", x.Detail)
		}
	}
	// "nobody" failed once: no summary for it.
	if n := countAction(e.auditActions("nobody"), "login.fail.summary"); n != 0 {
		t.Fatalf("summary of a single failure: %d", n)
	}
}

func TestFailureAuditWindows(t *testing.T) {
	f := newFailureAudit(time.Minute)
	t0 := time.Unix(1_700_000_000, 0)
	if first, done := f.failed("op", "a", t0); !first || len(done) != 0 {
		t.Fatal("first failure is written")
	}
	for i := 1; i <= 5; i++ {
		if first, _ := f.failed("op", "a", t0.Add(time.Duration(i)*time.Second)); first {
			t.Fatal("later failures are summarised")
		}
	}
	if first, _ := f.failed("op", "b", t0.Add(time.Second)); !first {
		t.Fatal("another address is its own window")
	}
	if s := f.sweep(t0.Add(59 * time.Second)); len(s) != 0 {
		t.Fatalf("window not ended: %v", s)
	}
	// The next failure after the window writes the summary and starts anew.
	first, done := f.failed("op", "a", t0.Add(61*time.Second))
	if !first || len(done) != 1 || !strings.Contains(done[0].Detail, `"failures":5`) || done[0].Action != "login.fail.summary" {
		t.Fatalf("next window: %v %+v", first, done)
	}
	if s := f.sweep(t0.Add(3 * time.Minute)); len(s) != 0 {
		t.Fatalf("windows with one failure need no summary: %+v", s)
	}
}
