package audio

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Renderer. The zero value of each field but Dir means
// the documented default.
type Config struct {
	// Dir holds the content-addressed cache (created if missing).
	Dir string
	// Synth speaks the text. Nil renders tone-only programmes marked
	// Rendered.ToneOnly — never silently.
	Synth Synthesizer
	// SampleRate of rendered programmes. Default 16000 (speaker devices).
	SampleRate int
	// MaxClipBytes bounds an uploaded recording. Default 50 MiB.
	MaxClipBytes int64
	// MaxClipDuration bounds an uploaded recording. Default 5 minutes.
	MaxClipDuration time.Duration
	Logger          *slog.Logger
	// Registerer receives the renderer's metrics; nil registers none.
	Registerer prometheus.Registerer
	// PartCacheBytes bounds the synthesised speech parts (Segment.Parts)
	// kept in memory; they are kept on disk under Dir/parts as well.
	// Default DefaultPartCacheBytes (64 MiB).
	PartCacheBytes int64
}

// DefaultSampleRate is the rate of rendered programmes.
const DefaultSampleRate = 16000

// renderVersion changes whenever the output for the same input changes
// (patterns, pauses, loudness, layout): it is part of every cache key.
// Version 2: pulsed warning cadences, steady all-clear, cancel figure, drill
// intro before the attention signal.
const renderVersion = 2

// Renderer renders programmes to WAV files in a content-addressed cache and
// serves them. It is safe for concurrent use; concurrent renders of the same
// programme share one rendering.
type Renderer struct {
	dir, wavDir, metaDir, keyDir, clipDir, g711Dir, partDir, tmpDir string

	synth     Synthesizer
	synthName string
	rate      int
	maxClip   int64
	maxClipD  time.Duration
	log       *slog.Logger
	metrics   *metrics

	mu       sync.Mutex
	inflight map[string]*renderCall

	parts *partCache
	tones sync.Map // fmt.Sprint(pattern) → []int16, never modified
}

type renderCall struct {
	done chan struct{}
	res  Rendered
	err  error
	// waiters counts the callers that joined this render (guarded by
	// Renderer.mu); tests wait on it instead of sleeping.
	waiters int
}

// NewRenderer prepares the cache directory and removes temp files a crashed
// process left behind.
func NewRenderer(cfg Config) (*Renderer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("audio: Config.Dir: required")
	}
	r := &Renderer{
		dir:      cfg.Dir,
		synth:    cfg.Synth,
		rate:     cfg.SampleRate,
		maxClip:  cfg.MaxClipBytes,
		maxClipD: cfg.MaxClipDuration,
		log:      cfg.Logger,
		inflight: map[string]*renderCall{},
	}
	if r.rate == 0 {
		r.rate = DefaultSampleRate
	}
	if cfg.PartCacheBytes < 0 {
		return nil, fmt.Errorf("audio: Config.PartCacheBytes %d (want 0 for the default, or more)", cfg.PartCacheBytes)
	}
	if cfg.PartCacheBytes == 0 {
		cfg.PartCacheBytes = DefaultPartCacheBytes
	}
	r.parts = newPartCache(cfg.PartCacheBytes)
	if r.rate < 8000 || r.rate > 48000 {
		return nil, fmt.Errorf("%w: Config.SampleRate %d (want 8000..48000)", ErrSampleRate, r.rate)
	}
	if r.maxClip == 0 {
		r.maxClip = 50 << 20
	}
	if r.maxClipD == 0 {
		r.maxClipD = 5 * time.Minute
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	// NewEspeak returns (nil, ErrNoSynthesizer) when espeak-ng is missing;
	// passing that nil *Espeak on must mean "no synthesizer", not a crash.
	if e, ok := r.synth.(*Espeak); ok && e == nil {
		r.synth = nil
	}
	if r.synth != nil {
		r.synthName = r.synth.Name()
	}
	r.wavDir = filepath.Join(r.dir, "wav")
	r.metaDir = filepath.Join(r.dir, "meta")
	r.keyDir = filepath.Join(r.dir, "keys")
	r.clipDir = filepath.Join(r.dir, "clips")
	r.g711Dir = filepath.Join(r.dir, "g711")
	r.partDir = filepath.Join(r.dir, "parts")
	r.tmpDir = filepath.Join(r.dir, "tmp")
	for _, d := range []string{r.wavDir, r.metaDir, r.keyDir, r.clipDir, r.g711Dir, r.partDir, r.tmpDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("audio: cache dir: %w", err)
		}
	}
	// Temp files older than an hour belong to no live render.
	if ents, err := os.ReadDir(r.tmpDir); err == nil {
		for _, e := range ents {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
				_ = os.Remove(filepath.Join(r.tmpDir, e.Name()))
			}
		}
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	r.metrics = m
	if r.synth == nil {
		r.log.Warn("audio: no speech synthesizer; programmes render tone-only (Rendered.ToneOnly=true)")
	}
	return r, nil
}

