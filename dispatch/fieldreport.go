package dispatch

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alertcast/alertcast/warning"
)

// A field report (灾情报送) is what a field team sends back while a warning
// is on air: who is hurt, what is broken, which road is blocked, how high
// the water is, how full a shelter is — or that all is well. Field teams
// are the accounts the voice server rings (role viewer: see IsFieldAccount);
// officers (operator and above) read, acknowledge, assign and answer them.

// FieldReportKind says what a field report is about.
type FieldReportKind int

const (
	ReportUnknown FieldReportKind = iota
	ReportCasualties
	ReportDamage
	ReportRoadBlocked
	ReportWaterLevel
	ReportShelterOccupancy
	ReportAllWell
)

var reportKindNames = [...]string{"unknown", "casualties", "damage", "road_blocked", "water_level", "shelter_occupancy", "all_well"}

func (k FieldReportKind) String() string {
	if k <= ReportUnknown || int(k) >= len(reportKindNames) {
		return "unknown"
	}
	return reportKindNames[k]
}

// ParseFieldReportKind is the inverse of FieldReportKind.String.
func ParseFieldReportKind(s string) (FieldReportKind, error) {
	for i := 1; i < len(reportKindNames); i++ {
		if reportKindNames[i] == s {
			return FieldReportKind(i), nil
		}
	}
	return ReportUnknown, fmt.Errorf("unknown report kind %q: want %s", s, strings.Join(reportKindNames[1:], ", "))
}

func (k FieldReportKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }
func (k *FieldReportKind) UnmarshalText(b []byte) error {
	v, err := ParseFieldReportKind(string(b))
	*k = v
	return err
}

// reportCounts lists, per kind, the counts a report may carry and which of
// them it must carry. Counts are whole numbers of people, houses, head of
// livestock or centimetres; a report of another kind carrying them is
// refused rather than silently dropped.
var reportCounts = map[FieldReportKind]struct{ allowed, required []string }{
	ReportCasualties:       {allowed: []string{"dead", "injured", "missing", "trapped"}},
	ReportDamage:           {allowed: []string{"houses_collapsed", "houses_damaged", "livestock_lost", "people_displaced"}},
	ReportRoadBlocked:      {allowed: []string{"vehicles_stranded"}},
	ReportWaterLevel:       {allowed: []string{"level_cm"}, required: []string{"level_cm"}},
	ReportShelterOccupancy: {allowed: []string{"people"}, required: []string{"people"}},
	ReportAllWell:          {},
}

// ReportCountNames returns the counts a report of kind k may carry.
func ReportCountNames(k FieldReportKind) []string { return slices.Clone(reportCounts[k].allowed) }

// MaxReportCount bounds every count: a county of 355,544 people.
const MaxReportCount = 1_000_000

// MaxReportText bounds the free text of a report and of a reply (bytes).
const MaxReportText = 4000

// FieldReportLocation is where a report is about: the device's position, or a
// village picked from the list (or both).
type FieldReportLocation struct {
	Lon      *float64 `json:"lon,omitempty"`
	Lat      *float64 `json:"lat,omitempty"`
	Accuracy float64  `json:"accuracy_m,omitempty"` // metres, as the device said
	Village  string   `json:"village,omitempty"`    // 12-digit village code
}

