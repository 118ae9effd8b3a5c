package alertd

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/channels/speaker/wire"
	"github.com/alertcast/alertcast/channels/voice/rtcclient"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/api"
)

var updateSecurityDoc = flag.Bool("update-security-doc", false, "rewrite the route table in docs/security.md from authzMatrix")

// access is who may use a route.
type access int

const (
	public      access = iota + 1 // anyone: credentials are not looked at
	viewer                        // a user account of at least this role (bearer token or session cookie)
	operator                      //
	approver                      //
	admin                         //
	resident                      // /ws, /sse: anonymous residents; a console token, when given, must be valid
	consoleOnly                   // /ws features for consoles only (delivery progress, every region): a user token
	voiceUser                     // /voice/ws: any user account by token (field teams are viewers); the voice role follows the account's role
	device                        // /speaker/ws: a loudspeaker's enrolment credential with its device id
	gateway                       // /sms/dlr: only a configured SMS gateway's signature
	fieldTeam                     // field reports: field team accounts only (role viewer, as the voice server rings them); officers are refused
)

func (a access) String() string {
	switch a {
	case public:
		return "public"
	case viewer:
		return "viewer"
	case operator:
		return "operator"
	case approver:
		return "approver"
	case admin:
		return "admin"
	case resident:
		return "public; a console token, if sent, must be valid"
	case consoleOnly:
		return "any user account (token)"
	case voiceUser:
		return "any user account (token)"
	case device:
		return "loudspeaker credential"
	case gateway:
		return "SMS gateway signature"
	case fieldTeam:
		return "field team (viewer accounts only)"
	}
	return fmt.Sprintf("access(%d)", int(a))
}

func (a access) role() dispatch.Role {
	switch a {
	case viewer:
		return dispatch.RoleViewer
	case operator:
		return dispatch.RoleOperator
	case approver:
		return dispatch.RoleApprover
	case admin:
		return dispatch.RoleAdmin
	}
	return dispatch.RoleUnknown
}

// authzRow is one line of the authorization matrix: a route as registered
// on the mux, who may use it, and one request that reaches it. $NAME in
// the probe and body is replaced by the fixture's value (see
// authzFixture.vars); a probe must be valid enough that an allowed caller
// gets past authentication (a 4xx validation answer after that counts as
// allowed). A route may have several rows (one per case). Rows run in
// order; a state-changing row works on its own object ($APPROVE, $CANCEL, …).
type authzRow struct {
	pattern string
	min     access
	probe   string // "METHOD /path?query"
	body    string
	note    string // for docs/security.md
}

