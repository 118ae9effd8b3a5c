package audio

import "math"

// Loudness targets. Speech, clips and tones are all brought to the same
// active RMS so nothing on the loudspeaker jumps out or disappears:
//
//	TargetRMSdBFS   -18 dBFS  RMS of the 20 ms frames that are not silence
//	PeakCeilingdBFS  -1 dBFS  no sample above this (look-ahead limiter)
//
// "Active" frames are those within activeGateDB of the loudest frame and
// above silenceFloorDB, so pauses between words do not pull the level down.
const (
	TargetRMSdBFS   = -18.0
	PeakCeilingdBFS = -1.0

	activeGateDB   = 30.0
	silenceFloorDB = -60.0
	loudnessFrame  = 0.020 // seconds
	limiterReach   = 0.003 // seconds, look-ahead and release of the limiter
	maxMakeupDB    = 40.0  // never amplify near-silence into noise
)

// ActiveRMS returns the RMS in dBFS over the non-silent 20 ms frames of x,
// and false when every frame is below the silence floor.
func ActiveRMS(x []float32, rate int) (float64, bool) {
	frame := int(float64(rate) * loudnessFrame)
	if frame < 1 {
		frame = 1
	}
	var energies []float64
	maxE := 0.0
	for i := 0; i < len(x); i += frame {
		end := min(i+frame, len(x))
		var e float64
		for _, v := range x[i:end] {
			e += float64(v) * float64(v)
		}
		e /= float64(end - i)
		energies = append(energies, e)
		maxE = max(maxE, e)
	}
	if maxE == 0 {
		return math.Inf(-1), false
	}
	gate := math.Max(maxE*math.Pow(10, -activeGateDB/10), math.Pow(10, silenceFloorDB/10))
	var sum float64
	n := 0
	for _, e := range energies {
		if e >= gate {
			sum += e
			n++
		}
	}
	if n == 0 {
		return math.Inf(-1), false
	}
	return 10 * math.Log10(sum/float64(n)), true
}

// PeakdBFS returns the highest sample magnitude of x in dBFS.
func PeakdBFS(x []float32) float64 {
	var p float64
	for _, v := range x {
		p = math.Max(p, math.Abs(float64(v)))
	}
	return ampToDB(p)
}

// normalizeLoudness scales x in place to TargetRMSdBFS active RMS with peaks
// at or below PeakCeilingdBFS. It returns false when x is silent (left as is).
func normalizeLoudness(x []float32, rate int) bool {
	ceil := dbToAmp(PeakCeilingdBFS)
	for range 4 {
		rms, ok := ActiveRMS(x, rate)
		if !ok {
			return false
		}
		diff := TargetRMSdBFS - rms
		if math.Abs(diff) < 0.2 {
			break
		}
		g := float32(dbToAmp(math.Min(diff, maxMakeupDB)))
		for i := range x {
			x[i] *= g
		}
		limitPeaks(x, rate, ceil)
	}
	limitPeaks(x, rate, ceil)
	return true
}

// limitPeaks applies a look-ahead limiter: the gain each sample needs is
// min-filtered over ±R samples, then box-averaged over ±R/2. Each averaged
// value is a mean of minima over windows that contain the sample, so it never
// exceeds the gain that sample needs: the ceiling holds exactly, and the gain
// moves smoothly over ~R samples instead of clipping.
func limitPeaks(x []float32, rate int, ceil float64) {
	need := make([]float32, len(x))
	any := false
	c := float32(ceil)
	for i, v := range x {
		a := v
		if a < 0 {
			a = -a
		}
		if a > c {
			need[i] = c / a
			any = true
		} else {
			need[i] = 1
		}
	}
	if !any {
		return
	}
	r := max(1, int(float64(rate)*limiterReach))
	minf := slidingMin(need, r)
	h := max(1, r/2)
	// Box average over ±h by prefix sums.
	prefix := make([]float64, len(minf)+1)
	for i, v := range minf {
		prefix[i+1] = prefix[i] + float64(v)
	}
	for i := range x {
		lo := max(0, i-h)
		hi := min(len(x), i+h+1)
		g := float32((prefix[hi] - prefix[lo]) / float64(hi-lo))
		x[i] *= g
		// Rounding in the average can leave a hair over the ceiling.
		if x[i] > c {
			x[i] = c
		} else if x[i] < -c {
			x[i] = -c
		}
	}
}

// slidingMin returns m[i] = min(v[i-r .. i+r]) with a monotonic deque.
func slidingMin(v []float32, r int) []float32 {
	out := make([]float32, len(v))
	dq := make([]int, 0, 2*r+2)
	next := 0
	for i := range v {
		for ; next < len(v) && next <= i+r; next++ {
			for len(dq) > 0 && v[dq[len(dq)-1]] >= v[next] {
				dq = dq[:len(dq)-1]
			}
			dq = append(dq, next)
		}
		for dq[0] < i-r {
			dq = dq[1:]
		}
		out[i] = v[dq[0]]
	}
	return out
}
