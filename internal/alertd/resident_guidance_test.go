package alertd

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/targeting"
)

// The resident page of each village under an evacuate warning gets that
// village's own shelter (the one GET /api/v1/shelters assigns it), in the
// SMS's words, with the shelter's reported occupancy — and no keeper's
// contact; a warning without an action gives no guidance.
func TestResidentGuidanceThroughServer(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Outbox = []string{"sms", "speaker", "voice"} })
	importPopulation(t, s.Base, 500, 30)
	var shel bytes.Buffer
	if err := targeting.GenerateShelters(targeting.DefaultTree(), targeting.DefaultOutline(), 7, &shel); err != nil {
		t.Fatal(err)
	}
	mustCall(t, s.Base, "POST", "/api/v1/shelters/import", testAdminToken, shel.Bytes(), 200)
	type shelter struct{ id, name, phone string }
	shelterOf := map[string]shelter{} // village of 疏勒镇 → its shelter
	for _, x := range mustCall(t, s.Base, "GET", "/api/v1/shelters", testAdminToken, nil, 200)["shelters"].([]any) {
		sh := x.(map[string]any)
		phone, _ := sh["contact"].(string)
		for _, v := range sh["served"].([]any) {
			if strings.HasPrefix(v.(string), "653122100") {
				shelterOf[v.(string)] = shelter{sh["id"].(string), sh["name"].(string), phone}
			}
		}
	}
	// Two villages of the township sent to different shelters.
	var a, b string
	for v := range shelterOf {
		if a == "" {
			a = v
		} else if shelterOf[v].id != shelterOf[a].id {
			b = v
			break
		}
	}
	if b == "" {
		t.Fatalf("no two villages of 653122100 with different shelters: %v", shelterOf)
	}
	if err := s.store.SetShelterOccupancy(context.Background(), shelterOf[a].id, 57, time.Now()); err != nil {
		t.Fatal(err)
	}

	get := func(code string) (int, map[string]any, string) {
		t.Helper()
		resp, err := http.Get(s.Base + "/r/" + code + "/guidance")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return resp.StatusCode, out, string(raw)
	}

	op := addUser(t, s.Base, "op", "operator")
	body := strings.Replace(string(exampleBody(t)), `"orange"`, `"yellow"`, 1)
	body = strings.Replace(body, `"codes":["653122100","653122201"]`, `"codes":["653122100"]`, 1)
	plain := strings.Replace(body, `"channels":["speaker","sms","websocket","voice"]`, `"channels":["websocket"]`, 1)
	pid := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, plain, 201)["id"].(string)
	waitDone(t, s.Base, op, pid, 30*time.Second)
	if code, out, raw := get(a); code != 200 || len(out["guidance"].([]any)) != 0 {
		t.Fatalf("warning without action: HTTP %d %s", code, raw)
	}

	evac := strings.Replace(plain, `"channels":["websocket"]`, `"channels":["websocket"],"action":{"type":"evacuate"}`, 1)
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, evac, 201)["id"].(string)
	waitDone(t, s.Base, op, id, 30*time.Second)
	for _, v := range []string{a, b} {
		code, out, raw := get(v)
		if code != 200 {
			t.Fatalf("%s: HTTP %d %s", v, code, raw)
		}
		gs := out["guidance"].([]any)
		if len(gs) != 1 {
			t.Fatalf("%s: want the evacuate warning's guidance only: %s", v, raw)
		}
		g := gs[0].(map[string]any)
		sh, _ := g["shelter"].(map[string]any)
		text := g["text"].(map[string]any)["zh"].(string)
		if g["alert_id"] != id || sh == nil || !strings.Contains(text, "请前往") || !strings.Contains(text, shelterOf[v].name) {
			t.Fatalf("%s (shelter %s): %s", v, shelterOf[v].name, raw)
		}
		other := shelterOf[a]
		if v == a {
			other = shelterOf[b]
		}
		if strings.Contains(raw, other.name) || strings.Contains(raw, other.id) {
			t.Errorf("%s's guidance names another village's shelter %s: %s", v, other.name, raw)
		}
		if p := shelterOf[v].phone; strings.Contains(raw, "contact") || (p != "" && strings.Contains(raw, p)) {
			t.Errorf("%s: public guidance carries the keeper's phone: %s", v, raw)
		}
		occ, hasOcc := sh["occupancy"].(float64)
		if v == a && (!hasOcc || occ != 57) {
			t.Errorf("%s: occupancy %v, want 57 as reported", v, sh["occupancy"])
		}
		if v == b && hasOcc {
			t.Errorf("%s: occupancy %v never reported", v, occ)
		}
	}
	if code, _, raw := get("653122999999"); code != 404 {
		t.Errorf("unknown village: HTTP %d %s", code, raw)
	}
}
