package audio

import (
	"context"
	"errors"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// countingSynth counts what it is asked to say, per text.
type countingSynth struct {
	fakeSynth
	mu    sync.Mutex
	texts map[string]int
	total atomic.Int32
}

func (c *countingSynth) Synthesize(ctx context.Context, lang, text string) (PCM, error) {
	c.mu.Lock()
	if c.texts == nil {
		c.texts = map[string]int{}
	}
	c.texts[lang+":"+text]++
	c.mu.Unlock()
	c.total.Add(1)
	return c.fakeSynth.Synthesize(ctx, lang, text)
}

func (c *countingSynth) said() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.texts {
		out[k] = v
	}
	return out
}

const (
	partHead  = "洪水红色预警。叶尔羌河上游来水，今天18:00前水位将超过警戒线。"
	partInstr = "带好证件和三天的饮水，照顾好老人和孩子。"
	ugHead    = "كەلكۈن قىزىل ئاگاھلاندۇرۇشى. سۇ كۆپىيىۋاتىدۇ. "
	ugInstr   = "كىملىكىڭىزنى ئېلىۋېلىڭ."
)

// villageSpeech is a bilingual programme whose guidance sentence (the
// middle part) is the village's own.
func villageSpeech(zhGuide, ugGuide string) Programme {
	return Programme{Attention: SignalRed, Speech: []Segment{
		{Lang: LangZh, Text: partHead + zhGuide + partInstr, Parts: []string{partHead, zhGuide, partInstr}},
		{Lang: LangUg, Text: ugHead + ugGuide + ugInstr, Parts: []string{ugHead, ugGuide, ugInstr}},
	}}
}

// The words every village shares are synthesised once however many
// villages' programmes are rendered, at once or one after the other; each
// village's own sentence is synthesised once per distinct sentence.
func TestPartsSharedByProgrammesAreSpokenOnce(t *testing.T) {
	synth := &countingSynth{fakeSynth: fakeSynth{delay: 20 * time.Millisecond}}
	r := newTestRenderer(t, synth)
	guides := []string{"请前往东北方向1.2公里的第一避难场所。", "请前往西方向2.5公里的第二避难场所。", "请前往南方向800米的第三避难场所。"}
	ugGuides := []string{"شەرقىي شىمالغا بېرىڭ. ", "غەربكە بېرىڭ. ", "جەنۇبقا بېرىڭ. "}
	var wg sync.WaitGroup
	shas := make([]string, 12)
	for i := range shas {
		wg.Go(func() {
			// Villages 0, 3, 6, 9 are told the same: one programme.
			res, err := r.Render(context.Background(), villageSpeech(guides[i%3], ugGuides[i%3]))
			if err != nil {
				t.Error(err)
				return
			}
			shas[i] = res.SHA256
		})
	}
	wg.Wait()
	said := synth.said()
	for text, n := range said {
		if n != 1 {
			t.Errorf("%q synthesised %d times", text, n)
		}
	}
	// 2 shared parts per language + 3 guidance sentences per language.
	if len(said) != 10 {
		t.Errorf("%d distinct texts synthesised, want 10: %v", len(said), said)
	}
	for i := range shas {
		if shas[i] != shas[i%3] || shas[0] == shas[1] || shas[1] == shas[2] || shas[0] == shas[2] {
			t.Fatalf("programme hashes do not follow the guidance: %v", shas)
		}
	}
	// A restart on the same directory: every part comes from the disk.
	r2, err := NewRenderer(Config{Dir: r.dir, Synth: synth})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r2.Render(context.Background(), villageSpeech("请前往北方向5公里的第四避难场所。", ugGuides[0]))
	if err != nil {
		t.Fatal(err)
	}
	if got := synth.total.Load(); got != 11 {
		t.Errorf("after a restart, %d syntheses in all; want 11 (only the new sentence)", got)
	}
	if got := testutil.ToFloat64(r2.metrics.parts.WithLabelValues("disk")); got != 5 {
		t.Errorf("parts from disk: %v, want 5", got)
	}
	if res.SHA256 == shas[0] {
		t.Error("a new sentence gave an old programme")
	}
}

