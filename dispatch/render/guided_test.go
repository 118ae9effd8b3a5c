package render

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
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
