package audio

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/alertcast/alertcast/internal/testsvc"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// fakeSynth speaks a harmonic, amplitude-modulated buzz exactly as long as
// estimateSpeech predicts, so layouts are exact. rate 22050 (espeak-ng's)
// sends it through the resampler as real speech goes; the default 16000
// keeps the many renders of these tests cheap on a shared machine.
type fakeSynth struct {
	calls atomic.Int32
	delay time.Duration
	err   error
	level float64
	rate  int
}

func (f *fakeSynth) Name() string { return "fake/1" }

func (f *fakeSynth) Synthesize(ctx context.Context, lang, text string) (PCM, error) {
	f.calls.Add(1)
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return PCM{}, ctx.Err()
		}
	}
	if f.err != nil {
		return PCM{}, f.err
	}
	rate := f.rate
	if rate == 0 {
		rate = 16000
	}
	d := estimateSpeech(Segment{Lang: lang, Text: text})
	n := durationToSamples(d, rate)
	level := f.level
	if level == 0 {
		level = 0.05
	}
	x := make([]float32, n)
	for i := range x {
		tt := float64(i) / float64(rate)
		env := 0.6 + 0.4*math.Sin(2*math.Pi*4*tt)
		v := 0.0
		for h := 1; h <= 6; h++ {
			v += math.Sin(2*math.Pi*180*float64(h)*tt) / float64(h)
		}
		x[i] = float32(level * env * v)
	}
	return PCM{Rate: rate, Samples: toInt16(x)}, nil
}

