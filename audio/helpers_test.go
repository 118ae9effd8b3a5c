package audio

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// goertzelPower returns the normalised power of frequency f in x.
func goertzelPower(x []float32, rate int, f float64) float64 {
	w := 2 * math.Pi * f / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + c*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	n := float64(len(x))
	return p / (n * n / 4) // a full-scale sine of amplitude A gives ≈ A²
}

// peakFrequency scans lo..hi in 0.25 Hz steps for the strongest frequency,
// over a Hann-windowed copy (so a neighbouring tone does not leak in).
func peakFrequency(x []float32, rate int, lo, hi float64) float64 {
	wx := make([]float32, len(x))
	for i, v := range x {
		wx[i] = v * float32(0.5-0.5*math.Cos(2*math.Pi*float64(i)/float64(len(x)-1)))
	}
	best, bestF := -1.0, 0.0
	for f := lo; f <= hi; f += 0.25 {
		if p := goertzelPower(wx, rate, f); p > best {
			best, bestF = p, f
		}
	}
	return bestF
}

// bursts finds the sounding intervals of x from a 2 ms RMS envelope
// (threshold -60 dBFS: a few ms into a raised-cosine ramp), merging gaps
// shorter than minGap.
type burst struct{ start, end time.Duration }

func findBursts(x []float32, rate int, minGap time.Duration) []burst {
	win := rate / 1000
	thr := dbToAmp(-60)
	var out []burst
	in := false
	var cur burst
	for i := 0; i < len(x); i += win {
		end := min(i+win, len(x))
		var e float64
		for _, v := range x[i:end] {
			e += float64(v) * float64(v)
		}
		loud := math.Sqrt(e/float64(end-i)) > thr
		t := samplesToDuration(i, rate)
		switch {
		case loud && !in:
			in = true
			if len(out) > 0 && t-out[len(out)-1].end < minGap {
				cur = out[len(out)-1]
				out = out[:len(out)-1]
			} else {
				cur = burst{start: t}
			}
		case !loud && in:
			in = false
			cur.end = t
			out = append(out, cur)
		}
	}
	if in {
		cur.end = samplesToDuration(len(x), rate)
		out = append(out, cur)
	}
	return out
}

func near(a, b, tol time.Duration) bool {
	d := a - b
	return d <= tol && d >= -tol
}

// soxInfo runs soxi with an option on path.
func soxi(t *testing.T, opt, path string) string {
	t.Helper()
	out, err := exec.Command("soxi", opt, path).CombinedOutput()
	if err != nil {
		t.Fatalf("soxi %s %s: %v\n%s", opt, path, err, out)
	}
	return string(trimNL(out))
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func sine(rate int, f, amp float64, d time.Duration) []float32 {
	n := durationToSamples(d, rate)
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(amp * math.Sin(2*math.Pi*f*float64(i)/float64(rate)))
	}
	return x
}
