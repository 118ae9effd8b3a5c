package alertd

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/render"
	"github.com/alertcast/alertcast/warning"
	"github.com/alertcast/alertcast/wording"
	"github.com/alertcast/alertcast/wording/wordingtest"
)

var updateWording = flag.Bool("update-wording", false, "rewrite testdata/wording/*.txt")

// alertOf is the stored warning version behind a wordingtest message.
func alertOf(t *testing.T, m *channels.Message) *dispatch.Alert {
	t.Helper()
	a := &dispatch.Alert{ID: m.AlertID, Version: m.Version, Event: m.Event, Level: m.Level,
		Status: m.Status, State: warning.StateIssued, Kind: m.Kind, IssuedAt: m.Sent, Expires: m.Expires, Reason: m.Reason,
		Area: dispatch.Area{Codes: m.Area}, Text: map[string]dispatch.Text{}}
	for l, tx := range m.Texts {
		a.Text[l] = dispatch.Text(tx)
	}
	for _, c := range m.Changes {
		a.Changes = append(a.Changes, dispatch.ChangeKind(c))
	}
	return a
}

// TestWordingGolden shows, for every kind × status × language, what each
// channel says — SMS, loudspeaker speech, resident page, CAP — side by side
// in testdata/wording (go test ./internal/alertd -run TestWordingGolden
// -args -update-wording).
// Whatever the words, an ending carries its reason and never the old
// instruction on any channel.
func TestWordingGolden(t *testing.T) {
	for _, c := range wordingtest.Cases() {
		a := alertOf(t, c.Msg)
		m := dispatch.MessageOf(a)
		// dispatch builds messages every channel accepts.
		if err := m.Validate(); err != nil {
			t.Fatalf("%s: dispatch.MessageOf: %v", c.Name, err)
		}
		speech := map[string]string{}
		for _, s := range render.Speech(a) {
			speech[s.Lang] = s.Text
		}
		var opts []dispatch.CAPOption
		if c.Msg.Kind != warning.KindAlert {
			opts = append(opts, dispatch.WithPriorVersions(alertOf(t, wordingtest.Message(warning.KindAlert, c.Msg.Status))))
		}
		capDoc := dispatch.AlertToCAP(a, "https://alert.example.cn", opts...)
		if _, err := capDoc.Marshal(); err != nil {
			t.Fatalf("%s: CAP: %v", c.Name, err)
		}
		for _, lang := range []string{"zh", "ug"} {
			t.Run(c.Name+"_"+lang, func(t *testing.T) {
				r, err := sms.Render(m, lang, sms.Config{})
				if err != nil {
					t.Fatal(err)
				}
				page := wording.Compose(m, lang)
				var capDesc, capInstr, capHead string
				for _, in := range capDoc.Infos {
					if strings.HasPrefix(in.Language, lang) {
						capHead, capDesc, capInstr = in.Headline, in.Description, in.Instruction
					}
				}
				var b strings.Builder
				fmt.Fprintf(&b, "sms:              %s\n", r.Text)
				fmt.Fprintf(&b, "speech:           %s\n", speech[lang])
				fmt.Fprintf(&b, "page headline:    %s\n", page.Headline)
				fmt.Fprintf(&b, "page description: %s\n", page.Description)
				fmt.Fprintf(&b, "page instruction: %s\n", page.Instruction)
				fmt.Fprintf(&b, "cap headline:     %s\n", capHead)
				fmt.Fprintf(&b, "cap description:  %s\n", capDesc)
				fmt.Fprintf(&b, "cap instruction:  %s\n", capInstr)
				fmt.Fprintf(&b, "cap note:         %s\n", capDoc.Note)
				got := b.String()
				path := filepath.Join("testdata", "wording", c.Name+"_"+lang+".txt")
				wordingtest.Golden(t, path, got, *updateWording, "run go test ./internal/alertd -run TestWordingGolden -args -update-wording")

				instr := map[string]string{"zh": wordingtest.InstructionZh, "ug": wordingtest.InstructionUg}[lang]
				instr = strings.TrimRight(instr, "。.")
				switch c.Msg.Kind {
				case warning.KindCancel, warning.KindAllClear:
					for ch, s := range map[string]string{"sms": r.Text, "speech": speech[lang], "page": page.Headline + page.Description + page.Instruction, "cap": capDesc + capInstr} {
						if strings.Contains(s, instr) {
							t.Errorf("%s repeats the old instruction: %q", ch, s)
						}
						if !strings.Contains(s, strings.TrimRight(wordingtest.Reason, "。")) {
							t.Errorf("%s without the reason: %q", ch, s)
						}
					}
					if capDoc.Note != wordingtest.Reason {
						t.Errorf("cap note %q", capDoc.Note)
					}
				case warning.KindUpdate:
					changed := map[string]string{"zh": "预警级别升为红色", "ug": "قىزىل غا ئۆستۈرۈلدى"}[lang]
					for ch, s := range map[string]string{"sms": r.Text, "speech": speech[lang], "page": page.Description} {
						if !strings.Contains(s, changed) {
							t.Errorf("%s does not say what changed: %q", ch, s)
						}
					}
				}
			})
		}
	}
}
