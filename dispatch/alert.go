package dispatch

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alertcast/alertcast/warning"
)

// Languages a warning's text can be written in.
var Languages = []string{"zh", "ug"}

// Channel names a warning can be sent on.
var ChannelNames = []string{"speaker", "sms", "websocket", "voice"}

// Text limits (in characters). Longer text would not fit a loudspeaker
// programme of reasonable length nor a capped number of SMS parts.
const (
	MaxHeadline    = 80
	MaxDescription = 1000
	MaxInstruction = 400
)

// Text is a warning's wording in one language.
type Text struct {
	Headline    string `json:"headline"`
	Description string `json:"description"`
	Instruction string `json:"instruction"`
}

// Area is where a warning applies: administrative codes (6-digit county,
// 9-digit township, 12-digit village), optionally geometry in CAP notation.
type Area struct {
	Codes    []string `json:"codes"`
	Exclude  []string `json:"exclude,omitempty"`
	Polygons []string `json:"polygons,omitempty"` // CAP: "lat,lon lat,lon …", closed
	Circles  []string `json:"circles,omitempty"`  // CAP: "lat,lon radius_km"
}

// Audience narrows a warning to population groups and languages. Empty
// means everyone in the area.
type Audience struct {
	Groups    []string `json:"groups,omitempty"`
	Languages []string `json:"languages,omitempty"`
}

