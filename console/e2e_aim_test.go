package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alertcast/alertcast/internal/testsvc"
)

// TestConsoleAim drives the area picker in headless Chromium: "whole
// county" counts what the API counts for the county code (and what a whole
// warning's preview counts), one township shrinks it, the search finds
// villages and townships by Chinese, Uyghur and code, and a polygon drawn
// with the mouse is what the API receives when the warning is issued. The
// map shows approximate township areas with labels that do not overlap and
// loudspeakers coloured by status.
func TestConsoleAim(t *testing.T) {
	testsvc.ChromiumPath(t) // skip (or fail) before starting alertd
	srv := startServer(t)
	op, _ := desktopBrowser(t, 90*time.Second)
	var uncaught jsErrors
	uncaught.watch(t, op, "operator")
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(op, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			body, _ := chromedp.Run(op, chromedp.Evaluate[string](`document.body.innerText.slice(0, 2000)`))
			t.Fatalf("%s: %v\npage:\n%s", what, err, body)
		}
	}
	eval := func(js string) string { t.Helper(); return evalJS(t, op, js) }
	typeIn := func(sel, v string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q;
			e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); })()`, sel, v))
	}
	// apiCount is the oracle: what POST /audience/count answers for an area.
	apiCount := func(area string) (sms, speakers int) {
		t.Helper()
		code, b := srv.do("POST", "/api/v1/audience/count", "application/json", strings.NewReader(`{"area":`+area+`}`))
		var r struct{ Channels map[string]int }
		if err := json.Unmarshal(b, &r); err != nil || code != 200 {
			t.Fatalf("audience/count %s: %d %s", area, code, b)
		}
		return r.Channels["sms"], r.Channels["speaker"]
	}
	// shown waits until the live count shows the aim whose area is want
	// (JSON), and returns the counts on screen.
	shown := func(what, want string) (sms, speakers int) {
		t.Helper()
		sel := `#aim-count[data-state="ready"]`
		step(what, chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => { const c = document.querySelector(%q);
			return !!c && JSON.stringify(JSON.parse(c.dataset.aim).area) === %q; })()`, sel, want), chromedp.WithPollingInterval(50*time.Millisecond)))
		num := func(ch string) int {
			v := eval(fmt.Sprintf(`document.querySelector('#aim-count [data-channel=%q] b').textContent`, ch))
			n, err := strconv.Atoi(strings.ReplaceAll(v, ",", ""))
			if err != nil {
				t.Fatalf("count %s on screen: %q", ch, v)
			}
			return n
		}
		return num("sms"), num("speaker")
	}

	step("log in", loginActions(srv.base, "olga")...)
	step("map and township areas drawn", chromedp.WaitVisible(chromedp.CSS(`#map #map-townships[data-ready="1"] path.tw`)))

	// 1. Whole county: the county code, not 251 villages.
	step("choose the whole county", chromedp.Click(chromedp.CSS("#aim-county")))
	sms, spk := shown("county count shown", `{"codes":["653122"]}`)
	wantSMS, wantSpk := apiCount(`{"codes":["653122"]}`)
	if sms != wantSMS || spk != wantSpk || sms == 0 || spk != 200 {
		t.Errorf("whole county on screen: %d SMS, %d loudspeakers; API: %d, %d (200 loudspeakers imported)", sms, spk, wantSMS, wantSpk)
	}
	// The preview of a whole warning aimed at the county agrees.
	body := `{"event":"sandstorm","level":"blue","area":{"codes":["653122"]},"channels":["sms","speaker"],` +
		`"text":{"zh":{"headline":"测试","description":"测试","instruction":"测试"},"ug":{"headline":"سىناق","description":"سىناق","instruction":"سىناق"}},"expires":"2030-01-01T18:00:00+08:00"}`
	code, b := srv.do("POST", "/api/v1/audience/preview", "application/json", strings.NewReader(body))
	var pv struct{ Channels map[string]int }
	if err := json.Unmarshal(b, &pv); err != nil || code != 200 {
		t.Fatalf("preview: %d %s", code, b)
	}
	if pv.Channels["sms"] != sms || pv.Channels["speaker"] != spk {
		t.Errorf("whole county: preview %v, on screen %d SMS %d loudspeakers", pv.Channels, sms, spk)
	}
	if v := eval(`[...document.querySelectorAll("#area-tree input[id^=aim-tw-]")].filter((c) => !(c.checked && c.disabled)).length + ""`); v != "0" {
		t.Errorf("%s townships not shown as included in the whole county", v)
	}
	if n := eval(`document.querySelectorAll("#map-aim .aim-area").length + ""`); n != "1" {
		t.Errorf("the whole county is not highlighted on the map (%s aim paths)", n)
	}
	// 2. One township: the count shrinks to it.
	step("back from the whole county to one township",
		chromedp.Click(chromedp.CSS("#aim-county")),
		chromedp.Click(chromedp.CSS("#aim-tw-653122100")))
	twSMS, twSpk := shown("township count shown", `{"codes":["653122100"]}`)
	if w1, w2 := apiCount(`{"codes":["653122100"]}`); twSMS != w1 || twSpk != w2 || twSMS == 0 || twSMS >= sms {
		t.Errorf("township on screen: %d SMS %d loudspeakers; API %d, %d; county %d", twSMS, twSpk, w1, w2, sms)
	}

	// 3. Search: by Chinese name, Uyghur name, code; a hit can be chosen.
	for _, c := range []struct{ q, want string }{
		{"城关", "#aim-res-653122100002"},
		{"بازىرى", "#aim-res-653122100"},
		{"653122201", "#aim-res-653122201"},
	} {
		step("search "+c.q, typeIn("#aim-search", c.q), chromedp.WaitVisible(chromedp.CSS(c.want)))
	}
	step("choose a search hit", chromedp.Click(chromedp.CSS("#aim-res-653122201")))
	shown("township and search hit counted", `{"codes":["653122100","653122201"]}`)
	step("no match says so", typeIn("#aim-search", "不存在的村"), chromedp.WaitVisible(chromedp.CSS("#aim-no-results")))
	step("clear search and area", typeIn("#aim-search", ""), chromedp.Click(chromedp.CSS("#aim-clear")),
		chromedp.WaitVisible(chromedp.CSS(`#aim-count[data-state="idle"]`)))

	// 4. Map: approximate townships, labels that do not overlap, status colours.
	if n, _ := strconv.Atoi(eval(`document.querySelectorAll("#map-townships path.tw").length + ""`)); n < 8 {
		t.Errorf("only %d township areas on the map", n)
	}
	if v := eval(`document.querySelector("#map-townships").dataset.approximate + "|" + document.querySelector("#map-approx").textContent`); !strings.HasPrefix(v, "1|") || !strings.Contains(v, "近似") {
		t.Errorf("township areas not labelled approximate: %q", v)
	}
	if v := eval(`(() => { const bs = [...document.querySelectorAll("#map-labels text")].map((e) => e.getBBox());
		let n = 0; for (let i = 0; i < bs.length; i++) for (let j = i + 1; j < bs.length; j++) {
		const a = bs[i], b = bs[j]; if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) n++; }
		return bs.length + "/" + n; })()`); !strings.HasSuffix(v, "/0") || strings.HasPrefix(v, "0/") {
		t.Errorf("township labels (count/overlapping pairs) = %s", v)
	}
	// Agents run for the loudspeakers of two townships: online; the rest never connected.
	step("loudspeaker status colours", chromedp.Poll[chromedp.Void](`document.querySelectorAll("#map circle.spk.st-online").length > 0`, chromedp.WithPollingInterval(100*time.Millisecond)))
	if v := eval(`document.querySelectorAll("#map circle.spk.st-never").length + ""`); v == "0" {
		t.Error("no loudspeaker shown as never connected")
	}

	// 5. A polygon drawn with the mouse: click three corners, double-click a fourth.
	step("start drawing", chromedp.Evaluate[chromedp.Void](`document.querySelector("#map").scrollIntoView({block: "center"})`), chromedp.Click(chromedp.CSS("#aim-draw")))
	var r struct{ X, Y, W, H float64 }
	if err := json.Unmarshal([]byte(eval(`JSON.stringify((() => { const b = document.querySelector("#map").getBoundingClientRect(); return {X: b.x, Y: b.y, W: b.width, H: b.height}; })())`)), &r); err != nil {
		t.Fatal(err)
	}
	at := func(fx, fy float64) (float64, float64) { return r.X + fx*r.W, r.Y + fy*r.H }
	x1, y1 := at(0.35, 0.35)
	x2, y2 := at(0.65, 0.35)
	x3, y3 := at(0.65, 0.65)
	x4, y4 := at(0.40, 0.62)
	step("draw", chromedp.MouseClickXY(x1, y1), chromedp.MouseClickXY(x2, y2), chromedp.MouseClickXY(x3, y3),
		chromedp.MouseClickXY(x4, y4, chromedp.ClickCount(2)),
		chromedp.WaitVisible(chromedp.CSS(`#map-aim path.aim-poly`)))
	aimJSON := eval(`JSON.stringify(JSON.parse(document.querySelector("#aim-count").dataset.aim || "{}").area || {})`)
	var drawn struct {
		Polygons []string `json:"polygons"`
	}
	if err := json.Unmarshal([]byte(aimJSON), &drawn); err != nil || len(drawn.Polygons) != 1 {
		// The count may still be on its way: wait for it to name the polygon.
		step("polygon counted", chromedp.Poll[chromedp.Void](`(() => { const c = document.querySelector('#aim-count[data-state="ready"]'); return !!c && c.dataset.aim.includes("polygons"); })()`))
		aimJSON = eval(`JSON.stringify(JSON.parse(document.querySelector("#aim-count").dataset.aim).area)`)
		if err := json.Unmarshal([]byte(aimJSON), &drawn); err != nil || len(drawn.Polygons) != 1 {
			t.Fatalf("aim after drawing: %s", aimJSON)
		}
	}
	pts := strings.Fields(drawn.Polygons[0])
	if len(pts) != 5 || pts[0] != pts[4] {
		t.Errorf("drawn polygon %q: want 4 corners, closed", drawn.Polygons[0])
	}
	psms, pspk := shown("polygon count shown", aimJSON)
	dir := t.TempDir()
	if *update {
		dir = filepath.Join("..", "docs", "screenshots")
	}
	if png, err := chromedp.Run(op, chromedp.CaptureScreenshot()); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "aim.png"), png, 0o644)
	}
	if w1, w2 := apiCount(aimJSON); psms != w1 || pspk != w2 || psms == 0 {
		t.Errorf("polygon on screen: %d SMS %d loudspeakers; API %d, %d", psms, pspk, w1, w2)
	}

	// 6. Issue it (blue: no approval): the API stores the polygon as drawn.
	step("fill and preview",
		typeIn("#f-event", "gale"),
		chromedp.Click(chromedp.CSS("#f-level-blue")),
		chromedp.Click(chromedp.CSS("#btn-template")),
		typeIn("#f-expires", "2030-01-01T18:00"),
		chromedp.Click(chromedp.CSS("#btn-preview")),
		chromedp.WaitEnabled(chromedp.CSS("#btn-submit")))
	if v := eval(`document.querySelector('#preview-channels [data-channel="sms"] b').textContent`); strings.ReplaceAll(v, ",", "") != strconv.Itoa(psms) {
		t.Errorf("preview SMS %s, live count %d", v, psms)
	}
	step("issue", chromedp.Click(chromedp.CSS("#btn-submit")), chromedp.WaitVisible(chromedp.CSS(`#alert-head [data-state="issued"]`)))
	code, b = srv.do("GET", "/api/v1/alerts", "", nil)
	var list struct {
		Alerts []struct {
			Area struct {
				Codes    []string `json:"codes"`
				Polygons []string `json:"polygons"`
			} `json:"area"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(b, &list); err != nil || code != 200 || len(list.Alerts) != 1 {
		t.Fatalf("alerts: %d %s", code, b)
	}
	if a := list.Alerts[0].Area; len(a.Codes) != 0 || len(a.Polygons) != 1 || a.Polygons[0] != drawn.Polygons[0] {
		t.Errorf("stored area %+v, drawn %q", a, drawn.Polygons[0])
	}
	step("the warning's map shows its polygon", chromedp.WaitVisible(chromedp.CSS(`#alert-map #map-aim path.aim-poly`)))
	uncaught.check(t)
}
