package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alertcast/alertcast/internal/testsvc"
)

// The shelters page lists the imported shelters; an operator edits one: a
// capacity of 0 is refused with the field named, a good one is saved and
// shown in the list.
func TestConsoleShelters(t *testing.T) {
	testsvc.ChromiumPath(t)
	srv := startServer(t)
	csv := "id,name,name_ug,lat,lon,capacity,kind,accessible\nSH-A,疏勒镇第一中学,1-ئوتتۇرا مەكتەپ,39.40,76.05,1200,school,true\nSH-B,<b>广场</b>,,39.30,76.10,800,outdoor,false\n"
	if code, b := srv.do("POST", "/api/v1/shelters/import", "text/csv", strings.NewReader(csv)); code != 200 {
		t.Fatalf("import: %d %s", code, b)
	}
	op, _ := desktopBrowser(t, 60*time.Second)
	var uncaught jsErrors
	uncaught.watch(t, op, "operator")
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(op, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			body, _ := chromedp.Run(op, chromedp.Evaluate[string](`document.getElementById("view").innerText.slice(0, 2000)`))
			t.Fatalf("%s: %v\npage:\n%s", what, err, body)
		}
	}
	setVal := func(sel, v string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = %q`, sel, v))
	}
	// Shelter names reach the air in evacuation guidance: only an admin
	// edits them. An operator sees the list without the edit buttons.
	do("operator logs in", loginActions(srv.base, "olga")...)
	do("operator: shelters read only", chromedp.Evaluate[chromedp.Void](`location.hash = "#/shelters"`),
		chromedp.WaitVisible(chromedp.CSS(`#shelters tr[data-id="SH-B"]`)))
	if n := evalJS(t, op, `String(document.querySelectorAll("#shelters button, #sh-new").length)`); n != "0" {
		t.Errorf("an operator is offered %s shelter edit buttons", n)
	}
	do("admin logs in with a token",
		chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#login-toggle")),
		chromedp.Click(chromedp.CSS("#login-toggle")),
		chromedp.SendKeys(chromedp.CSS("#login-token"), adminToken),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#nav-shelters")))
	do("open shelters", chromedp.Evaluate[chromedp.Void](`location.hash = "#/shelters"`),
		chromedp.WaitVisible(chromedp.CSS(`#shelters tr[data-id="SH-B"]`)))
	// A name with markup is text, never HTML.
	if got := evalJS(t, op, `document.querySelector('#shelters tr[data-id="SH-B"] td:nth-child(2) span').textContent + "|" + document.querySelectorAll('#shelters b').length`); got != "<b>广场</b>|0" {
		t.Errorf("name shown as %q", got)
	}
	do("edit SH-A", chromedp.Click(chromedp.CSS(`#shelters tr[data-id="SH-A"] button`)), chromedp.WaitVisible(chromedp.CSS(`#sh-capacity`)))
	do("refused", setVal("#sh-capacity", "0"), chromedp.Evaluate[chromedp.Void](`document.querySelector("#sh-capacity").min = ""`),
		chromedp.Click(chromedp.CSS(`#sh-save`)), chromedp.WaitVisible(chromedp.CSS(`#sh-edit-out .formerr`)))
	if got := evalJS(t, op, `document.querySelector("#sh-edit-out").textContent`); !strings.Contains(got, "capacity") {
		t.Errorf("the error does not name the field: %q", got)
	}
	do("saved", setVal("#sh-capacity", "777"), chromedp.Click(chromedp.CSS(`#sh-save`)),
		chromedp.Poll[chromedp.Void](`(() => { const r = document.querySelector('#shelters tr[data-id="SH-A"] td:nth-child(5)'); return r && r.textContent === "777"; })()`, chromedp.WithPollingInterval(50*time.Millisecond)))
	if code, b := srv.do("GET", "/api/v1/shelters", "", nil); code != 200 || !strings.Contains(string(b), `"capacity":777`) {
		t.Errorf("stored: %d %s", code, b)
	}

	// An operator submits an evacuate warning; an admin then renames SH-B
	// (the shelter of township 653122100's villages).
	// The approver (this admin, who wrote none of it) sees each village's
	// sentence as it was frozen at submission — the old name, zh and ug,
	// grouped by shelter with counts — and approves that guidance.
	code, b := srv.do("POST", "/api/v1/users", "application/json", strings.NewReader(`{"name":"omar","role":"operator"}`))
	var user struct{ Token string }
	if err := json.Unmarshal(b, &user); err != nil || code != 201 {
		t.Fatalf("operator: %d %s", code, b)
	}
	body := `{"event":"flood","level":"orange","status":"actual","area":{"codes":["653122100"]},"channels":["sms"],"action":{"type":"evacuate"},
		"text":{"zh":{"headline":"洪水橙色预警","instruction":"请听从指挥。"},"ug":{"headline":"كەلكۈن"}},"expires":"2030-01-01T18:00:00+08:00"}`
	req, _ := http.NewRequest("POST", srv.base+"/api/v1/alerts", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+user.Token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		ID, State      string
		GuidanceDigest string `json:"guidance_digest"`
	}
	if err := json.NewDecoder(res.Body).Decode(&created); err != nil || res.StatusCode != 201 || created.State != "pending" {
		t.Fatalf("submit: %d %+v %v", res.StatusCode, created, err)
	}
	res.Body.Close()
	rename := `{"name":"改名广场","point":{"lat":39.30,"lon":76.10},"capacity":800,"kind":"outdoor"}`
	if code, b := srv.do("PUT", "/api/v1/shelters/SH-B", "application/json", strings.NewReader(rename)); code != 200 {
		t.Fatalf("rename: %d %s", code, b)
	}
	sel := fmt.Sprintf(`section[data-alert=%q]`, created.ID)
	do("approval card shows the frozen guidance", chromedp.Evaluate[chromedp.Void](`location.hash = "#/approvals"`),
		chromedp.WaitVisible(chromedp.CSS(sel+` #guidance details[data-group="shelter:SH-B"]`)),
		chromedp.Click(chromedp.CSS(sel+` #guidance details[data-group="shelter:SH-B"] summary`)),
		chromedp.WaitVisible(chromedp.CSS(sel+` #guidance details[data-group="shelter:SH-B"] tr[data-village]`)))
	got := evalJS(t, op, `(() => {
		const g = document.querySelector(`+"`"+sel+` #guidance`+"`"+`);
		const a = g.querySelector('details[data-group="shelter:SH-B"]');
		const rows = [...a.querySelectorAll("tr[data-village]")];
		return JSON.stringify({digest: g.dataset.digest, summary: a.querySelector("summary").textContent, groups: g.querySelectorAll("details").length,
			zh: rows.map((r) => r.querySelector('td[lang="zh"]').textContent), ug: rows.map((r) => r.querySelector('td[lang="ug"]').textContent),
			rtl: rows.every((r) => r.querySelector('td[lang="ug"]').dir === "rtl"), all: g.textContent, markup: g.querySelectorAll("b").length});
	})()`)
	var view struct {
		Digest, Summary, All string
		Groups, Markup       int
		ZH, UG               []string
		RTL                  bool
	}
	if err := json.Unmarshal([]byte(got), &view); err != nil {
		t.Fatalf("guidance view %q: %v", got, err)
	}
	if view.Digest != created.GuidanceDigest || len(view.ZH) == 0 || view.Groups < 1 || !view.RTL || view.Markup != 0 {
		t.Fatalf("guidance view: %+v (submitted digest %s)", view, created.GuidanceDigest)
	}
	for i, zh := range view.ZH {
		if !strings.Contains(zh, "<b>广场</b>") || view.UG[i] == "" {
			t.Errorf("village sentence %q / %q does not name the shelter as submitted", zh, view.UG[i])
		}
	}
	if strings.Contains(view.All, "改名广场") || !strings.Contains(view.Summary, "<b>广场</b>") {
		t.Errorf("the approver is shown the name given after submission: %q", view.Summary)
	}
	do("approve", chromedp.Click(chromedp.CSS(sel+" #btn-approve")), chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
		chromedp.Click(chromedp.CSS("#confirm-ok")), chromedp.WaitVisible(chromedp.CSS("#no-pending")))
	code, b = srv.do("GET", "/api/v1/alerts/"+created.ID, "", nil)
	if code != 200 || !strings.Contains(string(b), `"state":"issued"`) || !strings.Contains(string(b), `"guidance_digest":"`+created.GuidanceDigest+`"`) {
		t.Errorf("after approval: %d %.300s", code, b)
	}
	uncaught.check(t)
}
