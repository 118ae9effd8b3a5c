package render

import (
	"context"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/wording"
)

// ProgrammeFor is what the loudspeakers of a village told g play for a:
// Programme(a) whose instruction opens with the village's guidance (its
// shelter, direction and distance), as the village's SMS does. A nil g is
// Programme(a).
func ProgrammeFor(a *dispatch.Alert, g *channels.Guidance, repeats int) audio.Programme {
	p := Programme(a, repeats)
	if g != nil {
		p.Speech = SpeechFor(a, g)
	}
	return p
}

// SpeechFor is Speech(a) for the recipients of guidance g (none: nil).
func SpeechFor(a *dispatch.Alert, g *channels.Guidance) []audio.Segment {
	m := dispatch.MessageOf(a)
	m.Guidance = g
	var out []audio.Segment
	for _, lang := range dispatch.Languages {
		if _, ok := a.Text[lang]; !ok {
			continue
		}
		out = append(out, audio.Segment{Lang: lang, Text: wording.Speech(m, lang)})
	}
	return out
}

// RenderGuided renders a's programme for the loudspeakers of villages told
// g. The audio cache is keyed by the programme's words, so villages whose
// guidance says the same thing (same shelter, direction and distance)
// share one rendering, and a second call is a cache hit.
func (r *Renderer) RenderGuided(ctx context.Context, a *dispatch.Alert, g *channels.Guidance) (*channels.Audio, error) {
	return r.renderProgramme(ctx, ProgrammeFor(a, g, r.cfg.Repeats))
}
