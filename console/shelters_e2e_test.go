package console_test

import (
	"context"
	"fmt"
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
	uncaught.check(t)
}