func newTestRenderer(t testing.TB, synth Synthesizer) *Renderer {
	t.Helper()
	r, err := NewRenderer(Config{Dir: t.TempDir(), Synth: synth})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var bilingual = []Segment{
	{Lang: LangZh, Text: "沙尘暴红色预警：今天18:00起有8级大风，能见度低于500米。请立即回家。"},
	{Lang: LangUg, Text: "قۇم-بوران قىزىل ئاگاھلاندۇرۇشى: بۈگۈن 18:00 دىن باشلاپ قاتتىق شامال چىقىدۇ. دەرھال ئۆيگە قايتىڭ."},
}

var goldenProgrammes = []struct {
	name  string
	p     Programme
	synth bool
	clip  bool
}{
	{"red_bilingual", Programme{Attention: SignalRed, Speech: bilingual}, true, false},
	{"orange_drill_bilingual", Programme{Attention: SignalOrange, Drill: true, Speech: bilingual}, true, false},
	{"yellow_zh_once", Programme{Attention: SignalYellow, Speech: bilingual[:1], Repeats: 1}, true, false},
	{"blue_clip_ug", Programme{Attention: SignalBlue, Speech: bilingual[1:]}, true, true},
	{"all_clear_tone", Programme{Attention: SignalAllClear, Repeats: 1}, true, false},
	{"none_speech_only", Programme{Attention: SignalNone, Speech: bilingual, Repeats: 1}, true, false},
	{"red_no_synthesizer", Programme{Attention: SignalRed, Speech: bilingual}, false, false},
}

// testClip stores a 2.5 s recorded "announcement" and returns its hash.
func testClip(t testing.TB, r *Renderer) string {
	t.Helper()
	x := sine(44100, 500, 0.3, 2500*time.Millisecond)
	wav, _ := EncodeWAV(PCM{Rate: 44100, Samples: toInt16(x)})
	sha, _, err := r.StoreClip(context.Background(), strings.NewReader(string(wav)), "audio/wav")
	if err != nil {
		t.Fatal(err)
	}
	return sha
}

func TestRenderGoldenLayouts(t *testing.T) {
	for _, g := range goldenProgrammes {
		t.Run(g.name, func(t *testing.T) {
			var synth Synthesizer
			if g.synth {
				synth = &fakeSynth{}
			}
			r := newTestRenderer(t, synth)
			p := g.p
			if g.clip {
				p.ClipSHA256 = testClip(t, r)
			}
			res, err := r.Render(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(struct {
				DurationMS int64         `json:"duration_ms"`
				ToneOnly   bool          `json:"tone_only"`
				Synth      string        `json:"synth,omitempty"`
				Layout     []LayoutEntry `json:"layout"`
			}{res.Duration.Milliseconds(), res.ToneOnly, res.Synth, res.Layout}, "", "  ")
			got = append(got, '\n')
			path := filepath.Join("testdata", "layout_"+g.name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./audio -run Golden -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("layout differs from %s (run with -update if intended):\n%s", path, got)
			}
			checkLayoutContiguous(t, res)
			// The fake voice speaks exactly the estimate, so only sample
			// rounding separates estimate and rendering.
			tol := time.Millisecond * time.Duration(len(res.Layout))
			if est := r.Estimate(p); !near(est, res.Duration, tol) {
				t.Errorf("Renderer.Estimate %v, rendered %v", est, res.Duration)
			}
			if est := EstimateDuration(p); g.synth && !g.clip && !near(est, res.Duration, tol) {
				t.Errorf("EstimateDuration %v, rendered %v", est, res.Duration)
			}
		})
	}
}

func checkLayoutContiguous(t *testing.T, res Rendered) {
	t.Helper()
	var at time.Duration
	for i, e := range res.Layout {
		if e.Start != at {
			t.Errorf("entry %d (%s) starts at %v, previous ended at %v", i, e.Kind, e.Start, at)
		}
		at = e.Start + e.Duration
	}
	if !near(at, res.Duration, time.Millisecond) {
		t.Errorf("layout ends at %v, audio lasts %v", at, res.Duration)
	}
}

// TestRenderedAudioMatchesLayout reads the WAV back and checks each layout
// entry is what it claims: attention tones at their frequencies, pauses
// silent, every sounding part at the same loudness within 1 dB.
func TestRenderedAudioMatchesLayout(t *testing.T) {
	// A loud and a quiet voice: normalisation must even them out.
	r := newTestRenderer(t, &fakeSynth{level: 0.4, rate: 22050})
	res, err := r.Render(context.Background(), Programme{Attention: SignalRed, Drill: true, Speech: bilingual})
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := r.Open(res.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, _, err := ReadWAV(f, 1<<30, 0)
	if err != nil {
		t.Fatal(err)
	}
	if pcm.Rate != 16000 || pcm.Duration() != res.Duration {
		t.Fatalf("rate %d duration %v vs %v", pcm.Rate, pcm.Duration(), res.Duration)
	}
	x := toFloat(pcm.Samples)
	if b := findBursts(x[:pcm.Rate/10], pcm.Rate, 0); len(b) == 0 || b[0].start > 10*time.Millisecond {
		t.Errorf("red does not sound from the first instant: %v", b)
	}
	for i, e := range res.Layout {
		seg := x[durationToSamples(e.Start, pcm.Rate):durationToSamples(e.Start+e.Duration, pcm.Rate)]
		rms, loud := ActiveRMS(seg, pcm.Rate)
		switch e.Kind {
		case KindPause:
			if loud && rms > -80 {
				t.Errorf("entry %d: pause at %.1f dBFS", i, rms)
			}
		case KindAttention:
			for _, f := range []float64{TwoToneLowHz, TwoToneHighHz} {
				if got := peakFrequency(seg[pcm.Rate:pcm.Rate*3/2], pcm.Rate, f*0.95, f*1.05); math.Abs(got-f)/f > 0.01 {
					t.Errorf("entry %d: %v Hz found at %.1f", i, f, got)
				}
			}
			fallthrough
		default:
			if math.Abs(rms-TargetRMSdBFS) > 1 {
				t.Errorf("entry %d (%s %s): RMS %.2f dBFS, want %.1f ±1", i, e.Kind, e.Lang, rms, TargetRMSdBFS)
			}
		}
	}
	if p := PeakdBFS(x); p > PeakCeilingdBFS+0.01 {
		t.Errorf("peak %.2f dBFS", p)
	}
}

func TestEstimateDurationInvalid(t *testing.T) {
	if EstimateDuration(Programme{}) != 0 {
		t.Error("invalid programme has an estimate")
	}
	if d := EstimateDuration(Programme{Attention: SignalRed}); d != DefaultRepeats*(SignalRed.Duration()+PauseAfterAttention+PauseAfterRepeat) {
		t.Errorf("tone-only red estimate %v", d)
	}
}

func TestRenderCacheAndSingleFlight(t *testing.T) {
	synth := &fakeSynth{delay: 50 * time.Millisecond}
	r := newTestRenderer(t, synth)
	p := Programme{Attention: SignalOrange, Speech: bilingual}
	var wg sync.WaitGroup
	shas := make([]string, 8)
	for i := range shas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.Render(context.Background(), p)
			if err != nil {
				t.Error(err)
			}
			shas[i] = res.SHA256
		}()
	}
	wg.Wait()
	if n := synth.calls.Load(); n != 2 {
		t.Errorf("synthesizer called %d times for 8 concurrent renders of 2 segments", n)
	}
	for _, s := range shas {
		if s != shas[0] {
			t.Fatalf("different hashes: %v", shas)
		}
	}
	hits := testutil.ToFloat64(r.metrics.renders.WithLabelValues("hit"))
	res, err := r.Render(context.Background(), p)
	if err != nil || res.SHA256 != shas[0] {
		t.Fatal(err)
	}
	// A hit is served from the cache: counted as one, nothing synthesised.
	if got := testutil.ToFloat64(r.metrics.renders.WithLabelValues("hit")); got != hits+1 {
		t.Errorf("renders{result=hit} went from %v to %v, want one more", hits, got)
	}
	if n := synth.calls.Load(); n != 2 {
		t.Errorf("cache hit synthesised again")
	}
	// A new renderer on the same directory (a restart) hits too.
	r2, _ := NewRenderer(Config{Dir: r.dir, Synth: synth})
	if res2, _ := r2.Render(context.Background(), p); res2.SHA256 != res.SHA256 || synth.calls.Load() != 2 {
		t.Errorf("restart missed the cache")
	}
	// Anything that changes the audio changes the hash.
	for _, q := range []Programme{
		{Attention: SignalRed, Speech: bilingual},
		{Attention: SignalOrange, Speech: bilingual, Repeats: 3},
		{Attention: SignalOrange, Speech: bilingual, Drill: true},
		{Attention: SignalOrange, Speech: bilingual[:1]},
		{Attention: SignalOrange, Speech: bilingual, ToneOnly: true},
	} {
		if res3, err := r.Render(context.Background(), q); err != nil || res3.SHA256 == res.SHA256 {
			t.Errorf("%+v: same hash or %v", q, err)
		}
	}
	// Same text, different voice: a different cache key.
	other := &otherVoice{fakeSynth{}}
	r3, _ := NewRenderer(Config{Dir: r.dir, Synth: other})
	if _, err := r3.Render(context.Background(), p); err != nil || other.calls.Load() != 2 {
		t.Errorf("a different voice reused the cache (%d calls, %v)", other.calls.Load(), err)
	}
}

type otherVoice struct{ fakeSynth }

func (o *otherVoice) Name() string { return "fake/2" }

func TestRenderToneOnlyWithoutSynthesizer(t *testing.T) {
	r := newTestRenderer(t, nil)
	if r.HasSpeech() {
		t.Fatal("HasSpeech with no synthesizer")
	}
	// What NewEspeak returns when espeak-ng is missing, passed straight on.
	var missing *Espeak
	if r2, err := NewRenderer(Config{Dir: t.TempDir(), Synth: missing}); err != nil || r2.HasSpeech() {
		t.Fatalf("typed-nil *Espeak: %v, HasSpeech=%v", err, r2 != nil && r2.HasSpeech())
	}
	res, err := r.Render(context.Background(), Programme{Attention: SignalRed, Speech: bilingual})
	if err != nil {
		t.Fatal(err)
	}
	if !res.ToneOnly || res.Synth != "" {
		t.Errorf("ToneOnly=%v Synth=%q", res.ToneOnly, res.Synth)
	}
	for _, e := range res.Layout {
		if e.Kind == KindSpeech {
			t.Errorf("speech entry in a tone-only programme")
		}
	}
	if res.Duration < 2*SignalRed.Duration() {
		t.Errorf("tone-only programme lasts %v", res.Duration)
	}
	// Without speech asked for, it is not "tone-only" in the degraded sense.
	res, _ = r.Render(context.Background(), Programme{Attention: SignalAllClear})
	if res.ToneOnly {
		t.Error("all-clear tone flagged as degraded")
	}
}

func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	return files
}

