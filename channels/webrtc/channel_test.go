package voice_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/channeltest"
	voice "github.com/alertcast/alertcast/channels/webrtc"
	"github.com/alertcast/alertcast/channels/webrtc/rtcclient"
)

// fieldAgent is a field page stand-in: it answers rings (or not), listens to
// the programme and acknowledges after enough audio.
type fieldAgent struct {
	conn    *rtcclient.Conn
	mode    string // "ack", "ignore", "decline", "ack-now"
	packets atomic.Int64
	first   atomic.Value // []byte: payload of the first packet
	rings   atomic.Int64
	wg      sync.WaitGroup
	// mu orders wg.Add (on a ring) before wg.Wait (at cleanup): a ring
	// that arrives once cleanup began is not listened to.
	mu      sync.Mutex
	stopped bool
}

func (e *env) field(t *testing.T, token, mode string, ackAfter int64) *fieldAgent {
	t.Helper()
	a := &fieldAgent{mode: mode}
	ready := make(chan *rtcclient.Conn, 1)
	a.conn = e.dial(t, token, rtcclient.Config{OnFrame: func(f voice.Frame) {
		if f.Type != voice.TypeRing {
			return
		}
		a.rings.Add(1)
		c := <-ready
		ready <- c
		switch a.mode {
		case "ignore":
		case "decline":
			_ = c.Send(voice.Frame{Type: voice.TypeDecline, Ring: f.Ring})
		case "ack-now":
			_ = c.Send(voice.Frame{Type: voice.TypeAck, Ring: f.Ring})
		case "ack":
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.stopped {
				return
			}
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				var once sync.Once
				_ = c.Subscribe(ctx, f.Room, func(p *rtp.Packet) {
					if a.packets.Add(1) == 1 {
						a.first.Store(append([]byte(nil), p.Payload...))
					}
					if a.packets.Load() >= ackAfter {
						once.Do(func() { go c.Send(voice.Frame{Type: voice.TypeAck, Ring: f.Ring}) })
					}
				})
			}()
		}
	}})
	ready <- a.conn
	t.Cleanup(func() {
		a.mu.Lock()
		a.stopped = true
		a.mu.Unlock()
		a.wg.Wait()
	})
	// The officer-side list shows it once registered.
	return a
}

