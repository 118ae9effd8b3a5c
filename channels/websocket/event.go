package websocket

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
	"github.com/alertcast/alertcast/wording"
)

// Warning is the public JSON form of one warning version, as subscribers see
// it in "warning" events and in snapshots.
type Warning struct {
	Type      string                   `json:"type,omitempty"` // "warning" in events, empty inside a snapshot
	ID        string                   `json:"id,omitempty"`   // event id (Redis stream id)
	AlertID   string                   `json:"alert_id"`
	Version   int                      `json:"version"`
	Kind      string                   `json:"kind"`   // alert, update, cancel, allclear
	Lifted    bool                     `json:"lifted"` // cancel or allclear: remove it from the screen
	Level     int                      `json:"level"`  // 1 blue … 4 red
	LevelName string                   `json:"level_name"`
	Event     string                   `json:"event"`
	EventName string                   `json:"event_name,omitempty"`
	Drill     bool                     `json:"drill"`
	Status    string                   `json:"status"`
	Area      []string                 `json:"area"`
	Texts     map[string]channels.Text `json:"texts"`
	Sent      time.Time                `json:"sent"`
	Expires   time.Time                `json:"expires"`
	// Reason is the officer's reason for a cancel or all-clear.
	Reason string `json:"reason,omitempty"`
	// ShowUntil is, for a lifted warning, until when pages show it as a
	// notice (Sent + Config.LiftedFor); zero: not at all.
	ShowUntil time.Time `json:"show_until,omitzero"`
}

// until is when w leaves the screen: its expiry, or for a lifted warning
// the end of its notice.
func (w *Warning) until() time.Time {
	if w.Lifted {
		return w.ShowUntil
	}
	return w.Expires
}

// warningFrom renders a channel message as its public event.
func warningFrom(m *channels.Message) *Warning {
	k := m.Kind
	return &Warning{
		AlertID: m.AlertID, Version: m.Version, Kind: k.String(),
		Lifted: k == warning.KindCancel || k == warning.KindAllClear,
		Level:  int(m.Level), LevelName: m.Level.String(), Event: m.Event.String(), EventName: m.Event.Chinese(),
		Drill: m.Status.Drill(), Status: m.Status.String(),
		Area: m.Area, Texts: composedTexts(m), Sent: m.Sent.UTC(), Expires: m.Expires.UTC(), Reason: m.Reason,
	}
}

// composedTexts is what a resident reads at this step of the warning's life
// (package wording, the same words as the SMS): an update says what
// changed; a cancel or all-clear says so with its reason and carries no
// instruction.
func composedTexts(m *channels.Message) map[string]channels.Text {
	if m.Kind == warning.KindAlert {
		return m.Texts
	}
	out := make(map[string]channels.Text, len(m.Texts))
	for l := range m.Texts {
		out[l] = wording.Compose(m, l)
	}
	return out
}

// langVariants are the renderings kept per event: every language, or one.
var langVariants = [...]string{"", "zh", "ug"}

func variantIndex(lang string) int {
	for i, l := range langVariants {
		if l == lang {
			return i
		}
	}
	return 0
}

// forLang returns a shallow copy with only lang's text, falling back to all
// texts when the warning has none in lang (better another language than
// nothing).
func (w *Warning) forLang(lang string) *Warning {
	if lang == "" {
		return w
	}
	t, ok := w.Texts[lang]
	if !ok {
		return w
	}
	c := *w
	c.Texts = map[string]channels.Text{lang: t}
	return &c
}

// event is one warning event as the fan-out handles it: parsed once, encoded
// once per language variant, framed once for every WebSocket connection.
type event struct {
	sid    streamID
	w      *Warning
	frames [len(langVariants)]*frame
	// matched is how many local subscribers the event was for when it was
	// applied (the Send result's detail); guarded by h.mu.
	matched int
}

func newEvent(id streamID, w *Warning) (*event, error) {
	w.Type = "warning"
	w.ID = id.String()
	e := &event{sid: id, w: w}
	for i, lang := range langVariants {
		b, err := json.Marshal(w.forLang(lang))
		if err != nil {
			return nil, fmt.Errorf("encode warning %s: %w", w.AlertID, err)
		}
		f, err := newFrame("warning", w.ID, b)
		if err != nil {
			return nil, err
		}
		e.frames[i] = f
	}
	return e, nil
}

// frame is one message to a subscriber, ready for both transports.
type frame struct {
	typ  string // SSE event name
	id   string // SSE id; empty for frames that do not move the resume point
	data []byte // the JSON object
	wire []byte // the whole WebSocket text frame, for frames written many times
}

func newFrame(typ, id string, data []byte) (*frame, error) {
	return &frame{typ: typ, id: id, data: data, wire: wireFrame(opText, data)}, nil
}

// controlFrame builds a frame for a single subscriber (framed when written:
// it is written once).
func controlFrame(typ, id string, v any) *frame {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"type":"error","code":"internal","message":"encode failed"}`)
	}
	return &frame{typ: typ, id: id, data: b}
}

// pingFrame asks the writer to ping (WebSocket) or send a comment (SSE).
var pingFrame = &frame{typ: "ping"}

// streamID is a Redis stream entry id, ms-seq, ordered.
type streamID struct{ ms, seq uint64 }

func parseStreamID(s string) (streamID, error) {
	ms, seq, ok := strings.Cut(s, "-")
	if !ok || ms == "" || seq == "" || len(s) > 41 {
		return streamID{}, &warning.FieldError{Field: "last_id", Rule: "an event id like 1732000000000-0", Value: clip(s)}
	}
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil {
		return streamID{}, &warning.FieldError{Field: "last_id", Rule: "an event id like 1732000000000-0", Value: clip(s)}
	}
	return streamID{a, b}, nil
}

func (s streamID) String() string {
	return strconv.FormatUint(s.ms, 10) + "-" + strconv.FormatUint(s.seq, 10)
}

func (s streamID) less(o streamID) bool {
	return s.ms < o.ms || (s.ms == o.ms && s.seq < o.seq)
}

func (s streamID) zero() bool { return s.ms == 0 && s.seq == 0 }

// clip shortens a value echoed back in an error.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
