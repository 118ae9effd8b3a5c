package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/warning"
)

// toneOnly is a renderer without speech: the signal and the layout are
// what these tests look at, and espeak-ng would only slow them down.
func toneOnly(t *testing.T, rdb redis.UniversalClient) *Renderer {
	t.Helper()
	ar, err := audio.NewRenderer(audio.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Audio: ar, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sandstorm() *dispatch.Alert {
	return &dispatch.Alert{ID: "a1", Version: 1, Kind: warning.KindAlert, Level: warning.LevelOrange, Status: warning.StatusActual,
		Text: map[string]dispatch.Text{"zh": {Headline: "沙尘暴预警", Description: "今天有大风。", Instruction: "请回家。"}}}
}

// TestRenderAlertChoosesTheSignal: what a loudspeaker plays first follows
// the warning's kind and level — each level its own pulsed cadence, the
// all-clear the steady tone, a cancellation its own figure — and a drill or
// test opens with the drill intro before any signal.
func TestRenderAlertChoosesTheSignal(t *testing.T) {
	r := toneOnly(t, nil)
	text := map[string]dispatch.Text{"zh": {Headline: "沙尘暴预警", Description: "今天有大风。", Instruction: "请回家。"}}
	cases := []struct {
		kind   warning.Kind
		level  warning.Level
		status warning.Status
		want   audio.Signal
	}{
		{warning.KindAlert, warning.LevelBlue, warning.StatusActual, audio.SignalBlue},
		{warning.KindAlert, warning.LevelYellow, warning.StatusActual, audio.SignalYellow},
		{warning.KindAlert, warning.LevelOrange, warning.StatusActual, audio.SignalOrange},
		{warning.KindAlert, warning.LevelRed, warning.StatusActual, audio.SignalRed},
		{warning.KindUpdate, warning.LevelOrange, warning.StatusActual, audio.SignalOrange},
		{warning.KindAllClear, warning.LevelRed, warning.StatusActual, audio.SignalAllClear},
		{warning.KindCancel, warning.LevelRed, warning.StatusActual, audio.SignalCancel},
		{warning.KindAlert, warning.LevelRed, warning.StatusExercise, audio.SignalRed},
		{warning.KindCancel, warning.LevelYellow, warning.StatusTest, audio.SignalCancel},
	}
	for _, c := range cases {
		a := &dispatch.Alert{Kind: c.kind, Level: c.level, Status: c.status, Text: text}
		got, err := r.RenderAlert(context.Background(), a)
		if err != nil {
			t.Fatalf("%v %v %v: %v", c.kind, c.level, c.status, err)
		}
		f, res, err := r.cfg.Audio.Open(got.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		var first []string
		for _, e := range res.Layout {
			if e.Repeat == 1 && e.Kind != audio.KindPause {
				first = append(first, e.Kind+":"+e.Signal)
			}
		}
		drill := c.status.Drill()
		want := []string{audio.KindAttention + ":" + c.want.String()}
		if drill {
			want = append([]string{audio.KindDrill + ":"}, want...)
		}
		if len(first) < len(want) || first[0] != want[0] || (drill && first[1] != want[1]) {
			t.Errorf("%v %v %v: programme opens with %v, want %v", c.kind, c.level, c.status, first, want)
		}
	}
}

// The programme a loudspeaker is told about is the file served under that
// name: the URL is the path on the node the loudspeaker is connected to
// (not the rendering node's URL), the hash is the file's, and a tone-only
// render says so.
func TestRenderAlertNamesTheFileItServes(t *testing.T) {
	r := toneOnly(t, nil)
	au, err := r.RenderAlert(context.Background(), sandstorm())
	if err != nil {
		t.Fatal(err)
	}
	if want := "/audio/" + au.SHA256 + ".wav"; au.URL != want {
		t.Errorf("URL %q, want %q", au.URL, want)
	}
	if !au.ToneOnly || au.Format != "wav/pcm16/16000" || au.Duration <= 0 {
		t.Errorf("audio %+v: want tone-only wav/pcm16/16000 with a duration", au)
	}
	body, status := get(t, r, "/audio/"+au.SHA256+".wav")
	if status != http.StatusOK || digest(body) != au.SHA256 {
		t.Fatalf("GET the programme: %d, sha256 %s, want 200 and %s", status, digest(body), au.SHA256)
	}
}

// Loudspeakers download from the node they are connected to. A node that
// never rendered a programme renders it from the description the first
// node left in Redis, and serves the same bytes; without that description
// it answers 404 (the control: the file really was missing on that node).
func TestAnotherNodeServesTheProgramme(t *testing.T) {
	rs := testsvc.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	nodeA, nodeB := toneOnly(t, rdb), toneOnly(t, rdb)

	au, err := nodeA.RenderAlert(context.Background(), sandstorm())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := nodeB.cfg.Audio.Open(au.SHA256); !errors.Is(err, audio.ErrNotFound) {
		t.Fatalf("node B has the file before anyone asked it: %v", err)
	}
	lonely := toneOnly(t, nil)
	if _, status := get(t, lonely, "/audio/"+au.SHA256+".wav"); status != http.StatusNotFound {
		t.Fatalf("a node without Redis served a programme it never rendered: %d", status)
	}
	body, status := get(t, nodeB, "/audio/"+au.SHA256+".wav")
	if status != http.StatusOK || digest(body) != au.SHA256 {
		t.Fatalf("node B: %d, sha256 %s, want 200 and %s", status, digest(body), au.SHA256)
	}

	// A description that is not a programme is refused, not rendered.
	const bogus = "0000000000000000000000000000000000000000000000000000000000000000"
	if err := rdb.Set(context.Background(), descriptionKey(bogus), "{not json", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, status := get(t, nodeB, "/audio/"+bogus+".wav"); status != http.StatusNotFound {
		t.Errorf("a broken description: %d, want 404", status)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	ar, err := audio.NewRenderer(audio.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg   Config
		field string
	}{
		{Config{}, "render.audio"},
		{Config{Audio: ar, Repeats: -1}, "audio.repeats"},
		{Config{Audio: ar, Repeats: audio.MaxRepeats + 1}, "audio.repeats"},
	} {
		_, err := New(c.cfg)
		var fe *warning.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%+v: %v, want a FieldError on %s", c.cfg, err, c.field)
		}
	}
	if _, err := New(Config{Audio: ar, Repeats: audio.MaxRepeats}); err != nil {
		t.Errorf("repeats %d: %v", audio.MaxRepeats, err)
	}
}

func get(t *testing.T, r *Renderer, path string) ([]byte, int) {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return body, rec.Code
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
