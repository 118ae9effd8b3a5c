package audio

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStoreClip(t *testing.T) {
	r := newTestRenderer(t, nil)
	// A quiet stereo 44.1 kHz recording, as a phone might make.
	x := sine(44100, 600, 0.02, 3*time.Second)
	stereo := make([]byte, 0, len(x)*4)
	for _, v := range toInt16(x) {
		stereo = append(stereo, byte(v), byte(uint16(v)>>8), byte(v), byte(uint16(v)>>8))
	}
	wav := wavHeader(1, 2, 44100, 16, 4, stereo)
	sha, d, err := r.StoreClip(context.Background(), bytes.NewReader(wav), "audio/x-wav; charset=binary")
	if err != nil {
		t.Fatal(err)
	}
	if !near(d, 3*time.Second, 10*time.Millisecond) {
		t.Errorf("clip duration %v", d)
	}
	b, err := os.ReadFile(filepath.Join(r.clipDir, sha+".wav"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := DigestReader(bytes.NewReader(b)); got != sha {
		t.Error("stored clip does not hash to its name")
	}
	pcm, _, _ := DecodeWAV(b, 0)
	if pcm.Rate != r.rate {
		t.Errorf("stored at %d Hz", pcm.Rate)
	}
	if rms, _ := ActiveRMS(toFloat(pcm.Samples), pcm.Rate); math.Abs(rms-TargetRMSdBFS) > 1 {
		t.Errorf("clip at %.2f dBFS, want %.1f ±1", rms, TargetRMSdBFS)
	}
	// The same upload stores once, under the same name.
	if sha2, _, _ := r.StoreClip(context.Background(), bytes.NewReader(wav), ""); sha2 != sha {
		t.Error("same clip, different hash")
	}
	// Played before speech, at its own length.
	res, err := r.Render(context.Background(), Programme{Attention: SignalBlue, ClipSHA256: sha, Repeats: 1})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range res.Layout {
		if e.Kind == KindClip {
			found = true
			if !near(e.Duration, 3*time.Second, 10*time.Millisecond) {
				t.Errorf("clip entry lasts %v", e.Duration)
			}
		}
	}
	if !found || res.ToneOnly {
		t.Errorf("layout %+v", res.Layout)
	}
	if est := r.Estimate(Programme{Attention: SignalBlue, ClipSHA256: sha, Repeats: 1}); !near(est, res.Duration, 20*time.Millisecond) {
		t.Errorf("estimate %v, rendered %v", est, res.Duration)
	}
}

func TestStoreClipRejects(t *testing.T) {
	r, err := NewRenderer(Config{Dir: t.TempDir(), MaxClipBytes: 1 << 20, MaxClipDuration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	good, _ := EncodeWAV(PCM{Rate: 16000, Samples: toInt16(sine(16000, 440, 0.3, time.Second))})
	silent, _ := EncodeWAV(PCM{Rate: 16000, Samples: make([]int16, 16000)})
	long, _ := EncodeWAV(PCM{Rate: 4000, Samples: toInt16(sine(4000, 440, 0.3, 20*time.Second))})
	cases := []struct {
		name string
		body []byte
		ct   string
		want error
		msg  string
	}{
		{"mp3 by type", good, "audio/mpeg", ErrUnsupportedFormat, "MP3"},
		{"mp3 by ID3 magic", append([]byte("ID3\x04\x00"), make([]byte, 100)...), "", ErrUnsupportedFormat, "MP3"},
		{"mp3 by frame sync", append([]byte{0xFF, 0xFB, 0x90, 0x00}, make([]byte, 100)...), "application/octet-stream", ErrUnsupportedFormat, "MP3"},
		{"ogg type", good, "audio/ogg", ErrUnsupportedFormat, "audio/ogg"},
		{"bad content type", good, ";;;", ErrUnsupportedFormat, "Content-Type"},
		{"corrupt", []byte("RIFF\x10\x00\x00\x00WAVEjunk\x00\x00\x00\x00"), "audio/wav", ErrBadWAV, "no fmt chunk"},
		{"truncated", good[:len(good)/2], "audio/wav", ErrBadWAV, "declares"},
		{"empty body", nil, "audio/wav", ErrBadWAV, "shorter than a RIFF header"},
		{"silent", silent, "audio/wav", ErrSilentClip, "below"},
		{"no samples", wavHeader(1, 1, 16000, 16, 2, nil), "audio/wav", ErrSilentClip, "no samples"},
		{"too long", long, "audio/wav", ErrClipTooLarge, "limit 10s"},
		{"too big", append(good, make([]byte, 2<<20)...), "audio/wav", ErrClipTooLarge, "bytes"},
		{"absurd rate", wavHeader(1, 1, 1_000_000_000, 16, 2, make([]byte, 8)), "audio/wav", ErrSampleRate, "1000000000 Hz"},
	}
	for _, c := range cases {
		_, _, err := r.StoreClip(context.Background(), bytes.NewReader(c.body), c.ct)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err = %v; want %v mentioning %q", c.name, err, c.want, c.msg)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := r.StoreClip(ctx, bytes.NewReader(good), "audio/wav"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if files := cacheFiles(t, r.dir); len(files) != 0 {
		t.Errorf("rejected uploads left files: %v", files)
	}
}
