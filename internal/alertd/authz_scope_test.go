package alertd

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels/voice/rtcclient"
	"github.com/alertcast/alertcast/channels/voice/wire"
	"github.com/alertcast/alertcast/dispatch/api"
)

// Scope rows of the authorization matrix: roles say what an account may
// do, scopes where. Each row is one account of a given scope asking for
// one thing in or out of it, against a real alertd holding Shule (653122)
// and Kashgar city (653101). The table is rendered into docs/security.md
// next to the route table (-update-security-doc).
type scopeRow struct {
	who    string // an account of scopeFixture
	what   string // for the doc
	method string
	path   string // $VARS expanded
	body   string // $VARS expanded
	want   int    // HTTP status
	msg    string // the answer's message contains this (refusals name what and the scope)
}

const (
	shuleTown = "653122100"    // 疏勒镇
	shuleVill = "653122100001" // in 疏勒镇
	cityTown  = "653101001"    // 恰萨街道, 喀什市
	// A square around a point on the border of Shule and Kashgar city.
	borderPoly = "39.410464,76.233543 39.410464,76.253543 39.430464,76.253543 39.430464,76.233543 39.410464,76.233543"
	insidePoly = "39.24,76.19 39.24,76.21 39.26,76.21 39.26,76.19 39.24,76.19"
)

