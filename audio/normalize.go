package audio

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text limits. A segment of 1000 characters is already four minutes of
// Mandarin speech at loudspeaker pace; anything longer is a mistake (a whole
// document pasted in) and would block the speaker for too long.
const (
	MaxSegmentRunes   = 1000
	MaxProgrammeRunes = 3000
	MaxSegments       = 6
)

// Languages with a speech path.
const (
	LangZh = "zh" // Mandarin, Simplified Chinese script
	LangUg = "ug" // Uyghur, Arabic script (UEY)
)

// CheckLanguage returns ErrUnsupportedLanguage for anything but zh and ug.
func CheckLanguage(lang string) error {
	if lang != LangZh && lang != LangUg {
		return fmt.Errorf("%w %q (want %q or %q)", ErrUnsupportedLanguage, lang, LangZh, LangUg)
	}
	return nil
}

// NormalizeText rewrites numbers, times, dates, temperatures, percentages,
// ranges and units so a speech engine reads them as a person would in that
// language: "500米" → "五百米", "18:00" → "十八点", "-10℃" → "零下十摄氏度";
// in Uyghur "18:00" → "سائەت ئون سەككىز", "-10℃" → "نۆلدىن تۆۋەن ئون گرادۇس".
// It also removes symbols an engine would spell out in English.
func NormalizeText(lang, text string) (string, error) {
	if err := CheckLanguage(lang); err != nil {
		return "", err
	}
	if !utf8.ValidString(text) {
		return "", fmt.Errorf("%w: text is not valid UTF-8", ErrInvalidProgramme)
	}
	if n := utf8.RuneCountInString(text); n > MaxSegmentRunes {
		return "", fmt.Errorf("%w: %d characters, limit %d", ErrTextTooLong, n, MaxSegmentRunes)
	}
	t := normalizeLang(lang, text)
	if !strings.ContainsFunc(t, unicode.IsLetter) {
		return "", fmt.Errorf("%w: nothing speakable in %q", ErrEmptyText, text)
	}
	return t, nil
}

func normalizeLang(lang, text string) string {
	t := foldText(text)
	if lang == LangZh {
		t = normalizeZh(t)
	} else {
		t = normalizeUg(t)
	}
	return strings.Join(strings.Fields(t), " ")
}

// foldText maps full-width digits and number punctuation to ASCII, drops
// control characters and turns line breaks into spaces (espeak-ng would stop
// at each line).
func foldText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= '０' && r <= '９':
			r = '0' + (r - '０')
		case r == '％':
			r = '%'
		case r == '～' || r == '〜':
			r = '~'
		case r == '－' || r == '−':
			r = '-'
		case r == '／':
			r = '/'
		case r == '．':
			r = '.'
		case r == '\u00A0' || r == '\u3000' || r == '\n' || r == '\r' || r == '\t':
			r = ' '
		case unicode.IsControl(r) || r == '\uFEFF' || r == '\u200B':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Patterns shared by both languages (applied in this order).