// Two villages' programmes differ only in the span of their own sentence:
// every other sample (tones, pauses, the shared words) is the same, and
// the shared words are exactly their part's audio.
func TestVillageProgrammesDifferOnlyInTheirSentence(t *testing.T) {
	r := newTestRenderer(t, &fakeSynth{level: 0.3, rate: 22050})
	ctx := context.Background()
	a, b := villageSpeech("请前往东北方向1.2公里的第一避难场所。", "شەرقىي شىمالغا بېرىڭ. "),
		villageSpeech("请前往西方向12公里的巴合齐乡体育场避难场所。", "غەربكە بېرىڭ. ")
	ra, err := r.Render(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := r.Render(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if ra.SHA256 == rb.SHA256 || len(ra.Layout) != len(rb.Layout) {
		t.Fatalf("%s vs %s, %d vs %d entries", ra.SHA256, rb.SHA256, len(ra.Layout), len(rb.Layout))
	}
	xa, xb := readRendered(t, r, ra.SHA256), readRendered(t, r, rb.SHA256)
	gap := durationToSamples(PauseBetweenParts, r.rate)
	speech := 0
	for i := range ra.Layout {
		ea, eb := ra.Layout[i], rb.Layout[i]
		if ea.Kind != eb.Kind || ea.Lang != eb.Lang {
			t.Fatalf("entry %d: %s/%s vs %s/%s", i, ea.Kind, ea.Lang, eb.Kind, eb.Lang)
		}
		sa, sb := span(xa, ea, r.rate), span(xb, eb, r.rate)
		if ea.Kind != KindSpeech {
			if !equalInt16(sa, sb) {
				t.Errorf("entry %d (%s) differs between villages", i, ea.Kind)
			}
			continue
		}
		speech++
		seg := a.Speech[0]
		if ea.Lang == LangUg {
			seg = a.Speech[1]
		}
		head := partAudio(t, r, seg.Lang, seg.Parts[0])
		tail := partAudio(t, r, seg.Lang, seg.Parts[2])
		for _, s := range [][]int16{sa, sb} {
			if !equalInt16(s[:len(head)], head) || !isSilent(s[len(head):len(head)+gap]) {
				t.Errorf("entry %d (%s): the shared opening is not its part's audio and a pause", i, ea.Lang)
			}
			if !equalInt16(s[len(s)-len(tail):], tail) || !isSilent(s[len(s)-len(tail)-gap:len(s)-len(tail)]) {
				t.Errorf("entry %d (%s): the shared close is not a pause and its part's audio", i, ea.Lang)
			}
		}
		mid := func(s []int16) []int16 { return s[len(head)+gap : len(s)-len(tail)-gap] }
		if equalInt16(mid(sa), mid(sb)) {
			t.Errorf("entry %d (%s): the villages' own sentences sound the same", i, ea.Lang)
		}
		// The sentence between is each village's own part, nothing else.
		for k, p := range []Programme{a, b} {
			own := p.Speech[0].Parts[1]
			if ea.Lang == LangUg {
				own = p.Speech[1].Parts[1]
			}
			if !equalInt16(mid([][]int16{sa, sb}[k]), partAudio(t, r, ea.Lang, own)) {
				t.Errorf("entry %d (%s): village %d's middle is not its own sentence", i, ea.Lang, k)
			}
		}
	}
	if speech != 4 {
		t.Errorf("%d speech entries, want 4", speech)
	}
}

// A programme in parts keeps the layout and loudness of one in whole
// segments: one speech entry per language at the target loudness, peaks
// under the ceiling, and the estimate is what is rendered.
func TestPartsKeepLayoutAndLoudness(t *testing.T) {
	r := newTestRenderer(t, &fakeSynth{level: 0.5, rate: 22050})
	p := villageSpeech("请前往东北方向1.2公里的第一避难场所。", "شەرقىي شىمالغا بېرىڭ. ")
	p.Drill = true
	res, err := r.Render(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	whole := p
	whole.Speech = []Segment{{Lang: LangZh, Text: p.Speech[0].Text}, {Lang: LangUg, Text: p.Speech[1].Text}}
	resWhole, err := r.Render(context.Background(), whole)
	if err != nil {
		t.Fatal(err)
	}
	if resWhole.SHA256 == res.SHA256 {
		t.Error("the same words in parts and whole share a programme (and a cache key)")
	}
	if len(res.Layout) != len(resWhole.Layout) {
		t.Fatalf("layout of %d entries in parts, %d whole", len(res.Layout), len(resWhole.Layout))
	}
	for i := range res.Layout {
		if a, b := res.Layout[i], resWhole.Layout[i]; a.Kind != b.Kind || a.Lang != b.Lang || a.Repeat != b.Repeat || a.Signal != b.Signal {
			t.Errorf("entry %d: %+v in parts, %+v whole", i, a, b)
		}
	}
	checkLayoutContiguous(t, res)
	x := readRendered(t, r, res.SHA256)
	f := toFloat(x)
	for i, e := range res.Layout {
		if e.Kind != KindSpeech {
			continue
		}
		seg := f[durationToSamples(e.Start, r.rate):durationToSamples(e.Start+e.Duration, r.rate)]
		if rms, _ := ActiveRMS(seg, r.rate); math.Abs(rms-TargetRMSdBFS) > 0.5 {
			t.Errorf("entry %d (%s): RMS %.2f dBFS, want %.1f ±0.5", i, e.Lang, rms, TargetRMSdBFS)
		}
	}
	if pk := PeakdBFS(f); pk > PeakCeilingdBFS+0.01 {
		t.Errorf("peak %.2f dBFS", pk)
	}
	// The fake voice speaks exactly the estimate; resampling rounds each part.
	parts := 0
	for _, s := range p.Speech {
		parts += len(s.Parts) + 2 // with the drill words
	}
	tol := 2 * time.Millisecond * time.Duration(len(res.Layout)+parts*DefaultRepeats)
	if est := r.Estimate(p); !near(est, res.Duration, tol) {
		t.Errorf("estimate %v, rendered %v", est, res.Duration)
	}
	// The drill words are parts of their own, said around each language.
	synth := &countingSynth{}
	r2 := newTestRenderer(t, synth)
	if _, err := r2.Render(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	said := synth.said()
	if said[LangZh+":这是演练。"] != 1 || said[LangZh+":以上是演练，不是真实预警。"] != 1 {
		t.Errorf("drill words not spoken as parts: %v", said)
	}
}

func TestPartsRejected(t *testing.T) {
	r := newTestRenderer(t, &fakeSynth{})
	for _, c := range []struct {
		name  string
		seg   Segment
		err   error
		field string
	}{
		{"parts not the text", Segment{Lang: LangZh, Text: "请立即回家。", Parts: []string{"请立即", "离开。"}}, ErrInvalidProgramme, "speech[0].parts"},
		{"a part with nothing to say", Segment{Lang: LangZh, Text: "请立即回家。……", Parts: []string{"请立即回家。", "……"}}, ErrEmptyText, "speech[0].parts[1]"},
		{"too many parts", Segment{Lang: LangZh, Text: strings.Repeat("回家。", MaxParts+1), Parts: strings.SplitAfter(strings.Repeat("回家。", MaxParts+1), "。")[:MaxParts+1]}, ErrInvalidProgramme, "limit 8"},
		{"text over the limit", Segment{Lang: LangZh, Text: strings.Repeat("家", MaxSegmentRunes+1), Parts: []string{strings.Repeat("家", MaxSegmentRunes+1)}}, ErrTextTooLong, "speech[0].parts[0]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.Render(context.Background(), Programme{Attention: SignalRed, Speech: []Segment{c.seg}})
			if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.field) {
				t.Errorf("got %v, want %v naming %q", err, c.err, c.field)
			}
		})
	}
}

// A part's key covers everything that changes its sound: a different
// voice speaks every part again, and nothing it says is taken from the
// other voice's parts.
func TestPartKeyFollowsTheVoice(t *testing.T) {
	dir := t.TempDir()
	p := villageSpeech("请前往东北方向1.2公里的第一避难场所。", "شەرقىي شىمالغا بېرىڭ. ")
	one := &countingSynth{}
	r1, _ := NewRenderer(Config{Dir: dir, Synth: one})
	if _, err := r1.Render(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	other := &otherVoice{}
	r2, _ := NewRenderer(Config{Dir: dir, Synth: other})
	if _, err := r2.Render(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if n := other.calls.Load(); n != 6 {
		t.Errorf("another voice synthesised %d parts, want all 6", n)
	}
	r3, _ := NewRenderer(Config{Dir: dir, Synth: one, SampleRate: 22050})
	if _, err := r3.Render(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if n := one.total.Load(); n != 12 {
		t.Errorf("another rate: %d syntheses in all, want 12", n)
	}
	if r1.partKey(LangZh, "回家") == r1.partKey(LangUg, "回家") || r1.partKey(LangZh, "回家") == r1.partKey(LangZh, "回家。") {
		t.Error("part keys ignore language or words")
	}
}

// A damaged part on disk is spoken again, never played.
func TestDamagedPartIsSpokenAgain(t *testing.T) {
	synth := &countingSynth{}
	r := newTestRenderer(t, synth)
	p := villageSpeech("请前往东北方向1.2公里的第一避难场所。", "شەرقىي شىمالغا بېرىڭ. ")
	first, err := r.Render(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(r.partDir)
	if len(ents) != 6 {
		t.Fatalf("%d parts on disk", len(ents))
	}
	for _, e := range ents {
		if err := os.WriteFile(r.partDir+"/"+e.Name(), []byte("RIFF garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A fresh process on the same directory, without the programme.
	os.RemoveAll(r.keyDir)
	r2, _ := NewRenderer(Config{Dir: r.dir, Synth: synth})
	again, err := r2.Render(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if again.SHA256 != first.SHA256 || synth.total.Load() != 12 {
		t.Errorf("damaged parts: %s vs %s, %d syntheses", again.SHA256, first.SHA256, synth.total.Load())
	}
}

func TestPartCacheEvicts(t *testing.T) {
	c := newPartCache(100)
	c.put("a", make([]int16, 20))
	c.put("b", make([]int16, 20))
	if _, ok := c.get("a"); !ok {
		t.Fatal("a evicted too soon")
	}
	c.put("c", make([]int16, 20)) // 120 bytes > 100: b is the least recent
	if _, ok := c.get("b"); ok {
		t.Error("b kept")
	}
	if _, ok := c.get("a"); !ok {
		t.Error("a (recently used) evicted")
	}
	c.put("huge", make([]int16, 51))
	if _, ok := c.get("huge"); ok {
		t.Error("a part bigger than the cache kept")
	}
	if c.size > c.max {
		t.Errorf("size %d over %d", c.size, c.max)
	}
}

func readRendered(t *testing.T, r *Renderer, sha string) []int16 {
	t.Helper()
	f, _, err := r.Open(sha)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, _, err := ReadWAV(f, 1<<30, 0)
	if err != nil {
		t.Fatal(err)
	}
	return pcm.Samples
}

func span(x []int16, e LayoutEntry, rate int) []int16 {
	return x[durationToSamples(e.Start, rate):durationToSamples(e.Start+e.Duration, rate)]
}

func partAudio(t *testing.T, r *Renderer, lang, text string) []int16 {
	t.Helper()
	norm, err := NormalizeText(lang, text)
	if err != nil {
		t.Fatal(err)
	}
	x, ok := r.parts.get(r.partKey(lang, norm))
	if !ok {
		t.Fatalf("part %q not in the cache", text)
	}
	return x
}

func equalInt16(a, b []int16) bool {
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

func isSilent(x []int16) bool {
	for _, v := range x {
		if v != 0 {
			return false
		}
	}
	return true
}
