// Package wording holds, in one place, the words Alertcast puts around an
// officer's text at each step of a warning's life, in each language a
// resident reads (zh, ug) and in English for the console: the drill and test
// markers, the lines that say a warning was updated (and what changed),
// withdrawn (撤销, with the reason) or lifted (解除, with the reason), and
// how times are written (Beijing time, named).
//
// Every channel that shows words to a resident — SMS, the loudspeaker
// speech, the resident page, CAP and Atom — takes them from here, so that
// the all-clear says the same thing everywhere and never repeats the old
// instruction. The package sees only channels.Message; it must never import
// dispatch (channels use it too).
//
// The phrasing follows the messages of 国家预警信息发布中心: signature in
// 【】, issuer, time, signal name ("…2026年12月03日15时发布沙尘暴红色预警信号",
// "…解除沙尘暴红色预警信号").
package wording

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
)

// Beijing is the zone every time shown to residents is written in
// (Asia/Shanghai, UTC+8, no daylight saving since 1991). A fixed zone, so
// that a machine without tzdata writes the same.
var Beijing = time.FixedZone("CST", 8*3600)

// Languages that have wording. Others fall back to zh.
var Languages = []string{"zh", "ug", "en"}

type words struct {
	drill, test  string // markers put before the text of exercises and tests
	updated      string // headline of an update: fmt with the headline
	cancelled    string // headline of a cancel: fmt with the headline
	lifted       string // headline of an all-clear: fmt with the headline
	reason       string // label before the officer's reason
	noReason     string // when the officer gave none
	changed      string // label before the list of changes
	listSep      string // between changes
	sentenceEnd  string
	raise, lower string // fmt with the level name
	widen        string
	narrow       string
	text         string
	extend       string // fmt with the new expiry
	shorten      string // fmt with the new expiry
	event        string // fmt with the event
	levels       [5]string
	zone         string // the name of Beijing time
}

var catalog = map[string]*words{
	"zh": {
		drill: "【演练】", test: "【测试】",
		updated: "更新：%s", cancelled: "撤销%s", lifted: "解除%s",
		reason: "原因：", noReason: "原因：未说明", changed: "变更：", listSep: "；", sentenceEnd: "。",
		raise: "预警级别升为%s", lower: "预警级别降为%s", widen: "预警范围扩大", narrow: "预警范围缩小",
		text: "预警内容更新", extend: "有效期延长至%s", shorten: "有效期缩短至%s", event: "灾种变更为%s",
		levels: [5]string{"", "蓝色", "黄色", "橙色", "红色"},
		zone:   "北京时间",
	},
	"ug": {
		drill: "«مەشىق» ", test: "«سىناق» ",
		updated: "يېڭىلاندى: %s", cancelled: "%s قايتۇرۇۋېلىندى", lifted: "%s ئەمەلدىن قالدۇرۇلدى",
		reason: "سەۋەبى: ", noReason: "سەۋەبى: ئېيتىلمىدى", changed: "ئۆزگىرىش: ", listSep: "؛ ", sentenceEnd: ".",
		raise: "ئاگاھلاندۇرۇش دەرىجىسى %s غا ئۆستۈرۈلدى", lower: "ئاگاھلاندۇرۇش دەرىجىسى %s غا چۈشۈرۈلدى",
		widen: "دائىرىسى كېڭەيتىلدى", narrow: "دائىرىسى تارايتىلدى", text: "مەزمۇنى يېڭىلاندى",
		extend: "ئىناۋەتلىك ۋاقتى %s گىچە ئۇزارتىلدى", shorten: "ئىناۋەتلىك ۋاقتى %s گىچە قىسقارتىلدى",
		event:  "ئاپەت تۈرى %s غا ئۆزگەرتىلدى",
		levels: [5]string{"", "كۆك", "سېرىق", "ئاپېلسىن رەڭ", "قىزىل"},
		zone:   "بېيجىڭ ۋاقتى",
	},
	"en": {
		drill: "[DRILL] ", test: "[TEST] ",
		updated: "Updated: %s", cancelled: "Cancelled: %s", lifted: "Lifted: %s",
		reason: "Reason: ", noReason: "Reason: not given", changed: "Changed: ", listSep: "; ", sentenceEnd: ".",
		raise: "level raised to %s", lower: "level lowered to %s", widen: "area widened", narrow: "area narrowed",
		text: "text revised", extend: "valid until %s (extended)", shorten: "valid until %s (shortened)", event: "hazard now %s",
		levels: [5]string{"", "blue", "yellow", "orange", "red"},
		zone:   "BJT",
	},
}

