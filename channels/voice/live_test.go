package voice_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/alertcast/alertcast/channels/voice"
	"github.com/alertcast/alertcast/channels/voice/rtcclient"
	"github.com/alertcast/alertcast/channels/voice/wire"
)

// counter is a subscriber's view of what arrived.
type counter struct {
	n       atomic.Int64
	bad     atomic.Int64
	firstCh chan struct{}
	once    sync.Once
}

func newCounter() *counter { return &counter{firstCh: make(chan struct{})} }

func (c *counter) onRTP(p *rtp.Packet) {
	if len(p.Payload) != 5 || p.Payload[0] != 0xF8 || p.Payload[3] != 0xAA {
		c.bad.Add(1)
	}
	c.n.Add(1)
	c.once.Do(func() { close(c.firstCh) })
}

// TestLiveAnnouncement: an officer goes live for a township; the township's
// loudspeakers are told (LiveStarter) and join with the room token, a field
// member listens too; packets reach all of them unchanged; the recording is
// a valid Ogg file; when the publisher leaves, every subscriber returns.
func TestLiveAnnouncement(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, nil)
	officer := e.dial(t, "tok-officer", rtcclient.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	pub, err := officer.GoLive(ctx, "653122100", 4)
	if err != nil {
		t.Fatalf("GoLive: %v", err)
	}
	var lr voice.LiveRoom
	select {
	case lr = <-e.live.ch:
	case <-ctx.Done():
		t.Fatal("LiveStarter not called")
	}
	if lr.ID != pub.Room || lr.Region != "653122100" || lr.Token == "" || lr.SignalPath != "/voice/ws" || lr.Level != 4 {
		t.Fatalf("LiveRoom = %+v, publication room %s", lr, pub.Room)
	}
	if got := e.live.devices[0]; len(got) != 2 || got[0] != "spk-100-01" {
		t.Fatalf("devices told = %v", got)
	}

	// Two loudspeaker agents and one field listener.
	type sub struct {
		c    *counter
		done chan error
	}
	var subs []sub
	for i := 0; i < 2; i++ {
		s := sub{newCounter(), make(chan error, 1)}
		go func() {
			s.done <- rtcclient.Join(ctx, e.wsURL, lr.Token, lr.ID, rtcclient.Config{Loopback: true, Device: "spk"}, s.c.onRTP)
		}()
		subs = append(subs, s)
	}
	field := e.dial(t, "tok-field1", rtcclient.Config{})
	fs := sub{newCounter(), make(chan error, 1)}
	go func() { fs.done <- field.Subscribe(ctx, lr.ID, fs.c.onRTP) }()
	subs = append(subs, fs)

	select {
	case <-pub.Connected:
	case <-ctx.Done():
		t.Fatal("publisher never connected")
	}
	stop := make(chan struct{})
	sent := pump(t, pub, stop)
	for i, s := range subs {
		select {
		case <-s.c.firstCh:
		case err := <-s.done:
			t.Fatalf("subscriber %d ended before the first packet: %v", i, err)
		case <-ctx.Done():
			t.Fatalf("subscriber %d got no packet", i)
		}
	}
	// Let 25 more packets flow to everyone, then the publisher goes.
	base := subs[0].c.n.Load()
	waitFor(t, "25 more packets", 5*time.Second, func() bool { return subs[0].c.n.Load() >= base+25 })
	close(stop)
	total := <-sent
	pub.Close()

	for i, s := range subs {
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("subscriber %d: Join/Subscribe returned %v, want nil (room ended)", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("subscriber %d not told the room ended", i)
		}
		if s.c.bad.Load() != 0 {
			t.Errorf("subscriber %d: %d altered packets", i, s.c.bad.Load())
		}
		if s.c.n.Load() < 25 {
			t.Errorf("subscriber %d: %d packets of %d", i, s.c.n.Load(), total)
		}
	}

	// The recording.
	var rec voice.Recording
	select {
	case rec = <-e.recs:
	case <-time.After(5 * time.Second):
		t.Fatal("no recording reported")
	}
	if rec.Room != lr.ID || rec.Kind != wire.KindLive || rec.User != "duty1" || rec.Packets < 25 {
		t.Fatalf("recording = %+v", rec)
	}
	f, err := os.Open(rec.Path)
	if err != nil {
		t.Fatalf("recording file: %v", err)
	}
	defer f.Close()
	r, hdr, err := oggreader.NewWith(f)
	if err != nil {
		t.Fatalf("recording is not Ogg/Opus: %v", err)
	}
	if hdr.SampleRate != 48000 {
		t.Errorf("recording sample rate %d", hdr.SampleRate)
	}
	pages := 0
	for {
		if _, _, err := r.ParseNextPage(); err != nil {
			break
		}
		pages++
	}
	if pages < 25 {
		t.Errorf("recording has %d pages, want ≥ 25", pages)
	}
	if len(e.srv.Rooms()) != 0 {
		t.Errorf("rooms left open: %+v", e.srv.Rooms())
	}
}

