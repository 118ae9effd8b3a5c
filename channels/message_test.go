package channels_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
)

func validMessage() *channels.Message {
	return &channels.Message{Key: "a1/v2", AlertID: "a1", Version: 2, Kind: warning.KindUpdate,
		Level: warning.LevelOrange, Event: warning.EventSandstorm, Status: warning.StatusExercise,
		Sent: time.Date(2026, 12, 3, 7, 11, 0, 0, time.UTC), Expires: time.Date(2026, 12, 3, 13, 11, 0, 0, time.UTC),
		Area: []string{"653122"}, Texts: map[string]channels.Text{"zh": {Headline: "沙尘暴橙色预警"}},
		Reason: "r", Changes: []string{"raise"}}
}

// TestMessageJSONShape: the JSON of a Message is what it was when the
// warning was flattened into it: the level as a number beside its colour,
// the event code beside its Chinese name, the drill flag beside the status.
func TestMessageJSONShape(t *testing.T) {
	b, err := json.Marshal(validMessage())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"key":"a1/v2","alert_id":"a1","version":2,"kind":"update","level":3,"level_name":"orange",` +
		`"event":"sandstorm","event_name":"沙尘暴","drill":true,"status":"exercise",` +
		`"sent":"2026-12-03T07:11:00Z","expires":"2026-12-03T13:11:00Z","area":["653122"],` +
		`"texts":{"zh":{"headline":"沙尘暴橙色预警","description":"","instruction":""}},"reason":"r","changes":["raise"]}`
	if string(b) != want {
		t.Fatalf("JSON\n got %s\nwant %s", b, want)
	}
	var back channels.Message
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Level != warning.LevelOrange || back.Event != warning.EventSandstorm || back.Status != warning.StatusExercise || !back.Drill() {
		t.Errorf("round trip lost the vocabulary: %+v", back)
	}
	if err := back.Validate(); err != nil {
		t.Errorf("round-tripped message invalid: %v", err)
	}
	// A level out of range decodes as unknown, which Validate names.
	var bad channels.Message
	if err := json.Unmarshal([]byte(strings.Replace(want, `"level":3`, `"level":7`, 1)), &bad); err != nil {
		t.Fatal(err)
	}
	if bad.Level != warning.LevelUnknown || !fieldIs(bad.Validate(), "message.level") {
		t.Errorf("level 7 decoded as %v, Validate %v", bad.Level, bad.Validate())
	}
}

func TestMessageDrillFollowsStatus(t *testing.T) {
	for st, drill := range map[warning.Status]bool{warning.StatusActual: false, warning.StatusExercise: true, warning.StatusTest: true} {
		if got := (&channels.Message{Status: st}).Drill(); got != drill {
			t.Errorf("%s: Drill() = %v", st, got)
		}
	}
}

func fieldIs(err error, field string) bool {
	var fe *warning.FieldError
	return errors.As(err, &fe) && fe.Field == field
}

// TestMessageValidate: each rule names its field; a valid message passes.
func TestMessageValidate(t *testing.T) {
	if err := validMessage().Validate(); err != nil {
		t.Fatalf("valid message: %v", err)
	}
	var nilMsg *channels.Message
	if !fieldIs(nilMsg.Validate(), "message") {
		t.Errorf("nil message: %v", nilMsg.Validate())
	}
	for _, tc := range []struct {
		field  string
		break_ func(m *channels.Message)
	}{
		{"message.key", func(m *channels.Message) { m.Key = "" }},
		{"message.alert_id", func(m *channels.Message) { m.AlertID = "" }},
		{"message.version", func(m *channels.Message) { m.Version = -1 }},
		{"message.kind", func(m *channels.Message) { m.Kind = warning.KindUnknown }},
		{"message.kind", func(m *channels.Message) { m.Kind = warning.KindAllClear + 1 }},
		{"message.level", func(m *channels.Message) { m.Level = warning.LevelUnknown }},
		{"message.level", func(m *channels.Message) { m.Level = warning.LevelRed + 1 }},
		{"message.status", func(m *channels.Message) { m.Status = warning.StatusUnknown }},
		{"message.status", func(m *channels.Message) { m.Status = warning.StatusTest + 1 }},
		{"message.event", func(m *channels.Message) { m.Event = warning.EventUnknown }},
		{"message.event", func(m *channels.Message) { m.Event = warning.Event(999) }},
	} {
		m := validMessage()
		tc.break_(m)
		if err := m.Validate(); !fieldIs(err, tc.field) {
			t.Errorf("want an error naming %s, got %v", tc.field, err)
		}
	}
}
