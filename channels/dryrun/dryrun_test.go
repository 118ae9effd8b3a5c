package dryrun_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/channeltest"
	"github.com/alertcast/alertcast/channels/dryrun"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/channels/sms/smscsim"
	"github.com/alertcast/alertcast/wording"
)

// memRecorder keeps records in memory, the first of each (key, channel,
// recipient), as the database recorder does.
type memRecorder struct {
	mu   sync.Mutex
	recs map[[3]string]dryrun.Record
	err  error
}

func (m *memRecorder) Record(_ context.Context, recs []dryrun.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if m.recs == nil {
		m.recs = map[[3]string]dryrun.Record{}
	}
	for _, r := range recs {
		k := [3]string{r.Key, r.Channel, r.Recipient}
		if _, ok := m.recs[k]; !ok {
			m.recs[k] = r
		}
	}
	return nil
}

func (m *memRecorder) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recs)
}

func (m *memRecorder) get(key, channel, recipient string) (dryrun.Record, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[[3]string{key, channel, recipient}]
	return r, ok
}

func recipients(from, n int, lang string) []channels.Recipient {
	out := make([]channels.Recipient, n)
	for i := range out {
		out[i] = channels.Recipient{ID: fmt.Sprintf("r%07d", from+i), Address: fmt.Sprintf("+86139%08d", from+i), Language: lang}
	}
	return out
}

// TestConformance runs the channel suite against the dry run standing in for
// SMS; "Delivered" counts records, which proves a cancelled or invalid Send
// records nothing and an indivisible batch is recorded whole or not at all.
func TestConformance(t *testing.T) {
	var (
		mu   sync.Mutex
		rec  *memRecorder
		next int
	)
	channeltest.Run(t, channeltest.Harness{
		New: func(t *testing.T, env channeltest.Env) channels.Channel {
			mu.Lock()
			defer mu.Unlock()
			rec = &memRecorder{}
			return dryrun.New("sms", rec, dryrun.WithRender(dryrun.SMS(sms.Config{})))
		},
		Good: func(t *testing.T, n int) []channels.Recipient {
			mu.Lock()
			defer mu.Unlock()
			next += n
			return recipients(next-n, n, "zh")
		},
		Delivered: func() int {
			mu.Lock()
			defer mu.Unlock()
			return rec.len()
		},
		NoPermanent: "it records whatever recipient it is given: there is no far end to refuse one (an unrenderable message fails every recipient, see TestUnrenderableIsPermanent)",
		NoTransient: "a store failure fails the whole batch with Send's error (TestRecorderErrorIsTheBatchError), never one recipient",
		NoReceipts:  "nothing is sent, so nothing is ever reported back",
		NoSecret:    "it holds no credential",
		Indivisible: "one Recorder.Record call stores the batch",
	})
}

// TestResultsAreNotSent: a dry run never says sent or delivered.
func TestResultsAreNotSent(t *testing.T) {
	rec := &memRecorder{}
	ch := dryrun.New("sms", rec, dryrun.WithRender(dryrun.SMS(sms.Config{})))
	to := recipients(0, 3, "ug")
	res, err := ch.Send(context.Background(), channeltest.Sample(), to)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range channeltest.CheckResults(t, to, res) {
		if r.State != channels.StateNotSent || !strings.HasPrefix(r.Detail, dryrun.DetailNotSent) {
			t.Errorf("%s: state %s detail %q (want not_sent, %q…)", r.RecipientID, r.State, r.Detail, dryrun.DetailNotSent)
		}
	}
	if rec.len() != 3 {
		t.Fatalf("%d records for 3 recipients", rec.len())
	}
}

// TestRecorderErrorIsTheBatchError: a record that could not be stored is
// not reported as recorded; the batch is retried.
func TestRecorderErrorIsTheBatchError(t *testing.T) {
	boom := errors.New("disk full")
	ch := dryrun.New("sms", &memRecorder{err: boom})
	res, err := ch.Send(context.Background(), channeltest.Sample(), recipients(0, 2, "zh"))
	if !errors.Is(err, boom) || res != nil || channels.IsPermanent(err) {
		t.Fatalf("Send = %v, %v; want no results and the transient recorder error", res, err)
	}
}

