package audio

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeZh(t *testing.T) {
	tests := []struct{ in, want string }{
		{"500米", "五百米"},
		{"18:00", "十八点"},
		{"18：30", "十八点三十分"},
		{"18:00-20:30", "十八点到二十点三十分"},
		{"注意：大风", "注意：大风"},
		{"18:05前", "十八点零五分前"},
		{"今天18:30起", "今天十八点三十分起"},
		{"-10℃", "零下十摄氏度"},
		{"气温降至-10℃", "气温降至零下十摄氏度"},
		{"最高25°C", "最高二十五摄氏度"},
		{"2026年11月28日", "二零二六年十一月二十八日"},
		{"2026-11-28", "二零二六年十一月二十八日"},
		{"12.5毫米", "十二点五毫米"},
		{"0.5公里", "零点五公里"},
		{"50%", "百分之五十"},
		{"湿度３０％", "湿度百分之三十"},
		{"风速20m/s", "风速二十米每秒"},
		{"风速20米/秒", "风速二十米每秒"},
		{"流量1500m³/s", "流量一千五百立方米每秒"},
		{"10~20毫米", "十到二十毫米"},
		{"10-20毫米", "十到二十毫米"},
		{"请拨打12379", "请拨打幺二三七九"},
		{"报警电话110", "报警电话幺幺零"},
		{"咨询电话0998-6521234", "咨询电话零九九八六五二幺二三四"},
		{"13912345678", "幺三九幺二三四五六七八"},
		{"2,500人", "两千五百人"},
		{"1000", "一千"},
		{"10", "十"},
		{"15", "十五"},
		{"110户", "一百一十户"},
		{"100000", "十万"},
		{"1005", "一千零五"},
		{"10010", "一万零一十"},
		{"200000000", "二亿"},
		{"8级大风", "八级大风"},
		{"第2次", "第二次"},
		{"降温-5", "降温负五"},
		{"沙尘暴\n红色预警", "沙尘暴 红色预警"},
	}
	for _, tt := range tests {
		got, err := NormalizeText(LangZh, tt.in)
		if err != nil || got != tt.want {
			t.Errorf("zh %q → %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if strings.ContainsAny(got, "0123456789%/~:") {
			t.Errorf("zh %q → %q still has digits or symbols", tt.in, got)
		}
	}
}

func TestNormalizeUg(t *testing.T) {
	tests := []struct{ in, want string }{
		{"500 مېتىر", "بەش يۈز مېتىر"},
		{"18:00", "سائەت ئون سەككىز"},
		{"18:00-20:00", "سائەت ئون سەككىز بىلەن سائەت يىگىرمە ئارىلىقىدا"},
		{"سائەت 18:30 دا", "سائەت ئون سەككىز، ئوتتۇز مىنۇت دا"},
		{"-10℃", "نۆلدىن تۆۋەن ئون گرادۇس"},
		{"12.5", "ئون ئىككى پۈتۈن ئوندىن بەش"},
		{"2026-يىلى", "ئىككى مىڭ يىگىرمە ئالتىنچى يىلى"},
		{"6-ئاينىڭ", "ئالتىنچى ئاينىڭ"},
		{"1-كۈنى", "بىرىنچى كۈنى"},
		{"2-قېتىم", "ئىككىنچى قېتىم"},
		{"50%", "يۈزدە ئەللىك"},
		{"20m/s", "سېكۇنتىغا يىگىرمە مېتىر"},
		{"10-20 مىللىمېتىر", "ئون بىلەن يىگىرمە ئارىلىقىدا مىللىمېتىر"},
		{"110 غا تېلېفون قىلىڭ", "بىر بىر نۆل غا تېلېفون قىلىڭ"},
		{"تېلېفون نومۇرى 12379", "تېلېفون نومۇرى بىر ئىككى ئۈچ يەتتە توققۇز"},
		{"110 ئائىلە", "يۈز ئون ئائىلە"},
		{"13912345678", "بىر ئۈچ توققۇز بىر ئىككى ئۈچ تۆت بەش ئالتە يەتتە سەككىز"},
		{"100", "يۈز"},
		{"1000", "مىڭ"},
		{"2500", "ئىككى مىڭ بەش يۈز"},
		{"1000000", "بىر مىليون"},
		{"35", "ئوتتۇز بەش"},
	}
	for _, tt := range tests {
		got, err := NormalizeText(LangUg, tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ug %q → %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if strings.ContainsAny(got, "0123456789%/~:") {
			t.Errorf("ug %q → %q still has digits or symbols", tt.in, got)
		}
	}
}

func TestNormalizeRejects(t *testing.T) {
	cases := []struct {
		lang, text string
		want       error
	}{
		{"zh", "", ErrEmptyText},
		{"zh", "   \n ", ErrEmptyText},
		{"zh", "。。，！", ErrEmptyText},
		{"ug", "", ErrEmptyText},
		{"zh", strings.Repeat("风", MaxSegmentRunes+1), ErrTextTooLong},
		{"en", "hello", ErrUnsupportedLanguage},
		{"", "你好", ErrUnsupportedLanguage},
		{"zh-CN", "你好", ErrUnsupportedLanguage},
		{"zh", "\xff\xfe", ErrInvalidProgramme},
	}
	for _, c := range cases {
		if _, err := NormalizeText(c.lang, c.text); !errors.Is(err, c.want) {
			t.Errorf("NormalizeText(%q, %.20q) = %v, want %v", c.lang, c.text, err, c.want)
		}
	}
	if _, err := NormalizeText("zh", strings.Repeat("风", MaxSegmentRunes)); err != nil {
		t.Errorf("text at the limit refused: %v", err)
	}
}

// FuzzNormalizeText: officers type anything; the normaliser never panics,
// never returns digits, and is stable (normalising twice changes nothing).
func FuzzNormalizeText(f *testing.F) {
	for _, s := range []string{"500米", "18:00", "-10℃", "2026-11-28", "12.5%", "10~20m/s", "سائەت 18:30", "8-دەرىجىلىك", "1,000,000,000,000,000"} {
		f.Add("zh", s)
		f.Add("ug", s)
	}
	f.Fuzz(func(t *testing.T, lang, text string) {
		out, err := NormalizeText(lang, text)
		if err != nil {
			return
		}
		if strings.ContainsAny(out, "0123456789") {
			t.Fatalf("%q → %q has digits", text, out)
		}
		again, err := NormalizeText(lang, out)
		if err != nil || again != out {
			t.Fatalf("not stable: %q → %q → %q (%v)", text, out, again, err)
		}
	})
}
