package sms

import (
	"fmt"
	"strings"
	"unicode/utf16"

	"github.com/linxGnu/gosmpp/data"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
	"github.com/alertcast/alertcast/wording"
)

// Encodings of a rendered SMS.
const (
	GSM7 = "GSM7" // GSM 03.38 default alphabet, data_coding 0, unpacked on SMPP
	UCS2 = "UCS2" // UTF-16BE, data_coding 8: every Chinese and Uyghur text
)

// Per-part capacities (3GPP TS 23.040): a single SMS carries 160 septets or
// 70 UCS-2 units; a concatenated part loses 6 octets to the UDH.
const (
	gsm7Single = 160
	gsm7Part   = 153
	ucs2Single = 70
	ucs2Part   = 67
)

// Rendered is one message in one language as it goes to the phone.
type Rendered struct {
	Text      string   `json:"text"`
	Encoding  string   `json:"encoding"` // GSM7 or UCS2
	Parts     int      `json:"parts"`
	Shortened bool     `json:"shortened"`
	Segments  []string `json:"segments"` // Text cut into Parts, never inside an escape or surrogate pair
}

// Render composes the SMS for m in lang: signature, drill or test marker,
// then the version's wording (package wording): headline, description and
// instruction for an alert; what changed for an update; the reason, and
// never the old instruction, for a cancel or all-clear. When the result needs more than MaxParts parts
// the description is shortened first (with "…"), then the instruction, and
// the headline last. Missing languages fall back to cfg.DefaultLanguage.
func Render(m *channels.Message, lang string, cfg Config) (Rendered, error) {
	cfg = cfg.withDefaults()
	if m == nil {
		return Rendered{}, &warning.FieldError{Field: "message", Rule: "required"}
	}
	t, ok := m.Texts[lang]
	if !ok {
		lang = cfg.DefaultLanguage
		t, ok = m.Texts[lang]
	}
	if !ok {
		for l, tt := range m.Texts { // any text beats none; map order does not matter with one language
			lang, t, ok = l, tt, true
			break
		}
	}
	if !ok || strings.TrimSpace(t.Headline) == "" {
		return Rendered{}, &warning.FieldError{Field: "texts." + lang + ".headline", Rule: "required for SMS"}
	}
	prefix := cfg.Signature
	if m.Status == warning.StatusTest {
		// A test is not a drill: it says so in its own word, not the
		// (configurable) drill marker.
		prefix += wording.MarkerOf(m, lang)
	} else if m.Status == warning.StatusExercise {
		marker := cfg.DrillMarker[lang]
		if marker == "" {
			marker = cfg.DrillMarker["zh"]
		}
		prefix += marker
	}
	sep, space := "：", ""
	if lang != "zh" {
		sep, space = ": ", " "
	}
	if m.Kind != warning.KindAlert && m.Kind != warning.KindUnknown {
		// The lifecycle headline is a sentence of its own ("…解除…预警。原因：…"),
		// not a label for a colon.
		sep = "。"
		if lang != "zh" {
			sep = ". "
		}
	}
	// The lifecycle wording (update, cancel, all-clear) comes from package
	// wording, the same for every channel: an all-clear carries its reason
	// and never the old instruction.
	t = wording.Compose(m, lang)
	head := clean(t.Headline)
	desc, instr := clean(t.Description), clean(t.Instruction)
	compose := func(desc, instr, head string) string {
		var b strings.Builder
		b.WriteString(prefix)
		b.WriteString(head)
		if desc != "" || instr != "" {
			b.WriteString(sep)
		}
		b.WriteString(desc)
		if desc != "" && instr != "" {
			b.WriteString(space)
		}
		b.WriteString(instr)
		return b.String()
	}
	text := compose(desc, instr, head)
	r := segment(text)
	if r.Parts <= cfg.MaxParts {
		return r, nil
	}
	// Over the cap: give up description, then instruction, then headline,
	// one rune at a time (binary search over how many runes to keep).
	ell := "…"
	if r.Encoding == GSM7 {
		ell = "..."
	}
	fits := func(s string) bool { return segment(s).Parts <= cfg.MaxParts }
	for _, field := range []int{0, 1, 2} {
		var cur []rune
		switch field {
		case 0:
			cur = []rune(desc)
		case 1:
			cur = []rune(instr)
		case 2:
			cur = []rune(head)
		}
		build := func(n int) string {
			s := ""
			if n > 0 {
				s = strings.TrimSpace(string(cur[:n])) + ell
			}
			switch field {
			case 0:
				return compose(s, instr, head)
			case 1:
				return compose("", s, head)
			default:
				return compose("", "", s)
			}
		}
		if !fits(build(0)) {
			// Dropping this field entirely is not enough: drop it and go on.
			switch field {
			case 0:
				desc = ""
			case 1:
				instr = ""
			}
			continue
		}
		lo, hi := 0, len(cur) // build(lo) fits
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if fits(build(mid)) {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		r = segment(build(lo))
		r.Shortened = true
		return r, nil
	}
	return Rendered{}, &warning.FieldError{Field: "sms.max_parts", Rule: "too small for the signature and drill marker", Value: fmt.Sprint(cfg.MaxParts)}
}

// clean collapses whitespace: line breaks cost parts and display badly.
func clean(s string) string { return strings.Join(strings.Fields(s), " ") }

// isGSM7 reports whether every rune of s is in the GSM 03.38 default
// alphabet or its extension table.
func isGSM7(s string) bool { return len(data.ValidateGSM7String(s)) == 0 }

// segment chooses the encoding and cuts s into parts.
func segment(s string) Rendered {
	r := Rendered{Text: s}
	if isGSM7(s) {
		r.Encoding = GSM7
		r.Segments = cutGSM7(s)
	} else {
		r.Encoding = UCS2
		r.Segments = cutUCS2(s)
	}
	r.Parts = len(r.Segments)
	return r
}

func septets(c rune) int {
	if data.IsEscapeChar(c) {
		return 2
	}
	return 1
}

func cutGSM7(s string) []string { return cut(s, gsm7Single, gsm7Part, septets) }

func cutUCS2(s string) []string {
	return cut(s, ucs2Single, ucs2Part, func(c rune) int {
		if w := utf16.RuneLen(c); w >= 0 {
			return w
		}
		return 1 // invalid rune: encoded as U+FFFD
	})
}

// cut splits s into message parts: one when its width (in the encoding's
// units, width per rune) fits single, else parts of at most part units,
// cut between runes so that an escape or surrogate pair never straddles two.
func cut(s string, single, part int, width func(rune) int) []string {
	total := 0
	for _, c := range s {
		total += width(c)
	}
	if total <= single {
		return []string{s}
	}
	var out []string
	var b strings.Builder
	n := 0
	for _, c := range s {
		w := width(c)
		if n+w > part {
			out = append(out, b.String())
			b.Reset()
			n = 0
		}
		b.WriteRune(c)
		n += w
	}
	return append(out, b.String())
}

// encodeSegments returns the wire bytes (without UDH) of each segment and
// the SMPP data_coding.
func encodeSegments(r Rendered) ([][]byte, byte, error) {
	enc := data.UCS2
	if r.Encoding == GSM7 {
		enc = data.GSM7BIT
	}
	out := make([][]byte, len(r.Segments))
	for i, s := range r.Segments {
		b, err := enc.Encode(s)
		if err != nil {
			return nil, 0, fmt.Errorf("encode part %d as %s: %w", i+1, r.Encoding, err)
		}
		out[i] = b
	}
	return out, enc.DataCoding(), nil
}

// Preview renders m in every language it has text for: what the console
// and /audience/preview show (text, encoding, parts) before sending.
func Preview(m *channels.Message, cfg Config) (map[string]Rendered, error) {
	if m == nil {
		return nil, &warning.FieldError{Field: "message", Rule: "required"}
	}
	out := make(map[string]Rendered, len(m.Texts))
	for lang := range m.Texts {
		r, err := Render(m, lang, cfg)
		if err != nil {
			return nil, err
		}
		out[lang] = r
	}
	return out, nil
}