var (
	reThousands = regexp.MustCompile(`(\d),(\d{3})\b`)
	reDateISO   = regexp.MustCompile(`\b(\d{4})-(\d{1,2})-(\d{1,2})\b`)
	reTime      = regexp.MustCompile(`\b([01]?\d|2[0-4])[:：]([0-5]\d)(?:[:：]([0-5]\d))?\b`)
	reTimeRange = regexp.MustCompile(`\b(\d{1,2}[:：]\d{2})\s*(?:-|~|—|–|至|到)\s*(\d{1,2}[:：]\d{2})\b`)
	reTemp      = regexp.MustCompile(`(-|零下)?\s*(\d+(?:\.\d+)?)\s*(?:℃|°C|° C|度)`)
	rePercent   = regexp.MustCompile(`(\d+(?:\.\d+)?)\s*%`)
	reRange     = regexp.MustCompile(`(\d+(?:\.\d+)?)\s*(?:~|-|—|–|至)\s*(\d+(?:\.\d+)?)`)
	reNegative  = regexp.MustCompile(`(^|[^\p{N}\p{Latin}])-(\d)`)
	reDecimal   = regexp.MustCompile(`(\d+)\.(\d+)`)
	reInteger   = regexp.MustCompile(`\d+`)
	reZhYear    = regexp.MustCompile(`(\d{4})年`)
	reOrdinalUg = regexp.MustCompile(`(\d+)-(\p{Arabic})`)
	// Digit strings read one digit at a time: phone numbers anywhere, and
	// short service numbers (110, 12379 …) where the text says to call them.
	rePhone        = regexp.MustCompile(`\b(\d{3,4}-\d{7,8}|1\d{10}|0\d{9,11})\b`)
	reZhCallNum    = regexp.MustCompile(`(拨打|拨|电话|热线|致电|呼叫|报警|求助)(\s*)(\d{3,12})`)
	reUgCallAfter  = regexp.MustCompile(`\b(\d{3,12})(\s*(?:گە|غا|قا|كە|نومۇرى?|نومۇرىغا)?\s*تېلېفون)`)
	reUgCallBefore = regexp.MustCompile(`((?:تېلېفون|نومۇرى?)\s*)(\d{3,12})\b`)
	reLatinUnit    = regexp.MustCompile(`(\d)\s*(m³/s|m3/s|km/h|m/s|km²|km2|mm|cm|km|kg|m)\b`)
	reZhPerUnit    = regexp.MustCompile(`(\p{Han})/(\p{Han})`)
)

var zhDigits = []string{"零", "一", "二", "三", "四", "五", "六", "七", "八", "九"}

func normalizeZh(s string) string {
	s = repeatReplace(reThousands, s, "$1$2")
	s = rePhone.ReplaceAllStringFunc(s, func(m string) string { return zhDigitString(m, true) })
	s = reZhCallNum.ReplaceAllStringFunc(s, func(m string) string {
		p := reZhCallNum.FindStringSubmatch(m)
		return p[1] + p[2] + zhDigitString(p[3], true)
	})
	s = reDateISO.ReplaceAllString(s, "${1}年${2}月${3}日")
	s = reZhYear.ReplaceAllStringFunc(s, func(m string) string {
		return zhDigitString(strings.TrimSuffix(m, "年"), false) + "年"
	})
	s = reTimeRange.ReplaceAllString(s, "${1}到${2}")
	s = reTime.ReplaceAllStringFunc(s, func(m string) string {
		p := reTime.FindStringSubmatch(m)
		h, _ := strconv.Atoi(p[1])
		mi, _ := strconv.Atoi(p[2])
		out := zhInt(int64(h)) + "点"
		if mi > 0 {
			if mi < 10 {
				out += "零"
			}
			out += zhInt(int64(mi)) + "分"
		}
		if p[3] != "" && p[3] != "00" {
			sec, _ := strconv.Atoi(p[3])
			out += zhInt(int64(sec)) + "秒"
		}
		return out
	})
	s = reTemp.ReplaceAllStringFunc(s, func(m string) string {
		p := reTemp.FindStringSubmatch(m)
		out := ""
		if p[1] != "" {
			out = "零下"
		}
		unit := "摄氏度"
		if strings.HasSuffix(m, "度") {
			unit = "度"
		}
		return out + zhNumber(p[2]) + unit
	})
	s = rePercent.ReplaceAllStringFunc(s, func(m string) string {
		return "百分之" + zhNumber(rePercent.FindStringSubmatch(m)[1])
	})
	s = reLatinUnit.ReplaceAllStringFunc(s, func(m string) string {
		p := reLatinUnit.FindStringSubmatch(m)
		return p[1] + zhUnits[p[2]]
	})
	s = reZhPerUnit.ReplaceAllString(s, "${1}每${2}")
	s = repeatReplace(reRange, s, "${1}到${2}")
	s = reNegative.ReplaceAllString(s, "${1}负${2}")
	s = reDecimal.ReplaceAllStringFunc(s, zhNumber)
	s = reInteger.ReplaceAllStringFunc(s, zhNumber)
	return stripSymbols(s, map[rune]string{'+': "加", '~': "到", '/': "每", '&': "和", '@': " ", '#': " "})
}