// authzMatrix lists every route alertd serves. A route registered without a
// row here fails TestAuthorizationMatrix. After adding a row, run
//
//	go test ./internal/alertd -run TestAuthorizationMatrix -update-security-doc
//
// to rewrite the table in docs/security.md. For routes on users use
// $SPARE (a viewer account kept for this), e.g.
//
//	{"POST /api/v1/users/{name}/disable", admin, "POST /api/v1/users/$SPARE/disable", "", ""},
var authzMatrix = []authzRow{
	// dispatch.API.Routes
	{"GET /api/v1/openapi.yaml", public, "GET /api/v1/openapi.yaml", "", "the API description"},
	{"POST /api/v1/login", public, "POST /api/v1/login", `{}`, "the body carries name and password, or a token"},
	{"POST /api/v1/logout", public, "POST /api/v1/logout", "", "clears the session cookie"},
	{"GET /api/v1/me", viewer, "GET /api/v1/me", "", ""},
	{"GET /api/v1/events", public, "GET /api/v1/events", "", "code list"},
	{"GET /api/v1/groups", public, "GET /api/v1/groups", "", "code list"},
	{"GET /api/v1/regions", public, "GET /api/v1/regions", "", "code list"},
	{"POST /api/v1/alerts", operator, "POST /api/v1/alerts", "$YELLOW", "orange and red then wait for an approver"},
	{"GET /api/v1/alerts", viewer, "GET /api/v1/alerts", "", ""},
	{"GET /api/v1/alerts/{id}", viewer, "GET /api/v1/alerts/$ISSUED", "", ""},
	{"POST /api/v1/alerts/{id}/approve", approver, "POST /api/v1/alerts/$APPROVE/approve", `{"reason":"checked"}`, "never one's own warning"},
	{"POST /api/v1/alerts/{id}/reject", approver, "POST /api/v1/alerts/$REJECT/reject", `{"reason":"wrong area"}`, ""},
	{"POST /api/v1/alerts/{id}/cancel", operator, "POST /api/v1/alerts/$CANCEL/cancel", `{"reason":"drill over"}`, ""},
	{"POST /api/v1/alerts/{id}/allclear", operator, "POST /api/v1/alerts/$ALLCLEAR/allclear", `{"reason":"over"}`, ""},
	{"POST /api/v1/alerts/{id}/update", operator, "POST /api/v1/alerts/$UPDATE/update", "$YELLOW", "the approval policy may hold the new version"},
	{"GET /api/v1/alerts/{id}/deliveries", viewer, "GET /api/v1/alerts/$ISSUED/deliveries", "", "recipients' phone numbers"},
	{"GET /api/v1/alerts/{id}/report", viewer, "GET /api/v1/alerts/$ISSUED/report", "", "after-action report; ?format=csv"},
	{"GET /api/v1/alerts/{id}/guidance", viewer, "GET /api/v1/alerts/$ISSUED/guidance", "", "each village's guidance as frozen with the version to approve"},
	{"GET /api/v1/alerts/{id}/cap", public, "GET /api/v1/alerts/$ISSUED/cap", "", "issued (and ended) warnings"},
	{"GET /api/v1/alerts/{id}/cap", viewer, "GET /api/v1/alerts/$PENDING/cap", "", "warnings pending approval or rejected"},
	{"GET /api/v1/feed.atom", public, "GET /api/v1/feed.atom", "", "issued warnings only"},
	{"POST /api/v1/cap", operator, "POST /api/v1/cap", `<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"></alert>`, "CAP rules decide issue or review"},
	{"POST /api/v1/schedules", operator, "POST /api/v1/schedules", `{}`, ""},
	{"GET /api/v1/schedules", viewer, "GET /api/v1/schedules", "", ""},
	{"POST /api/v1/schedules/{id}/approve", approver, "POST /api/v1/schedules/$SCHEDULE/approve", `{"reason":"checked"}`, "schedules waiting for a second officer"},
	{"DELETE /api/v1/schedules/{id}", operator, "DELETE /api/v1/schedules/$SCHEDULE", "", ""},
	{"POST /api/v1/audience/preview", viewer, "POST /api/v1/audience/preview", "$YELLOW", "changes nothing"},
	{"POST /api/v1/audience/count", viewer, "POST /api/v1/audience/count", `{"area":{"codes":["653122"]}}`, "the aim alone: counts, nothing stored"},
	{"POST /api/v1/users", admin, "POST /api/v1/users", `{"name":"matrix-made","role":"viewer"}`, ""},
	{"GET /api/v1/users", admin, "GET /api/v1/users", "", ""},
	{"POST /api/v1/users/{name}/disable", admin, "POST /api/v1/users/$SPARE/disable", "", "its tokens and sessions stop at once"},
	{"POST /api/v1/users/{name}/enable", admin, "POST /api/v1/users/$SPARE/enable", "", ""},
	{"POST /api/v1/users/{name}/rotate-token", admin, "POST /api/v1/users/$SPARE/rotate-token", "", "another's: admin; one's own: any user"},
	{"POST /api/v1/users/{name}/scope", admin, "POST /api/v1/users/$SPARE/scope", `{"scope":"*"}`, "where the account may act; at most the admin's own scope, only for accounts it covers; audited (see Scopes)"},
	{"POST /api/v1/users/{name}/password", admin, "POST /api/v1/users/$SPARE/password", `{"password":"a-new-password-123"}`, "another's: admin; one's own: any user, with the old one"},
	{"POST /api/v1/tickets", viewer, "POST /api/v1/tickets", "", "one-use ticket for /ws and /voice/ws"},
	{"GET /api/v1/outbox", viewer, "GET /api/v1/outbox", "", "message bodies and addresses"},
	{"GET /api/v1/audit", viewer, "GET /api/v1/audit", "", "newest first, filtered, keyset pages; the CSV export is itself audited"},
	{"GET /api/v1/audit/verify", admin, "GET /api/v1/audit/verify", "", "checks the keyed hash chain"},
	{"GET /api/v1/audit/export", admin, "GET /api/v1/audit/export", "", "JSON lines; the export is itself audited"},
	{"POST /api/v1/regions/import", admin, "POST /api/v1/regions/import", "code,name,level\n", ""},
	{"POST /api/v1/residents/import", admin, "POST /api/v1/residents/import", "$RESIDENTS", ""},
	{"POST /api/v1/speakers/import", admin, "POST /api/v1/speakers/import", "$SPEAKERS", ""},
	{"GET /api/v1/speakers", viewer, "GET /api/v1/speakers", "", "credential hashes are never shown; with parameters the fleet list (filters, pages, counts, CSV)"},
	{"POST /api/v1/shelters/import", admin, "POST /api/v1/shelters/import", "id,name,lat,lon,capacity,kind\nSH-1,一中,39.4,76.0,800,school\n", ""},
	{"GET /api/v1/shelters", viewer, "GET /api/v1/shelters", "", "contacts of shelter keepers"},
	{"PUT /api/v1/shelters/{id}", admin, "PUT /api/v1/shelters/SH-2", `{"name":"广场","point":{"lat":39.4,"lon":76.0},"capacity":500,"kind":"outdoor"}`, "villages are assigned again; shelter names reach the air in evacuation guidance"},
	{"GET /api/v1/speakers/key", public, "GET /api/v1/speakers/key", "", "the platform's Ed25519 public key"},
	{"POST /api/v1/speakers/{id}/enroll", admin, "POST /api/v1/speakers/SPK-B/enroll", "", "returns the device credential once"},
	{"POST /api/v1/speakers/{id}/revoke", admin, "POST /api/v1/speakers/SPK-C/revoke", "", ""},
	{"POST /api/v1/field-endpoints", admin, "POST /api/v1/field-endpoints", `{"id":"field-2","name":"Team 2","region":"653122100"}`, ""},
	{"GET /api/v1/field-endpoints", viewer, "GET /api/v1/field-endpoints", "", ""},
	{"POST /api/v1/reports", fieldTeam, "POST /api/v1/reports", `{}`, "field reports: officers (operator and above) are refused"},
	{"GET /api/v1/reports/mine", viewer, "GET /api/v1/reports/mine", "", "one's own reports and the replies to them"},
	{"GET /api/v1/reports/{id}", operator, "GET /api/v1/reports/$REPORT", "", ""},
	{"POST /api/v1/reports/{id}/photos", fieldTeam, "POST /api/v1/reports/$REPORT/photos", "", "its reporter only"},
	{"GET /api/v1/reports/{id}/photos/{photo}", operator, "GET /api/v1/reports/$REPORT/photos/pho_none", "", "photos: officers only, never field accounts"},
	{"POST /api/v1/reports/{id}/acknowledge", operator, "POST /api/v1/reports/$REPORT/acknowledge", "", ""},
	{"POST /api/v1/reports/{id}/assign", operator, "POST /api/v1/reports/$REPORT/assign", `{"to":"op"}`, ""},
	{"POST /api/v1/reports/{id}/reply", operator, "POST /api/v1/reports/$REPORT/reply", `{"text":"received"}`, "the reporter sees it on /field/"},
	{"GET /api/v1/alerts/{id}/reports", operator, "GET /api/v1/alerts/$ISSUED/reports", "", "field reports of a warning"},

	// internal/alertd
	{"GET /healthz", public, "GET /healthz", "", ""},
	{"GET /readyz", public, "GET /readyz", "", "names an unreachable dependency, never its address or the driver's error"},
	{"GET /metrics", public, "GET /metrics", "", "Prometheus; restrict at the proxy if needed"},
	{"GET /audio/", public, "GET /audio/$AUDIO", "", "programmes by content hash, for loudspeakers"},
	{"HEAD /audio/", public, "HEAD /audio/$AUDIO", "", ""},
	{"GET /ws", resident, "GET /ws?region=653122100001&lang=zh", "", "resident pages anonymous; consoles by token"},
	{"GET /ws", consoleOnly, "GET /ws?region=653122100001&progress=1", "", "delivery progress: consoles only (anonymous: 400 naming the field)"},
	{"GET /sse", resident, "GET /sse?region=653122100001&lang=zh", "", "as /ws"},
	{"GET /r/", public, "GET /r/653122100001?lang=zh", "", "resident page; GET /r/{village}/guidance: that village's evacuation guidance (JSON, no contacts)"},
	{"GET /r", public, "GET /r", "", "redirects to /r/"},
	{"GET /speaker/ws", device, "GET /speaker/ws", "", "officer tokens are refused"},
	{"GET /voice/ws", voiceUser, "GET /voice/ws", "", "admin → admin, approver → approver, operator → officer, viewer → field"},
	{"GET /voice/", public, "GET /voice/field", "", "static pages; everything happens on /voice/ws"},
	{"/sms/dlr", gateway, "POST /sms/dlr?gw=hook", `{"message_id":"m-1","status":"delivered"}`, "Kannel: sig in dlr-url; webhook: HMAC header"},
	{"GET /{$}", public, "GET /", "", "console page; it logs in through the API"},
	{"GET /console/", public, "GET /console/app.js", "", "console assets"},
	{"GET /console/townships.json", public, "GET /console/townships.json", "", "approximate township areas (no loudspeaker positions)"},
	{"GET /field/", public, "GET /field/", "", "field reporting page; it logs in through the API"},
	{"GET /field", public, "GET /field", "", "redirects to /field/"},
}

