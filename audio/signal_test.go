package audio

import (
	"math"
	"testing"
	"time"
)

func TestSignalStringParse(t *testing.T) {
	tests := []struct {
		in   string
		want Signal
		ok   bool
	}{
		{"red", SignalRed, true},
		{"RED", SignalRed, true},
		{" orange ", SignalOrange, true},
		{"yellow", SignalYellow, true},
		{"blue", SignalBlue, true},
		{"all-clear", SignalAllClear, true},
		{"allclear", SignalAllClear, true},
		{"all_clear", SignalAllClear, true},
		{"none", SignalNone, true},
		{"cancel", SignalCancel, true},
		{" Cancel", SignalCancel, true},
		{"unknown", SignalUnknown, false},
		{"", SignalUnknown, false},
		{"purple", SignalUnknown, false},
	}
	for _, tt := range tests {
		got, err := ParseSignal(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	for s := SignalBlue; s <= SignalCancel; s++ {
		back, err := ParseSignal(s.String())
		if err != nil || back != s {
			t.Errorf("round trip %v: %v, %v", s, back, err)
		}
	}
	if got := Signal(42).String(); got != "Signal(42)" {
		t.Errorf("Signal(42).String() = %q", got)
	}
	var s Signal
	if err := s.UnmarshalText([]byte("orange")); err != nil || s != SignalOrange {
		t.Errorf("UnmarshalText: %v %v", s, err)
	}
}

// TestSignalPatterns checks each attention signal as a listener would hear
// it: frequencies within ±1 %, burst onsets and lengths within ±10 ms, every
// burst at the target loudness within 1 dB.
func TestSignalPatterns(t *testing.T) {
	const rate = 16000
	for _, s := range []Signal{SignalRed, SignalOrange, SignalYellow, SignalBlue, SignalAllClear, SignalCancel} {
		t.Run(s.String(), func(t *testing.T) {
			pcm, err := RenderSignal(s, rate)
			if err != nil {
				t.Fatal(err)
			}
			x := toFloat(pcm.Samples)
			pat := s.Pattern()
			if got, want := pcm.Duration(), patternDuration(pat); !near(got, want, time.Millisecond) {
				t.Fatalf("duration %v, want %v", got, want)
			}
			b := findBursts(x, rate, 20*time.Millisecond)
			if len(b) != len(pat) {
				t.Fatalf("found %d bursts %v, pattern has %d", len(b), b, len(pat))
			}
			var at time.Duration
			for i, tone := range pat {
				// The -60 dBFS envelope threshold is crossed a few ms into
				// a raised-cosine ramp; allow for that within the 10 ms budget.
				if !near(b[i].start, at, 10*time.Millisecond) {
					t.Errorf("burst %d starts at %v, want %v", i, b[i].start, at)
				}
				if got := b[i].end - b[i].start; !near(got, tone.On, 10*time.Millisecond) {
					t.Errorf("burst %d lasts %v, want %v", i, got, tone.On)
				}
				seg := x[durationToSamples(at, rate):durationToSamples(at+tone.On, rate)]
				// Skip the ramps when measuring pitch and loudness.
				r := durationToSamples(tone.Ramp, rate)
				core := seg[r : len(seg)-r]
				pitch := core[:min(len(core), rate/2)] // 0.5 s resolves 2 Hz; the scan interpolates finer
				for _, f := range tone.Freqs {
					got := peakFrequency(pitch, rate, f*0.95, f*1.05)
					if math.Abs(got-f)/f > 0.01 {
						t.Errorf("burst %d: peak near %.2f Hz at %.2f Hz (over ±1 %%)", i, f, got)
					}
				}
				if rms, _ := ActiveRMS(core, rate); math.Abs(rms-TargetRMSdBFS) > 1 {
					t.Errorf("burst %d: RMS %.2f dBFS, want %.1f ±1", i, rms, TargetRMSdBFS)
				}
				at += tone.On + tone.Off
			}
			if p := PeakdBFS(x); p > PeakCeilingdBFS {
				t.Errorf("peak %.2f dBFS over ceiling", p)
			}
		})
	}
}

func TestRedIsTwoToneFromFirstInstant(t *testing.T) {
	const rate = 16000
	pcm, _ := RenderSignal(SignalRed, rate)
	x := toFloat(pcm.Samples)
	// Sounding within the first 10 ms (the click-free ramp).
	b := findBursts(x, rate, 0)
	if len(b) == 0 || b[0].start > 10*time.Millisecond {
		t.Fatalf("red bursts %v, want the first from 0 s", b)
	}
	// Both tones present at equal strength, nothing at the neighbours.
	core := x[rate/10 : rate*4/10]
	lo, hi := goertzelPower(core, rate, TwoToneLowHz), goertzelPower(core, rate, TwoToneHighHz)
	if math.Abs(10*math.Log10(lo/hi)) > 0.5 {
		t.Errorf("853 Hz and 960 Hz differ by %.2f dB", 10*math.Log10(lo/hi))
	}
	if off := goertzelPower(core, rate, 660); off > lo/1000 {
		t.Errorf("660 Hz leaks into red: %.3g vs %.3g", off, lo)
	}
	if SignalNone.Duration() != 0 {
		t.Error("none has a duration")
	}
}

func TestDrillMarker(t *testing.T) {
	const rate = 16000
	x := renderPattern(drillPattern(), rate, TargetRMSdBFS)
	b := findBursts(x, rate, 0)
	if len(b) != 4 {
		t.Fatalf("drill intro has %d pips, want 4", len(b))
	}
	for i, bb := range b {
		if !near(bb.end-bb.start, 150*time.Millisecond, 10*time.Millisecond) {
			t.Errorf("pip %d lasts %v", i, bb.end-bb.start)
		}
	}
	if f := peakFrequency(x[:durationToSamples(150*time.Millisecond, rate)], rate, 1300, 1500); math.Abs(f-DrillPipHz)/DrillPipHz > 0.01 {
		t.Errorf("pip at %.1f Hz", f)
	}
}

func TestRenderSignalRejects(t *testing.T) {
	if _, err := RenderSignal(SignalUnknown, 16000); err == nil {
		t.Error("unknown signal rendered")
	}
	for _, r := range []int{0, 100, 1_000_000} {
		if _, err := RenderSignal(SignalRed, r); err == nil {
			t.Errorf("rate %d accepted", r)
		}
	}
}
