package render

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/targeting"
)

// BenchmarkVillageProgrammesCold renders a county-wide evacuate's
// per-village programmes with espeak-ng on a cold cache (a fresh cache
// directory and renderer each run), as a speaker batch does
// (engine.speakerParts): the guidance of Shule's 251 villages from the
// synthetic shelters and loudspeakers of `alertctl gen population` (seed
// 1; villages told the same thing share a programme, as the engine groups
// them), both languages, a worker per core, the first village first.
// first-ms is when the first village's programme is ready (its
// loudspeakers are commanded then); total-s when all are; cpu-s the CPU
// time of the process and its espeak-ng children; syntheses the espeak-ng
// runs. Budget of issue 21: first ≤ 1 s, all 251 ≤ 30 s. Run:
//
//	ALERTCAST_REQUIRE_SERVICES=1 go test ./dispatch/render -run XXX -bench VillageProgrammesCold -benchtime 1x -count 3 -timeout 30m
//
// VILLAGES (default all) renders fewer for a quick look.
func BenchmarkVillageProgrammesCold(b *testing.B) {
	testsvc.Need(b, "espeak-ng")
	e, err := audio.NewEspeak(audio.EspeakConfig{})
	if err != nil {
		b.Fatal(err)
	}
	synth := &countedSynth{Synthesizer: e}
	a := evacuateAlert()
	villages, guides := shuleGuidance(b, a)
	if v, err := strconv.Atoi(os.Getenv("VILLAGES")); err == nil && v > 0 && v < len(guides) {
		guides = guides[:v]
	}
	var first, total, cpu time.Duration
	var syntheses int32
	for b.Loop() {
		b.StopTimer()
		ar, err := audio.NewRenderer(audio.Config{Dir: b.TempDir(), Synth: synth})
		if err != nil {
			b.Fatal(err)
		}
		r, err := New(Config{Audio: ar})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		synth.n.Store(0)
		cpu0 := cpuTime()
		b.StartTimer()
		start := time.Now()
		next := make(chan int)
		var wg sync.WaitGroup
		var once sync.Once
		for range runtime.NumCPU() {
			wg.Go(func() {
				for i := range next {
					if _, err := r.RenderGuided(context.Background(), a, guides[i]); err != nil {
						b.Error(err)
					}
					if i == 0 {
						once.Do(func() { first += time.Since(start) })
					}
				}
			})
		}
		for i := range guides {
			next <- i
		}
		close(next)
		wg.Wait()
		total += time.Since(start)
		b.StopTimer()
		cpu += cpuTime() - cpu0
		syntheses += synth.n.Load()
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(first.Milliseconds())/n, "first-ms")
	b.ReportMetric(total.Seconds()/n, "total-s")
	b.ReportMetric(cpu.Seconds()/n, "cpu-s")
	b.ReportMetric(float64(syntheses)/n, "syntheses")
	b.ReportMetric(float64(len(guides)), "programmes")
	b.ReportMetric(float64(villages), "villages")
}

// shuleGuidance is what an evacuate version a tells each of Shule's
// villages, from the synthetic shelters and loudspeakers of seed 1 (what
// `alertctl gen population` writes): the distinct guidance in village
// order (villages told the same thing share one), and how many villages.
func shuleGuidance(b *testing.B, a *dispatch.Alert) (int, []*channels.Guidance) {
	tree := targeting.DefaultTree()
	var res, spk, shel bytes.Buffer
	if err := targeting.GeneratePopulation(tree, targeting.DefaultOutline(), 5000, 3000, 1, &res, &spk); err != nil {
		b.Fatal(err)
	}
	if err := targeting.GenerateShelters(tree, targeting.DefaultOutline(), 1, &shel); err != nil {
		b.Fatal(err)
	}
	ix := targeting.NewIndex(tree)
	if _, err := targeting.ReadSpeakers(&spk, func(_ int, s targeting.Speaker) error { return ix.PutSpeaker(s) }); err != nil {
		b.Fatal(err)
	}
	var shelters []targeting.Shelter
	if _, err := targeting.ReadShelters(&shel, func(_ int, s targeting.Shelter) error { shelters = append(shelters, s); return nil }); err != nil {
		b.Fatal(err)
	}
	var codes []string
	for _, v := range tree.Villages() {
		codes = append(codes, v.Code)
	}
	points := ix.VillagePoints()
	stored := make([]dispatch.Shelter, len(shelters))
	for i, s := range shelters {
		stored[i] = dispatch.Shelter{Shelter: s}
	}
	vg := dispatch.GuidanceOf(a, stored, targeting.AssignShelters(codes, points, shelters), nil)
	seen := map[string]bool{}
	var out []*channels.Guidance
	for _, v := range codes {
		g := vg.For(v)
		if g.Shelter == nil {
			b.Fatalf("village %s without a shelter (%d points)", v, len(points))
		}
		if k := g.Key(); !seen[k] {
			seen[k] = true
			out = append(out, g)
		}
	}
	return len(codes), out
}

// countedSynth counts the syntheses (espeak-ng runs).
type countedSynth struct {
	audio.Synthesizer
	n atomic.Int32
}

func (c *countedSynth) Synthesize(ctx context.Context, lang, text string) (audio.PCM, error) {
	c.n.Add(1)
	return c.Synthesizer.Synthesize(ctx, lang, text)
}