var scopeMatrix = []scopeRow{
	{"county operator (653122)", "issue in own county", "POST", "/api/v1/alerts", `$ALERT{"codes":["` + shuleTown + `"]}`, 201, ""},
	{"county operator (653122)", "issue in another county", "POST", "/api/v1/alerts", `$ALERT{"codes":["` + cityTown + `"]}`, 403, "area 653101001 (恰萨街道) is outside your scope 653122 (疏勒县)"},
	{"county operator (653122)", "issue to own and another county", "POST", "/api/v1/alerts", `$ALERT{"codes":["` + shuleTown + `","653101"]}`, 403, "area 653101 (喀什市) is outside your scope"},
	{"county operator (653122)", "polygon inside own county", "POST", "/api/v1/alerts", `$ALERT{"polygons":["` + insidePoly + `"]}`, 201, ""},
	{"county operator (653122)", "polygon crossing into another county", "POST", "/api/v1/alerts", `$ALERT{"polygons":["` + borderPoly + `"]}`, 403, "area.polygons[0] is outside your scope 653122 (疏勒县)"},
	{"county operator (653122)", "circle crossing into another county", "POST", "/api/v1/alerts", `$ALERT{"circles":["39.420464,76.243543 1"]}`, 403, "area.circles[0]"},
	{"township operator (653122100)", "the parent county's code", "POST", "/api/v1/alerts", `$ALERT{"codes":["653122"]}`, 403, "area 653122 (疏勒县) is outside your scope 653122100 (疏勒镇)"},
	{"township operator (653122100)", "a village of own township", "POST", "/api/v1/alerts", `$ALERT{"codes":["` + shuleVill + `"]}`, 201, ""},
	{"prefecture operator (6531)", "issue across both counties", "POST", "/api/v1/alerts", `$ALERT{"codes":["` + shuleTown + `","653101"]}`, 201, ""},
	{"prefecture operator (6531)", "polygon across the county border", "POST", "/api/v1/alerts", `$ALERT{"polygons":["` + borderPoly + `"]}`, 201, ""},
	{"county operator (653122)", "preview another county (changes nothing)", "POST", "/api/v1/audience/preview", `$ALERT{"codes":["653101"]}`, 200, ""},
	{"county operator (653122)", "update own warning to reach another county", "POST", "/api/v1/alerts/$SHULE_ISSUED/update", `$ALERT{"codes":["` + shuleTown + `","` + cityTown + `"]}`, 403, "area 653101001 (恰萨街道) is outside your scope"},
	{"county operator (653122)", "update the prefecture's warning down to own county", "POST", "/api/v1/alerts/$BOTH_ISSUED/update", `$ALERT{"codes":["` + shuleTown + `"]}`, 403, "outside your scope 653122"},
	{"county operator (653122)", "cancel another county's warning", "POST", "/api/v1/alerts/$CITY_ISSUED/cancel", `{"reason":"x"}`, 403, "area 653101001 (恰萨街道) is outside your scope"},
	{"county operator (653122)", "all-clear a prefecture-wide warning", "POST", "/api/v1/alerts/$BOTH_ISSUED/allclear", `{"reason":"x"}`, 403, "outside your scope"},
	{"county operator (653122)", "cancel own county's warning", "POST", "/api/v1/alerts/$SHULE_CANCEL/cancel", `{"reason":"x"}`, 200, ""},
	{"county approver (653122)", "approve a warning pending in another county", "POST", "/api/v1/alerts/$CITY_PENDING/approve", `{"reason":"ok"}`, 403, "area 653101001 (恰萨街道) is outside your scope"},
	{"county approver (653122)", "reject a warning pending in another county", "POST", "/api/v1/alerts/$CITY_PENDING/reject", `{"reason":"no"}`, 403, "outside your scope"},
	{"county approver (653122)", "approve a warning pending in own county", "POST", "/api/v1/alerts/$SHULE_PENDING/approve", `{"reason":"ok"}`, 200, ""},
	{"prefecture approver (6531)", "approve a warning pending in a county", "POST", "/api/v1/alerts/$CITY_PENDING/approve", `{"reason":"ok"}`, 200, ""},
	{"county operator (653122)", "schedule a drill in another county", "POST", "/api/v1/schedules", `{"kind":"drill","spec":"every 1h","body":$BODY{"codes":["` + cityTown + `"]}}`, 403, "outside your scope"},
	{"county operator (653122)", "rebroadcast another county's warning", "POST", "/api/v1/schedules", `{"kind":"rebroadcast","spec":"every 1h","alert_id":"$CITY_ISSUED"}`, 403, "outside your scope"},
	{"county operator (653122)", "list warnings: another county's are not shown", "GET", "/api/v1/alerts/$CITY_ISSUED", "", 404, ""},
	{"county operator (653122)", "recipients of a prefecture-wide warning", "GET", "/api/v1/alerts/$BOTH_ISSUED/deliveries", "", 403, "its recipients outside your scope are not shown"},
	{"county operator (653122)", "the outbox (every county's recipients)", "GET", "/api/v1/outbox", "", 403, "your scope is 653122"},
	{"county admin (653122)", "enrol a loudspeaker of another county", "POST", "/api/v1/speakers/SPK-CITY/enroll", "", 403, "loudspeaker SPK-CITY in 653101001007"},
	{"county admin (653122)", "revoke a loudspeaker of another county", "POST", "/api/v1/speakers/SPK-CITY/revoke", "", 403, "outside your scope"},
	{"county admin (653122)", "enrol a loudspeaker of own county", "POST", "/api/v1/speakers/SPK-SHULE/enroll", "", 200, ""},
	{"county admin (653122)", "import residents of another county", "POST", "/api/v1/residents/import", "phone,village,language\n13900000009,653101001007,zh\n", 422, "outside your scope 653122 (疏勒县)"},
	{"county admin (653122)", "import a loudspeaker into another county", "POST", "/api/v1/speakers/import", "id,village\nSPK-NEW,653101001007\n", 422, "outside your scope"},
	{"county admin (653122)", "move another county's loudspeaker into own county", "POST", "/api/v1/speakers/import", "id,village\nSPK-CITY," + shuleVill + "\n", 422, "registered in village 653101001007"},
	{"county admin (653122)", "import regions (changes every county's tree)", "POST", "/api/v1/regions/import", "code,name,level\n", 403, "whole tree"},
	{"county admin (653122)", "grant a wider scope than own", "POST", "/api/v1/users", `{"name":"wide","role":"operator","scope":"6531"}`, 403, "wider than your own scope 653122"},
	{"county admin (653122)", "create an officer within own scope", "POST", "/api/v1/users", `{"name":"town2","role":"operator","scope":"653122101"}`, 201, ""},
	{"county admin (653122)", "create an officer, scope left out: the admin's own", "POST", "/api/v1/users", `{"name":"same","role":"operator"}`, 201, ""},
	{"county admin (653122)", "widen an officer's scope", "POST", "/api/v1/users/town2/scope", `{"scope":"653101"}`, 403, "wider than your own scope"},
	{"county admin (653122)", "reset the prefecture admin's token", "POST", "/api/v1/users/admin/rotate-token", "", 403, "has scope * (the whole tree), wider than your scope 653122"},
	{"county admin (653122)", "set own scope wider", "POST", "/api/v1/users/county-admin/scope", `{"scope":"*"}`, 403, "wider than your own scope"},
	{"field account (653122)", "report from another county's village", "POST", "/api/v1/reports", `{"alert_id":"$BOTH_ISSUED","kind":"all_well","location":{"village":"653101001007"},"idempotency_key":"5b1e0c4a-8f0d-4c1e-9b7a-2f4d6e8a0c11"}`, 403, "location.village 653101001007"},
	{"field account (653122)", "report from own county's village", "POST", "/api/v1/reports", `{"alert_id":"$BOTH_ISSUED","kind":"all_well","location":{"village":"` + shuleVill + `"},"idempotency_key":"5b1e0c4a-8f0d-4c1e-9b7a-2f4d6e8a0c12"}`, 201, ""},
	{"prefecture admin (*)", "narrow a county officer to a township", "POST", "/api/v1/users/town2/scope", `{"scope":"653122102"}`, 200, ""},
	{"prefecture admin (*)", "unknown region in a scope", "POST", "/api/v1/users/town2/scope", `{"scope":"653199"}`, 422, "not a region of the tree"},
}

