package api

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// SpeakerLive is what the loudspeaker hub knows of one device right now
// (alertd fills it from the hub's state in Redis, shared by every node).
type SpeakerLive struct {
	Seen     bool   // has connected at least once
	Online   bool   // connected and heard from within the heartbeat timeout
	State    string // last reported: normal, broadcasting, stopped, fault, recovered
	Firmware string // as the agent reports it in its heartbeats
	LastSeen time.Time
	Held     bool // a command waits unacknowledged for it
}

// Fleet statuses. A device's status is one of the first five; faulty and
// held are flags that a filter may also ask for.
const (
	fleetOnline  = "online"
	fleetOffline = "offline" // connected once, not now
	fleetNever   = "never"   // registered, never connected
	fleetRevoked = "revoked" // its credential is revoked: it cannot connect
	fleetUnknown = "unknown" // no loudspeaker hub on this node: live state not known
	fleetFaulty  = "faulty"  // last reported state is fault
	fleetHeld    = "held"    // a command waits for it
)

var fleetStatusFilters = []string{fleetOnline, fleetOffline, fleetNever, fleetFaulty, fleetHeld, fleetRevoked}

// FleetItem is one loudspeaker on the fleet page.
type FleetItem struct {
	ID            string     `json:"id"`
	Village       string     `json:"village"`
	VillageName   string     `json:"village_name,omitempty"`
	Township      string     `json:"township"`
	TownshipName  string     `json:"township_name,omitempty"`
	Zone          string     `json:"zone,omitempty"`
	Status        string     `json:"status"`
	State         string     `json:"state,omitempty"`
	Faulty        bool       `json:"faulty"`
	Held          bool       `json:"held"`
	LastHeartbeat *time.Time `json:"last_heartbeat,omitempty"`
	Firmware      string     `json:"firmware,omitempty"`
	Enrolled      bool       `json:"enrolled"`
	Revoked       bool       `json:"revoked"`
}

// FleetCount counts loudspeakers of one township, or of all.
type FleetCount struct {
	Code       string `json:"code,omitempty"`
	Name       string `json:"name,omitempty"`
	Registered int    `json:"registered"` // not revoked
	Online     int    `json:"online"`
	Offline    int    `json:"offline"`
	Never      int    `json:"never"`
	Faulty     int    `json:"faulty"`
	Held       int    `json:"held"`
	Revoked    int    `json:"revoked"`
}

func (c *FleetCount) add(it *FleetItem) {
	switch it.Status {
	case fleetRevoked:
		c.Revoked++
	case fleetOnline:
		c.Online++
	case fleetOffline:
		c.Offline++
	case fleetNever:
		c.Never++
	}
	if it.Status != fleetRevoked {
		c.Registered++
		if it.Faulty {
			c.Faulty++
		}
		if it.Held {
			c.Held++
		}
	}
}

// fleetQuery is a parsed GET /api/v1/speakers query.
type fleetQuery struct {
	status string
	filter dispatch.SpeakerFilter
	limit  int
	after  string // the cursor: the last id of the previous page
	csv    bool
}

const (
	fleetMaxLimit    = 1000
	fleetMaxQ        = 64
	fleetMaxVillages = 5000
)

var fleetParams = []string{"status", "region", "q", "limit", "cursor", "format"}

// parseFleetQuery checks every parameter and names the first bad one.
func (api *API) parseFleetQuery(q url.Values) (fleetQuery, *warning.FieldError) {
	fq := fleetQuery{limit: 100}
	for k := range q {
		if !slices.Contains(fleetParams, k) {
			return fq, &warning.FieldError{Field: k, Rule: "unknown parameter; known: " + strings.Join(fleetParams, ", ")}
		}
		if len(q[k]) > 1 {
			return fq, &warning.FieldError{Field: k, Rule: "at most once"}
		}
	}
	if s := q.Get("status"); s != "" {
		if !slices.Contains(fleetStatusFilters, s) {
			return fq, &warning.FieldError{Field: "status", Rule: "one of " + strings.Join(fleetStatusFilters, ", "), Value: trunc(s)}
		}
		fq.status = s
	}
	var tree *targeting.Tree
	if api.Service != nil && api.Service.Population != nil {
		tree = api.Service.Population.Tree()
	}
	if code := q.Get("region"); code != "" {
		if err := targeting.CheckCode(code); err != nil {
			return fq, &warning.FieldError{Field: "region", Rule: "a 6-digit county, 9-digit township or 12-digit village code", Value: trunc(code)}
		}
		if tree != nil {
			if _, ok := tree.Region(code); !ok {
				return fq, &warning.FieldError{Field: "region", Rule: "must be a known region code", Value: code}
			}
		}
		fq.filter.Region = code
	}
	if s := strings.TrimSpace(q.Get("q")); s != "" {
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > fleetMaxQ {
			return fq, &warning.FieldError{Field: "q", Rule: "at most " + strconv.Itoa(fleetMaxQ) + " characters of UTF-8", Value: trunc(s)}
		}
		fq.filter.Q = s
		if tree != nil {
			low := strings.ToLower(s)
			for _, v := range tree.Villages() {
				if strings.Contains(v.Name, s) || (v.NameUG != "" && strings.Contains(strings.ToLower(v.NameUG), low)) {
					fq.filter.Villages = append(fq.filter.Villages, v.Code)
				}
			}
			if len(fq.filter.Villages) > fleetMaxVillages {
				return fq, &warning.FieldError{Field: "q", Rule: "matches more than " + strconv.Itoa(fleetMaxVillages) + " village names: be more specific", Value: s}
			}
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > fleetMaxLimit {
			return fq, &warning.FieldError{Field: "limit", Rule: "an integer from 1 to " + strconv.Itoa(fleetMaxLimit), Value: trunc(s)}
		}
		fq.limit = n
	}
	if s := q.Get("cursor"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) == 0 || len(b) > 256 || !utf8.Valid(b) {
			return fq, &warning.FieldError{Field: "cursor", Rule: "the next_cursor of a previous answer", Value: trunc(s)}
		}
		fq.after = string(b)
	}
	switch f := q.Get("format"); f {
	case "", "json":
	case "csv":
		fq.csv = true
	default:
		return fq, &warning.FieldError{Field: "format", Rule: "json or csv", Value: trunc(f)}
	}
	return fq, nil
}

