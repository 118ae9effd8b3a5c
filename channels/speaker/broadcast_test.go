package speaker_test

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/agent"
	"github.com/alertcast/alertcast/channels/speaker/wire"
)

// signatures reads alertcast_speaker_signatures_total{kind} from reg.
func signatures(t *testing.T, reg *prometheus.Registry, kind string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "alertcast_speaker_signatures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return 0
}

// TestBroadcastSignsOnce: a warning to several speakers on one node costs
// one signature, and every speaker plays it.
func TestBroadcastSignsOnce(t *testing.T) {
	r := newRig(t)
	reg := prometheus.NewRegistry()
	n := r.node(t, "n1", func(c *speaker.Config) { c.Registry = reg })
	devs := []string{"bc-1", "bc-2", "bc-3", "bc-4", "bc-5"}
	for _, d := range devs {
		r.agent(t, n, d, nil)
	}
	for _, d := range devs {
		waitOnline(t, n.hub, d)
	}
	mustSend(t, n.hub, r.msg("BC/v1", 4), to(devs...))
	for _, d := range devs {
		r.rec.wait(t, "BC/v1", d, "played")
	}
	if b, d := signatures(t, reg, "broadcast"), signatures(t, reg, "device"); b != 1 || d != 0 {
		t.Fatalf("signatures: %d broadcast, %d per device; want 1 and 0", b, d)
	}
}

// TestBroadcastRefusedFallsBackToDevice: a speaker that cannot accept a
// broadcast (its floor is above it: it accepted a later broadcast from
// another node) gets the same command signed for it alone and plays it
// once; the refusal of the broadcast copy is not a receipt.
func TestBroadcastRefusedFallsBackToDevice(t *testing.T) {
	r := newRig(t)
	reg := prometheus.NewRegistry()
	n := r.node(t, "n1", func(c *speaker.Config) { c.Registry = reg })
	ahead := t.TempDir()
	// A floor far above anything this node's clock numbers today.
	if err := os.WriteFile(filepath.Join(ahead, "state.json"), []byte(`{"last_seq":0,"last_broadcast":18000000000000000000,"volume":70}`), 0o600); err != nil {
		t.Fatal(err)
	}
	aheadAgent := r.agent(t, n, "fb-ahead", func(c *agent.Config) { c.StateDir = ahead })
	r.agent(t, n, "fb-2", nil)
	r.agent(t, n, "fb-3", nil)
	for _, d := range []string{"fb-ahead", "fb-2", "fb-3"} {
		waitOnline(t, n.hub, d)
	}
	mustSend(t, n.hub, r.msg("FB/v1", 4), to("fb-ahead", "fb-2", "fb-3"))
	for _, d := range []string{"fb-ahead", "fb-2", "fb-3"} {
		r.rec.wait(t, "FB/v1", d, "played")
	}
	if b, d := signatures(t, reg, "broadcast"), signatures(t, reg, "device"); b != 1 || d != 1 {
		t.Fatalf("signatures: %d broadcast, %d per device; want 1 and 1 (the fallback)", b, d)
	}
	if n := r.rec.count("FB/v1", "fb-ahead", "refused"); n != 0 {
		t.Errorf("%d refused receipts for the broadcast copy; the fallback delivered it", n)
	}
	if n := r.rec.count("", "fb-ahead", "refused"); n != 0 {
		t.Errorf("%d refused receipts without a key", n)
	}
	if p := aheadAgent.sink.Plays(); p != 1 {
		t.Errorf("fb-ahead played %d times, want 1", p)
	}
}

// TestCountOffline: devices connected here are counted from memory, the
// others from their status in Redis, and it agrees with Status.
func TestCountOffline(t *testing.T) {
	r := newRig(t)
	n1 := r.node(t, "n1", nil)
	n2 := r.node(t, "n2", nil)
	r.agent(t, n1, "co-1", nil)
	b := r.agent(t, n1, "co-2", nil)
	r.agent(t, n2, "co-3", nil)
	for _, d := range []string{"co-1", "co-2", "co-3"} {
		waitOnline(t, n1.hub, d)
	}
	ids := []string{"co-1", "co-2", "co-3", "co-never"}
	count := func(h *speaker.Hub) int {
		n, err := h.CountOffline(context.Background(), ids)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if a, b := count(n1.hub), count(n2.hub); a != 1 || b != 1 {
		t.Fatalf("offline from n1 %d, from n2 %d; want 1 (co-never) from both", a, b)
	}
	b.stop()
	waitFor(t, 10*time.Second, "co-2 offline from both nodes", func() bool { return count(n1.hub) == 2 && count(n2.hub) == 2 })
	st, err := n2.hub.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	online := 0
	for _, s := range st {
		if s.Online {
			online++
		}
	}
	if online != 2 {
		t.Fatalf("Status shows %d online, CountOffline 2 of 4 offline", online)
	}
}

// TestAgentWithoutBroadcastGetsItsOwnSignature: an agent that did not name
// the broadcast feature when it connected (firmware from before it, which
// would refuse the unknown frame field and drop the connection) gets a
// per-device command that verifies, while the others share a broadcast.
func TestAgentWithoutBroadcastGetsItsOwnSignature(t *testing.T) {
	r := newRig(t)
	reg := prometheus.NewRegistry()
	n := r.node(t, "n1", func(c *speaker.Config) { c.Registry = reg })
	r.agent(t, n, "new-1", nil)
	r.agent(t, n, "new-2", nil)
	old, _, err := dialRaw(t, n, "old-1", r.enroll("old-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	for _, d := range []string{"new-1", "new-2", "old-1"} {
		waitOnline(t, n.hub, d)
	}
	mustSend(t, n.hub, r.msg("OLD/v1", 4), to("new-1", "new-2", "old-1"))
	v := wire.Verifier{Key: r.key.Public().(ed25519.PublicKey), Device: "old-1", Window: time.Minute}
	_ = old.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, b, err := old.ReadMessage()
		if err != nil {
			t.Fatalf("old agent: no command: %v", err)
		}
		f, err := wire.ParseHubFrame(b)
		if err != nil {
			t.Fatalf("old agent got a frame it cannot parse: %v", err)
		}
		if f.Type != wire.FrameCommand {
			continue // welcome
		}
		if f.Command == nil || f.Broadcast != nil {
			t.Fatalf("old agent got %s, want a per-device command", b)
		}
		if _, err := v.Verify(*f.Command, time.Now()); err != nil {
			t.Fatalf("old agent's command does not verify: %v", err)
		}
		break
	}
	r.rec.wait(t, "OLD/v1", "new-1", "played")
	r.rec.wait(t, "OLD/v1", "new-2", "played")
	if b, d := signatures(t, reg, "broadcast"), signatures(t, reg, "device"); b != 1 || d != 1 {
		t.Fatalf("signatures: %d broadcast, %d per device; want 1 and 1", b, d)
	}
}
