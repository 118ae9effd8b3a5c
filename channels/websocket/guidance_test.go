package websocket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/warning"
	"github.com/chromedp/chromedp"
)

const vilB = "653122100002" // another village in 疏勒镇

// fakeGuidance is Config.Guidance over a table: alert id → village →
// guidance, as the engine would compute it.
type fakeGuidance struct {
	mu    sync.Mutex
	table map[string]map[string]VillageGuidance
	calls int
	err   error
}

func (f *fakeGuidance) lookup(_ context.Context, alertID string, _ int, v string) (VillageGuidance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return VillageGuidance{}, f.err
	}
	return f.table[alertID][v], nil
}

func shelterGuidance(v, id, name string, lat, lon float64, c warning.Compass, dist float64, capacity int, occ *int) VillageGuidance {
	return VillageGuidance{Guidance: &channels.Guidance{Action: "evacuate", Village: v, Compass: c, DistanceM: dist,
		From:    &channels.LatLon{Lat: 39.40, Lon: 76.05},
		Shelter: &channels.GuidanceShelter{ID: id, Name: name, NameUG: name + "-ug", At: channels.LatLon{Lat: lat, Lon: lon}, Capacity: capacity}},
		Occupancy: occ}
}

func getGuidance(t *testing.T, base, code string) (int, residentGuidance, string) {
	t.Helper()
	resp, err := http.Get(base + "/r/" + code + "/guidance")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out residentGuidance
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s: %v in %s", code, err, b)
		}
	}
	return resp.StatusCode, out, string(b)
}

func TestResidentGuidanceJSON(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	occ := 120
	fg := &fakeGuidance{table: map[string]map[string]VillageGuidance{}}
	n := newNode(t, r.Addr, func(c *Config) { c.Guidance = fg.lookup })

	// No warning: no guidance, but a well-formed answer.
	if code, g, body := getGuidance(t, n.srv.URL, village); code != 200 || len(g.Guidance) != 0 || g.Village != village {
		t.Fatalf("no warning: HTTP %d %s", code, body)
	}

	// An evacuate warning over the township: each village its own shelter.
	ev := msg("", 1, warning.KindAlert, 4, township)
	fg.mu.Lock()
	fg.table[ev.AlertID] = map[string]VillageGuidance{
		village: shelterGuidance(village, "S1", "疏勒镇第一中学", 39.41, 76.06, warning.NorthEast, 1234, 800, &occ),
		vilB:    shelterGuidance(vilB, "S2", "疏勒县体育馆", 39.38, 76.02, warning.SouthWest, 2950, 1500, nil),
	}
	fg.mu.Unlock()
	// One without action over the same township: no guidance from it.
	plain := msg("", 1, warning.KindAlert, 2, township)
	send(t, n.hub, ev)
	send(t, n.hub, plain)

	code, g, body := getGuidance(t, n.srv.URL, village)
	if code != 200 || len(g.Guidance) != 1 {
		t.Fatalf("village A: HTTP %d %s", code, body)
	}
	a := g.Guidance[0]
	if a.AlertID != ev.AlertID || a.Version != 1 || a.Action != "evacuate" || a.Shelter == nil {
		t.Fatalf("village A guidance %+v", a)
	}
	if want := "请前往东北方向1.2公里的疏勒镇第一中学避难场所"; a.Text["zh"] != want {
		t.Errorf("zh text %q, want the SMS wording %q", a.Text["zh"], want)
	}
	if !strings.Contains(a.Text["ug"], "1.2") || !strings.Contains(a.Text["ug"], "شەرقىي شىمال") || !strings.Contains(a.Text["ug"], "疏勒镇第一中学-ug") {
		t.Errorf("ug text %q lacks distance, direction or the Uyghur name", a.Text["ug"])
	}
	if a.Compass != "NE" || a.Direction["zh"] != "东北" || a.DistanceKM != "1.2" || a.DistanceM != 1234 {
		t.Errorf("direction/distance %q %v %q %v", a.Compass, a.Direction, a.DistanceKM, a.DistanceM)
	}
	if a.From == nil || a.Shelter.At != (channels.LatLon{Lat: 39.41, Lon: 76.06}) || a.Shelter.Capacity != 800 ||
		a.Shelter.Occupancy == nil || *a.Shelter.Occupancy != 120 {
		t.Errorf("map points or occupancy wrong: from %v shelter %+v", a.From, a.Shelter)
	}
	if strings.Contains(body, "S2") || strings.Contains(body, "体育馆") || strings.Contains(body, vilB) {
		t.Errorf("village A's answer mentions village B's shelter: %s", body)
	}

	code, g, body = getGuidance(t, n.srv.URL, vilB)
	if code != 200 || len(g.Guidance) != 1 || g.Guidance[0].Shelter == nil ||
		g.Guidance[0].Shelter.Name["zh"] != "疏勒县体育馆避难场所" || g.Guidance[0].Shelter.Occupancy != nil || g.Guidance[0].Compass != "SW" {
		t.Fatalf("village B: HTTP %d %s", code, body)
	}
	if strings.Contains(body, "第一中学") {
		t.Errorf("village B's answer mentions village A's shelter: %s", body)
	}

	// A village of another township is not under the warning.
	if code, g, body := getGuidance(t, n.srv.URL, otherVil); code != 200 || len(g.Guidance) != 0 {
		t.Errorf("village outside the area: HTTP %d %s", code, body)
	}

	// Lifted: the guidance goes with it.
	send(t, n.hub, msg(ev.AlertID, 2, warning.KindAllClear, 4, township))
	if code, g, body := getGuidance(t, n.srv.URL, village); code != 200 || len(g.Guidance) != 0 {
		t.Errorf("after all-clear: HTTP %d %s", code, body)
	}

	// Unknown village, a township, nonsense: 404 naming the problem.
	for _, c := range []string{"653122999999", township, "12345"} {
		code, _, body := getGuidance(t, n.srv.URL, c)
		if code != 404 {
			t.Errorf("%s: HTTP %d, want 404", c, code)
		}
		if c != "12345" && !strings.Contains(body, "village") {
			t.Errorf("%s: 404 body does not say what is wrong: %s", c, body)
		}
	}
}