func trunc(s string) string {
	if len(s) <= 64 {
		return s
	}
	for i := 64; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}

func fleetCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

// fleetAnswer is GET /api/v1/speakers' body when it has parameters.
type fleetAnswer struct {
	Items      []FleetItem  `json:"items"`
	NextCursor string       `json:"next_cursor,omitempty"`
	Live       bool         `json:"live"` // false: no loudspeaker hub here, statuses are "unknown"
	Counts     *fleetCounts `json:"counts,omitempty"`
}

type fleetCounts struct {
	Total     FleetCount   `json:"total"`
	Townships []FleetCount `json:"townships"`
}

// fleet answers GET /api/v1/speakers with parameters: one page of the
// filtered fleet in id order with a keyset cursor; on the first page also
// the counts of the whole fleet per township. ?format=csv streams every
// page of the filtered list.
func (api *API) fleet(w http.ResponseWriter, r *http.Request, by dispatch.Actor) {
	fq, fe := api.parseFleetQuery(r.URL.Query())
	if fe != nil {
		writeError(w, http.StatusBadRequest, "bad_parameter", fe.Error(), *fe)
		return
	}
	if api.SpeakersLive == nil && fq.status != "" && fq.status != fleetRevoked {
		writeError(w, http.StatusServiceUnavailable, "unavailable",
			"status: the loudspeaker hub is not enabled on this node, so online, offline, never, faulty and held are not known")
		return
	}
	ctx := r.Context()
	if fq.csv {
		api.fleetCSV(w, r, fq)
		return
	}
	ans := fleetAnswer{Items: make([]FleetItem, 0, fq.limit), Live: api.SpeakersLive != nil}
	// A status filter is answered after reading: twice the page to start
	// with, more while matches are rare (eachFleet grows the batch).
	batch := fq.limit + 1
	if fq.status != "" {
		batch *= 2
	}
	err := api.eachFleet(ctx, fq, batch, func(it FleetItem) bool {
		ans.Items = append(ans.Items, it)
		return len(ans.Items) <= fq.limit
	})
	if err != nil {
		api.fail(w, r, err)
		return
	}
	if len(ans.Items) > fq.limit {
		ans.Items = ans.Items[:fq.limit]
		ans.NextCursor = fleetCursor(ans.Items[fq.limit-1].ID)
	}
	if fq.after == "" {
		c, err := api.fleetCounts(ctx)
		if err != nil {
			api.fail(w, r, err)
			return
		}
		ans.Counts = c
	}
	writeJSON(w, 200, ans)
}

// eachFleet calls fn with every loudspeaker after fq.after that matches
// fq, in id order, reading the registry batch rows at a time (doubling up
// to 5,000 when a status filter drops rows) and the live state of each
// batch in one call, until fn returns false or the registry ends.
func (api *API) eachFleet(ctx context.Context, fq fleetQuery, batch int, fn func(FleetItem) bool) error {
	var tree *targeting.Tree
	if api.Service != nil && api.Service.Population != nil {
		tree = api.Service.Population.Tree()
	}
	after := fq.after
	ids := make([]string, 0, batch)
	for {
		recs, err := api.Store.SpeakersPage(ctx, fq.filter, after, batch)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		var live map[string]SpeakerLive
		if api.SpeakersLive != nil {
			ids = ids[:0]
			for i := range recs {
				ids = append(ids, recs[i].ID)
			}
			if live, err = api.SpeakersLive(ctx, ids); err != nil {
				return err
			}
		}
		for i := range recs {
			it := fleetItem(tree, &recs[i], live, api.SpeakersLive != nil)
			if !fleetMatches(&it, fq.status) {
				continue
			}
			if !fn(it) {
				return nil
			}
		}
		if len(recs) < batch {
			return nil
		}
		after = recs[len(recs)-1].ID
		if fq.status != "" {
			batch = max(batch, min(2*batch, 5000))
		}
	}
}