// SampleRate is the rate of rendered programmes.
func (r *Renderer) SampleRate() int { return r.rate }

// HasSpeech reports whether a synthesizer is configured.
func (r *Renderer) HasSpeech() bool { return r.synth != nil }

// Estimate is EstimateDuration plus the real length of a stored clip, and
// without speech when the renderer has no synthesizer.
func (r *Renderer) Estimate(p Programme) time.Duration {
	n, err := p.normalize()
	if err != nil {
		return 0
	}
	var clip time.Duration
	if n.Clip != "" {
		if info, err := os.Stat(filepath.Join(r.clipDir, n.Clip+".wav")); err == nil {
			clip = samplesToDuration(int((info.Size()-44)/2), r.rate)
		}
	}
	return estimate(n, r.synth != nil, clip)
}

// cacheKey hashes everything the audio depends on: the render version
// (pauses, loudness, layout), the rate, the signal's cadence itself (so a
// retuned cadence never serves yesterday's audio even if nobody bumps
// renderVersion), and the programme as it
// will actually sound. A tone-only rendering drops the text and voice, so
// it is shared by every programme with the same tones, and a voice change
// (engine, version, voice, speed) renders afresh. A segment given in parts
// has its parts in the key: the same words cut differently sound
// different.
func (r *Renderer) cacheKey(n normalized) string {
	key := struct {
		Version   int       `json:"v"`
		Rate      int       `json:"rate"`
		RMS       float64   `json:"rms_dbfs"`
		Peak      float64   `json:"peak_dbfs"`
		Attention string    `json:"attention"`
		Pattern   []Tone    `json:"pattern"`
		Drill     bool      `json:"drill"`
		DrillTone []Tone    `json:"drill_pattern,omitempty"`
		Clip      string    `json:"clip"`
		Repeats   int       `json:"repeats"`
		Speech    []Segment `json:"speech"`
		Synth     string    `json:"synth"`
		ToneOnly  bool      `json:"tone_only"`
	}{
		Version: renderVersion, Rate: r.rate, RMS: TargetRMSdBFS, Peak: PeakCeilingdBFS,
		Attention: n.Attention.String(), Pattern: n.Attention.Pattern(), Drill: n.Drill, Clip: n.Clip, Repeats: n.Repeats,
		Speech: n.Speech, Synth: r.synthName,
	}
	if n.Drill {
		key.DrillTone = drillPattern()
	}
	if len(n.Speech) > 0 && (r.synth == nil || n.ToneOnly) {
		key.Speech, key.Synth, key.ToneOnly = nil, "", true
	}
	b, _ := json.Marshal(key)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Render returns the programme's audio, rendering it on a cache miss. Two
// equal programmes (same normalised text, voices and parameters) give the
// same Rendered.SHA256.
func (r *Renderer) Render(ctx context.Context, p Programme) (Rendered, error) {
	start := time.Now()
	n, err := p.normalize()
	if err != nil {
		r.metrics.result("invalid")
		return Rendered{}, err
	}
	key := r.cacheKey(n)
	if res, ok := r.lookup(key); ok {
		r.metrics.result("hit")
		return res, nil
	}
	for {
		r.mu.Lock()
		c, ok := r.inflight[key]
		if !ok {
			break // still holding r.mu
		}
		c.waiters++
		r.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return Rendered{}, ctx.Err()
		}
		// The render we waited for belonged to a caller who gave up; ours
		// has not, so try again rather than inherit their cancellation.
		if c.err != nil && (errors.Is(c.err, context.Canceled) || errors.Is(c.err, context.DeadlineExceeded)) && ctx.Err() == nil {
			continue
		}
		return c.res, c.err
	}
	c := &renderCall{done: make(chan struct{})}
	r.inflight[key] = c
	r.mu.Unlock()

	c.res, c.err = r.render(ctx, n, key)
	r.mu.Lock()
	delete(r.inflight, key)
	r.mu.Unlock()
	close(c.done)
	if c.err != nil {
		r.metrics.result("error")
		r.log.Error("audio: render failed", "err", c.err)
		return Rendered{}, c.err
	}
	r.metrics.result("rendered")
	r.metrics.renderSeconds.Observe(time.Since(start).Seconds())
	if c.res.ToneOnly {
		r.metrics.toneOnly.Inc()
	}
	r.log.Info("audio: rendered", "sha256", c.res.SHA256, "duration", c.res.Duration, "tone_only", c.res.ToneOnly, "took", time.Since(start))
	return c.res, nil
}