func lookup(lang string) *words {
	if w, ok := catalog[lang]; ok {
		return w
	}
	return catalog["zh"]
}

// Marker is what precedes every rendering of an exercise ("exercise") or a
// test ("test") in lang; "" for actual warnings. The Mandarin markers are
// complete brackets (【演练】); the others end with a space.
func Marker(status string, lang string) string {
	w := lookup(lang)
	switch status {
	case "exercise", "drill":
		return w.drill
	case "test":
		return w.test
	}
	return ""
}

// MarkerOf is Marker for a message's status.
func MarkerOf(m *channels.Message, lang string) string {
	return Marker(m.Status.String(), lang)
}

// ZoneName names Beijing time in lang: 北京时间, بېيجىڭ ۋاقتى, BJT.
func ZoneName(lang string) string { return lookup(lang).zone }

// Time writes t in Beijing time for lang, naming the zone:
// "12月03日15时11分（北京时间）", "12-03 15:11 (بېيجىڭ ۋاقتى)", "03 Dec 15:11 BJT".
func Time(t time.Time, lang string) string {
	t = t.In(Beijing)
	switch lang {
	case "ug":
		return fmt.Sprintf("%d-%02d-%02d %02d:%02d (%s)", t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), ZoneName(lang))
	case "en":
		return t.Format("02 Jan 15:04") + " BJT"
	}
	return fmt.Sprintf("%02d月%02d日%02d时%02d分（%s）", int(t.Month()), t.Day(), t.Hour(), t.Minute(), ZoneName("zh"))
}

// LevelName is the colour of level in lang ("" when unknown).
func LevelName(level warning.Level, lang string) string {
	if level < warning.LevelBlue || level > warning.LevelRed {
		return ""
	}
	return lookup(lang).levels[level]
}

// Change kinds as dispatch names them (dispatch.ChangeKind); others are
// ignored by Changes.
const (
	ChangeRaise   = "raise"
	ChangeLower   = "lower"
	ChangeWiden   = "widen"
	ChangeNarrow  = "narrow"
	ChangeText    = "text"
	ChangeExtend  = "extend"
	ChangeShorten = "shorten"
	ChangeEvent   = "event"
)

// Changes says in lang what an update changed ("预警级别升为红色；预警范围扩大"),
// in a fixed order, or "" when none of the listed changes is known.
func Changes(m *channels.Message, lang string) string {
	w := lookup(lang)
	has := make(map[string]bool, len(m.Changes))
	for _, c := range m.Changes {
		has[c] = true
	}
	var out []string
	add := func(ok bool, s string) {
		if ok {
			out = append(out, s)
		}
	}
	level := LevelName(m.Level, lang)
	add(has[ChangeRaise], fmt.Sprintf(w.raise, level))
	add(has[ChangeLower], fmt.Sprintf(w.lower, level))
	add(has[ChangeEvent], fmt.Sprintf(w.event, eventName(m, lang)))
	add(has[ChangeWiden], w.widen)
	add(has[ChangeNarrow], w.narrow)
	add(has[ChangeExtend] && !m.Expires.IsZero(), fmt.Sprintf(w.extend, Time(m.Expires, lang)))
	add(has[ChangeShorten] && !m.Expires.IsZero(), fmt.Sprintf(w.shorten, Time(m.Expires, lang)))
	add(has[ChangeText], w.text)
	return strings.Join(out, w.listSep)
}

func eventName(m *channels.Message, lang string) string {
	if name := m.Event.Chinese(); lang == "zh" && name != "" {
		return name
	}
	if t, ok := m.Texts[lang]; ok && t.Headline != "" {
		return t.Headline
	}
	return m.Event.String()
}

// Reason is the officer's reason for a cancel or all-clear with its label
// ("原因：沙尘暴已减弱"), or the label saying none was given.
func Reason(m *channels.Message, lang string) string {
	w := lookup(lang)
	r := strings.Join(strings.Fields(m.Reason), " ")
	if r == "" {
		return w.noReason
	}
	return w.reason + endSentence(r, lang)
}