// identity is one way a caller presents itself.
type identity struct {
	name   string
	kind   idKind
	role   dispatch.Role // for user accounts
	bearer string
	cookie string // session cookie value
	csrf   string // sent as X-CSRF-Token when set
	device string // X-Device on /speaker/ws; default SPK-A (the enrolled device)
	login  string // the token a cookie identity logs in with
}

type idKind int

const (
	anonymous idKind = iota + 1
	badToken         // a token that must open nothing: wrong, revoked, (later) disabled or rotated away
	deviceCred
	userToken
	userCookie
)

type outcome int

const (
	allowed      outcome = iota + 1 // reached the handler (2xx, 3xx, or a 4xx after authentication); a WebSocket: upgraded
	unauthorized                    // 401
	forbidden                       // 403
	refused                         // a WebSocket upgrade answered with another 4xx
)

func (o outcome) String() string {
	switch o {
	case allowed:
		return "allowed"
	case unauthorized:
		return "401"
	case forbidden:
		return "403"
	case refused:
		return "refused (4xx)"
	}
	return "?"
}

// expect is the policy the matrix checks: what identity id gets from a
// route of access a with method.
func expect(a access, id identity, method string) outcome {
	switch a {
	case public:
		return allowed
	case gateway:
		return unauthorized
	case device:
		if id.kind == deviceCred {
			return allowed
		}
		return unauthorized
	case resident:
		if id.kind == badToken || id.kind == deviceCred {
			return unauthorized
		}
		return allowed
	case consoleOnly:
		switch id.kind {
		case badToken, deviceCred:
			return unauthorized
		case userToken:
			return allowed
		}
		return refused // no token: a resident, who may not ask for this
	case voiceUser:
		if id.kind == userToken {
			return allowed
		}
		return unauthorized
	case fieldTeam:
		switch id.kind {
		case anonymous, badToken, deviceCred:
			return unauthorized
		case userCookie:
			if id.csrf == "" && method != http.MethodGet && method != http.MethodHead {
				return forbidden
			}
		}
		if id.role == dispatch.RoleViewer {
			return allowed
		}
		return forbidden
	}
	switch id.kind {
	case anonymous, badToken, deviceCred:
		return unauthorized
	case userCookie:
		if id.csrf == "" && method != http.MethodGet && method != http.MethodHead {
			return forbidden
		}
	}
	if id.role.Can(a.role()) {
		return allowed
	}
	return forbidden
}

