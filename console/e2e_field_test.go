package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/alertcast/alertcast/internal/testsvc"
)

const photoSecret = "GPS 39.401234N 76.034567E owner Tursun"

// exifJPEG writes a 640×480 JPEG whose EXIF segment names a place and a
// person, as a phone's camera would.
func exifJPEG(t *testing.T) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := 0; y < 480; y++ {
		for x := 0; x < 640; x++ {
			img.Set(x, y, color.RGBA{uint8(x / 3), uint8(y / 2), 90, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	// APP1 "Exif": a little-endian TIFF header with an empty IFD0, then the text.
	seg := append([]byte("Exif\x00\x00II*\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00"), photoSecret...)
	app1 := append([]byte{0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}, seg...)
	j := b.Bytes()
	out := append(append(append([]byte{}, j[:2]...), app1...), j[2:]...)
	p := filepath.Join(t.TempDir(), "IMG_0042.jpg")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type fieldReport struct {
	ID       string         `json:"id"`
	Kind     string         `json:"kind"`
	Counts   map[string]int `json:"counts"`
	Text     string         `json:"text"`
	Reporter string         `json:"reporter"`
	Location struct {
		Lon, Lat *float64
		Village  string `json:"village"`
	} `json:"location"`
	Photos []struct {
		ID    string `json:"id"`
		Width int    `json:"width"`
	} `json:"photos"`
}

// storedReports is the oracle: what the store holds for the warning.
func storedReports(t *testing.T, srv server, alertID string) []fieldReport {
	t.Helper()
	code, b := srv.do("GET", "/api/v1/alerts/"+alertID+"/reports", "", nil)
	var out struct {
		Reports []fieldReport `json:"reports"`
	}
	if err := json.Unmarshal(b, &out); err != nil || code != 200 {
		t.Fatalf("reports: %d %s", code, b)
	}
	return out.Reports
}

// offline cuts (or restores) the tab's network as DevTools does: every
// request fails, and navigator.onLine follows (with its events).
func offline(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		var conds []*network.Conditions
		if on {
			conds = []*network.Conditions{{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}}
		}
		sw := on
		if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			EmulateOfflineServiceWorker: &sw, MatchedNetworkConditions: conds}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: on, DownloadThroughput: -1, UploadThroughput: -1})
		return err
	})
}