var zhUnits = map[string]string{
	"m³/s": "立方米每秒", "m3/s": "立方米每秒", "km/h": "公里每小时", "m/s": "米每秒",
	"km²": "平方公里", "km2": "平方公里", "mm": "毫米", "cm": "厘米", "km": "公里", "kg": "公斤", "m": "米",
}

// zhNumber reads "12.5" as 十二点五, "500" as 五百 and a long or
// zero-led digit string one digit at a time.
func zhNumber(num string) string {
	intPart, frac, hasFrac := strings.Cut(num, ".")
	var out string
	if len(intPart) > 12 || (len(intPart) > 1 && intPart[0] == '0') {
		out = zhDigitString(intPart, false)
	} else {
		n, _ := strconv.ParseInt(intPart, 10, 64)
		out = zhInt(n)
	}
	if hasFrac {
		out += "点" + zhDigitString(frac, false)
	}
	return out
}

// zhDigitString reads digits one by one; phone-style uses 幺 for 1.
func zhDigitString(d string, phone bool) string {
	var b strings.Builder
	for _, r := range d {
		if r < '0' || r > '9' {
			continue
		}
		if phone && r == '1' {
			b.WriteString("幺")
			continue
		}
		b.WriteString(zhDigits[r-'0'])
	}
	return b.String()
}

// zhInt reads 0 ≤ n < 10^12 in Chinese numerals: 2026 → 两千零二十六,
// 10 → 十, 100000 → 十万, 1005 → 一千零五.
func zhInt(n int64) string {
	if n == 0 {
		return "零"
	}
	groups := []struct {
		unit string
		val  int64
	}{{"亿", n / 100000000}, {"万", n / 10000 % 10000}, {"", n % 10000}}
	var b strings.Builder
	needZero := false
	for _, g := range groups {
		if g.val == 0 {
			if b.Len() > 0 {
				needZero = true
			}
			continue
		}
		if b.Len() > 0 && (needZero || g.val < 1000) {
			b.WriteString("零")
		}
		needZero = false
		b.WriteString(zhSection(int(g.val)))
		b.WriteString(g.unit)
	}
	out := b.String()
	if strings.HasPrefix(out, "一十") {
		out = strings.TrimPrefix(out, "一")
	}
	return out
}

func zhSection(n int) string {
	units := []string{"", "十", "百", "千"}
	pow := []int{1, 10, 100, 1000}
	var b strings.Builder
	zero := false
	for pos := 3; pos >= 0; pos-- {
		d := n / pow[pos] % 10
		if d == 0 {
			if b.Len() > 0 {
				zero = true
			}
			continue
		}
		if zero {
			b.WriteString("零")
			zero = false
		}
		if d == 2 && pos == 3 {
			b.WriteString("两")
		} else {
			b.WriteString(zhDigits[d])
		}
		b.WriteString(units[pos])
	}
	return b.String()
}

// Uyghur numerals, Arabic script.
var (
	ugOnes = []string{"نۆل", "بىر", "ئىككى", "ئۈچ", "تۆت", "بەش", "ئالتە", "يەتتە", "سەككىز", "توققۇز"}
	ugTens = []string{"", "ئون", "يىگىرمە", "ئوتتۇز", "قىرىق", "ئەللىك", "ئاتمىش", "يەتمىش", "سەكسەن", "توقسان"}
)

const (
	ugHour     = "سائەت"
	ugMinute   = "مىنۇت"
	ugSecond   = "سېكۇنت"
	ugPoint    = "پۈتۈن"
	ugDegree   = "گرادۇس"
	ugBelow0   = "نۆلدىن تۆۋەن"
	ugPercent  = "يۈزدە"
	ugMinus    = "مىنۇس"
	ugBetween  = "بىلەن"
	ugRangeEnd = "ئارىلىقىدا"
)