// voiceRole is the role the voice server gives an account of role r.
func voiceRole(r dispatch.Role) string {
	switch {
	case r == dispatch.RoleAdmin:
		return "admin"
	case r == dispatch.RoleApprover:
		return "approver" // approves others' live requests
	case r.Can(dispatch.RoleOperator):
		return "officer"
	}
	return "field"
}

// Every route alertd serves × every kind of caller → the expected class of
// answer, against a real alertd with every channel on (SQLite + Redis).
// The route list is the one the server registered (Server.patterns), so a
// route added without a row in authzMatrix fails here by name.
func TestAuthorizationMatrix(t *testing.T) {
	f := newAuthzFixture(t)

	// Every registered route has a row, and every row a route.
	rows := map[string]bool{}
	for _, r := range authzMatrix {
		rows[r.pattern] = true
	}
	registered := map[string]bool{}
	for _, p := range f.s.patterns {
		registered[p] = true
		if !rows[p] {
			t.Errorf("route %q is served but has no row in authzMatrix (internal/alertd/authz_test.go): add one saying who may use it", p)
		}
	}
	for p := range rows {
		if !registered[p] {
			t.Errorf("authzMatrix has a row for %q, which alertd does not serve: remove or correct it", p)
		}
	}
	if len(f.s.patterns) < 40 {
		t.Fatalf("only %d routes recorded: %v", len(f.s.patterns), f.s.patterns)
	}

	for _, row := range authzMatrix {
		method, target := f.expand(row.probe)
		body := f.expandBody(row.body)
		// The probe must reach the route the row is about.
		req, err := http.NewRequest(method, f.s.Base+target, nil)
		if err != nil {
			t.Fatalf("row %q: probe %q: %v", row.pattern, row.probe, err)
		}
		if _, pat := f.s.mux.Handler(req); pat != row.pattern {
			t.Errorf("row %q: probe %q reaches route %q instead", row.pattern, row.probe, pat)
			continue
		}
		for _, id := range f.ids {
			want := expect(row.min, id, method)
			var got outcome
			var detail string
			if row.min == voiceUser {
				got, detail = f.voiceProbe(t, id)
			} else {
				got, detail = f.httpProbe(t, row, method, target, body, id)
			}
			if got != want {
				t.Errorf("%s (%s) as %s: %s, want %s (route needs: %s): %s", row.probe, row.pattern, id.name, got, want, row.min, detail)
			}
		}
		if strings.HasSuffix(row.pattern, "/logout") {
			f.login(t) // logging out may end the cookie identities' sessions
		}
	}

	// Positive control for the one route nobody in the matrix may use: a
	// receipt signed with the gateway's secret gets past the signature.
	st, _ := f.do(t, http.MethodPost, "/sms/dlr?gw=hook", `{"message_id":"m-1","status":"delivered"}`,
		http.Header{sms.SignatureHeader: {sms.Sign(authzHookSecret, []byte(`{"message_id":"m-1","status":"delivered"}`))}})
	if st == http.StatusUnauthorized || st == http.StatusForbidden || st >= 500 {
		t.Errorf("a correctly signed webhook receipt: status %d", st)
	}

	// Nor is a device credential a login token for the console.
	if st, b := f.do(t, http.MethodPost, "/api/v1/login", fmt.Sprintf(`{"token":%q}`, f.deviceCred), nil); st != http.StatusUnauthorized {
		t.Errorf("login with a device credential: status %d, want 401: %s", st, b)
	}

	checkSecurityDoc(t)
}

