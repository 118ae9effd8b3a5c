package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/alertcast/alertcast/internal/alertd"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// captureL is run in the page before its own scripts: an installer like any
// page's, which keeps the console's string tables for the test to read.
const captureL = `(window.AlertcastPages = window.AlertcastPages || []).push((AC) => { window.__consoleL = AC.L; });`

// until waits (up to 10 s) for the JavaScript expression js to be true.
func until(js string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](js, chromedp.WithPollingTimeout(10*time.Second))(ctx, tg)
		return chromedp.Void{}, err
	}
}

// startBare runs alertd with no population: enough for pages that need the
// API, the session and the region tree.
func startBare(t testing.TB) server {
	t.Helper()
	rs := testsvc.Redis(t)
	cfg := alertd.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Redis = rs.URL()
	cfg.AdminToken = adminToken
	s, err := alertd.Start(context.Background(), cfg, io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("start alertd: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown() })
	return server{t, "http://" + s.Addr, cfg.DataDir}
}

// Every string key of the console's Chinese table exists in the Uyghur and
// English tables, and every Uyghur string is written in Uyghur (Arabic
// script), not left in English or Chinese. Pages installed from other files
// add keys too, so this reads the tables the running page ends up with.
func TestConsoleLanguagesHaveEveryKey(t *testing.T) {
	testsvc.ChromiumPath(t)
	srv := startBare(t)
	ctx, _ := desktopBrowser(t, 40*time.Second)
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: captureL}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.base+"/#/login"), chromedp.WaitVisible(chromedp.CSS("#login-name"))); err != nil {
		t.Fatal(err)
	}
	var tables map[string]map[string]string
	if err := json.Unmarshal([]byte(evalJS(t, ctx, `JSON.stringify(window.__consoleL)`)), &tables); err != nil {
		t.Fatal(err)
	}
	zh := tables["zh"]
	if len(zh) < 100 {
		t.Fatalf("the Chinese table has only %d keys: the capture did not see the console's strings", len(zh))
	}
	arabic := regexp.MustCompile(`[\x{0600}-\x{06FF}]`)
	for _, lang := range []string{"ug", "en"} {
		tab := tables[lang]
		if tab == nil {
			t.Fatalf("no %s table (is console/static/i18n_%s.js loaded?)", lang, lang)
		}
		var missing []string
		for k := range zh {
			if _, ok := tab[k]; !ok {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			t.Errorf("L.%s lacks %d keys of L.zh: %s", lang, len(missing), strings.Join(missing, ", "))
		}
	}
	for k := range zh {
		if v, ok := tables["ug"][k]; ok && !arabic.MatchString(v) {
			t.Errorf("L.ug.%s = %q is not written in Uyghur", k, v)
		}
	}

	// The API's field errors: every field and error code named in Chinese is
	// named in Uyghur too.
	var fe struct{ Fields, Codes map[string]map[string]string }
	if err := json.Unmarshal([]byte(evalJS(t, ctx, `JSON.stringify({Fields: window.ALERT_FIELD_ERRORS.FIELDS, Codes: window.ALERT_FIELD_ERRORS.CODES})`)), &fe); err != nil {
		t.Fatal(err)
	}
	for what, tabs := range map[string]map[string]map[string]string{"FIELDS": fe.Fields, "CODES": fe.Codes} {
		for k := range tabs["zh"] {
			if v := tabs["ug"][k]; !arabic.MatchString(v) {
				t.Errorf("fielderrors %s.ug[%q] = %q, want Uyghur", what, k, v)
			}
		}
	}
	if got := evalJS(t, ctx, `window.ALERT_FIELD_ERRORS.describe("ug", {field: "text.ug.headline", rule: "required"})`); !strings.HasPrefix(got, "ئۇيغۇرچە ماۋزۇ") {
		t.Errorf("a missing Uyghur headline reads %q in Uyghur", got)
	}
}