func endSentence(s, lang string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s[len(s)-1:], ".!?") || strings.HasSuffix(s, "。") || strings.HasSuffix(s, "！") || strings.HasSuffix(s, "？") {
		return s
	}
	if last, _ := utf8.DecodeLastRuneInString(s); unicode.Is(unicode.Han, last) {
		return s + "。" // a Chinese reason quoted on a Uyghur page ends as Chinese does
	}
	return s + lookup(lang).sentenceEnd
}

// Compose is the text a resident reads for one version m in lang, built
// from the officer's text in lang (or zh, or any) and the version's kind:
//
//   - alert: the officer's headline, description and instruction (the
//     recipients' guidance, when the message has one, opens the
//     instruction: "请前往东北方向1.2公里的…避难场所。");
//   - update: "更新：<headline>", the description opened by what changed,
//     and the (still valid) instruction;
//   - cancel: "<time>撤销<headline>", the reason; no instruction;
//   - all-clear: "<time>解除<headline>", the reason; never the old
//     instruction, never the old description.
//
// Markers for drills and tests are not included (see MarkerOf): each channel
// puts them where its format wants them.
func Compose(m *channels.Message, lang string) channels.Text {
	w := lookup(lang)
	src, ok := m.Texts[lang]
	if !ok {
		src = m.Texts["zh"]
	}
	if src.Headline == "" {
		for _, l := range []string{"zh", "ug", "en"} {
			if t := m.Texts[l]; t.Headline != "" {
				src = t
				break
			}
		}
	}
	head := strings.TrimSpace(src.Headline)
	switch m.Kind {
	case warning.KindUpdate:
		out := channels.Text{Headline: fmt.Sprintf(w.updated, head), Instruction: withGuidance(m, src.Instruction, lang)}
		desc := strings.TrimSpace(src.Description)
		if ch := Changes(m, lang); ch != "" {
			desc = strings.TrimSpace(w.changed + endSentence(ch, lang) + " " + desc)
			if lang == "zh" {
				desc = strings.ReplaceAll(desc, "。 ", "。")
			}
		}
		out.Description = desc
		return out
	case warning.KindCancel, warning.KindAllClear:
		f := w.lifted
		if m.Kind == warning.KindCancel {
			f = w.cancelled
		}
		h := fmt.Sprintf(f, stripEnd(head))
		if !m.Sent.IsZero() {
			h = joinTime(Time(m.Sent, lang), h, lang)
		}
		return channels.Text{Headline: h, Description: Reason(m, lang)}
	}
	return channels.Text{Headline: head, Description: src.Description, Instruction: withGuidance(m, src.Instruction, lang)}
}

// stripEnd drops a lifecycle word the officer already wrote ("解除…"), so
// that the headline does not say it twice.
func stripEnd(head string) string {
	for _, p := range []string{"解除", "撤销", "取消"} {
		head = strings.TrimPrefix(head, p)
	}
	return strings.TrimSpace(head)
}

func joinTime(at, h, lang string) string {
	if lang == "zh" {
		return at + h
	}
	return h + " — " + at
}

// Speech is what a loudspeaker says in lang after the attention signal:
// the composed headline, description and instruction as sentences. The
// drill intro is the programme's own, so there is no marker here.
func Speech(m *channels.Message, lang string) string {
	return strings.Join(SpeechParts(m, lang), "")
}

// SpeechParts is Speech cut around the recipients' guidance sentence:
// what comes before it, the sentence (with the space after it), and what
// comes after, so that a loudspeaker programme synthesises the words every
// village shares once and only each village's own sentence per village.
// Joined, the parts are exactly Speech(m, lang). Without guidance in the
// speech, it is the one part (none when there is nothing to say).
func SpeechParts(m *channels.Message, lang string) []string {
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
	whole := strings.TrimSpace(strings.Join(parts, sep))
	if whole == "" {
		return nil
	}
	// The guidance opens the instruction (withGuidance), the last part.
	g := Guidance(m.Guidance, lang)
	instr := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(t.Instruction), "。."))
	if g == "" || instr == "" || !strings.HasSuffix(whole, instr) {
		return []string{whole}
	}
	start := len(whole) - len(instr)
	end := start
	switch g = endSentence(g, lang); {
	case strings.HasPrefix(instr, g):
		end += len(g)
	case instr == strings.TrimRight(g, "。."):
		end += len(instr) // the guidance is the whole instruction
	default:
		return []string{whole}
	}
	for end < len(whole) && whole[end] == ' ' {
		end++
	}
	var out []string
	for _, p := range []string{whole[:start], whole[start:end], whole[end:]} {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