// The matrix's own policy function, checked against hand-written cases so
// a mistake in expect cannot hide a hole in the server.
func TestAuthorizationExpectations(t *testing.T) {
	op := identity{kind: userToken, role: dispatch.RoleOperator}
	view := identity{kind: userToken, role: dispatch.RoleViewer}
	cookie := identity{kind: userCookie, role: dispatch.RoleAdmin}
	cookieCSRF := identity{kind: userCookie, role: dispatch.RoleAdmin, csrf: "x"}
	dev := identity{kind: deviceCred}
	for _, c := range []struct {
		a      access
		id     identity
		method string
		want   outcome
	}{
		{operator, view, "POST", forbidden},
		{operator, op, "POST", allowed},
		{approver, op, "POST", forbidden},
		{viewer, dev, "GET", unauthorized},
		{viewer, identity{kind: anonymous}, "GET", unauthorized},
		{admin, cookie, "GET", allowed},
		{admin, cookie, "POST", forbidden},
		{viewer, cookie, "DELETE", forbidden},
		{admin, cookieCSRF, "POST", allowed},
		{device, op, "GET", unauthorized},
		{device, dev, "GET", allowed},
		{resident, identity{kind: anonymous}, "GET", allowed},
		{resident, identity{kind: badToken}, "GET", unauthorized},
		{resident, dev, "GET", unauthorized},
		{consoleOnly, identity{kind: anonymous}, "GET", refused},
		{consoleOnly, cookie, "GET", refused},
		{consoleOnly, view, "GET", allowed},
		{consoleOnly, identity{kind: badToken}, "GET", unauthorized},
		{voiceUser, view, "GET", allowed},
		{voiceUser, dev, "GET", unauthorized},
		{gateway, identity{kind: userToken, role: dispatch.RoleAdmin}, "POST", unauthorized},
		{public, dev, "POST", allowed},
		{fieldTeam, view, "POST", allowed},
		{fieldTeam, op, "POST", forbidden},
		{fieldTeam, cookieCSRF, "POST", forbidden},
		{fieldTeam, identity{kind: userCookie, role: dispatch.RoleViewer}, "POST", forbidden},
		{fieldTeam, identity{kind: anonymous}, "POST", unauthorized},
	} {
		if got := expect(c.a, c.id, c.method); got != c.want {
			t.Errorf("expect(%s, kind %d role %s, %s) = %s, want %s", c.a, c.id.kind, c.id.role, c.method, got, c.want)
		}
	}
}

const authzHookSecret = "matrix-webhook-secret-0123456789"

type authzFixture struct {
	s          *testServer
	vars       map[string]string
	ids        []identity
	deviceCred string // SPK-A's
}

