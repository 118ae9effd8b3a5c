// Package render turns a warning version into the programme a village
// loudspeaker plays: the drill intro of an exercise or test, the attention
// signal of the level (or the all-clear, or the cancellation's own figure),
// then the words in each language the warning has — the same wording
// (package wording) as the SMS and the resident page. The audio itself is
// made by package audio; this package decides what the programme is, keeps
// its description in Redis so that any node can make the same bytes, and
// serves the files under /audio/.
//
// The engine is handed a *Renderer as a value (dispatch.AudioRenderer) and
// calls it with the stored version; nothing here reaches back into the
// composition root (internal/alertd). This package must never send
// anything, choose who hears a warning, sign a command, or render from
// anything but the version its caller passes in.
package render

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
)

// Config configures a Renderer.
type Config struct {
	// Audio makes and stores the programme files. Required.
	Audio *audio.Renderer
	// Redis keeps each programme's description for the other nodes: a
	// loudspeaker downloads from the node it is connected to, which may not
	// be the one that rendered. Nil: this node serves only what it rendered.
	Redis redis.UniversalClient
	// Repeats is how often the whole programme plays; 0 means
	// audio.DefaultRepeats.
	Repeats int
	// Logger; default: discard.
	Logger *slog.Logger
}

// Renderer renders warning versions into loudspeaker programmes.
type Renderer struct {
	cfg Config
	log *slog.Logger
	// stored holds the hashes whose description this process wrote to
	// Redis, and when: previews and polls render (cache hits) again and
	// again, and one write per programme and day is enough.
	stored sync.Map
}

// AudioPath is where programmes are served, on every node that serves
// loudspeakers (Handler).
const AudioPath = "/audio/"

// descriptionTTL is how long a programme's description stays in Redis;
// refreshed daily (see Renderer.stored), well inside it.
const descriptionTTL = 8 * 24 * time.Hour

// New returns a Renderer.
func New(cfg Config) (*Renderer, error) {
	if cfg.Audio == nil {
		return nil, &warning.FieldError{Field: "render.audio", Rule: "required"}
	}
	if cfg.Repeats < 0 || cfg.Repeats > audio.MaxRepeats {
		return nil, &warning.FieldError{Field: "audio.repeats", Rule: fmt.Sprintf("0 (default %d) .. %d", audio.DefaultRepeats, audio.MaxRepeats), Value: fmt.Sprint(cfg.Repeats)}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Renderer{cfg: cfg, log: log}, nil
}

// Programme is what a loudspeaker plays for a: the attention signal of the
// level (or the all-clear, or the cancellation's figure), the drill intro
// of an exercise or test, then Speech(a).
func Programme(a *dispatch.Alert, repeats int) audio.Programme {
	p := audio.Programme{Drill: a.Status.Drill(), Repeats: repeats}
	switch a.Kind {
	case warning.KindAllClear:
		p.Attention = audio.SignalAllClear
	case warning.KindCancel:
		p.Attention = audio.SignalCancel // its own figure: never a warning cadence, never the all-clear
	default:
		p.Attention = audio.Signal(int(a.Level)) // SignalBlue..SignalRed follow LevelBlue..LevelRed
	}
	p.Speech = Speech(a)
	return p
}

// Speech is what the loudspeaker says after the attention signal, in each
// language the warning has: the same wording as the SMS and the resident
// page (package wording) — an update says what changed, a cancel or
// all-clear says so with the officer's reason and never repeats the old
// instruction. The drill intro is the programme's (audio.Programme.Drill),
// so no marker here.
func Speech(a *dispatch.Alert) []audio.Segment { return SpeechFor(a, nil) }

// RenderAlert implements dispatch.AudioRenderer: it renders a's programme
// (a cache hit when it was rendered before) and says where loudspeakers
// fetch it.
func (r *Renderer) RenderAlert(ctx context.Context, a *dispatch.Alert) (*channels.Audio, error) {
	return r.renderProgramme(ctx, Programme(a, r.cfg.Repeats))
}

// renderProgramme renders p (a cache hit when it was rendered before) and
// says where loudspeakers fetch it: /audio/<sha256>.wav on the node each
// one is connected to (the agent resolves the path against its platform
// URL). Not this node's URL: in a cluster the renderer is a worker that
// serves no loudspeaker, and any API node makes the same bytes from the
// description kept in Redis.
func (r *Renderer) renderProgramme(ctx context.Context, p audio.Programme) (*channels.Audio, error) {
	res, err := r.cfg.Audio.Render(ctx, p)
	if err != nil {
		return nil, err
	}
	r.keepDescription(ctx, res.SHA256, p)
	return &channels.Audio{SHA256: res.SHA256, URL: AudioPath + res.SHA256 + ".wav", Duration: res.Duration,
		Format: fmt.Sprintf("wav/pcm16/%d", res.SampleRate), ToneOnly: res.ToneOnly}, nil
}

// keepDescription writes what the programme is to Redis, so that a node
// without the file renders the same bytes on demand (Handler). A failed
// write is tried again at the next render: the programme itself is fine.
func (r *Renderer) keepDescription(ctx context.Context, sha string, p audio.Programme) {
	if r.cfg.Redis == nil {
		return
	}
	if at, ok := r.stored.Load(sha); ok && time.Since(at.(time.Time)) < 24*time.Hour {
		return
	}
	r.stored.Store(sha, time.Now())
	spec, err := json.Marshal(p)
	if err == nil {
		err = r.cfg.Redis.Set(ctx, descriptionKey(sha), spec, descriptionTTL).Err()
	}
	if err != nil {
		r.stored.Delete(sha)
		r.log.Warn("programme description not shared with other nodes (retried at the next render)", "sha256", sha, "err", err)
	}
}

func descriptionKey(sha string) string { return "alertcast:audio:programme:" + sha }

// Handler serves programme files under /audio/ (mount it at "GET /audio/"
// and "HEAD /audio/"). A programme another node rendered is rendered here
// first from its description in Redis; the content hash proves the bytes
// are the same.
func (r *Renderer) Handler() http.Handler {
	files := http.StripPrefix("/audio", r.cfg.Audio.Handler())
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		name := strings.TrimPrefix(req.URL.Path, AudioPath)
		if sha, _, _ := strings.Cut(name, "."); len(sha) == 64 {
			r.renderMissing(req.Context(), sha)
		}
		files.ServeHTTP(w, req)
	})
}

// renderMissing renders the programme sha from its stored description when
// this node does not have its file.
func (r *Renderer) renderMissing(ctx context.Context, sha string) {
	rc, _, err := r.cfg.Audio.Open(sha)
	if err == nil {
		rc.Close()
		return
	}
	if !errors.Is(err, audio.ErrNotFound) || r.cfg.Redis == nil {
		return
	}
	spec, err := r.cfg.Redis.Get(ctx, descriptionKey(sha)).Bytes()
	if err != nil {
		return // unknown here and in Redis: the file handler answers 404
	}
	var p audio.Programme
	if err := json.Unmarshal(spec, &p); err != nil {
		r.log.Error("programme description in Redis is not valid", "sha256", sha, "err", err)
		return
	}
	res, err := r.cfg.Audio.Render(ctx, p)
	switch {
	case err != nil:
		r.log.Error("render programme on demand", "sha256", sha, "err", err)
	case res.SHA256 != sha:
		r.log.Error("programme rendered on this node differs from the original (different espeak-ng?)", "want", sha, "got", res.SHA256)
	}
}
