package alertd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alertcast/alertcast/internal/testsvc"
)

// A resident's page in headless Chromium shows a warning issued through the
// API, in the resident's language, and sees it lifted.
func TestResidentPageShowsWarningIssuedThroughAPI(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Outbox = []string{"sms", "speaker", "voice"} })
	op := addUser(t, s.Base, "op", "operator")
	ctx := testsvc.Chromium(t, 90*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.Base+"/r/653122100001?lang=zh")); err != nil {
		t.Fatal(err)
	}
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerHTML`))
			t.Fatalf("%s: %v\npage: %.1500s", what, err, html)
		}
	}
	poll("page connected", `document.getElementById("status") && document.getElementById("status").className === "status"`)
	body := strings.Replace(string(exampleBody(t)), `"orange"`, `"yellow"`, 1)
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, body, 201)["id"].(string)
	sel := fmt.Sprintf(`document.querySelector('article[data-alert=%q]')`, id)
	t0 := time.Now()
	poll("warning shown", sel+` !== null`)
	t.Logf("shown %s after the issue call", time.Since(t0).Round(time.Millisecond))
	headline, err := chromedp.Run(ctx, chromedp.Evaluate[string](sel+`.querySelector("h2").textContent`))
	if err != nil || headline != "疏勒县沙尘暴橙色预警" {
		t.Fatalf("headline %q (%v)", headline, err)
	}
	// The all-clear: the card turns into a notice that says it is lifted,
	// why, and when in Beijing time — and no longer tells anyone to shut
	// their windows.
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/allclear", op, `{"reason":"沙尘暴已减弱，能见度恢复"}`, 200)
	poll("lifted notice", sel+` !== null && `+sel+`.classList.contains("lifted")`)
	notice, err := chromedp.Run(ctx, chromedp.Evaluate[string](sel+`.textContent`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"预警已解除", "解除疏勒县沙尘暴", "原因：沙尘暴已减弱，能见度恢复", "北京时间"} {
		if !strings.Contains(notice, want) {
			t.Errorf("lifted notice %q lacks %q", notice, want)
		}
	}
	if strings.Contains(notice, "关好门窗") || strings.Contains(notice, "能见度小于500米") {
		t.Errorf("lifted notice repeats the warning: %q", notice)
	}
	// A resident who opens the page now (a fresh load: snapshot, not the
	// live event) learns the same.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.Base+"/r/653122100001?lang=zh")); err != nil {
		t.Fatal(err)
	}
	poll("lifted notice after reload", sel+` !== null && `+sel+`.classList.contains("lifted") && `+sel+`.textContent.indexOf("沙尘暴已减弱") >= 0`)
	if empty, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.getElementById("empty").hidden`)); !empty {
		t.Error(`"no active warning" not said beside the lifted notice`)
	}
	_ = chromedp.Do(ctx, chromedp.Navigate("about:blank"))
}
