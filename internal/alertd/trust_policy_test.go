package alertd

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/lifecycle"
)

// The four ways round the two-person rule found by trying it as an attacker
// against a running alertd. Each must end with the dangerous version
// waiting for a second officer (or the self-approval refused), while the
// current version keeps playing.

// capRewrite turns an exported CAP document of warning id into another
// message: a new identifier, msgType, and (when level is set) a severity.
func capRewrite(t *testing.T, doc []byte, id, ident, msgType, level string) []byte {
	t.Helper()
	s := string(doc)
	if !strings.Contains(s, "<identifier>"+id+"-v1</identifier>") {
		t.Fatalf("test bug: exported CAP has no identifier %s-v1:\n%s", id, doc)
	}
	sent := between(s, "<sent>", "</sent>")
	sender := between(s, "<sender>", "</sender>")
	s = strings.Replace(s, "<identifier>"+id+"-v1</identifier>", "<identifier>"+ident+"</identifier>", 1)
	if msgType != "Alert" {
		s = strings.Replace(s, "<msgType>Alert</msgType>", "<msgType>"+msgType+"</msgType>", 1)
		s = strings.Replace(s, "<incidents>", "<references>"+sender+","+id+"-v1,"+sent+"</references><incidents>", 1)
	}
	if level != "" {
		sev := map[string]string{"blue": "Minor", "yellow": "Moderate", "orange": "Severe", "red": "Extreme"}[level]
		for _, old := range []string{"Minor", "Moderate", "Severe", "Extreme"} {
			s = strings.ReplaceAll(s, "<severity>"+old+"</severity>", "<severity>"+sev+"</severity>")
		}
		for _, old := range []string{"blue", "yellow", "orange", "red"} {
			s = strings.ReplaceAll(s, "<value>"+old+"</value>", "<value>"+level+"</value>")
		}
	}
	return []byte(s)
}

func between(s, a, b string) string {
	_, rest, _ := strings.Cut(s, a)
	v, _, _ := strings.Cut(rest, b)
	return v
}

func versionsOf(t *testing.T, base, token, id string) []map[string]any {
	t.Helper()
	a := mustCall(t, base, "GET", "/api/v1/alerts/"+id, token, nil, 200)
	var out []map[string]any
	for _, v := range a["versions"].([]any) {
		out = append(out, v.(map[string]any))
	}
	return out
}

// 1. A red drill, once issued, cannot be switched to actual without a
// second officer: the switch waits as a proposal; the drill keeps playing.
func TestTrustDrillSwitchedToActualWaits(t *testing.T) {
	s := startServer(t, nil)
	op := addUser(t, s.Base, "op", "operator")
	ap := addUser(t, s.Base, "ap", "approver")
	drill := strings.Replace(string(exampleBody(t)), `"orange"`, `"red"`, 1)
	drill = strings.Replace(drill, `"status":"actual"`, `"status":"exercise"`, 1)
	a := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, drill, 201)
	id := a["id"].(string)
	if a["state"] != "issued" {
		t.Fatalf("a red drill issues without approval (approve_drills false): %v", a["state"])
	}
	actual := strings.Replace(drill, `"status":"exercise"`, `"status":"actual"`, 1)
	st, up := call(t, s.Base, "POST", "/api/v1/alerts/"+id+"/update", op, actual)
	if st != 202 || up["dispatch"] != "awaiting_approval" {
		t.Fatalf("drill → actual red: status %d, dispatch %v (want 202 awaiting_approval): %v", st, up["dispatch"], up["version"])
	}
	cur := mustCall(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil, 200)
	if cur["version"].(float64) != 1 || cur["status"] != "exercise" || cur["state"] != "issued" {
		t.Fatalf("the drill must keep playing as version 1: v%v %v %v", cur["version"], cur["status"], cur["state"])
	}
	p, _ := cur["pending"].(map[string]any)
	if p == nil || p["status"] != "actual" || !containsAny(p["changes"], "drill_to_actual") || !containsAny(p["authors"], "op") {
		t.Fatalf("GET must show the pending version with its change and author: %v", cur["pending"])
	}
	// The operator cannot approve; an approver who authored none of it can.
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/approve", op, nil, 403)
	out := mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/approve", ap, `{"reason":"real storm confirmed"}`, 200)
	if out["version"].(float64) != 2 || out["status"] != "actual" || out["approved_by"] != "ap" || out["approval_reason"] != "real storm confirmed" {
		t.Fatalf("approved switch: v%v %v by %v (%v)", out["version"], out["status"], out["approved_by"], out["approval_reason"])
	}
	vs := versionsOf(t, s.Base, op, id)
	if len(vs) != 2 || vs[0]["approved_by"] != nil || vs[1]["approved_by"] != "ap" {
		t.Fatalf("approval per version: %v / %v", vs[0]["approved_by"], vs[len(vs)-1]["approved_by"])
	}
}

