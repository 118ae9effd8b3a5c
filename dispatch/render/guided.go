package render

import (
	"context"
	"strings"

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
// With guidance, each language's speech is given in parts cut around the
// village's sentence (wording.SpeechParts): the audio renderer synthesises
// the words every village shares once and only this village's sentence
// for it.
func SpeechFor(a *dispatch.Alert, g *channels.Guidance) []audio.Segment {
	m := dispatch.MessageOf(a)
	m.Guidance = g
	var out []audio.Segment
	for _, lang := range dispatch.Languages {
		if _, ok := a.Text[lang]; !ok {
			continue
		}
		parts := wording.SpeechParts(m, lang)
		seg := audio.Segment{Lang: lang, Text: strings.Join(parts, "")}
		if g != nil && len(parts) > 1 && speakable(lang, parts) {
			seg.Parts = parts
		}
		out = append(out, seg)
	}
	return out
}

// speakable reports whether every part has words to say on its own (an
// instruction of punctuation only does not): else the speech is said
// whole, as it always could be.
func speakable(lang string, parts []string) bool {
	for _, p := range parts {
		if _, err := audio.NormalizeText(lang, p); err != nil {
			return false
		}
	}
	return true
}

// RenderGuided renders a's programme for the loudspeakers of villages told
// g. The audio cache is keyed by the programme's words, so villages whose
// guidance says the same thing (same shelter, direction and distance)
// share one rendering, and a second call is a cache hit; the words all
// villages share are synthesised once (SpeechFor).
func (r *Renderer) RenderGuided(ctx context.Context, a *dispatch.Alert, g *channels.Guidance) (*channels.Audio, error) {
	return r.renderProgramme(ctx, ProgrammeFor(a, g, r.cfg.Repeats))
}
