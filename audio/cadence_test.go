package audio

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"
)

// documentedCadence is one row of the table in SIGNALS.md, written out here
// by hand (not read from cadences) so that the code, the document and the
// rendered audio are checked against each other.
type documentedCadence struct {
	freqs   []float64
	on, off time.Duration
	repeats int
}

var signalTable = map[Signal][]documentedCadence{
	SignalBlue:     {{[]float64{660}, 1800 * ms, 1200 * ms, 3}},
	SignalYellow:   {{[]float64{960}, 1200 * ms, 800 * ms, 5}},
	SignalOrange:   {{[]float64{853, 960}, 800 * ms, 600 * ms, 8}},
	SignalRed:      {{[]float64{853, 960}, 500 * ms, 500 * ms, 15}},
	SignalAllClear: {{[]float64{523.25, 783.99}, 8000 * ms, 0, 1}},
	SignalCancel: {
		{[]float64{783.99}, 600 * ms, 150 * ms, 1},
		{[]float64{659.25}, 600 * ms, 150 * ms, 1},
		{[]float64{523.25}, 600 * ms, 0, 1},
	},
}

var drillTable = documentedCadence{[]float64{1400}, 150 * ms, 150 * ms, 4}

// expectedBurst is where a burst must be heard in a programme.
type expectedBurst struct {
	start, on time.Duration
	freqs     []float64
	what      string
}

func (d documentedCadence) bursts(at time.Duration, what string) ([]expectedBurst, time.Duration) {
	var out []expectedBurst
	for i := range d.repeats {
		out = append(out, expectedBurst{at, d.on, d.freqs, fmt.Sprintf("%s pulse %d", what, i+1)})
		at += d.on
		if i < d.repeats-1 {
			at += d.off
		}
	}
	return out, at
}

// TestSignalCadencesMeasuredFromPCM renders a tone-only programme for every
// signal, as an actual warning and as a drill, reads the WAV back and finds
// the on and off segments by envelope detection over the samples (1 ms RMS
// windows, -60 dBFS). Every segment must start and last as SIGNALS.md says
// within 10 ms (the click-free ramps cross the threshold a few ms in), and
// each pulse must carry the documented frequencies.
func TestSignalCadencesMeasuredFromPCM(t *testing.T) {
	r := newTestRenderer(t, nil)
	for _, sig := range []Signal{SignalBlue, SignalYellow, SignalOrange, SignalRed, SignalAllClear, SignalCancel} {
		for _, drill := range []bool{false, true} {
			name := sig.String()
			if drill {
				name += "/drill"
			}
			t.Run(name, func(t *testing.T) {
				res, err := r.Render(context.Background(), Programme{Attention: sig, Drill: drill, Repeats: 1})
				if err != nil {
					t.Fatal(err)
				}
				f, _, err := r.Open(res.SHA256)
				if err != nil {
					t.Fatal(err)
				}
				pcm, _, err := ReadWAV(f, 1<<30, 0)
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
				x := toFloat(pcm.Samples)

				var want []expectedBurst
				var at time.Duration
				if drill {
					var b []expectedBurst
					b, at = drillTable.bursts(0, "drill pip")
					want = append(want, b...)
					at += PauseAfterDrill
				}
				for i, row := range signalTable[sig] {
					var b []expectedBurst
					b, at = row.bursts(at, fmt.Sprintf("%v[%d]", sig, i))
					want = append(want, b...)
					at += row.off // between rows; the last row's off is 0
				}

				got := findBursts(x, pcm.Rate, 0)
				if len(got) != len(want) {
					t.Fatalf("measured %d sounding segments %v, the table has %d", len(got), got, len(want))
				}
				const tol = 10 * time.Millisecond
				for i, w := range want {
					g := got[i]
					if !near(g.start, w.start, tol) {
						t.Errorf("%s starts at %v, want %v", w.what, g.start, w.start)
					}
					if !near(g.end-g.start, w.on, tol) {
						t.Errorf("%s is on for %v, want %v", w.what, g.end-g.start, w.on)
					}
					if i+1 < len(want) {
						if gap, wgap := got[i+1].start-g.end, want[i+1].start-(w.start+w.on); !near(gap, wgap, tol) {
							t.Errorf("off after %s lasts %v, want %v", w.what, gap, wgap)
						}
					}
					// Pitch over the middle of the pulse, away from the ramps.
					mid := x[durationToSamples(w.start+w.on/2-w.on/4, pcm.Rate):durationToSamples(w.start+w.on/2+w.on/4, pcm.Rate)]
					if i == 0 || i == len(want)-1 || w.freqs[0] != want[i-1].freqs[0] {
						for _, fr := range w.freqs {
							if p := peakFrequency(mid, pcm.Rate, fr*0.97, fr*1.03); math.Abs(p-fr)/fr > 0.01 {
								t.Errorf("%s: tone near %.2f Hz measured at %.2f Hz", w.what, fr, p)
							}
						}
					}
				}
				// After the last pulse: silence to the end of the programme.
				last := got[len(got)-1].end
				if tail := pcm.Duration() - last; !near(tail, PauseAfterAttention+PauseAfterRepeat, tol) {
					t.Errorf("silence after the signal %v, want %v", tail, PauseAfterAttention+PauseAfterRepeat)
				}
			})
		}
	}
}