// TestUnrenderableIsPermanent: what the real channel refuses (no headline
// to put in an SMS) fails permanently and is not recorded.
func TestUnrenderableIsPermanent(t *testing.T) {
	rec := &memRecorder{}
	ch := dryrun.New("sms", rec, dryrun.WithRender(dryrun.SMS(sms.Config{})))
	m := channeltest.Sample()
	m.Texts = map[string]channels.Text{"zh": {Headline: "  ", Instruction: "x"}}
	to := recipients(0, 1, "zh")
	res, err := ch.Send(context.Background(), m, to)
	if err != nil {
		t.Fatal(err)
	}
	r := channeltest.CheckResults(t, to, res)[to[0].ID]
	if r.State != channels.StateFailed || !channels.IsPermanent(r.Err) || !strings.Contains(r.Err.Error(), "headline") {
		t.Fatalf("result %s %v; want a permanent failure naming the headline", r.State, r.Err)
	}
	if rec.len() != 0 {
		t.Fatalf("%d records for a message that cannot be sent", rec.len())
	}
}

// TestSpeakerRecordsTheProgramme: a loudspeaker record names the command and
// the programme the device would have been told to play.
func TestSpeakerRecordsTheProgramme(t *testing.T) {
	rec := &memRecorder{}
	ch := dryrun.New("speaker", rec, dryrun.WithRender(dryrun.Speaker()))
	m := channeltest.Sample()
	to := []channels.Recipient{{ID: "spk-1", Address: "spk-1"}}
	res, err := ch.Send(context.Background(), m, to)
	if err != nil {
		t.Fatal(err)
	}
	if r := channeltest.CheckResults(t, to, res)["spk-1"]; r.State != channels.StateFailed || !channels.IsPermanent(r.Err) {
		t.Fatalf("a programme-less play: %s %v (want permanent failure, as the hub refuses it)", r.State, r.Err)
	}
	m.Audio = &channels.Audio{SHA256: "ab12", URL: "/audio/ab12.wav", Duration: 42 * time.Second, Format: "wav/pcm16/16000"}
	if _, err := ch.Send(context.Background(), m, to); err != nil {
		t.Fatal(err)
	}
	got, ok := rec.get(m.Key, "speaker", "spk-1")
	if !ok {
		t.Fatal("no record")
	}
	want := []string{"play:" + m.Key, "sha256=ab12", "url=/audio/ab12.wav", "duration=42s", "drill"}
	// The words the programme speaks, from the wording the speech renderer
	// uses (internal/alertd speechSegments calls wording.Speech too).
	for lang := range m.Texts {
		if lang == "zh" || lang == "ug" {
			want = append(want, lang+": "+wording.Speech(m, lang))
		}
	}
	for _, w := range want {
		if !strings.Contains(got.Body, w) {
			t.Errorf("record %q lacks %q", got.Body, w)
		}
	}
	// A tone-only programme says nothing: no text is recorded.
	m.Key = "tone/v1"
	m.Audio.ToneOnly = true
	if _, err := ch.Send(context.Background(), m, to); err != nil {
		t.Fatal(err)
	}
	if got, _ := rec.get(m.Key, "speaker", "spk-1"); !strings.Contains(got.Body, "tone-only") || strings.Contains(got.Body, "zh: ") {
		t.Errorf("tone-only record %q", got.Body)
	}
}

