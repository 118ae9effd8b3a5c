package audio

import (
	"fmt"
	"math"
	"time"
)

// Supported sample-rate range for anything this package reads or renders.
// 4 kHz is below any telephone codec; 192 kHz is the highest studio rate.
const (
	MinSampleRate = 4000
	MaxSampleRate = 192000
)

// PCM is mono 16-bit linear audio at Rate samples per second.
type PCM struct {
	Rate    int
	Samples []int16
}

// Duration is the playing time of p.
func (p PCM) Duration() time.Duration {
	if p.Rate <= 0 {
		return 0
	}
	return samplesToDuration(len(p.Samples), p.Rate)
}

func samplesToDuration(n, rate int) time.Duration {
	return time.Duration(int64(n) * int64(time.Second) / int64(rate))
}

func durationToSamples(d time.Duration, rate int) int {
	return int((int64(d)*int64(rate) + int64(time.Second)/2) / int64(time.Second))
}

func checkRate(field string, rate int) error {
	if rate < MinSampleRate || rate > MaxSampleRate {
		return fmt.Errorf("%w: %s %d Hz (want %d..%d)", ErrSampleRate, field, rate, MinSampleRate, MaxSampleRate)
	}
	return nil
}

// toFloat converts to [-1, 1).
func toFloat(s []int16) []float32 {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v) / 32768
	}
	return out
}

// toInt16 converts from [-1, 1] with rounding and saturation.
func toInt16(f []float32) []int16 {
	out := make([]int16, len(f))
	for i, v := range f {
		x := math.Round(float64(v) * 32768)
		if x > 32767 {
			x = 32767
		} else if x < -32768 {
			x = -32768
		}
		out[i] = int16(x)
	}
	return out
}

func dbToAmp(db float64) float64 { return math.Pow(10, db/20) }

func ampToDB(a float64) float64 {
	if a <= 0 {
		return math.Inf(-1)
	}
	return 20 * math.Log10(a)
}