// TestFieldReportsEndToEnd drives the field page and the console in
// headless Chromium: a field team member logs in on /field/, reports
// casualties with a photo and the device's position (geolocation
// override); the officer's open warning page shows it live and on the map,
// acknowledges and replies, and the field page shows the reply. Then the
// network is cut: two reports wait in the page's queue, and when the
// network returns each arrives exactly once (the store is the oracle).
func TestFieldReportsEndToEnd(t *testing.T) {
	testsvc.ChromiumPath(t)
	srv := startServer(t)
	if code, b := srv.do("POST", "/api/v1/users", "application/json",
		strings.NewReader(`{"name":"tursun","role":"viewer","password":"correct horse battery"}`)); code != 201 {
		t.Fatalf("field user: %d %s", code, b)
	}
	ex, err := os.ReadFile("../dispatch/testdata/example_alert.json")
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(strings.Replace(string(ex), `"orange"`, `"yellow"`, 1), `["speaker","sms","websocket","voice"]`, `["websocket"]`, 1)
	code, b := srv.do("POST", "/api/v1/alerts", "application/json", strings.NewReader(body))
	var issued struct{ ID, State string }
	if err := json.Unmarshal(b, &issued); err != nil || code != 201 || issued.State != "issued" {
		t.Fatalf("issue: %d %s", code, b)
	}
	alertID := issued.ID

	officer, field := desktopBrowser(t, 120*time.Second)
	var uncaught jsErrors
	uncaught.watch(t, officer, "officer")
	uncaught.watch(t, field, "field")
	step := func(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		start := time.Now()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
			t.Fatalf("%s: %v\npage:\n%s", what, err, page)
		}
		t.Logf("%-52s %6.0f ms", what, float64(time.Since(start).Microseconds())/1000)
	}
	eval := func(ctx context.Context, js string) string { t.Helper(); return evalJS(t, ctx, js) }

	// The officer watches the warning.
	step(officer, "officer logs in", loginActions(srv.base, "olga")...)
	step(officer, "officer opens the warning", chromedp.Navigate(srv.base+"/#/alert/"+alertID),
		chromedp.WaitVisible(chromedp.CSS("#reports h2")), chromedp.WaitVisible(chromedp.CSS("#alert-map svg")))
	if v := eval(officer, `document.querySelectorAll("#report-list li").length + ""`); v != "0" {
		t.Fatalf("%s reports before any was sent", v)
	}

	// The field team: position from the (emulated) GPS, a photo from the camera.
	lat, lon, acc := 39.4012, 76.0345, 8.0
	step(field, "field page: geolocation granted and overridden", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: "geolocation"}, Setting: browser.PermissionSettingGranted, Origin: srv.base,
			BrowserContextID: chromedp.FromContext(ctx).BrowserContextID}); err != nil {
			return fmt.Errorf("grant geolocation: %w", err)
		}
		_, err := chromedp.Call(ctx, emulation.SetGeolocationOverride, emulation.SetGeolocationOverrideParams{Latitude: &lat, Longitude: &lon, Accuracy: &acc})
		return err
	}))
	step(field, "field member logs in on /field/", chromedp.Navigate(srv.base+"/field/"),
		chromedp.WaitVisible(chromedp.CSS("#login-name")),
		chromedp.SendKeys(chromedp.CSS("#login-name"), "tursun"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "correct horse battery"),
		chromedp.Click(chromedp.CSS(`#view button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#compose")),
		chromedp.WaitReady(chromedp.CSS(fmt.Sprintf(`#warning option[value=%q]`, alertID))))
	if v := eval(field, `document.getElementById("warning").value`); v != alertID {
		t.Fatalf("the only active warning is not preselected: %q", v)
	}
	step(field, "Uyghur, right to left", chromedp.Click(chromedp.CSS("#lang")),
		chromedp.Poll[chromedp.Void](`document.documentElement.dir === "rtl" && document.getElementById("send").textContent === "يوللاش"`),
		chromedp.Click(chromedp.CSS("#lang")),
		chromedp.Poll[chromedp.Void](`document.documentElement.dir === "ltr" && document.getElementById("send").textContent === "发送"`))
	step(field, "casualties, counts, text", chromedp.Click(chromedp.CSS(`[data-kind="casualties"]`)),
		chromedp.WaitVisible(chromedp.CSS("#count-injured")),
		chromedp.SendKeys(chromedp.CSS("#count-injured"), "2"),
		chromedp.SendKeys(chromedp.CSS("#count-trapped"), "1"),
		chromedp.SendKeys(chromedp.CSS("#text"), "村口两人受伤，一人被困"))
	step(field, "photo from the camera input", chromedp.SetUploadFiles(chromedp.CSS("#photo"), []string{exifJPEG(t)}),
		chromedp.WaitVisible(chromedp.CSS("#thumbs img")))
	step(field, "position from the device", chromedp.Click(chromedp.CSS("#use-gps")),
		chromedp.Poll[chromedp.Void](`document.getElementById("position").textContent.includes("39.40120")`))

	sent := time.Now()
	step(field, "send", chromedp.Click(chromedp.CSS("#send")))
	step(officer, "the open console shows the report, live", chromedp.WaitVisible(chromedp.CSS(`#report-list li[data-kind="casualties"]`)))
	t.Logf("report → console: %v (budget 1 s; measured by BenchmarkReportToConsole)", time.Since(sent).Round(time.Millisecond))
	if v := eval(officer, `document.getElementById("reports").dataset.live || "0"`); v == "0" {
		t.Fatal("the report was shown without a live event (only the slow poll)")
	}
	step(officer, "and on the map", chromedp.WaitVisible(chromedp.CSS(`#alert-map rect.report-mark.rk-casualties`)))
	if v := eval(officer, `document.querySelector("#report-list li .rep-counts").textContent`); !strings.Contains(v, "2") || !strings.Contains(v, "1") {
		t.Errorf("counts on the console: %q", v)
	}

	// The store has it once, where the device said, with the photo.
	reps := storedReports(t, srv, alertID)
	if len(reps) != 1 {
		t.Fatalf("%d reports stored, want 1", len(reps))
	}
	r := reps[0]
	if r.Reporter != "tursun" || r.Counts["injured"] != 2 || r.Location.Lat == nil || *r.Location.Lat != lat || *r.Location.Lon != lon || len(r.Photos) != 1 {
		t.Fatalf("stored report: %+v", r)
	}
	code, img := srv.do("GET", "/api/v1/reports/"+r.ID+"/photos/"+r.Photos[0].ID, "", nil)
	if code != 200 || bytes.Contains(img, []byte(photoSecret)) || bytes.Contains(img, []byte("Exif")) {
		t.Fatalf("photo: %d, %d bytes, metadata stripped: %v", code, len(img), !bytes.Contains(img, []byte(photoSecret)))
	}
	step(officer, "the photo's thumbnail loads", chromedp.Poll[chromedp.Void](
		`(() => { const i = document.querySelector("#report-list .rep-photos img"); return i && i.complete && i.naturalWidth > 0; })()`))

	// Acknowledge and reply; the field page shows the reply.
	step(officer, "acknowledge", chromedp.Click(chromedp.CSS("#report-list li .rep-ack")),
		chromedp.WaitVisible(chromedp.CSS(`#report-list li .rep-state[data-state="acknowledged"]`)))
	step(officer, "reply", chromedp.SendKeys(chromedp.CSS("#report-list li .rep-reply-text"), "救护车已出发，20分钟到"),
		chromedp.Click(chromedp.CSS("#report-list li .rep-reply-send")),
		chromedp.WaitVisible(chromedp.CSS("#report-list li .rep-reply")))
	step(field, "the field page shows the reply", chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#mine-list .reply-text")))
	if v := eval(field, `document.querySelector("#mine-list .reply-text").textContent`); v != "救护车已出发，20分钟到" {
		t.Fatalf("reply on the field page: %q", v)
	}

	// No signal: two reports wait on the phone.
	step(field, "network cut", offline(true), chromedp.WaitVisible(chromedp.CSS(".net.off")))
	step(field, "report 2 (all well, village picked) while offline", chromedp.Click(chromedp.CSS(`[data-kind="all_well"]`)),
		chromedp.SetValue(chromedp.CSS("#village"), "653122100001"),
		chromedp.Click(chromedp.CSS("#send")),
		chromedp.WaitVisible(chromedp.CSS(`#queue-list li`)))
	step(field, "report 3 (water level) while offline", chromedp.Click(chromedp.CSS(`[data-kind="water_level"]`)),
		chromedp.WaitVisible(chromedp.CSS("#count-level_cm")),
		chromedp.SendKeys(chromedp.CSS("#count-level_cm"), "135"),
		chromedp.Click(chromedp.CSS("#send")),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#queue-list li").length === 2`))
	if n := len(storedReports(t, srv, alertID)); n != 1 {
		t.Fatalf("%d reports stored while the phone was offline, want still 1", n)
	}
	step(field, "a reload without network keeps the queue", chromedp.Reload(),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#queue-list li").length === 2`))

	step(field, "network back: the queue empties", offline(false),
		chromedp.Poll[chromedp.Void](`!!document.getElementById("queue") && document.querySelectorAll("#queue-list li").length === 0 && document.body.dataset.ready === "1"`))
	step(officer, "the console shows all three", chromedp.Poll[chromedp.Void](`document.querySelectorAll("#report-list li").length === 3`))
	reps = storedReports(t, srv, alertID)
	kinds := map[string]int{}
	for _, r := range reps {
		kinds[r.Kind]++
	}
	if len(reps) != 3 || kinds["casualties"] != 1 || kinds["all_well"] != 1 || kinds["water_level"] != 1 {
		t.Fatalf("after the network returned: %v (%d reports), want each once", kinds, len(reps))
	}
	for _, r := range reps {
		if r.Kind == "all_well" && r.Location.Village != "653122100001" {
			t.Errorf("all_well report's village %q", r.Location.Village)
		}
		if r.Kind == "water_level" && r.Counts["level_cm"] != 135 {
			t.Errorf("water level %v", r.Counts)
		}
	}
	uncaught.check(t)
}
