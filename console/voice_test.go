package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/alertcast/alertcast/internal/alertd"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// openVoiceTab runs click, which must open the voice page in a new tab of
// ctx's browser, and returns that tab, attached (for as long as the test).
func openVoiceTab(t *testing.T, ctx context.Context, click func()) context.Context {
	t.Helper()
	opened := chromedp.WaitNewTarget(ctx, func(i *target.Info) bool { return strings.Contains(i.URL, "/voice/") })
	click()
	var id target.ID
	select {
	case id = <-opened:
	case <-ctx.Done():
		t.Fatal("speak live opened no voice tab")
	}
	vctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
	t.Cleanup(cancel)
	if err := chromedp.Do(vctx); err != nil { // attach here, not under a step's timeout
		t.Fatal(err)
	}
	return vctx
}

// A duty officer logged in to the console opens "speak live" on an issued
// warning: the voice page opens in its own tab, signs in with the console's
// session (a one-use ticket; no token typed or in the URL), shows the
// warning's level and area and aims at the whole area; going live and
// ending are audited under the warning with the officer and the room. "Call
// field team" opens the same tab on the call box. The same page in a
// browser that is not logged in connects to nothing (negative control).
func TestConsoleSpeakLiveFromWarning(t *testing.T) {
	testsvc.ChromiumPath(t)
	rs := testsvc.Redis(t)
	cfg := alertd.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Redis = rs.URL()
	cfg.AdminToken = adminToken
	cfg.Voice.Loopback = true // pion on loopback only, as in the voice package's browser tests
	s, err := alertd.Start(context.Background(), cfg, io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("start alertd: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown() })
	srv := server{t, "http://" + s.Addr, cfg.DataDir}
	if code, b := srv.do("POST", "/api/v1/users", "application/json", strings.NewReader(`{"name":"olga","role":"operator","password":"correct horse battery"}`)); code != 201 {
		t.Fatalf("create user: %d %s", code, b)
	}
	body := fmt.Sprintf(`{"event":"gale","level":"blue","status":"actual","area":{"codes":["653122205","653122206"]},
		"channels":["websocket"],"text":{"zh":{"headline":"疏勒县大风蓝色预警","description":"预计有大风。","instruction":"请减少外出。"},
		"ug":{"headline":"قاتتىق شامال كۆك ئاگاھلاندۇرۇشى","description":"قاتتىق شامال چىقىدۇ.","instruction":"سىرتقا چىقىشنى ئازايتىڭ."}},
		"expires":%q}`, time.Now().Add(3*time.Hour).Format(time.RFC3339))
	code, b := srv.do("POST", "/api/v1/alerts", "application/json", strings.NewReader(body))
	if code != 201 {
		t.Fatalf("create warning: %d %s", code, b)
	}
	var created struct{ ID, State string }
	_ = json.Unmarshal(b, &created)
	if created.State != "issued" {
		t.Fatalf("a blue warning for two townships should be issued at once, is %q", created.State)
	}

	opts := append(testsvc.ChromiumOptions(t), chromedp.WindowSize(1366, 900),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(cancelB)
	ctx, cancelT := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(cancelT)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	var uncaught jsErrors
	uncaught.watch(t, ctx, "console")
	step := func(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		begin := time.Now()
		if err := chromedp.Do(sctx, actions...); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 2000)`))
			t.Fatalf("%s: %v\npage:\n%s", what, err, page)
		}
		t.Logf("%-70s %6.0f ms", what, float64(time.Since(begin).Microseconds())/1000)
	}
	step(ctx, "log in as olga", loginActions(srv.base, "olga")...)
	step(ctx, "open the warning", chromedp.Navigate(srv.base+"/#/alert/"+created.ID), chromedp.WaitVisible(chromedp.ID("btn-speak-live")))

	vctx := openVoiceTab(t, ctx, func() { step(ctx, "click speak live", chromedp.Click(chromedp.ID("btn-speak-live"))) })
	uncaught.watch(t, vctx, "voice")
	step(vctx, "the voice page connects with the session and shows the warning",
		chromedp.WaitVisible(chromedp.ID("alertbox")),
		chromedp.WaitEnabled(chromedp.ID("golive")),
		until(`document.getElementById("region").value === "alert"`))
	eval := func(ctx context.Context, js string) string { t.Helper(); return evalJS(t, ctx, js) }
	if who := eval(vctx, `document.getElementById("who").textContent`); !strings.HasPrefix(who, "olga") {
		t.Errorf("voice page signed in as %q, want olga", who)
	}
	if v := eval(vctx, `location.hash + "|" + document.getElementById("token").value`); v != "|" {
		t.Errorf("a token was handed over or typed: %q", v)
	}
	if v := eval(vctx, `document.getElementById("alert-level").textContent + "|" + document.getElementById("alert-area").textContent + "|" + document.getElementById("level").value`); v != "蓝色 IV · blue|英尔力克乡、库木西力克乡|1" {
		t.Errorf("warning shown as %q", v)
	}
	step(vctx, "go live",
		chromedp.Click(chromedp.ID("golive")),
		until(`document.getElementById("livestate").textContent.includes("LIVE") && document.getElementById("livestate").textContent.includes("英尔力克乡、库木西力克乡") && document.getElementById("livestate").textContent.includes("蓝色 IV")`))

	audit := func(action string) map[string]any {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, b := srv.do("GET", "/api/v1/audit?alert="+created.ID+"&limit=100", "", nil)
			var out struct {
				Entries []struct {
					Actor, Action, Detail string
					AlertID               string `json:"alert_id"`
				} `json:"entries"`
			}
			if err := json.Unmarshal(b, &out); err != nil || code != 200 {
				t.Fatalf("audit: %d %s", code, b)
			}
			for _, e := range out.Entries {
				if e.Action == action {
					var d map[string]any
					_ = json.Unmarshal([]byte(e.Detail), &d)
					if e.Actor != "olga" || e.AlertID != created.ID || d["room"] == nil || d["room"] == "" || d["alert_id"] != created.ID {
						t.Errorf("%s record: actor %q alert %q detail %s", action, e.Actor, e.AlertID, e.Detail)
					}
					return d
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s record under warning %s: %s", action, created.ID, b)
			}
			time.Sleep(100 * time.Millisecond) // polling the API for a record written by another goroutine
		}
	}
	start := audit("voice.live.start")
	if regs, _ := start["regions"].([]any); len(regs) != 2 || regs[0] != "653122205" || regs[1] != "653122206" {
		t.Errorf("start record regions %v, want the warning's two townships", start["regions"])
	}
	step(vctx, "end", chromedp.Click(chromedp.ID("end")), until(`document.getElementById("livestate").textContent.includes("ended")`))
	end := audit("voice.live.end")
	if end["room"] != start["room"] {
		t.Errorf("end record room %v, start %v", end["room"], start["room"])
	}

	step(ctx, "call field team", chromedp.Click(chromedp.ID("btn-call-field")))
	// The named tab navigates: evaluations fail until its new document is
	// there, so wait for that first.
	for deadline := time.Now().Add(20 * time.Second); ; {
		sctx, cancel := context.WithTimeout(vctx, 2*time.Second)
		_, err := chromedp.Run(sctx, until(`location.search.includes("mode=call") && document.getElementById("alert-area").textContent.includes("英尔力克乡")`))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("call field team: the voice tab never showed the call box for the warning: %v", err)
		}
	}
	step(vctx, "connected for the call", chromedp.WaitEnabled(chromedp.ID("call")))

	// Negative control: no console session, no voice connection.
	nctx, cancelN := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancelN)
	if err := chromedp.Do(nctx); err != nil { // its tab lives as long as nctx, not a step's timeout
		t.Fatal(err)
	}
	step(nctx, "the voice page without a session",
		chromedp.Navigate(srv.base+"/voice/?alert="+created.ID),
		until(`document.getElementById("log").textContent.includes("connect failed")`))
	if v := eval(nctx, `document.getElementById("golive").disabled + "|" + document.getElementById("alertbox").className`); v != "true|hidden" {
		t.Errorf("without a session: golive disabled|alertbox class = %q", v)
	}
	uncaught.check(t)
}
