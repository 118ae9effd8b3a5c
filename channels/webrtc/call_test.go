package voice_test

import (
	"context"
	"testing"
	"time"

	voice "github.com/alertcast/alertcast/channels/webrtc"
	"github.com/alertcast/alertcast/channels/webrtc/rtcclient"
)

// TestTwoWayCall: an officer calls field1; field1 is told, answers, and
// each hears the other; muting stops the officer's audio; ending the call
// ends both sides and leaves one recording per speaker.
func TestTwoWayCall(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	rooms := make(chan voice.Frame, 4)
	pongs := make(chan string, 4)
	officer := e.dial(t, "tok-officer", rtcclient.Config{OnFrame: func(f voice.Frame) {
		switch f.Type {
		case voice.TypeRoom:
			rooms <- f
		case voice.TypePong:
			select {
			case pongs <- f.ID:
			default:
			}
		}
	}})
	calls := make(chan voice.Frame, 4)
	field := e.dial(t, "tok-field1", rtcclient.Config{OnFrame: func(f voice.Frame) {
		if f.Type == voice.TypeIncomingCall {
			calls <- f
		}
	}})
	if err := officer.Send(voice.Frame{Type: voice.TypeCall, Members: []string{"field1"}}); err != nil {
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
	for _, s := range []side{o, f} {
		select {
		case <-s.pub.Connected:
		case <-ctx.Done():
			t.Fatal("publisher not connected")
		}
	}
	stopO, stopF := make(chan struct{}), make(chan struct{})
	sentO, sentF := pump(t, o.pub, stopO), pump(t, f.pub, stopF)
	waitFor(t, "both to hear each other", 10*time.Second, func() bool { return o.heard.n.Load() > 10 && f.heard.n.Load() > 10 })

	// The officer mutes: field1 stops hearing them while field1's voice
	// still reaches the officer. The session handles frames in order, so
	// the pong to a ping sent after the mute means the mute is in force.
	if err := officer.Send(voice.Frame{Type: voice.TypeMute, Room: room, Muted: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if err := officer.Send(voice.Frame{Type: voice.TypePing, ID: "after-mute"}); err != nil {
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
	if err := officer.Send(voice.Frame{Type: voice.TypeMute, Room: room, Muted: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	heardF = f.heard.n.Load()
	waitFor(t, "unmuted audio", 5*time.Second, func() bool { return f.heard.n.Load() > heardF+10 })

	// The officer ends the call.
	close(stopO)
	close(stopF)
	<-sentO
	<-sentF
	if err := officer.Send(voice.Frame{Type: voice.TypeEnd, Room: room}); err != nil {
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
			if r.Kind != voice.KindCall || r.Room != room {
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

func ptr[T any](v T) *T { return &v }
