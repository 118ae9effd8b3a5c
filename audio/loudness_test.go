package audio

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// speechLike is bursts of harmonic-rich, amplitude-modulated noise at
// different levels with pauses: the crest factor and gaps of real speech.
func speechLike(rate int, seed uint64, level float64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	var x []float32
	for w := 0; w < 12; w++ {
		n := rate * (150 + rng.IntN(300)) / 1000
		amp := level * (0.3 + rng.Float64())
		f0 := 100 + rng.Float64()*150
		for i := range n {
			env := math.Sin(math.Pi * float64(i) / float64(n))
			v := 0.0
			for h := 1; h <= 8; h++ {
				v += math.Sin(2*math.Pi*f0*float64(h)*float64(i)/float64(rate)) / float64(h)
			}
			v += 0.3 * rng.NormFloat64()
			x = append(x, float32(amp*env*v))
		}
		x = append(x, make([]float32, rate*(50+rng.IntN(250))/1000)...)
	}
	return x
}

func TestNormalizeLoudness(t *testing.T) {
	const rate = 16000
	for _, c := range []struct {
		name  string
		level float64
	}{{"quiet", 0.01}, {"normal", 0.1}, {"hot", 0.9}} {
		x := speechLike(rate, 7, c.level)
		if !normalizeLoudness(x, rate) {
			t.Fatalf("%s: reported silent", c.name)
		}
		rms, _ := ActiveRMS(x, rate)
		if math.Abs(rms-TargetRMSdBFS) > 1 {
			t.Errorf("%s: RMS %.2f dBFS, want %.1f ±1", c.name, rms, TargetRMSdBFS)
		}
		if p := PeakdBFS(x); p > PeakCeilingdBFS+0.01 {
			t.Errorf("%s: peak %.2f dBFS over %.1f", c.name, p, PeakCeilingdBFS)
		}
	}
}

// TestLimiterOnSpikes: a signal with rare full-scale clicks on a quiet bed
// ends up at target RMS with the clicks under the ceiling.
func TestLimiterOnSpikes(t *testing.T) {
	const rate = 16000
	x := sine(rate, 300, 0.02, 2*time.Second)
	for i := 1000; i < len(x); i += 4000 {
		x[i] = 1
	}
	normalizeLoudness(x, rate)
	rms, _ := ActiveRMS(x, rate)
	if math.Abs(rms-TargetRMSdBFS) > 1 {
		t.Errorf("RMS %.2f dBFS", rms)
	}
	if p := PeakdBFS(x); p > PeakCeilingdBFS+0.01 {
		t.Errorf("peak %.2f dBFS", p)
	}
}

func TestNormalizeLoudnessSilence(t *testing.T) {
	x := make([]float32, 16000)
	if normalizeLoudness(x, 16000) {
		t.Error("silence normalised")
	}
	// Hiss under the silence floor is silence too: never amplified to -18 dBFS.
	for i := range x {
		x[i] = float32(dbToAmp(-75)) * float32(i%2*2-1)
	}
	if normalizeLoudness(x, 16000) {
		t.Error("-75 dBFS hiss normalised")
	}
}

func TestActiveRMSIgnoresPauses(t *testing.T) {
	const rate = 16000
	tone := sine(rate, 440, dbToAmp(-20)*math.Sqrt2, time.Second)
	withGaps := append(append(append([]float32{}, tone...), make([]float32, 3*rate)...), tone...)
	a, _ := ActiveRMS(tone, rate)
	b, _ := ActiveRMS(withGaps, rate)
	if math.Abs(a-(-20)) > 0.1 || math.Abs(a-b) > 0.1 {
		t.Errorf("tone %.2f dB, with pauses %.2f dB", a, b)
	}
}
