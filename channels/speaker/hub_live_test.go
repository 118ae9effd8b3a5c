package speaker_test

import (
	"context"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/wire"
)

// TestLiveStatusAgreesWithStatus: for an online device, one that went offline,
// one that never connected but has a command held, and one never heard
// of, LiveStatus answers what Status and Holding answer.
func TestLiveStatusAgreesWithStatus(t *testing.T) {
	r := newRig(t)
	n := r.node(t, "n1", func(c *speaker.Config) { c.HeartbeatTimeout = 2 * time.Second })
	ctx := context.Background()
	r.agent(t, n, "live-on", nil)
	gone := r.agent(t, n, "live-gone", nil)
	r.enroll("live-held")
	mustSend(t, n.hub, r.msg("L/v1", 3), to("live-held"))
	for _, dev := range []string{"live-on", "live-gone"} {
		waitFor(t, 10*time.Second, dev+"'s first heartbeat", func() bool {
			l, err := n.hub.LiveStatus(ctx, []string{dev})
			return err == nil && l[dev].Online && l[dev].Firmware == "test-1.0"
		})
	}
	gone.stop()
	waitFor(t, 10*time.Second, "live-gone offline", func() bool {
		l, err := n.hub.LiveStatus(ctx, []string{"live-gone"})
		return err == nil && l["live-gone"].Seen && !l["live-gone"].Online
	})
	l, err := n.hub.LiveStatus(ctx, []string{"live-on", "live-gone", "live-held", "live-unknown"})
	if err != nil {
		t.Fatal(err)
	}
	on := l["live-on"]
	if !on.Seen || !on.Online || on.State != wire.StateNormal || on.Firmware != "test-1.0" || on.Held {
		t.Errorf("online device: %+v", on)
	}
	st, err := n.hub.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if got := l[s.ID]; got.Online != s.Online || !got.LastSeen.Equal(s.LastSeen.Truncate(time.Millisecond)) {
			t.Errorf("%s: LiveStatus %+v, Status %+v", s.ID, got, s)
		}
	}
	if h := l["live-held"]; h.Seen || h.Online || !h.Held {
		t.Errorf("never connected, command held: %+v", h)
	}
	if _, ok := l["live-unknown"]; ok {
		t.Errorf("a device never heard of is listed: %+v", l["live-unknown"])
	}
}
