package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/alertcast/alertcast/audio"
)

// audioEventHeadlines are the spoken headlines of `audio render --event`,
// a preview convenience: the server composes real programmes from the
// warning's own text.
var audioEventHeadlines = map[string][2]string{
	"sandstorm":  {"沙尘暴", "قۇم-بوران"},
	"rainstorm":  {"暴雨", "قاتتىق يامغۇر"},
	"hail":       {"冰雹", "مۆلدۈر"},
	"gale":       {"大风", "قاتتىق شامال"},
	"cold-wave":  {"寒潮", "سوغۇق ئېقىم"},
	"heat":       {"高温", "يۇقىرى تېمپېراتۇرا"},
	"flood":      {"洪水", "كەلكۈن"},
	"earthquake": {"地震", "يەر تەۋرەش"},
	"geological": {"地质灾害", "گېئولوگىيىلىك ئاپەت"},
	"fire":       {"森林草原火灾", "ئورمان-يايلاق ئوت ئاپىتى"},
}

var audioLevelWords = map[audio.Signal][2]string{
	audio.SignalRed:      {"红色预警", "قىزىل ئاگاھلاندۇرۇش"},
	audio.SignalOrange:   {"橙色预警", "ئاپېلسىن رەڭلىك ئاگاھلاندۇرۇش"},
	audio.SignalYellow:   {"黄色预警", "سېرىق ئاگاھلاندۇرۇش"},
	audio.SignalBlue:     {"蓝色预警", "كۆك ئاگاھلاندۇرۇش"},
	audio.SignalAllClear: {"预警解除", "ئاگاھلاندۇرۇش بىكار قىلىندى"},
}

// audioRender renders a programme locally (no server) for preview.
func audioRender(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("audio render", flag.ContinueOnError)
	level := fs.String("level", "red", "attention signal: red, orange, yellow, blue, all-clear, cancel or none (see audio/SIGNALS.md)")
	event := fs.String("event", "", "hazard code; speaks its headline (e.g. 沙尘暴红色预警) before the text: "+strings.Join(audioSortedKeys(audioEventHeadlines), ", "))
	textZh := fs.String("text-zh", "", "Mandarin text")
	textUg := fs.String("text-ug", "", "Uyghur text (Arabic script)")
	drill := fs.Bool("drill", false, "mark as drill/test (pips + spoken marker)")
	repeats := fs.Int("repeats", 0, "times the programme repeats (default 2)")
	clip := fs.String("clip", "", "recorded WAV to play before the speech")
	toneOnly := fs.Bool("tone-only", false, "render without speech")
	format := fs.String("format", "", "output format wav, pcmu or pcma (default from the -o extension, else wav)")
	out := fs.String("o", "", "output file (required; - for stdout)")
	cache := fs.String("cache", "", "render cache directory (default: a temporary one, removed afterwards)")
	rate := fs.Int("rate", audio.DefaultSampleRate, "sample rate of the WAV")
	espeak := fs.String("espeak", "espeak-ng", "espeak-ng binary")
	estimate := fs.Bool("estimate", false, "only print the estimated duration")
	verbose := fs.Bool("v", false, "log to stderr")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: alertctl audio render --level red --event sandstorm --text-zh … --text-ug … -o out.wav")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("audio render: unexpected argument %q", fs.Arg(0))
	}
	sig, err := audio.ParseSignal(*level)
	if err != nil {
		return fmt.Errorf("audio render: --level: %w", err)
	}
	zh, ug := strings.TrimSpace(*textZh), strings.TrimSpace(*textUg)
	if *event != "" {
		h, ok := audioEventHeadlines[*event]
		if !ok {
			return fmt.Errorf("audio render: --event %q unknown (want one of %s)", *event, strings.Join(audioSortedKeys(audioEventHeadlines), ", "))
		}
		lw := audioLevelWords[sig]
		zh = strings.TrimSpace(h[0] + lw[0] + "。" + zh)
		ug = strings.TrimSpace(h[1] + " " + lw[1] + ". " + ug)
	}
	p := audio.Programme{Attention: sig, Drill: *drill, Repeats: *repeats, ToneOnly: *toneOnly}
	if zh != "" {
		p.Speech = append(p.Speech, audio.Segment{Lang: audio.LangZh, Text: zh})
	}
	if ug != "" {
		p.Speech = append(p.Speech, audio.Segment{Lang: audio.LangUg, Text: ug})
	}
	if *estimate {
		if err := p.Validate(); err != nil {
			return err
		}
		fmt.Printf("estimated %v\n", audio.EstimateDuration(p).Round(100*time.Millisecond))
		return nil
	}
	if *out == "" {
		return errors.New("audio render: -o: required (a file, or - for stdout)")
	}
	fmtName := *format
	if fmtName == "" {
		fmtName = strings.TrimPrefix(filepath.Ext(*out), ".")
		if _, err := audio.ParseFormat(fmtName); err != nil {
			fmtName = "wav"
		}
	}
	f, err := audio.ParseFormat(fmtName)
	if err != nil {
		return fmt.Errorf("audio render: --format: %w", err)
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	dir := *cache
	if dir == "" {
		if dir, err = os.MkdirTemp("", "alertctl-audio-*"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	cfg := audio.Config{Dir: dir, SampleRate: *rate, Logger: logger}
	if len(p.Speech) > 0 && !*toneOnly {
		synth, err := audio.NewEspeak(audio.EspeakConfig{Binary: *espeak})
		if err != nil {
			fmt.Fprintf(os.Stderr, "alertctl: %v — rendering tone-only\n", err)
		} else {
			cfg.Synth = synth
		}
	}
	r, err := audio.NewRenderer(cfg)
	if err != nil {
		return err
	}
	if *clip != "" {
		cf, err := os.Open(*clip)
		if err != nil {
			return fmt.Errorf("audio render: --clip: %w", err)
		}
		sha, _, err := r.StoreClip(ctx, cf, "")
		cf.Close()
		if err != nil {
			return fmt.Errorf("audio render: --clip %s: %w", *clip, err)
		}
		p.ClipSHA256 = sha
	}
	res, err := r.Render(ctx, p)
	if err != nil {
		return fmt.Errorf("audio render: %w", err)
	}
	src, _, err := r.OpenFormat(res.SHA256, f)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := audioWriteOutput(*out, src); err != nil {
		return err
	}
	summary, _ := json.MarshalIndent(struct {
		SHA256   string              `json:"sha256"`
		Duration string              `json:"duration"`
		ToneOnly bool                `json:"tone_only"`
		Synth    string              `json:"synth,omitempty"`
		Format   string              `json:"format"`
		Layout   []audio.LayoutEntry `json:"layout"`
	}{res.SHA256, res.Duration.Round(time.Millisecond).String(), res.ToneOnly, res.Synth, f.String(), res.Layout}, "", "  ")
	if *out == "-" {
		fmt.Fprintln(os.Stderr, string(summary))
	} else {
		fmt.Println(string(summary))
	}
	return nil
}

// audioWriteOutput writes src to path (temp file + rename) or stdout.
func audioWriteOutput(path string, src io.Reader) error {
	if path == "-" {
		_, err := io.Copy(os.Stdout, src)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err = io.Copy(tmp, src); err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

func audioSortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