// 2. A CAP Update posted by an operator is that operator's update: raising
// a blue warning to red waits, authored by the human, not by the CAP sender.
func TestTrustCAPUpdateFollowsPolicy(t *testing.T) {
	s := startServer(t, nil)
	op := addUser(t, s.Base, "op", "operator")
	ap := addUser(t, s.Base, "ap", "approver")
	blue := strings.Replace(string(exampleBody(t)), `"orange"`, `"blue"`, 1)
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, blue, 201)["id"].(string)
	_, doc, _ := getRaw(t, s.Base+"/api/v1/alerts/"+id+"/cap")
	upd := capRewrite(t, doc, id, "forged-update-1", "Update", "red")
	st, res := postCAP(t, s.Base, op, upd)
	if st != 202 || res["outcome"] != "update_pending" || res["reason"] == nil {
		t.Fatalf("forged CAP Update raising blue to red: %d %v", st, res)
	}
	cur := mustCall(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil, 200)
	if cur["level"] != "blue" || cur["version"].(float64) != 1 {
		t.Fatalf("the blue warning must keep playing: %v v%v", cur["level"], cur["version"])
	}
	p, _ := cur["pending"].(map[string]any)
	if p == nil || p["level"] != "red" || !containsAny(p["authors"], "op") || containsAny(p["authors"], "cap:") {
		t.Fatalf("pending red version authored by the human who posted it: %v", p)
	}
	// The audit names the human.
	entries := mustCall(t, s.Base, "GET", "/api/v1/audit?after=0&alert="+id, op, nil, 200)["entries"].([]any)
	last := entries[len(entries)-1].(map[string]any)
	if last["actor"] != "op" {
		t.Fatalf("audit actor of the CAP update: %v", last["actor"])
	}
	// Rejecting keeps the old version.
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/reject", ap, `{"reason":"not from the met bureau"}`, 200)
	cur = mustCall(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil, 200)
	if cur["level"] != "blue" || cur["state"] != "issued" || cur["pending"] != nil {
		t.Fatalf("after rejecting the update: %v %v pending=%v", cur["level"], cur["state"], cur["pending"])
	}
	// A CAP Cancel from the same human never waits.
	cancel := capRewrite(t, doc, id, "cancel-1", "Cancel", "")
	if st, res := postCAP(t, s.Base, op, cancel); st != 201 || res["outcome"] != "cancelled" {
		t.Fatalf("CAP cancel: %d %v", st, res)
	}
}

