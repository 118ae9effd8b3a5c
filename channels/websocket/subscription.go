package websocket

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/alertcast/alertcast/warning"
)

// subscription is what one connection wants to see.
type subscription struct {
	regions  []string // empty only for consoles: everything
	lang     string   // "", "zh" or "ug"
	minLevel int      // 0 or 1 = everything
	progress bool     // consoles: delivery progress events
	alerts   []string // consoles: progress only for these alert ids (empty = all)
	console  bool     // authenticated; set by the hub, never by the client
}

// subscribeRequest is the client's subscribe frame (or the same fields as
// URL query parameters).
type subscribeRequest struct {
	Type     string          `json:"type"`
	Regions  []string        `json:"regions"`
	Lang     string          `json:"lang"`
	MinLevel json.RawMessage `json:"min_level"`
	LastID   string          `json:"last_id"`
	Progress bool            `json:"progress"`
	Alerts   []string        `json:"alerts"`
}

const (
	maxAlertFilter = 64
	maxIDLen       = 64
)

// parseLevel accepts 0..4 or a level as warning.ParseLevel reads it (a
// colour name, its grade or its Chinese name).
func parseLevel(s string) (int, bool) {
	if l, err := warning.ParseLevel(s); err == nil {
		return int(l), true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 4 {
		return 0, false
	}
	return n, true
}

// limits are the bounds a subscription is checked against.
type limits struct {
	regions    Coverage
	maxRegions int
	console    bool
}

// parseSubscribeFrame parses and validates a client frame. Every error is a
// *channels.FieldError naming the offending field.
func parseSubscribeFrame(b []byte, l limits) (subscription, string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var req subscribeRequest
	if err := dec.Decode(&req); err != nil {
		return subscription{}, "", jsonFieldError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return subscription{}, "", &warning.FieldError{Field: "frame", Rule: "exactly one JSON object"}
	}
	if req.Type != "subscribe" {
		return subscription{}, "", &warning.FieldError{Field: "type", Rule: `must be "subscribe"`, Value: clip(req.Type)}
	}
	level := ""
	if len(req.MinLevel) > 0 && string(req.MinLevel) != "null" {
		var s string
		if err := json.Unmarshal(req.MinLevel, &s); err != nil {
			level = string(req.MinLevel) // a number
		} else {
			level = s
		}
	}
	return req.validate(level, l)
}

// parseSubscribeQuery reads the same fields from URL query parameters:
// region (repeatable or comma-separated), lang, min_level, last_id,
// progress, alert. ok is false when no subscription was given at all.
func parseSubscribeQuery(q url.Values, lastEventID string, l limits) (sub subscription, lastID string, ok bool, err error) {
	var req subscribeRequest
	for _, v := range q["region"] {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" {
				req.Regions = append(req.Regions, c)
			}
		}
	}
	if len(req.Regions) > l.maxRegions*4 { // do not even look at absurd lists
		return sub, "", true, &warning.FieldError{Field: "region", Rule: "at most " + strconv.Itoa(l.maxRegions) + " regions"}
	}
	req.Lang = q.Get("lang")
	req.LastID = q.Get("last_id")
	if req.LastID == "" {
		req.LastID = lastEventID
	}
	req.Progress = q.Get("progress") == "1" || q.Get("progress") == "true"
	req.Alerts = q["alert"]
	if len(req.Regions) == 0 && !(l.console && (req.Progress || q.Has("all"))) {
		return sub, "", false, nil
	}
	sub, lastID, err = req.validate(q.Get("min_level"), l)
	return sub, lastID, true, err
}

