package render

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/warning"
)

// scriptSynth records what it is asked to say and says it as a short
// tone: the test reads the programme's script, not its sound.
type scriptSynth struct {
	mu    sync.Mutex
	texts []string
}

func (s *scriptSynth) Name() string { return "script" }

func (s *scriptSynth) Synthesize(_ context.Context, lang, text string) (audio.PCM, error) {
	s.mu.Lock()
	s.texts = append(s.texts, lang+":"+text)
	s.mu.Unlock()
	// Its length follows the text: the file is content-addressed.
	pcm := audio.PCM{Rate: 16000, Samples: make([]int16, 800+8*len(text))}
	for i := range pcm.Samples {
		pcm.Samples[i] = int16(4000 * (i%40 - 20) / 20)
	}
	return pcm, nil
}

func (s *scriptSynth) said() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.texts...)
}

func evacuateAlert() *dispatch.Alert {
	a := speechAlert(warning.KindAlert)
	a.Action = &dispatch.Action{Type: dispatch.ActionEvacuate}
	return a
}

func shelterGuidance(village, id, name, nameUG string, c warning.Compass, m float64) *channels.Guidance {
	return &channels.Guidance{Action: "evacuate", Village: village, Compass: c, DistanceM: m,
		Shelter: &channels.GuidanceShelter{ID: id, Name: name, NameUG: nameUG, Capacity: 500}}
}

// Each village's loudspeakers say their own shelter: the instruction opens
// with the village's guidance in both languages, as its SMS does, and two
// villages of different shelters get different programmes. Villages told
// the same thing (same shelter, direction and distance) share one
// rendering: the second is a cache hit, with nothing spoken again.
func TestVillageProgrammesNameTheirShelter(t *testing.T) {
	synth := &scriptSynth{}
	ar, err := audio.NewRenderer(audio.Config{Dir: t.TempDir(), Synth: synth})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Audio: ar})
	if err != nil {
		t.Fatal(err)
	}
	a := evacuateAlert()
	school := shelterGuidance("653122100201", "S1", "疏勒镇第一中学", "يېزا 1-ئوتتۇرا مەكتەپ", warning.NorthEast, 1230)
	stadium := shelterGuidance("653122201203", "S2", "巴合齐乡体育场", "", warning.West, 2960)

	for _, c := range []struct {
		g          *channels.Guidance
		own, other string
	}{{school, "疏勒镇第一中学避难场所", "巴合齐乡体育场"}, {stadium, "巴合齐乡体育场避难场所", "疏勒镇第一中学"}} {
		segs := SpeechFor(a, c.g)
		if len(segs) != 2 {
			t.Fatalf("%d segments", len(segs))
		}
		zh := segs[0].Text
		if !strings.Contains(zh, "请前往") || !strings.Contains(zh, c.own) || strings.Contains(zh, c.other) {
			t.Fatalf("village %s hears %q", c.g.Village, zh)
		}
		// The guidance opens the instruction, before the officer's words.
		if gi, ii := strings.Index(zh, c.own), strings.Index(zh, "转移"); ii >= 0 && gi > ii {
			t.Fatalf("guidance after the instruction: %q", zh)
		}
		if c.g.Shelter.NameUG != "" && !strings.Contains(segs[1].Text, c.g.Shelter.NameUG) {
			t.Fatalf("Uyghur speech without the shelter's Uyghur name: %q", segs[1].Text)
		}
	}
	// Positive control: without guidance no shelter is said.
	for _, s := range Speech(a) {
		if strings.Contains(s.Text, "避难场所") {
			t.Fatalf("programme without guidance names a shelter: %q", s.Text)
		}
	}

	ctx := context.Background()
	sa, err := r.RenderGuided(ctx, a, school)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := r.RenderGuided(ctx, a, stadium)
	if err != nil {
		t.Fatal(err)
	}
	if sa.SHA256 == sb.SHA256 {
		t.Fatal("villages of different shelters share a programme")
	}
	said := synth.said()
	if !containsAll(said, "疏勒镇第一中学避难场所", "巴合齐乡体育场避难场所") {
		t.Fatalf("rendered scripts: %q", said)
	}
	// Another village of the same shelter, same direction and distance.
	neighbour := shelterGuidance("653122100202", "S1", "疏勒镇第一中学", "يېزا 1-ئوتتۇرا مەكتەپ", warning.NorthEast, 1240)
	sc, err := r.RenderGuided(ctx, a, neighbour)
	if err != nil {
		t.Fatal(err)
	}
	if sc.SHA256 != sa.SHA256 || len(synth.said()) != len(said) {
		t.Fatalf("same guidance rendered again: %s vs %s, %d → %d texts spoken", sc.SHA256, sa.SHA256, len(said), len(synth.said()))
	}
	// A different distance is different words: a render of its own.
	farther := shelterGuidance("653122100203", "S1", "疏勒镇第一中学", "يېزا 1-ئوتتۇرا مەكتەپ", warning.NorthEast, 4100)
	sd, err := r.RenderGuided(ctx, a, farther)
	if err != nil {
		t.Fatal(err)
	}
	if sd.SHA256 == sa.SHA256 || len(synth.said()) == len(said) {
		t.Fatal("a different distance was not rendered")
	}
	if !strings.HasSuffix(sa.URL, "/audio/"+sa.SHA256+".wav") {
		t.Fatalf("url %q", sa.URL)
	}
}