// 3. An approver cannot approve a CAP warning they imported, nor the output
// of a schedule they created: they are its author.
func TestTrustApproverCannotApproveOwnImportOrBulletin(t *testing.T) {
	dispatch.MinScheduleInterval = time.Second
	t.Cleanup(func() { dispatch.MinScheduleInterval = 5 * time.Minute })
	s := startServer(t, nil)
	op := addUser(t, s.Base, "op", "operator")
	ap := addUser(t, s.Base, "ap", "approver")
	ap2 := addUser(t, s.Base, "ap2", "approver")
	blue := strings.Replace(string(exampleBody(t)), `"orange"`, `"blue"`, 1)
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, blue, 201)["id"].(string)
	_, doc, _ := getRaw(t, s.Base+"/api/v1/alerts/"+id+"/cap")
	red := capRewrite(t, doc, id, "imported-red-1", "Alert", "red")
	red = bytes.Replace(red, []byte("<sender>"), []byte("<sender>met."), 1)
	st, res := postCAP(t, s.Base, ap, red)
	if st != 201 || res["outcome"] != "pending" {
		t.Fatalf("red CAP import: %d %v", st, res)
	}
	imp := res["alert_id"].(string)
	a := mustCall(t, s.Base, "GET", "/api/v1/alerts/"+imp, ap, nil, 200)
	if a["created_by"] != "ap" || !strings.HasPrefix(a["source"].(string), "cap:") {
		t.Fatalf("an imported warning is authored by the human who posted it, sourced from the sender: %v %v", a["created_by"], a["source"])
	}
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+imp+"/approve", ap, nil, 403)
	if out := mustCall(t, s.Base, "POST", "/api/v1/alerts/"+imp+"/approve", ap2, `{"reason":"confirmed with the met bureau"}`, 200); out["approved_by"] != "ap2" {
		t.Fatalf("second approver: %v", out["approved_by"])
	}

	// A red bulletin scheduled by an approver: its output waits, and the
	// approver cannot approve it.
	bull := strings.Replace(string(exampleBody(t)), `"orange"`, `"red"`, 1)
	sc := mustCall(t, s.Base, "POST", "/api/v1/schedules", ap, `{"kind":"bulletin","spec":"every 1s","ttl":"10m","body":`+bull+`}`, 201)
	var out string
	waitFor(t, 20*time.Second, "the bulletin to fire", func() bool {
		for _, x := range mustCall(t, s.Base, "GET", "/api/v1/alerts?limit=50", ap, nil, 200)["alerts"].([]any) {
			m := x.(map[string]any)
			if m["source"] == "schedule:"+sc["id"].(string) {
				out = m["id"].(string)
				if m["state"] != "pending" || m["created_by"] != "ap" {
					t.Fatalf("unapproved red bulletin output: %v by %v", m["state"], m["created_by"])
				}
				return true
			}
		}
		return false
	})
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+out+"/approve", ap, nil, 403)

	// Approving the schedule takes another approver; from then on its
	// output issues, authored by its creator, approved by the approver.
	sid := sc["id"].(string)
	mustCall(t, s.Base, "POST", "/api/v1/schedules/"+sid+"/approve", ap, nil, 403)
	mustCall(t, s.Base, "POST", "/api/v1/schedules/"+sid+"/approve", op, nil, 403)
	if a := mustCall(t, s.Base, "POST", "/api/v1/schedules/"+sid+"/approve", ap2, `{"reason":"text checked"}`, 200); a["approved_by"] != "ap2" {
		t.Fatalf("schedule approval: %v", a)
	}
	waitFor(t, 20*time.Second, "an approved bulletin to issue", func() bool {
		for _, x := range mustCall(t, s.Base, "GET", "/api/v1/alerts?limit=50&state=issued", ap, nil, 200)["alerts"].([]any) {
			m := x.(map[string]any)
			if m["source"] == "schedule:"+sid {
				if m["approved_by"] != "ap2" || m["created_by"] != "ap" {
					t.Fatalf("approved bulletin output: approved by %v, created by %v", m["approved_by"], m["created_by"])
				}
				return true
			}
		}
		return false
	})
}

// capDoc rewrites an exported CAP document as another sender's message.
func capDoc(t *testing.T, exported []byte, id, sender, ident, msgType, level, ref string) []byte {
	t.Helper()
	d := capRewrite(t, exported, id, ident, "Alert", level)
	d = bytes.Replace(d, []byte("<sender>"+between(string(d), "<sender>", "</sender>")+"</sender>"), []byte("<sender>"+sender+"</sender>"), 1)
	if msgType != "Alert" {
		d = bytes.Replace(d, []byte("<msgType>Alert</msgType>"), []byte("<msgType>"+msgType+"</msgType>"), 1)
		d = bytes.Replace(d, []byte("<incidents>"), []byte("<references>"+ref+"</references><incidents>"), 1)
	}
	return d
}