func TestResidentGuidanceCachedAndFailing(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	fg := &fakeGuidance{table: map[string]map[string]VillageGuidance{}}
	n := newNode(t, r.Addr, func(c *Config) { c.Guidance = fg.lookup })
	ev := msg("", 1, warning.KindAlert, 3, village)
	fg.table[ev.AlertID] = map[string]VillageGuidance{village: {Guidance: &channels.Guidance{Action: "evacuate", Away: true, Compass: warning.West,
		From: &channels.LatLon{Lat: 39.4, Lon: 76.0}}}}
	send(t, n.hub, ev)

	// Many pages asking at once cost one lookup.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, g, body := getGuidance(t, n.srv.URL, village); code != 200 || len(g.Guidance) != 1 {
				t.Errorf("HTTP %d %s", code, body)
			}
		}()
	}
	wg.Wait()
	fg.mu.Lock()
	calls := fg.calls
	fg.mu.Unlock()
	if calls != 1 {
		t.Errorf("%d lookups for 20 pages of one village, want 1", calls)
	}
	_, g, _ := getGuidance(t, n.srv.URL, village)
	if a := g.Guidance[0]; !a.Away || a.Compass != "W" || a.Text["zh"] != "请向西方向撤离，远离危险区域" || a.Shelter != nil {
		t.Errorf("away guidance %+v", a)
	}

	// A new version is a new answer; a failing lookup is a 503, not an
	// empty (and wrong) "no guidance".
	fg.mu.Lock()
	fg.err = errors.New("database down")
	fg.mu.Unlock()
	send(t, n.hub, msg(ev.AlertID, 2, warning.KindUpdate, 3, village))
	if code, _, body := getGuidance(t, n.srv.URL, village); code != http.StatusServiceUnavailable {
		t.Errorf("failing lookup: HTTP %d %s, want 503", code, body)
	}
	// The pages behind it get their 503 without a lookup each.
	fg.mu.Lock()
	calls = fg.calls
	fg.mu.Unlock()
	if code, _, body := getGuidance(t, n.srv.URL, village); code != http.StatusServiceUnavailable {
		t.Errorf("failing lookup, again: HTTP %d %s, want 503", code, body)
	}
	fg.mu.Lock()
	again := fg.calls
	fg.mu.Unlock()
	if again != calls {
		t.Errorf("a failed lookup was retried at once for the next page (%d lookups, was %d)", again, calls)
	}
}

