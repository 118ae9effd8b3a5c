package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/agent"
	voice "github.com/alertcast/alertcast/channels/webrtc"
	"github.com/alertcast/alertcast/channels/webrtc/rtcclient"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// liveRoom starts a voice server on loopback with an officer live in a room
// and packets flowing; it returns the room as the hub would send it.
func liveRoom(t *testing.T) (speaker.LiveRoom, func()) {
	t.Helper()
	mux := http.NewServeMux()
	hs := httptest.NewUnstartedServer(mux)
	hs.Start()
	srv, err := voice.New(voice.Config{
		Loopback: true, UDPMuxAddr: "127.0.0.1:0", PublicURL: hs.URL,
		Authenticate: func(_ context.Context, tok string) (string, string, bool) {
			return "duty1", voice.RoleApprover, tok == "tok-officer" // red: an approver goes live alone
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/voice/ws", srv.SignalHandler())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	officer, err := rtcclient.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/voice/ws", "tok-officer", rtcclient.Config{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := officer.GoLive(ctx, "653122100", 4)
	if err != nil {
		t.Fatal(err)
	}
	lr, ok := srv.LiveRoom(pub.Room)
	if !ok || !strings.HasPrefix(lr.SignalURL, "ws://127.0.0.1:") {
		t.Fatalf("live room %+v", lr)
	}
	<-pub.Connected
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(1); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			_ = pub.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960},
				Payload: []byte{0xF8, 0x01, 0x02, 0x03}}) // Opus: CELT FB 20 ms
		}
	}()
	end := func() {
		select {
		case <-stop:
			return
		default:
		}
		close(stop)
		<-done
		pub.Close()
		officer.Close()
	}
	// end only ends the room (the publisher leaves); the server stays up
	// until the test is over, so a joiner hears "room ended" rather than a
	// server going away.
	t.Cleanup(func() {
		end()
		cancel()
		srv.Close()
		hs.Close()
	})
	return speaker.LiveRoom{ID: lr.ID, Signaling: lr.SignalURL, Token: lr.Token, Level: lr.Level, Until: time.Now().Add(time.Minute)}, end
}

// TestLiveJoinFileSink: the agent's live joiner joins with the room token,
// reports "joined" on the first audio, writes the announcement as Ogg/Opus
// for a file sink, and returns nil when the room ends.
func TestLiveJoinFileSink(t *testing.T) {
	room, end := liveRoom(t)
	dir := t.TempDir()
	var joined atomic.Bool
	l := &webrtcLive{cfg: rtcclient.Config{Loopback: true}}
	res := make(chan error, 1)
	go func() {
		res <- l.Join(context.Background(), agent.LiveCommand{Device: "653122100201-01", Room: room, Joined: func() { joined.Store(true) }},
			&agent.FileSink{Dir: dir})
	}()
	testsvc.WaitFor(t, 10*time.Second, "Joined called", joined.Load)
	testsvc.WaitFor(t, 10*time.Second, "ten Ogg pages written", func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "*-live-*.ogg"))
		return len(files) == 1 && oggPages(files[0]) >= 10
	})
	end()
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("Join = %v, want nil when the room ends", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Join did not return when the room ended")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*-live-*.ogg"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	if pages := oggPages(files[0]); pages < 10 {
		t.Errorf("%d Ogg pages, want ≥ 10", pages)
	}
}

// oggPages counts the whole Ogg pages in the file so far (-1: not Ogg/Opus).
func oggPages(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		return -1
	}
	pages := 0
	for {
		if _, _, err := r.ParseNextPage(); err != nil {
			return pages
		}
		pages++
	}
}

// TestLiveJoinPipelineAndPreempt: with a player command the audio is piped
// as Ogg; a higher-priority command (ctx cancelled) ends the join at once.
func TestLiveJoinPipelineAndPreempt(t *testing.T) {
	room, _ := liveRoom(t)
	out := filepath.Join(t.TempDir(), "piped.ogg")
	l := &webrtcLive{cfg: rtcclient.Config{Loopback: true},
		getenv: func(k string) string {
			if k == liveCommandEnv {
				return "cat > " + out
			}
			return ""
		}}
	ctx, cancel := context.WithCancel(context.Background())
	joined := make(chan struct{})
	res := make(chan error, 1)
	go func() {
		res <- l.Join(ctx, agent.LiveCommand{Device: "d1", Room: room, Joined: func() { close(joined) }}, &agent.CommandSink{Argv: []string{"aplay", "{file}"}})
	}()
	select {
	case <-joined:
	case err := <-res:
		t.Fatalf("Join ended early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not joined")
	}
	testsvc.WaitFor(t, 10*time.Second, "the player fed an Ogg stream", func() bool {
		b, _ := os.ReadFile(out)
		return strings.HasPrefix(string(b), "OggS") && len(b) >= 200
	})
	cancel()
	select {
	case err := <-res:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("preempted Join = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("preempted Join did not return")
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.HasPrefix(string(b), "OggS") || len(b) < 200 {
		t.Errorf("player got %d bytes (%v), want an Ogg stream", len(b), err)
	}
}

func TestLiveJoinRefusals(t *testing.T) {
	l := &webrtcLive{lookPath: func(string) (string, error) { return "", errors.New("not found") }, getenv: func(string) string { return "" }}
	room := speaker.LiveRoom{ID: "r", Signaling: "/voice/ws", Token: "t"}
	if err := l.Join(context.Background(), agent.LiveCommand{Room: room}, &agent.DiscardSink{}); err == nil || !strings.Contains(err.Error(), "not absolute") {
		t.Errorf("relative URL: %v", err)
	}
	room.Signaling = "wss://alertd.example.invalid/voice/ws"
	if err := l.Join(context.Background(), agent.LiveCommand{Room: room}, &agent.CommandSink{Argv: []string{"aplay"}}); !errors.Is(err, agent.ErrLiveUnsupported) {
		t.Errorf("no Opus player: %v, want ErrLiveUnsupported", err)
	}
	for in, want := range map[string]string{"https://a.example/voice/ws": "wss://a.example/voice/ws", "http://a:8080/v": "ws://a:8080/v", "wss://x/y": "wss://x/y"} {
		if got, err := signallingURL(in); err != nil || got != want {
			t.Errorf("signallingURL(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := signallingURL("ftp://x/y"); err == nil {
		t.Error("ftp accepted")
	}
}
