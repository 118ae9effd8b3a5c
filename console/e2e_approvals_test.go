package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/alertcast/alertcast/internal/testsvc"
)

// approvalSpiesJS counts, in the page, the desktop notices shown
// (window.__notices) and the tones played (window.__tones), and marks the
// page (window.__noReload) so that a reload would show.
const approvalSpiesJS = `(() => {
	window.__noReload = 1; window.__notices = []; window.__tones = 0;
	const N = window.Notification;
	window.Notification = class extends N { constructor(title, o) { super(title, o); window.__notices.push(title + " | " + (o && o.body)); } };
	const osc = AudioContext.prototype.createOscillator;
	AudioContext.prototype.createOscillator = function () { window.__tones++; return osc.call(this); };
})()`

// grantNotifications lets origin show desktop notices in ctx's browser
// context, as an officer's click on "allow" would.
func grantNotifications(t *testing.T, ctx context.Context, origin string) {
	t.Helper()
	if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted,
		Origin: origin, BrowserContextID: chromedp.FromContext(ctx).BrowserContextID}); err != nil {
		t.Fatalf("grant notifications: %v", err)
	}
}

// orangeBody is an orange warning on the web channel only: it waits for a
// second officer's approval.
func orangeBody(headline string) string {
	return fmt.Sprintf(`{"event":"gale","level":"orange","status":"actual","area":{"codes":["653122100"]},"channels":["websocket"],
	"text":{"zh":{"headline":%q,"description":"大风。","instruction":"请注意安全。"},"ug":{"headline":"بوران","description":"بوران.","instruction":"ئېھتىيات."}},
	"expires":"2030-01-01T18:00:00+08:00"}`, headline)
}

// submitJS posts a warning from the page with its own session, as the
// compose form does: it returns "<status> <id or error>".
func submitJS(body string) string {
	return fmt.Sprintf(`(async () => {
		const s = JSON.parse(sessionStorage.getItem("alertcast.session"));
		const r = await fetch("/api/v1/alerts", {method: "POST", credentials: "same-origin",
			headers: {"Content-Type": "application/json", "X-CSRF-Token": s.csrf}, body: %q});
		const j = await r.json();
		return r.status + " " + (j.id || JSON.stringify(j));
	})()`, body)
}

// TestConsoleApprovalsFindTheApprover: an approver turns on approval
// alerts with a click and moves to another page; an officer submits an
// orange warning in another browser; without a reload the approver's nav
// shows 1 waiting, a tone plays and a notice names the warning. The
// approver's own warning is never counted (two-person rule): after it and
// another officer's second warning the badge says 2, and the home page
// lists exactly the officer's two warnings, first.
func TestConsoleApprovalsFindTheApprover(t *testing.T) {
	testsvc.ChromiumPath(t)
	srv := startServer(t)
	op, ap := desktopBrowser(t, 90*time.Second)
	var uncaught jsErrors
	uncaught.watch(t, op, "officer")
	uncaught.watch(t, ap, "approver")
	step := func(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 25*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 2000)`))
			t.Fatalf("%s: %v\npage:\n%s", what, err, body)
		}
	}
	eval := func(ctx context.Context, js string) string { t.Helper(); return evalJS(t, ctx, js) }
	submit := func(ctx context.Context, headline string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](submitJS(orangeBody(headline)), chromedp.EvalAwaitPromise))
		if err != nil || !strings.HasPrefix(v, "201 ") {
			t.Fatalf("submit %q: %q %v", headline, v, err)
		}
		return strings.TrimPrefix(v, "201 ")
	}

	step(ap, "approver logs in: nothing waits", loginActions(srv.base, "aziz")...)
	step(ap, "badge on the nav, zero and hidden", chromedp.WaitReady(chromedp.CSS(`#nav-approvals #approvals-badge[data-count="0"]`)),
		chromedp.WaitNotVisible(chromedp.CSS("#approvals-badge")))
	if v := eval(ap, `String(document.querySelector("#approvals-home") ? document.querySelector("#approvals-home").hidden : "absent")`); v != "true" {
		t.Errorf("home waiting list with nothing waiting: hidden=%s", v)
	}
	step(ap, "turn on approval alerts (a click asks for permission)", chromedp.Evaluate[chromedp.Void](`location.hash = "#/approvals"`),
		chromedp.WaitVisible(chromedp.CSS("#approvals-notify")))
	grantNotifications(t, ap, srv.base)
	step(ap, "alerts on", chromedp.Click(chromedp.CSS("#approvals-notify")), chromedp.WaitVisible(chromedp.CSS("#approvals-notify-on")))

	// The approver is elsewhere; spies count notices and tones, and a
	// marker proves the page is never reloaded.
	step(ap, "approver on another page", chromedp.Evaluate[chromedp.Void](`location.hash = "#/history"`),
		chromedp.WaitVisible(chromedp.CSS("#history")),
		chromedp.Evaluate[chromedp.Void](approvalSpiesJS))

	step(op, "officer logs in", loginActions(srv.base, "olga")...)
	first := submit(op, "大风橙色预警一")
	step(ap, "badge 1 without reload", chromedp.WaitVisible(chromedp.CSS(`#nav-approvals #approvals-badge[data-count="1"]`)))
	if v := eval(ap, `String(window.__noReload) + " " + location.hash`); v != "1 #/history" {
		t.Errorf("the approver's page was reloaded or moved: %q", v)
	}
	if v := eval(ap, `window.__notices.join("\n")`); !strings.Contains(v, "大风橙色预警一") || !strings.Contains(v, "olga") {
		t.Errorf("notices %q do not name the warning and its author", v)
	}
	if v := eval(ap, `String(window.__tones)`); v == "0" {
		t.Errorf("no tone played")
	}

	// Two-person rule: the approver's own warning is not counted.
	own := submit(ap, "本人提交的预警")
	second := submit(op, "大风橙色预警二")
	step(ap, "badge 2: the officer's two, not the approver's own", chromedp.WaitVisible(chromedp.CSS(`#approvals-badge[data-count="2"]`)))
	step(ap, "home page lists the waiting first", chromedp.Evaluate[chromedp.Void](`location.hash = "#/compose"`),
		chromedp.WaitVisible(chromedp.CSS("#approvals-home li[data-alert]")))
	ids := eval(ap, `Array.from(document.querySelectorAll("#approvals-home li[data-alert]")).map((li) => li.dataset.alert).sort().join(",")`)
	want := []string{first, second}
	if want[0] > want[1] {
		want[0], want[1] = want[1], want[0]
	}
	if ids != strings.Join(want, ",") || strings.Contains(ids, own) {
		t.Errorf("home lists %q, want %q (never the approver's own %s)", ids, strings.Join(want, ","), own)
	}
	if v := eval(ap, `document.querySelector("#view > .route").firstElementChild.id`); v != "approvals-home" {
		t.Errorf("the waiting list is not first on the home page: first is #%s", v)
	}
	if v := eval(ap, `String(document.querySelector("#approvals-badge").textContent)`); v != "2" {
		t.Errorf("badge text %q", v)
	}
	uncaught.check(t)
}