// TestSignalsReadTheRightWay: the reading residents know from the civil air
// defence sirens, as rules over the table.
func TestSignalsReadTheRightWay(t *testing.T) {
	warnings := []Signal{SignalBlue, SignalYellow, SignalOrange, SignalRed}
	var longestPulse time.Duration
	for i, s := range warnings {
		p := s.Pattern()
		// A warning is never a continuous tone: at least three pulses,
		// every pulse short, every gap real.
		if len(p) < 3 {
			t.Errorf("%v has %d pulses; a warning is pulsed", s, len(p))
		}
		for j, b := range p {
			longestPulse = max(longestPulse, b.On)
			if b.On > 2*time.Second {
				t.Errorf("%v pulse %d lasts %v: reads as a steady tone", s, j, b.On)
			}
			if j < len(p)-1 && b.Off < 400*ms {
				t.Errorf("%v gap %d is %v: too short to hear as a gap", s, j, b.Off)
			}
		}
		if i == 0 {
			continue
		}
		// Increasingly urgent: shorter pulses, a faster beat, more of them.
		q := warnings[i-1].Pattern()
		if !(p[0].On < q[0].On) || !(p[0].On+p[0].Off < q[0].On+q[0].Off) || !(len(p) > len(q)) {
			t.Errorf("%v (%v/%v ×%d) is not more urgent than %v (%v/%v ×%d)",
				s, p[0].On, p[0].Off, len(p), warnings[i-1], q[0].On, q[0].Off, len(q))
		}
	}
	// The all-clear is the one steady tone, longer than any pulse.
	ac := SignalAllClear.Pattern()
	if len(ac) != 1 || ac[0].On < 5*time.Second || ac[0].On <= longestPulse {
		t.Errorf("all-clear %+v: want one steady tone of 5 s or more", ac)
	}
	// Cancel is its own figure: neither steady nor a warning cadence —
	// notes falling in pitch, closer together than any warning's gaps.
	c := SignalCancel.Pattern()
	for i := 1; i < len(c); i++ {
		if c[i].Freqs[0] >= c[i-1].Freqs[0] {
			t.Errorf("cancel note %d (%v Hz) does not fall from %v Hz", i, c[i].Freqs, c[i-1].Freqs)
		}
		if c[i-1].Off >= 400*ms {
			t.Errorf("cancel gap %d is %v, as long as a warning's", i-1, c[i-1].Off)
		}
	}
	if len(c) < 2 {
		t.Errorf("cancel has %d notes", len(c))
	}
	// The drill intro is at a pitch no signal uses, in pips shorter than
	// any pulse.
	for s := SignalBlue; s <= SignalCancel; s++ {
		for _, b := range s.Pattern() {
			for _, f := range b.Freqs {
				if f == DrillPipHz {
					t.Errorf("%v uses the drill pitch", s)
				}
			}
			if b.On <= drillPattern()[0].On {
				t.Errorf("%v has a pulse as short as a drill pip", s)
			}
		}
	}
	// Every signal fits a programme: a few seconds to about 20 s.
	for s := SignalBlue; s <= SignalCancel; s++ {
		if d := s.Duration(); s != SignalNone && (d < time.Second || d > 20*time.Second) {
			t.Errorf("%v lasts %v", s, d)
		}
	}
}

// TestCacheKeyFollowsTheCadence: retuning a cadence must not serve audio
// rendered with the old one, even when nobody bumps renderVersion.
func TestCacheKeyFollowsTheCadence(t *testing.T) {
	r := newTestRenderer(t, nil)
	for _, sig := range []Signal{SignalRed, SignalAllClear, SignalCancel} {
		for _, drill := range []bool{false, true} {
			n, err := Programme{Attention: sig, Drill: drill, Repeats: 1}.normalize()
			if err != nil {
				t.Fatal(err)
			}
			before := r.cacheKey(n)
			saved := cadences[sig]
			changed := append([]Cadence(nil), saved...)
			changed[0].On += 100 * ms
			cadences[sig] = changed
			after := r.cacheKey(n)
			cadences[sig] = saved
			if before == after {
				t.Errorf("%v drill=%v: a changed cadence kept the cache key", sig, drill)
			}
			if again := r.cacheKey(n); again != before {
				t.Errorf("%v: cache key not stable", sig)
			}
			if drill {
				savedDrill := drillCadence
				drillCadence = []Cadence{drillCadence[0]}
				drillCadence[0].Repeats++
				after := r.cacheKey(n)
				drillCadence = savedDrill
				if after == before {
					t.Errorf("%v: a changed drill intro kept the cache key", sig)
				}
			}
		}
	}
}