func normalizeUg(s string) string {
	s = repeatReplace(reThousands, s, "$1$2")
	s = rePhone.ReplaceAllStringFunc(s, func(m string) string { return " " + ugDigitString(m) + " " })
	s = reUgCallAfter.ReplaceAllStringFunc(s, func(m string) string {
		p := reUgCallAfter.FindStringSubmatch(m)
		return ugDigitString(p[1]) + p[2]
	})
	s = reUgCallBefore.ReplaceAllStringFunc(s, func(m string) string {
		p := reUgCallBefore.FindStringSubmatch(m)
		return p[1] + ugDigitString(p[2])
	})
	s = reDateISO.ReplaceAllString(s, "${1}-يىلى ${2}-ئاينىڭ ${3}-كۈنى")
	s = reTimeRange.ReplaceAllString(s, "${1} "+ugBetween+" ${2} "+ugRangeEnd)
	s = reTime.ReplaceAllStringFunc(s, func(m string) string {
		p := reTime.FindStringSubmatch(m)
		h, _ := strconv.Atoi(p[1])
		mi, _ := strconv.Atoi(p[2])
		out := ugHour + " " + ugInt(int64(h))
		if mi > 0 {
			out += "، " + ugInt(int64(mi)) + " " + ugMinute
		}
		if p[3] != "" && p[3] != "00" {
			sec, _ := strconv.Atoi(p[3])
			out += " " + ugInt(int64(sec)) + " " + ugSecond
		}
		return out
	})
	// "سائەت سائەت" when the text already said "at hour".
	s = strings.ReplaceAll(s, ugHour+" "+ugHour, ugHour)
	s = reTemp.ReplaceAllStringFunc(s, func(m string) string {
		p := reTemp.FindStringSubmatch(m)
		out := ugNumber(p[2]) + " " + ugDegree
		if p[1] != "" {
			out = ugBelow0 + " " + out
		}
		return " " + out
	})
	s = rePercent.ReplaceAllStringFunc(s, func(m string) string {
		return ugPercent + " " + ugNumber(rePercent.FindStringSubmatch(m)[1])
	})
	s = reLatinUnit.ReplaceAllStringFunc(s, func(m string) string {
		p := reLatinUnit.FindStringSubmatch(m)
		return p[1] + " " + ugUnits[p[2]]
	})
	// Rates read "per second, N metres": move the per-word before the number.
	s = reUgRate.ReplaceAllString(s, "$2 $1 $3")
	s = reOrdinalUg.ReplaceAllStringFunc(s, func(m string) string {
		p := reOrdinalUg.FindStringSubmatch(m)
		return ugOrdinal(ugNumber(p[1])) + " " + p[2]
	})
	s = repeatReplace(reRange, s, "${1} "+ugBetween+" ${2} "+ugRangeEnd+" ")
	s = reNegative.ReplaceAllString(s, "${1}"+ugMinus+" ${2}")
	s = reDecimal.ReplaceAllStringFunc(s, func(m string) string { return " " + ugNumber(m) + " " })
	s = reInteger.ReplaceAllStringFunc(s, func(m string) string { return " " + ugNumber(m) + " " })
	return stripSymbols(s, map[rune]string{'+': "قوشۇش", '~': " ", '/': " ", '&': ugBetween, '@': " ", '#': " "})
}

var ugUnits = map[string]string{
	"m³/s": "\x00سېكۇنتىغا\x00كۇب مېتىر", "m3/s": "\x00سېكۇنتىغا\x00كۇب مېتىر",
	"km/h": "\x00سائىتىگە\x00كىلومېتىر", "m/s": "\x00سېكۇنتىغا\x00مېتىر",
	"km²": "كۋادرات كىلومېتىر", "km2": "كۋادرات كىلومېتىر",
	"mm": "مىللىمېتىر", "cm": "سانتىمېتىر", "km": "كىلومېتىر", "kg": "كىلوگرام", "m": "مېتىر",
}

