package websocket

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/warning"
	"github.com/chromedp/chromedp"
)

// waitJS polls a JavaScript expression in the page until it is truthy.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		var html string
		html, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerHTML`))
		t.Fatalf("%s: %v\npage: %.2000s", what, err, html)
	}
}

func TestResidentPageInChromium(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, nil)
	ctx := testsvc.Chromium(t, 60*time.Second)

	// Uyghur, WebSocket.
	if err := chromedp.Do(ctx, chromedp.Navigate(n.srv.URL+"/r/"+village+"?lang=ug")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "page connected", `document.getElementById("status").className === "status"`)
	waitFor(t, "page subscribed", func() bool { return n.hub.Subscribers() == 1 })
	m := msg("", 1, warning.KindAlert, 3, township)
	m.Status = warning.StatusExercise
	send(t, n.hub, m)
	sel := fmt.Sprintf(`document.querySelector('article[data-alert=%q]')`, m.AlertID)
	waitJS(t, ctx, "warning card shown", sel+` !== null`)
	headline, err := chromedp.Run(ctx, chromedp.Evaluate[string](sel+`.querySelector("h2").textContent`))
	if err != nil || headline != m.Texts["ug"].Headline {
		t.Errorf("headline %q (%v), want the Uyghur one", headline, err)
	}
	dir, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.dir + "/" + document.documentElement.lang`))
	if dir != "rtl/ug" {
		t.Errorf("html dir/lang = %q, want rtl/ug", dir)
	}
	if drill, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](sel+`.querySelector(".drill") !== null`)); !drill {
		t.Error("drill not marked")
	}
	if cls, _ := chromedp.Run(ctx, chromedp.Evaluate[string](sel+`.className`)); !strings.Contains(cls, "l3") {
		t.Errorf("card class %q, want level colour l3", cls)
	}

	// The connection drops; a warning issued meanwhile appears after the
	// page reconnects and resumes.
	n.hub.disconnectAll(0, "") // like a network failure
	waitFor(t, "page disconnected", func() bool { return n.hub.Subscribers() == 0 })
	m2 := msg("", 1, warning.KindAlert, 4, county)
	send(t, n.hub, m2)
	waitJS(t, ctx, "missed warning after reconnect", fmt.Sprintf(`document.querySelector('article[data-alert=%q]') !== null`, m2.AlertID))
	// Lifted: the card says so, with the reason, without the old
	// instruction, in Beijing time named as such.
	lift := msg(m.AlertID, 2, warning.KindAllClear, 3, township)
	lift.Status, lift.Reason = warning.StatusExercise, "قۇم-بوران توختىدى"
	send(t, n.hub, lift)
	waitJS(t, ctx, "lifted notice shown", sel+` !== null && `+sel+`.classList.contains("lifted")`)
	notice, _ := chromedp.Run(ctx, chromedp.Evaluate[string](sel+`.textContent`))
	for _, want := range []string{"ئەمەلدىن قالدۇرۇلدى", "قۇم-بوران توختىدى", "بېيجىڭ ۋاقتى", "مەشىق"} {
		if !strings.Contains(notice, want) {
			t.Errorf("lifted notice %q lacks %q", notice, want)
		}
	}
	if strings.Contains(notice, m.Texts["ug"].Instruction) {
		t.Errorf("lifted notice repeats the instruction: %q", notice)
	}

	// Chinese over the SSE fallback.
	if err := chromedp.Do(ctx, chromedp.Navigate(n.srv.URL+"/r/"+village+"?lang=zh&sse=1")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "active warning from snapshot (SSE)", fmt.Sprintf(`document.querySelector('article[data-alert=%q]') !== null`, m2.AlertID))
	m3 := msg("", 1, warning.KindAlert, 2, village)
	send(t, n.hub, m3)
	sel3 := fmt.Sprintf(`document.querySelector('article[data-alert=%q]')`, m3.AlertID)
	waitJS(t, ctx, "live warning over SSE", sel3+` !== null`)
	if h, _ := chromedp.Run(ctx, chromedp.Evaluate[string](sel3+`.querySelector("h2").textContent`)); h != m3.Texts["zh"].Headline {
		t.Errorf("SSE headline %q", h)
	}
	// Leave the page so the browser closes its stream before the hub does.
	_ = chromedp.Do(ctx, chromedp.Navigate("about:blank"))
}

func TestPageAssets(t *testing.T) {
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, nil)
	total := 0
	for _, p := range []string{"/r/", "/r/" + village, "/r/app.js", "/r/app.css", "/r/regions.json"} {
		req, _ := http.NewRequest("GET", n.srv.URL+p, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%s: HTTP %d, encoding %q", p, resp.StatusCode, resp.Header.Get("Content-Encoding"))
		}
		if p != "/r/" {
			total += len(b)
		}
	}
	if total > 20<<10 {
		t.Errorf("page weighs %d bytes gzipped; keep it small for slow links", total)
	}
	t.Logf("resident page: %d bytes gzipped (page, script, style, region list)", total)
	resp, err := http.Get(n.srv.URL + "/r/653122999999")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown region page: %d", resp.StatusCode)
	}
}