// TestPublisherVanishes: the officer's connection drops without a "leave";
// the loudspeakers are told the publisher left and return.
func TestPublisherVanishes(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, nil)
	officer := e.dial(t, "tok-officer", rtcclient.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, err := officer.GoLive(ctx, "653122100", 0)
	if err != nil {
		t.Fatalf("GoLive: %v", err)
	}
	lr := <-e.live.ch
	c := newCounter()
	agent, err := rtcclient.Dial(ctx, e.wsURL, lr.Token, rtcclient.Config{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	done := make(chan error, 1)
	go func() { done <- agent.Subscribe(ctx, lr.ID, c.onRTP) }()
	<-pub.Connected
	stop := make(chan struct{})
	sent := pump(t, pub, stop)
	select {
	case <-c.firstCh:
	case <-ctx.Done():
		t.Fatal("no packet")
	}
	// The officer's tab dies: the socket closes with no leave frame.
	officer.Close()
	close(stop)
	<-sent
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Subscribe = %v, want nil (room ended)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscriber not told")
	}
}

// TestJoinRules: who may enter which room.
func TestJoinRules(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	officer := e.dial(t, "tok-officer", rtcclient.Config{})
	pubA, err := officer.GoLive(ctx, "653122100", 0)
	if err != nil {
		t.Fatal(err)
	}
	lrA := <-e.live.ch

	// Unknown token and a role without voice: refused at the door.
	if _, err := rtcclient.Dial(ctx, e.wsURL, "nope", rtcclient.Config{Loopback: true}); !isServerErr(err, "unauthorized") {
		t.Errorf("unknown token: %v", err)
	}
	if _, err := rtcclient.Dial(ctx, e.wsURL, "tok-guest", rtcclient.Config{Loopback: true}); !isServerErr(err, "forbidden") {
		t.Errorf("resident role: %v", err)
	}

	// A field member may not go live or call.
	field := e.dial(t, "tok-field2", rtcclient.Config{})
	gctx, gcancel := context.WithTimeout(ctx, 2*time.Second)
	if _, err := field.GoLive(gctx, "653122100", 0); err == nil {
		t.Error("field member went live")
	}
	gcancel()

	// A room that does not exist.
	err = field.Subscribe(ctx, "live-doesnotexist", func(*rtp.Packet) {})
	if !isServerErr(err, "join_failed") {
		t.Errorf("join unknown room: %v", err)
	}

	// A call between the officer and field1: field2 may not enter.
	callRoom := make(chan string, 1)
	officer2 := e.dial(t, "tok-officer", rtcclient.Config{OnFrame: func(f wire.Frame) {
		if f.Type == wire.TypeRoom && f.Kind == wire.KindCall {
			callRoom <- f.Room
		}
	}})
	if err := officer2.Send(wire.Frame{Type: wire.TypeCall, Members: []string{"field1"}}); err != nil {
		t.Fatal(err)
	}
	var call string
	select {
	case call = <-callRoom:
	case <-ctx.Done():
		t.Fatal("no call room")
	}
	err = field.Subscribe(ctx, call, func(*rtp.Packet) {})
	if !isServerErr(err, "forbidden") {
		t.Errorf("field2 into field1's call: %v", err)
	}

	// A loudspeaker token admits to its own room only.
	agent, err := rtcclient.Dial(ctx, e.wsURL, lrA.Token, rtcclient.Config{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	err = agent.Subscribe(ctx, call, func(*rtp.Packet) {})
	if !isServerErr(err, "forbidden") {
		t.Errorf("speaker token into a call: %v", err)
	}
	// … and cannot publish in it.
	p, err := agent.Publish(ctx, lrA.ID)
	if err == nil {
		select {
		case <-p.Done():
			if !isServerErr(p.Err(), "publish_failed") {
				t.Errorf("speaker publishing: %v", p.Err())
			}
		case <-time.After(5 * time.Second):
			t.Error("speaker token allowed to publish")
		}
	}
	// After the room ends its token is void.
	pubA.Close()
	waitFor(t, "room A to end", 5*time.Second, func() bool {
		for _, r := range e.srv.Rooms() {
			if r.ID == lrA.ID {
				return false
			}
		}
		return true
	})
	if _, err := rtcclient.Dial(ctx, e.wsURL, lrA.Token, rtcclient.Config{Loopback: true}); !isServerErr(err, "unauthorized") {
		t.Errorf("token of an ended room: %v", err)
	}
}

func isServerErr(err error, code string) bool {
	var se *rtcclient.ServerError
	return errors.As(err, &se) && se.Code == code
}