// TestDryRunIsWhatTheSMSChannelSubmits sends the same warning to the same
// recipients through the real SMS channel (to the SMSC simulator) and
// through the dry run, and compares every part and its encoding: a dry run
// is exact, per language, with the signature, drill marker and cut.
func TestDryRunIsWhatTheSMSChannelSubmits(t *testing.T) {
	long := channeltest.Sample()
	long.Key = "long/v1"
	zh := long.Texts["zh"]
	zh.Description = strings.Repeat("预计今天下午到夜间有强沙尘暴，能见度低于五百米。", 6)
	long.Texts["zh"] = zh
	latin := channeltest.Sample()
	latin.Key = "latin/v1"
	latin.Texts = map[string]channels.Text{"en": {Headline: "Sandstorm warning (orange)", Description: "Strong sandstorm expected this afternoon.", Instruction: "Close doors and windows; stay indoors."}}

	cases := []struct {
		name string
		cfg  sms.Config
		m    *channels.Message
		lang string
	}{
		{"zh drill", sms.Config{}, channeltest.Sample(), "zh"},
		{"ug drill", sms.Config{}, channeltest.Sample(), "ug"},
		{"zh long, several parts", sms.Config{}, long, "zh"},
		{"gsm7 with a latin signature", sms.Config{Signature: "[Shule EMB] ", DrillMarker: map[string]string{"en": "[DRILL] "}}, latin, "en"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim, err := smscsim.Start(smscsim.Config{SystemID: "alertcast", Password: "pw8chars", Keep: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sim.Close() })
			cfg := tc.cfg
			cfg.Gateways = []sms.GatewayConfig{{Name: "sim", Type: "smpp", Addr: sim.Addr(), SystemID: "alertcast", Password: "pw8chars",
				SourceAddr: "12379", Binds: 1, Window: 10, ResponseTimeout: 5 * time.Second}}
			real, err := sms.New(cfg, channels.Discard, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { real.Close() })
			rec := &memRecorder{}
			dry := dryrun.New("sms", rec, dryrun.WithRender(dryrun.SMS(cfg)))

			to := recipients(100*i, 2, tc.lang)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res, err := real.Send(ctx, tc.m, to)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if r.State != channels.StateSent && r.State != channels.StateDelivered {
					t.Fatalf("real channel: %s %s %v", r.RecipientID, r.State, r.Err)
				}
			}
			if _, err := dry.Send(ctx, tc.m, to); err != nil {
				t.Fatal(err)
			}
			// Submits were answered before Send returned: all are kept.
			byDest := map[string][]smscsim.Message{}
			for _, m := range sim.Messages() {
				byDest[m.Dest] = append(byDest[m.Dest], m)
			}
			for _, r := range to {
				got, ok := rec.get(tc.m.Key, "sms", r.ID)
				if !ok {
					t.Fatalf("%s: no dry-run record", r.ID)
				}
				subs := byDest[strings.TrimPrefix(r.Address, "+")]
				if len(subs) == 0 {
					subs = byDest[r.Address]
				}
				slices.SortFunc(subs, func(a, b smscsim.Message) int { return int(a.Part) - int(b.Part) })
				if len(subs) != len(got.Parts) {
					t.Fatalf("%s: SMSC got %d parts, dry run recorded %d", r.ID, len(subs), len(got.Parts))
				}
				wantCoding := byte(8)
				if got.Encoding == sms.GSM7 {
					wantCoding = 0
				}
				for j, s := range subs {
					if s.Text != got.Parts[j] {
						t.Errorf("%s part %d:\n SMSC   %q\n dry run %q", r.ID, j+1, s.Text, got.Parts[j])
					}
					if s.DataCoding != wantCoding {
						t.Errorf("%s part %d: SMSC data_coding %d, dry run says %s", r.ID, j+1, s.DataCoding, got.Encoding)
					}
				}
				if strings.Join(got.Parts, "") != got.Body {
					t.Errorf("%s: body %q is not its parts %q", r.ID, got.Body, got.Parts)
				}
			}
			if tc.name == "zh long, several parts" && len(rec.recs[[3]string{tc.m.Key, "sms", to[0].ID}].Parts) < 2 {
				t.Error("the long case did not produce several parts: it proves nothing about the cut")
			}
			if tc.name == "gsm7 with a latin signature" && rec.recs[[3]string{tc.m.Key, "sms", to[0].ID}].Encoding != sms.GSM7 {
				t.Error("the latin case was not GSM-7: it proves nothing about that encoding")
			}
		})
	}
}
