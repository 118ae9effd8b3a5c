package engine

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
)

// villageRenderer renders a "programme" per guidance whose hash names the
// guidance's shelter, counting renders; renders of blocked shelters wait
// until released.
type villageRenderer struct {
	mu      sync.Mutex
	renders map[string]int
	blocked map[string]chan struct{}
	fail    map[string]bool
}

func (r *villageRenderer) RenderAlert(context.Context, *dispatch.Alert) (*channels.Audio, error) {
	return &channels.Audio{SHA256: "common", URL: "https://x/audio/common.wav"}, nil
}

func (r *villageRenderer) RenderGuided(ctx context.Context, _ *dispatch.Alert, g *channels.Guidance) (*channels.Audio, error) {
	name := "default"
	if g.Shelter != nil {
		name = g.Shelter.ID
	}
	r.mu.Lock()
	r.renders[g.Key()]++
	wait, fail := r.blocked[name], r.fail[name]
	r.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail {
		return nil, errors.New("espeak-ng crashed")
	}
	return &channels.Audio{SHA256: "prog-" + name, URL: "https://x/audio/prog-" + name + ".wav"}, nil
}

type speakerPop struct {
	Population
	village map[string]string
}

func (p speakerPop) SpeakerVillage(id string) (string, bool) { v, ok := p.village[id]; return v, ok }

func guidedEngine(r *villageRenderer, a *dispatch.Alert) *Engine {
	shelter := func(id string) *channels.GuidanceShelter {
		return &channels.GuidanceShelter{ID: id, Name: "避难场所" + id}
	}
	g := &dispatch.VillageGuidance{
		ByVillage: map[string]*channels.Guidance{
			"V1": {Action: "evacuate", Village: "V1", Shelter: shelter("X"), Compass: warning.East, DistanceM: 1200},
			"V2": {Action: "evacuate", Village: "V2", Shelter: shelter("X"), Compass: warning.East, DistanceM: 1230}, // says the same as V1
			"V3": {Action: "evacuate", Village: "V3", Shelter: shelter("Y"), Compass: warning.West, DistanceM: 800},
		},
		Default: &channels.Guidance{Action: "evacuate"},
	}
	pop := speakerPop{village: map[string]string{"S1": "V1", "S2": "V1", "S3": "V2", "S4": "V3"}}
	e := &Engine{cfg: EngineConfig{Audio: r, Population: pop}, log: slog.New(slog.DiscardHandler)}
	e.guides.m = map[string]*dispatch.VillageGuidance{a.GuidanceDigest: g}
	return e
}

func evacuateVersion() *dispatch.Alert {
	return &dispatch.Alert{ID: "A1", Version: 1, Kind: warning.KindAlert, Level: warning.LevelRed, Status: warning.StatusActual,
		Area: dispatch.Area{Codes: []string{"653122"}}, Channels: []string{"speaker"}, Action: &dispatch.Action{Type: dispatch.ActionEvacuate}, GuidanceDigest: "frozen-A1",
		Text: map[string]dispatch.Text{"zh": {Headline: "洪水红色预警"}}}
}

// A speaker batch is cut by what each village's guidance says: villages
// told the same thing share one part and one render, each part's message
// carries its own guidance and programme (the hash the hub signs for its
// devices), and a loudspeaker of no known village gets the default
// guidance. The first part is sent without waiting for the other
// villages' renders, and a programme that cannot be rendered falls back to
// the common one.
func TestSpeakerPartsPerVillageProgramme(t *testing.T) {
	a := evacuateVersion()
	release := make(chan struct{})
	r := &villageRenderer{renders: map[string]int{}, blocked: map[string]chan struct{}{"Y": release}, fail: map[string]bool{"default": true}}
	e := guidedEngine(r, a)
	msg := dispatch.MessageOf(a)
	msg.Audio = &channels.Audio{SHA256: "common", URL: "https://x/audio/common.wav"}
	todo := []channels.Recipient{{ID: "S1"}, {ID: "S4"}, {ID: "S2"}, {ID: "S3"}, {ID: "S9"}}
	ctx := t.Context()
	parts, err := e.sendParts(ctx, a, "speaker", msg, todo, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3 (shelter X, shelter Y, default)", len(parts))
	}
	ids := func(p sendPart) string {
		var s []string
		for _, r := range p.rcpts {
			s = append(s, r.ID)
		}
		return strings.Join(s, ",")
	}
	// Shelter X's part goes out while shelter Y's render is still held.
	m, err := e.partMessage(ctx, a, parts[0])
	if err != nil {
		t.Fatal(err)
	}
	if ids(parts[0]) != "S1,S2,S3" || m.Audio.SHA256 != "prog-X" || m.Guidance.Shelter.ID != "X" {
		t.Fatalf("first part %s: audio %s, guidance %+v", ids(parts[0]), m.Audio.SHA256, m.Guidance)
	}
	close(release)
	m, err = e.partMessage(ctx, a, parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if ids(parts[1]) != "S4" || m.Audio.SHA256 != "prog-Y" {
		t.Fatalf("second part %s: audio %s", ids(parts[1]), m.Audio.SHA256)
	}
	m, err = e.partMessage(ctx, a, parts[2])
	if err != nil {
		t.Fatal(err)
	}
	if ids(parts[2]) != "S9" || m.Audio.SHA256 != "common" || m.Guidance == nil || m.Guidance.Shelter != nil {
		t.Fatalf("default part %s: audio %s, guidance %+v", ids(parts[2]), m.Audio.SHA256, m.Guidance)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.renders) != 3 {
		t.Fatalf("renders %v", r.renders)
	}
	for k, n := range r.renders {
		if n != 1 {
			t.Fatalf("guidance %q rendered %d times", k, n)
		}
	}
	// The version's own message is untouched (it is cached for every batch).
	if msg.Guidance != nil || msg.Audio.SHA256 != "common" {
		t.Fatalf("cached message changed: %+v", msg)
	}
}

// SMS and the other channels are cut as before; a warning without an
// action gives loudspeakers the one common programme.
func TestSpeakerPartsOnlyWithGuidance(t *testing.T) {
	a := evacuateVersion()
	r := &villageRenderer{renders: map[string]int{}}
	e := guidedEngine(r, a)
	plain := evacuateVersion()
	plain.Action = nil
	msg := dispatch.MessageOf(plain)
	msg.Audio = &channels.Audio{SHA256: "common", URL: "https://x/audio/common.wav"}
	parts, err := e.sendParts(t.Context(), plain, "speaker", msg, []channels.Recipient{{ID: "S1"}, {ID: "S4"}}, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 1 || parts[0].audio != nil || parts[0].msg != msg {
		t.Fatalf("no action: %d parts", len(parts))
	}
	// Positive control: the same batch of the evacuate version is cut.
	if parts, _ := e.sendParts(t.Context(), a, "speaker", msg, []channels.Recipient{{ID: "S1"}, {ID: "S4"}}, 5000); len(parts) != 2 {
		t.Fatalf("evacuate: %d parts", len(parts))
	}
}