type scopeFixture struct {
	s      *testServer
	tokens map[string]string
	vars   map[string]string
}

func newScopeFixture(t *testing.T) *scopeFixture {
	t.Helper()
	s := startServer(t, func(c *Config) {
		c.Outbox = nil // every channel on: loudspeaker enrolment, voice
		c.RateLimits = api.RateLimits{TokenRPS: 1e6, TokenBurst: 1e6, AddressRPS: 1e6, AddressBurst: 1e6}
		setYAML(t, &c.Voice, "loopback: true")
		setYAML(t, &c.Audio, `espeak: "off"`)
	})
	f := &scopeFixture{s: s, tokens: map[string]string{"prefecture admin (*)": testAdminToken}, vars: map[string]string{}}
	city, err := os.ReadFile("../../targeting/data/kashgar/653101.csv")
	if err != nil {
		t.Fatal(err)
	}
	mustCall(t, s.Base, "POST", "/api/v1/regions/import", testAdminToken, city, 201)
	mustCall(t, s.Base, "POST", "/api/v1/speakers/import", testAdminToken, "id,village\nSPK-SHULE,"+shuleVill+"\nSPK-CITY,653101001007\n", 200)
	for _, u := range []struct{ who, name, role, scope string }{
		{"county operator (653122)", "county-op", "operator", "653122"},
		{"township operator (653122100)", "town-op", "operator", "653122100"},
		{"county approver (653122)", "county-ap", "approver", "653122"},
		{"prefecture operator (6531)", "pref-op", "operator", "6531"},
		{"prefecture approver (6531)", "pref-ap", "approver", "6531"},
		{"county admin (653122)", "county-admin", "admin", "653122"},
		{"field account (653122)", "field-shule", "viewer", "653122"},
	} {
		out := mustCall(t, s.Base, "POST", "/api/v1/users", testAdminToken, map[string]string{"name": u.name, "role": u.role, "scope": u.scope}, 201)
		f.tokens[u.who] = out["token"].(string)
	}
	body := func(area string) string { return alertWithArea(t, area) }
	mk := func(who, area, wantState string) string {
		t.Helper()
		out := mustCall(t, s.Base, "POST", "/api/v1/alerts", f.tokens[who], body(area), 201)
		if out["state"] != wantState {
			t.Fatalf("fixture warning %s: state %v, want %s", area, out["state"], wantState)
		}
		return out["id"].(string)
	}
	f.vars["SHULE_ISSUED"] = mk("county operator (653122)", `{"codes":["`+shuleTown+`"]}`, "issued")
	f.vars["SHULE_CANCEL"] = mk("county operator (653122)", `{"codes":["`+shuleTown+`"]}`, "issued")
	f.vars["CITY_ISSUED"] = mk("prefecture operator (6531)", `{"codes":["`+cityTown+`"]}`, "issued")
	f.vars["BOTH_ISSUED"] = mk("prefecture operator (6531)", `{"codes":["`+shuleTown+`","`+cityTown+`"]}`, "issued")
	f.vars["CITY_PENDING"] = mkOrange(t, s.Base, f.tokens["prefecture operator (6531)"], `{"codes":["`+cityTown+`"]}`)
	f.vars["SHULE_PENDING"] = mkOrange(t, s.Base, f.tokens["county operator (653122)"], `{"codes":["`+shuleTown+`"]}`)
	return f
}