func TestResidentPageDrawsGuidanceInChromium(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	occ := 800
	fg := &fakeGuidance{table: map[string]map[string]VillageGuidance{}}
	n := newNode(t, r.Addr, func(c *Config) { c.Guidance = fg.lookup })
	ctx := testsvc.Chromium(t, 60*time.Second)

	if err := chromedp.Do(ctx, chromedp.Navigate(n.srv.URL+"/r/"+village+"?lang=zh")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "page subscribed", func() bool { return n.hub.Subscribers() == 1 })
	ev := msg("", 1, warning.KindAlert, 4, township)
	plain := msg("", 1, warning.KindAlert, 2, township)
	fg.mu.Lock()
	fg.table[ev.AlertID] = map[string]VillageGuidance{
		village: shelterGuidance(village, "S1", "疏勒镇第一中学", 39.41, 76.06, warning.NorthEast, 1234, 800, &occ),
		vilB:    shelterGuidance(vilB, "S2", "疏勒县体育馆", 39.38, 76.02, warning.SouthWest, 2950, 1500, nil),
	}
	fg.mu.Unlock()
	send(t, n.hub, plain)
	send(t, n.hub, ev)

	card := fmt.Sprintf(`document.querySelector('article[data-alert=%q]')`, ev.AlertID)
	waitJS(t, ctx, "guidance map drawn", card+` !== null && `+card+`.querySelector("svg.gmap") !== null`)
	check := func(what, expr string) {
		t.Helper()
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr)); err != nil || !ok {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](card+`.outerHTML`))
			t.Errorf("%s: %s is not true (%v)\ncard: %.3000s", what, expr, err, html)
		}
	}
	m := card + `.querySelector("svg.gmap")`
	check("village point", m+`.querySelectorAll("circle.village").length === 1`)
	check("shelter point", m+`.querySelectorAll("circle.shelter").length === 1`)
	check("line between them", m+`.querySelector("line.route") !== null`)
	// The line runs from the village to the shelter, north-east: right
	// and up on a north-up map.
	check("line from the village to the shelter", `(function(s){var v=s.querySelector("circle.village"),h=s.querySelector("circle.shelter"),l=s.querySelector("line.route");`+
		`return +l.getAttribute("x1")===+v.getAttribute("cx")&&+l.getAttribute("y1")===+v.getAttribute("cy")&&+h.getAttribute("cx")>+v.getAttribute("cx")&&+h.getAttribute("cy")<+v.getAttribute("cy")})(`+m+`)`)
	check("direction and distance label", m+`.querySelector("text.dist").textContent === "东北 1.2 公里"`)
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](card+`.querySelector(".guide .gtext").textContent`))
	if want := "请前往东北方向1.2公里的疏勒镇第一中学避难场所"; text != want {
		t.Errorf("guidance text %q, want the SMS's %q", text, want)
	}
	occText, _ := chromedp.Run(ctx, chromedp.Evaluate[string](card+`.querySelector(".guide .occ").textContent`))
	if !strings.Contains(occText, "800") || !strings.Contains(occText, "已满") {
		t.Errorf("occupancy line %q, want 800 of 800, full", occText)
	}
	// The warning without an action, shown on the same page, has no
	// guidance (the guidance above came with the same answer).
	check("no guidance on the warning without action", fmt.Sprintf(`document.querySelector('article[data-alert=%q] .guide') === null`, plain.AlertID))
	if page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.textContent`)); strings.Contains(page, "体育馆") {
		t.Error("page shows village B's shelter")
	}

	// Uyghur, evacuating away from a zone: the direction, no shelter.
	away := msg("", 1, warning.KindAlert, 4, village)
	fg.mu.Lock()
	fg.table[away.AlertID] = map[string]VillageGuidance{village: {Guidance: &channels.Guidance{Action: "evacuate", Away: true,
		Compass: warning.West, From: &channels.LatLon{Lat: 39.4, Lon: 76.0}}}}
	fg.mu.Unlock()
	if err := chromedp.Do(ctx, chromedp.Navigate(n.srv.URL+"/r/"+village+"?lang=ug")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "page subscribed again", func() bool { return n.hub.Subscribers() == 1 })
	send(t, n.hub, away)
	card = fmt.Sprintf(`document.querySelector('article[data-alert=%q]')`, away.AlertID)
	waitJS(t, ctx, "away-from map drawn", card+` !== null && `+card+`.querySelector("svg.gmap") !== null`)
	m = card + `.querySelector("svg.gmap")`
	check("village point, no shelter", m+`.querySelectorAll("circle.village").length === 1 && `+m+`.querySelector("circle.shelter") === null`)
	check("arrow pointing west", `(function(l){return +l.getAttribute("x2") < +l.getAttribute("x1")})(`+m+`.querySelector("line.route"))`)
	text, _ = chromedp.Run(ctx, chromedp.Evaluate[string](card+`.querySelector(".guide .gtext").textContent`))
	if want := "غەرب تەرەپكە قاراپ خەتەرلىك رايوندىن يىراقلىشىڭ"; text != want {
		t.Errorf("Uyghur away guidance %q, want %q", text, want)
	}
	_ = chromedp.Do(ctx, chromedp.Navigate("about:blank"))
}

// FuzzResidentGuidancePath: whatever follows /r/ and precedes /guidance,
// the page answers 200 with that village's JSON only for a known 12-digit
// village, 404 otherwise, and never fails.
func FuzzResidentGuidancePath(f *testing.F) {
	for _, s := range []string{village, vilB, township, "653122999999", "", "x", "../" + village, village + "/", "６５３１２２１００００１", "653122100001/guidance"} {
		f.Add(s)
	}
	r := testsvc.Redis(f)
	fg := &fakeGuidance{table: map[string]map[string]VillageGuidance{}}
	n := newNode(f, r.Addr, func(c *Config) { c.Guidance = fg.lookup })
	page := n.hub.PageHandler()
	f.Fuzz(func(t *testing.T, code string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.Path = "/r/" + code + "/guidance"
		rec := httptest.NewRecorder()
		page.ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			var g residentGuidance
			if err := json.Unmarshal(rec.Body.Bytes(), &g); err != nil || g.Village != code || len(code) != 12 || !tree.Scopes().Known(code) {
				t.Fatalf("%q: 200 with %s (%v)", code, rec.Body.String(), err)
			}
		case 404:
			if len(code) == 12 && tree.Scopes().Known(code) && !strings.Contains(code, "/") {
				t.Fatalf("%q: known village refused: %s", code, rec.Body.String())
			}
		default:
			t.Fatalf("%q: HTTP %d %s", code, rec.Code, rec.Body.String())
		}
	})
}

// BenchmarkResidentGuidance: one village's pages asking for their
// guidance at once when an evacuate arrives (answers from the cache after
// the first).
func BenchmarkResidentGuidance(b *testing.B) {
	r := testsvc.Redis(b)
	occ := 10
	fg := &fakeGuidance{table: map[string]map[string]VillageGuidance{}}
	n := newNode(b, r.Addr, func(c *Config) { c.Guidance = fg.lookup })
	ev := msg("", 1, warning.KindAlert, 4, township)
	fg.table[ev.AlertID] = map[string]VillageGuidance{village: shelterGuidance(village, "S1", "疏勒镇第一中学", 39.41, 76.06, warning.NorthEast, 1234, 800, &occ)}
	if _, err := n.hub.Send(context.Background(), ev, nil); err != nil {
		b.Fatal(err)
	}
	page := n.hub.PageHandler()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "/r/"+village+"/guidance", nil)
			rec := httptest.NewRecorder()
			page.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("HTTP %d", rec.Code)
			}
		}
	})
}
