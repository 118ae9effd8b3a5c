package alertd

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// The issue's example body, POSTed by an operator and approved by a second
// (approver) user, reaches state issued, and with no real channel
// configured every planned delivery is in the outbox.
func TestExampleWarningApprovedReachesOutbox(t *testing.T) {
	s := startServer(t, nil)
	importPopulation(t, s.Base, 3000, 60)
	op := addUser(t, s.Base, "op1", "operator")
	ap := addUser(t, s.Base, "ap1", "approver")

	prev := mustCall(t, s.Base, "POST", "/api/v1/audience/preview", op, exampleBody(t), 200)
	chans := prev["channels"].(map[string]any)
	if chans["sms"].(float64) <= 0 || chans["speaker"].(float64) <= 0 {
		t.Fatalf("preview reaches nobody: %v", prev)
	}

	out := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, exampleBody(t), 201)
	id := out["id"].(string)
	if out["state"] != "pending" || out["dispatch"] != "awaiting_approval" {
		t.Fatalf("orange warning must wait for approval: %v %v", out["state"], out["dispatch"])
	}
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/approve", op, nil, 403) // operator role
	ap2 := addUser(t, s.Base, "ap2", "approver")
	out = mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/approve", ap, `{"reason":"confirmed with the met bureau"}`, 200)
	if out["state"] != "issued" || out["approved_by"] != "ap1" {
		t.Fatalf("approve: %v", out)
	}
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/approve", ap2, nil, 409) // already issued

	done := waitDone(t, s.Base, ap, id, 30*time.Second)
	total := 0
	for ch, p := range progressOf(done) {
		// The outbox reached nobody: its records are not_sent, never delivered.
		if p["planned"] != p["not_sent"] || p["delivered"] != 0 || p["sent"] != 0 {
			t.Errorf("%s: planned %v not_sent %v delivered %v sent %v", ch, p["planned"], p["not_sent"], p["delivered"], p["sent"])
		}
		if want := chans[ch]; ch != "websocket" && want != nil && p["planned"] != want.(float64) {
			t.Errorf("%s: planned %v, preview said %v", ch, p["planned"], want)
		}
		total += int(p["planned"])
	}
	ob := mustCall(t, s.Base, "GET", "/api/v1/outbox?alert="+id+"&limit=1", ap, nil, 200)
	if int(ob["total"].(float64)) != total {
		t.Fatalf("outbox holds %v records, %d deliveries planned", ob["total"], total)
	}
	// Every planned SMS recipient is a resident in the aimed townships with the herders group.
	dl := mustCall(t, s.Base, "GET", "/api/v1/alerts/"+id+"/deliveries?channel=sms&limit=5", ap, nil, 200)
	for _, d := range dl["deliveries"].([]any) {
		if d.(map[string]any)["state"] != "not_sent" {
			t.Errorf("delivery %v", d)
		}
	}
	audit := mustCall(t, s.Base, "GET", "/api/v1/audit?after=0&verify=1&alert="+id, ap, nil, 200)
	if audit["verify_error"] != nil {
		t.Fatalf("audit chain broken: %v", audit["verify_error"])
	}
	var actions []string
	for _, e := range audit["entries"].([]any) {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	if strings.Join(actions, ",") != "alert.create,alert.approve" {
		t.Fatalf("audit actions for the warning: %v", actions)
	}
}

func TestBadInputIsRefusedAndNothingStored(t *testing.T) {
	s := startServer(t, nil)
	op := addUser(t, s.Base, "op", "operator")
	viewer := addUser(t, s.Base, "v", "viewer")
	good := string(exampleBody(t))
	cases := []struct {
		name, token, body string
		status            int
		field             string
	}{
		{"malformed JSON", op, `{"event":`, 400, ""},
		{"unknown field", op, strings.Replace(good, `"event"`, `"evnt"`, 1), 400, "evnt"},
		{"unknown event", op, strings.Replace(good, `"sandstorm"`, `"meteor"`, 1), 422, "event"},
		{"unknown level", op, strings.Replace(good, `"orange"`, `"purple"`, 1), 422, "level"},
		{"unknown region", op, strings.Replace(good, `653122201`, `653122999`, 1), 422, "area.codes[1]"},
		{"past expiry", op, strings.Replace(good, `2030-01-01`, `2020-01-01`, 1), 422, "expires"},
		{"missing language", op, strings.Replace(good, `"ug":{`, `"xx":{`, 1), 422, "text.ug"},
		{"text over limit", op, strings.Replace(good, `能见度小于500米。`, strings.Repeat("沙", 1200), 1), 422, "text.zh.description"},
		{"wrong type", op, strings.Replace(good, `"channels":[`, `"channels":7,"x":[`, 1), 400, "channels"},
		{"viewer issuing", viewer, good, 403, ""},
		{"no token", "", good, 401, ""},
		{"bad token", "act_nope", good, 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, out := call(t, s.Base, "POST", "/api/v1/alerts", tc.token, tc.body)
			if st != tc.status {
				t.Fatalf("status %d, want %d: %v", st, tc.status, out)
			}
			e, _ := out["error"].(map[string]any)
			if e == nil || e["message"] == "" {
				t.Fatalf("no JSON error: %v", out)
			}
			if tc.field != "" {
				found := false
				for _, p := range e["problems"].([]any) {
					if p.(map[string]any)["field"] == tc.field {
						found = true
					}
				}
				if !found {
					t.Fatalf("error does not name %q: %v", tc.field, e)
				}
			}
		})
	}
	list := mustCall(t, s.Base, "GET", "/api/v1/alerts", op, nil, 200)
	if n := len(list["alerts"].([]any)); n != 0 {
		t.Fatalf("bad input stored %d warnings", n)
	}
	ob := mustCall(t, s.Base, "GET", "/api/v1/outbox", op, nil, 200)
	if ob["total"].(float64) != 0 {
		t.Fatalf("bad input queued work: %v", ob)
	}
}

