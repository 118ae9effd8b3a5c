package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/alertcast/alertcast/internal/testsvc"
)

func TestWAVRoundTripAndSoxi(t *testing.T) {
	p := PCM{Rate: 16000, Samples: toInt16(sine(16000, 440, 0.5, 1500*time.Millisecond))}
	b, err := EncodeWAV(p)
	if err != nil {
		t.Fatal(err)
	}
	back, info, err := DecodeWAV(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if info.Rate != 16000 || info.Channels != 1 || info.BitsPerSample != 16 || !slicesEqual(back.Samples, p.Samples) {
		t.Fatalf("round trip: %+v", info)
	}
	testsvc.Need(t, "soxi")
	testsvc.Need(t, "sox")
	path := writeTemp(t, "x.wav", b)
	for opt, want := range map[string]string{"-r": "16000", "-c": "1", "-b": "16", "-s": "24000", "-e": "Signed Integer PCM"} {
		if got := soxi(t, opt, path); got != want {
			t.Errorf("soxi %s = %q, want %q", opt, got, want)
		}
	}
	// sox reads every sample without complaint.
	if out, err := exec.Command("sox", path, "-n", "stat").CombinedOutput(); err != nil || bytes.Contains(out, []byte("WARN")) {
		t.Errorf("sox stat: %v\n%s", err, out)
	}
}

func slicesEqual(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDecodeWAVSoxFormats has sox write WAVs in the encodings officers'
// recorders produce and checks we read the same signal sox does.
func TestDecodeWAVSoxFormats(t *testing.T) {
	sox := testsvc.Need(t, "sox")
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		rate int
		tol  int // LSB of 16-bit
	}{
		{"s16-mono-16k", []string{"-r", "16000", "-c", "1", "-b", "16", "-e", "signed"}, 16000, 0},
		{"s24-mono-48k", []string{"-r", "48000", "-c", "1", "-b", "24", "-e", "signed"}, 48000, 1},
		{"s32-mono-8k", []string{"-r", "8000", "-c", "1", "-b", "32", "-e", "signed"}, 8000, 1},
		{"u8-mono-11k", []string{"-r", "11025", "-c", "1", "-b", "8", "-e", "unsigned"}, 11025, 0},
		{"f32-mono-44k", []string{"-r", "44100", "-c", "1", "-b", "32", "-e", "floating-point"}, 44100, 1},
		{"f64-mono-22k", []string{"-r", "22050", "-c", "1", "-b", "64", "-e", "floating-point"}, 22050, 1},
		{"ulaw-8k", []string{"-r", "8000", "-c", "1", "-e", "u-law"}, 8000, 0},
		{"alaw-8k", []string{"-r", "8000", "-c", "1", "-e", "a-law"}, 8000, 0},
		{"s16-stereo-44k", []string{"-r", "44100", "-c", "2", "-b", "16", "-e", "signed"}, 44100, 1},
		{"s16-extensible-6ch", []string{"-r", "16000", "-c", "6", "-b", "16", "-e", "signed"}, 16000, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := filepath.Join(dir, c.name+".wav")
			args := append([]string{"-D", "-n"}, c.args...)
			args = append(args, src, "synth", "0.25", "sine", "700", "vol", "0.5")
			if out, err := exec.Command(sox, args...).CombinedOutput(); err != nil {
				t.Fatalf("sox %v: %v %s", args, err, out)
			}
			// sox's own reading: mono (averaging), 16-bit, no dither.
			ref := filepath.Join(dir, c.name+".raw")
			if out, err := exec.Command(sox, "-D", src, "-t", "raw", "-e", "signed", "-b", "16", "-c", "1", ref, "remix", "1-"+strconv.Itoa(channelsOf(c.args))).CombinedOutput(); err != nil {
				t.Fatalf("sox ref: %v %s", err, out)
			}
			data, _ := os.ReadFile(src)
			got, info, err := DecodeWAV(data, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got.Rate != c.rate || info.Channels != channelsOf(c.args) {
				t.Fatalf("rate %d channels %d", got.Rate, info.Channels)
			}
			raw, _ := os.ReadFile(ref)
			if len(raw)/2 != len(got.Samples) {
				t.Fatalf("%d samples, sox %d", len(got.Samples), len(raw)/2)
			}
			worst := 0
			for i := range got.Samples {
				want := int(int16(binary.LittleEndian.Uint16(raw[2*i:])))
				worst = max(worst, abs(int(got.Samples[i])-want))
			}
			if worst > c.tol {
				t.Errorf("differs from sox by up to %d LSB (tolerance %d)", worst, c.tol)
			}
			if f := peakFrequency(toFloat(got.Samples[:c.rate/10]), c.rate, 680, 720); math.Abs(f-700)/700 > 0.01 {
				t.Errorf("tone at %.1f Hz", f)
			}
		})
	}
}

func channelsOf(args []string) int {
	for i, a := range args {
		if a == "-c" {
			n, _ := strconv.Atoi(args[i+1])
			return n
		}
	}
	return 1
}

// wavHeader builds a PCM WAV with arbitrary header fields for bad-input tests.
func wavHeader(format, channels, rate, bits, blockAlign int, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+len(data)))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, binary.LittleEndian, uint32(16))
	binary.Write(&b, binary.LittleEndian, uint16(format))
	binary.Write(&b, binary.LittleEndian, uint16(channels))
	binary.Write(&b, binary.LittleEndian, uint32(rate))
	binary.Write(&b, binary.LittleEndian, uint32(rate*blockAlign))
	binary.Write(&b, binary.LittleEndian, uint16(blockAlign))
	binary.Write(&b, binary.LittleEndian, uint16(bits))
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

