package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/warning"
)

// TestConsoleErrorsAndConfirmation drives the console (Chinese, its
// default language) in headless Chromium: an invalid warning's error is
// shown in Chinese with the field's label next to that field and goes away
// when the field is filled; the approver's confirmation of a red warning
// shows its level, area and audience, is refused without a reason, backs
// out on Escape, and approves with one.
func TestConsoleErrorsAndConfirmation(t *testing.T) {
	testsvc.ChromiumPath(t) // skip (or fail) before starting alertd
	srv := startServer(t)
	op, ap := desktopBrowser(t, 75*time.Second)
	var uncaught jsErrors
	watch := func(ctx context.Context, who string) { uncaught.watch(t, ctx, who) }
	step := func(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 2000)`))
			t.Fatalf("%s: %v\npage:\n%s", what, err, body)
		}
	}
	eval := func(ctx context.Context, js string) string { t.Helper(); return evalJS(t, ctx, js) }
	typeIn := func(sel, v string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q;
			e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); })()`, sel, v))
	}
	login := func(ctx context.Context, name string) {
		step(ctx, "log in as "+name,
			chromedp.Navigate(srv.base+"/#/login"),
			chromedp.WaitVisible(chromedp.CSS("#login-name")),
			chromedp.SendKeys(chromedp.CSS("#login-name"), name),
			chromedp.SendKeys(chromedp.CSS("#login-password"), "correct horse battery"),
			chromedp.Click(chromedp.CSS("#login-submit")),
			chromedp.WaitVisible(chromedp.CSS("#me #logout")),
			chromedp.WaitVisible(chromedp.CSS("#f-event")))
	}
	state := func(id string) string {
		t.Helper()
		code, body := srv.do("GET", "/api/v1/alerts/"+id, "", nil)
		var a struct {
			State string `json:"state"`
		}
		if err := json.Unmarshal(body, &a); err != nil || code != 200 {
			t.Fatalf("get alert: %d %s", code, body)
		}
		return a.State
	}

	// 1. A red warning with the Mandarin headline left out.
	watch(op, "operator")
	login(op, "olga")
	headlineErr := `[data-field="text.zh.headline"] > .err div`
	step(op, "an invalid warning is previewed",
		typeIn("#f-event", "sandstorm"),
		chromedp.Click(chromedp.CSS("#f-level-red")),
		chromedp.Click(chromedp.CSS("#aim-tw-653122100")),
		typeIn("#f-zh-description", spine.zhD),
		typeIn("#f-ug-headline", spine.ugH),
		typeIn("#f-expires", "2030-01-01T18:00"),
		chromedp.Click(chromedp.CSS("#btn-preview")),
		chromedp.WaitVisible(chromedp.CSS(headlineErr)))
	if v := eval(op, fmt.Sprintf(`document.querySelector(%q).textContent`, headlineErr)); v != "普通话标题：必填" {
		t.Errorf("headline error = %q, want 普通话标题：必填", v)
	}
	if v := eval(op, `document.querySelector("#f-zh-headline").getAttribute("aria-invalid") || ""`); v != "true" {
		t.Errorf("the headline input is not marked invalid: aria-invalid=%q", v)
	}
	if v := eval(op, `(() => { const d = document.querySelector("#f-zh-headline").getAttribute("aria-describedby"); return d ? document.getElementById(d).textContent : ""; })()`); v != "普通话标题：必填" {
		t.Errorf("the headline input is described by %q, want its error", v)
	}
	if v := eval(op, `document.querySelector("#compose-form").innerText`); strings.Contains(v, "text.zh") || strings.Contains(v, "required") {
		t.Errorf("the form shows internal field names or English rules:\n%s", v)
	}

	// 2. Filling the field takes the error away; the preview then passes.
	step(op, "the error goes when the field is filled",
		typeIn("#f-zh-headline", "疏勒县沙尘暴红色预警"),
		chromedp.WaitNotPresent(chromedp.CSS(headlineErr)))
	if v := eval(op, `document.querySelector("#f-zh-headline").getAttribute("aria-invalid") || ""`); v != "" {
		t.Errorf("the filled headline is still marked invalid")
	}
	step(op, "preview and issue",
		chromedp.Click(chromedp.CSS("#btn-preview")),
		chromedp.WaitEnabled(chromedp.CSS("#btn-submit")),
		chromedp.Click(chromedp.CSS("#btn-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#alert-head [data-state="pending"]`)))
	if n := eval(op, `String(document.querySelectorAll(".err div").length)`); n != "0" {
		t.Errorf("%s field errors left on screen after a successful submit", n)
	}
	id := eval(op, `decodeURIComponent(location.hash.replace("#/alert/", ""))`)

	// 3. The approver's confirmation: level, area, audience, changes.
	watch(ap, "approver")
	login(ap, "aziz")
	step(ap, "open the approve confirmation",
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q", "#/alert/"+id)),
		chromedp.Click(chromedp.CSS("#btn-approve")),
		chromedp.WaitVisible(chromedp.CSS(`dialog#confirm[open] #confirm-level[data-level="red"]`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm-count[data-total]")))
	if v := eval(ap, `document.querySelector("#confirm-level").innerText`); !strings.Contains(v, "红色") {
		t.Errorf("confirmation level %q does not name 红色", v)
	}
	if v := eval(ap, `getComputedStyle(document.querySelector("#confirm-level")).backgroundColor`); v != "rgb(229, 38, 42)" {
		t.Errorf("confirmation level colour = %s, want the red of the level (rgb(229, 38, 42))", v)
	}
	if v := eval(ap, `document.querySelector("#confirm-area").textContent`); !strings.Contains(v, "疏勒镇") {
		t.Errorf("confirmation area %q does not name 疏勒镇", v)
	}
	if n, err := strconv.Atoi(eval(ap, `document.querySelector("#confirm-count").dataset.total`)); err != nil || n <= 0 {
		t.Errorf("confirmation audience total = %d (%v), want > 0: %s", n, err, eval(ap, `document.querySelector("#confirm-count").textContent`))
	}
	if v := eval(ap, `document.querySelector("#confirm-changes").textContent`); !strings.Contains(v, "新预警") {
		t.Errorf("confirmation changes %q do not say it is a new warning", v)
	}
	if v := eval(ap, `document.querySelector("#confirm-authors").textContent`); !strings.Contains(v, "olga") {
		t.Errorf("confirmation authors %q do not name olga", v)
	}
	if v := eval(ap, `document.activeElement ? document.activeElement.id : ""`); v != "confirm-reason" {
		t.Errorf("focus is on %q, want the required reason field", v)
	}

	// 4. Without a reason at red: refused in the dialog, nothing approved.
	reasonErr := `#confirm [data-field="reason"] > .err div`
	step(ap, "approve without a reason is refused",
		chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitVisible(chromedp.CSS(reasonErr)))
	if v := eval(ap, fmt.Sprintf(`document.querySelector(%q).textContent`, reasonErr)); v != "理由：批准红色预警必须填写理由" {
		t.Errorf("reason error = %q", v)
	}
	if s := state(id); s != "pending" {
		t.Fatalf("the warning is %s after an approval without a reason, want pending", s)
	}
	// The API refuses it too (alertctl and scripts go through it).
	if code, body := srv.do("POST", "/api/v1/alerts/"+id+"/approve", "application/json", strings.NewReader(`{"reason":" "}`)); code != 422 ||
		!strings.Contains(string(body), `"field":"reason"`) {
		t.Errorf("API approve of a red warning without a reason: %d %s, want 422 naming field reason", code, body)
	}

	// 5. Escape backs out; the warning stays pending.
	step(ap, "Escape closes the dialog",
		chromedp.KeyEvent(kb.Escape),
		chromedp.WaitNotPresent(chromedp.CSS("dialog#confirm")))
	if s := state(id); s != "pending" {
		t.Fatalf("the warning is %s after Escape, want pending", s)
	}

	// 6. With a reason it is approved.
	step(ap, "approve with a reason",
		chromedp.Click(chromedp.CSS("#btn-approve")),
		chromedp.WaitVisible(chromedp.CSS("dialog#confirm[open]")),
		typeIn("#confirm-reason", "气象局电话确认"),
		chromedp.WaitNotPresent(chromedp.CSS(reasonErr)),
		chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitVisible(chromedp.CSS(`#alert-head [data-state="issued"]`)))
	if s := state(id); s != "issued" {
		t.Errorf("the warning is %s after approval with a reason, want issued", s)
	}

	// 7. The operator gives the all clear: the same dialog, with whom the
	// warning was planned for; it ends only on confirmation.
	step(op, "all-clear confirmation",
		chromedp.WaitVisible(chromedp.CSS(`#alert-head [data-state="issued"]`)),
		chromedp.Click(chromedp.CSS("#btn-allclear")),
		chromedp.WaitVisible(chromedp.CSS(`dialog#confirm[open][data-verb="allclear"] #confirm-level[data-level="red"]`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm-count[data-total]")))
	if v := eval(op, `document.querySelector("#confirm-area").textContent`); !strings.Contains(v, "疏勒镇") {
		t.Errorf("all-clear confirmation area %q does not name 疏勒镇", v)
	}
	if n, err := strconv.Atoi(eval(op, `document.querySelector("#confirm-count").dataset.total`)); err != nil || n <= 0 {
		t.Errorf("all-clear confirmation audience total = %d (%v), want > 0", n, err)
	}
	if s := state(id); s != "issued" {
		t.Fatalf("the warning is %s while the all-clear waits for confirmation, want issued", s)
	}
	step(op, "all clear confirmed",
		typeIn("#confirm-reason", "沙尘暴已过境"),
		chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitVisible(chromedp.CSS(`#alert-head [data-state="allclear"]`)))

	// 8. Every problem dispatch's validation can report reads in Chinese
	// with a label, not the API's field path and English rule.
	for _, p := range validationProblems(t) {
		js, _ := json.Marshal(p)
		got := eval(op, fmt.Sprintf(`window.ALERT_FIELD_ERRORS.describe("zh", %s)`, js))
		if strings.Contains(got, "输入有误") || strings.HasPrefix(got, p.Field) {
			t.Errorf("%s: %q has no Chinese label or phrase: %q", p.Field, p.Rule, got)
		}
	}

	uncaught.check(t)
}

// validationProblems is every kind of problem AlertInput.Validate reports
// for warnings typed into the console (no polygons or circles: the form has
// none), from inputs wrong in every field.
func validationProblems(t *testing.T) []warning.FieldError {
	t.Helper()
	regions := dispatch.RegionsFunc(func(c string) bool { return c == "653122100" })
	groups := func(g string) bool { return g == "herders" }
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	inputs := []dispatch.AlertInput{
		{},
		{Event: "nope", Level: "purple", Status: "x",
			Area:     dispatch.Area{Codes: []string{"12", "653122999", "653122100", "653122100"}, Exclude: []string{"1"}},
			Audience: dispatch.Audience{Groups: []string{"aliens"}, Languages: []string{"fr"}},
			Channels: []string{"fax"},
			Text: map[string]dispatch.Text{"zh": {Description: strings.Repeat("沙", dispatch.MaxDescription+1), Instruction: "\xff"},
				"fr": {Headline: "x"}},
			Onset: "tomorrow", Expires: "2000-01-01T00:00:00Z", Rebroadcast: "every"},
		{Event: "sandstorm", Level: "red", Area: dispatch.Area{Codes: []string{"653122100"}}, Channels: []string{"sms"},
			Text:  map[string]dispatch.Text{"zh": {Headline: strings.Repeat("沙", dispatch.MaxHeadline+1)}, "ug": {Headline: "x"}},
			Onset: "2030-01-02T00:00:00+08:00", Expires: "2030-01-01T00:00:00+08:00", Rebroadcast: "every 1s"},
		{Event: "sandstorm", Level: "red", Area: dispatch.Area{Codes: []string{"653122100"}}, Channels: []string{"sms"},
			Text: map[string]dispatch.Text{"zh": {Headline: "x"}, "ug": {Headline: "x"}}, Expires: "2000-01-01T00:00:00+08:00", Rebroadcast: "61 * * * *"},
	}
	var out []warning.FieldError
	for i, in := range inputs {
		_, err := in.Validate(regions, groups, now)
		var ve *dispatch.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("input %d: %v, want a ValidationError", i, err)
		}
		out = append(out, ve.Problems...)
	}
	return out
}
