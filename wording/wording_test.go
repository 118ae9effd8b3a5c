package wording_test

import (
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
	"github.com/alertcast/alertcast/wording"
	"github.com/alertcast/alertcast/wording/wordingtest"
)

func TestTimeNamesBeijing(t *testing.T) {
	at := time.Date(2026, 12, 3, 7, 11, 0, 0, time.UTC) // 15:11 in Beijing
	for lang, want := range map[string]string{
		"zh": "12月03日15时11分（北京时间）",
		"ug": "2026-12-03 15:11 (بېيجىڭ ۋاقتى)",
		"en": "03 Dec 15:11 BJT",
		"xx": "12月03日15时11分（北京时间）", // unknown language: Mandarin
	} {
		if got := wording.Time(at, lang); got != want {
			t.Errorf("Time(%s) = %q, want %q", lang, got, want)
		}
	}
}

func TestMarker(t *testing.T) {
	for _, tc := range []struct{ status, lang, want string }{
		{"exercise", "zh", "【演练】"}, {"test", "zh", "【测试】"},
		{"exercise", "ug", "«مەشىق» "}, {"test", "ug", "«سىناق» "},
		{"exercise", "en", "[DRILL] "}, {"test", "en", "[TEST] "},
		{"actual", "zh", ""}, {"actual", "ug", ""}, {"", "zh", ""},
	} {
		if got := wording.Marker(tc.status, tc.lang); got != tc.want {
			t.Errorf("Marker(%s,%s) = %q, want %q", tc.status, tc.lang, got, tc.want)
		}
	}
	for st, want := range map[warning.Status]string{warning.StatusExercise: "«مەشىق» ", warning.StatusTest: "«سىناق» ", warning.StatusActual: ""} {
		if got := wording.MarkerOf(&channels.Message{Status: st}, "ug"); got != want {
			t.Errorf("MarkerOf(%s) = %q, want %q", st, got, want)
		}
	}
}

func TestComposeAllClearNeverRepeatsTheInstruction(t *testing.T) {
	for _, lang := range []string{"zh", "ug", "en"} {
		for _, k := range []warning.Kind{warning.KindCancel, warning.KindAllClear} {
			m := wordingtest.Message(k, warning.StatusActual)
			got := wording.Compose(m, lang)
			if got.Instruction != "" {
				t.Errorf("%s %s: instruction %q", k, lang, got.Instruction)
			}
			if !strings.Contains(got.Description, wordingtest.Reason) {
				t.Errorf("%s %s: no reason in %q", k, lang, got.Description)
			}
			if strings.Contains(got.Description, wordingtest.DescriptionZh) {
				t.Errorf("%s %s: old description in %q", k, lang, got.Description)
			}
		}
	}
	// No reason given: it says so rather than leaving a bare label.
	m := wordingtest.Message(warning.KindAllClear, warning.StatusActual)
	m.Reason = " "
	if got := wording.Compose(m, "zh").Description; got != "原因：未说明" {
		t.Errorf("no reason: %q", got)
	}
	// An officer who wrote the lifecycle word in the headline does not get it twice.
	m.Texts["zh"] = channels.Text{Headline: "解除疏勒县沙尘暴橙色预警"}
	if got := wording.Compose(m, "zh").Headline; strings.Count(got, "解除") != 1 {
		t.Errorf("headline %q", got)
	}
}

func TestComposeUpdateSaysWhatChanged(t *testing.T) {
	m := wordingtest.Message(warning.KindUpdate, warning.StatusActual)
	got := wording.Compose(m, "zh")
	want := "变更：预警级别升为红色；预警范围扩大；有效期延长至12月04日03时11分（北京时间）；预警内容更新。" + wordingtest.UpdatedDescriptionZh
	if got.Description != want || got.Headline != "更新：疏勒县沙尘暴红色预警" || got.Instruction != wordingtest.InstructionZh {
		t.Errorf("update: %+v\nwant description %q", got, want)
	}
	m.Changes = []string{"lower", "narrow", "shorten"}
	m.Level = 2
	if got := wording.Changes(m, "zh"); got != "预警级别降为黄色；预警范围缩小；有效期缩短至12月04日03时11分（北京时间）" {
		t.Errorf("lowered: %q", got)
	}
	m.Changes = nil // nothing listed: the description alone
	if got := wording.Compose(m, "zh").Description; got != wordingtest.UpdatedDescriptionZh {
		t.Errorf("no changes: %q", got)
	}
}

func TestComposeAlertIsTheOfficersText(t *testing.T) {
	m := wordingtest.Message(warning.KindAlert, warning.StatusActual)
	if got := wording.Compose(m, "ug"); got != m.Texts["ug"] {
		t.Errorf("alert ug: %+v", got)
	}
	// A language the warning lacks: Mandarin rather than nothing.
	if got := wording.Compose(m, "en"); got != m.Texts["zh"] {
		t.Errorf("alert en fallback: %+v", got)
	}
}
