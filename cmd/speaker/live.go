package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"github.com/alertcast/alertcast/channels/speaker/agent"
	"github.com/alertcast/alertcast/channels/voice/rtcclient"
)

// This file gives the agent live announcements: it joins the voice server's
// room with rtcclient (pure Go, no cgo) and sends the Opus it receives to
// the device's sink, never decoding or transcoding in Go:
//
//   - a sink with WriteRTP(*rtp.Packet) error gets the packets as they come;
//   - $ALERTCAST_SPEAKER_LIVE_COMMAND, when set, is run through "sh -c" and
//     fed the live audio as an Ogg/Opus stream on stdin, e.g.
//     "opusdec --quiet - - | aplay -q" (Debian: opus-tools, alsa-utils) or
//     "gst-launch-1.0 -q fdsrc ! oggdemux ! opusdec ! autoaudiosink";
//   - otherwise a command sink runs that same opusdec | aplay pipeline when
//     both programs are on PATH;
//   - a file sink gets one growing Ogg/Opus file per announcement in its
//     directory ("…-live-<room>.ogg"), for players that watch a folder;
//   - a discard sink (--simulate) takes the packets and drops them.
//
// Anything else refuses the live command ("live not supported") rather than
// pretend to play.
func init() { liveJoiner = &webrtcLive{} }

// liveCommandEnv names the environment variable with the live player.
const liveCommandEnv = "ALERTCAST_SPEAKER_LIVE_COMMAND"

const defaultLivePipeline = "opusdec --quiet - - | aplay -q"

// rtpSink is a sink that takes RTP directly.
type rtpSink interface {
	WriteRTP(*rtp.Packet) error
}

type webrtcLive struct {
	// cfg is the rtcclient configuration (tests set Loopback).
	cfg rtcclient.Config
	// lookPath and env are seams for tests.
	lookPath func(string) (string, error)
	getenv   func(string) string
}

// Join implements agent.LiveJoiner.
func (l *webrtcLive) Join(ctx context.Context, cmd agent.LiveCommand, sink agent.Sink) error {
	sigURL, err := signallingURL(cmd.Room.Signaling)
	if err != nil {
		return err
	}
	out, err := l.output(ctx, cmd, sink)
	if err != nil {
		return err
	}
	var once sync.Once
	cfg := l.cfg
	cfg.Device = cmd.Device
	var werr error
	err = rtcclient.Join(ctx, sigURL, cmd.Room.Token, cmd.Room.ID, cfg, func(p *rtp.Packet) {
		once.Do(func() {
			if cmd.Joined != nil {
				cmd.Joined()
			}
		})
		if werr == nil {
			werr = out.WriteRTP(p)
		}
	})
	cerr := out.Close()
	switch {
	case err != nil:
		return err
	case werr != nil:
		return fmt.Errorf("live player: %w", werr)
	case cerr != nil:
		return fmt.Errorf("live player: %w", cerr)
	}
	return nil
}

// signallingURL accepts ws://, wss://, http:// and https:// (mapped to
// ws/wss). A relative URL cannot be resolved here: the platform must send
// an absolute one (voice.Config.PublicURL).
func signallingURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("live: room signalling URL %q is not absolute (set voice PublicURL on the platform)", s)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("live: room signalling URL %q: scheme must be ws, wss, http or https", s)
	}
	return u.String(), nil
}

// liveOutput takes the room's packets.
type liveOutput interface {
	WriteRTP(*rtp.Packet) error
	Close() error
}

type nopCloser struct{ rtpSink }

func (nopCloser) Close() error { return nil }

type discardOutput struct{}

func (discardOutput) WriteRTP(*rtp.Packet) error { return nil }
func (discardOutput) Close() error               { return nil }

func (l *webrtcLive) output(ctx context.Context, cmd agent.LiveCommand, sink agent.Sink) (liveOutput, error) {
	getenv, lookPath := l.getenv, l.lookPath
	if getenv == nil {
		getenv = os.Getenv
	}
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	if rs, ok := sink.(rtpSink); ok {
		return nopCloser{rs}, nil
	}
	if c := strings.TrimSpace(getenv(liveCommandEnv)); c != "" {
		return startPipeline(ctx, c)
	}
	switch s := sink.(type) {
	case *agent.CommandSink:
		_, e1 := lookPath("opusdec")
		_, e2 := lookPath("aplay")
		if e1 != nil || e2 != nil {
			return nil, fmt.Errorf("%w: no Opus player (install opus-tools and alsa-utils, or set %s)", agent.ErrLiveUnsupported, liveCommandEnv)
		}
		return startPipeline(ctx, defaultLivePipeline)
	case *agent.FileSink:
		name := fmt.Sprintf("%s-live-%s.ogg", time.Now().UTC().Format("20060102T150405.000Z"), safeFileName(cmd.Room.ID))
		w, err := oggwriter.New(filepath.Join(s.Dir, name), 48000, 2)
		if err != nil {
			return nil, fmt.Errorf("live file: %w", err)
		}
		return &oggOutput{w: w}, nil
	case *agent.DiscardSink:
		return discardOutput{}, nil
	}
	return nil, fmt.Errorf("%w: sink %T cannot stream", agent.ErrLiveUnsupported, sink)
}

// oggOutput writes Ogg/Opus; packets that are not Opus are skipped.
type oggOutput struct {
	w    *oggwriter.OggWriter
	skip int
}

func (o *oggOutput) WriteRTP(p *rtp.Packet) error {
	if err := o.w.WriteRTP(p); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed) {
			return err // the file or the player is gone
		}
		o.skip++ // one malformed Opus frame must not end the announcement
	}
	return nil
}

func (o *oggOutput) Close() error { return o.w.Close() }

// pipeline is a player process fed Ogg/Opus on stdin.
type pipeline struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ogg   *oggOutput
}

func startPipeline(ctx context.Context, shell string) (liveOutput, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", shell)
	cmd.WaitDelay = 2 * time.Second
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("live player %q: %w", shell, err)
	}
	w, err := oggwriter.NewWith(stdin, 48000, 2)
	if err != nil {
		stdin.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("live player %q: %w", shell, err)
	}
	return &pipeline{cmd: cmd, stdin: stdin, ogg: &oggOutput{w: w}}, nil
}

func (p *pipeline) WriteRTP(pkt *rtp.Packet) error { return p.ogg.WriteRTP(pkt) }

func (p *pipeline) Close() error {
	_ = p.ogg.Close() // closes stdin: the player drains and exits
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) && p.cmd.ProcessState != nil && !p.cmd.ProcessState.Exited() {
		return nil // killed because the announcement was preempted
	}
	return err
}

func safeFileName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}