// reUgRate finds "N \x00per\x00unit" left by ugUnits for rates.
var reUgRate = regexp.MustCompile(`(\d+(?:\.\d+)?) \x00([^\x00]+)\x00(\S+(?: مېتىر)?)`)

// ugNumber reads "12.5" as "ئون ئىككى پۈتۈن ئوندىن بەش" (twelve whole, five
// tenths) and integers in words.
func ugNumber(num string) string {
	intPart, frac, hasFrac := strings.Cut(num, ".")
	var out string
	if len(intPart) > 12 || (len(intPart) > 1 && intPart[0] == '0') {
		out = ugDigitString(intPart)
	} else {
		n, _ := strconv.ParseInt(intPart, 10, 64)
		out = ugInt(n)
	}
	if hasFrac {
		denominators := []string{"", "ئوندىن", "يۈزدىن", "مىڭدىن"}
		if len(frac) < len(denominators) {
			f, _ := strconv.ParseInt(frac, 10, 64)
			out += " " + ugPoint + " " + denominators[len(frac)] + " " + ugInt(f)
		} else {
			out += " " + ugPoint + " " + ugDigitString(frac)
		}
	}
	return out
}

func ugDigitString(d string) string {
	var parts []string
	for _, r := range d {
		if r >= '0' && r <= '9' {
			parts = append(parts, ugOnes[r-'0'])
		}
	}
	return strings.Join(parts, " ")
}

// ugInt reads 0 ≤ n < 10^12: 2026 → ئىككى مىڭ يىگىرمە ئالتە, 100 → يۈز.
func ugInt(n int64) string {
	if n == 0 {
		return ugOnes[0]
	}
	var parts []string
	scales := []struct {
		val  int64
		word string
	}{{1000000000, "مىليارد"}, {1000000, "مىليون"}, {1000, "مىڭ"}}
	for _, sc := range scales {
		if q := n / sc.val; q > 0 {
			if q > 1 || sc.val > 1000 {
				parts = append(parts, ugBelowThousand(int(q)))
			}
			parts = append(parts, sc.word)
			n %= sc.val
		}
	}
	if n > 0 {
		parts = append(parts, ugBelowThousand(int(n)))
	}
	return strings.Join(parts, " ")
}

func ugBelowThousand(n int) string {
	var parts []string
	if h := n / 100; h > 0 {
		if h > 1 {
			parts = append(parts, ugOnes[h])
		}
		parts = append(parts, "يۈز")
	}
	if t := n / 10 % 10; t > 0 {
		parts = append(parts, ugTens[t])
	}
	if o := n % 10; o > 0 {
		parts = append(parts, ugOnes[o])
	}
	return strings.Join(parts, " ")
}

// ugOrdinal adds the ordinal suffix: after a consonant ىنچى, after a vowel
// نچى, with the low vowels ا/ە of the stem raised to ى (ئالتە → ئالتىنچى).
func ugOrdinal(words string) string {
	last, size := utf8.DecodeLastRuneInString(words)
	switch last {
	case 'ا', 'ە':
		return words[:len(words)-size] + "ىنچى"
	case 'ى', 'و', 'ۇ', 'ۆ', 'ۈ', 'ې':
		return words + "نچى"
	}
	return words + "ىنچى"
}

func repeatReplace(re *regexp.Regexp, s, repl string) string {
	for range 8 {
		n := re.ReplaceAllString(s, repl)
		if n == s {
			break
		}
		s = n
	}
	return s
}

// stripSymbols replaces ASCII symbols an engine would read out as English
// words ("percent", "slash", "tilde") with a spoken equivalent or a space.
func stripSymbols(s string, spoken map[rune]string) string {
	var b strings.Builder
	for _, r := range s {
		if w, ok := spoken[r]; ok {
			b.WriteString(w)
			continue
		}
		switch r {
		case '%', '*', '=', '_', '|', '<', '>', '^', '\\', '`', '$', '{', '}', '[', ']', '"', '\x00':
			b.WriteByte(' ')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