// CAP auto rules stand in for the second officer only for authenticated
// senders: a document signed with the rule's certificate, or polled from a
// configured feed. Above a rule's max_level, or signed by another key, or
// unsigned, a document waits. An authenticated sender's Update of its own
// warning follows its auto rule; an unsigned one follows the policy.
func TestTrustCAPAuthenticatedSenders(t *testing.T) {
	key, certPEM := testCAPSigner(t)
	otherKey, otherPEM := testCAPSigner(t)
	src := startServer(t, nil)
	sop := addUser(t, src.Base, "op", "operator")
	sap := addUser(t, src.Base, "ap", "approver")
	blue := strings.Replace(string(exampleBody(t)), `"orange"`, `"blue"`, 1)
	blueID := mustCall(t, src.Base, "POST", "/api/v1/alerts", sop, blue, 201)["id"].(string)
	orangeID := mustCall(t, src.Base, "POST", "/api/v1/alerts", sop, exampleBody(t), 201)["id"].(string)
	mustCall(t, src.Base, "POST", "/api/v1/alerts/"+orangeID+"/approve", sap, nil, 200)
	_, exported, _ := getRaw(t, src.Base+"/api/v1/alerts/"+blueID+"/cap")

	dst := startServer(t, func(c *Config) {
		c.CAP.Poll = []string{src.Base + "/api/v1/feed.atom"}
		c.CAP.Interval = 200 * time.Millisecond
		c.CAP.Rules = []lifecycle.CAPRule{
			{Name: "met-any", Sender: "met.*", Mode: "auto", Cert: certPEM},
			{Name: "low", Sender: "*", Mode: "auto", MaxLevel: "yellow", Cert: certPEM},
		}
	})
	met := addUser(t, dst.Base, "met", "operator")
	ap := addUser(t, dst.Base, "ap", "approver")

	// Polled: the blue one issues under rule "low" as the system account;
	// the orange one is above the rule's max_level and waits.
	polled := map[string]map[string]any{}
	waitFor(t, 20*time.Second, "both polled warnings", func() bool {
		for _, x := range mustCall(t, dst.Base, "GET", "/api/v1/alerts?limit=50", met, nil, 200)["alerts"].([]any) {
			m := x.(map[string]any)
			if strings.HasPrefix(m["source"].(string), "cap:alertcast@") {
				polled[m["level"].(string)] = m
			}
		}
		return len(polled) == 2
	})
	if b := polled["blue"]; b["state"] != "issued" || b["created_by"] != "system:cap-poll" {
		t.Fatalf("polled blue: %v by %v", b["state"], b["created_by"])
	}
	o := polled["orange"]
	if o["state"] != "pending" || o["created_by"] != "system:cap-poll" {
		t.Fatalf("polled orange above the rule's max_level: %v by %v", o["state"], o["created_by"])
	}
	mustCall(t, dst.Base, "POST", "/api/v1/alerts/"+o["id"].(string)+"/approve", ap, nil, 200)

	// Signed with the rule's certificate: a red warning from met.* issues,
	// approved by the rule, authored by the officer who posted it.
	sender := "met.kashgar@xj.cma.gov.cn"
	red := signCAP(t, capDoc(t, exported, blueID, sender, "met-red-1", "Alert", "red", ""), key, certPEM)
	st, res := postCAP(t, dst.Base, met, red)
	if st != 201 || res["outcome"] != "issued" {
		t.Fatalf("signed red import: %d %v", st, res)
	}
	a := mustCall(t, dst.Base, "GET", "/api/v1/alerts/"+res["alert_id"].(string), met, nil, 200)
	if a["approved_by"] != "cap-rule:met-any" || a["created_by"] != "met" || !strings.Contains(a["approval_reason"].(string), "signature verified") {
		t.Fatalf("signed import: approved by %v (%v), created by %v", a["approved_by"], a["approval_reason"], a["created_by"])
	}
	// Signed by another key, or not signed: it waits, saying why.
	for name, doc := range map[string][]byte{
		"other key": signCAP(t, capDoc(t, exported, blueID, sender, "met-red-2", "Alert", "red", ""), otherKey, otherPEM),
		"unsigned":  capDoc(t, exported, blueID, sender, "met-red-3", "Alert", "red", ""),
	} {
		st, res := postCAP(t, dst.Base, met, doc)
		if st != 201 || res["outcome"] != "pending" || !strings.Contains(res["reason"].(string), "authenticated") {
			t.Fatalf("%s: %d %v", name, st, res)
		}
	}
	// Another sender, signed, above rule "low": waits.
	if st, res := postCAP(t, dst.Base, met, signCAP(t, capDoc(t, exported, blueID, "other@example.org", "o-1", "Alert", "orange", ""), key, certPEM)); st != 201 || res["outcome"] != "pending" {
		t.Fatalf("signed orange above the rule's max_level: %d %v", st, res)
	}

	// Updates of the sender's own blue warning.
	st, res = postCAP(t, dst.Base, met, signCAP(t, capDoc(t, exported, blueID, sender, "met-b-1", "Alert", "blue", ""), key, certPEM))
	if st != 201 || res["outcome"] != "issued" {
		t.Fatalf("signed blue: %d %v", st, res)
	}
	own := res["alert_id"].(string)
	ref := sender + ",met-b-1," + between(string(exported), "<sent>", "</sent>")
	unsignedUp := capDoc(t, exported, blueID, sender, "met-b-2", "Update", "orange", ref)
	if st, res := postCAP(t, dst.Base, met, unsignedUp); st != 202 || res["outcome"] != "update_pending" {
		t.Fatalf("unsigned CAP Update to orange: %d %v", st, res)
	}
	signedUp := signCAP(t, capDoc(t, exported, blueID, sender, "met-b-3", "Update", "red", ref), key, certPEM)
	if st, res := postCAP(t, dst.Base, met, signedUp); st != 201 || res["outcome"] != "updated" {
		t.Fatalf("signed CAP Update to red: %d %v", st, res)
	}
	cur := mustCall(t, dst.Base, "GET", "/api/v1/alerts/"+own, met, nil, 200)
	if cur["level"] != "red" || cur["approved_by"] != "cap-rule:met-any" || cur["pending"] != nil {
		t.Fatalf("after the signed update: %v approved by %v, pending %v", cur["level"], cur["approved_by"], cur["pending"])
	}
}

