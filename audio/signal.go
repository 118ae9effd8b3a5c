package audio

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Signal is the attention signal played before the spoken message. Each level
// has its own cadence so a listener knows how serious it is before the first
// word; SignalNone plays no tone (e.g. a live follow-up).
//
// The cadences keep the reading residents know from the civil air defence
// signals (人民防空警报): danger is a pulsed tone — the more urgent, the
// shorter and faster the pulses and the more of them — and a continuous tone
// means the danger is over (解除警报). No warning signal is ever a continuous
// tone. audio/SIGNALS.md has the table and the reasons.
//
// The numeric values are stable: SignalBlue (1) to SignalRed (4) follow the
// warning levels blue < yellow < orange < red, so a level 1..4 converts with
// Signal(level). SignalCancel was added after SignalNone to keep them so.
type Signal int

const (
	SignalUnknown Signal = iota
	SignalBlue
	SignalYellow
	SignalOrange
	SignalRed
	SignalAllClear
	SignalNone
	// SignalCancel announces that a warning was withdrawn (issued in
	// error): a short falling three-note figure, neither a warning cadence
	// nor the all-clear's steady tone.
	SignalCancel
)

var signalNames = [...]string{"unknown", "blue", "yellow", "orange", "red", "all-clear", "none", "cancel"}

// String returns the lower-case name ("red", "all-clear", …).
func (s Signal) String() string {
	if s < 0 || int(s) >= len(signalNames) {
		return fmt.Sprintf("Signal(%d)", int(s))
	}
	return signalNames[s]
}

// valid reports whether s is a known signal (SignalUnknown is not).
func (s Signal) valid() bool { return s > SignalUnknown && int(s) < len(signalNames) }

// Warning reports whether s is one of the four warning levels.
func (s Signal) Warning() bool { return s >= SignalBlue && s <= SignalRed }

// ParseSignal accepts the names String returns (case-insensitive;
// "allclear" and "all_clear" too). Anything else is SignalUnknown and an error.
func ParseSignal(s string) (Signal, error) {
	k := strings.ToLower(strings.TrimSpace(s))
	k = strings.NewReplacer("_", "-", " ", "-").Replace(k)
	if k == "allclear" {
		k = "all-clear"
	}
	for i, n := range signalNames {
		if i != int(SignalUnknown) && n == k {
			return Signal(i), nil
		}
	}
	return SignalUnknown, fmt.Errorf("audio: unknown signal %q (want blue, yellow, orange, red, all-clear, cancel or none)", s)
}

