package console_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/alertcast/alertcast/internal/testsvc"
)

// drillBody is a yellow drill to the two townships whose loudspeakers run
// real agents: issued at once (no approval at yellow), played, reported.
const drillBody = `{"event":"sandstorm","level":"yellow","status":"exercise","area":{"codes":["653122100","653122201"]},
	"channels":["speaker","sms"],"text":{"zh":{"headline":"演练：疏勒县沙尘暴黄色预警","description":"演练内容。","instruction":"演练，请勿惊慌。"},
	"ug":{"headline":"مانېۋىر: قۇم بورىنى","description":"مانېۋىر.","instruction":"مانېۋىر."}},
	"expires":"2030-01-01T18:00:00+08:00"}`

// TestConsoleReportPrintsToPDF: an officer opens a played drill's
// after-action report from the warning page; the page shows its id, the
// drill banner, a timeline with the first sound, reach per township and a
// CSV link; printed with Chromium's print-to-PDF it is a real PDF whose
// title names the warning.
func TestConsoleReportPrintsToPDF(t *testing.T) {
	testsvc.ChromiumPath(t)
	srv := startServer(t)
	op, _ := desktopBrowser(t, 75*time.Second)
	var uncaught jsErrors
	uncaught.watch(t, op, "operator")
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(op, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			body, _ := chromedp.Run(op, chromedp.Evaluate[string](`document.body.innerText.slice(0, 3000)`))
			t.Fatalf("%s: %v\npage:\n%s", what, err, body)
		}
	}
	eval := func(js string) string { t.Helper(); return evalJS(t, op, js) }

	code, body := srv.do("POST", "/api/v1/alerts", "application/json", strings.NewReader(drillBody))
	if code != 201 {
		t.Fatalf("create drill: %d %s", code, body)
	}
	id := jsonField(t, body, "id")
	step("log in", loginActions(srv.base, "olga")...)
	step("the drill plays out", chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q", "#/alert/"+id)),
		chromedp.WaitVisible(chromedp.CSS(`#overall[data-pct="100"]`)))
	step("open the report from the warning page", chromedp.Click(chromedp.CSS("#alert-report")),
		chromedp.WaitVisible(chromedp.CSS("#report #report-timeline tbody tr")))

	if v := eval(`document.querySelector("#report-id").textContent`); v != id {
		t.Errorf("report shows id %q, want %q", v, id)
	}
	if v := eval(`document.querySelector("#report").dataset.drill + " " + (document.querySelector("#report .drill") ? document.querySelector("#report .drill").textContent : "no banner")`); !strings.HasPrefix(v, "true 演练") {
		t.Errorf("drill marking: %q", v)
	}
	if v := eval(`Array.from(document.querySelectorAll("#report-timeline tr[data-event]")).map((r) => r.dataset.event).join(",")`); !strings.Contains(v, "issued") || !strings.Contains(v, "first_sound") || !strings.Contains(v, "reached_100") {
		t.Errorf("timeline events %q lack issued, first_sound or reached_100", v)
	}
	if v := eval(`Array.from(document.querySelectorAll('#report-reach tr[data-township="653122100"]')).map((r) => r.innerText).join(" | ")`); !strings.Contains(v, "疏勒镇") || !strings.Contains(v, "大喇叭") {
		t.Errorf("reach rows of 疏勒镇: %q", v)
	}
	href := eval(`document.querySelector("#report-csv").getAttribute("href")`)
	if href != "/api/v1/alerts/"+id+"/report?format=csv" {
		t.Errorf("CSV link %q", href)
	}
	code, csvBody := srv.do("GET", href, "", nil)
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(csvBody, []byte("\ufeff")))).ReadAll()
	if code != 200 || err != nil || len(recs) < 10 || recs[0][0] != "section" {
		t.Errorf("CSV behind the link: %d %v, %d rows", code, err, len(recs))
	}
	if v := eval(`document.title`); !strings.Contains(v, id) {
		t.Errorf("title %q does not name the warning", v)
	}
	if v := eval(`document.querySelector("#report-print").tagName`); v != "BUTTON" {
		t.Errorf("#report-print is a %s", v)
	}
	// The printed layout hides the console's chrome.
	if v := eval(`String(Array.from(document.styleSheets).some((s) => Array.from(s.cssRules).some((r) => r.media && r.media.mediaText === "print")))`); v != "true" {
		t.Errorf("no @media print rules are loaded")
	}

	if *update {
		png, err := chromedp.Run(op, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "docs", "screenshots", "report.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if d := os.Getenv("ALERTCAST_REPORT_PDF_DIR"); d != "" {
		// The printed layout as an image, to look at.
		if _, err := chromedp.Call(op, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(op, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(d, "report-print.png"), png, 0o644)
		if _, err := chromedp.Call(op, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
			t.Fatal(err)
		}
	}
	yes := true
	res, err := chromedp.Call(op, page.PrintToPDF, page.PrintToPDFParams{PreferCSSPageSize: &yes})
	if err != nil {
		t.Fatalf("print to PDF: %v", err)
	}
	pdf := res.Data
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) || len(pdf) < 20_000 {
		t.Fatalf("PDF: %d bytes, starts %q", len(pdf), pdf[:min(8, len(pdf))])
	}
	// Page text is compressed glyph ids; the document title, which names
	// the warning, is in the PDF's info dictionary (UTF-16BE hex when not
	// ASCII, as here).
	if !pdfHasTitle(pdf, id) {
		t.Errorf("the PDF's title does not name warning %s", id)
	}
	out := filepath.Join(t.TempDir(), "report.pdf")
	if d := os.Getenv("ALERTCAST_REPORT_PDF_DIR"); d != "" {
		out = filepath.Join(d, "report.pdf") // to look at it
	}
	if err := os.WriteFile(out, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("report printed: %d bytes (%s)", len(pdf), out)
	uncaught.check(t)
}

// pdfHasTitle reports whether the PDF's /Title holds s, as a literal
// string or as UTF-16BE hex.
func pdfHasTitle(pdf []byte, s string) bool {
	i := bytes.Index(pdf, []byte("/Title"))
	if i < 0 {
		return false
	}
	title := pdf[i:min(i+2000, len(pdf))]
	if bytes.Contains(title, []byte(s)) {
		return true
	}
	var u16 []byte
	for _, r := range utf16.Encode([]rune(s)) {
		u16 = append(u16, byte(r>>8), byte(r))
	}
	return bytes.Contains(bytes.ToUpper(title), []byte(strings.ToUpper(hex.EncodeToString(u16))))
}

// jsonField is a top-level string field of a JSON object.
func jsonField(t *testing.T, body []byte, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	v, _ := m[name].(string)
	return v
}