func (r *Renderer) lookup(key string) (Rendered, bool) {
	b, err := os.ReadFile(filepath.Join(r.keyDir, key))
	if err != nil {
		return Rendered{}, false
	}
	sha := strings.TrimSpace(string(b))
	if !reSHA256.MatchString(sha) {
		return Rendered{}, false
	}
	res, err := r.meta(sha)
	if err != nil {
		return Rendered{}, false
	}
	if _, err := os.Stat(filepath.Join(r.wavDir, sha+".wav")); err != nil {
		return Rendered{}, false
	}
	return res, true
}

func (r *Renderer) meta(sha string) (Rendered, error) {
	b, err := os.ReadFile(filepath.Join(r.metaDir, sha+".json"))
	if err != nil {
		return Rendered{}, err
	}
	var res Rendered
	if err := json.Unmarshal(b, &res); err != nil {
		return Rendered{}, fmt.Errorf("audio: metadata of %s: %w", sha, err)
	}
	return res, nil
}

// assembly collects samples and the layout. Every piece is already PCM16
// (speech, tones and clips are converted sample by sample, so assembling
// in PCM16 gives the bytes a float assembly converted at the end would).
type assembly struct {
	rate    int
	samples []int16
	layout  []LayoutEntry
	repeat  int
}

func (a *assembly) add(kind, signal, lang string, x []int16) {
	a.layout = append(a.layout, LayoutEntry{
		Kind: kind, Repeat: a.repeat, Signal: signal, Lang: lang,
		Start:    samplesToDuration(len(a.samples), a.rate),
		Duration: samplesToDuration(len(x), a.rate),
	})
	a.samples = append(a.samples, x...)
}

// pause adds silence, merged with a pause just before it (a tone-only
// repeat ends "attention, pause" rather than "attention, pause, pause").
func (a *assembly) pause(d time.Duration) {
	n := durationToSamples(d, a.rate)
	if k := len(a.layout) - 1; k >= 0 && a.layout[k].Kind == KindPause && a.layout[k].Repeat == a.repeat {
		a.samples = append(a.samples, make([]int16, n)...)
		a.layout[k].Duration = samplesToDuration(len(a.samples), a.rate) - a.layout[k].Start
		return
	}
	a.add(KindPause, "", "", make([]int16, n))
}

