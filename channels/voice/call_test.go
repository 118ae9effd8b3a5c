package voice_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels/voice/rtcclient"
	"github.com/alertcast/alertcast/channels/voice/wire"
)

// TestTwoWayCall: an officer calls field1; field1 is told, answers, and
// each hears the other; muting stops the officer's audio; ending the call
// ends both sides and leaves one recording per speaker.
func TestTwoWayCall(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	rooms := make(chan wire.Frame, 4)
	pongs := make(chan string, 4)
	officer := e.dial(t, "tok-officer", rtcclient.Config{OnFrame: func(f wire.Frame) {
		switch f.Type {
		case wire.TypeRoom:
			rooms <- f
		case wire.TypePong:
			select {
			case pongs <- f.ID:
			default:
			}
		}
	}})
	calls := make(chan wire.Frame, 4)
	field := e.dial(t, "tok-field1", rtcclient.Config{OnFrame: func(f wire.Frame) {
		if f.Type == wire.TypeIncomingCall {
			calls <- f
		}
	}})
	if err := officer.Send(wire.Frame{Type: wire.TypeCall, Members: []string{"field1"}}); err != nil {
		t.Fatal(err)
	}
	var room string
	select {
	case f := <-rooms:
		room = f.Room
	case <-ctx.Done():
		t.Fatal("no call room")
	}
	select {
	case f := <-calls:
		if f.Room != room || f.From != "duty1" {
			t.Fatalf("incoming call %+v", f)
		}
	case <-ctx.Done():
		t.Fatal("field1 not told of the call")
	}

	// Both sides publish and listen.
	type side struct {
		heard *counter
		done  chan error
		pub   *rtcclient.Publication
	}
	start := func(c *rtcclient.Conn) side {
		s := side{heard: newCounter(), done: make(chan error, 1)}
		go func() { s.done <- c.Subscribe(ctx, room, s.heard.onRTP) }()
		p, err := c.Publish(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		s.pub = p
		return s
	}
	o, f := start(officer), start(field)
	waitConnected(ctx, t, "officer", o.pub)
	waitConnected(ctx, t, "field1", f.pub)
	stopO, stopF := make(chan struct{}), make(chan struct{})
	sentO, sentF := pump(t, o.pub, stopO), pump(t, f.pub, stopF)
	waitFor(t, "both to hear each other", 10*time.Second, func() bool { return o.heard.n.Load() > 10 && f.heard.n.Load() > 10 })

	// The officer mutes: field1 stops hearing them while field1's voice
	// still reaches the officer. The session handles frames in order, so
	// the pong to a ping sent after the mute means the mute is in force.
	if err := officer.Send(wire.Frame{Type: wire.TypeMute, Room: room, Muted: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if err := officer.Send(wire.Frame{Type: wire.TypePing, ID: "after-mute"}); err != nil {
		t.Fatal(err)
	}
	for id := ""; id != "after-mute"; {
		select {
		case id = <-pongs:
		case <-ctx.Done():
			t.Fatal("no pong after the mute")
		}
	}
	// Positive control: both sides pump at the same rate, so while the
	// officer hears 25 more of field1's packets, field1 would have heard
	// about as many of the officer's had the mute not held.
	heardF, heardO := f.heard.n.Load(), o.heard.n.Load()
	waitFor(t, "the officer hearing field1 while muted", 10*time.Second, func() bool { return o.heard.n.Load() >= heardO+25 })
	// At most a couple of packets forwarded just before the mute took hold.
	if d := f.heard.n.Load() - heardF; d > 2 {
		t.Errorf("field1 heard %d packets from a muted officer (while the officer heard %d)", d, o.heard.n.Load()-heardO)
	}
	if err := officer.Send(wire.Frame{Type: wire.TypeMute, Room: room, Muted: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	heardF = f.heard.n.Load()
	waitFor(t, "unmuted audio", 5*time.Second, func() bool { return f.heard.n.Load() > heardF+10 })

	// The officer ends the call.
	close(stopO)
	close(stopF)
	<-sentO
	<-sentF
	if err := officer.Send(wire.Frame{Type: wire.TypeEnd, Room: room}); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]side{"officer": o, "field1": f} {
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("%s: Subscribe = %v, want nil", name, err)
			}
		case <-ctx.Done():
			t.Fatalf("%s not told the call ended", name)
		}
		select {
		case <-s.pub.Done():
		case <-ctx.Done():
			t.Fatalf("%s publication not ended", name)
		}
	}
	users := map[string]bool{}
	for i := 0; i < 2; i++ {
		select {
		case r := <-e.recs:
			if r.Kind != wire.KindCall || r.Room != room {
				t.Errorf("recording %+v", r)
			}
			users[r.User] = true
		case <-time.After(5 * time.Second):
			t.Fatal("missing call recording")
		}
	}
	if !users["duty1"] || !users["field1"] {
		t.Errorf("recordings of %v, want duty1 and field1", users)
	}
}

// TestCallOfferBeforeJoin: a call member's offer on "pub" reaches the server
// before its "join" — the order TestTwoWayCall's clients often produced
// without -race, since Subscribe and Publish run at once on independent
// connections. The offer alone admits the member; its later join still
// gets the other side's audio.
func TestCallOfferBeforeJoin(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	rooms := make(chan wire.Frame, 4)
	officer := e.dial(t, "tok-officer", rtcclient.Config{OnFrame: func(f wire.Frame) {
		if f.Type == wire.TypeRoom {
			rooms <- f
		}
	}})
	field := e.dial(t, "tok-field1", rtcclient.Config{})
	if err := officer.Send(wire.Frame{Type: wire.TypeCall, Members: []string{"field1"}}); err != nil {
		t.Fatal(err)
	}
	var room string
	select {
	case f := <-rooms:
		room = f.Room
	case <-ctx.Done():
		t.Fatal("no call room")
	}

	// field1 speaks before it has sent any join.
	fpub, err := field.Publish(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	waitConnected(ctx, t, "field1", fpub)
	officerHeard := newCounter()
	officerDone := make(chan error, 1)
	go func() { officerDone <- officer.Subscribe(ctx, room, officerHeard.onRTP) }()
	stopF := make(chan struct{})
	sentF := pump(t, fpub, stopF)
	waitFor(t, "the officer to hear field1", 10*time.Second, func() bool { return officerHeard.n.Load() > 10 })

	// Now field1 joins to listen, and hears the officer.
	opub, err := officer.Publish(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	waitConnected(ctx, t, "officer", opub)
	fieldHeard := newCounter()
	fieldDone := make(chan error, 1)
	go func() { fieldDone <- field.Subscribe(ctx, room, fieldHeard.onRTP) }()
	stopO := make(chan struct{})
	sentO := pump(t, opub, stopO)
	waitFor(t, "field1 to hear the officer", 10*time.Second, func() bool { return fieldHeard.n.Load() > 10 })
	if n := officerHeard.bad.Load() + fieldHeard.bad.Load(); n != 0 {
		t.Errorf("%d packets altered on the way", n)
	}

	close(stopO)
	close(stopF)
	<-sentO
	<-sentF
	if err := officer.Send(wire.Frame{Type: wire.TypeEnd, Room: room}); err != nil {
		t.Fatal(err)
	}
	for name, done := range map[string]chan error{"officer": officerDone, "field1": fieldDone} {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: Subscribe = %v, want nil", name, err)
			}
		case <-ctx.Done():
			t.Fatalf("%s not told the call ended", name)
		}
	}
}

// TestCallOfferRefusedOutsideCall: the offer admits only whom a join would
// admit — field2, not a member of field1's call, is refused.
func TestCallOfferRefusedOutsideCall(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rooms := make(chan wire.Frame, 4)
	officer := e.dial(t, "tok-officer", rtcclient.Config{OnFrame: func(f wire.Frame) {
		if f.Type == wire.TypeRoom {
			rooms <- f
		}
	}})
	stranger := e.dial(t, "tok-field2", rtcclient.Config{})
	if err := officer.Send(wire.Frame{Type: wire.TypeCall, Members: []string{"field1"}}); err != nil {
		t.Fatal(err)
	}
	var room string
	select {
	case f := <-rooms:
		room = f.Room
	case <-ctx.Done():
		t.Fatal("no call room")
	}
	p, err := stranger.Publish(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
		if !isServerErr(p.Err(), "publish_failed") || !strings.Contains(p.Err().Error(), "not a member") {
			t.Errorf("field2 publishing in field1's call: %v", p.Err())
		}
	case <-p.Connected:
		t.Fatal("field2 connected into field1's call")
	case <-ctx.Done():
		t.Fatal("field2's offer neither refused nor connected")
	}
	for _, r := range e.srv.Rooms() {
		if r.ID != room {
			continue
		}
		for _, m := range r.Members {
			if m.User == "field2" {
				t.Errorf("field2 is a member of %s after a refused offer", room)
			}
		}
	}
}

// waitConnected waits until p is connected, failing with the server's
// reason when the publication ends first.
func waitConnected(ctx context.Context, t *testing.T, who string, p *rtcclient.Publication) {
	t.Helper()
	select {
	case <-p.Connected:
	case <-p.Done():
		t.Fatalf("%s: publication ended before it connected: %v", who, p.Err())
	case <-ctx.Done():
		t.Fatalf("%s: publisher not connected: %v", who, ctx.Err())
	}
}

func ptr[T any](v T) *T { return &v }