func fleetItem(tree *targeting.Tree, rec *dispatch.SpeakerRecord, live map[string]SpeakerLive, hub bool) FleetItem {
	it := FleetItem{ID: rec.ID, Village: rec.Village, Township: rec.Village, Zone: rec.Zone,
		Enrolled: rec.CredentialHash != "", Revoked: rec.Revoked}
	if len(it.Township) > 9 {
		it.Township = it.Township[:9]
	}
	if tree != nil {
		if v, ok := tree.Region(rec.Village); ok {
			it.VillageName = v.Name
		}
		if t, ok := tree.Region(it.Township); ok {
			it.TownshipName = t.Name
		}
	}
	l := live[rec.ID]
	if l.Seen {
		at := l.LastSeen.UTC()
		it.LastHeartbeat, it.State, it.Firmware = &at, l.State, l.Firmware
	}
	it.Faulty, it.Held = l.State == "fault", l.Held
	switch {
	case rec.Revoked:
		it.Status = fleetRevoked
	case !hub:
		it.Status = fleetUnknown
	case l.Online:
		it.Status = fleetOnline
	case l.Seen:
		it.Status = fleetOffline
	default:
		it.Status = fleetNever
	}
	return it
}

func fleetMatches(it *FleetItem, status string) bool {
	switch status {
	case "":
		return true
	case fleetFaulty:
		return it.Faulty && !it.Revoked
	case fleetHeld:
		return it.Held
	default:
		return it.Status == status
	}
}

// fleetCounts counts the whole fleet per township, in batches of 5,000.
func (api *API) fleetCounts(ctx context.Context) (*fleetCounts, error) {
	by := map[string]*FleetCount{}
	out := &fleetCounts{}
	err := api.eachFleet(ctx, fleetQuery{}, 5000, func(it FleetItem) bool {
		c := by[it.Township]
		if c == nil {
			c = &FleetCount{Code: it.Township, Name: it.TownshipName}
			by[it.Township] = c
		}
		c.add(&it)
		out.Total.add(&it)
		return true
	})
	if err != nil {
		return nil, err
	}
	out.Townships = make([]FleetCount, 0, len(by))
	for _, c := range by {
		out.Townships = append(out.Townships, *c)
	}
	slices.SortFunc(out.Townships, func(a, b FleetCount) int { return strings.Compare(a.Code, b.Code) })
	return out, nil
}

// beijing is the county's clock (UTC+8, no daylight saving) for exports an
// officer reads in a spreadsheet.
var beijing = time.FixedZone("CST", 8*3600)

// fleetCSV streams every loudspeaker matching fq (all pages) as CSV, with
// a UTF-8 byte-order mark so that spreadsheet programs read the Chinese
// names right.
func (api *API) fleetCSV(w http.ResponseWriter, r *http.Request, fq fleetQuery) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="alertcast-speakers-`+time.Now().In(beijing).Format("20060102T150405")+`.csv"`)
	_, _ = w.Write([]byte("\ufeff"))
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"id", "village", "village_name", "township", "township_name", "zone", "status", "state", "faulty", "held",
		"last_heartbeat", "firmware", "enrolled", "revoked"})
	err := api.eachFleet(r.Context(), fq, 2000, func(it FleetItem) bool {
		last := ""
		if it.LastHeartbeat != nil {
			last = it.LastHeartbeat.In(beijing).Format(time.RFC3339)
		}
		_ = cw.Write(csvRow(it.ID, it.Village, it.VillageName, it.Township, it.TownshipName, it.Zone, it.Status, it.State,
			strconv.FormatBool(it.Faulty), strconv.FormatBool(it.Held), last, it.Firmware, strconv.FormatBool(it.Enrolled), strconv.FormatBool(it.Revoked)))
		return cw.Error() == nil
	})
	cw.Flush()
	if err != nil {
		// The header is out: the file ends early, and the log says why.
		api.log().Error("speakers CSV export failed part way", "request_id", RequestIDFrom(r.Context()), "err", err)
	}
}

// csvRow guards cells against formula injection: a spreadsheet runs a cell
// that starts with =, +, -, @ (or a tab or carriage return before one) as
// a formula, and ids, names and firmware strings come from imports and
// from devices in the field.
func csvRow(cells ...string) []string {
	for i, c := range cells {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			cells[i] = "'" + c
		}
	}
	return cells
}
