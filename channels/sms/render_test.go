package sms_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/linxGnu/gosmpp/data"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/warning"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func renderMsg(drill bool, texts map[string]channels.Text) *channels.Message {
	st := warning.StatusActual
	if drill {
		st = warning.StatusExercise
	}
	return &channels.Message{Key: "a/v1", Level: warning.LevelOrange, Status: st, Texts: texts}
}

const longZh = "受强冷空气和蒙古气旋共同影响，预计今天下午到夜间我县大部分乡镇将出现强沙尘暴天气，" +
	"能见度小于500米，局地小于50米，并伴有8至10级偏北大风，阵风可达11级。沙尘暴将对交通、设施农业、" +
	"畜牧业和人体健康造成严重影响，各乡镇请做好防范准备，牧区请及时转移畜群，学校请停止户外活动，" +
	"在建工地请停止高空作业并加固临时设施，道路运输企业请注意行车安全。"

func TestRenderGolden(t *testing.T) {
	zh := channels.Text{Headline: "沙尘暴橙色预警", Description: "预计今天下午有强沙尘暴，能见度低于500米。", Instruction: "请关好门窗，减少外出。"}
	ug := channels.Text{Headline: "قۇم-بوران ئاپېلسىن رەڭلىك ئاگاھلاندۇرۇش",
		Description: "بۈگۈن چۈشتىن كېيىن كۈچلۈك قۇم-بوران چىقىدۇ، كۆرۈنۈشچانلىقى 500 مېتىردىن تۆۋەن.",
		Instruction: "ئىشىك-دېرىزىلەرنى ئېتىۋېلىڭ، سىرتقا چىقىشنى ئازايتىڭ."}
	cases := []struct {
		name string
		m    *channels.Message
		lang string
		cfg  sms.Config
	}{
		{"zh", renderMsg(false, map[string]channels.Text{"zh": zh}), "zh", sms.Config{}},
		{"zh_drill", renderMsg(true, map[string]channels.Text{"zh": zh}), "zh", sms.Config{}},
		{"ug", renderMsg(false, map[string]channels.Text{"ug": ug, "zh": zh}), "ug", sms.Config{}},
		{"ug_drill", renderMsg(true, map[string]channels.Text{"ug": ug}), "ug", sms.Config{}},
		{"mixed", renderMsg(false, map[string]channels.Text{"zh": {Headline: "G314国道封闭", Description: "Kashgar–Shule段因大风封闭, 预计18:00恢复。", Instruction: "详询12328。"}}), "zh", sms.Config{}},
		{"gsm7", renderMsg(false, map[string]channels.Text{"en": {Headline: "Gale warning", Description: "Winds of 8-10 {Beaufort} expected after 14:00; gusts to 11.", Instruction: "Stay indoors & secure loose objects. Info: www.example.org/~wx"}}), "en", sms.Config{Signature: "[Shule EMB]"}},
		{"gsm7_long", renderMsg(false, map[string]channels.Text{"en": {Headline: "Flood warning", Description: strings.Repeat("River levels are rising quickly along the Kizil river. ", 8), Instruction: "Move to higher ground now."}}), "en", sms.Config{Signature: "[Shule EMB]", MaxParts: 2}},
		{"zh_long_shortened", renderMsg(false, map[string]channels.Text{"zh": {Headline: "沙尘暴红色预警", Description: longZh, Instruction: "请立即停止户外活动，关好门窗，老人儿童留在室内。"}}), "zh", sms.Config{MaxParts: 3}},
		{"fallback_default_language", renderMsg(false, map[string]channels.Text{"zh": zh}), "ug", sms.Config{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := sms.Render(tc.m, tc.lang, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkRendered(t, r, tc.cfg)
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(r); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			path := filepath.Join("testdata", "render", tc.name+".golden")
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("rendering changed:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// checkRendered holds for every rendering: the segments are the text, each
// fits its part, the encoding is the cheapest that can carry the text, the
// signature leads, and the part cap is kept.
func checkRendered(t *testing.T, r sms.Rendered, cfg sms.Config) {
	t.Helper()
	if strings.Join(r.Segments, "") != r.Text {
		t.Errorf("segments do not join to the text")
	}
	if r.Parts != len(r.Segments) {
		t.Errorf("Parts %d, %d segments", r.Parts, len(r.Segments))
	}
	max := cfg.MaxParts
	if max == 0 {
		max = sms.DefaultMaxParts
	}
	if r.Parts > max {
		t.Errorf("%d parts over the cap %d", r.Parts, max)
	}
	sig := cfg.Signature
	if sig == "" {
		sig = sms.DefaultSignature
	}
	if !strings.HasPrefix(r.Text, sig) {
		t.Errorf("text does not start with the signature %q", sig)
	}
	gsm := len(data.ValidateGSM7String(r.Text)) == 0
	if gsm != (r.Encoding == sms.GSM7) {
		t.Errorf("encoding %s for a text whose GSM-7 fitness is %v", r.Encoding, gsm)
	}
	for i, s := range r.Segments {
		var units, limit int
		if r.Encoding == sms.GSM7 {
			for _, c := range s {
				units++
				if data.IsEscapeChar(c) {
					units++
				}
			}
			limit = 160
			if r.Parts > 1 {
				limit = 153
			}
		} else {
			units = len(utf16.Encode([]rune(s)))
			limit = 70
			if r.Parts > 1 {
				limit = 67
			}
		}
		if units > limit {
			t.Errorf("part %d: %d units over %d", i+1, units, limit)
		}
		if units == 0 {
			t.Errorf("part %d empty", i+1)
		}
	}
}

func TestRenderShortensDescriptionFirst(t *testing.T) {
	instr := "请立即停止户外活动，关好门窗。"
	m := renderMsg(false, map[string]channels.Text{"zh": {Headline: "沙尘暴红色预警", Description: longZh, Instruction: instr}})
	for parts := 1; parts <= 3; parts++ {
		r, err := sms.Render(m, "zh", sms.Config{MaxParts: parts})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Shortened || r.Parts > parts {
			t.Fatalf("MaxParts %d: %d parts, shortened %v", parts, r.Parts, r.Shortened)
		}
		if !strings.Contains(r.Text, "沙尘暴红色预警") {
			t.Errorf("MaxParts %d: headline lost: %s", parts, r.Text)
		}
		if parts >= 2 && !strings.HasSuffix(r.Text, instr) {
			t.Errorf("MaxParts %d: instruction not kept whole: %s", parts, r.Text)
		}
		// Using the room well: one more rune of description would not fit.
		if parts >= 2 && r.Parts != parts {
			t.Errorf("MaxParts %d: shortened to %d parts, wasting room", parts, r.Parts)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	if _, err := sms.Render(renderMsg(false, map[string]channels.Text{"zh": {Description: "x"}}), "zh", sms.Config{}); err == nil || !strings.Contains(err.Error(), "texts.zh.headline") {
		t.Errorf("missing headline: %v", err)
	}
	if _, err := sms.Render(renderMsg(true, map[string]channels.Text{"zh": {Headline: "x"}}), "zh", sms.Config{MaxParts: 1, Signature: strings.Repeat("签", 80)}); err == nil || !strings.Contains(err.Error(), "sms.max_parts") {
		t.Errorf("signature too long for one part: %v", err)
	}
}

// Property: random mixes of Chinese, Uyghur, Latin, GSM escapes and emoji
// always render within the cap, with parts that fit and join to the text.
func TestRenderProperties(t *testing.T) {
	alphabet := []rune("沙尘暴预警请关好门窗ئاگاھلاندۇرۇشabcXYZ 0123,.:;!?{}[]~^€|\\😀🌪")
	rng := rand.New(rand.NewPCG(1, 2))
	randText := func(n int) string {
		b := make([]rune, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	gsmOnly := []rune("abcXYZ 0123,.:;!?{}[]~^€|\\")
	for i := range 500 {
		var tx channels.Text
		if i%3 == 0 {
			b := make([]rune, 20+rng.IntN(600))
			for k := range b {
				b[k] = gsmOnly[rng.IntN(len(gsmOnly))]
			}
			tx = channels.Text{Headline: "Alert", Description: string(b), Instruction: "Stay safe"}
		} else {
			tx = channels.Text{Headline: "H" + randText(rng.IntN(30)), Description: randText(rng.IntN(500)), Instruction: randText(rng.IntN(80))}
		}
		cfg := sms.Config{MaxParts: 1 + rng.IntN(6), Signature: "[S]"}
		r, err := sms.Render(renderMsg(i%2 == 0, map[string]channels.Text{"zh": tx}), "zh", cfg)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		checkRendered(t, r, cfg)
	}
}

func TestPreview(t *testing.T) {
	m := renderMsg(true, map[string]channels.Text{
		"zh": {Headline: "沙尘暴橙色预警", Description: longZh, Instruction: "请关好门窗。"},
		"ug": {Headline: "قۇم-بوران ئاگاھلاندۇرۇشى", Instruction: "ئىشىك-دېرىزىلەرنى ئېتىۋېلىڭ."},
	})
	p, err := sms.Preview(m, sms.Config{MaxParts: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 2 || p["zh"].Parts != 2 || !p["zh"].Shortened || p["ug"].Parts != 2 || p["ug"].Shortened || !strings.Contains(p["ug"].Text, "مەشىق") {
		t.Errorf("preview %+v", p)
	}
}
