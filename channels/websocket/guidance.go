package websocket

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
	"github.com/alertcast/alertcast/wording"
)

// VillageGuidance is what Config.Guidance returns for one village under
// one warning version: the village's own guidance (nil when the version
// asks no action) and its shelter's last reported occupancy (nil when
// never reported).
type VillageGuidance struct {
	Guidance  *channels.Guidance
	Occupancy *int
}

// guidanceTTL is how long a village's guidance answer is reused: every
// resident page of a village asks at once when a warning arrives, and a
// shelter's occupancy changes by reports, not by the second.
const guidanceTTL = 15 * time.Second

// residentGuidance is the public JSON of GET /r/{village}/guidance: for
// each live warning covering the village that asks an action, what this
// village is told, in the page's languages, with the two points of its
// map. Nothing else: no contact numbers, no other village.
type residentGuidance struct {
	Village  string          `json:"village"`
	Guidance []guidanceEntry `json:"guidance"`
}

type guidanceEntry struct {
	AlertID string `json:"alert_id"`
	Version int    `json:"version"`
	Action  string `json:"action"` // evacuate, shelter_in_place
	// Text is the sentence the SMS carries, per language (zh, ug).
	Text map[string]string `json:"text"`
	// Away: move away from a zone, in direction Compass.
	Away bool `json:"away,omitempty"`
	// Compass is the direction to go (N, NE, …); Direction names it.
	Compass   string            `json:"compass,omitempty"`
	Direction map[string]string `json:"direction,omitempty"`
	// DistanceM is the straight line to the shelter; DistanceKM as the SMS
	// says it.
	DistanceM  float64          `json:"distance_m,omitempty"`
	DistanceKM string           `json:"distance_km,omitempty"`
	From       *channels.LatLon `json:"from,omitempty"`
	Shelter    *guidanceShelter `json:"shelter,omitempty"`
}

type guidanceShelter struct {
	Name      map[string]string `json:"name"` // with the word for shelter, per language
	At        channels.LatLon   `json:"at"`
	Capacity  int               `json:"capacity,omitempty"`
	Occupancy *int              `json:"occupancy,omitempty"`
}

var guidanceLangs = [...]string{"zh", "ug"}

func guidanceEntryOf(e *event, vg VillageGuidance) guidanceEntry {
	g := vg.Guidance
	out := guidanceEntry{AlertID: e.w.AlertID, Version: e.w.Version, Action: g.Action, Text: map[string]string{}, Away: g.Away, From: g.From}
	for _, l := range guidanceLangs {
		out.Text[l] = wording.Guidance(g, l)
	}
	if g.Compass != warning.CompassUnknown {
		out.Compass = g.Compass.String()
		out.Direction = map[string]string{}
		for _, l := range guidanceLangs {
			out.Direction[l] = wording.Direction(g.Compass, l)
		}
	}
	if g.Shelter != nil {
		if g.DistanceM > 0 {
			out.DistanceM = float64(int(g.DistanceM + 0.5))
			out.DistanceKM = channels.KM(g.DistanceM)
		}
		sh := &guidanceShelter{Name: map[string]string{}, At: g.Shelter.At, Capacity: g.Shelter.Capacity, Occupancy: vg.Occupancy}
		for _, l := range guidanceLangs {
			sh.Name[l] = wording.ShelterName(g.Shelter, l)
		}
		out.Shelter = sh
	}
	return out
}

// guidanceCache keeps each village's last answer for guidanceTTL, keyed
// by the warning versions it was computed for; one computation per
// village at a time.
type guidanceCache struct {
	mu sync.Mutex
	m  map[string]*guidanceAnswer
}

type guidanceAnswer struct {
	mu   sync.Mutex // held while computing
	key  string
	at   time.Time
	body []byte
	err  error // the last computation failed: answered for guidanceErrTTL
}

// guidanceErrTTL is how long a failed lookup is answered as failed
// without asking again, so that a village's pages waiting behind a
// failing store get their 503 at once instead of one timeout each.
const guidanceErrTTL = 5 * time.Second

// liveFor is the live (not lifted, not test, not expired) warnings that
// reach village, in a stable order.
func (h *Hub) liveFor(village string) []*event {
	now := time.Now()
	h.mu.Lock()
	var out []*event
	for _, e := range h.active {
		if e.w.Lifted || !e.w.until().After(now) || e.w.Status == warning.StatusTest.String() {
			continue
		}
		if h.cov.Covers(e.w.Area, village) {
			out = append(out, e)
		}
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].w.AlertID < out[j].w.AlertID })
	return out
}

// villageGuidance answers GET /r/{village}/guidance.
func (h *Hub) villageGuidance(ctx context.Context, village string) ([]byte, error) {
	live := h.liveFor(village)
	var key strings.Builder
	for _, e := range live {
		key.WriteString(e.w.AlertID + "/" + strconv.Itoa(e.w.Version) + ";")
	}
	h.guides.mu.Lock()
	if h.guides.m == nil {
		h.guides.m = map[string]*guidanceAnswer{}
	}
	a := h.guides.m[village]
	if a == nil {
		a = &guidanceAnswer{}
		h.guides.m[village] = a
	}
	h.guides.mu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.key == key.String() && !a.at.IsZero() {
		if age := time.Since(a.at); a.err == nil && age < guidanceTTL || a.err != nil && age < guidanceErrTTL {
			return a.body, a.err
		}
	}
	out := residentGuidance{Village: village, Guidance: []guidanceEntry{}}
	if h.cfg.Guidance != nil {
		for _, e := range live {
			vg, err := h.cfg.Guidance(ctx, e.w.AlertID, e.w.Version, village)
			if err != nil {
				a.key, a.at, a.body, a.err = key.String(), time.Now(), nil, err
				return nil, err
			}
			if vg.Guidance == nil || vg.Guidance.Action == "" {
				continue
			}
			out.Guidance = append(out.Guidance, guidanceEntryOf(e, vg))
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	a.key, a.at, a.body, a.err = key.String(), time.Now(), b, nil
	return b, nil
}

// serveGuidance writes a village's guidance as JSON; code is a
// well-formed code the caller checked.
func (h *Hub) serveGuidance(w http.ResponseWriter, r *http.Request, code string) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	if len(code) != 12 || !h.knownRegion(code) {
		httpError(w, http.StatusNotFound, "unknown_village", "no village with code "+clip(code)+" (guidance is per village: a 12-digit village code)")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	b, err := h.villageGuidance(ctx, code)
	if err != nil {
		h.cfg.Logger.Warn("resident guidance", "village", code, "err", err)
		hd.Set("Retry-After", "5")
		httpError(w, http.StatusServiceUnavailable, "unavailable", "guidance is not available right now; the warning text still applies")
		return
	}
	hd.Set("Cache-Control", "no-cache")
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
