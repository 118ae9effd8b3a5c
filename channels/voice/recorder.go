package voice

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// recorder writes one publisher's Opus RTP to an Ogg file. A recorder whose
// file could not be opened is a no-op (the failure is logged once): losing
// the recording must never silence a live announcement.
type recorder struct {
	s       *Server
	r       *room
	user    string
	path    string
	w       *oggwriter.OggWriter
	started time.Time
	packets int
	errs    int
}

func (s *Server) newRecorder(r *room, user string) *recorder {
	rec := &recorder{s: s, r: r, user: user, started: time.Now()}
	if s.cfg.RecordDir == "" {
		return rec
	}
	dir := filepath.Join(s.cfg.RecordDir, rec.started.UTC().Format("2006-01-02"))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		s.log.Error("voice: recording not started", "room", r.id, "err", err)
		return rec
	}
	// user ids are validated identifiers, but a file name must not carry a
	// path separator whatever Authenticate returns.
	name := r.id + "-" + sanitize(user) + "-" + rec.started.UTC().Format("150405") + ".ogg"
	rec.path = filepath.Join(dir, name)
	w, err := oggwriter.New(rec.path, 48000, 2)
	if err != nil {
		s.log.Error("voice: recording not started", "room", r.id, "path", rec.path, "err", err)
		rec.path = ""
		return rec
	}
	rec.w = w
	r.mu.Lock()
	r.recordings = append(r.recordings, rec.path)
	r.mu.Unlock()
	return rec
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

func (rec *recorder) write(p *rtp.Packet) {
	if rec.w == nil {
		return
	}
	if err := rec.w.WriteRTP(p); err != nil {
		rec.errs++
		if rec.errs == 1 {
			rec.s.log.Warn("voice: recording packet skipped", "room", rec.r.id, "err", err)
		}
		return
	}
	rec.packets++
}

func (rec *recorder) close(ctx context.Context) {
	if rec.w == nil {
		return
	}
	if err := rec.w.Close(); err != nil {
		rec.s.log.Error("voice: recording not finished", "room", rec.r.id, "path", rec.path, "err", err)
	}
	rec.w = nil
	r := Recording{Room: rec.r.id, Kind: rec.r.kind, User: rec.user, Path: rec.path, Started: rec.started, Ended: time.Now(), Packets: rec.packets}
	rec.s.log.Info("voice: recording saved", "room", r.Room, "kind", r.Kind, "user", r.User, "path", r.Path, "packets", r.Packets)
	rec.s.met.recordings.Inc()
	if rec.s.cfg.OnRecording != nil {
		rec.s.cfg.OnRecording(ctx, r)
	}
}