func containsAll(texts []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, t := range texts {
			found = found || strings.Contains(t, w)
		}
		if !found {
			return false
		}
	}
	return true
}

// Each village's speech is given in parts: the words every village shares
// (the same in every village's programme), then the village's own
// sentence, then the shared instruction; joined, the parts are the speech.
func TestVillageSpeechIsCutAroundItsSentence(t *testing.T) {
	a := evacuateAlert()
	school := shelterGuidance("653122100201", "S1", "疏勒镇第一中学", "يېزا 1-ئوتتۇرا مەكتەپ", warning.NorthEast, 1230)
	stadium := shelterGuidance("653122201203", "S2", "巴合齐乡体育场", "", warning.West, 2960)
	sa, sb := SpeechFor(a, school), SpeechFor(a, stadium)
	for i := range sa {
		for _, s := range []audio.Segment{sa[i], sb[i]} {
			if len(s.Parts) != 3 || strings.Join(s.Parts, "") != s.Text {
				t.Fatalf("%s: parts %q of %q", s.Lang, s.Parts, s.Text)
			}
		}
		if sa[i].Parts[0] != sb[i].Parts[0] || sa[i].Parts[2] != sb[i].Parts[2] {
			t.Errorf("%s: the shared parts differ between villages: %q vs %q", sa[i].Lang, sa[i].Parts, sb[i].Parts)
		}
		if sa[i].Parts[1] == sb[i].Parts[1] {
			t.Errorf("%s: two shelters, one sentence: %q", sa[i].Lang, sa[i].Parts[1])
		}
	}
	if sa[0].Parts[1] != "请前往东北方向1.2公里的疏勒镇第一中学避难场所。" || sb[0].Parts[1] != "请前往西方向3.0公里的巴合齐乡体育场避难场所。" {
		t.Errorf("zh sentences: %q, %q", sa[0].Parts[1], sb[0].Parts[1])
	}
	if !strings.Contains(sa[1].Parts[1], "يېزا 1-ئوتتۇرا مەكتەپ") || strings.Contains(sa[1].Parts[0]+sa[1].Parts[2], "مەكتەپ") {
		t.Errorf("ug parts: %q", sa[1].Parts)
	}
	// Without guidance (the version's common programme): said whole, as
	// before, so its rendering and cache key do not change.
	for _, s := range Speech(a) {
		if s.Parts != nil {
			t.Errorf("common programme in parts: %q", s.Parts)
		}
	}
}

