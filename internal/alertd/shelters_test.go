package alertd

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/targeting"
)

// An evacuate warning tells each village's residents their own shelter:
// every SMS of the township names the shelter its village is assigned to
// (GET /api/v1/shelters), and villages of different shelters get different
// texts. A warning without an action names no shelter.
func TestEvacuateSMSNamesEachVillagesShelter(t *testing.T) {
	s := startServer(t, nil)
	res := importPopulation(t, s.Base, 2000, 60)
	var shel bytes.Buffer
	if err := targeting.GenerateShelters(targeting.DefaultTree(), targeting.DefaultOutline(), 7, &shel); err != nil {
		t.Fatal(err)
	}
	imp := mustCall(t, s.Base, "POST", "/api/v1/shelters/import", testAdminToken, shel.Bytes(), 200)
	if imp["assigned_villages"].(float64) == 0 {
		t.Fatalf("no village assigned: %v", imp)
	}
	list := mustCall(t, s.Base, "GET", "/api/v1/shelters", testAdminToken, nil, 200)["shelters"].([]any)
	shelterOf := map[string]string{} // village → shelter name
	for _, x := range list {
		sh := x.(map[string]any)
		for _, v := range sh["served"].([]any) {
			shelterOf[v.(string)] = sh["name"].(string)
		}
	}
	villageOf := map[string]string{} // phone → village
	for _, line := range strings.Split(string(res), "\n") {
		f := strings.Split(line, ",")
		if len(f) > 3 && strings.HasPrefix(f[2], "653122100") {
			villageOf["+86"+f[1]] = f[2]
			villageOf["+"+f[1]] = f[2]
		}
	}

	op := addUser(t, s.Base, "op", "operator")
	body := strings.Replace(string(exampleBody(t)), `"orange"`, `"yellow"`, 1)
	body = strings.Replace(body, `"audience":{"groups":["herders"]}`, `"audience":{"languages":["zh"]}`, 1)
	body = strings.Replace(body, `"codes":["653122100","653122201"]`, `"codes":["653122100"]`, 1)
	body = strings.Replace(body, `"channels":["speaker","sms","websocket","voice"]`, `"channels":["sms"],"action":{"type":"evacuate"}`, 1)
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, body, 201)["id"].(string)
	waitDone(t, s.Base, op, id, 30*time.Second)
	ob := mustCall(t, s.Base, "GET", "/api/v1/outbox?alert="+id+"/v1&channel=sms&limit=1000", op, nil, 200)
	recs, _ := ob["records"].([]any)
	if len(recs) == 0 {
		t.Fatalf("outbox: %v", ob)
	}
	texts := map[string]bool{}
	checked := 0
	for _, x := range recs {
		r := x.(map[string]any)
		text := r["body"].(string)
		v := villageOf[r["address"].(string)]
		want := shelterOf[v]
		if v == "" || want == "" {
			continue
		}
		checked++
		if !strings.Contains(text, "请前往") || !strings.Contains(text, want) {
			t.Fatalf("resident of %s (shelter %s) got %q", v, want, text)
		}
		texts[text] = true
	}
	t.Logf("%d records, %d checked against their village's shelter, %d distinct texts", len(recs), checked, len(texts))
	if checked < len(recs)/2 || len(texts) < 2 {
		t.Fatalf("checked %d of %d records, %d distinct texts", checked, len(recs), len(texts))
	}

	plain := strings.Replace(body, `,"action":{"type":"evacuate"}`, ``, 1)
	pid := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, plain, 201)["id"].(string)
	waitDone(t, s.Base, op, pid, 30*time.Second)
	pob := mustCall(t, s.Base, "GET", "/api/v1/outbox?alert="+pid+"/v1&channel=sms&limit=1000", op, nil, 200)
	for _, x := range pob["records"].([]any) {
		if text := x.(map[string]any)["body"].(string); strings.Contains(text, "避难场所") {
			t.Fatalf("a warning without an action names a shelter: %q", text)
		}
	}
	if n := len(pob["records"].([]any)); n != len(recs) {
		t.Fatalf("positive control: %d records without action, %d with", n, len(recs))
	}
}

// The preview of an evacuate shows each shelter's load against its
// capacity, and a typed warning for each shelter that would overflow; the
// loads add up to the residents reached. Without an action: none of it.
func TestPreviewShelterLoad(t *testing.T) {
	s := startServer(t, nil)
	importPopulation(t, s.Base, 2000, 60)
	csv := "id,name,lat,lon,capacity,kind\nBIG,大体育场,39.40,76.05,100000,stadium\nTINY,小院,39.30,75.90,1,mosque_courtyard\n"
	mustCall(t, s.Base, "POST", "/api/v1/shelters/import", testAdminToken, csv, 200)
	op := addUser(t, s.Base, "op", "operator")
	body := strings.Replace(string(exampleBody(t)), `"audience":{"groups":["herders"]}`, `"audience":{}`, 1)
	body = strings.Replace(body, `"codes":["653122100","653122201"]`, `"codes":["653122"]`, 1)
	evac := strings.Replace(body, `"channels":[`, `"action":{"type":"evacuate"},"channels":[`, 1)
	out := mustCall(t, s.Base, "POST", "/api/v1/audience/preview", op, evac, 200)
	loads, _ := out["shelters"].([]any)
	sum, overflow := 0.0, map[string]bool{}
	for _, x := range loads {
		l := x.(map[string]any)
		sum += l["residents"].(float64)
		overflow[l["id"].(string)] = l["overflow"].(bool)
	}
	if reached := out["channels"].(map[string]any)["sms"].(float64); sum != reached || len(loads) != 2 {
		t.Fatalf("loads %v add up to %v, %v reached", loads, sum, reached)
	}
	if !overflow["TINY"] || overflow["BIG"] {
		t.Errorf("overflow: %v", overflow)
	}
	warns, _ := out["shelter_warnings"].([]any)
	if len(warns) != 1 || warns[0].(map[string]any)["code"] != "shelter_overflow" || warns[0].(map[string]any)["shelter"] != "TINY" {
		t.Errorf("typed warnings: %v", warns)
	}
	plain := mustCall(t, s.Base, "POST", "/api/v1/audience/preview", op, body, 200)
	if plain["shelters"] != nil || plain["shelter_warnings"] != nil {
		t.Errorf("preview without action: %v %v", plain["shelters"], plain["shelter_warnings"])
	}
}