func TestTwoPersonRule(t *testing.T) {
	s := startServer(t, nil)
	ap := addUser(t, s.Base, "ap", "approver")
	other := addUser(t, s.Base, "ap-other", "approver")
	out := mustCall(t, s.Base, "POST", "/api/v1/alerts", ap, exampleBody(t), 201)
	id := out["id"].(string)
	st, e := call(t, s.Base, "POST", "/api/v1/alerts/"+id+"/approve", ap, nil)
	if st != 403 || !strings.Contains(e["error"].(map[string]any)["message"].(string), "two-person") {
		t.Fatalf("self-approval: %d %v", st, e)
	}
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/reject", other, `{}`, 422) // reason required
	out = mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/reject", other, `{"reason":"wrong township"}`, 200)
	if out["state"] != "rejected" {
		t.Fatalf("reject: %v", out["state"])
	}
	// Blue issues directly, and the same Idempotency-Key never issues twice.
	op := addUser(t, s.Base, "op", "operator")
	blue := strings.Replace(string(exampleBody(t)), `"orange"`, `"blue"`, 1)
	req := func() (int, map[string]any) {
		r, _ := http.NewRequest("POST", s.Base+"/api/v1/alerts", strings.NewReader(blue))
		r.Header.Set("Authorization", "Bearer "+op)
		r.Header.Set("Idempotency-Key", "form-42")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = jsonDecode(resp, &m)
		return resp.StatusCode, m
	}
	st1, a1 := req()
	st2, a2 := req()
	if st1 != 201 || st2 != 200 || a1["id"] != a2["id"] || a1["state"] != "issued" {
		t.Fatalf("idempotent create: %d %v / %d %v", st1, a1["id"], st2, a2["id"])
	}
}

// Redis down at issue time: the warning is stored, the answer says dispatch
// waits for the queue, /readyz is red; when Redis returns it is queued and
// delivered once.
func TestRedisDownAtIssueIsQueuedWhenItReturns(t *testing.T) {
	s := startServer(t, nil)
	importPopulation(t, s.Base, 500, 10)
	op := addUser(t, s.Base, "op", "operator")
	blue := strings.Replace(string(exampleBody(t)), `"orange"`, `"blue"`, 1)

	s.Redis.Stop()
	waitFor(t, 10*time.Second, "readyz red", func() bool {
		st, _ := call(t, s.Base, "GET", "/readyz", "", nil)
		return st == 503
	})
	waitFor(t, 10*time.Second, "the relay to notice the queue is down", func() bool { return !s.engine.QueueReady() })
	out := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, blue, 201)
	id := out["id"].(string)
	if !strings.HasPrefix(out["dispatch"].(string), "waiting_for_queue") {
		t.Fatalf("the answer must say dispatch waits for the queue: %v", out["dispatch"])
	}
	got := mustCall(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil, 200)
	if got["state"] != "issued" {
		t.Fatalf("stored state %v", got["state"])
	}
	// Still in the dispatch outbox: the relay cannot have handed it on.
	pend, err := s.store.PendingDispatches(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(pend, func(p dispatch.PendingDispatch) bool { return p.AlertID == id }) {
		t.Fatalf("warning %s left the dispatch outbox while Redis was down: %v", id, pend)
	}
	s.Redis.Restart(t)
	waitFor(t, 15*time.Second, "readyz green", func() bool {
		st, _ := call(t, s.Base, "GET", "/readyz", "", nil)
		return st == 200
	})
	done := waitDone(t, s.Base, op, id, 30*time.Second)
	for ch, p := range progressOf(done) {
		if p["planned"] != p["not_sent"] {
			t.Errorf("%s after Redis returned: %v", ch, p)
		}
	}
	ob := mustCall(t, s.Base, "GET", "/api/v1/outbox?alert="+id+"&limit=1000", op, nil, 200)
	for _, r := range ob["records"].([]any) {
		if n := r.(map[string]any)["sends"]; n != nil && n.(float64) > 1 {
			t.Fatalf("record sent %v times: %v", n, r)
		}
	}
}

func TestCancelRevokesAndNotifiesReached(t *testing.T) {
	s := startServer(t, nil)
	importPopulation(t, s.Base, 400, 10)
	op := addUser(t, s.Base, "op", "operator")
	blue := strings.Replace(string(exampleBody(t)), `"orange"`, `"blue"`, 1)
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, blue, 201)["id"].(string)
	first := waitDone(t, s.Base, op, id, 30*time.Second)
	out := mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/cancel", op, `{"reason":"issued in error"}`, 200)
	if out["state"] != "cancelled" || out["version"].(float64) != 2 || out["kind"] != "cancel" {
		t.Fatalf("cancel: %v %v %v", out["state"], out["version"], out["kind"])
	}
	done := waitDone(t, s.Base, op, id, 30*time.Second)
	pf, pd := progressOf(first), progressOf(done)
	for ch := range pf {
		if pd[ch]["not_sent"] != pf[ch]["not_sent"] {
			t.Errorf("%s: cancel recorded for %v, warning for %v", ch, pd[ch]["not_sent"], pf[ch]["not_sent"])
		}
	}
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/cancel", op, nil, 409)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testsvc.WaitFor(t, d, what, cond)
}

func jsonDecode(resp *http.Response, v any) error {
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return jsonUnmarshal(b.Bytes(), v)
}

var _ = csv.NewReader
