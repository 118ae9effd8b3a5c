package engine

import (
	"context"
	"runtime"
	"sync"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
)

// guidedRenderer renders a version's programme for the loudspeakers of
// the villages told one guidance (served by render.Renderer).
type guidedRenderer interface {
	RenderGuided(ctx context.Context, a *dispatch.Alert, g *channels.Guidance) (*channels.Audio, error)
}

// speakerVillager says which village a loudspeaker is in (served by
// dispatch.PopulationIndex from the device registry).
type speakerVillager interface {
	SpeakerVillage(id string) (string, bool)
}

// speakerParts groups a batch's loudspeakers by what their village's
// guidance says, like sendParts does for SMS: one programme per distinct
// guidance, whose instruction opens with the village's shelter (or
// direction). Programmes are rendered while the batch is sent: the first
// group's as its part comes up, the others ahead of it by a worker per
// core, so the first village does not wait for the county's renders. A
// loudspeaker of no known village gets the version's default guidance.
//
// Every part's message is the version's own with its Guidance and Audio
// replaced, so the hub signs each device's command for this version, with
// the hash of the programme that device must play.
func (e *Engine) speakerParts(ctx context.Context, a *dispatch.Alert, g *dispatch.VillageGuidance, gr guidedRenderer, sv speakerVillager, msg *channels.Message, todo []channels.Recipient, chunk int) []sendPart {
	type group struct {
		guidance *channels.Guidance
		rcpts    []channels.Recipient
		render   func() (*channels.Audio, error)
	}
	var order []*group
	groups := map[string]*group{}
	byVillage := map[string]*group{}
	for _, r := range todo {
		village, _ := sv.SpeakerVillage(r.ID)
		if grp := byVillage[village]; grp != nil {
			grp.rcpts = append(grp.rcpts, r)
			continue
		}
		vg := g.For(village)
		if vg == nil {
			vg = g.Default
		}
		k := vg.Key()
		grp := groups[k]
		if grp == nil {
			grp = &group{guidance: vg}
			grp.render = sync.OnceValues(func() (*channels.Audio, error) {
				return gr.RenderGuided(ctx, a, grp.guidance)
			})
			groups[k] = grp
			order = append(order, grp)
		}
		byVillage[village] = grp
		grp.rcpts = append(grp.rcpts, r)
	}
	// Render ahead: the audio renderer shares a render in flight, so the
	// part that comes up joins the worker's render of its programme.
	if len(order) > 1 {
		next := make(chan *group)
		go func() {
			defer close(next)
			for _, grp := range order[1:] {
				select {
				case next <- grp:
				case <-ctx.Done():
					return
				}
			}
		}()
		for range max(1, runtime.NumCPU()-1) {
			go func() {
				for grp := range next {
					grp.render() //nolint:errcheck // the part that sends it reports the error
				}
			}()
		}
	}
	var parts []sendPart
	for _, grp := range order {
		m := *msg
		m.Guidance = grp.guidance
		render := grp.render
		for i := 0; i < len(grp.rcpts); i += chunk {
			parts = append(parts, sendPart{msg: &m, rcpts: grp.rcpts[i:min(i+chunk, len(grp.rcpts))], audio: render})
		}
	}
	return parts
}

// partMessage is the message a part sends: its programme rendered now
// when it has its own. A programme that cannot be rendered falls back to
// the version's common one — the loudspeakers still sound the warning
// (the SMS carries the village's guidance) — unless the task is ending.
func (e *Engine) partMessage(ctx context.Context, a *dispatch.Alert, part sendPart) (*channels.Message, error) {
	if part.audio == nil {
		return part.msg, nil
	}
	au, err := part.audio()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		e.log.Warn("village programme not rendered: its loudspeakers get the common programme", "alert_id", a.ID,
			"version", a.Version, "guidance", part.msg.Guidance.Key(), "err", err)
		return part.msg, nil
	}
	m := *part.msg
	m.Audio = au
	return &m, nil
}
