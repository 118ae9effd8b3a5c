package sms_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/warning"
	"github.com/alertcast/alertcast/wording/wordingtest"
)

// TestRenderLifecycleGolden renders every kind × status × language and keeps
// the text in testdata/lifecycle (go test -update rewrites them; read them
// side by side with the other channels' goldens of the same cases).
func TestRenderLifecycleGolden(t *testing.T) {
	for _, c := range wordingtest.Cases() {
		for _, lang := range []string{"zh", "ug"} {
			t.Run(c.Name+"_"+lang, func(t *testing.T) {
				r, err := sms.Render(c.Msg, lang, sms.Config{})
				if err != nil {
					t.Fatal(err)
				}
				golden(t, filepath.Join("testdata", "lifecycle", c.Name+"_"+lang+".txt"), r.Text+"\n")
				checkLifecycle(t, c.Msg, lang, r.Text)
			})
		}
	}
}

// checkLifecycle is what must hold whatever the wording: markers, the
// reason and no old instruction at the end, what changed in an update.
func checkLifecycle(t *testing.T, m *channels.Message, lang, text string) {
	t.Helper()
	if !strings.HasPrefix(text, sms.DefaultSignature) {
		t.Errorf("no signature: %q", text)
	}
	markers := map[string]map[string]string{
		"zh": {"exercise": "【演练】", "test": "【测试】"},
		"ug": {"exercise": "«مەشىق»", "test": "«سىناق»"},
	}
	for st, mk := range markers[lang] {
		if got, want := strings.Contains(text, mk), m.Status.String() == st; got != want {
			t.Errorf("status %s: marker %s present=%v: %q", m.Status, mk, got, text)
		}
	}
	if strings.Contains(text, "DRILL") || strings.Contains(text, "[") {
		t.Errorf("English tag in a resident's SMS: %q", text)
	}
	instr := map[string]string{"zh": wordingtest.InstructionZh, "ug": wordingtest.InstructionUg}[lang]
	switch m.Kind {
	case warning.KindCancel, warning.KindAllClear:
		if strings.Contains(text, instr) || strings.Contains(text, "转移") {
			t.Errorf("%s repeats the old instruction: %q", m.Kind, text)
		}
		if strings.Contains(text, wordingtest.DescriptionZh) {
			t.Errorf("%s repeats the old description: %q", m.Kind, text)
		}
		if !strings.Contains(text, wordingtest.Reason) {
			t.Errorf("%s without its reason: %q", m.Kind, text)
		}
		word := map[warning.Kind]map[string]string{
			warning.KindAllClear: {"zh": "解除", "ug": "ئەمەلدىن قالدۇرۇلدى"},
			warning.KindCancel:   {"zh": "撤销", "ug": "قايتۇرۇۋېلىندى"},
		}[m.Kind][lang]
		if !strings.Contains(text, word) {
			t.Errorf("%s does not say %s: %q", m.Kind, word, text)
		}
	case warning.KindUpdate:
		want := map[string][]string{"zh": {"更新", "升为红色", "范围扩大", "有效期延长至12月04日03时11分（北京时间）", wordingtest.UpdatedDescriptionZh},
			"ug": {"يېڭىلاندى", "قىزىل غا ئۆستۈرۈلدى", "كېڭەيتىلدى", "بېيجىڭ ۋاقتى"}}[lang]
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("update does not say %q: %q", w, text)
			}
		}
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	wordingtest.Golden(t, path, got, *update, "run go test -update")
}