func TestDecodeWAVRejects(t *testing.T) {
	good, _ := EncodeWAV(PCM{Rate: 16000, Samples: make([]int16, 100)})
	cases := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrBadWAV, "shorter than a RIFF header"},
		{"not riff", []byte("OggS0000WAVEfmt "), ErrBadWAV, "missing RIFF"},
		{"rifx", append([]byte("RIFX"), good[4:]...), ErrBadWAV, "RIFX"},
		{"not wave", append(append([]byte{}, good[:8]...), append([]byte("AVI "), good[12:]...)...), ErrBadWAV, "want WAVE"},
		{"truncated data", good[:len(good)-3], ErrBadWAV, "declares 200 bytes"},
		{"no data", good[:36], ErrBadWAV, "no data chunk"},
		{"no fmt", append(append([]byte{}, good[:12]...), good[36:]...), ErrBadWAV, "data chunk before fmt"},
		{"zero channels", wavHeader(1, 0, 16000, 16, 0, nil), ErrBadWAV, "0 channels"},
		{"too many channels", wavHeader(1, 9, 16000, 16, 18, make([]byte, 18)), ErrBadWAV, "9 channels"},
		{"rate 1 Hz", wavHeader(1, 1, 1, 16, 2, make([]byte, 4)), ErrSampleRate, "1 Hz"},
		{"rate 10 MHz", wavHeader(1, 1, 10_000_000, 16, 2, make([]byte, 4)), ErrSampleRate, "10000000 Hz"},
		{"12-bit", wavHeader(1, 1, 16000, 12, 2, make([]byte, 4)), ErrBadWAV, "12 bits"},
		{"bits zero", wavHeader(1, 1, 16000, 0, 0, make([]byte, 4)), ErrBadWAV, "0 bits"},
		{"block align", wavHeader(1, 2, 16000, 16, 2, make([]byte, 4)), ErrBadWAV, "block align 2, want 4"},
		{"ragged frame", wavHeader(1, 1, 16000, 16, 2, make([]byte, 5)), ErrBadWAV, "not a whole number"},
		{"mp3 in wav", wavHeader(0x55, 1, 16000, 0, 1, make([]byte, 4)), ErrBadWAV, "format tag 0x0055"},
		{"float16", wavHeader(3, 1, 16000, 16, 2, make([]byte, 4)), ErrBadWAV, "float with 16 bits"},
	}
	for _, c := range cases {
		_, _, err := DecodeWAV(c.data, 0)
		if !errors.Is(err, c.want) || !bytes.Contains([]byte(err.Error()), []byte(c.msg)) {
			t.Errorf("%s: err = %v; want %v mentioning %q", c.name, err, c.want, c.msg)
		}
	}
	// Frame limit.
	if _, _, err := DecodeWAV(good, 50); !errors.Is(err, ErrClipTooLarge) {
		t.Errorf("frame limit: %v", err)
	}
	// Byte limit of ReadWAV.
	if _, _, err := ReadWAV(bytes.NewReader(good), 100, 0); !errors.Is(err, ErrClipTooLarge) {
		t.Errorf("byte limit: %v", err)
	}
	// Writing at an absurd rate is refused too.
	if _, err := EncodeWAV(PCM{Rate: 1, Samples: []int16{1}}); !errors.Is(err, ErrSampleRate) {
		t.Errorf("EncodeWAV rate 1: %v", err)
	}
}

func TestDecodeWAVSkipsUnknownChunksAndPadding(t *testing.T) {
	good, _ := EncodeWAV(PCM{Rate: 8000, Samples: []int16{1, -2, 3}})
	var b bytes.Buffer
	b.Write(good[:12])
	b.WriteString("LIST")
	binary.Write(&b, binary.LittleEndian, uint32(3))
	b.WriteString("abc\x00") // odd size, padded
	b.Write(good[12:])
	p, _, err := DecodeWAV(b.Bytes(), 0)
	if err != nil || !slicesEqual(p.Samples, []int16{1, -2, 3}) {
		t.Fatalf("%v %v", p.Samples, err)
	}
}

// FuzzDecodeWAV: uploads face the outside. Any input either decodes to a
// consistent PCM or fails with ErrBadWAV / ErrSampleRate / ErrClipTooLarge,
// without panicking or allocating beyond the input's size.
func FuzzDecodeWAV(f *testing.F) {
	good, _ := EncodeWAV(PCM{Rate: 16000, Samples: []int16{0, 1000, -1000, 32767, -32768}})
	f.Add(good)
	f.Add(wavHeader(1, 2, 44100, 24, 6, make([]byte, 12)))
	f.Add(wavHeader(3, 1, 48000, 32, 4, []byte{0, 0, 0xc0, 0x7f})) // NaN
	f.Add(wavHeader(7, 1, 8000, 8, 1, []byte{0xff, 0x00, 0x80}))
	f.Add(wavHeader(0xFFFE, 1, 8000, 16, 2, nil))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEdata\xff\xff\xff\xff"))
	f.Add(good[:30])
	f.Fuzz(func(t *testing.T, data []byte) {
		p, info, err := DecodeWAV(data, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrBadWAV) && !errors.Is(err, ErrSampleRate) && !errors.Is(err, ErrClipTooLarge) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if len(p.Samples) != info.Frames || p.Rate != info.Rate {
			t.Fatalf("inconsistent: %d samples, %+v", len(p.Samples), info)
		}
		if p.Rate < MinSampleRate || p.Rate > MaxSampleRate {
			t.Fatalf("rate %d accepted", p.Rate)
		}
		if len(p.Samples) > len(data) {
			t.Fatalf("%d samples from %d bytes", len(p.Samples), len(data))
		}
	})
}
