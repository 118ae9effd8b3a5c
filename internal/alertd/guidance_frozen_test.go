package alertd

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/targeting"
)

// An evacuate warning's guidance is frozen when it is submitted: an admin
// renames the shelter while the warning waits for approval; the approver
// reviews each village's sentence (GET /alerts/{id}/guidance), which still
// names the shelter as submitted; an approval bound to another digest is
// refused; once approved, every SMS and every loudspeaker programme names
// the ORIGINAL shelter, never the new name. An update made after the edit
// is frozen again from the shelters of now: its guidance differs, so it is
// a text change that waits for a second officer, and once approved it
// names the new shelter. Submit and approve audit records carry the digest.
func TestFrozenGuidanceSurvivesShelterEdit(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Outbox = []string{"sms", "speaker", "voice"} })
	var res, spk, shel bytes.Buffer
	if err := targeting.GeneratePopulation(targeting.DefaultTree(), targeting.DefaultOutline(), 600, 20, 7, &res, &spk); err != nil {
		t.Fatal(err)
	}
	mustCall(t, s.Base, "POST", "/api/v1/residents/import", testAdminToken, res.Bytes(), 200)
	mustCall(t, s.Base, "POST", "/api/v1/speakers/import", testAdminToken, spk.Bytes(), 200)
	if err := targeting.GenerateShelters(targeting.DefaultTree(), targeting.DefaultOutline(), 7, &shel); err != nil {
		t.Fatal(err)
	}
	mustCall(t, s.Base, "POST", "/api/v1/shelters/import", testAdminToken, shel.Bytes(), 200)
	// The shelter of township 653122100's first served village.
	var target map[string]any
	for _, x := range mustCall(t, s.Base, "GET", "/api/v1/shelters", testAdminToken, nil, 200)["shelters"].([]any) {
		sh := x.(map[string]any)
		served, _ := sh["served"].([]any)
		for _, v := range served {
			if strings.HasPrefix(v.(string), "653122100") && target == nil {
				target = sh
			}
		}
	}
	if target == nil {
		t.Fatal("no shelter serves township 653122100")
	}
	oldName, newName := target["name"].(string), "改名后的避难所"

	op := addUser(t, s.Base, "op", "operator")
	ap := addUser(t, s.Base, "ap", "approver")
	body := strings.Replace(string(exampleBody(t)), `"audience":{"groups":["herders"]}`, `"audience":{}`, 1)
	body = strings.Replace(body, `"codes":["653122100","653122201"]`, `"codes":["653122100"]`, 1)
	body = strings.Replace(body, `"channels":["speaker","sms","websocket","voice"]`, `"channels":["speaker","sms"],"action":{"type":"evacuate"}`, 1)
	created := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, body, 201)
	id := created["id"].(string)
	a := mustCall(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil, 200)
	digest, _ := a["guidance_digest"].(string)
	if a["state"] != "pending" || len(digest) != 64 {
		t.Fatalf("submitted: state %v digest %q", a["state"], digest)
	}

	// An admin renames the shelter while the warning waits.
	edit := map[string]any{}
	for _, k := range []string{"id", "name_ug", "point", "capacity", "kind", "accessible", "contact", "villages", "synthetic"} {
		if v, ok := target[k]; ok {
			edit[k] = v
		}
	}
	edit["name"] = newName
	mustCall(t, s.Base, "PUT", "/api/v1/shelters/"+target["id"].(string), testAdminToken, edit, 200)

	// The approver reviews each village's sentence: the submitted name.
	gv := mustCall(t, s.Base, "GET", "/api/v1/alerts/"+id+"/guidance", ap, nil, 200)["guidance"].(map[string]any)
	if gv["digest"] != digest || gv["villages"].(float64) == 0 {
		t.Fatalf("guidance view: %v", gv)
	}
	sentences := 0
	for _, x := range gv["groups"].([]any) {
		gr := x.(map[string]any)
		for _, y := range gr["villages"].([]any) {
			text := y.(map[string]any)["text"].(map[string]any)
			if strings.Contains(text["zh"].(string), newName) {
				t.Fatalf("the approver is shown the name given after submission: %v", text)
			}
			if strings.Contains(text["zh"].(string), oldName) {
				sentences++
			}
			if text["ug"] == "" {
				t.Fatalf("no Uyghur sentence: %v", text)
			}
		}
	}
	if sentences == 0 {
		t.Fatalf("no village sentence names %s: %v", oldName, gv)
	}

	// An approval bound to other guidance is refused; the right one issues.
	stale := strings.Repeat("0", 64)
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/approve", ap, map[string]string{"reason": "ok", "guidance_digest": stale}, 409)
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/approve", ap, map[string]string{"reason": "ok", "guidance_digest": "nothex"}, 422)
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/approve", ap, map[string]string{"reason": "ok", "guidance_digest": digest}, 200)
	waitDone(t, s.Base, op, id, 60*time.Second)

	smsNaming := func(version, name string) (with, without int) {
		ob := mustCall(t, s.Base, "GET", "/api/v1/outbox?alert="+id+"/v"+version+"&channel=sms&limit=1000", op, nil, 200)
		for _, x := range ob["records"].([]any) {
			text := x.(map[string]any)["body"].(string)
			if strings.Contains(text, name) {
				with++
			} else {
				without++
			}
		}
		return
	}
	if n, _ := smsNaming("1", oldName); n == 0 {
		t.Fatalf("no SMS of v1 names the shelter as submitted (%s)", oldName)
	}
	if n, _ := smsNaming("1", newName); n != 0 {
		t.Fatalf("%d SMS of the approved v1 name the shelter as renamed after submission", n)
	}
	// The loudspeaker programmes rendered (their scripts are shared in Redis).
	scripts := programmeScripts(t, s)
	oldSaid, newSaid := 0, 0
	for _, text := range scripts {
		if strings.Contains(text, oldName) {
			oldSaid++
		}
		if strings.Contains(text, newName) {
			newSaid++
		}
	}
	if oldSaid == 0 || newSaid != 0 {
		t.Fatalf("programmes: %d name %s, %d name %s: %q", oldSaid, oldName, newSaid, newName, scripts)
	}

	// An update with the same input is frozen again from the shelters of
	// now: other guidance, a text change, waits for the approver.
	up := mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/update", op, body, 202)
	pend, _ := up["pending"].(map[string]any)
	if pend == nil || pend["guidance_digest"] == digest || !strings.Contains(strings.Join(anyStrings(pend["changes"]), ","), "text") {
		t.Fatalf("update after the edit: %v", up["pending"])
	}
	gv2 := mustCall(t, s.Base, "GET", "/api/v1/alerts/"+id+"/guidance", ap, nil, 200)["guidance"].(map[string]any)
	if gv2["digest"] != pend["guidance_digest"] {
		t.Fatalf("guidance view of the proposal: %v, proposal %v", gv2["digest"], pend["guidance_digest"])
	}
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/approve", ap, map[string]string{"reason": "ok", "guidance_digest": digest}, 409)
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/approve", ap, map[string]string{"reason": "ok", "guidance_digest": gv2["digest"].(string)}, 200)
	waitFor(t, 60*time.Second, "v2 SMS sent", func() bool { n, _ := smsNaming("2", newName); return n > 0 })

	// The audit trail names the guidance each step was about.
	entries := mustCall(t, s.Base, "GET", "/api/v1/audit?alert="+id, testAdminToken, nil, 200)["entries"].([]any)
	seen := map[string]string{}
	for _, x := range entries {
		e := x.(map[string]any)
		var d map[string]any
		_ = json.Unmarshal([]byte(e["detail"].(string)), &d)
		if g, ok := d["guidance_digest"].(string); ok {
			seen[e["action"].(string)+":"+g[:12]] = g
		}
	}
	for _, k := range []string{"alert.create:" + digest[:12], "alert.approve:" + digest[:12],
		"alert.update_proposed:" + gv2["digest"].(string)[:12], "alert.approve:" + gv2["digest"].(string)[:12]} {
		if _, ok := seen[k]; !ok {
			t.Errorf("audit: no %s (have %v)", k, seen)
		}
	}
}

func anyStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// programmeScripts is the speech of every programme rendered so far, from
// the descriptions the renderer shares in Redis.
func programmeScripts(t *testing.T, s *testServer) []string {
	t.Helper()
	ctx := context.Background()
	keys, err := s.redis.Client.Keys(ctx, "alertcast:audio:programme:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		spec, err := s.redis.Client.Get(ctx, k).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		var p audio.Programme
		if err := json.Unmarshal(spec, &p); err != nil {
			t.Fatal(err)
		}
		var script []string
		for _, seg := range p.Speech {
			script = append(script, seg.Text)
		}
		out = append(out, strings.Join(script, " / "))
	}
	return out
}
