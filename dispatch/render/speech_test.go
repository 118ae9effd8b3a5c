package render

import (
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
	"github.com/alertcast/alertcast/wording/wordingtest"
)

func speechAlert(kind warning.Kind) *dispatch.Alert {
	a := &dispatch.Alert{ID: "a1", Version: 2, Event: warning.EventSandstorm, Level: warning.LevelOrange,
		Status: warning.StatusActual, Kind: kind, IssuedAt: wordingtest.Sent.Add(3 * time.Hour),
		Expires: wordingtest.Sent.Add(6 * time.Hour),
		Text: map[string]dispatch.Text{
			"zh": {Headline: "疏勒县沙尘暴橙色预警", Description: wordingtest.DescriptionZh, Instruction: wordingtest.InstructionZh},
			"ug": {Headline: "قۇم-بوران ئاپېلسىن رەڭلىك ئاگاھلاندۇرۇش", Instruction: wordingtest.InstructionUg},
		}}
	if kind == warning.KindAllClear || kind == warning.KindCancel {
		a.Reason = wordingtest.Reason
	}
	if kind == warning.KindUpdate {
		a.Changes = []dispatch.ChangeKind{dispatch.ChangeRaise}
		a.Level = warning.LevelRed
	}
	return a
}

// The loudspeaker says what the SMS says: an all-clear with its reason and
// without the old instruction; an update what changed.
func TestSpeechFollowsTheLifecycle(t *testing.T) {
	for _, kind := range []warning.Kind{warning.KindCancel, warning.KindAllClear} {
		segs := Speech(speechAlert(kind))
		if len(segs) != 2 {
			t.Fatalf("%s: %d segments", kind, len(segs))
		}
		for _, s := range segs {
			if strings.Contains(s.Text, "转移") || strings.Contains(s.Text, wordingtest.InstructionUg) || strings.Contains(s.Text, "能见度低于500米") {
				t.Errorf("%s %s repeats the warning: %q", kind, s.Lang, s.Text)
			}
			if !strings.Contains(s.Text, strings.TrimSuffix(wordingtest.Reason, "。")) {
				t.Errorf("%s %s without the reason: %q", kind, s.Lang, s.Text)
			}
		}
	}
	if got := Speech(speechAlert(warning.KindAllClear))[0].Text; got != "12月03日18时11分（北京时间）解除疏勒县沙尘暴橙色预警。原因：沙尘暴已减弱，能见度恢复到5公里以上" {
		t.Errorf("zh all-clear speech: %q", got)
	}
	up := Speech(speechAlert(warning.KindUpdate))[0].Text
	if !strings.Contains(up, "预警级别升为红色") || !strings.Contains(up, wordingtest.InstructionZh[:len(wordingtest.InstructionZh)-len("。")]) {
		t.Errorf("zh update speech: %q", up)
	}
	al := Speech(speechAlert(warning.KindAlert))[0].Text
	if al != "疏勒县沙尘暴橙色预警。预计今天下午有强沙尘暴，能见度低于500米。请关好门窗，减少外出，请立即听从指挥转移到安全地点" {
		t.Errorf("zh alert speech: %q", al)
	}
}
