package console_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/agent"
	"github.com/alertcast/alertcast/internal/alertd"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/targeting"
)

var update = flag.Bool("update", false, "write the screenshots to docs/screenshots (compose.png, preview.png, approval.png, progress.png)")

const adminToken = "console-e2e-admin-token-0123456789"

// spine is the example warning of issue 2 (the spine), typed in through the UI.
var spine = struct{ zhH, zhD, zhI, ugH, ugD, ugI string }{
	"疏勒县沙尘暴橙色预警", "预计今天下午有强沙尘暴，能见度小于500米。", "请关好门窗，减少外出。",
	"قۇم بورىنى ئاگاھلاندۇرۇشى", "بۈگۈن چۈشتىن كېيىن كۈچلۈك قۇم بورىنى بولىدۇ.", "ئىشىك-دېرىزىلەرنى ئېتىۋېلىڭ.",
}

type server struct {
	t       testing.TB
	base    string
	dataDir string
}

func (s server) do(method, path, ctype string, body io.Reader) (int, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func startServer(t testing.TB) server { return startServerWith(t, nil) }

// startServerWith is startServer with the configuration changed by mut
// before alertd starts.
func startServerWith(t testing.TB, mut func(*alertd.Config)) server {
	t.Helper()
	rs := testsvc.Redis(t)
	cfg := alertd.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Redis = rs.URL()
	cfg.AdminToken = adminToken
	if mut != nil {
		mut(&cfg)
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	s, err := alertd.Start(context.Background(), cfg, io.Discard, lockedWriter{&mu, &logs})
	if err != nil {
		t.Fatalf("start alertd: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Shutdown()
		if t.Failed() {
			mu.Lock()
			t.Logf("alertd log:\n%s", logs.String())
			mu.Unlock()
		}
	})
	srv := server{t, "http://" + s.Addr, cfg.DataDir}
	// A small synthetic population, so SMS and loudspeaker audiences are real.
	var res, spk bytes.Buffer
	if err := targeting.GeneratePopulation(targeting.DefaultTree(), targeting.DefaultOutline(), 3000, 200, 7, &res, &spk); err != nil {
		t.Fatal(err)
	}
	for path, body := range map[string]*bytes.Buffer{"/api/v1/residents/import": &res, "/api/v1/speakers/import": &spk} {
		if code, b := srv.do("POST", path, "text/csv", body); code != 200 {
			t.Fatalf("%s: %d %s", path, code, b)
		}
	}
	for _, u := range [][2]string{{"olga", "operator"}, {"aziz", "approver"}} {
		body := fmt.Sprintf(`{"name":%q,"role":%q,"password":"correct horse battery"}`, u[0], u[1])
		if code, b := srv.do("POST", "/api/v1/users", "application/json", strings.NewReader(body)); code != 201 {
			t.Fatalf("create user %s: %d %s", u[0], code, b)
		}
	}
	simulateSpeakers(t, srv, "653122100", "653122201")
	return srv
}

// simulateSpeakers runs real speaker agents (discarding sink) for every
// loudspeaker in the given townships. alertd's defaults wire the loudspeaker
// hub, so an enrolment that is not implemented is a failure.
func simulateSpeakers(t testing.TB, srv server, townships ...string) {
	t.Helper()
	code, b := srv.do("GET", "/api/v1/speakers", "", nil)
	var list struct {
		Speakers []struct{ ID, Village string } `json:"speakers"`
	}
	if err := json.Unmarshal(b, &list); err != nil || code != 200 {
		t.Fatalf("list speakers: %d %s", code, b)
	}
	var devs []agent.SimDevice
	for _, sp := range list.Speakers {
		if !slices.ContainsFunc(townships, func(tw string) bool { return strings.HasPrefix(sp.Village, tw) }) {
			continue
		}
		code, b := srv.do("POST", "/api/v1/speakers/"+sp.ID+"/enroll", "", nil)
		var cred struct {
			ID         string `json:"device_id"`
			Credential string `json:"credential"`
		}
		if err := json.Unmarshal(b, &cred); err != nil || code != 200 {
			t.Fatalf("enroll %s: %d %s", sp.ID, code, b)
		}
		devs = append(devs, agent.SimDevice{ID: cred.ID, Credential: cred.Credential})
	}
	key, err := speaker.LoadOrCreateKey(filepath.Join(srv.dataDir, "speaker-ed25519.key"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = agent.Simulate(ctx, agent.SimConfig{URL: srv.base, PublicKey: key.Public().(ed25519.PublicKey), Devices: devs,
			Logger: slog.New(slog.DiscardHandler)})
	}()
	t.Cleanup(func() { cancel(); <-done })
	t.Logf("simulating %d loudspeakers with real agents", len(devs))
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestConsoleEndToEnd drives the console in headless Chromium: an operator
// composes the spine's example warning, previews and issues it; an approver
// in a second browser context approves it; the operator watches progress
// reach 100 %, sees a lost connection and its recovery, and cancels.
func TestConsoleEndToEnd(t *testing.T) {
	testsvc.ChromiumPath(t) // skip (or fail) before starting alertd
	srv := startServer(t)
	op, ap := desktopBrowser(t, 75*time.Second)
	var uncaught jsErrors
	watch := func(ctx context.Context, who string) { uncaught.watch(t, ctx, who) }
	watch(op, "operator")

	step := func(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		start := time.Now()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			var body string
			body, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("view") ? document.getElementById("view").innerText.slice(0, 2000) : ""`))
			t.Fatalf("%s: %v\npage:\n%s", what, err, body)
		}
		t.Logf("%-44s %6.0f ms", what, float64(time.Since(start).Microseconds())/1000)
	}
	eval := func(ctx context.Context, js string) string { t.Helper(); return evalJS(t, ctx, js) }
	shots := t.TempDir()
	if *update {
		shots = filepath.Join("..", "docs", "screenshots")
	}
	shot := func(ctx context.Context, name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// go_ changes the route in the page: a same-document navigation, which
	// chromedp.Navigate would wait on for a load event that never comes.
	go_ := func(hash string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q", hash))
	}
	// typeIn sets a field as typing would: value, then input and change events.
	typeIn := func(sel, v string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q;
			e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); })()`, sel, v))
	}
	login := func(ctx context.Context, name string) {
		step(ctx, "log in as "+name, loginActions(srv.base, name)...)
	}

	// 1. The operator logs in; a reload restores the session, and the
	// compose view (the heaviest page: region tree, map, loudspeakers) marks
	// itself ready. How fast is BenchmarkConsoleFirstRender's business.
	login(op, "olga")
	step(op, "reload compose form", reloadCompose...)
	if p, err := firstRender(op); err != nil {
		t.Fatal(err)
	} else if p.Ready < 0 {
		t.Errorf("the compose view never set the alertcast-ready mark: %+v", p)
	} else {
		t.Logf("first render: first-contentful-paint %.0f ms, compose view ready %.0f ms, DOMContentLoaded %.0f ms, load %.0f ms", p.FCP, p.Ready, p.DCL, p.Load)
	}

	// 2. An empty preview: every API problem lands next to the field it names.
	step(op, "empty preview shows field errors",
		chromedp.Click(chromedp.CSS("#btn-preview")),
		chromedp.WaitVisible(chromedp.CSS(`[data-field="event"] > .err div`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-field="text.zh"] > .err div`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-field="area"] > .err div`)))
	if v := eval(op, `document.querySelector("#btn-submit").disabled ? "disabled" : "enabled"`); v != "disabled" {
		t.Errorf("submit is %s before a successful preview", v)
	}

	// Drills are visibly different: a striped 演练 DRILL banner.
	step(op, "drill banner on exercise",
		chromedp.Click(chromedp.CSS("#f-status-exercise")),
		chromedp.WaitVisible(chromedp.CSS("#drill-slot .drill")),
		chromedp.Click(chromedp.CSS("#f-status-actual")),
		chromedp.WaitNotPresent(chromedp.CSS("#drill-slot .drill")))

	// 3. Compose the spine's example warning.
	step(op, "compose the example warning",
		typeIn("#f-event", "sandstorm"),
		chromedp.Click(chromedp.CSS("#f-level-orange")),
		chromedp.Click(chromedp.CSS("#btn-template")),
		chromedp.WaitVisible(chromedp.CSS("#template-note")),
		chromedp.Click(chromedp.CSS("#aim-tw-653122100")),
		chromedp.Click(chromedp.CSS("#aim-tw-653122201")),
		chromedp.Click(chromedp.CSS("#f-group-herders")),
		typeIn("#f-zh-headline", spine.zhH),
		typeIn("#f-zh-description", spine.zhD),
		typeIn("#f-zh-instruction", spine.zhI),
		typeIn("#f-ug-headline", spine.ugH),
		typeIn("#f-ug-description", spine.ugD),
		typeIn("#f-ug-instruction", spine.ugI),
		typeIn("#f-expires", "2030-01-01T18:00"))
	if dir := eval(op, `document.querySelector("#f-ug-headline").dir`); dir != "rtl" {
		t.Errorf("Uyghur headline input dir = %q, want rtl", dir)
	}
	if n := eval(op, `String(document.querySelectorAll("#compose-map circle.spk.in").length)`); n == "0" {
		t.Errorf("no loudspeaker of the selected area is highlighted on the map")
	}
	step(op, "scroll to top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	shot(op, "compose.png")

	// 4. Preview: counts per channel and township; then submit is enabled.
	step(op, "preview",
		chromedp.Click(chromedp.CSS("#btn-preview")),
		chromedp.WaitVisible(chromedp.CSS(`#preview-channels [data-channel="speaker"]`)),
		chromedp.WaitEnabled(chromedp.CSS("#btn-submit")))
	if v := eval(op, `document.querySelector('#preview-channels [data-channel="sms"] b').textContent`); v == "0" || v == "" {
		t.Errorf("preview SMS audience = %q, want the herders of the two townships", v)
	}
	if v := eval(op, `document.querySelector('#preview-channels [data-channel="speaker"] b').textContent`); v == "0" || v == "" {
		t.Errorf("preview loudspeakers = %q, want > 0", v)
	}
	if v := eval(op, `document.querySelector("#preview-townships").innerText`); !strings.Contains(v, "疏勒镇") {
		t.Errorf("preview townships %q do not name 疏勒镇", v)
	}
	if v := eval(op, `document.querySelector("#preview-approval").textContent`); !strings.Contains(v, "审批") {
		t.Errorf("preview does not say an orange warning needs approval: %q", v)
	}
	shot(op, "preview.png")

	// 5. Submit with a double click: one warning only.
	step(op, "submit (double click)",
		chromedp.DoubleClick(chromedp.CSS("#btn-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#alert-head [data-state="pending"]`)),
		chromedp.WaitVisible(chromedp.CSS("#awaiting")))
	code, body := srv.do("GET", "/api/v1/alerts", "", nil)
	var list struct {
		Alerts []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(body, &list); err != nil || code != 200 {
		t.Fatalf("list alerts: %d %s", code, body)
	}
	if len(list.Alerts) != 1 {
		t.Fatalf("%d warnings stored after a double click, want 1", len(list.Alerts))
	}
	id := list.Alerts[0].ID
	code, body = srv.do("GET", "/api/v1/alerts/"+id, "", nil)
	var stored struct {
		Source string `json:"source"`
		Event  string `json:"event"`
		Level  string `json:"level"`
		Area   struct {
			Codes []string `json:"codes"`
		} `json:"area"`
		Text map[string]map[string]string `json:"text"`
	}
	if err := json.Unmarshal(body, &stored); err != nil || code != 200 {
		t.Fatalf("get alert: %d %s", code, body)
	}
	if stored.Source != "console" || stored.Event != "sandstorm" || stored.Level != "orange" ||
		strings.Join(stored.Area.Codes, ",") != "653122100,653122201" || stored.Text["ug"]["headline"] != spine.ugH || stored.Text["zh"]["instruction"] != spine.zhI {
		t.Errorf("stored warning differs from the example: %s", body)
	}

	// 6. The approver, in a second browser context (own cookies), approves.
	watch(ap, "approver")
	login(ap, "aziz")
	sel := fmt.Sprintf(`section[data-alert=%q]`, id)
	step(ap, "approval list shows the warning",
		go_("#/approvals"),
		chromedp.WaitVisible(chromedp.CSS(sel+" #btn-approve")))
	if v := eval(ap, fmt.Sprintf(`document.querySelector('%s table.diff').innerText`, sel)); !strings.Contains(v, spine.zhH) || !strings.Contains(v, "疏勒镇") {
		t.Errorf("the approver does not see what they approve: %q", v)
	}
	shot(ap, "approval.png")
	step(ap, "approve",
		chromedp.SendKeys(chromedp.CSS(sel+" #action-reason"), "confirmed with the met office"),
		chromedp.Click(chromedp.CSS(sel+" #btn-approve")),
		chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitVisible(chromedp.CSS("#no-pending")))

	// 7. The operator sees it issued and the progress reach 100 %.
	step(op, "issued and progress 100 %",
		chromedp.WaitVisible(chromedp.CSS(`#alert-head [data-state="issued"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#overall[data-pct="100"]`)))
	// No SMS gateway is configured here: SMS went to the outbox, and the
	// progress panel says so instead of "delivered".
	step(op, "SMS shown as not sent (outbox)",
		chromedp.WaitVisible(chromedp.CSS(`#outbox-notice`)),
		chromedp.WaitVisible(chromedp.CSS(`#progress .chrow.outbox[data-channel="sms"][data-mode="outbox"]`)))
	if v := eval(op, `document.querySelector('#outbox-notice').textContent`); !strings.Contains(v, "未发送（仅记录到发件箱）") || !strings.Contains(v, "短信") {
		t.Errorf("outbox notice %q does not say SMS was not sent", v)
	}
	if v := eval(op, `document.querySelector('#progress .chrow[data-channel="sms"] .counts').textContent`); strings.Contains(v, "已送达") && !strings.Contains(v, "0 已送达") {
		t.Errorf("SMS row claims deliveries from the outbox: %q", v)
	}
	step(op, "speaker states on the map", chromedp.WaitVisible(chromedp.CSS("#alert-map circle.s-delivered")))
	step(op, "scroll to top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	shot(op, "progress.png")

	// 8. The connection drops and comes back: shown, then resumed.
	block := func(on bool) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
				return err
			}
			var pats []*network.BlockPattern
			if on {
				pats = []*network.BlockPattern{{URLPattern: srv.base + "/api/*", Block: true}}
			}
			_, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: pats})
			return err
		})
	}
	step(op, "connection lost is shown", block(true), chromedp.WaitVisible(chromedp.CSS("#lost")),
		chromedp.WaitVisible(chromedp.CSS(`#conn[data-state="lost"]`)))
	step(op, "connection resumes", block(false), chromedp.WaitNotVisible(chromedp.CSS("#lost")),
		chromedp.WaitVisible(chromedp.CSS(`#alert-head [data-state="issued"]`)))

	// 9. Update: the form comes prefilled; a new version goes out and its
	// diff against the first shows what changed.
	step(op, "update the warning",
		chromedp.Click(chromedp.CSS("#btn-update")),
		chromedp.WaitVisible(chromedp.CSS("#compose-form")), // prefilled in the same task as it is shown
		typeIn("#f-zh-instruction", "请关好门窗，减少外出，把牲畜赶回圈舍。"),
		chromedp.Click(chromedp.CSS("#btn-preview")),
		chromedp.WaitEnabled(chromedp.CSS("#btn-submit")),
		chromedp.Click(chromedp.CSS("#btn-submit")),
		// A new instruction at orange waits for a second officer; the
		// version on air stays.
		chromedp.WaitVisible(chromedp.CSS("#pending-update tr.changed")))
	step(ap, "approve the update",
		go_("#/approvals"),
		chromedp.WaitVisible(chromedp.CSS(sel+" #btn-approve")),
		chromedp.Click(chromedp.CSS(sel+" #btn-approve")),
		chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitVisible(chromedp.CSS("#no-pending")))
	step(op, "the approved update is issued",
		chromedp.WaitVisible(chromedp.CSS(`#alert-head [data-version="2"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#overall[data-pct="100"]`)),
		chromedp.WaitReady(chromedp.CSS("#versions tr.changed")))
	if v := eval(op, `document.querySelector("#versions tr.changed").innerText`); !strings.Contains(v, "把牲畜赶回圈舍") || !strings.Contains(v, spine.zhI) {
		t.Errorf("version diff does not show the old and new instruction: %q", v)
	}

	// 10. Cancel with a reason.
	step(op, "cancel",
		chromedp.SendKeys(chromedp.CSS("#action-reason"), "sandstorm passed north of the county"),
		chromedp.Click(chromedp.CSS("#btn-cancel")),
		chromedp.Click(chromedp.CSS("#confirm-ok")),
		chromedp.WaitVisible(chromedp.CSS(`#alert-head [data-state="cancelled"]`)))

	// 11. History and audit show it.
	step(op, "history lists it", go_("#/history"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#history tr[data-alert=%q]`, id))))
	step(op, "audit log lists approve and cancel", go_("#/audit"),
		chromedp.WaitVisible(chromedp.CSS("#audit-table tbody tr[data-seq]")))
	if v := eval(op, `[...document.querySelectorAll("#audit-table tr[data-action]")].map((r) => r.dataset.action).join(" ")`); !strings.Contains(v, "alert.approve") || !strings.Contains(v, "alert.cancel") {
		t.Errorf("audit page lacks approve/cancel entries:\n%s", v)
	}

	// 12. An admin (token login) creates a user and enrols a loudspeaker;
	// the API's field error lands next to the password.
	step(ap, "admin logs in with a token",
		chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#login-toggle")),
		chromedp.Click(chromedp.CSS("#login-toggle")),
		chromedp.SendKeys(chromedp.CSS("#login-token"), adminToken),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#nav-admin")),
		chromedp.WaitVisible(chromedp.CSS("#f-event")),
		go_("#/admin"),
		chromedp.WaitVisible(chromedp.CSS("#user-form")))
	step(ap, "short password is refused next to the field",
		typeIn("#u-name", "vera"), typeIn("#u-password", "short"),
		chromedp.Click(chromedp.CSS(`#user-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#user-form [data-field="password"] > .err div`)))
	step(ap, "user created with a scope, token shown once",
		typeIn("#u-password", "a long enough password"), typeIn("#u-scope", "653122100"),
		chromedp.Click(chromedp.CSS(`#user-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#u-created .secret")))
	// The scope is shown with its region's name, in the answer and the list.
	if v := eval(ap, `document.querySelector("#u-created").innerText`); !strings.Contains(v, "653122100 (疏勒镇)") {
		t.Errorf("created user's scope not shown: %q", v)
	}
	step(ap, "the user list shows the scope",
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("td.user-scope")].some((td) => td.textContent === "653122100 (疏勒镇)")`, chromedp.WithPollingTimeout(10*time.Second)))
	step(ap, "loudspeaker enrolled from the fleet page, credential shown once", go_("#/fleet"),
		chromedp.WaitVisible(chromedp.CSS("#fleet-table button[data-enroll]")),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#fleet-table button[data-enroll]:not([data-village^="653122100"]):not([data-village^="653122201"])').click()`),
		chromedp.WaitVisible(chromedp.CSS("#enrolled .secret, #enrolled .formerr")))
	t.Logf("admin enrolment: %s", eval(ap, `document.querySelector("#enrolled").innerText`))
	t.Logf("live link indicator at the end: %s", eval(op, `document.querySelector("#conn").dataset.state`))

	// 13. A tablet (768×1024, touch): the compose form and the history fit
	// the width, no sideways scrolling.
	for _, route := range []string{"#/compose", "#/history"} {
		step(op, "tablet layout "+route, chromedp.EmulateViewport(768, 1024, chromedp.EmulateTouch), go_(route),
			chromedp.WaitVisible(chromedp.CSS("main h1")))
		if v := eval(op, `String(document.documentElement.scrollWidth - window.innerWidth)`); v != "0" {
			t.Errorf("tablet %s: page is %s px wider than the screen", route, v)
		}
	}

	uncaught.check(t)
}

// loginActions log name in from the login page and wait for the compose view.
func loginActions(base, name string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(base + "/#/login"),
		chromedp.WaitVisible(chromedp.CSS("#login-name")),
		chromedp.SendKeys(chromedp.CSS("#login-name"), name),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "correct horse battery"),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#me #logout")),
		chromedp.WaitVisible(chromedp.CSS("#f-event")),
	}
}

// reloadCompose reloads the page and waits until the compose view is ready.
var reloadCompose = []chromedp.Action[chromedp.Void]{chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#view[data-ready="1"] #f-event`))}

// renderTimes are the page's own timings of its last load, in ms since
// navigation start; -1 for a mark that was never set.
type renderTimes struct{ FCP, Ready, DCL, Load float64 }

func firstRender(ctx context.Context) (renderTimes, error) {
	var p renderTimes
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify((() => {
		const n = performance.getEntriesByType("navigation")[0];
		const f = performance.getEntriesByName("first-contentful-paint")[0];
		const r = performance.getEntriesByName("alertcast-ready")[0];
		return {FCP: f ? f.startTime : -1, Ready: r ? r.startTime : -1, DCL: n.domContentLoadedEventEnd, Load: n.loadEventEnd};
	})())`))
	if err != nil {
		return p, fmt.Errorf("read performance entries: %w", err)
	}
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return p, fmt.Errorf("performance entries %q: %w", v, err)
	}
	return p, nil
}
