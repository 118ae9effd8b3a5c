package channels

import (
	"encoding/json"
	"time"

	"github.com/alertcast/alertcast/warning"
)

// messageJSON is Message's JSON shape, unchanged since Message carried the
// warning flattened: the level as its number and its colour, the event as
// its code and Chinese name, the drill flag beside the status.
type messageJSON struct {
	Key       string            `json:"key"`
	AlertID   string            `json:"alert_id"`
	Version   int               `json:"version"`
	Kind      warning.Kind      `json:"kind"`
	Level     int               `json:"level"`
	LevelName string            `json:"level_name"`
	Event     string            `json:"event"`
	EventName string            `json:"event_name"`
	Drill     bool              `json:"drill"`
	Status    string            `json:"status"`
	Sent      time.Time         `json:"sent"`
	Expires   time.Time         `json:"expires"`
	Area      []string          `json:"area"`
	Texts     map[string]Text   `json:"texts"`
	Audio     *Audio            `json:"audio,omitempty"`
	Attrs     map[string]string `json:"attrs,omitempty"`
	Reason    string            `json:"reason,omitempty"`
	Changes   []string          `json:"changes,omitempty"`
}

// MarshalJSON encodes m with its level as a number (1 blue … 4 red) and the
// derived names beside the codes.
func (m Message) MarshalJSON() ([]byte, error) {
	return json.Marshal(messageJSON{
		Key: m.Key, AlertID: m.AlertID, Version: m.Version, Kind: m.Kind,
		Level: int(m.Level), LevelName: m.Level.String(),
		Event: m.Event.String(), EventName: m.Event.Chinese(),
		Drill: m.Status.Drill(), Status: m.Status.String(),
		Sent: m.Sent, Expires: m.Expires, Area: m.Area, Texts: m.Texts,
		Audio: m.Audio, Attrs: m.Attrs, Reason: m.Reason, Changes: m.Changes,
	})
}

// UnmarshalJSON decodes what MarshalJSON writes. The derived fields
// (level_name, event_name, drill) are ignored; an unknown level, event or
// status decodes as Unknown, which Validate then refuses by name.
func (m *Message) UnmarshalJSON(b []byte) error {
	var w messageJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	lvl := warning.Level(w.Level)
	if lvl < warning.LevelBlue || lvl > warning.LevelRed {
		lvl = warning.LevelUnknown
	}
	ev, _ := warning.ParseEvent(w.Event)
	st, _ := warning.ParseStatus(w.Status)
	*m = Message{
		Key: w.Key, AlertID: w.AlertID, Version: w.Version, Kind: w.Kind,
		Level: lvl, Event: ev, Status: st,
		Sent: w.Sent, Expires: w.Expires, Area: w.Area, Texts: w.Texts,
		Audio: w.Audio, Attrs: w.Attrs, Reason: w.Reason, Changes: w.Changes,
	}
	return nil
}