func TestRenderRejectsBadProgrammes(t *testing.T) {
	r := newTestRenderer(t, &fakeSynth{})
	long := strings.Repeat("风", MaxSegmentRunes+1)
	cases := []struct {
		name  string
		p     Programme
		want  error
		field string
	}{
		{"no signal", Programme{Speech: bilingual}, ErrInvalidProgramme, "attention"},
		{"bad signal", Programme{Attention: 99}, ErrInvalidProgramme, "attention"},
		{"nothing", Programme{Attention: SignalNone}, ErrInvalidProgramme, "nothing to play"},
		{"empty text", Programme{Attention: SignalRed, Speech: []Segment{{Lang: LangZh, Text: " "}}}, ErrEmptyText, "speech[0].text"},
		{"symbols only", Programme{Attention: SignalRed, Drill: true, Speech: []Segment{{Lang: LangZh, Text: "。。。"}}}, ErrEmptyText, "speech[0].text"},
		{"too long", Programme{Attention: SignalRed, Speech: []Segment{{Lang: LangZh, Text: long}}}, ErrTextTooLong, "speech[0].text"},
		{"programme too long", Programme{Attention: SignalRed, Speech: []Segment{{Lang: LangZh, Text: long[:3*900]}, {Lang: LangZh, Text: long[:3*900]}, {Lang: LangZh, Text: long[:3*900]}, {Lang: LangZh, Text: long[:3*900]}}}, ErrTextTooLong, "speech[3].text"},
		{"english", Programme{Attention: SignalRed, Speech: []Segment{{Lang: "en", Text: "hello"}}}, ErrUnsupportedLanguage, "speech[0].lang"},
		{"repeats", Programme{Attention: SignalRed, Repeats: 50}, ErrInvalidProgramme, "repeats"},
		{"negative repeats", Programme{Attention: SignalRed, Repeats: -1}, ErrInvalidProgramme, "repeats"},
		{"bad clip hash", Programme{Attention: SignalRed, ClipSHA256: "../../etc/passwd"}, ErrInvalidProgramme, "clip_sha256"},
		{"unknown clip", Programme{Attention: SignalRed, ClipSHA256: strings.Repeat("a", 64)}, ErrNotFound, "clip_sha256"},
		{"too long to play", Programme{Attention: SignalRed, Repeats: 5, Speech: []Segment{{Lang: LangZh, Text: long[:3*990]}, {Lang: LangZh, Text: long[:3*990]}}}, ErrTextTooLong, "limit 30m0s"},
		{"too many segments", Programme{Attention: SignalRed, Speech: make([]Segment, MaxSegments+1)}, ErrInvalidProgramme, "speech"},
	}
	for _, c := range cases {
		_, err := r.Render(context.Background(), c.p)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: err = %v; want %v naming %q", c.name, err, c.want, c.field)
		}
	}
	if files := cacheFiles(t, r.dir); len(files) != 0 {
		t.Errorf("bad programmes left files: %v", files)
	}
}

