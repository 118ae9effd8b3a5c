package engine

import (
	"testing"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
)

func TestQueueFor(t *testing.T) {
	cases := map[warning.Level]string{warning.LevelRed: QueueCritical, warning.LevelOrange: QueueCritical, warning.LevelYellow: QueueHigh, warning.LevelBlue: QueueDefault}
	for l, q := range cases {
		if got := QueueFor(&dispatch.Alert{Level: l, Status: warning.StatusActual}); got != q {
			t.Errorf("%v → %s, want %s", l, got, q)
		}
	}
	if got := QueueFor(&dispatch.Alert{Level: warning.LevelRed, Status: warning.StatusExercise}); got != QueueLow {
		t.Errorf("a red drill must not compete with real warnings: %s", got)
	}
}
