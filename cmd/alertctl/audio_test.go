package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/internal/testsvc"
)

func TestAudioRender(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.wav")
	args := []string{"--level", "red", "--event", "sandstorm", "--repeats", "1",
		"--text-zh", "今天18:00起有8级大风，能见度低于500米。",
		"--text-ug", "بۈگۈن سائەت 18:00 دىن باشلاپ قاتتىق شامال چىقىدۇ.",
		"-o", out}
	testsvc.Need(t, "espeak-ng")
	if err := audioRender(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	pcm := readWAV(t, out)
	if pcm.Rate != audio.DefaultSampleRate || pcm.Duration() < audio.SignalRed.Duration() {
		t.Errorf("rate %d, duration %v", pcm.Rate, pcm.Duration())
	}
	// The same programme without speech is shorter: the speech is in there.
	toneOut := filepath.Join(dir, "tone.wav")
	if err := audioRender(context.Background(), append(args[:len(args)-2:len(args)-2], "--tone-only", "-o", toneOut)); err != nil {
		t.Fatal(err)
	}
	if tone := readWAV(t, toneOut); pcm.Duration() <= tone.Duration() {
		t.Errorf("with speech %v, tone only %v: no speech rendered", pcm.Duration(), tone.Duration())
	}
	// G.711 by extension.
	ulaw := filepath.Join(dir, "out.pcmu")
	if err := audioRender(context.Background(), []string{"--level", "yellow", "--tone-only", "--text-zh", "测试", "-o", ulaw}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(ulaw); err != nil || st.Size() == 0 {
		t.Errorf("pcmu output: %v", err)
	}
	for _, bad := range [][]string{
		{"--level", "purple", "-o", out},
		{"--level", "red", "--event", "meteor", "-o", out},
		{"--level", "red", "--text-zh", "x"},
		{"--level", "none"},
		{"--level", "red", "--text-zh", "你好", "--format", "mp3", "-o", out},
		{"--level", "red", "stray"},
	} {
		if err := audioRender(context.Background(), bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if err := audioRender(context.Background(), []string{"--level", "red", "--event", "flood", "--estimate"}); err != nil {
		t.Errorf("--estimate: %v", err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) != 0 {
		t.Errorf("temp files left: %v", strings.Join(leftovers, " "))
	}
}

func readWAV(t *testing.T, path string) audio.PCM {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pcm, _, err := audio.DecodeWAV(b, 0)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pcm
}
