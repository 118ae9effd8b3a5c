package wording

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
	"github.com/alertcast/alertcast/wording/wordingtest"
)

// speechWhole is Speech as it was before SpeechParts: the oracle.
func speechWhole(m *channels.Message, lang string) string {
	t := Compose(m, lang)
	sep := "。"
	if lang != "zh" {
		sep = ". "
	}
	var parts []string
	for _, s := range []string{t.Headline, t.Description, t.Instruction} {
		if s = strings.TrimRight(strings.TrimSpace(s), "。."); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.TrimSpace(strings.Join(parts, sep))
}

// SpeechParts joins to exactly the speech as it was said whole, for every
// kind, language and guidance, with texts that end in any way; and where
// the speech carries guidance, one part is the guidance sentence, said
// nowhere else.
func TestSpeechPartsJoinToTheSpeech(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 3))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	guides := []*channels.Guidance{nil}
	for _, c := range wordingtest.GuidanceCases() {
		guides = append(guides, c.Guidance)
	}
	split, unsplit := 0, 0
	for i := range 3000 {
		kind := []warning.Kind{warning.KindAlert, warning.KindUpdate, warning.KindCancel, warning.KindAllClear}[i%4]
		m := wordingtest.Message(kind, warning.StatusActual)
		m.Guidance = guides[rng.IntN(len(guides))]
		for _, lang := range []string{"zh", "ug"} {
			txt := m.Texts[lang]
			txt.Headline = pick(txt.Headline, "", "  ", txt.Headline+"。", txt.Headline+".")
			txt.Description = pick(txt.Description, "", "。", txt.Description+" ")
			txt.Instruction = pick(txt.Instruction, "", " ", "。", txt.Instruction+".", "请立即转移")
			m.Texts[lang] = txt
		}
		for _, lang := range []string{"zh", "ug"} {
			parts := SpeechParts(m, lang)
			want := speechWhole(m, lang)
			if got := strings.Join(parts, ""); got != want || Speech(m, lang) != want {
				t.Fatalf("case %d %s %s: parts %q join to %q, want %q", i, kind, lang, parts, got, want)
			}
			for _, p := range parts {
				if strings.TrimSpace(p) == "" {
					t.Fatalf("case %d %s: empty part in %q", i, lang, parts)
				}
			}
			g := strings.TrimRight(Guidance(m.Guidance, lang), "。.")
			if g == "" || !strings.Contains(want, g) {
				if len(parts) > 1 {
					t.Fatalf("case %d %s: no guidance said, yet cut: %q", i, lang, parts)
				}
				continue
			}
			if len(parts) == 1 && strings.TrimRight(parts[0], "。.") == g {
				continue // the guidance is all there is to say
			}
			if len(parts) == 1 {
				unsplit++ // a shape the cut does not know: said whole, as before
				if unsplit < 4 {
					t.Logf("unsplit %s %s: %q", kind, lang, parts)
				}
				continue
			}
			split++
			own := 0
			for _, p := range parts {
				if strings.HasPrefix(p, g) {
					own++
					if rest := strings.TrimRight(strings.TrimSpace(p), "。."); rest != g {
						t.Fatalf("case %d %s: the guidance part says more: %q", i, lang, p)
					}
				} else if strings.Contains(p, g) {
					t.Fatalf("case %d %s: guidance inside a shared part %q", i, lang, p)
				}
			}
			if own != 1 {
				t.Fatalf("case %d %s: guidance in %d parts: %q", i, lang, own, parts)
			}
		}
	}
	if split < 500 || unsplit > 0 {
		t.Fatalf("%d speeches with guidance were cut, %d not", split, unsplit)
	}
}

// The example: a village's speech in three parts, its sentence the middle.
func TestSpeechPartsExample(t *testing.T) {
	m := wordingtest.Message(warning.KindAlert, warning.StatusActual)
	m.Guidance = wordingtest.GuidanceCases()[0].Guidance
	parts := SpeechParts(m, "zh")
	if len(parts) != 3 || parts[1] != "请前往东北方向1.2公里的疏勒镇第一中学避难场所。" || !strings.HasPrefix(parts[0], "疏勒县沙尘暴橙色预警。") {
		t.Fatalf("%q", parts)
	}
	ug := SpeechParts(m, "ug")
	if len(ug) != 3 || !strings.Contains(ug[1], "كىلومېتىر") || !strings.HasSuffix(ug[0], ". ") || strings.HasPrefix(ug[2], " ") {
		t.Fatalf("%q", ug)
	}
	m.Guidance = nil
	if p := SpeechParts(m, "zh"); len(p) != 1 {
		t.Fatalf("without guidance: %q", p)
	}
}