// Alert is one warning at one version.
type Alert struct {
	ID       string          `json:"id"`
	Version  int             `json:"version"`
	Event    warning.Event   `json:"event"`
	Level    warning.Level   `json:"level"`
	Status   warning.Status  `json:"status"`
	State    warning.State   `json:"state"`
	Area     Area            `json:"area"`
	Audience Audience        `json:"audience"`
	Channels []string        `json:"channels"`
	Text     map[string]Text `json:"text"`
	// Action is what people are told to do: evacuate (to their village's
	// shelter, or away from a polygon) or shelter in place; nil for none.
	Action  *Action   `json:"action,omitempty"`
	Onset   time.Time `json:"onset,omitzero"`
	Expires time.Time `json:"expires"`

	// GuidanceDigest names the version's per-village guidance, frozen when
	// it was submitted (guidance_frozen.go); "" when it asks no action.
	// Guidance is that guidance, carried in memory from FreezeGuidance to
	// the store, never in the body.
	GuidanceDigest string           `json:"guidance_digest,omitempty"`
	Guidance       *VillageGuidance `json:"-"`

	// Rebroadcast is an optional schedule ("every 30m" or a cron spec) on
	// which loudspeakers repeat the warning while it is active.
	Rebroadcast string `json:"rebroadcast,omitempty"`
	// Kind is what this version does: alert (first), update, cancel, allclear.
	Kind warning.Kind `json:"kind"`
	// Round counts scheduled rebroadcasts: a version with Round > 0 repeats
	// the warning on the loudspeakers only.
	Round int `json:"round,omitempty"`
	// Source says where the warning came from: api, console, cap:<sender>.
	Source     string    `json:"source,omitempty"`
	CreatedBy  string    `json:"created_by"`
	ApprovedBy string    `json:"approved_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	IssuedAt   time.Time `json:"issued_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at"`
	Reason     string    `json:"reason,omitempty"` // for rejection, cancel, all-clear
	// Approval of this version (see policy.go): when it was approved, the
	// approver's reason (or the rule or schedule that approved it), every
	// account that wrote it, and how it differs from the version before.
	ApprovedAt     time.Time    `json:"approved_at,omitzero"`
	ApprovalReason string       `json:"approval_reason,omitempty"`
	Authors        []string     `json:"authors,omitempty"`
	Changes        []ChangeKind `json:"changes,omitempty"`
	// Pending is a proposed next version waiting for a second officer
	// while this one stays on air. It is stored beside the warning, not in
	// this version's body.
	Pending *Alert `json:"pending,omitempty"`
}

// authorsOf is every account that wrote a version. Records from before
// authors were kept name only the creator; a schedule's output then named
// its creator as "scheduler:<name>".
func (a *Alert) AuthorsOf() []string {
	if len(a.Authors) > 0 {
		return a.Authors
	}
	if name, ok := strings.CutPrefix(a.CreatedBy, "scheduler:"); ok {
		return []string{a.CreatedBy, name}
	}
	return []string{a.CreatedBy}
}

// Key names this version for channels: "<id>/v<version>".
func (a *Alert) Key() string { return fmt.Sprintf("%s/v%d", a.ID, a.Version) }

// HasChannel reports whether the warning is to go out on ch.
func (a *Alert) HasChannel(ch string) bool { return slices.Contains(a.Channels, ch) }

// AlertInput is a warning as officers and systems submit it: plain strings,
// so that every problem can be reported at once rather than the first one a
// JSON decoder trips on.
type AlertInput struct {
	Event       string          `json:"event"`
	Level       string          `json:"level"`
	Status      string          `json:"status"`
	Area        Area            `json:"area"`
	Audience    Audience        `json:"audience"`
	Channels    []string        `json:"channels"`
	Text        map[string]Text `json:"text"`
	Action      *ActionInput    `json:"action,omitempty"`
	Onset       string          `json:"onset,omitempty"`
	Expires     string          `json:"expires"`
	Rebroadcast string          `json:"rebroadcast,omitempty"`
}

// ValidationError lists every problem with an input, each naming the field
// and the rule it breaks.
type ValidationError struct {
	Problems []warning.FieldError `json:"problems"`
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i := range e.Problems {
		parts[i] = e.Problems[i].Error()
	}
	return "invalid warning: " + strings.Join(parts, "; ")
}

func (e *ValidationError) Add(field, rule, value string) {
	e.Problems = append(e.Problems, warning.FieldError{Field: field, Rule: rule, Value: value})
}

func (e *ValidationError) Err() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// Regions is what validation needs of the region tree.
type Regions interface {
	// Known reports whether code is a loaded region.
	Known(code string) bool
}

// RegionsFunc adapts a function to Regions.
type RegionsFunc func(code string) bool

// Known calls f.
func (f RegionsFunc) Known(code string) bool { return f(code) }

// Validate checks in against the rules and the loaded regions and returns
// the warning it describes (state and identity unset). groupKnown checks a
// population group name; nil accepts any.
func (in *AlertInput) Validate(regions Regions, groupKnown func(string) bool, now time.Time) (*Alert, error) {
	var ve ValidationError
	a := &Alert{Text: map[string]Text{}}
	var err error
	if in.Event == "" {
		ve.Add("event", "required", "")
	} else if a.Event, err = warning.ParseEvent(in.Event); err != nil {
		ve.Add("event", "must be a known event code (GET /api/v1/events)", in.Event)
	}
	if in.Level == "" {
		ve.Add("level", "required: blue, yellow, orange or red", "")
	} else if a.Level, err = warning.ParseLevel(in.Level); err != nil {
		ve.Add("level", "must be blue, yellow, orange or red (IV..I)", in.Level)
	}
	if in.Status == "" {
		a.Status = warning.StatusActual
	} else if a.Status, err = warning.ParseStatus(in.Status); err != nil {
		ve.Add("status", "must be actual, exercise or test", in.Status)
	}

	// Area.
	if len(in.Area.Codes) == 0 && len(in.Area.Polygons) == 0 && len(in.Area.Circles) == 0 {
		ve.Add("area", "at least one region code, polygon or circle is required", "")
	}
	checkCodes := func(field string, codes []string) []string {
		out := make([]string, 0, len(codes))
		for i, c := range codes {
			f := fmt.Sprintf("%s[%d]", field, i)
			c = strings.TrimSpace(c)
			switch {
			case !IsDigits(c) || (len(c) != 6 && len(c) != 9 && len(c) != 12):
				ve.Add(f, "must be an administrative code of 6, 9 or 12 digits", c)
			case regions != nil && !regions.Known(c):
				ve.Add(f, "unknown region code (not in the loaded region tree)", c)
			case slices.Contains(out, c):
				ve.Add(f, "duplicate region code", c)
			default:
				out = append(out, c)
			}
		}
		return out
	}
	a.Area.Codes = checkCodes("area.codes", in.Area.Codes)
	a.Area.Exclude = checkCodes("area.exclude", in.Area.Exclude)
	for i, p := range in.Area.Polygons {
		if err := checkPolygon(p); err != nil {
			ve.Add(fmt.Sprintf("area.polygons[%d]", i), err.Error(), Clip(p, 60))
		}
	}
	for i, c := range in.Area.Circles {
		if err := checkCircle(c); err != nil {
			ve.Add(fmt.Sprintf("area.circles[%d]", i), err.Error(), c)
		}
	}
	a.Area.Polygons = in.Area.Polygons
	a.Area.Circles = in.Area.Circles

	// Audience.
	for i, g := range in.Audience.Groups {
		if groupKnown != nil && !groupKnown(g) {
			ve.Add(fmt.Sprintf("audience.groups[%d]", i), "unknown population group (GET /api/v1/groups)", g)
		}
	}
	a.Audience.Groups = dedupe(in.Audience.Groups)
	for i, l := range in.Audience.Languages {
		if !slices.Contains(Languages, l) {
			ve.Add(fmt.Sprintf("audience.languages[%d]", i), "must be zh or ug", l)
		}
	}
	a.Audience.Languages = dedupe(in.Audience.Languages)

	// Channels.
	if len(in.Channels) == 0 {
		ve.Add("channels", "at least one of speaker, sms, websocket, voice is required", "")
	}
	for i, c := range in.Channels {
		if !slices.Contains(ChannelNames, c) {
			ve.Add(fmt.Sprintf("channels[%d]", i), "must be speaker, sms, websocket or voice", c)
		}
	}
	a.Channels = dedupe(in.Channels)

	// Text: every language the audience may speak must be written.
	need := a.Audience.Languages
	if len(need) == 0 {
		need = Languages
	}
	for _, l := range need {
		if _, ok := in.Text[l]; !ok {
			ve.Add("text."+l, "required: the warning must be written in every audience language (zh and ug unless audience.languages narrows it)", "")
		}
	}
	langs := make([]string, 0, len(in.Text))
	for l := range in.Text {
		langs = append(langs, l)
	}
	sort.Strings(langs)
	for _, l := range langs {
		t := in.Text[l]
		if !slices.Contains(Languages, l) {
			ve.Add("text."+l, "unsupported language: want zh or ug", l)
			continue
		}
		t.Headline = strings.TrimSpace(t.Headline)
		t.Description = strings.TrimSpace(t.Description)
		t.Instruction = strings.TrimSpace(t.Instruction)
		checkText := func(field, s string, max int, required bool) {
			n := utf8.RuneCountInString(s)
			switch {
			case !utf8.ValidString(s):
				ve.Add(field, "must be valid UTF-8", "")
			case required && n == 0:
				ve.Add(field, "required", "")
			case n > max:
				ve.Add(field, fmt.Sprintf("at most %d characters (has %d)", max, n), "")
			}
		}
		checkText("text."+l+".headline", t.Headline, MaxHeadline, true)
		checkText("text."+l+".description", t.Description, MaxDescription, false)
		checkText("text."+l+".instruction", t.Instruction, MaxInstruction, false)
		a.Text[l] = t
	}

	a.Action = validateAction(in.Action, &ve)

	// Times.
	if in.Onset != "" {
		if a.Onset, err = parseTime(in.Onset); err != nil {
			ve.Add("onset", err.Error(), in.Onset)
		}
	}
	if in.Expires == "" {
		ve.Add("expires", "required (RFC 3339 with a time zone, e.g. 2030-01-01T18:00:00+08:00)", "")
	} else if a.Expires, err = parseTime(in.Expires); err != nil {
		ve.Add("expires", err.Error(), in.Expires)
	} else if !a.Expires.After(now) {
		ve.Add("expires", "must be in the future", in.Expires)
	} else if !a.Onset.IsZero() && !a.Expires.After(a.Onset) {
		ve.Add("expires", "must be after onset", in.Expires)
	}
	if in.Rebroadcast != "" {
		if _, err := ParseSchedule(in.Rebroadcast); err != nil {
			ve.Add("rebroadcast", err.Error(), in.Rebroadcast)
		}
		a.Rebroadcast = in.Rebroadcast
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	return a, nil
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("must be RFC 3339 with a time zone, e.g. 2030-01-01T18:00:00+08:00")
	}
	return t, nil
}

func IsDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// newID returns a time-ordered, URL-safe warning id such as
// "A5ZK3JQ2M4XDPW7Q": 48 bits of milliseconds then 32 random bits.
func NewID(now time.Time) string {
	var b [10]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return "A" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}