// alertWithArea is the example warning at yellow (issues at once), on the
// WebSocket only, aimed at area (JSON).
func alertWithArea(t testing.TB, area string) string {
	t.Helper()
	b := string(exampleBody(t))
	out := strings.Replace(b, `"area":{"codes":["653122100","653122201"]}`, `"area":`+area, 1)
	out = strings.Replace(out, `"orange"`, `"yellow"`, 1)
	out = strings.Replace(out, `"channels":["speaker","sms","websocket","voice"]`, `"channels":["websocket"]`, 1)
	if out == b || !strings.Contains(out, `"yellow"`) || !strings.Contains(out, `"channels":["websocket"]`) {
		t.Fatal("example_alert.json changed: adjust alertWithArea")
	}
	return out
}

func mkOrange(t *testing.T, base, token, area string) string {
	t.Helper()
	body := strings.Replace(alertWithArea(t, area), `"yellow"`, `"orange"`, 1)
	out := mustCall(t, base, "POST", "/api/v1/alerts", token, body, 201)
	if out["state"] != "pending" {
		t.Fatalf("orange fixture: state %v", out["state"])
	}
	return out["id"].(string)
}

func (f *scopeFixture) expand(t *testing.T, s string) string {
	t.Helper()
	// $ALERT{area} and $BODY{area}: a whole warning (body) aimed at area.
	for _, k := range []string{"$ALERT", "$BODY"} {
		for {
			i := strings.Index(s, k+"{")
			if i < 0 {
				break
			}
			depth, j := 0, i+len(k)
			for ; j < len(s); j++ {
				if s[j] == '{' {
					depth++
				} else if s[j] == '}' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			s = s[:i] + alertWithArea(t, s[i+len(k):j+1]) + s[j+1:]
		}
	}
	for k, v := range f.vars {
		s = strings.ReplaceAll(s, "$"+k, v)
	}
	if strings.Contains(s, "$") {
		t.Fatalf("unexpanded variable in %q", s)
	}
	return s
}

func TestAuthorizationScopes(t *testing.T) {
	f := newScopeFixture(t)
	for _, row := range scopeMatrix {
		tok, ok := f.tokens[row.who]
		if !ok {
			t.Fatalf("row %q: no account %q", row.what, row.who)
		}
		var body any
		if row.body != "" {
			body = f.expand(t, row.body)
		}
		st, out := call(t, f.s.Base, row.method, f.expand(t, row.path), tok, body)
		msg := fmt.Sprint(out)
		if st != row.want {
			t.Errorf("%s: %s (%s %s): status %d, want %d: %s", row.who, row.what, row.method, row.path, st, row.want, msg)
			continue
		}
		if row.msg != "" && !strings.Contains(msg, row.msg) {
			t.Errorf("%s: %s: answer %s does not say %q", row.who, row.what, msg, row.msg)
		}
	}

	// Reads: the county officer's list holds its county's and the
	// prefecture-wide warning, never the city's alone.
	list := mustCall(t, f.s.Base, "GET", "/api/v1/alerts", f.tokens["county operator (653122)"], nil, 200)["alerts"].([]any)
	seen := map[string]bool{}
	for _, a := range list {
		seen[a.(map[string]any)["id"].(string)] = true
	}
	if seen[f.vars["CITY_ISSUED"]] || !seen[f.vars["BOTH_ISSUED"]] || !seen[f.vars["SHULE_ISSUED"]] {
		t.Errorf("county officer's list: city %v (want false), both %v, shule %v", seen[f.vars["CITY_ISSUED"]], seen[f.vars["BOTH_ISSUED"]], seen[f.vars["SHULE_ISSUED"]])
	}
	// Scopes are visible: /me and the user list.
	me := mustCall(t, f.s.Base, "GET", "/api/v1/me", f.tokens["county operator (653122)"], nil, 200)
	if me["scope_label"] != "653122 (疏勒县)" {
		t.Errorf("/me scope_label = %v", me["scope_label"])
	}
	users := mustCall(t, f.s.Base, "GET", "/api/v1/users", testAdminToken, nil, 200)["users"].([]any)
	for _, u := range users {
		m := u.(map[string]any)
		switch m["name"] {
		case "admin":
			if m["scope_label"] != "* (the whole tree)" {
				t.Errorf("bootstrap admin scope %v", m["scope_label"])
			}
		case "same":
			if fmt.Sprint(m["scope"]) != "[653122]" {
				t.Errorf("an account made without a scope by a county admin: %v", m["scope"])
			}
		case "town2":
			if fmt.Sprint(m["scope"]) != "[653122102]" {
				t.Errorf("town2 scope %v", m["scope"])
			}
		}
	}
	// Changing a scope is audited with the old one.
	aud := mustCall(t, f.s.Base, "GET", "/api/v1/audit?action=user.scope", testAdminToken, nil, 200)
	if b := fmt.Sprint(aud); !strings.Contains(b, `653122102`) || !strings.Contains(b, `653122101`) {
		t.Errorf("no user.scope audit entry with the old and new scope: %.400s", b)
	}
	checkScopeDoc(t)
}

// Live voice: a county officer may go live to its own county's loudspeakers
// but not another county's; an approver outside the request's region may
// not approve it, one whose scope covers it may.
func TestVoiceLiveScope(t *testing.T) {
	f := newScopeFixture(t)
	ws := "ws://" + f.s.Addr + "/voice/ws"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dial := func(who string, onFrame func(wire.Frame)) *rtcclient.Conn {
		t.Helper()
		c, err := rtcclient.Dial(ctx, ws, f.tokens[who], rtcclient.Config{Loopback: true, OnFrame: onFrame})
		if err != nil {
			t.Fatalf("voice as %s: %v", who, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	op := dial("county operator (653122)", nil)
	if _, err := op.GoLive(ctx, cityTown, 1); err == nil || !strings.Contains(err.Error(), "outside your scope 653122 (疏勒县)") {
		t.Fatalf("going live to another county: %v, want a scope refusal", err)
	}
	if _, err := op.GoLiveTo(ctx, []string{shuleTown, cityTown}, 1, ""); err == nil || !strings.Contains(err.Error(), "653101001") {
		t.Fatalf("going live to own and another county: %v, want a scope refusal naming 653101001", err)
	}
	if p, err := op.GoLive(ctx, shuleTown, 1); err != nil {
		t.Fatalf("going live to own township at blue: %v", err)
	} else {
		p.Close()
	}

	// A red live request in the city waits for an approver.
	requests := make(chan wire.Frame, 8)
	refusals := make(chan wire.Frame, 8)
	countyAp := dial("county approver (653122)", func(fr wire.Frame) {
		switch {
		case fr.Type == wire.TypeLiveRequest && fr.State == wire.LivePending:
			requests <- fr
		case fr.Type == wire.TypeError:
			refusals <- fr
		}
	})
	prefAp := dial("prefecture approver (6531)", nil)
	prefOp := dial("prefecture operator (6531)", nil)
	type result struct {
		pub *rtcclient.Publication
		err error
	}
	live := make(chan result, 1)
	go func() {
		p, err := prefOp.GoLive(ctx, cityTown, 4)
		live <- result{p, err}
	}()
	var req wire.Frame
	select {
	case req = <-requests:
	case r := <-live:
		t.Fatalf("red live without approval: %+v", r)
	case <-ctx.Done():
		t.Fatal("no live request shown")
	}
	if err := countyAp.Send(wire.Frame{Type: wire.TypeApprove, ID: "ap-1", Request: req.Request}); err != nil {
		t.Fatal(err)
	}
	select {
	case fr := <-refusals:
		if fr.Code != "forbidden" || !strings.Contains(fr.Message, "outside your scope 653122") {
			t.Fatalf("county approver approving a city request: %+v", fr)
		}
	case r := <-live:
		t.Fatalf("a county approver's approval put the city on the air: %+v", r)
	case <-ctx.Done():
		t.Fatal("no answer to the county approver")
	}
	if err := prefAp.Send(wire.Frame{Type: wire.TypeApprove, ID: "ap-2", Request: req.Request}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-live:
		if r.err != nil {
			t.Fatalf("approved by the prefecture approver: %v", r.err)
		}
		r.pub.Close()
	case <-ctx.Done():
		t.Fatal("the prefecture approver's approval did not open the room")
	}
}

const (
	scopeDocBegin = "<!-- authz-scopes:begin (generated by internal/alertd/authz_scope_test.go -update-security-doc) -->"
	scopeDocEnd   = "<!-- authz-scopes:end -->"
)

// scopeTable renders scopeMatrix for docs/security.md.
func scopeTable() string {
	var b strings.Builder
	b.WriteString("| account | asks to | answer |\n|---|---|---|\n")
	for _, r := range scopeMatrix {
		ans := fmt.Sprint(r.want)
		if r.msg != "" {
			ans += ": " + strings.ReplaceAll(r.msg, "|", `\|`)
		}
		fmt.Fprintf(&b, "| %s | %s (`%s %s`) | %s |\n", r.who, r.what, r.method, r.path, ans)
	}
	return b.String()
}

// checkScopeDoc keeps the documented scope table equal to the tested one.
func checkScopeDoc(t *testing.T) {
	t.Helper()
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i, j := strings.Index(doc, scopeDocBegin), strings.Index(doc, scopeDocEnd)
	if i < 0 || j < i {
		if !*updateSecurityDoc {
			t.Fatalf("%s: markers %q and %q not found", docPath, scopeDocBegin, scopeDocEnd)
		}
		t.Fatalf("%s: add the markers %q and %q where the scope table goes", docPath, scopeDocBegin, scopeDocEnd)
	}
	want := scopeTable()
	if doc[i+len(scopeDocBegin)+1:j] == want {
		return
	}
	if *updateSecurityDoc {
		doc = doc[:i+len(scopeDocBegin)+1] + want + doc[j:]
		if err := os.WriteFile(docPath, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: the scope table is out of date: run go test ./internal/alertd -run 'TestAuthorization' -update-security-doc", docPath)
}
