package console_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/agent"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// fleetIDs asks the API for every loudspeaker matching query (all pages);
// with firmware set, only those that reported it.
func fleetIDs(t *testing.T, srv server, query url.Values) []string {
	t.Helper()
	fw := query.Get("firmware")
	query.Del("firmware")
	var out []string
	query.Set("limit", "1000")
	for {
		code, b := srv.do("GET", "/api/v1/speakers?"+query.Encode(), "", nil)
		var ans struct {
			Items []struct {
				ID       string `json:"id"`
				Firmware string `json:"firmware"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(b, &ans); err != nil || code != 200 {
			t.Fatalf("speakers %v: %d %s", query, code, b)
		}
		for _, it := range ans.Items {
			if fw == "" || it.Firmware == fw {
				out = append(out, it.ID)
			}
		}
		if ans.NextCursor == "" {
			return out
		}
		query.Set("cursor", ans.NextCursor)
	}
}

// waitFleet waits until the fleet API lists exactly want for query: the
// hub writes a device's status within a second of its heartbeat or
// disconnect.
func waitFleet(t *testing.T, srv server, query url.Values, want []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := fleetIDs(t, srv, url.Values{"status": query["status"], "region": query["region"], "firmware": query["firmware"]})
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v: the API lists %v, want %v", query, got, want)
		}
		time.Sleep(100 * time.Millisecond) // polling an outside process's state, not synchronising our own
	}
}

// TestFleetAndAuditPages: of one township's loudspeakers some connect and
// go away again (offline) and the rest never connect; the fleet page
// filtered to that township's offline speakers shows exactly the ones that
// went away (the oracle: the registry's speakers of that township that this
// test connected), with their firmware and last heartbeat. An admin revokes
// one from its row; the audit page lists newest first, in Chinese, and
// filtered to revocations shows exactly that one.
func TestFleetAndAuditPages(t *testing.T) {
	testsvc.ChromiumPath(t)
	srv := startServer(t)
	ctx := context.Background()

	// The registry (the store), by township; the simulated townships of
	// startServer are online and left out.
	code, b := srv.do("GET", "/api/v1/speakers", "", nil)
	var reg struct {
		Speakers []struct{ ID, Village string } `json:"speakers"`
	}
	if err := json.Unmarshal(b, &reg); err != nil || code != 200 {
		t.Fatalf("registry: %d %s", code, b)
	}
	byTown := map[string][]string{}
	for _, s := range reg.Speakers {
		byTown[s.Village[:9]] = append(byTown[s.Village[:9]], s.ID)
	}
	town := ""
	for tw, ids := range byTown {
		if tw != "653122100" && tw != "653122201" && len(ids) >= 4 && (town == "" || tw < town) {
			town = tw
		}
	}
	if town == "" {
		t.Fatalf("no township with 4 loudspeakers outside the simulated ones: %v", byTown)
	}
	ids := byTown[town]
	slices.Sort(ids)
	gone, never := ids[:len(ids)/2+1], ids[len(ids)/2+1:]

	// Those that will go offline connect once, with a firmware to show.
	var devs []agent.SimDevice
	for _, id := range gone {
		code, b := srv.do("POST", "/api/v1/speakers/"+id+"/enroll", "", nil)
		var cred struct {
			Credential string `json:"credential"`
		}
		if err := json.Unmarshal(b, &cred); err != nil || code != 200 {
			t.Fatalf("enroll %s: %d %s", id, code, b)
		}
		devs = append(devs, agent.SimDevice{ID: id, Credential: cred.Credential})
	}
	key, err := speaker.LoadOrCreateKey(filepath.Join(srv.dataDir, "speaker-ed25519.key"))
	if err != nil {
		t.Fatal(err)
	}
	simCtx, stopSim := context.WithCancel(ctx)
	simDone := make(chan struct{})
	go func() {
		defer close(simDone)
		_ = agent.Simulate(simCtx, agent.SimConfig{URL: srv.base, PublicKey: key.Public().(ed25519.PublicKey), Devices: devs,
			Firmware: "fw-e2e-2.1", Heartbeat: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	}()
	// Online with the firmware of a first heartbeat.
	waitFleet(t, srv, url.Values{"status": {"online"}, "region": {town}, "firmware": {"fw-e2e-2.1"}}, gone)
	stopSim()
	<-simDone
	waitFleet(t, srv, url.Values{"status": {"offline"}, "region": {town}}, gone)
	if got := fleetIDs(t, srv, url.Values{"status": {"never"}, "region": {town}}); !slices.Equal(got, never) {
		t.Fatalf("never connected in %s: %v, want %v", town, got, never)
	}

	admin, _ := desktopBrowser(t, 90*time.Second)
	var uncaught jsErrors
	uncaught.watch(t, admin, "admin")
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(admin, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			body, _ := chromedp.Run(admin, chromedp.Evaluate[string](`document.getElementById("view") ? document.getElementById("view").innerText.slice(0, 2000) : ""`))
			t.Fatalf("%s: %v\npage:\n%s", what, err, body)
		}
	}
	eval := func(js string) string { t.Helper(); return evalJS(t, admin, js) }
	setSelect := func(sel, v string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q;
			e.dispatchEvent(new Event("change", {bubbles: true})); })()`, sel, v))
	}
	rows := func(table, attr string) []string {
		t.Helper()
		v := eval(fmt.Sprintf(`[...document.querySelectorAll("%s tbody tr[%s]")].map((r) => r.getAttribute(%q)).join(",")`, table, attr, attr))
		if v == "" {
			return nil
		}
		return strings.Split(v, ",")
	}
	// waitRows waits until the table's rows are exactly want.
	waitRows := func(what, table, attr string, want []string) {
		t.Helper()
		js := fmt.Sprintf(`[...document.querySelectorAll("%s tbody tr[%s]")].map((r) => r.getAttribute(%q)).join(",") === %q`,
			table, attr, attr, strings.Join(want, ","))
		sctx, cancel := context.WithTimeout(admin, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			t.Fatalf("%s: rows %v, want %v (%v)", what, rows(table, attr), want, err)
		}
	}

	step("admin logs in with a token",
		chromedp.Navigate(srv.base+"/#/login"),
		chromedp.WaitVisible(chromedp.CSS("#login-toggle")),
		chromedp.Click(chromedp.CSS("#login-toggle")),
		chromedp.SendKeys(chromedp.CSS("#login-token"), adminToken),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#nav-fleet")))
	step("fleet page from the admin page's link",
		chromedp.Evaluate[chromedp.Void](`location.hash = "#/admin"`),
		chromedp.WaitVisible(chromedp.CSS("#admin-fleet")),
		chromedp.Click(chromedp.CSS("#admin-fleet")),
		chromedp.WaitVisible(chromedp.CSS("#fleet-table tbody tr[data-id]")),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#fleet-counts tr[data-township=%q]`, town))))
	if c := eval(fmt.Sprintf(`document.querySelector('#fleet-counts tr[data-township=%q]').innerText`, town)); !strings.Contains(c, fmt.Sprint(len(ids))) {
		t.Errorf("counts row of %s %q lacks its %d registered loudspeakers", town, c, len(ids))
	}

	step("filter: one township, offline", setSelect("#fleet-region", town), setSelect("#fleet-status", "offline"))
	waitRows("offline speakers of "+town, "#fleet-table", "data-id", gone)
	for _, id := range gone {
		row := eval(fmt.Sprintf(`document.querySelector('#fleet-table tr[data-id=%q]').innerText`, id))
		if !strings.Contains(row, "fw-e2e-2.1") || !strings.Contains(row, time.Now().UTC().Add(8*time.Hour).Format("2006-01-02")) {
			t.Errorf("row %s lacks firmware or a last heartbeat in Beijing time: %q", id, row)
		}
	}
	if h := eval(`location.hash`); !strings.Contains(h, "status=offline") || !strings.Contains(h, "region="+town) {
		t.Errorf("the address does not name the filter: %s", h)
	}
	if href := eval(`document.querySelector("#fleet-csv").getAttribute("href")`); !strings.Contains(href, "format=csv") || !strings.Contains(href, "status=offline") {
		t.Errorf("CSV link %q does not export the filtered list", href)
	}

	step("never connected", setSelect("#fleet-status", "never"))
	waitRows("never-connected speakers of "+town, "#fleet-table", "data-id", never)

	// Search narrows to one device by part of its id.
	step("search by id", setSelect("#fleet-status", ""),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector("#fleet-q"); e.value = %q;
			e.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", bubbles: true})); })()`, strings.ToLower(gone[0]))))
	waitRows("search "+gone[0], "#fleet-table", "data-id", []string{gone[0]})

	victim := gone[0]
	step("revoke from the row (two clicks)",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#fleet-table button[data-revoke=%q]`, victim))),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#fleet-table button[data-revoke=%q]`, victim))),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#fleet-table tr[data-id=%q][data-status="revoked"]`, victim))))

	// Audit: newest first, headers in Chinese (the default), filtered.
	step("audit page", chromedp.Evaluate[chromedp.Void](`location.hash = "#/audit"`),
		chromedp.WaitVisible(chromedp.CSS("#audit-table tbody tr[data-seq]")),
		chromedp.WaitVisible(chromedp.CSS(`#audit-chain.ok`)))
	seqs := rows("#audit-table", "data-seq")
	if len(seqs) < 20 {
		t.Fatalf("audit page shows %d entries", len(seqs))
	}
	for i := 1; i < len(seqs); i++ {
		var a, b int
		fmt.Sscan(seqs[i-1], &a)
		fmt.Sscan(seqs[i], &b)
		if a <= b {
			t.Fatalf("audit not newest first: #%d before #%d", a, b)
		}
	}
	if th := eval(`[...document.querySelectorAll("#audit-table th")].map((x) => x.textContent).join("|")`); !strings.Contains(th, "操作人") || !strings.Contains(th, "时间") {
		t.Errorf("audit headers not in Chinese: %s", th)
	}
	step("filter to revocations", setSelect("#audit-action", "speaker.revoke"))
	sctx, cancel := context.WithTimeout(admin, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#audit-table tbody tr[data-seq]")].every((r) => r.dataset.action === "speaker.revoke")`,
		chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatal(err)
	}
	got := eval(`[...document.querySelectorAll("#audit-table tbody tr[data-seq]")].map((r) => r.innerText).join("\n")`)
	if n := len(rows("#audit-table", "data-seq")); n != 1 || !strings.Contains(got, victim) {
		t.Errorf("revocations on the audit page: %d rows\n%s\nwant one, of %s", n, got, victim)
	}
	uncaught.check(t)
}
