package alertd

import (
	"context"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
)

// TestRenderAlertChoosesTheSignal: what a loudspeaker plays first follows
// the warning's kind and level — each level its own pulsed cadence, the
// all-clear the steady tone, a cancellation its own figure — and a drill or
// test opens with the drill intro before any signal.
func TestRenderAlertChoosesTheSignal(t *testing.T) {
	// Tone-only: the signal is what is tested, and espeak-ng would only
	// slow nine renders down.
	var audioSection yaml.Node
	if err := yaml.Unmarshal([]byte("espeak: \"off\""), &audioSection); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, func(c *Config) { c.Audio = *audioSection.Content[0] })
	text := map[string]dispatch.Text{"zh": {Headline: "沙尘暴预警", Description: "今天有大风。", Instruction: "请回家。"}}
	cases := []struct {
		kind   warning.Kind
		level  warning.Level
		status warning.Status
		want   audio.Signal
	}{
		{warning.KindAlert, warning.LevelBlue, warning.StatusActual, audio.SignalBlue},
		{warning.KindAlert, warning.LevelYellow, warning.StatusActual, audio.SignalYellow},
		{warning.KindAlert, warning.LevelOrange, warning.StatusActual, audio.SignalOrange},
		{warning.KindAlert, warning.LevelRed, warning.StatusActual, audio.SignalRed},
		{warning.KindUpdate, warning.LevelOrange, warning.StatusActual, audio.SignalOrange},
		{warning.KindAllClear, warning.LevelRed, warning.StatusActual, audio.SignalAllClear},
		{warning.KindCancel, warning.LevelRed, warning.StatusActual, audio.SignalCancel},
		{warning.KindAlert, warning.LevelRed, warning.StatusExercise, audio.SignalRed},
		{warning.KindCancel, warning.LevelYellow, warning.StatusTest, audio.SignalCancel},
	}
	for _, c := range cases {
		a := &dispatch.Alert{Kind: c.kind, Level: c.level, Status: c.status, Text: text}
		got, err := s.RenderAlert(context.Background(), a)
		if err != nil {
			t.Fatalf("%v %v %v: %v", c.kind, c.level, c.status, err)
		}
		f, res, err := s.audio.Open(got.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		var first []string
		for _, e := range res.Layout {
			if e.Repeat == 1 && e.Kind != audio.KindPause {
				first = append(first, e.Kind+":"+e.Signal)
			}
		}
		drill := c.status.Drill()
		want := []string{audio.KindAttention + ":" + c.want.String()}
		if drill {
			want = append([]string{audio.KindDrill + ":"}, want...)
		}
		if len(first) < len(want) || first[0] != want[0] || (drill && first[1] != want[1]) {
			t.Errorf("%v %v %v: programme opens with %v, want %v", c.kind, c.level, c.status, first, want)
		}
	}
}