// TestRenderFailureLeavesNothing: a synthesizer that fails or hangs past the
// caller's deadline produces a clear error and no cache files.
func TestRenderFailureLeavesNothing(t *testing.T) {
	for _, synth := range []*fakeSynth{
		{err: errors.New("engine exploded")},
		{delay: 10 * time.Second},
	} {
		r := newTestRenderer(t, synth)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := r.Render(ctx, Programme{Attention: SignalRed, Speech: bilingual})
		cancel()
		if err == nil || !strings.Contains(err.Error(), "speech[") {
			t.Errorf("err = %v", err)
		}
		if files := cacheFiles(t, r.dir); len(files) != 0 {
			t.Errorf("failed render left files: %v", files)
		}
	}
	// A hung espeak-ng, killed by its own time limit.
	bin := fakeEspeak(t, fakeVoices, "sleep 30 & wait")
	e, err := NewEspeak(EspeakConfig{Binary: bin, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRenderer(t, e)
	_, err = r.Render(context.Background(), Programme{Attention: SignalRed, Speech: bilingual})
	if !errors.Is(err, ErrSynthesis) {
		t.Errorf("hung espeak: %v", err)
	}
	if files := cacheFiles(t, r.dir); len(files) != 0 {
		t.Errorf("hung espeak left files: %v", files)
	}
}

func TestNewRendererConfig(t *testing.T) {
	if _, err := NewRenderer(Config{}); err == nil {
		t.Error("empty Dir accepted")
	}
	for _, rate := range []int{1, 7999, 96000} {
		if _, err := NewRenderer(Config{Dir: t.TempDir(), SampleRate: rate}); !errors.Is(err, ErrSampleRate) {
			t.Errorf("rate %d: %v", rate, err)
		}
	}
	// Stale temp files from a crash are swept; fresh ones (a live writer) kept.
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tmp"), 0o755)
	stale := filepath.Join(dir, "tmp", "x.wav.123")
	fresh := filepath.Join(dir, "tmp", "y.wav.456")
	os.WriteFile(stale, []byte("half"), 0o644)
	os.WriteFile(fresh, []byte("half"), 0o644)
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	if _, err := NewRenderer(Config{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale temp file kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("fresh temp file removed")
	}
}

// TestRenderWithEspeak: the real thing — a bilingual red warning through
// espeak-ng plays in sox without errors, with speech in both languages.
func TestRenderWithEspeak(t *testing.T) {
	e := newEspeak(t)
	r := newTestRenderer(t, e)
	res, err := r.Render(context.Background(), Programme{Attention: SignalRed, Drill: true, Speech: []Segment{{Lang: LangZh, Text: sampleZh}, {Lang: LangUg, Text: sampleUg}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.ToneOnly || !strings.HasPrefix(res.Synth, "espeak-ng/") {
		t.Errorf("ToneOnly=%v Synth=%q", res.ToneOnly, res.Synth)
	}
	path := filepath.Join(r.wavDir, res.SHA256+".wav")
	{
		sox := testsvc.Need(t, "sox")
		testsvc.Need(t, "soxi")
		out, err := exec.Command(sox, path, "-n", "stat").CombinedOutput()
		if err != nil || strings.Contains(string(out), "WARN") || strings.Contains(string(out), "FAIL") {
			t.Errorf("sox: %v\n%s", err, out)
		}
		if d, _ := strconv.ParseFloat(soxi(t, "-D", path), 64); math.Abs(d-res.Duration.Seconds()) > 0.001 {
			t.Errorf("soxi -D %.3f s, rendered %v", d, res.Duration)
		}
	}
	f, _, _ := r.Open(res.SHA256)
	pcm, _, err := ReadWAV(f, 1<<30, 0)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	x := toFloat(pcm.Samples)
	speech := 0
	for _, e := range res.Layout {
		if e.Kind != KindSpeech {
			continue
		}
		speech++
		seg := x[durationToSamples(e.Start, pcm.Rate):durationToSamples(e.Start+e.Duration, pcm.Rate)]
		if rms, _ := ActiveRMS(seg, pcm.Rate); math.Abs(rms-TargetRMSdBFS) > 1 {
			t.Errorf("%s speech at %.2f dBFS", e.Lang, rms)
		}
		if e.Duration < 5*time.Second || e.Duration > 60*time.Second {
			t.Errorf("%s speech lasts %v", e.Lang, e.Duration)
		}
	}
	if speech != 4 {
		t.Errorf("%d speech entries, want 4", speech)
	}
}

// TestRenderWaiterOutlivesCancelledLeader: when the caller whose render
// others joined gives up, the others render for themselves.
func TestRenderWaiterOutlivesCancelledLeader(t *testing.T) {
	synth := &fakeSynth{delay: 300 * time.Millisecond}
	r := newTestRenderer(t, synth)
	p := Programme{Attention: SignalBlue, Speech: bilingual[:1], Repeats: 1}
	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan error, 1)
	go func() {
		_, err := r.Render(leaderCtx, p)
		leaderDone <- err
	}()
	// Wait until the leader is in flight, then join it and cancel it.
	waitUntil(t, "the leader synthesising", func() bool { return synth.calls.Load() > 0 })
	followerDone := make(chan error, 1)
	go func() {
		_, err := r.Render(context.Background(), p)
		followerDone <- err
	}()
	waitUntil(t, "the follower joining the leader's render", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range r.inflight {
			if c.waiters > 0 {
				return true
			}
		}
		return false
	})
	cancel()
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: %v", err)
	}
	if err := <-followerDone; err != nil {
		t.Errorf("follower inherited the leader's cancellation: %v", err)
	}
	if n := synth.calls.Load(); n != 2 {
		t.Errorf("synthesizer called %d times, want 2 (the cancelled leader's, then the follower's own)", n)
	}
}

// waitUntil polls cond (a state change, not a time budget) for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testsvc.WaitFor(t, 10*time.Second, what, cond)
}

// recordingSynth remembers what it was asked to say.
type recordingSynth struct {
	fakeSynth
	mu    sync.Mutex
	texts map[string]string
}

func (r *recordingSynth) Synthesize(ctx context.Context, lang, text string) (PCM, error) {
	r.mu.Lock()
	if r.texts == nil {
		r.texts = map[string]string{}
	}
	r.texts[lang] = text
	r.mu.Unlock()
	return r.fakeSynth.Synthesize(ctx, lang, text)
}

// TestDrillIsSpokenAndNormalised: the synthesizer gets normalised text, and
// in a drill each language is told it is a drill before and after.
func TestDrillIsSpokenAndNormalised(t *testing.T) {
	synth := &recordingSynth{}
	r := newTestRenderer(t, synth)
	if _, err := r.Render(context.Background(), Programme{Attention: SignalOrange, Drill: true, Speech: bilingual}); err != nil {
		t.Fatal(err)
	}
	zh, ug := synth.texts[LangZh], synth.texts[LangUg]
	if !strings.HasPrefix(zh, "这是演练。") || !strings.Contains(zh, "以上是演练") {
		t.Errorf("zh drill text: %q", zh)
	}
	if !strings.HasPrefix(ug, "بۇ مەشىق") || !strings.Contains(ug, "مەشىق،") {
		t.Errorf("ug drill text: %q", ug)
	}
	for lang, text := range synth.texts {
		if strings.ContainsAny(text, "0123456789%") {
			t.Errorf("%s text not normalised: %q", lang, text)
		}
	}
	if !strings.Contains(zh, "十八点") || !strings.Contains(zh, "五百米") {
		t.Errorf("zh numbers: %q", zh)
	}
}

func TestRendererMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	r, err := NewRenderer(Config{Dir: t.TempDir(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	p := Programme{Attention: SignalBlue, Speech: bilingual[:1], Repeats: 1}
	r.Render(context.Background(), p)
	r.Render(context.Background(), p)
	r.Render(context.Background(), Programme{})
	for result, want := range map[string]float64{"rendered": 1, "hit": 1, "invalid": 1} {
		if got := testutil.ToFloat64(r.metrics.renders.WithLabelValues(result)); got != want {
			t.Errorf("renders{result=%q} = %v, want %v", result, got, want)
		}
	}
	if got := testutil.ToFloat64(r.metrics.toneOnly); got != 1 {
		t.Errorf("tone_only_total = %v", got)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n == 0 {
		t.Errorf("gather: %d, %v", n, err)
	}
	// A second renderer on the same registry is a configuration error, said clearly.
	if _, err := NewRenderer(Config{Dir: t.TempDir(), Registerer: reg}); err == nil {
		t.Error("duplicate metrics registration accepted")
	}
}