// FieldReportInput is what a field team sends.
type FieldReportInput struct {
	AlertID string          `json:"alert_id"`
	Kind    FieldReportKind `json:"kind"`
	Counts  map[string]int  `json:"counts,omitempty"`
	Text    string          `json:"text,omitempty"`
	// ShelterID names the shelter of a shelter_occupancy report.
	ShelterID string              `json:"shelter_id,omitempty"`
	Location  FieldReportLocation `json:"location"`
	// IdempotencyKey is the client's UUID for this report: sending it
	// again (the network came back) returns the report already stored.
	IdempotencyKey string `json:"idempotency_key"`
	// ObservedAt is when the report was written on the device (it may be
	// sent much later); zero means now.
	ObservedAt time.Time `json:"observed_at,omitzero"`
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Validate checks the input, naming every problem at once. villageKnown,
// when not nil, says whether a village code exists.
func (in *FieldReportInput) Validate(now time.Time, villageKnown func(code string) bool) error {
	ve := &ValidationError{}
	if in.AlertID == "" {
		ve.Add("alert_id", "required: the warning this report is about", "")
	} else if len(in.AlertID) > 64 {
		ve.Add("alert_id", "at most 64 characters", clipValue(in.AlertID))
	}
	if !uuidRE.MatchString(in.IdempotencyKey) {
		ve.Add("idempotency_key", "required: a UUID made by the client for this report", clipValue(in.IdempotencyKey))
	}
	spec, ok := reportCounts[in.Kind]
	if !ok {
		ve.Add("kind", "one of "+strings.Join(reportKindNames[1:], ", "), "")
	} else {
		names := make([]string, 0, len(in.Counts))
		for n := range in.Counts {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			v := in.Counts[n]
			switch {
			case !slices.Contains(spec.allowed, n):
				rule := "not a count of a " + in.Kind.String() + " report"
				if len(spec.allowed) > 0 {
					rule += " (" + strings.Join(spec.allowed, ", ") + ")"
				} else {
					rule += " (it carries none)"
				}
				ve.Add("counts."+clipValue(n), rule, strconv.Itoa(v))
			case v < 0 || v > MaxReportCount:
				ve.Add("counts."+n, fmt.Sprintf("a whole number from 0 to %d", MaxReportCount), strconv.Itoa(v))
			}
		}
		for _, n := range spec.required {
			if _, ok := in.Counts[n]; !ok {
				ve.Add("counts."+n, "required for a "+in.Kind.String()+" report", "")
			}
		}
	}
	if in.Kind == ReportShelterOccupancy {
		if in.ShelterID == "" {
			ve.Add("shelter_id", "required for a shelter_occupancy report", "")
		}
	} else if in.ShelterID != "" {
		ve.Add("shelter_id", "only for a shelter_occupancy report", clipValue(in.ShelterID))
	}
	if len(in.ShelterID) > 64 {
		ve.Add("shelter_id", "at most 64 characters", clipValue(in.ShelterID))
	}
	if len(in.Text) > MaxReportText {
		ve.Add("text", fmt.Sprintf("at most %d bytes", MaxReportText), "")
	} else if !utf8.ValidString(in.Text) {
		ve.Add("text", "must be UTF-8", "")
	}
	if in.Kind == ReportRoadBlocked && strings.TrimSpace(in.Text) == "" && in.Location.Lon == nil {
		ve.Add("text", "a road_blocked report needs the device's position or a text naming the road", "")
	}
	loc := in.Location
	switch {
	case (loc.Lon == nil) != (loc.Lat == nil):
		ve.Add("location", "lon and lat come together", "")
	case loc.Lon != nil:
		if math.IsNaN(*loc.Lon) || *loc.Lon < -180 || *loc.Lon > 180 {
			ve.Add("location.lon", "a longitude from -180 to 180", strconv.FormatFloat(*loc.Lon, 'f', -1, 64))
		}
		if math.IsNaN(*loc.Lat) || *loc.Lat < -90 || *loc.Lat > 90 {
			ve.Add("location.lat", "a latitude from -90 to 90", strconv.FormatFloat(*loc.Lat, 'f', -1, 64))
		}
	}
	if loc.Accuracy < 0 || loc.Accuracy > 1e6 || math.IsNaN(loc.Accuracy) {
		ve.Add("location.accuracy_m", "metres from 0 to 1000000", strconv.FormatFloat(loc.Accuracy, 'f', -1, 64))
	}
	if loc.Village != "" {
		if !isVillageCode(loc.Village) {
			ve.Add("location.village", "a 12-digit village code", clipValue(loc.Village))
		} else if villageKnown != nil && !villageKnown(loc.Village) {
			ve.Add("location.village", "no such village in the region list", loc.Village)
		}
	}
	if loc.Lon == nil && loc.Village == "" {
		ve.Add("location", "required: the device's position (lon, lat) or a village code", "")
	}
	if !in.ObservedAt.IsZero() {
		if in.ObservedAt.After(now.Add(10 * time.Minute)) {
			ve.Add("observed_at", "not in the future", in.ObservedAt.Format(time.RFC3339))
		} else if in.ObservedAt.Before(now.Add(-30 * 24 * time.Hour)) {
			ve.Add("observed_at", "within the last 30 days", in.ObservedAt.Format(time.RFC3339))
		}
	}
	if len(ve.Problems) > 0 {
		return ve
	}
	return nil
}

func isVillageCode(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func clipValue(s string) string {
	if len(s) <= 64 {
		return s
	}
	for i := 64; i > 60; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return s[:64] + "…"
}

// FieldReportState is where a report is in the command centre's hands.
type FieldReportState string

const (
	ReportNew          FieldReportState = "new"
	ReportAcknowledged FieldReportState = "acknowledged"
)

// FieldReport is a stored field report.
type FieldReport struct {
	ID         string              `json:"id"`
	AlertID    string              `json:"alert_id"`
	Kind       FieldReportKind     `json:"kind"`
	Counts     map[string]int      `json:"counts"`
	Text       string              `json:"text"`
	ShelterID  string              `json:"shelter_id,omitempty"`
	Location   FieldReportLocation `json:"location"`
	Reporter   string              `json:"reporter"`
	ObservedAt time.Time           `json:"observed_at"`
	ReceivedAt time.Time           `json:"received_at"`
	State      FieldReportState    `json:"state"`
	AckedBy    string              `json:"acknowledged_by,omitempty"`
	AckedAt    time.Time           `json:"acknowledged_at,omitzero"`
	AssignedTo string              `json:"assigned_to,omitempty"`
	AssignedBy string              `json:"assigned_by,omitempty"`
	Photos     []FieldReportPhoto  `json:"photos"`
	Replies    []FieldReportReply  `json:"replies"`
	// OccupancyApplied says the shelter's figure was updated from this
	// report (shelter_occupancy only).
	OccupancyApplied bool `json:"occupancy_applied,omitempty"`
}

// FieldReportPhoto describes a stored photo; its bytes are read separately.
type FieldReportPhoto struct {
	ID     string    `json:"id"`
	Width  int       `json:"width"`
	Height int       `json:"height"`
	Bytes  int       `json:"bytes"`
	At     time.Time `json:"at"`
}

// FieldReportReply is an officer's answer, shown on the field team's page.
type FieldReportReply struct {
	By   string    `json:"by"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// validReplyText checks an officer's reply.
func validReplyText(text string) error {
	switch {
	case strings.TrimSpace(text) == "":
		return &warning.FieldError{Field: "text", Rule: "required: the reply to send to the field team"}
	case len(text) > MaxReportText:
		return &warning.FieldError{Field: "text", Rule: fmt.Sprintf("at most %d bytes", MaxReportText)}
	case !utf8.ValidString(text):
		return &warning.FieldError{Field: "text", Rule: "must be UTF-8"}
	}
	return nil
}

// IsFieldAccount says whether an account is a field team's: the voice
// server rings viewer accounts as field members (internal/alertd wiring),
// and only they submit field reports — an officer who issues warnings does
// not also write the reports that judge them.
func IsFieldAccount(r Role) bool { return r == RoleViewer }

// IsOfficer says whether an account may read and handle field reports and
// their photos (operator and above: the voice server's officers).
func IsOfficer(r Role) bool { return r.Can(RoleOperator) }
