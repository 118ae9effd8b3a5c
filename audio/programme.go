package audio

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Segment is one piece of text to speak.
type Segment struct {
	Lang string `json:"lang"` // "zh" or "ug"
	Text string `json:"text"`
	// Parts, when given, is Text cut where it may be synthesised in
	// pieces: strings.Join(Parts, "") must be exactly Text. Each part is
	// synthesised, loudness-normalised and cached on its own (keyed by
	// voice, language, words, rate and render version) and the parts are
	// joined with PauseBetweenParts, so the words many programmes share —
	// a warning's headline and instruction in every village's programme —
	// are spoken once, and only the part that differs (the village's
	// guidance) is synthesised per village. Cut at sentence ends: a part
	// is spoken as a sentence of its own.
	Parts []string `json:"parts,omitempty"`
}

// Programme is what a loudspeaker plays, described without any audio:
// optional drill intro, attention signal, optional recorded clip, speech in
// order, the whole repeated.
type Programme struct {
	Attention Signal `json:"attention"`
	// Drill marks an exercise or test: 1400 Hz pips as the intro, before
	// the attention signal, and a spoken "这是演练。/ بۇ مەشىق." before and after each
	// speech segment, so nobody mistakes it for a real warning.
	Drill  bool      `json:"drill,omitempty"`
	Speech []Segment `json:"speech,omitempty"`
	// ClipSHA256 names a recording stored with StoreClip, played before speech.
	ClipSHA256 string `json:"clip_sha256,omitempty"`
	// Repeats is how many times the whole sequence plays. 0 means 2.
	Repeats int `json:"repeats,omitempty"`
	// ToneOnly skips speech even when a synthesizer is available (the
	// fallback a caller chooses after a synthesis failure).
	ToneOnly bool `json:"tone_only,omitempty"`
}

// Programme limits.
const (
	DefaultRepeats = 2
	MaxRepeats     = 5
	// MaxProgrammeDuration bounds the estimated playing time: a loudspeaker
	// held for longer than this is a mistake, and the WAV would be huge.
	MaxProgrammeDuration = 30 * time.Minute
)

// Pauses of the layout.
const (
	PauseAfterAttention = 600 * time.Millisecond
	PauseAfterDrill     = 400 * time.Millisecond
	PauseAfterClip      = 800 * time.Millisecond
	PauseBetweenSpeech  = 1000 * time.Millisecond // between zh and ug
	PauseAfterRepeat    = 2000 * time.Millisecond // closes each repeat
	// PauseBetweenParts joins the parts of a segment (Segment.Parts): with
	// the 30 ms each part keeps at its ends, about the 450 ms espeak-ng
	// leaves at a full stop at 140 words/min.
	PauseBetweenParts = 400 * time.Millisecond
)

// MaxParts bounds the parts of one segment.
const MaxParts = 8

// Spoken drill markers, said before and after each speech segment.
var drillWords = map[string][2]string{
	LangZh: {"这是演练。", "以上是演练，不是真实预警。"},
	LangUg: {"بۇ مەشىق.", "يۇقىرىقىسى مەشىق، ھەقىقىي ئاگاھلاندۇرۇش ئەمەس."},
}

var reSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Layout entry kinds.
const (
	KindAttention = "attention"
	KindDrill     = "drill"
	KindClip      = "clip"
	KindSpeech    = "speech"
	KindPause     = "pause"
)

// LayoutEntry is one piece of a rendered programme.
type LayoutEntry struct {
	Kind     string        `json:"kind"`
	Repeat   int           `json:"repeat"` // 1-based
	Signal   string        `json:"signal,omitempty"`
	Lang     string        `json:"lang,omitempty"`
	Start    time.Duration `json:"-"`
	Duration time.Duration `json:"-"`
}

type layoutJSON struct {
	Kind       string `json:"kind"`
	Repeat     int    `json:"repeat"`
	Signal     string `json:"signal,omitempty"`
	Lang       string `json:"lang,omitempty"`
	StartMS    int64  `json:"start_ms"`
	DurationMS int64  `json:"duration_ms"`
}