// Chosen from the header, Uyghur turns the whole console right-to-left
// (lang="ug", dir="rtl", the header mirrored), names regions in Uyghur where
// the region data knows them, and Chinese and Uyghur text is drawn with
// real CJK and Arabic-script fonts, not boxes.
func TestConsoleInUyghurRightToLeftWithRealGlyphs(t *testing.T) {
	testsvc.ChromiumPath(t)
	srv := startBare(t)
	ctx, _ := desktopBrowser(t, 60*time.Second)
	body := fmt.Sprintf(`{"event":"sandstorm","level":"blue","status":"actual","area":{"codes":["653122205","653122206"]},
		"channels":["websocket"],"text":{"zh":{"headline":"疏勒县沙尘暴蓝色预警","description":"预计今天下午有沙尘。","instruction":"请减少外出。"},
		"ug":{"headline":"قۇم بورىنى كۆك ئاگاھلاندۇرۇشى","description":"چۈشتىن كېيىن قۇم-توزان بولىدۇ.","instruction":"سىرتقا چىقىشنى ئازايتىڭ."}},
		"expires":%q}`, time.Now().Add(3*time.Hour).Format(time.RFC3339))
	code, b := srv.do("POST", "/api/v1/alerts", "application/json", strings.NewReader(body))
	if code != 201 {
		t.Fatalf("create warning: %d %s", code, b)
	}
	var created struct{ ID string }
	_ = json.Unmarshal(b, &created)

	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 1500)`))
			t.Fatalf("%s: %v\npage:\n%s", what, err, page)
		}
	}
	eval := func(js string) string { t.Helper(); return evalJS(t, ctx, js) }
	step("log in with the admin token",
		chromedp.Navigate(srv.base+"/#/login"),
		chromedp.WaitVisible(chromedp.CSS("#login-toggle")),
		chromedp.Click(chromedp.CSS("#login-toggle")),
		chromedp.SendKeys(chromedp.CSS("#login-token"), adminToken),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#me #logout")),
		chromedp.Navigate(srv.base+"/#/alert/"+created.ID),
		chromedp.WaitVisible(chromedp.CSS("#alert-headline")))
	// Positive control: Chinese is left-to-right, the brand on the left.
	if got := eval(`document.documentElement.dir + " " + (document.querySelector(".brand").getBoundingClientRect().left < innerWidth / 2)`); got != "ltr true" {
		t.Fatalf("Chinese console: dir and brand-on-the-left = %q", got)
	}
	step("choose Uyghur",
		chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById("lang-select"); s.value = "ug"; s.dispatchEvent(new Event("change", {bubbles: true})); })()`),
		until(`document.getElementById("nav-history") && document.getElementById("nav-history").textContent === "ئاگاھلاندۇرۇش خاتىرىسى"`))
	if got := eval(`document.documentElement.lang + " " + document.documentElement.dir + " " + getComputedStyle(document.body).direction`); got != "ug rtl rtl" {
		t.Errorf("Uyghur console: lang, dir, direction = %q", got)
	}
	if got := eval(`String(document.querySelector(".brand").getBoundingClientRect().left > innerWidth / 2)`); got != "true" {
		t.Errorf("Uyghur console: the header is not mirrored (brand not on the right)")
	}
	// 英尔力克乡 has a Uyghur name; 库木西力克乡 has none yet and stays Chinese.
	step("the warning's area in Uyghur",
		until(`[...document.querySelectorAll("#alert-head dd")].some((d) => d.textContent.includes("يېڭىئېرىق يېزىسى") && d.textContent.includes("库木西力克乡"))`))
	if got := eval(`localStorage.getItem("alertcast.lang")`); got != "ug" {
		t.Errorf("the choice is not kept: %q", got)
	}
	step("the choice survives a reload",
		chromedp.Reload(),
		until(`document.documentElement.dir === "rtl" && document.getElementById("lang-select").value === "ug"`))

	// Fonts: which platform fonts drew the Chinese and the Uyghur text.
	step("sample text",
		chromedp.Evaluate[chromedp.Void](`(() => {
			const zh = document.createElement("p"); zh.id = "glyphs-zh"; zh.lang = "zh"; zh.dir = "ltr"; zh.textContent = "疏勒县应急广播大喇叭";
			const ug = document.createElement("p"); ug.id = "glyphs-ug"; ug.lang = "ug"; ug.textContent = "يېڭىشەھەر ناھىيىسى كاناي";
			document.body.append(zh, ug);
		})()`))
	fonts := func(sel string) []*css.PlatformFontUsage {
		t.Helper()
		// The node as chromedp tracks it: a DOM.getDocument of our own would
		// race with chromedp's and invalidate the id.
		nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(sel)))
		if err != nil || len(nodes) == 0 {
			t.Fatalf("find %s: %v", sel, err)
		}
		if _, err := chromedp.Call(ctx, css.Enable, struct{}{}); err != nil {
			t.Fatalf("CSS.enable: %v", err)
		}
		n := nodes[0]
		r, err := chromedp.Call(ctx, css.GetPlatformFontsForNode, css.GetPlatformFontsForNodeParams{NodeID: n.NodeID})
		if err != nil {
			t.Fatalf("CSS.getPlatformFontsForNode %s: %v", sel, err)
		}
		return r.Fonts
	}
	check := func(sel, script string, ok *regexp.Regexp, glyphs int) {
		t.Helper()
		used := fonts(sel)
		drawn := 0
		var names []string
		for _, f := range used {
			names = append(names, fmt.Sprintf("%s×%v", f.FamilyName, f.GlyphCount))
			if ok.MatchString(f.FamilyName) {
				drawn += int(f.GlyphCount)
			}
		}
		if drawn < glyphs {
			t.Errorf("%s text drawn with %v: %d of at least %d glyphs from a %s font (install fonts-noto-cjk fonts-noto-core)", script, names, drawn, glyphs, script)
		} else {
			t.Logf("%s text drawn with %v", script, names)
		}
	}
	check("#glyphs-zh", "CJK", regexp.MustCompile(`(?i)CJK|WenQuanYi|Hei|Song|Ming|Droid Sans Fallback`), 10)
	check("#glyphs-ug", "Arabic-script", regexp.MustCompile(`(?i)Arabic|Naskh|Kufi|UKIJ|Uyghur|Uighur`), 15)

	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if *update {
		dir = filepath.Join("..", "docs", "screenshots")
	}
	if err := os.WriteFile(filepath.Join(dir, "uyghur.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