func (req *subscribeRequest) validate(level string, l limits) (subscription, string, error) {
	var s subscription
	s.console = l.console
	if len(req.Regions) > l.maxRegions {
		return s, "", &warning.FieldError{Field: "regions", Rule: "at most " + strconv.Itoa(l.maxRegions) + " regions per subscription", Value: strconv.Itoa(len(req.Regions))}
	}
	if len(req.Regions) == 0 && !l.console {
		return s, "", &warning.FieldError{Field: "regions", Rule: "at least one region code (e.g. 653122100001)"}
	}
	seen := make(map[string]bool, len(req.Regions))
	for i, c := range req.Regions {
		field := "regions[" + strconv.Itoa(i) + "]"
		if !wellFormedCode(c) {
			return s, "", &warning.FieldError{Field: field, Rule: "a 6, 9 or 12 digit administrative code", Value: clip(c)}
		}
		if !l.regions.Known(c) {
			return s, "", &warning.FieldError{Field: field, Rule: "unknown region", Value: c}
		}
		if !seen[c] {
			seen[c] = true
			s.regions = append(s.regions, c)
		}
	}
	switch req.Lang {
	case "", "zh", "ug":
		s.lang = req.Lang
	default:
		return s, "", &warning.FieldError{Field: "lang", Rule: `"zh", "ug" or empty for both`, Value: clip(req.Lang)}
	}
	if level != "" {
		n, ok := parseLevel(level)
		if !ok {
			return s, "", &warning.FieldError{Field: "min_level", Rule: "0..4 or blue, yellow, orange, red", Value: clip(level)}
		}
		s.minLevel = n
	}
	if req.LastID != "" {
		if _, err := parseStreamID(req.LastID); err != nil {
			return s, "", err
		}
	}
	if req.Progress || len(req.Alerts) > 0 {
		if !l.console {
			return s, "", &warning.FieldError{Field: "progress", Rule: "delivery progress needs a console token"}
		}
		if len(req.Alerts) > maxAlertFilter {
			return s, "", &warning.FieldError{Field: "alerts", Rule: "at most " + strconv.Itoa(maxAlertFilter) + " alert ids"}
		}
		for i, a := range req.Alerts {
			if a == "" || len(a) > maxIDLen {
				return s, "", &warning.FieldError{Field: "alerts[" + strconv.Itoa(i) + "]", Rule: "an alert id of 1..64 characters", Value: clip(a)}
			}
		}
		s.progress = true
		s.alerts = req.Alerts
	}
	return s, req.LastID, nil
}

func wellFormedCode(c string) bool {
	if len(c) != 6 && len(c) != 9 && len(c) != 12 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if c[i] < '0' || c[i] > '9' {
			return false
		}
	}
	return true
}

// jsonFieldError turns a decoding error into a FieldError naming the field.
func jsonFieldError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		f := te.Field
		if f == "" {
			f = "frame"
		}
		return &warning.FieldError{Field: f, Rule: "must be a JSON " + te.Type.String()}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &warning.FieldError{Field: "frame", Rule: "valid JSON (syntax error at byte " + strconv.FormatInt(se.Offset, 10) + ")"}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		if f, err := strconv.Unquote(f); err == nil && f != "" && len(f) <= 64 {
			return &warning.FieldError{Field: f, Rule: "unknown field"}
		}
		return &warning.FieldError{Field: "frame", Rule: "unknown field", Value: clip(f)}
	}
	return &warning.FieldError{Field: "frame", Rule: "a JSON object like {\"type\":\"subscribe\",\"regions\":[\"653122100001\"]}"}
}

// matches reports whether a warning event goes to this subscription. Updates
// and lifts pass the level filter so a subscriber never keeps showing a
// warning that changed or ended; clients hide what is below their minimum.
func (s *subscription) matches(e *event, cov Coverage) bool {
	return s.wants(e) && s.inArea(e, cov)
}

// wants is matches without the area, which the fan-out decides once per
// scope (see scopes.go).
func (s *subscription) wants(e *event) bool {
	if e.w.Status == warning.StatusTest.String() && !s.console {
		return false // technical tests are for consoles, never for residents
	}
	if e.w.Kind == "alert" && e.w.Level < s.minLevel {
		return false
	}
	return len(s.regions) > 0 || s.console
}

// shows reports whether an active warning belongs in this subscription's
// snapshot.
func (s *subscription) shows(e *event, cov Coverage) bool {
	if e.w.Status == warning.StatusTest.String() && !s.console {
		return false
	}
	return e.w.Level >= s.minLevel && s.inArea(e, cov)
}

// inArea: a village subscriber gets warnings aimed at it, its township or
// the county; a township subscriber gets everything inside the township;
// a console without regions gets everything.
func (s *subscription) inArea(e *event, cov Coverage) bool {
	if len(s.regions) == 0 {
		return s.console
	}
	return regionsCovered(s.regions, e, cov)
}

// regionsCovered reports whether e's area covers one of regions.
func regionsCovered(regions []string, e *event, cov Coverage) bool {
	if len(e.w.Area) == 0 {
		return true // no area means the whole jurisdiction
	}
	for _, r := range regions {
		if cov.Covers(e.w.Area, r) {
			return true
		}
	}
	return false
}

func (s *subscription) wantsProgress(alertID string) bool {
	if !s.progress || !s.console {
		return false
	}
	if len(s.alerts) == 0 {
		return true
	}
	for _, a := range s.alerts {
		if a == alertID {
			return true
		}
	}
	return false
}

var parseErrNoRegion = &warning.FieldError{Field: "region", Rule: "at least one region code (e.g. ?region=653122100001)"}