// MarshalJSON writes start and duration in milliseconds.
func (e LayoutEntry) MarshalJSON() ([]byte, error) {
	return json.Marshal(layoutJSON{e.Kind, e.Repeat, e.Signal, e.Lang, e.Start.Milliseconds(), e.Duration.Milliseconds()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *LayoutEntry) UnmarshalJSON(b []byte) error {
	var j layoutJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = LayoutEntry{j.Kind, j.Repeat, j.Signal, j.Lang, time.Duration(j.StartMS) * time.Millisecond, time.Duration(j.DurationMS) * time.Millisecond}
	return nil
}

// Rendered describes a programme's audio as stored.
type Rendered struct {
	// SHA256 is the hex SHA-256 of the WAV file's bytes: devices verify what
	// they downloaded against it.
	SHA256     string        `json:"sha256"`
	Duration   time.Duration `json:"duration_ns"`
	Size       int64         `json:"size"`
	SampleRate int           `json:"sample_rate"`
	// ToneOnly: speech was asked for but not rendered (no synthesizer, or
	// Programme.ToneOnly). The delivery record should say so.
	ToneOnly bool          `json:"tone_only"`
	Synth    string        `json:"synth,omitempty"`
	Layout   []LayoutEntry `json:"layout"`
}

// normalized is a validated programme with defaults applied and texts
// normalised: the input of both rendering and the cache key.
type normalized struct {
	Attention Signal    `json:"attention"`
	Drill     bool      `json:"drill"`
	Speech    []Segment `json:"speech"`
	Clip      string    `json:"clip"`
	Repeats   int       `json:"repeats"`
	ToneOnly  bool      `json:"tone_only"`
}

// Validate checks p against the rules, naming the field that breaks one.
func (p Programme) Validate() error {
	_, err := p.normalize()
	return err
}

func (p Programme) normalize() (normalized, error) {
	n := normalized{Attention: p.Attention, Drill: p.Drill, Clip: p.ClipSHA256, Repeats: p.Repeats, ToneOnly: p.ToneOnly}
	bad := func(sentinel error, field, format string, a ...any) (normalized, error) {
		return normalized{}, fmt.Errorf("%w: %s: %s", sentinel, field, fmt.Sprintf(format, a...))
	}
	if !p.Attention.valid() {
		return bad(ErrInvalidProgramme, "attention", "signal %v (want blue, yellow, orange, red, all-clear, cancel or none)", p.Attention)
	}
	if n.Repeats == 0 {
		n.Repeats = DefaultRepeats
	}
	if n.Repeats < 1 || n.Repeats > MaxRepeats {
		return bad(ErrInvalidProgramme, "repeats", "%d (want 1..%d)", p.Repeats, MaxRepeats)
	}
	if n.Clip != "" && !reSHA256.MatchString(n.Clip) {
		return bad(ErrInvalidProgramme, "clip_sha256", "%q is not a lower-case hex SHA-256", n.Clip)
	}
	if len(p.Speech) > MaxSegments {
		return bad(ErrInvalidProgramme, "speech", "%d segments (limit %d)", len(p.Speech), MaxSegments)
	}
	total := 0
	for i, s := range p.Speech {
		field := fmt.Sprintf("speech[%d]", i)
		if err := CheckLanguage(s.Lang); err != nil {
			return bad(ErrUnsupportedLanguage, field+".lang", "%q (want %q or %q)", s.Lang, LangZh, LangUg)
		}
		if strings.TrimSpace(s.Text) == "" {
			return bad(ErrEmptyText, field+".text", "empty")
		}
		total += utf8.RuneCountInString(s.Text)
		if total > MaxProgrammeRunes {
			return bad(ErrTextTooLong, field+".text", "programme text is over %d characters", MaxProgrammeRunes)
		}
		if len(s.Parts) > 0 {
			seg, err := normalizeParts(s, field, p.Drill)
			if err != nil {
				return normalized{}, err
			}
			n.Speech = append(n.Speech, seg)
			continue
		}
		norm, err := NormalizeText(s.Lang, s.Text)
		if err != nil {
			return normalized{}, fmt.Errorf("%s.text: %w", field, err)
		}
		if p.Drill {
			w := drillWords[s.Lang]
			norm = normalizeLang(s.Lang, w[0]) + " " + norm + " " + normalizeLang(s.Lang, w[1])
		}
		n.Speech = append(n.Speech, Segment{Lang: s.Lang, Text: norm})
	}
	if n.Attention == SignalNone && len(n.Speech) == 0 && n.Clip == "" && !n.Drill {
		return bad(ErrInvalidProgramme, "programme", "nothing to play: no attention signal, speech or clip")
	}
	if d := estimate(n, true, 0); d > MaxProgrammeDuration {
		return bad(ErrTextTooLong, "speech", "the programme would play for about %v (limit %v); shorten the text or lower repeats", d.Round(time.Minute), MaxProgrammeDuration)
	}
	return n, nil
}

// normalizeParts normalises a segment given in parts: each part on its
// own (it is synthesised on its own), the drill words as parts of their
// own. The normalised Text is the parts joined by spaces (what the cache
// key and the estimate read); the parts say where the cuts are.
func normalizeParts(s Segment, field string, drill bool) (Segment, error) {
	if len(s.Parts) > MaxParts {
		return Segment{}, fmt.Errorf("%w: %s.parts: %d parts (limit %d)", ErrInvalidProgramme, field, len(s.Parts), MaxParts)
	}
	if strings.Join(s.Parts, "") != s.Text {
		return Segment{}, fmt.Errorf("%w: %s.parts: joined they are not the segment's text", ErrInvalidProgramme, field)
	}
	var parts []string
	if drill {
		parts = append(parts, normalizeLang(s.Lang, drillWords[s.Lang][0]))
	}
	for j, part := range s.Parts {
		norm, err := NormalizeText(s.Lang, part)
		if err != nil {
			return Segment{}, fmt.Errorf("%s.parts[%d]: %w", field, j, err)
		}
		parts = append(parts, norm)
	}
	if drill {
		parts = append(parts, normalizeLang(s.Lang, drillWords[s.Lang][1]))
	}
	return Segment{Lang: s.Lang, Text: strings.Join(parts, " "), Parts: parts}, nil
}

// Speech pace of the default espeak-ng voices at 140 words/min, measured on
// this project's sample warnings (TestEspeakSpeaksBothLanguages checks them against espeak-ng).
const (
	zhSyllablesPerSecond = 3.0
	ugLettersPerSecond   = 11.0
	punctuationPause     = 250 * time.Millisecond
)

// EstimateDuration predicts the playing time of p before rendering, for the
// console. Tones and pauses are exact; speech is estimated from the
// normalised text at the default voices' pace; a clip counts as zero here
// (Renderer.Estimate knows stored clips' lengths). Invalid programmes
// estimate to 0.
func EstimateDuration(p Programme) time.Duration {
	n, err := p.normalize()
	if err != nil {
		return 0
	}
	return estimate(n, true, 0)
}

func estimate(n normalized, speech bool, clip time.Duration) time.Duration {
	var one time.Duration
	if n.Attention != SignalNone {
		one += n.Attention.Duration() + PauseAfterAttention
	}
	if n.Drill {
		one += patternDuration(drillPattern()) + PauseAfterDrill
	}
	if n.Clip != "" {
		one += clip + PauseAfterClip
	}
	if speech && !n.ToneOnly {
		for i, s := range n.Speech {
			one += estimateSegment(s)
			if i < len(n.Speech)-1 {
				one += PauseBetweenSpeech
			}
		}
	}
	one += PauseAfterRepeat
	return time.Duration(n.Repeats) * one
}

// estimateSegment is the speech of a normalised segment: its parts and
// the pauses between them, or its text.
func estimateSegment(s Segment) time.Duration {
	if len(s.Parts) == 0 {
		return estimateSpeech(s)
	}
	var d time.Duration
	for _, p := range s.Parts {
		d += estimateSpeech(Segment{Lang: s.Lang, Text: p})
	}
	return d + time.Duration(len(s.Parts)-1)*PauseBetweenParts
}

func estimateSpeech(s Segment) time.Duration {
	var units float64
	var pauses int
	for _, r := range s.Text {
		switch {
		case unicode.Is(unicode.Han, r):
			units++
		case unicode.IsLetter(r):
			if s.Lang == LangZh {
				units += 0.3 // Latin letters in Chinese text, read as pinyin
			} else {
				units++
			}
		case strings.ContainsRune("，。！？；：,.!?;:،؛؟", r):
			pauses++
		}
	}
	rate := zhSyllablesPerSecond
	if s.Lang == LangUg {
		rate = ugLettersPerSecond
	}
	return time.Duration(units/rate*float64(time.Second)) + time.Duration(pauses)*punctuationPause
}