func programme() []byte {
	b := make([]byte, 8000) // one second of µ-law
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

func msg() *channels.Message {
	m := channeltest.Sample()
	m.Audio = &channels.Audio{SHA256: "abc123", URL: "/audio/abc123.pcmu", Duration: time.Second, Format: "pcmu/8000"}
	return m
}

// TestVoiceChannel: answered → Sent, then a Delivered receipt; acknowledged
// before Send returns → Delivered; offline, unanswered and declined →
// transient failures (dispatch retries within validity); a re-sent task for
// an acknowledged endpoint does not ring again.
func TestVoiceChannel(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, func(c *voice.Config) {
		c.Audio = pcmuSource{"abc123": programme()}
		c.RingTimeout = 1500 * time.Millisecond
	})
	answering := e.field(t, "tok-field1", "ack", 30)
	ignoring := e.field(t, "tok-field3", "ignore", 0)
	declining := e.field(t, "tok-field4", "decline", 0)
	_ = ignoring
	_ = declining
	ch := e.srv.Channel()
	if ch.Name() != "voice" {
		t.Fatalf("Name = %q", ch.Name())
	}
	to := []channels.Recipient{
		{ID: "r1", Address: "field1", Language: "zh"},
		{ID: "r2", Address: "field2"}, // not online
		{ID: "r3", Address: "field3"}, // never answers
		{ID: "r4", Address: "field4"}, // declines
		{ID: "r5", Address: "bad address!"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := ch.Send(ctx, msg(), to)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := channeltest.CheckResults(t, to, res)
	if r := got["r1"]; r.State != channels.StateSent || r.Detail != "answered" || r.Ref == "" {
		t.Errorf("answered: %+v", r)
	}
	for id, want := range map[string]error{"r2": voice.ErrNotOnline, "r3": voice.ErrUnanswered, "r4": voice.ErrDeclined} {
		r := got[id]
		if r.State != channels.StateFailed || !errors.Is(r.Err, want) || channels.IsPermanent(r.Err) {
			t.Errorf("%s: %+v, want transient %v", id, r, want)
		}
	}
	if r := got["r5"]; r.State != channels.StateFailed || !channels.IsPermanent(r.Err) {
		t.Errorf("bad address: %+v, want permanent failure", r)
	}

	// The acknowledgement arrives as a receipt after enough programme audio.
	select {
	case rc := <-e.reports.ch:
		if rc.Channel != "voice" || rc.Key != msg().Key || rc.RecipientID != "r1" || rc.State != channels.StateDelivered || rc.Detail != "acknowledged" || rc.Ref != got["r1"].Ref {
			t.Errorf("receipt = %+v", rc)
		}
	case <-ctx.Done():
		t.Fatal("no acknowledgement receipt")
	}
	if n := answering.packets.Load(); n < 30 {
		t.Errorf("field1 heard %d packets", n)
	}
	if first, _ := answering.first.Load().([]byte); !bytes.Equal(first, programme()[:160]) {
		t.Errorf("first programme packet differs from the programme (got %d bytes)", len(first))
	}

	// Re-delivered task: already acknowledged, no new ring.
	rings := answering.rings.Load()
	res, err = ch.Send(ctx, msg(), to[:1])
	if err != nil || len(res) != 1 || res[0].State != channels.StateDelivered {
		t.Fatalf("resend: %+v %v", res, err)
	}
	if answering.rings.Load() != rings {
		t.Error("acknowledged endpoint was rung again")
	}

	// Acknowledged straight from the ring card, before Send returns.
	answering.mode = "ack-now"
	m2 := msg()
	m2.Key = "conformance-1/v2"
	res, err = ch.Send(ctx, m2, to[:1])
	if err != nil || len(res) != 1 || res[0].State != channels.StateDelivered || res[0].Detail != "acknowledged" {
		t.Fatalf("ack-now: %+v %v", res, err)
	}
	waitFor(t, "ring rooms closed", 5*time.Second, func() bool { return len(e.srv.Rooms()) == 0 })
}

// TestVoiceChannelCancel: Send returns promptly when its context ends and
// the endpoint stops ringing.
func TestVoiceChannelCancel(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, nil)
	a := e.field(t, "tok-field3", "ignore", 0)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		waitFor(t, "ring", 5*time.Second, func() bool { return a.rings.Load() > 0 })
		cancel()
	}()
	start := time.Now()
	res, err := e.srv.Channel().Send(ctx, msg(), []channels.Recipient{{ID: "r3", Address: "field3"}})
	if !errors.Is(err, context.Canceled) || len(res) != 0 {
		t.Fatalf("Send = %+v, %v; want no result and context.Canceled", res, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Send took %s after cancel", d)
	}
	waitFor(t, "ring room closed", 5*time.Second, func() bool { return len(e.srv.Rooms()) == 0 })
}

// TestVoiceConformance runs the shared channel suite.
func TestVoiceConformance(t *testing.T) {
	leakCheck(t)
	var n atomic.Int64
	channeltest.Run(t, channeltest.Harness{
		New: func(t *testing.T, ce channeltest.Env) channels.Channel {
			e := newEnv(t, func(c *voice.Config) {
				c.Logger, c.Reporter = ce.Logger, ce.Reporter
				c.RingTimeout = time.Second
				c.Audio = pcmuSource{"abc123": programme()}
			})
			// They answer, listen to some of the programme and then
			// acknowledge: Send reports "answered" (sent) and the
			// acknowledgement follows as a receipt.
			for _, tok := range []string{"tok-field1", "tok-field2"} {
				e.field(t, tok, "ack", 10)
			}
			return e.srv.Channel()
		},
		Message:  msg,
		Receipts: true,
		// Every recipient is rung at once, so a cancellation finds no
		// "rest of the batch": it ends the undecided rings, and those
		// recipients get no result (they are retried).
		CancelBatch: 10,
		Good: func(t *testing.T, k int) []channels.Recipient {
			out := make([]channels.Recipient, k)
			for i := range out {
				out[i] = channels.Recipient{ID: fmt.Sprintf("good-%d", n.Add(1)), Address: []string{"field1", "field2"}[i%2]}
			}
			return out
		},
		Permanent: func(t *testing.T) channels.Recipient {
			return channels.Recipient{ID: "perm", Address: "not a user!"}
		},
		Transient: func(t *testing.T) channels.Recipient {
			return channels.Recipient{ID: "offline", Address: "field-offline"}
		},
		Secret: "tok-field1",
	})
}
