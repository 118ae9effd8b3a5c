package dryrun

import (
	"fmt"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/warning"
	"github.com/alertcast/alertcast/wording"
)

// SMS renders as the SMS channel does, with the same renderer and the same
// configuration (signature, parts limit, default language): the record's
// Body is the whole message, Parts the segments the channel submits.
func SMS(cfg sms.Config) RenderFunc {
	return func(m *channels.Message, r channels.Recipient) (Rendering, error) {
		out, err := sms.Render(m, r.Language, cfg)
		if err != nil {
			return Rendering{}, err
		}
		return Rendering{Body: out.Text, Encoding: out.Encoding, Parts: append([]string(nil), out.Segments...)}, nil
	}
}

// Speaker records the programme a loudspeaker would have been told to play:
// its command id, the programme's digest, address and length, and the
// text it speaks in each language. A loudspeaker
// plays audio, so the programme is what would have been sent; without one
// (no speech or tone rendered) the real channel refuses the message, and so
// does this.
func Speaker() RenderFunc {
	return func(m *channels.Message, _ channels.Recipient) (Rendering, error) {
		op := "play"
		if m.Kind == warning.KindCancel || m.Kind == warning.KindAllClear {
			op = "stop"
			if m.Audio == nil || m.Audio.URL == "" {
				return Rendering{Body: fmt.Sprintf("%s:%s", op, m.Key)}, nil
			}
		}
		if m.Audio == nil || m.Audio.URL == "" {
			return Rendering{}, &warning.FieldError{Field: "message.audio", Rule: "a loudspeaker needs a rendered programme (url + sha256)"}
		}
		body := fmt.Sprintf("%s:%s programme sha256=%s url=%s duration=%s", op, m.Key, m.Audio.SHA256, m.Audio.URL, m.Audio.Duration)
		if m.Audio.ToneOnly {
			body += " tone-only"
		}
		if m.Drill() {
			body += " drill"
		}
		// What the programme says after its signal, per language, from
		// the same wording the speech renderer speaks.
		for _, lang := range []string{"zh", "ug"} {
			if _, ok := m.Texts[lang]; ok && !m.Audio.ToneOnly {
				body += "\n" + lang + ": " + wording.Speech(m, lang)
			}
		}
		return Rendering{Body: body}, nil
	}
}
