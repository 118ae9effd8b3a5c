package audio

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestResamplePreservesToneAndLength(t *testing.T) {
	cases := []struct {
		from, to int
		f        float64
	}{
		{22050, 16000, 1000}, // espeak-ng output to speaker rate
		{16000, 8000, 1000},  // speaker rate to G.711
		{44100, 16000, 3000},
		{8000, 16000, 700},
		{48000, 8000, 300},
	}
	for _, c := range cases {
		in := PCM{Rate: c.from, Samples: toInt16(sine(c.from, c.f, 0.5, time.Second))}
		out, err := Resample(in, c.to)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Samples) != c.to {
			t.Errorf("%d→%d: %d samples for 1 s", c.from, c.to, len(out.Samples))
		}
		x := toFloat(out.Samples)
		mid := x[c.to/10 : c.to*9/10] // away from the edges
		if f := peakFrequency(mid[:c.to/2], c.to, c.f*0.97, c.f*1.03); math.Abs(f-c.f)/c.f > 0.01 {
			t.Errorf("%d→%d: tone at %.2f Hz, want %.0f ±1 %%", c.from, c.to, f, c.f)
		}
		rmsIn, _ := ActiveRMS(toFloat(in.Samples), c.from)
		rmsOut, _ := ActiveRMS(mid, c.to)
		if math.Abs(rmsIn-rmsOut) > 0.2 {
			t.Errorf("%d→%d: level %.2f → %.2f dB", c.from, c.to, rmsIn, rmsOut)
		}
	}
}

// TestResampleAntiAlias: a 5 kHz tone does not fold into the 8 kHz band.
func TestResampleAntiAlias(t *testing.T) {
	in := PCM{Rate: 16000, Samples: toInt16(sine(16000, 5000, 0.5, time.Second))}
	out, _ := Resample(in, 8000)
	rms, ok := ActiveRMS(toFloat(out.Samples[800:7200]), 8000)
	if ok && rms > TargetRMSdBFS-40 {
		t.Errorf("5 kHz leaks at %.1f dBFS after 16→8 kHz", rms)
	}
}

func TestResampleRejectsAbsurdRates(t *testing.T) {
	p := PCM{Rate: 16000, Samples: []int16{1, 2, 3}}
	for _, r := range []int{0, -8000, 3999, 192001, math.MaxInt32} {
		if _, err := Resample(p, r); !errors.Is(err, ErrSampleRate) {
			t.Errorf("target %d: %v", r, err)
		}
		if _, err := Resample(PCM{Rate: r, Samples: p.Samples}, 16000); !errors.Is(err, ErrSampleRate) {
			t.Errorf("source %d: %v", r, err)
		}
	}
	same, _ := Resample(p, 16000)
	if &same.Samples[0] != &p.Samples[0] {
		t.Error("same-rate resample copied")
	}
}

// TestPolyphaseMatchesGeneric: the fast path computes the same filter.
func TestPolyphaseMatchesGeneric(t *testing.T) {
	in := sine(22050, 1234, 0.5, 300*time.Millisecond)
	for _, to := range []int{16000, 8000, 44100} {
		a := polyphaseFor(22050, to).run(in)
		b := resampleGeneric(in, 22050, to)
		if len(a) != len(b) {
			t.Fatalf("→%d: lengths %d vs %d", to, len(a), len(b))
		}
		worst := 0.0
		for i := range a {
			worst = math.Max(worst, math.Abs(float64(a[i]-b[i])))
		}
		if worst > 1e-3 {
			t.Errorf("→%d: differ by %.2g", to, worst)
		}
	}
	// An awkward ratio (prime rates) falls back to the generic path.
	if polyphaseFor(7919, 16001) != nil {
		t.Error("huge L took the polyphase path")
	}
}
