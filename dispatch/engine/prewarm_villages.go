package engine

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
)

// prewarmVillages renders the per-village programmes of a version that
// sends loudspeakers guidance, so that the issue — or, for a version
// pending approval, the approval — finds them in the audio cache instead
// of rendering on the path to the loudspeakers: one render per distinct
// guidance of the villages in the version's area (code prefixes, less
// the excluded; every village with guidance when the area is a shape
// only), and the default guidance, by a worker per core (the synthesizer
// bounds its own processes). A render the send path asks for meanwhile
// joins the one in flight. Failures are only logged: the send path
// renders again and falls back to the common programme.
func (e *Engine) prewarmVillages(ctx context.Context, a *dispatch.Alert) {
	gr, ok := e.cfg.Audio.(guidedRenderer)
	if !ok || !a.HasChannel("speaker") || a.Action == nil {
		return
	}
	g, err := e.Guidance(ctx, a)
	if err != nil || g == nil {
		if err != nil {
			e.log.Warn("village programmes not prewarmed: no guidance", "alert_id", a.ID, "version", a.Version, "err", err)
		}
		return
	}
	within := func(v string) bool {
		for _, x := range a.Area.Exclude {
			if strings.HasPrefix(v, x) {
				return false
			}
		}
		if len(a.Area.Codes) == 0 {
			return true
		}
		for _, c := range a.Area.Codes {
			if strings.HasPrefix(v, c) {
				return true
			}
		}
		return false
	}
	villages := make([]string, 0, len(g.ByVillage))
	for v := range g.ByVillage {
		if within(v) {
			villages = append(villages, v)
		}
	}
	slices.Sort(villages)
	candidates := []*channels.Guidance{g.Default}
	for _, v := range villages {
		candidates = append(candidates, g.ByVillage[v])
	}
	seen := map[string]bool{}
	var todo []*channels.Guidance
	for _, vg := range candidates {
		if vg == nil || seen[vg.Key()] {
			continue
		}
		seen[vg.Key()] = true
		todo = append(todo, vg)
	}
	next := make(chan *channels.Guidance)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range max(1, runtime.NumCPU()) {
		wg.Go(func() {
			for vg := range next {
				if _, err := gr.RenderGuided(ctx, a, vg); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	for _, vg := range todo {
		select {
		case next <- vg:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	if n := failed.Load(); n > 0 || ctx.Err() != nil {
		e.log.Warn("village programmes partly prewarmed (rendered again when sent)", "alert_id", a.ID, "version", a.Version,
			"programmes", len(todo), "failed", n, "err", ctx.Err())
	}
}