// At the audio level, two villages' programmes differ only in the span of
// their own sentence: within each speech entry, the opening is sample for
// sample the shared words, the close the shared instruction, and what
// differs between them is no longer than a village's sentence and its
// pauses. With espeak-ng when it is installed, else the script voice.
func TestVillageProgrammesDifferOnlyInTheirGuidance(t *testing.T) {
	for _, voice := range []string{"script", "espeak-ng"} {
		t.Run(voice, func(t *testing.T) {
			var synth audio.Synthesizer = &scriptSynth{}
			if voice == "espeak-ng" {
				testsvc.Need(t, "espeak-ng")
				e, err := audio.NewEspeak(audio.EspeakConfig{})
				if err != nil {
					t.Fatal(err)
				}
				synth = e
			}
			ar, err := audio.NewRenderer(audio.Config{Dir: t.TempDir(), Synth: synth})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			a := evacuateAlert()
			guides := []*channels.Guidance{
				shelterGuidance("653122100201", "S1", "疏勒镇第一中学", "يېزا 1-ئوتتۇرا مەكتەپ", warning.NorthEast, 1230),
				// A longer name: the script voice says texts of one length alike.
				shelterGuidance("653122201203", "S2", "巴合齐乡中心体育场", "", warning.West, 12960),
			}
			var res [2]audio.Rendered
			var pcm [2][]int16
			for i, g := range guides {
				if res[i], err = ar.Render(ctx, ProgrammeFor(a, g, 0)); err != nil {
					t.Fatal(err)
				}
				pcm[i] = readProgramme(t, ar, res[i].SHA256)
			}
			// How long each part sounds: a programme of that part alone,
			// rendered once (a cache hit's layout is in milliseconds).
			lens := map[string]int{}
			partLen := func(lang, text string) int {
				if n, ok := lens[lang+text]; ok {
					return n
				}
				r, err := ar.Render(ctx, audio.Programme{Attention: audio.SignalNone, Repeats: 1, Speech: []audio.Segment{{Lang: lang, Text: text, Parts: []string{text}}}})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range r.Layout {
					if e.Kind == audio.KindSpeech {
						lens[lang+text] = samples(e.Duration)
						return lens[lang+text]
					}
				}
				t.Fatal("no speech")
				return 0
			}
			gap := samples(audio.PauseBetweenParts)
			segs := [2][]audio.Segment{SpeechFor(a, guides[0]), SpeechFor(a, guides[1])}
			if len(res[0].Layout) != len(res[1].Layout) {
				t.Fatalf("layouts of %d and %d entries", len(res[0].Layout), len(res[1].Layout))
			}
			speech := 0
			for k, ea := range res[0].Layout {
				eb := res[1].Layout[k]
				xa := pcm[0][samples(ea.Start):samples(ea.Start+ea.Duration)]
				xb := pcm[1][samples(eb.Start):samples(eb.Start+eb.Duration)]
				if ea.Kind != audio.KindSpeech {
					if !slices.Equal(xa, xb) {
						t.Errorf("entry %d (%s) differs between villages", k, ea.Kind)
					}
					continue
				}
				speech++
				si := 0
				if ea.Lang == "ug" {
					si = 1
				}
				head, tail := partLen(ea.Lang, segs[0][si].Parts[0]), partLen(ea.Lang, segs[0][si].Parts[2])
				pre, suf := commonPrefix(xa, xb), commonSuffix(xa, xb)
				if pre < head+gap || suf < tail+gap {
					t.Errorf("entry %d (%s): the villages share %d samples at the start (the shared words and pause are %d) and %d at the end (%d)",
						k, ea.Lang, pre, head+gap, suf, tail+gap)
				}
				for v, x := range [][]int16{xa, xb} {
					own := partLen(ea.Lang, segs[v][si].Parts[1])
					if diff := len(x) - pre - suf; diff <= 0 || diff > own {
						t.Errorf("entry %d (%s) village %d: %d samples differ, its sentence is %d", k, ea.Lang, v, diff, own)
					}
				}
			}
			if speech != 4 {
				t.Errorf("%d speech entries, want 4", speech)
			}
		})
	}
}

func samples(d time.Duration) int {
	return int(d * time.Duration(audio.DefaultSampleRate) / time.Second)
}

func readProgramme(t *testing.T, ar *audio.Renderer, sha string) []int16 {
	t.Helper()
	f, _, err := ar.Open(sha)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, _, err := audio.ReadWAV(f, 1<<30, 0)
	if err != nil {
		t.Fatal(err)
	}
	return pcm.Samples
}

func commonPrefix(a, b []int16) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func commonSuffix(a, b []int16) int {
	n := 0
	for n < len(a) && n < len(b) && a[len(a)-1-n] == b[len(b)-1-n] {
		n++
	}
	return n
}

// A village's programme rendered on one node is served by another from
// the description in Redis — parts and all — with the same bytes, the
// other node's parts cache being cold.
func TestAnotherNodeServesAVillageProgramme(t *testing.T) {
	rs := testsvc.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	node := func() *Renderer {
		ar, err := audio.NewRenderer(audio.Config{Dir: t.TempDir(), Synth: &scriptSynth{}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := New(Config{Audio: ar, Redis: rdb})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	nodeA, nodeB := node(), node()
	g := shelterGuidance("653122100201", "S1", "疏勒镇第一中学", "يېزا 1-ئوتتۇرا مەكتەپ", warning.NorthEast, 1230)
	au, err := nodeA.RenderGuided(context.Background(), evacuateAlert(), g)
	if err != nil {
		t.Fatal(err)
	}
	body, status := get(t, nodeB, "/audio/"+au.SHA256+".wav")
	if status != http.StatusOK || digest(body) != au.SHA256 {
		t.Fatalf("node B: %d, sha256 %s, want 200 and %s", status, digest(body), au.SHA256)
	}
}