func newAuthzFixture(t *testing.T) *authzFixture {
	t.Helper()
	s := startServer(t, func(c *Config) {
		c.Outbox = nil // every channel's routes are mounted
		// Hundreds of refused requests from one address in a second are
		// the point here; the limits have their own tests.
		c.RateLimits = api.RateLimits{TokenRPS: 1e6, TokenBurst: 1e6, AddressRPS: 1e6, AddressBurst: 1e6}
		setYAML(t, &c.Voice, "loopback: true")
		setYAML(t, &c.Audio, `espeak: "off"`)
		setYAML(t, &c.SMS, "gateways:\n- name: hook\n  type: webhook\n  url: http://127.0.0.1:9/send\n  hmac_secret: "+authzHookSecret+"\n")
	})
	f := &authzFixture{s: s, vars: map[string]string{}}
	base := s.Base

	residents := "phone,village,groups,language\n13800000001,653122100001,herders,zh\n"
	speakers := "id,village\nSPK-A,653122100001\nSPK-B,653122100002\nSPK-C,653122201201\nSPK-D,653122201201\n"
	mustCall(t, base, "POST", "/api/v1/residents/import", testAdminToken, residents, 200)
	mustCall(t, base, "POST", "/api/v1/speakers/import", testAdminToken, speakers, 200)
	cred := mustCall(t, base, "POST", "/api/v1/speakers/SPK-A/enroll", testAdminToken, nil, 200)["credential"].(string)
	// SPK-D's credential is revoked: it must open nothing, not even its
	// own door.
	revoked := mustCall(t, base, "POST", "/api/v1/speakers/SPK-D/enroll", testAdminToken, nil, 200)["credential"].(string)
	mustCall(t, base, "POST", "/api/v1/speakers/SPK-D/revoke", testAdminToken, nil, 200)
	f.vars["RESIDENTS"], f.vars["SPEAKERS"] = residents, speakers
	f.deviceCred = cred

	viewerTok := addUser(t, base, "v", "viewer")
	fieldTok := addUser(t, base, "field-1", "viewer")
	mustCall(t, base, "POST", "/api/v1/field-endpoints", testAdminToken, `{"id":"field-1","name":"Team 1","region":"653122100"}`, 201)
	opTok := addUser(t, base, "op", "operator")
	apTok := addUser(t, base, "ap", "approver")
	addUser(t, base, "spare", "viewer")
	f.vars["SPARE"] = "spare"

	example := string(exampleBody(t))
	yellow := strings.Replace(example, `"orange"`, `"yellow"`, 1)
	yellow = strings.Replace(yellow, `"channels":["speaker","sms","websocket","voice"]`, `"channels":["websocket"]`, 1)
	orange := strings.Replace(example, `"channels":["speaker","sms","websocket","voice"]`, `"channels":["websocket"]`, 1)
	withSpeaker := strings.Replace(yellow, `"channels":["websocket"]`, `"channels":["speaker","websocket"]`, 1)
	if yellow == example || orange == example || withSpeaker == yellow {
		t.Fatal("example_alert.json changed: adjust the fixture's replacements")
	}
	f.vars["YELLOW"] = yellow
	create := func(body string, wantState string) string {
		t.Helper()
		out := mustCall(t, base, "POST", "/api/v1/alerts", opTok, body, 201)
		if out["state"] != wantState {
			t.Fatalf("fixture warning: state %v, want %s", out["state"], wantState)
		}
		return out["id"].(string)
	}
	f.vars["ISSUED"] = create(withSpeaker, "issued")
	f.vars["PENDING"] = create(orange, "pending")
	f.vars["APPROVE"] = create(orange, "pending")
	f.vars["REJECT"] = create(orange, "pending")
	f.vars["CANCEL"] = create(yellow, "issued")
	f.vars["ALLCLEAR"] = create(yellow, "issued")
	f.vars["UPDATE"] = create(yellow, "issued")
	au, _ := mustCall(t, base, "GET", "/api/v1/alerts/"+f.vars["ISSUED"], opTok, nil, 200)["audio"].(map[string]any)
	if au == nil || au["sha256"] == nil {
		t.Fatalf("the issued warning has no programme: %v", au)
	}
	f.vars["AUDIO"] = au["sha256"].(string) + ".wav"
	sc := mustCall(t, base, "POST", "/api/v1/schedules", opTok,
		fmt.Sprintf(`{"kind":"rebroadcast","spec":"every 1h","alert_id":%q}`, f.vars["ISSUED"]), 201)
	f.vars["SCHEDULE"] = sc["id"].(string)
	rep := mustCall(t, base, "POST", "/api/v1/reports", fieldTok, fmt.Sprintf(`{"alert_id":%q,"kind":"all_well",`+
		`"location":{"village":"653122100001"},"idempotency_key":"1c7d5a0e-4b1f-4f7e-9a51-3d2e8c6b0a11"}`, f.vars["ISSUED"]), 201)
	f.vars["REPORT"] = rep["id"].(string)

	f.ids = []identity{
		{name: "no credentials", kind: anonymous},
		{name: "wrong token", kind: badToken, bearer: "not-a-token-0123456789abcdef"},
		{name: "device credential", kind: deviceCred, bearer: cred},
		{name: "revoked device credential", kind: badToken, bearer: revoked, device: "SPK-D"},
		{name: "viewer", kind: userToken, role: dispatch.RoleViewer, bearer: viewerTok},
		{name: "field account", kind: userToken, role: dispatch.RoleViewer, bearer: fieldTok},
		{name: "operator", kind: userToken, role: dispatch.RoleOperator, bearer: opTok},
		{name: "approver", kind: userToken, role: dispatch.RoleApprover, bearer: apTok},
		{name: "admin", kind: userToken, role: dispatch.RoleAdmin, bearer: testAdminToken},
		{name: "admin session cookie without CSRF token", kind: userCookie, role: dispatch.RoleAdmin, login: testAdminToken},
		{name: "admin session cookie with CSRF token", kind: userCookie, role: dispatch.RoleAdmin, login: testAdminToken},
		{name: "viewer session cookie with CSRF token", kind: userCookie, role: dispatch.RoleViewer, login: viewerTok},
	}
	f.login(t)
	return f
}

