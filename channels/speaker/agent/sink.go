package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Programme is one play of one verified, cached audio file.
type Programme struct {
	Path     string // local WAV file, hash already checked
	Key      string // the warning version it belongs to
	Level    int
	Drill    bool
	Repeat   int // 1-based
	Volume   int // 0..100
	Duration time.Duration
}

// Sink is where sound comes out. Play plays p once and returns when it has
// finished, or promptly with ctx.Err() when ctx is done (preempted or
// stopped). Implementations need not be safe for concurrent use: the agent
// plays one programme at a time.
type Sink interface {
	Play(ctx context.Context, p Programme) error
}

// DiscardSink plays nothing. With Realtime it waits the programme's duration,
// so a simulated speaker is busy as long as a real one would be.
type DiscardSink struct {
	Realtime bool
	plays    atomic.Int64
}

// Plays counts finished plays.
func (s *DiscardSink) Plays() int64 { return s.plays.Load() }

// Play implements Sink.
func (s *DiscardSink) Play(ctx context.Context, p Programme) error {
	if s.Realtime && p.Duration > 0 {
		t := time.NewTimer(p.Duration)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	s.plays.Add(1)
	return ctx.Err()
}

// FileSink writes a copy of every programme it plays into Dir
// ("20260401T080000Z-<key>-r1.wav") and, with Realtime, takes as long as the
// audio lasts. It suits devices whose player watches a folder, and tests.
type FileSink struct {
	Dir      string
	Realtime bool
}

// Play implements Sink.
func (s *FileSink) Play(ctx context.Context, p Programme) error {
	name := fmt.Sprintf("%s-%s-r%d.wav", time.Now().UTC().Format("20060102T150405.000Z"), safeName(p.Key), p.Repeat)
	if err := copyFile(p.Path, filepath.Join(s.Dir, name)); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	if s.Realtime && p.Duration > 0 {
		t := time.NewTimer(p.Duration)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return ctx.Err()
}

// CommandSink runs a player program per play, e.g.
// []string{"aplay", "-q", "{file}"}. "{file}" is replaced by the WAV path and
// "{volume}" by 0..100. Stopping kills the program.
type CommandSink struct {
	Argv []string
}

// Play implements Sink.
func (s *CommandSink) Play(ctx context.Context, p Programme) error {
	if len(s.Argv) == 0 {
		return errors.New("command sink: no command configured")
	}
	args := make([]string, len(s.Argv))
	for i, a := range s.Argv {
		a = strings.ReplaceAll(a, "{file}", p.Path)
		args[i] = strings.ReplaceAll(a, "{volume}", strconv.Itoa(p.Volume))
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("player %s: %v: %s", args[0], err, strings.TrimSpace(string(out[:min(len(out), 200)])))
	}
	return nil
}

func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// WAVDuration reads the duration of a RIFF/WAVE file from its header: the
// data chunk's size over the fmt chunk's byte rate.
func WAVDuration(b []byte) (time.Duration, error) { return wavDuration(b, int64(len(b))) }

// wavDuration works from the first bytes of a file of total size.
func wavDuration(b []byte, total int64) (time.Duration, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return 0, errors.New("wav: not a RIFF/WAVE file")
	}
	var byteRate uint32
	for off := 12; off+8 <= len(b); {
		id := string(b[off : off+4])
		size := binary.LittleEndian.Uint32(b[off+4 : off+8])
		body := off + 8
		switch id {
		case "fmt ":
			if size < 16 || body+16 > len(b) {
				return 0, errors.New("wav: short fmt chunk")
			}
			byteRate = binary.LittleEndian.Uint32(b[body+8 : body+12])
		case "data":
			if byteRate == 0 {
				return 0, errors.New("wav: data chunk before fmt, or zero byte rate")
			}
			n := uint64(size)
			avail := uint64(0)
			if total > int64(body) {
				avail = uint64(total - int64(body))
			}
			if n > avail || size == 0xFFFFFFFF {
				n = avail // streamed WAVs carry a placeholder size
			}
			return time.Duration(n * uint64(time.Second) / uint64(byteRate)), nil
		}
		next := uint64(body) + uint64(size) + uint64(size&1)
		if next > uint64(len(b)) {
			break // the next chunk header is past the bytes we have
		}
		off = int(next)
	}
	return 0, errors.New("wav: no data chunk")
}
