package render

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/warning"
)

// BenchmarkVillageProgrammesCold renders a county-wide evacuate's
// per-village programmes with espeak-ng on a cold cache, as a speaker
// batch does (engine.speakerParts): every village its own guidance (own
// shelter, direction and distance, so no two share a programme), a worker
// per core, the first village first. first-ms is when the first village's
// programme is ready (its loudspeakers are commanded then); total-s when
// all are. Budget of issue 21: first ≤ 1 s, all 251 ≤ 30 s. Run:
//
//	ALERTCAST_REQUIRE_SERVICES=1 go test ./dispatch/render -run XXX -bench VillageProgrammesCold -benchtime 1x -count 3 -timeout 30m
//
// VILLAGES (default 251) renders fewer for a quick look.
func BenchmarkVillageProgrammesCold(b *testing.B) {
	testsvc.Need(b, "espeak-ng")
	e, err := audio.NewEspeak(audio.EspeakConfig{})
	if err != nil {
		b.Fatal(err)
	}
	n := 251
	if v, err := strconv.Atoi(os.Getenv("VILLAGES")); err == nil && v > 0 {
		n = v
	}
	a := evacuateAlert()
	guides := make([]*channels.Guidance, n)
	for i := range guides {
		guides[i] = shelterGuidance(fmt.Sprintf("653122%06d", i), fmt.Sprintf("S%d", i), fmt.Sprintf("第%d应急避难场所", i+1), "",
			warning.Compass(1+i%8), float64(500+100*i))
	}
	var first, total time.Duration
	for b.Loop() {
		b.StopTimer()
		ar, err := audio.NewRenderer(audio.Config{Dir: b.TempDir(), Synth: e})
		if err != nil {
			b.Fatal(err)
		}
		r, err := New(Config{Audio: ar})
		if err != nil {
			b.Fatal(err)
		}
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
	}
	b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "first-ms")
	b.ReportMetric(total.Seconds()/float64(b.N), "total-s")
	b.ReportMetric(float64(n), "programmes")
}