// login gives the cookie identities fresh sessions (through the token login,
// as the console does).
func (f *authzFixture) login(t *testing.T) {
	t.Helper()
	for i := range f.ids {
		id := &f.ids[i]
		if id.kind != userCookie {
			continue
		}
		req, _ := http.NewRequest("POST", f.s.Base+"/api/v1/login", strings.NewReader(fmt.Sprintf(`{"token":%q}`, id.login)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			CSRF string `json:"csrf"`
		}
		err = jsonDecode(resp, &out)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("login: status %d: %v", resp.StatusCode, err)
		}
		id.cookie = ""
		for _, c := range resp.Cookies() {
			if c.Name == "alertcast_session" {
				id.cookie = c.Value
			}
		}
		if id.cookie == "" || out.CSRF == "" {
			t.Fatalf("login: no session cookie or CSRF token (cookies %v)", resp.Cookies())
		}
		if strings.Contains(id.name, "with CSRF") {
			id.csrf = out.CSRF
		}
	}
}

func (f *authzFixture) expand(probe string) (method, target string) {
	method, target, ok := strings.Cut(probe, " ")
	if !ok {
		panic("probe without a method: " + probe)
	}
	return method, f.expandBody(target)
}

func (f *authzFixture) expandBody(s string) string {
	for k, v := range f.vars {
		s = strings.ReplaceAll(s, "$"+k, v)
	}
	if i := strings.Index(s, "$"); i >= 0 && i+1 < len(s) && s[i+1] >= 'A' && s[i+1] <= 'Z' {
		panic("unknown fixture variable in " + s)
	}
	return s
}

func (id identity) header() http.Header {
	h := http.Header{}
	if id.bearer != "" {
		h.Set("Authorization", "Bearer "+id.bearer)
	}
	if id.cookie != "" {
		h.Set("Cookie", "alertcast_session="+id.cookie)
	}
	if id.csrf != "" {
		h.Set("X-CSRF-Token", id.csrf)
	}
	return h
}

// do sends one request and returns the status and the start of the body.
// An event stream is not read (it would not end).
func (f *authzFixture) do(t *testing.T, method, target, body string, h http.Header) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.s.Base+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	// Do not follow redirects: /r's redirect is the answer.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp.StatusCode, "(event stream)"
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp.StatusCode, "(upgraded)" // Close ends the connection
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func (f *authzFixture) httpProbe(t *testing.T, row authzRow, method, target, body string, id identity) (outcome, string) {
	t.Helper()
	h := id.header()
	if row.min == device {
		// What an agent sends besides its credential.
		h.Set(wire.HeaderDevice, cmp.Or(id.device, "SPK-A"))
		h.Set(wire.HeaderVersion, wire.ProtocolVersion)
	}
	// The WebSocket endpoints are asked for a real upgrade: allowed means
	// 101, not just "past authentication".
	ws := strings.HasPrefix(target, "/ws?") || target == "/ws" || target == "/speaker/ws"
	if ws {
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", "websocket")
		h.Set("Sec-WebSocket-Version", "13")
		h.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	}
	st, b := f.do(t, method, target, body, h)
	detail := fmt.Sprintf("status %d: %s", st, b)
	switch {
	case ws && st == http.StatusSwitchingProtocols:
		return allowed, detail
	case st == http.StatusUnauthorized:
		return unauthorized, detail
	case st == http.StatusForbidden:
		return forbidden, detail
	case st >= 500, st == http.StatusTooManyRequests, st == http.StatusMethodNotAllowed:
		// Neither allowed nor refused: the probe is wrong or the server broke.
		t.Errorf("%s %s as %s: cannot classify %s", method, target, id.name, detail)
		return 0, detail
	case ws && st >= 400 && st < 500:
		return refused, detail
	case ws:
		t.Errorf("%s %s as %s: a WebSocket upgrade answered %s", method, target, id.name, detail)
		return 0, detail
	}
	return allowed, detail
}

// voiceProbe authenticates on the voice signalling socket the way the voice
// pages and agents do, and checks the voice role the account gets.
func (f *authzFixture) voiceProbe(t *testing.T, id identity) (outcome, string) {
	t.Helper()
	h := id.header()
	h.Del("Authorization") // the token goes in the auth frame
	c, err := rtcclient.Dial(context.Background(), "ws://"+f.s.Addr+"/voice/ws", id.bearer, rtcclient.Config{Loopback: true, Header: h})
	var se *rtcclient.ServerError
	switch {
	case errors.As(err, &se) && se.Code == "unauthorized",
		// An auth frame without a token is refused as malformed.
		errors.As(err, &se) && se.Code == "bad_frame" && id.bearer == "" && strings.Contains(se.Message, "token"):
		return unauthorized, se.Error()
	case errors.As(err, &se) && se.Code == "forbidden":
		return forbidden, se.Error()
	case err != nil:
		t.Errorf("voice as %s: %v", id.name, err)
		return 0, err.Error()
	}
	defer c.Close()
	if want := voiceRole(id.role); c.Hello.Role != want {
		t.Errorf("voice as %s: role %q, want %q", id.name, c.Hello.Role, want)
	}
	return allowed, "hello as " + c.Hello.Role
}