func (r *Renderer) render(ctx context.Context, n normalized, key string) (Rendered, error) {
	// The clip first: a missing clip or an over-long programme fails before
	// any synthesis work.
	var clip []int16
	if n.Clip != "" {
		pcm, err := r.loadClip(n.Clip)
		if err != nil {
			return Rendered{}, err
		}
		clip = pcm.Samples
		if d := estimate(n, r.synth != nil, pcm.Duration()); d > MaxProgrammeDuration {
			return Rendered{}, fmt.Errorf("%w: clip_sha256: with the clip the programme would play for about %v (limit %v)", ErrInvalidProgramme, d.Round(time.Minute), MaxProgrammeDuration)
		}
	}
	speech := make([][]int16, len(n.Speech))
	toneOnly := len(n.Speech) > 0 && (r.synth == nil || n.ToneOnly)
	if !toneOnly && len(n.Speech) > 0 {
		var wg sync.WaitGroup
		errs := make([]error, len(n.Speech))
		for i, s := range n.Speech {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if len(s.Parts) > 0 {
					speech[i], errs[i] = r.speakParts(ctx, s)
					return
				}
				x, err := r.speak(ctx, s)
				speech[i], errs[i] = toInt16(x), err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				return Rendered{}, fmt.Errorf("speech[%d] (%s): %w", i, n.Speech[i].Lang, err)
			}
		}
	}

	if err := ctx.Err(); err != nil {
		return Rendered{}, err
	}

	var attention, drill []int16
	one := durationToSamples(PauseAfterRepeat, r.rate) + len(clip) + durationToSamples(PauseAfterClip, r.rate)
	if n.Drill {
		drill = r.tone(drillPattern())
		one += len(drill) + durationToSamples(PauseAfterDrill, r.rate)
	}
	if n.Attention != SignalNone {
		attention = r.tone(n.Attention.Pattern())
		one += len(attention) + durationToSamples(PauseAfterAttention, r.rate)
	}
	for _, x := range speech {
		one += len(x) + durationToSamples(PauseBetweenSpeech, r.rate)
	}
	a := &assembly{rate: r.rate, samples: make([]int16, 0, n.Repeats*one)}
	for rep := 1; rep <= n.Repeats; rep++ {
		a.repeat = rep
		// A drill opens with its pips: nobody hears a warning cadence
		// before knowing it is an exercise. A real red still sounds from
		// the first instant.
		if n.Drill {
			a.add(KindDrill, "", "", drill)
			a.pause(PauseAfterDrill)
		}
		if n.Attention != SignalNone {
			a.add(KindAttention, n.Attention.String(), "", attention)
			a.pause(PauseAfterAttention)
		}
		if clip != nil {
			a.add(KindClip, "", "", clip)
			a.pause(PauseAfterClip)
		}
		if !toneOnly {
			for i, s := range n.Speech {
				a.add(KindSpeech, "", s.Lang, speech[i])
				if i < len(n.Speech)-1 {
					a.pause(PauseBetweenSpeech)
				}
			}
		}
		a.pause(PauseAfterRepeat)
	}
	pcm := PCM{Rate: r.rate, Samples: a.samples}
	wav, err := EncodeWAV(pcm)
	if err != nil {
		return Rendered{}, err
	}
	sum := sha256.Sum256(wav)
	res := Rendered{
		SHA256:     hex.EncodeToString(sum[:]),
		Duration:   pcm.Duration(),
		Size:       int64(len(wav)),
		SampleRate: r.rate,
		ToneOnly:   toneOnly,
		Layout:     a.layout,
	}
	if !toneOnly && len(n.Speech) > 0 {
		res.Synth = r.synthName
	}
	metaJSON, err := json.Marshal(res)
	if err != nil {
		return Rendered{}, err
	}
	// Order matters: the key is written last, so a key that exists always
	// points at complete audio and metadata.
	if err := r.writeAtomic(filepath.Join(r.wavDir, res.SHA256+".wav"), wav); err != nil {
		return Rendered{}, err
	}
	if err := r.writeAtomic(filepath.Join(r.metaDir, res.SHA256+".json"), metaJSON); err != nil {
		return Rendered{}, err
	}
	if err := r.writeAtomic(filepath.Join(r.keyDir, key), []byte(res.SHA256+"\n")); err != nil {
		return Rendered{}, err
	}
	return res, nil
}

// tone is pattern p rendered at the renderer's rate and the target
// loudness, as PCM16: rendered once per pattern (the pattern itself is the
// key, so a retuned cadence is rendered afresh).
func (r *Renderer) tone(p []Tone) []int16 {
	key := fmt.Sprint(p)
	if x, ok := r.tones.Load(key); ok {
		return x.([]int16)
	}
	x := toInt16(renderPattern(p, r.rate, TargetRMSdBFS))
	r.tones.Store(key, x)
	return x
}

// speak synthesises one segment at the renderer's rate and loudness.
func (r *Renderer) speak(ctx context.Context, s Segment) ([]float32, error) {
	pcm, err := r.synth.Synthesize(ctx, s.Lang, s.Text)
	if err != nil {
		return nil, err
	}
	if err := checkRate("synthesizer output rate", pcm.Rate); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSynthesis, err)
	}
	x := resampleFloat(toFloat(pcm.Samples), pcm.Rate, r.rate)
	x = trimSilence(x, r.rate)
	if !normalizeLoudness(x, r.rate) {
		return nil, fmt.Errorf("%w: the synthesizer returned silence", ErrSynthesis)
	}
	return x, nil
}

