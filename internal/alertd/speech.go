package alertd

import (
	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/engine"
	"github.com/alertcast/alertcast/wording"
)

// speechSegments is what the loudspeaker says after the attention signal,
// in each language the warning has: the same wording as the SMS and the
// resident page (package wording) — an update says what changed, a cancel
// or all-clear says so with the officer's reason and never repeats the old
// instruction. The drill intro is the programme's (audio.Programme.Drill),
// so no marker here.
func speechSegments(a *dispatch.Alert) []audio.Segment {
	m := engine.MessageOf(a)
	var out []audio.Segment
	for _, lang := range dispatch.Languages {
		if _, ok := a.Text[lang]; !ok {
			continue
		}
		text := wording.Speech(m, lang)
		out = append(out, audio.Segment{Lang: lang, Text: text})
	}
	return out
}
