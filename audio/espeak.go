package audio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// EspeakConfig configures the espeak-ng backend. The zero value means the
// documented defaults.
type EspeakConfig struct {
	// Binary is the espeak-ng executable, looked up on PATH. Default "espeak-ng".
	Binary string
	// Voices maps language to espeak-ng voice. Defaults: zh → cmn-latn-pinyin,
	// ug → ug. Plain "cmn" is wrong for us: it converts Hanzi to pinyin and
	// then reads the pinyin with English letter rules.
	Voices map[string]string
	// Speed in words per minute. Default 140: slower than espeak's 175 because
	// village loudspeakers echo.
	Speed int
	// Timeout bounds one synthesis run; a hung process is killed. Default 20 s.
	Timeout time.Duration
	// MaxProcesses bounds concurrent espeak-ng processes so a burst of
	// warnings does not starve the server. Default runtime.NumCPU().
	MaxProcesses int
}

// DefaultVoices are the espeak-ng voices per language.
var DefaultVoices = map[string]string{LangZh: "cmn-latn-pinyin", LangUg: "ug"}

// Espeak runs espeak-ng as a time-limited child process per segment, text on
// stdin, WAV on stdout.
type Espeak struct {
	bin     string
	version string
	voices  map[string]string
	speed   int
	timeout time.Duration
	slots   chan struct{}
}

var _ Synthesizer = (*Espeak)(nil)

// NewEspeak finds espeak-ng and checks its voices. It returns an error
// wrapping ErrNoSynthesizer when the binary or a voice is missing, so the
// caller can fall back to tone-only programmes and say so.
func NewEspeak(cfg EspeakConfig) (*Espeak, error) {
	e := &Espeak{bin: cfg.Binary, speed: cfg.Speed, timeout: cfg.Timeout, voices: map[string]string{}}
	if e.bin == "" {
		e.bin = "espeak-ng"
	}
	if e.speed == 0 {
		e.speed = 140
	}
	if e.speed < 80 || e.speed > 450 {
		return nil, fmt.Errorf("audio: espeak speed %d words/min out of range 80..450", e.speed)
	}
	if e.timeout == 0 {
		e.timeout = 20 * time.Second
	}
	procs := cfg.MaxProcesses
	if procs <= 0 {
		procs = runtime.NumCPU()
	}
	e.slots = make(chan struct{}, procs)
	for k, v := range DefaultVoices {
		e.voices[k] = v
	}
	for k, v := range cfg.Voices {
		if err := CheckLanguage(k); err != nil {
			return nil, fmt.Errorf("audio: espeak voices: %w", err)
		}
		e.voices[k] = v
	}
	path, err := exec.LookPath(e.bin)
	if err != nil {
		return nil, fmt.Errorf("%w: espeak-ng not found (%v); install the Debian package espeak-ng", ErrNoSynthesizer, err)
	}
	e.bin = path
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := e.run(ctx, nil, "--version")
	if err != nil {
		return nil, fmt.Errorf("%w: %s --version: %v", ErrNoSynthesizer, path, err)
	}
	// "eSpeak NG text-to-speech: 1.51  Data at: …"
	e.version = strings.TrimSpace(string(out))
	if i := strings.Index(e.version, "speech:"); i >= 0 {
		if f := strings.Fields(e.version[i+len("speech:"):]); len(f) > 0 {
			e.version = f[0]
		}
	}
	list, err := e.run(ctx, nil, "--voices")
	if err != nil {
		return nil, fmt.Errorf("%w: %s --voices: %v", ErrNoSynthesizer, path, err)
	}
	installed := map[string]bool{}
	for _, line := range strings.Split(string(list), "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 2 {
			installed[strings.ToLower(f[1])] = true
		}
	}
	for _, lang := range []string{LangZh, LangUg} {
		if v := e.voices[lang]; !installed[strings.ToLower(v)] {
			return nil, fmt.Errorf("%w: espeak-ng voice %q for %s is not installed", ErrNoSynthesizer, v, lang)
		}
	}
	return e, nil
}

// Name identifies engine, version, voices and speed (part of the cache key).
func (e *Espeak) Name() string {
	return fmt.Sprintf("espeak-ng/%s zh=%s ug=%s speed=%d", e.version, e.voices[LangZh], e.voices[LangUg], e.speed)
}

// Synthesize speaks text (already normalised) in lang.
func (e *Espeak) Synthesize(ctx context.Context, lang, text string) (PCM, error) {
	if err := CheckLanguage(lang); err != nil {
		return PCM{}, err
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return PCM{}, fmt.Errorf("%w: %s segment", ErrEmptyText, lang)
	}
	select {
	case e.slots <- struct{}{}:
		defer func() { <-e.slots }()
	case <-ctx.Done():
		return PCM{}, fmt.Errorf("%w: waiting for an espeak-ng slot: %w", ErrSynthesis, ctx.Err())
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	// -b 1: input is UTF-8. Text goes on stdin so a leading "-" is never
	// taken for an option.
	out, err := e.run(ctx, []byte(text), "-v", e.voices[lang], "-s", fmt.Sprint(e.speed), "-b", "1", "--stdout", "--stdin")
	if err != nil {
		if parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return PCM{}, fmt.Errorf("%w: espeak-ng (%s) did not finish within %v", ErrSynthesis, lang, e.timeout)
		}
		return PCM{}, fmt.Errorf("%w: espeak-ng (%s): %w", ErrSynthesis, lang, err)
	}
	pcm, _, err := decodeWAV(out, 0, true)
	if err != nil {
		return PCM{}, fmt.Errorf("%w: espeak-ng (%s) output: %w", ErrSynthesis, lang, err)
	}
	if len(pcm.Samples) == 0 {
		return PCM{}, fmt.Errorf("%w: espeak-ng (%s) produced no audio", ErrSynthesis, lang)
	}
	return pcm, nil
}

// run executes espeak-ng in its own process group so a wrapper script's
// children die with it when the context ends.
func (e *Espeak) run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, e.bin, args...)
	killProcessGroupOnCancel(cmd)
	cmd.WaitDelay = 2 * time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 200 {
			msg = msg[:200]
		}
		if msg != "" {
			return nil, fmt.Errorf("%v: %s", err, msg)
		}
		return nil, err
	}
	return stdout.Bytes(), nil
}