// trimSilence cuts leading and trailing near-silence (engines pad their
// output), keeping 30 ms so word onsets stay soft.
func trimSilence(x []float32, rate int) []float32 {
	thr := float32(dbToAmp(-50))
	first, last := -1, -1
	for i, v := range x {
		if v > thr || v < -thr {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return x
	}
	keep := rate * 30 / 1000
	return x[max(0, first-keep):min(len(x), last+keep+1)]
}

// writeAtomic writes b to a temp file in the cache and renames it into
// place: readers see the whole file or nothing.
func (r *Renderer) writeAtomic(dst string, b []byte) error {
	f, err := os.CreateTemp(r.tmpDir, filepath.Base(dst)+".*")
	if err != nil {
		return fmt.Errorf("audio: cache write: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("audio: cache write %s: %w", filepath.Base(dst), err)
	}
	return nil
}

// Open returns the WAV file of a rendered programme and its description.
func (r *Renderer) Open(sha string) (io.ReadSeekCloser, Rendered, error) {
	if !reSHA256.MatchString(sha) {
		return nil, Rendered{}, fmt.Errorf("%w: %q is not a lower-case hex SHA-256", ErrNotFound, sha)
	}
	res, err := r.meta(sha)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, Rendered{}, fmt.Errorf("%w: programme %s", ErrNotFound, sha)
		}
		return nil, Rendered{}, err
	}
	f, err := os.Open(filepath.Join(r.wavDir, sha+".wav"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, Rendered{}, fmt.Errorf("%w: programme %s", ErrNotFound, sha)
		}
		return nil, Rendered{}, err
	}
	return f, res, nil
}

// Format is a served representation of a programme.
type Format int

const (
	FormatUnknown Format = iota
	FormatWAV            // PCM16 mono WAV at the renderer's rate
	FormatPCMU           // raw G.711 µ-law, 8 kHz, no header (RTP payload type 0)
	FormatPCMA           // raw G.711 A-law, 8 kHz, no header (RTP payload type 8)
)

var formatNames = [...]string{"unknown", "wav", "pcmu", "pcma"}

func (f Format) String() string {
	if f < 0 || int(f) >= len(formatNames) {
		return fmt.Sprintf("Format(%d)", int(f))
	}
	return formatNames[f]
}

// ParseFormat accepts "wav", "pcmu", "pcma" (the file extensions served).
func ParseFormat(s string) (Format, error) {
	for i, n := range formatNames {
		if i != 0 && strings.EqualFold(n, s) {
			return Format(i), nil
		}
	}
	return FormatUnknown, fmt.Errorf("audio: unknown format %q (want wav, pcmu or pcma)", s)
}

// G711Rate is the sample rate of G.711 representations.
const G711Rate = 8000

// OpenFormat returns a programme in format f, deriving (and caching) G.711
// from the WAV on first use.
func (r *Renderer) OpenFormat(sha string, f Format) (io.ReadSeekCloser, Rendered, error) {
	if f == FormatWAV {
		return r.Open(sha)
	}
	if f != FormatPCMU && f != FormatPCMA {
		return nil, Rendered{}, fmt.Errorf("audio: format %v cannot be served", f)
	}
	wav, res, err := r.Open(sha)
	if err != nil {
		return nil, Rendered{}, err
	}
	defer wav.Close()
	path := filepath.Join(r.g711Dir, sha+"."+f.String())
	if file, err := os.Open(path); err == nil {
		return file, res, nil
	}
	data, err := io.ReadAll(wav)
	if err != nil {
		return nil, Rendered{}, err
	}
	pcm, _, err := DecodeWAV(data, 0)
	if err != nil {
		return nil, Rendered{}, fmt.Errorf("audio: stored programme %s: %w", sha, err)
	}
	g, err := EncodeG711(pcm, f)
	if err != nil {
		return nil, Rendered{}, err
	}
	if err := r.writeAtomic(path, g); err != nil {
		return nil, Rendered{}, err
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, Rendered{}, err
	}
	return file, res, nil
}

// EncodeG711 resamples p to 8 kHz and encodes it with the law of f.
func EncodeG711(p PCM, f Format) ([]byte, error) {
	p8, err := Resample(p, G711Rate)
	if err != nil {
		return nil, err
	}
	switch f {
	case FormatPCMU:
		return EncodeMuLaw(nil, p8.Samples), nil
	case FormatPCMA:
		return EncodeALaw(nil, p8.Samples), nil
	}
	return nil, fmt.Errorf("audio: format %v is not G.711", f)
}
