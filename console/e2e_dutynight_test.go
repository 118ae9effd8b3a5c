package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/alertcast/alertcast/internal/alertd"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// TestConsoleDutyNight plays one duty night in headless Chromium, the way
// issue 19 tells it: an officer aims a red sandstorm warning at the whole
// county with one click; the approver, busy on another page, is told
// (badge, tone, notice) and approves; the approver finds the offline
// loudspeakers of one township on the fleet page; speaks live to the
// warning's area from the warning's page (no token pasted); the officer
// gives the all-clear; and the after-action report is printed to PDF.
// Every figure on screen is checked against an oracle outside the page.
func TestConsoleDutyNight(t *testing.T) {
	testsvc.ChromiumPath(t)
	srv := startServerWith(t, func(c *alertd.Config) { c.Voice.Loopback = true })
	op, ap := desktopBrowser(t, 150*time.Second,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true))
	var uncaught jsErrors
	uncaught.watch(t, op, "officer")
	uncaught.watch(t, ap, "approver")
	step := func(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		begin := time.Now()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 3000)`))
			t.Fatalf("%s: %v\npage:\n%s", what, err, body)
		}
		t.Logf("%-60s %6.0f ms", what, float64(time.Since(begin).Microseconds())/1000)
	}
	eval := func(ctx context.Context, js string) string { t.Helper(); return evalJS(t, ctx, js) }
	go_ := func(hash string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q", hash))
	}
	typeIn := func(sel, v string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q;
			e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); })()`, sel, v))
	}
	setSelect := func(sel, v string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q;
			e.dispatchEvent(new Event("change", {bubbles: true})); })()`, sel, v))
	}
	shot := func(ctx context.Context, name string) {
		t.Helper()
		if !*update {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join("..", "docs", "screenshots", name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The night's fleet: two townships' loudspeakers are on the air
	// (startServer), one township has some that went offline earlier.
	town, ids := unsimulatedTownship(t, srv)
	slices.Sort(ids)
	gone := ids[:len(ids)/2+1]
	connectOnce(t, srv, town, gone, "fw-night-1.0")
	waitFleet(t, srv, url.Values{"status": {"offline"}, "region": {town}}, gone)

	// 1. The approver is on duty on another page, with approval alerts on.
	step(ap, "approver logs in", loginActions(srv.base, "aziz")...)
	step(ap, "approval alerts: the button", go_("#/approvals"), chromedp.WaitVisible(chromedp.CSS("#approvals-notify")))
	grantNotifications(t, ap, srv.base)
	step(ap, "approval alerts on", chromedp.Click(chromedp.CSS("#approvals-notify")), chromedp.WaitVisible(chromedp.CSS("#approvals-notify-on")))
	step(ap, "approver reads the history", go_("#/history"), chromedp.WaitVisible(chromedp.CSS("#history")),
		chromedp.Evaluate[chromedp.Void](approvalSpiesJS))

	// 2. The officer aims a red warning at the whole county with one click.
	step(op, "officer logs in", loginActions(srv.base, "olga")...)
	step(op, "whole county", chromedp.Click(chromedp.CSS("#aim-county")),
		chromedp.WaitVisible(chromedp.CSS(`#aim-count[data-state="ready"]`)))
	county := audienceCount(t, srv, `{"codes":["653122"]}`)
	if v := eval(op, `document.querySelector('#aim-count [data-channel="sms"] b').textContent`); atoi(t, v) != county["sms"] || county["sms"] == 0 {
		t.Errorf("whole county on screen: %s SMS, API counts %d", v, county["sms"])
	}
	const headline = "疏勒县沙尘暴红色预警"
	step(op, "compose the red warning",
		typeIn("#f-event", "sandstorm"),
		chromedp.Click(chromedp.CSS("#f-level-red")),
		typeIn("#f-zh-headline", headline),
		typeIn("#f-zh-description", "预计今夜全县出现强沙尘暴，能见度低于50米。"),
		typeIn("#f-zh-instruction", "请立即回家，关好门窗，不要外出。"),
		typeIn("#f-ug-headline", "يېڭىشەھەر ناھىيىسى قۇم-بوران قىزىل ئاگاھلاندۇرۇشى"),
		typeIn("#f-ug-description", "بۈگۈن كەچتە پۈتۈن ناھىيىدە كۈچلۈك قۇم-بوران چىقىدۇ."),
		typeIn("#f-ug-instruction", "دەرھال ئۆيگە قايتىڭ، ئىشىك-دېرىزىلەرنى ياپىڭ."),
		typeIn("#f-expires", time.Now().Add(6*time.Hour).In(time.FixedZone("CST", 8*3600)).Format("2006-01-02T15:04")))
	step(op, "preview", chromedp.Click(chromedp.CSS("#btn-preview")),
		chromedp.WaitVisible(chromedp.CSS(`#preview-channels [data-channel="sms"]`)),
		chromedp.WaitEnabled(chromedp.CSS("#btn-submit")))
	if v := eval(op, `document.querySelector('#preview-channels [data-channel="sms"] b').textContent`); atoi(t, v) != county["sms"] {
		t.Errorf("preview of the whole county: %s SMS, API counts %d", v, county["sms"])
	}
	step(op, "scroll to top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	shot(op, "night-aim.png")
	step(op, "submit: waits for an approver",
		chromedp.Click(chromedp.CSS("#btn-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#alert-head [data-state="pending"]`)))
	id := strings.TrimPrefix(eval(op, `location.hash`), "#/alert/")
	var stored struct {
		Level string `json:"level"`
		Area  struct {
			Codes []string `json:"codes"`
		} `json:"area"`
	}
	code, b := srv.do("GET", "/api/v1/alerts/"+id, "", nil)
	if err := json.Unmarshal(b, &stored); err != nil || code != 200 {
		t.Fatalf("get warning %q: %d %s", id, code, b)
	}
	if stored.Level != "red" || !slices.Equal(stored.Area.Codes, []string{"653122"}) {
		t.Errorf("stored warning: level %s, area %v; want red, the county code alone", stored.Level, stored.Area.Codes)
	}

	// 3. The approver is told without a reload, and approves.
	step(ap, "badge: one waiting", chromedp.WaitVisible(chromedp.CSS(`#approvals-badge[data-count="1"]`)))
	if v := eval(ap, `String(window.__noReload) + " " + location.hash`); v != "1 #/history" {
		t.Errorf("the approver's page was reloaded or moved: %q", v)
	}
	if v := eval(ap, `window.__notices.join("\n")`); !strings.Contains(v, headline) {
		t.Errorf("notices %q do not name the warning", v)
	}
	if eval(ap, `String(window.__tones)`) == "0" {
		t.Errorf("no tone played for the approver")
	}
	sel := fmt.Sprintf(`section[data-alert=%q]`, id)
	step(ap, "approve", go_("#/approvals"),
		chromedp.WaitVisible(chromedp.CSS(sel+" #btn-approve")),
		chromedp.SendKeys(chromedp.CSS(sel+" #action-reason"), "气象局确认，县长同意"),
		chromedp.Click(chromedp.CSS(sel+" #btn-approve")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
		chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitVisible(chromedp.CSS("#no-pending")))
	step(op, "issued", chromedp.WaitVisible(chromedp.CSS(`#alert-head [data-state="issued"]`)))
	step(ap, "badge back to zero", chromedp.WaitReady(chromedp.CSS(`#approvals-badge[data-count="0"]`)))

	// 4. Which loudspeakers of that township are off the air? The fleet page.
	step(ap, "fleet: offline in one township", go_("#/fleet"), chromedp.WaitVisible(chromedp.CSS("#fleet-table")),
		setSelect("#fleet-region", town), setSelect("#fleet-status", "offline"),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`[...document.querySelectorAll("#fleet-table tr[data-id]")].map((r) => r.dataset.id).sort().join(",") === %q`,
			strings.Join(gone, ",")), chromedp.WithPollingInterval(50*time.Millisecond)))
	if got := fleetIDs(t, srv, url.Values{"status": {"offline"}, "region": {town}}); !slices.Equal(got, gone) {
		t.Errorf("API lists offline %v, the test took %v off the air", got, gone)
	}
	shot(ap, "night-fleet.png")

	// 5. The approver speaks live to the warning's area from its page.
	step(ap, "open the warning", go_("#/alert/"+id), chromedp.WaitVisible(chromedp.ID("btn-speak-live")))
	vctx := openVoiceTab(t, ap, func() { step(ap, "speak live", chromedp.Click(chromedp.ID("btn-speak-live"))) })
	uncaught.watch(t, vctx, "voice")
	step(vctx, "the voice page shows the warning, signed in",
		chromedp.WaitVisible(chromedp.ID("alertbox")), chromedp.WaitEnabled(chromedp.ID("golive")),
		until(`document.getElementById("region").value === "alert"`))
	if v := eval(vctx, `document.getElementById("alert-level").textContent`); !strings.Contains(v, "红色") {
		t.Errorf("voice page level %q, want red", v)
	}
	step(vctx, "on the air", chromedp.Click(chromedp.ID("golive")),
		until(`document.getElementById("livestate").textContent.includes("LIVE") && document.getElementById("livestate").textContent.includes("红色")`))
	step(vctx, "off the air", chromedp.Click(chromedp.ID("end")), until(`document.getElementById("livestate").textContent.includes("ended")`))
	if acts := auditActions(t, srv, id); !slices.Contains(acts, "voice.live.start") || !slices.Contains(acts, "voice.live.end") {
		t.Errorf("the live announcement is not in the warning's audit trail: %v", acts)
	}

	// 6. The sandstorm passes: the officer gives the all-clear.
	step(op, "all clear",
		chromedp.SendKeys(chromedp.CSS("#action-reason"), "沙尘暴已过境"),
		chromedp.Click(chromedp.CSS("#btn-allclear")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")),
		chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitVisible(chromedp.CSS(`#alert-head [data-state="allclear"]`)))

	// 7. The after-action report, on screen and printed.
	step(op, "the report", chromedp.Click(chromedp.CSS("#alert-report")),
		chromedp.WaitVisible(chromedp.CSS("#report #report-timeline tbody tr")))
	events := eval(op, `Array.from(document.querySelectorAll("#report-timeline tr[data-event]")).map((r) => r.dataset.event).join(",")`)
	for _, ev := range []string{"composed", "approved", "issued", "all_clear"} {
		if !strings.Contains(events, ev) {
			t.Errorf("report timeline %q lacks %s", events, ev)
		}
	}
	if v := eval(op, `document.querySelector("#report-field h2") ? document.querySelector("#report-field h2").textContent : "absent"`); !strings.Contains(v, "(0)") {
		t.Errorf("field reports section: %q, want it present and empty (no team reported)", v)
	}
	if v := eval(op, `document.querySelector("#report-actions").innerText`); !strings.Contains(v, "olga") || !strings.Contains(v, "aziz") {
		t.Errorf("who did what does not name both officers: %q", v)
	}
	step(op, "scroll to top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	shot(op, "night-report.png")
	yes := true
	res, err := chromedp.Call(op, page.PrintToPDF, page.PrintToPDFParams{PreferCSSPageSize: &yes})
	if err != nil {
		t.Fatalf("print to PDF: %v", err)
	}
	if !bytes.HasPrefix(res.Data, []byte("%PDF-")) || len(res.Data) < 20_000 || !pdfHasTitle(res.Data, id) {
		t.Errorf("report PDF: %d bytes, title names %s: %v", len(res.Data), id, pdfHasTitle(res.Data, id))
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), "night-report.pdf"), res.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	uncaught.check(t)
}

// audienceCount is the API's count of whom an aim reaches, per channel.
func audienceCount(t *testing.T, srv server, area string) map[string]int {
	t.Helper()
	code, b := srv.do("POST", "/api/v1/audience/count", "application/json", strings.NewReader(`{"area":`+area+`}`))
	var ans struct {
		Channels map[string]int `json:"channels"`
	}
	if err := json.Unmarshal(b, &ans); err != nil || code != 200 {
		t.Fatalf("audience count %s: %d %s", area, code, b)
	}
	return ans.Channels
}

// auditActions lists the actions the audit log files under warning id.
func auditActions(t *testing.T, srv server, id string) []string {
	t.Helper()
	code, b := srv.do("GET", "/api/v1/audit?alert="+url.QueryEscape(id)+"&limit=500", "", nil)
	var ans struct {
		Entries []struct{ Action string } `json:"entries"`
	}
	if err := json.Unmarshal(b, &ans); err != nil || code != 200 {
		t.Fatalf("audit of %s: %d %s", id, code, b)
	}
	var out []string
	for _, e := range ans.Entries {
		out = append(out, e.Action)
	}
	return out
}

// atoi reads a count as the console shows it ("3,000").
func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(s), ",", ""))
	if err != nil {
		t.Fatalf("count on screen %q: %v", s, err)
	}
	return n
}
