package audio

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Signal is the attention signal played before the spoken message. Each level
// has its own pattern so a listener knows how serious it is before the first
// word; SignalNone plays no tone (e.g. a live follow-up or a cancellation).
//
// The numeric values are stable: SignalBlue (1) to SignalRed (4) follow the
// warning levels blue < yellow < orange < red, so a level 1..4 converts with
// Signal(level).
type Signal int

const (
	SignalUnknown Signal = iota
	SignalBlue
	SignalYellow
	SignalOrange
	SignalRed
	SignalAllClear
	SignalNone
)

var signalNames = [...]string{"unknown", "blue", "yellow", "orange", "red", "all-clear", "none"}

// String returns the lower-case name ("red", "all-clear", …).
func (s Signal) String() string {
	if s < 0 || int(s) >= len(signalNames) {
		return fmt.Sprintf("Signal(%d)", int(s))
	}
	return signalNames[s]
}

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
	return SignalUnknown, fmt.Errorf("audio: unknown signal %q (want blue, yellow, orange, red, all-clear or none)", s)
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
)

// Pattern returns the documented burst sequence of s. The patterns:
//
//	red        853+960 Hz two-tone, continuous, 8.0 s, from the first instant (the longest)
//	orange     853+960 Hz two-tone, 3 × 1.2 s bursts with 0.3 s gaps (4.2 s)
//	yellow     960 Hz, 2 × 1.0 s bursts with a 0.5 s gap (2.5 s)
//	blue       660 Hz, 2 × 0.6 s bursts with a 0.4 s gap, soft 40 ms fades (1.6 s)
//	all-clear  rising chime C5-E5-G5 (523.25, 659.25, 783.99 Hz), 3 × 0.4 s, 0.1 s gaps, soft fades (1.4 s)
//	none       nothing
//
// Every sounding burst is at the same RMS (TargetRMSdBFS): the levels differ
// in pattern and pitch, not in loudness.
func (s Signal) Pattern() []Tone {
	two := []float64{TwoToneLowHz, TwoToneHighHz}
	const ms = time.Millisecond
	switch s {
	case SignalRed:
		return []Tone{{Freqs: two, On: 8000 * ms, Ramp: 10 * ms}}
	case SignalOrange:
		return []Tone{
			{Freqs: two, On: 1200 * ms, Off: 300 * ms, Ramp: 10 * ms},
			{Freqs: two, On: 1200 * ms, Off: 300 * ms, Ramp: 10 * ms},
			{Freqs: two, On: 1200 * ms, Ramp: 10 * ms},
		}
	case SignalYellow:
		return []Tone{
			{Freqs: []float64{960}, On: 1000 * ms, Off: 500 * ms, Ramp: 20 * ms},
			{Freqs: []float64{960}, On: 1000 * ms, Ramp: 20 * ms},
		}
	case SignalBlue:
		return []Tone{
			{Freqs: []float64{660}, On: 600 * ms, Off: 400 * ms, Ramp: 40 * ms},
			{Freqs: []float64{660}, On: 600 * ms, Ramp: 40 * ms},
		}
	case SignalAllClear:
		return []Tone{
			{Freqs: []float64{523.25}, On: 400 * ms, Off: 100 * ms, Ramp: 30 * ms},
			{Freqs: []float64{659.25}, On: 400 * ms, Off: 100 * ms, Ramp: 30 * ms},
			{Freqs: []float64{783.99}, On: 400 * ms, Ramp: 30 * ms},
		}
	}
	return nil
}

// drillPattern is the audible drill/test marker: 4 pips of 1400 Hz, 150 ms
// on, 150 ms off, played right after the attention signal (never before it:
// a red signal must sound from the first instant).
func drillPattern() []Tone {
	const ms = time.Millisecond
	p := make([]Tone, 4)
	for i := range p {
		p[i] = Tone{Freqs: []float64{DrillPipHz}, On: 150 * ms, Off: 150 * ms, Ramp: 10 * ms}
	}
	p[len(p)-1].Off = 0
	return p
}

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
	if s <= SignalUnknown || s > SignalNone {
		return PCM{}, fmt.Errorf("%w: attention: signal %v", ErrInvalidProgramme, s)
	}
	return PCM{Rate: rate, Samples: toInt16(renderPattern(s.Pattern(), rate, TargetRMSdBFS))}, nil
}
