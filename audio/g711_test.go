package audio

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/alertcast/alertcast/internal/testsvc"
)

func TestG711KnownValues(t *testing.T) {
	// Silence and full scale, from ITU-T G.711 tables.
	if got := EncodeMuLaw(nil, []int16{0})[0]; got != 0xFF {
		t.Errorf("µ-law(0) = %#x, want 0xff", got)
	}
	if got := EncodeALaw(nil, []int16{0})[0]; got != 0xD5 {
		t.Errorf("A-law(0) = %#x, want 0xd5", got)
	}
	if got := muLawDecodeTable[0x80]; got != 32124 {
		t.Errorf("µ-law 0x80 decodes to %d, want 32124", got)
	}
	if got := aLawDecodeTable[0xAA]; got != 32256 {
		t.Errorf("A-law 0xaa decodes to %d, want 32256", got)
	}
}

// TestG711RoundTripBound checks every 16-bit input: the decoded value is the
// reconstruction level of the quantisation interval the input falls in, so
// the error is at most half that interval (the codec's own bound), and
// decoding then re-encoding is the identity.
func TestG711RoundTripBound(t *testing.T) {
	for _, law := range []struct {
		name string
		enc  func([]byte, []int16) []byte
		dec  *[256]int16
		clip int
	}{
		{"mu", EncodeMuLaw, &muLawDecodeTable, 32635 - 32124},
		{"a", EncodeALaw, &aLawDecodeTable, 32767 - 32256},
	} {
		t.Run(law.name, func(t *testing.T) {
			levels := make([]int, 0, 256)
			for _, v := range law.dec {
				levels = append(levels, int(v))
			}
			sort.Ints(levels)
			in := make([]int16, 65536)
			for i := range in {
				in[i] = int16(uint16(i))
			}
			codes := law.enc(nil, in)
			worst := 0
			for i, x := range in {
				y := int(law.dec[codes[i]])
				// The interval around y: half-way to each neighbour level.
				j := sort.SearchInts(levels, y)
				lo, hi := y, y
				if j > 0 {
					lo = levels[j-1]
				}
				for k := j + 1; k < len(levels); k++ {
					if levels[k] != y {
						hi = levels[k]
						break
					}
				}
				bound := max(y-lo, hi-y)/2 + 1
				if int(x) > levels[len(levels)-1] || int(x) < levels[0] {
					bound = max(bound, law.clip+1024) // beyond the outermost level: clipped
				}
				if d := abs(int(x) - y); d > bound {
					t.Fatalf("x=%d → code %#x → %d: error %d over bound %d", x, codes[i], y, d, bound)
				} else if d > worst && bound < 1024 {
					worst = d
				}
				if again := law.enc(nil, []int16{int16(y)})[0]; law.dec[again] != int16(y) {
					t.Fatalf("re-encoding %d changes it to %d", y, law.dec[again])
				}
			}
			t.Logf("worst in-range error %d", worst)
		})
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestG711SNR: a speech-level sine through G.711 keeps ≥ 35 dB SNR (the
// codec's nominal ~38 dB).
func TestG711SNR(t *testing.T) {
	x := toInt16(sine(8000, 1004, dbToAmp(TargetRMSdBFS)*math.Sqrt2, time.Second))
	for name, enc := range map[string]func([]byte, []int16) []byte{"mu": EncodeMuLaw, "a": EncodeALaw} {
		codes := enc(nil, x)
		var y []int16
		if name == "mu" {
			y = DecodeMuLaw(nil, codes)
		} else {
			y = DecodeALaw(nil, codes)
		}
		var sig, noise float64
		for i := range x {
			sig += float64(x[i]) * float64(x[i])
			d := float64(x[i]) - float64(y[i])
			noise += d * d
		}
		if snr := 10 * math.Log10(sig/noise); snr < 35 {
			t.Errorf("%s-law SNR %.1f dB < 35", name, snr)
		} else {
			t.Logf("%s-law SNR %.1f dB", name, snr)
		}
	}
}

// TestG711MatchesSox encodes the same samples with sox (no dither) and
// compares code by code, and has sox read our G.711 WAV files.
func TestG711MatchesSox(t *testing.T) {
	sox := testsvc.Need(t, "sox")
	dir := t.TempDir()
	in := make([]int16, 0, 65536)
	for i := -32768; i < 32768; i += 7 {
		in = append(in, int16(i))
	}
	src := filepath.Join(dir, "in.wav")
	wav, _ := EncodeWAV(PCM{Rate: 8000, Samples: in})
	os.WriteFile(src, wav, 0o644)
	for _, c := range []struct {
		enc  string
		f    Format
		mine []byte
	}{{"u-law", FormatPCMU, EncodeMuLaw(nil, in)}, {"a-law", FormatPCMA, EncodeALaw(nil, in)}} {
		out := filepath.Join(dir, c.enc+".raw")
		if b, err := exec.Command(sox, "-D", src, "-t", "raw", "-e", c.enc, "-b", "8", out).CombinedOutput(); err != nil {
			t.Fatalf("sox: %v %s", err, b)
		}
		theirs, _ := os.ReadFile(out)
		if len(theirs) != len(c.mine) {
			t.Fatalf("%s: sox wrote %d codes, we %d", c.enc, len(theirs), len(c.mine))
		}
		// sox rounds to the coder's input resolution where the reference
		// encoder truncates, so inputs right at an interval edge may land in
		// the neighbouring interval: allowed only there, and only by one.
		dec := &muLawDecodeTable
		if c.f == FormatPCMA {
			dec = &aLawDecodeTable
		}
		diff := 0
		for i := range theirs {
			if theirs[i] == c.mine[i] {
				continue
			}
			diff++
			ys, ym := int(dec[theirs[i]]), int(dec[c.mine[i]])
			x := int(in[i])
			if ys == ym {
				continue // ±0: two codes for zero
			}
			if abs(ys-ym) > 1024 || abs(x-ys) > abs(ys-ym) || abs(x-ym) > abs(ys-ym) {
				t.Errorf("%s: x=%d: sox %#x (%d), we %#x (%d): not neighbours around x", c.enc, x, theirs[i], ys, c.mine[i], ym)
			}
			if i < 3 || diff < 4 {
				t.Logf("%s: x=%d: sox %d, we %d", c.enc, x, ys, ym)
			}
		}
		if diff > len(theirs)/50 {
			t.Errorf("%s: %d of %d codes differ from sox", c.enc, diff, len(theirs))
		}
		// Our G.711 WAV container is readable by sox as that encoding.
		gw, err := EncodeG711WAV(PCM{Rate: 8000, Samples: in}, c.f)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, c.enc+".wav")
		os.WriteFile(p, gw, 0o644)
		if got := soxi(t, "-e", p); got != map[Format]string{FormatPCMU: "u-law", FormatPCMA: "A-law"}[c.f] {
			t.Errorf("soxi -e = %q", got)
		}
		// And we read it back to the decoded levels.
		back, info, err := DecodeWAV(gw, 0)
		if err != nil || info.Frames != len(in) {
			t.Fatalf("decode our %s WAV: %v, %d frames", c.enc, err, info.Frames)
		}
		for i, code := range c.mine {
			if back.Samples[i] != dec[code] {
				t.Fatalf("sample %d: %d vs %d", i, back.Samples[i], dec[code])
			}
		}
	}
}