// setYAML decodes a configuration section written as in the YAML file.
func setYAML(t *testing.T, section any, src string) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(src), section); err != nil {
		t.Fatal(err)
	}
}

const (
	docPath        = "../../docs/security.md"
	docTableBegin  = "<!-- authz-matrix:begin (generated by internal/alertd/authz_test.go -update-security-doc) -->"
	docTableEnd    = "<!-- authz-matrix:end -->"
	docTableHeader = "| route | who may use it | notes |\n|---|---|---|\n"
)

// securityTable renders authzMatrix as the route table of docs/security.md.
func securityTable() string {
	var b bytes.Buffer
	b.WriteString(docTableHeader)
	for _, r := range authzMatrix {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.pattern, r.min, strings.ReplaceAll(r.note, "|", `\|`))
	}
	return b.String()
}

// checkSecurityDoc keeps the documented table equal to the tested one.
func checkSecurityDoc(t *testing.T) {
	t.Helper()
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("security doc: %v", err)
	}
	doc := string(raw)
	i, j := strings.Index(doc, docTableBegin), strings.Index(doc, docTableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: markers %q and %q not found", docPath, docTableBegin, docTableEnd)
	}
	want := securityTable()
	got := doc[i+len(docTableBegin)+1 : j]
	if got == want {
		return
	}
	if *updateSecurityDoc {
		doc = doc[:i+len(docTableBegin)+1] + want + doc[j:]
		if err := os.WriteFile(docPath, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for k := range max(len(gl), len(wl)) {
		g, w := "", ""
		if k < len(gl) {
			g = gl[k]
		}
		if k < len(wl) {
			w = wl[k]
		}
		if g != w {
			t.Errorf("%s is out of date at table line %d:\n have %s\n want %s\nrun: go test ./internal/alertd -run TestAuthorizationMatrix -update-security-doc", docPath, k+1, g, w)
			break
		}
	}
}

// The matrix only sees routes registered through Server.routes: a route put
// straight on an http.ServeMux (s.mux, or http.Handle on the default mux)
// would be served without a row. Router has no HandleFunc, so any
// HandleFunc call in alertd is one of those.
func TestRoutesOnlyThroughServerRoutes(t *testing.T) {
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			if isRecorderMethod(d) {
				continue
			}
			ast.Inspect(d, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				var recv string
				_, field := sel.X.(*ast.SelectorExpr) // s.mux, not a parameter named mux
				switch x := sel.X.(type) {
				case *ast.Ident:
					recv = x.Name
				case *ast.SelectorExpr:
					recv = x.Sel.Name
				}
				if sel.Sel.Name == "HandleFunc" || sel.Sel.Name == "Handle" && (recv == "http" || field && recv == "mux") {
					t.Errorf("%s: %s.%s registers a route outside Server.routes' Router: the authorization matrix would not see it",
						fset.Position(call.Pos()), recv, sel.Sel.Name)
				}
				return true
			})
		}
	}
}

// isRecorderMethod reports whether d is a method of routeList, the one
// place that registers on the real mux.
func isRecorderMethod(d ast.Decl) bool {
	fd, ok := d.(*ast.FuncDecl)
	if !ok || fd.Recv == nil || len(fd.Recv.List) != 1 {
		return false
	}
	st, ok := fd.Recv.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	id, ok := st.X.(*ast.Ident)
	return ok && id.Name == "routeList"
}

// dispatch/api/openapi.yaml says which operations need no credentials
// (security: []); it must agree with the matrix, so API clients are not
// told a public route needs a token or the other way round.
func TestOpenAPISecurityMatchesMatrix(t *testing.T) {
	raw, err := os.ReadFile("../../dispatch/api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]map[string]struct {
			Security *[]map[string][]string `yaml:"security"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	open := map[string]bool{} // pattern → at least one case needs no credentials
	for _, r := range authzMatrix {
		open[r.pattern] = open[r.pattern] || r.min == public
	}
	checked := 0
	for pattern, isOpen := range open {
		method, path, _ := strings.Cut(pattern, " ")
		path, ok := strings.CutPrefix(path, "/api/v1")
		if !ok || path == "/openapi.yaml" || path == "/logout" {
			continue
		}
		op, ok := spec.Paths[path][strings.ToLower(method)]
		if !ok {
			continue // TestOpenAPIDocumentsEveryRoute in dispatch reports it
		}
		checked++
		documentedOpen := op.Security != nil && len(*op.Security) == 0
		if isOpen != documentedOpen {
			t.Errorf("%s: the matrix says public=%v, but openapi.yaml's security: [] says %v", pattern, isOpen, documentedOpen)
		}
	}
	if checked < 30 {
		t.Fatalf("only %d API operations compared: is openapi.yaml's layout still paths → method → security?", checked)
	}
}
