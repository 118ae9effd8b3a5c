package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/lifecycle"
	"github.com/alertcast/alertcast/dispatch/storetest"
	"github.com/alertcast/alertcast/targeting"
)

// fleetEnv is an API over a store holding a synthetic fleet in the
// embedded county, with a fake hub whose live state the test chose.
type fleetEnv struct {
	t     *testing.T
	srv   *httptest.Server
	api   *API
	store *dispatch.Store
	tree  *targeting.Tree
	token string
	recs  []dispatch.SpeakerRecord
	live  map[string]SpeakerLive
	calls atomic.Int32 // SpeakersLive calls
}

func newFleetEnv(t *testing.T, s *dispatch.Store, n int) *fleetEnv {
	t.Helper()
	ctx := context.Background()
	tree := targeting.DefaultTree()
	var villages []targeting.Region
	for _, tw := range tree.Townships()[:4] {
		villages = append(villages, tree.Children(tw.Code)...)
	}
	rng := rand.New(rand.NewPCG(19, 21))
	e := &fleetEnv{t: t, store: s, tree: tree, live: map[string]SpeakerLive{}}
	var sp []targeting.Speaker
	seen := time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)
	for i := range n {
		v := villages[rng.IntN(len(villages))]
		id := fmt.Sprintf("SL-%s-%04d", v.Code[6:9], i)
		sp = append(sp, targeting.Speaker{ID: id, Village: v.Code, Zone: "north"})
		switch rng.IntN(6) {
		case 0, 1:
			e.live[id] = SpeakerLive{Seen: true, Online: true, State: "normal", Firmware: "1.4.2", LastSeen: seen}
		case 2:
			e.live[id] = SpeakerLive{Seen: true, State: "normal", Firmware: "1.3.0", LastSeen: seen.Add(-time.Hour), Held: rng.IntN(2) == 0}
		case 3:
			e.live[id] = SpeakerLive{Seen: true, Online: rng.IntN(2) == 0, State: "fault", Firmware: "=cmd|' /C calc'!A0", LastSeen: seen}
		case 4:
			e.live[id] = SpeakerLive{Held: true, State: "unknown"} // never connected, a command waits
		}
	}
	if err := s.UpsertSpeakers(ctx, sp); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 37 {
		if err := s.SetSpeakerCredential(ctx, sp[i].ID, "", true, dispatch.Actor{Name: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ForEachSpeaker(ctx, func(r dispatch.SpeakerRecord) error { e.recs = append(e.recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	pop, err := dispatch.NewPopulationIndex(ctx, s, tree)
	if err != nil {
		t.Fatal(err)
	}
	e.api = &API{Store: s, Service: &lifecycle.Service{Store: s, Population: pop}}
	e.api.SpeakersLive = func(ctx context.Context, ids []string) (map[string]SpeakerLive, error) {
		e.calls.Add(1)
		out := map[string]SpeakerLive{}
		for _, id := range ids {
			if l, ok := e.live[id]; ok {
				out[id] = l
			}
		}
		return out, nil
	}
	mux := http.NewServeMux()
	e.api.Routes(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	if e.token, err = s.CreateUser(ctx, "viewer", dispatch.RoleViewer, "", dispatch.Actor{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *fleetEnv) get(path string) (int, []byte, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// oracle is the status the test's fixture says a device has.
func (e *fleetEnv) oracle(r dispatch.SpeakerRecord) (status string, faulty, held bool) {
	l, ok := e.live[r.ID]
	switch {
	case r.Revoked:
		status = "revoked"
	case ok && l.Online:
		status = "online"
	case ok && l.Seen:
		status = "offline"
	default:
		status = "never"
	}
	return status, l.State == "fault", l.Held
}

func (e *fleetEnv) want(status, region, q string) []string {
	var out []string
	for _, r := range e.recs {
		st, faulty, held := e.oracle(r)
		switch status {
		case "":
		case "faulty":
			if !faulty || r.Revoked {
				continue
			}
		case "held":
			if !held {
				continue
			}
		default:
			if st != status {
				continue
			}
		}
		if region != "" && !strings.HasPrefix(r.Village, region) {
			continue
		}
		if q != "" {
			v, _ := e.tree.Region(r.Village)
			if !strings.Contains(strings.ToLower(r.ID), strings.ToLower(q)) && !strings.Contains(v.Name, q) {
				continue
			}
		}
		out = append(out, r.ID)
	}
	return out
}

// pages follows next_cursor from the first page and returns every item.
func (e *fleetEnv) pages(query url.Values) ([]FleetItem, *fleetCounts) {
	e.t.Helper()
	var all []FleetItem
	var counts *fleetCounts
	for n := 0; ; n++ {
		if n > 2000 {
			e.t.Fatalf("%v: paging does not end", query)
		}
		code, body, _ := e.get("/api/v1/speakers?" + query.Encode())
		if code != 200 {
			e.t.Fatalf("%v: %d %s", query, code, body)
		}
		var ans fleetAnswer
		if err := json.Unmarshal(body, &ans); err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			counts = ans.Counts
		} else if ans.Counts != nil {
			e.t.Fatalf("%v: counts on page %d (they come with the first page only)", query, n+1)
		}
		all = append(all, ans.Items...)
		if ans.NextCursor == "" {
			return all, counts
		}
		if len(ans.Items) == 0 {
			e.t.Fatalf("%v: an empty page with a next_cursor", query)
		}
		query.Set("cursor", ans.NextCursor)
	}
}

func ids(items []FleetItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// TestFleetFiltersMatchOracle pages through the fleet with every status,
// region (township and village) and search, and checks what came back
// against the fixture: exactly the speakers that match, each once, in id
// order, with the status the hub gave it.
func TestFleetFiltersMatchOracle(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, s *dispatch.Store) {
		e := newFleetEnv(t, s, 500)
		town := e.recs[5].Village[:9]
		village := e.recs[5].Village
		v, _ := e.tree.Region(village)
		name := string([]rune(v.Name)[:2]) // part of a village name
		cases := []struct{ status, region, q string }{
			{}, {status: "offline"}, {status: "online"}, {status: "never"}, {status: "faulty"}, {status: "held"}, {status: "revoked"},
			{status: "offline", region: town}, {region: village}, {region: "653122"},
			{q: "sl-" + town[6:9]}, {q: name}, {q: name, status: "online", region: town}, {q: "no such speaker"},
		}
		for _, c := range cases {
			for _, limit := range []string{"13", "100"} {
				q := url.Values{"limit": {limit}}
				for k, v := range map[string]string{"status": c.status, "region": c.region, "q": c.q} {
					if v != "" {
						q.Set(k, v)
					}
				}
				items, counts := e.pages(q)
				want := e.want(c.status, c.region, c.q)
				if got := ids(items); !slices.Equal(got, want) {
					t.Fatalf("%+v limit %s: got %d speakers, want %d\ngot  %v\nwant %v", c, limit, len(got), len(want), head(got), head(want))
				}
				if counts == nil {
					t.Fatalf("%+v: no counts on the first page", c)
				}
				for _, it := range items {
					r := e.recs[slices.IndexFunc(e.recs, func(r dispatch.SpeakerRecord) bool { return r.ID == it.ID })]
					st, faulty, held := e.oracle(r)
					if it.Status != st || it.Faulty != faulty || it.Held != held || it.Township != r.Village[:9] || it.VillageName == "" || it.TownshipName == "" {
						t.Fatalf("%s: %+v, want status %s faulty %v held %v", it.ID, it, st, faulty, held)
					}
					if l := e.live[it.ID]; l.Seen != (it.LastHeartbeat != nil) || (l.Seen && (!it.LastHeartbeat.Equal(l.LastSeen) || it.Firmware != l.Firmware)) {
						t.Fatalf("%s: heartbeat %v firmware %q, hub says %+v", it.ID, it.LastHeartbeat, it.Firmware, l)
					}
				}
			}
		}
	})
}

func head(s []string) []string { return s[:min(len(s), 5)] }

// TestFleetCounts: the first page counts the whole fleet per township,
// whatever the filter, and the counts add up to the oracle's.
func TestFleetCounts(t *testing.T) {
	e := newFleetEnv(t, storetest.SQLite(t), 700)
	_, counts := e.pages(url.Values{"status": {"online"}, "limit": {"1000"}})
	want := map[string]*FleetCount{}
	var total FleetCount
	for _, r := range e.recs {
		st, faulty, held := e.oracle(r)
		c := want[r.Village[:9]]
		if c == nil {
			tw, _ := e.tree.Region(r.Village[:9])
			c = &FleetCount{Code: r.Village[:9], Name: tw.Name}
			want[r.Village[:9]] = c
		}
		for _, c := range []*FleetCount{c, &total} {
			switch st {
			case "revoked":
				c.Revoked++
				continue
			case "online":
				c.Online++
			case "offline":
				c.Offline++
			case "never":
				c.Never++
			}
			c.Registered++
			if faulty {
				c.Faulty++
			}
			if held {
				c.Held++
			}
		}
	}
	if counts.Total != total {
		t.Errorf("total %+v, want %+v", counts.Total, total)
	}
	if len(counts.Townships) != len(want) {
		t.Fatalf("%d townships counted, want %d", len(counts.Townships), len(want))
	}
	for i, c := range counts.Townships {
		if i > 0 && counts.Townships[i-1].Code >= c.Code {
			t.Errorf("townships not in code order: %s after %s", c.Code, counts.Townships[i-1].Code)
		}
		if *want[c.Code] != c {
			t.Errorf("township %s: %+v, want %+v", c.Code, c, *want[c.Code])
		}
	}
}

// TestFleetCSV: the export holds every page of the filtered list, cells a
// spreadsheet would run as formulas are defused, and Beijing time is used.
func TestFleetCSV(t *testing.T) {
	e := newFleetEnv(t, storetest.SQLite(t), 2500)
	code, body, h := e.get("/api/v1/speakers?status=faulty&format=csv&limit=3")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || !strings.Contains(h.Get("Content-Disposition"), "attachment") {
		t.Fatalf("%d %v", code, h)
	}
	body, ok := bytes.CutPrefix(body, []byte("\ufeff"))
	if !ok {
		t.Error("no byte-order mark: spreadsheets would garble the Chinese names")
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if rows[0][0] != "id" || rows[0][10] != "last_heartbeat" {
		t.Fatalf("header %v", rows[0])
	}
	var got []string
	for _, r := range rows[1:] {
		got = append(got, r[0])
		if r[11] != "'=cmd|' /C calc'!A0" {
			t.Fatalf("firmware cell %q: a formula reaches the spreadsheet", r[11])
		}
		if !strings.HasSuffix(r[10], "+08:00") {
			t.Fatalf("last heartbeat %q not in Beijing time", r[10])
		}
	}
	if want := e.want("faulty", "", ""); !slices.Equal(got, want) || len(want) < 100 {
		t.Fatalf("CSV has %d rows, want %d (all pages, not the limit)", len(got), len(want))
	}
}

// TestFleetBadParameters: each bad parameter gets a 400 that names it.
func TestFleetBadParameters(t *testing.T) {
	e := newFleetEnv(t, storetest.SQLite(t), 10)
	for q, field := range map[string]string{
		"status=broken":                "status",
		"status=":                      "", // empty is no filter
		"region=12345":                 "region",
		"region=653122999":             "region",
		"limit=0":                      "limit",
		"limit=1001":                   "limit",
		"limit=ten":                    "limit",
		"cursor=%%%":                   "", // not even a query string: Go drops it, so it is a plain list
		"cursor=***":                   "cursor",
		"format=xlsx":                  "format",
		"offset=100":                   "offset",
		"status=online&status=x":       "status",
		"q=" + strings.Repeat("x", 65): "q",
	} {
		code, body, _ := e.get("/api/v1/speakers?" + q)
		if field == "" {
			continue
		}
		var ans map[string]APIError
		_ = json.Unmarshal(body, &ans)
		if code != 400 || !strings.HasPrefix(ans["error"].Message, field) || len(ans["error"].Problems) != 1 || ans["error"].Problems[0].Field != field {
			t.Errorf("?%s: %d %s (want 400 naming %s)", q, code, body, field)
		}
	}
}

// TestFleetWithoutHub: a node without the loudspeaker hub says it does not
// know live state instead of calling every device "never", and refuses
// status filters it cannot answer.
func TestFleetWithoutHub(t *testing.T) {
	e := newFleetEnv(t, storetest.SQLite(t), 50)
	e.api.SpeakersLive = nil
	_, body, _ := e.get("/api/v1/speakers?limit=1000")
	var ans fleetAnswer
	_ = json.Unmarshal(body, &ans)
	if ans.Live || len(ans.Items) != 50 {
		t.Fatalf("live %v, %d items", ans.Live, len(ans.Items))
	}
	for _, it := range ans.Items {
		if it.Status != "unknown" && it.Status != "revoked" {
			t.Fatalf("%s: status %q without a hub", it.ID, it.Status)
		}
	}
	if code, body, _ := e.get("/api/v1/speakers?status=offline"); code != 503 || !strings.Contains(string(body), "hub") {
		t.Errorf("status filter without a hub: %d %s", code, body)
	}
	if code, _, _ := e.get("/api/v1/speakers?status=revoked"); code != 200 {
		t.Errorf("revoked filter (the registry knows it): %d", code)
	}
}

// TestSpeakersLegacyAnswer: without parameters the answer is the whole
// registry, as alertctl and the map read it.
func TestSpeakersLegacyAnswer(t *testing.T) {
	e := newFleetEnv(t, storetest.SQLite(t), 30)
	code, body, _ := e.get("/api/v1/speakers")
	var ans struct {
		Speakers []dispatch.SpeakerRecord `json:"speakers"`
	}
	if err := json.Unmarshal(body, &ans); code != 200 || err != nil || len(ans.Speakers) != 30 {
		t.Fatalf("%d %d speakers %v", code, len(ans.Speakers), err)
	}
}

// TestFleetPageCost: a page of 100 unfiltered asks the hub once for the
// page (and once per 5,000 for the counts), not once per device.
func TestFleetPageCost(t *testing.T) {
	e := newFleetEnv(t, storetest.SQLite(t), 300)
	e.calls.Store(0)
	e.get("/api/v1/speakers?limit=100")
	if n := e.calls.Load(); n != 2 {
		t.Errorf("%d calls to the hub for one page with counts, want 2", n)
	}
	e.calls.Store(0)
	e.get("/api/v1/speakers?limit=100&cursor=" + fleetCursor(e.recs[120].ID))
	if n := e.calls.Load(); n != 1 {
		t.Errorf("%d calls to the hub for a later page, want 1", n)
	}
}
