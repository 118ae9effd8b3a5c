package audio

import (
	"math"
	"sync"
)

// The resampler is a windowed-sinc interpolator (Blackman-windowed, 16 zero
// crossings each side) read from a finely sampled kernel table. When the rate
// goes down the kernel is stretched so its cut-off sits at 0.95 × the new
// Nyquist frequency: no aliasing of speech sibilants into the 8 kHz G.711
// band, and a flat pass band up to where telephone audio stops anyway.

const (
	resampleZeroCrossings = 16
	resampleTableRes      = 512 // kernel samples per unit of input time
	resampleCutoff        = 0.95
)

var (
	resampleKernelOnce sync.Once
	resampleKernel     []float32 // h(x) for x = i/resampleTableRes, 0 ≤ x ≤ zero crossings
)

func buildResampleKernel() {
	n := resampleZeroCrossings*resampleTableRes + 2
	k := make([]float32, n)
	for i := range n {
		x := float64(i) / resampleTableRes
		if x >= resampleZeroCrossings {
			continue
		}
		s, w := sincBlackman(x)
		k[i] = float32(s * w)
	}
	resampleKernel = k
}

// sincBlackman returns sinc(x) and the Blackman window over [-Z, Z] at x,
// for 0 ≤ x < Z (Z = resampleZeroCrossings): the two factors of the
// resampling kernel, multiplied by the callers in their own order.
func sincBlackman(x float64) (sinc, w float64) {
	sinc = 1.0
	if x != 0 {
		sinc = math.Sin(math.Pi*x) / (math.Pi * x)
	}
	w = 0.42 + 0.5*math.Cos(math.Pi*x/resampleZeroCrossings) + 0.08*math.Cos(2*math.Pi*x/resampleZeroCrossings)
	return sinc, w
}

// Resample converts p to rate. Equal rates return p unchanged (same slice).
func Resample(p PCM, rate int) (PCM, error) {
	if err := checkRate("source rate", p.Rate); err != nil {
		return PCM{}, err
	}
	if err := checkRate("target rate", rate); err != nil {
		return PCM{}, err
	}
	if p.Rate == rate {
		return p, nil
	}
	out := resampleFloat(toFloat(p.Samples), p.Rate, rate)
	return PCM{Rate: rate, Samples: toInt16(out)}, nil
}

func resampleFloat(in []float32, from, to int) []float32 {
	if from == to || len(in) == 0 {
		return append([]float32(nil), in...)
	}
	if pp := polyphaseFor(from, to); pp != nil {
		return pp.run(in)
	}
	return resampleGeneric(in, from, to)
}

// polyphase is the resampler for a rational ratio L/M with a small L (every
// pair of standard rates): one precomputed filter per output phase, so each
// output sample is a plain dot product.
type polyphase struct {
	l, m  int         // output/input ratio, reduced
	taps  int         // per phase
	half  int         // taps before the centre
	coefs [][]float32 // [phase][tap]
}

var polyphaseCache sync.Map // [2]int{from, to} → *polyphase

func polyphaseFor(from, to int) *polyphase {
	key := [2]int{from, to}
	if v, ok := polyphaseCache.Load(key); ok {
		return v.(*polyphase)
	}
	g := gcd(from, to)
	l, m := to/g, from/g
	if l > 4096 {
		return nil
	}
	fc := resampleCutoff
	if to < from {
		fc *= float64(to) / float64(from)
	}
	reach := float64(resampleZeroCrossings) / fc
	half := int(math.Ceil(reach))
	taps := 2 * half
	pp := &polyphase{l: l, m: m, taps: taps, half: half, coefs: make([][]float32, l)}
	for ph := range l {
		frac := float64(ph) / float64(l)
		c := make([]float32, taps)
		for k := range taps {
			// Input sample j = base - half + 1 + k, at distance t - j.
			d := frac + float64(half-1-k)
			x := math.Abs(d) * fc
			if x >= resampleZeroCrossings {
				continue
			}
			sinc, w := sincBlackman(x)
			c[k] = float32(fc * sinc * w)
		}
		pp.coefs[ph] = c
	}
	v, _ := polyphaseCache.LoadOrStore(key, pp)
	return v.(*polyphase)
}

func (pp *polyphase) run(in []float32) []float32 {
	nOut := len(in) * pp.l / pp.m
	if nOut == 0 {
		return nil
	}
	// Zero padding on both sides keeps the inner loop free of bounds logic.
	pad := make([]float32, len(in)+2*pp.taps)
	copy(pad[pp.taps:], in)
	out := make([]float32, nOut)
	for i := range out {
		pos := i * pp.m
		base, ph := pos/pp.l, pos%pp.l
		start := pp.taps + base - pp.half + 1
		c := pp.coefs[ph]
		x := pad[start : start+len(c)]
		var acc float32
		for k, v := range c {
			acc += x[k] * v
		}
		out[i] = acc
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// resampleGeneric handles ratios without a small rational form.
func resampleGeneric(in []float32, from, to int) []float32 {
	resampleKernelOnce.Do(buildResampleKernel)
	kern := resampleKernel
	ratio := float64(to) / float64(from)
	fc := resampleCutoff
	if ratio < 1 {
		fc *= ratio
	}
	// Kernel reach in input samples, and table step per input sample.
	reach := float64(resampleZeroCrossings) / fc
	step := fc * resampleTableRes
	nOut := int(math.Floor(float64(len(in)) * ratio))
	if nOut == 0 {
		return nil
	}
	out := make([]float32, nOut)
	for i := range out {
		t := float64(i) / ratio // position in input samples
		lo := int(math.Ceil(t - reach))
		hi := int(math.Floor(t + reach))
		if lo < 0 {
			lo = 0
		}
		if hi > len(in)-1 {
			hi = len(in) - 1
		}
		var acc float64
		for j := lo; j <= hi; j++ {
			x := math.Abs(t-float64(j)) * step
			idx := int(x)
			if idx+1 >= len(kern) {
				continue
			}
			frac := float32(x - float64(idx))
			h := kern[idx] + (kern[idx+1]-kern[idx])*frac
			acc += float64(in[j] * h)
		}
		out[i] = float32(acc * fc)
	}
	return out
}