// MarshalText and UnmarshalText make Signal read well in JSON and YAML.
func (s Signal) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Signal) UnmarshalText(b []byte) error {
	v, err := ParseSignal(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Tone is one burst of a pattern: the sum of Freqs (equal amplitudes) for
// On, then silence for Off. Ramp is the raised-cosine fade at each end of the
// burst, inside On, so bursts start and stop without clicks.
type Tone struct {
	Freqs []float64
	On    time.Duration
	Off   time.Duration
	Ramp  time.Duration
}

// Frequencies of the attention signals.
const (
	// Two-tone attention signal of the US Emergency Alert System (47 CFR
	// 11.31) and of other broadcast warning systems: 853 Hz and 960 Hz at once.
	TwoToneLowHz  = 853.0
	TwoToneHighHz = 960.0
	// Drill marker: high, short pips nobody confuses with a warning tone.
	DrillPipHz = 1400.0
	// Notes of the all-clear chord and the cancel figure (C5, E5, G5).
	noteC5 = 523.25
	noteE5 = 659.25
	noteG5 = 783.99
)

// Cadence is the documented shape of a signal: Repeats bursts of On, each
// followed by Off but the last. A single burst with Off 0 is a steady tone.
type Cadence struct {
	Freqs   []float64
	On, Off time.Duration
	Repeats int
	Ramp    time.Duration
}

// cadences is the table of audio/SIGNALS.md. A test renders every entry and
// measures it back from the samples; a change here changes every cache key
// that uses the signal (cacheKey hashes the pattern itself).
//
// Scaled from the civil air defence signals to programme length:
// 预先警报 36 s on / 24 s off ×3 becomes blue's 1.8 s / 1.2 s ×3 (1/20),
// 空袭警报 6 s / 6 s ×15 becomes red's 0.5 s / 0.5 s ×15 (1/12), and the
// levels between step from one to the other; 解除警报 (continuous 3 min)
// becomes an 8 s steady tone.
var cadences = map[Signal][]Cadence{
	SignalBlue:     {{Freqs: []float64{660}, On: 1800 * ms, Off: 1200 * ms, Repeats: 3, Ramp: 20 * ms}},
	SignalYellow:   {{Freqs: []float64{960}, On: 1200 * ms, Off: 800 * ms, Repeats: 5, Ramp: 15 * ms}},
	SignalOrange:   {{Freqs: []float64{TwoToneLowHz, TwoToneHighHz}, On: 800 * ms, Off: 600 * ms, Repeats: 8, Ramp: 10 * ms}},
	SignalRed:      {{Freqs: []float64{TwoToneLowHz, TwoToneHighHz}, On: 500 * ms, Off: 500 * ms, Repeats: 15, Ramp: 10 * ms}},
	SignalAllClear: {{Freqs: []float64{noteC5, noteG5}, On: 8000 * ms, Repeats: 1, Ramp: 40 * ms}},
	SignalCancel: {
		{Freqs: []float64{noteG5}, On: 600 * ms, Off: 150 * ms, Repeats: 1, Ramp: 30 * ms},
		{Freqs: []float64{noteE5}, On: 600 * ms, Off: 150 * ms, Repeats: 1, Ramp: 30 * ms},
		{Freqs: []float64{noteC5}, On: 600 * ms, Repeats: 1, Ramp: 30 * ms},
	},
}

// drillCadence is the audible drill/test marker: 4 pips of 1400 Hz, 150 ms
// on, 150 ms off, played as the programme's intro, before the attention
// signal, so an exercise never opens with a warning cadence.
var drillCadence = []Cadence{{Freqs: []float64{DrillPipHz}, On: 150 * ms, Off: 150 * ms, Repeats: 4, Ramp: 10 * ms}}

const ms = time.Millisecond

// expand turns cadences into bursts; the last burst has no trailing Off.
func expand(cs []Cadence) []Tone {
	var p []Tone
	for _, c := range cs {
		for range c.Repeats {
			p = append(p, Tone{Freqs: append([]float64(nil), c.Freqs...), On: c.On, Off: c.Off, Ramp: c.Ramp})
		}
	}
	if len(p) > 0 {
		p[len(p)-1].Off = 0
	}
	return p
}

// Pattern returns the burst sequence of s (see audio/SIGNALS.md):
//
//	blue       660 Hz,           1.8 s on / 1.2 s off × 3   (7.8 s)
//	yellow     960 Hz,           1.2 s on / 0.8 s off × 5   (9.2 s)
//	orange     853+960 Hz,       0.8 s on / 0.6 s off × 8   (10.6 s)
//	red        853+960 Hz,       0.5 s on / 0.5 s off × 15  (14.5 s), from the first instant
//	all-clear  523+784 Hz chord, steady 8 s                 (the only continuous signal)
//	cancel     784, 659, 523 Hz, 0.6 s each, 0.15 s gaps    (falling, 2.1 s)
//	none       nothing
//
// Every sounding burst is at the same RMS (TargetRMSdBFS): the levels differ
// in cadence and pitch, not in loudness.
func (s Signal) Pattern() []Tone { return expand(cadences[s]) }

// drillPattern is the drill/test intro (see drillCadence).
func drillPattern() []Tone { return expand(drillCadence) }

// patternDuration is the playing time of a burst sequence.
func patternDuration(p []Tone) time.Duration {
	var d time.Duration
	for _, t := range p {
		d += t.On + t.Off
	}
	return d
}

// Duration is how long the attention signal plays.
func (s Signal) Duration() time.Duration { return patternDuration(s.Pattern()) }

// renderPattern synthesises p at rate, each burst at rmsDB dBFS RMS.
func renderPattern(p []Tone, rate int, rmsDB float64) []float32 {
	total := 0
	for _, t := range p {
		total += durationToSamples(t.On, rate) + durationToSamples(t.Off, rate)
	}
	out := make([]float32, 0, total)
	rms := dbToAmp(rmsDB)
	for _, t := range p {
		on := durationToSamples(t.On, rate)
		ramp := durationToSamples(t.Ramp, rate)
		if ramp*2 > on {
			ramp = on / 2
		}
		// Equal-amplitude sines of different frequency add in power.
		amp := rms * math.Sqrt2 / math.Sqrt(float64(len(t.Freqs)))
		for n := range on {
			var v float64
			for _, f := range t.Freqs {
				v += math.Sin(2 * math.Pi * f * float64(n) / float64(rate))
			}
			g := 1.0
			if n < ramp {
				g = 0.5 - 0.5*math.Cos(math.Pi*float64(n)/float64(ramp))
			} else if n >= on-ramp {
				g = 0.5 - 0.5*math.Cos(math.Pi*float64(on-n)/float64(ramp))
			}
			out = append(out, float32(v*amp*g))
		}
		out = append(out, make([]float32, durationToSamples(t.Off, rate))...)
	}
	return out
}

// RenderSignal returns the attention signal s alone as PCM at rate.
func RenderSignal(s Signal, rate int) (PCM, error) {
	if err := checkRate("sample rate", rate); err != nil {
		return PCM{}, err
	}
	if !s.valid() {
		return PCM{}, fmt.Errorf("%w: attention: signal %v", ErrInvalidProgramme, s)
	}
	return PCM{Rate: rate, Samples: toInt16(renderPattern(s.Pattern(), rate, TargetRMSdBFS))}, nil
}