// 4. An approved warning rewritten by another operator (area widened to
// the county, text changed) waits; the approved version keeps playing, and
// each version shows its own approver.
func TestTrustApprovedWarningRewrittenWaits(t *testing.T) {
	s := startServer(t, nil)
	op := addUser(t, s.Base, "op", "operator")
	op2 := addUser(t, s.Base, "op2", "operator")
	ap := addUser(t, s.Base, "ap", "approver")
	ap2 := addUser(t, s.Base, "ap2", "approver")
	body := strings.Replace(string(exampleBody(t)), `"codes":["653122100","653122201"]`, `"codes":["653122100"]`, 1)
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, body, 201)["id"].(string)
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/approve", ap, nil, 200)

	wide := strings.Replace(body, `"codes":["653122100"]`, `"codes":["653122"]`, 1)
	wide = strings.Replace(wide, "疏勒县沙尘暴橙色预警", "疏勒县全境沙尘暴橙色预警，立即撤离", 1)
	st, up := call(t, s.Base, "POST", "/api/v1/alerts/"+id+"/update", op2, wide)
	if st != 202 {
		t.Fatalf("widened and rewritten approved warning: status %d, want 202: v%v %v", st, up["version"], up["approved_by"])
	}
	cur := mustCall(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil, 200)
	p, _ := cur["pending"].(map[string]any)
	if cur["version"].(float64) != 1 || p == nil || !containsAny(p["changes"], "widen") || !containsAny(p["changes"], "text") {
		t.Fatalf("current v%v, pending %v", cur["version"], p)
	}
	// Narrowing to a village inside the covered township is not a
	// widening: it issues at once, and the proposal made against the old
	// version is dropped.
	narrow := strings.Replace(body, `"codes":["653122100"]`, `"codes":["653122100001"]`, 1)
	st, up = call(t, s.Base, "POST", "/api/v1/alerts/"+id+"/update", op, narrow)
	if st != 200 || up["version"].(float64) != 2 || up["state"] != "issued" {
		t.Fatalf("narrowing must issue at once: %d v%v %v", st, up["version"], up["state"])
	}
	if cur := mustCall(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil, 200); cur["pending"] != nil {
		t.Fatalf("a proposal against a superseded version must not stay pending: %v", cur["pending"])
	}
	// The widening again; an approver who authored none of it approves.
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/update", op2, wide, 202)
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/approve", ap2, nil, 200)
	vs := versionsOf(t, s.Base, op, id)
	if len(vs) != 3 || vs[0]["approved_by"] != "ap" || vs[1]["approved_by"] != nil || vs[2]["approved_by"] != "ap2" {
		t.Fatalf("approval per version: %v %v %v", vs[0]["approved_by"], vs[1]["approved_by"], vs[len(vs)-1]["approved_by"])
	}
	if !containsAny(vs[2]["authors"], "op2") {
		t.Fatalf("v3 authors: %v", vs[2]["authors"])
	}
}

func containsAny(v any, want string) bool {
	list, _ := v.([]any)
	for _, x := range list {
		if s, _ := x.(string); s == want || (strings.HasSuffix(want, ":") && strings.HasPrefix(s, want)) {
			return true
		}
	}
	return false
}
