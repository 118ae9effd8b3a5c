package agent

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/alertcast/alertcast/channels/speaker/wire"
)

// broadcast signs body once for set and returns the frame dev receives.
func (h *fakeHub) broadcast(set *wire.AddressSet, seq uint64, dev string, body []byte) wire.Broadcast {
	h.t.Helper()
	b := wire.SignBroadcast(h.key, set, seq, time.Now(), body)
	p, ok := set.Path(dev)
	if !ok {
		// Not addressed: hand it the path of the set's first device, the
		// best an attacker can do.
		p, _ = set.Path("653122200-01")
	}
	b.Path = p
	return b
}

func (h *fakeHub) writeBroadcast(c *websocket.Conn, b wire.Broadcast) {
	h.t.Helper()
	raw, _ := json.Marshal(wire.HubFrame{Type: wire.FrameCommand, Broadcast: &b})
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := c.WriteMessage(websocket.TextMessage, raw); err != nil {
		h.t.Fatalf("write broadcast: %v", err)
	}
}

// TestBroadcastCommands: a device plays a broadcast addressed to it; it
// refuses a replay of it (also after a restart, from its saved floor), an
// older broadcast signed afresh, and a broadcast for another area; each
// refusal comes after a positive control and plays nothing.
func TestBroadcastCommands(t *testing.T) {
	h := newFakeHub(t)
	sink := newGateSink()
	dir := t.TempDir()
	_, cancel := startAgent(t, h, sink, func(c *Config) { c.StateDir = dir })
	c := h.waitConn()
	area, _ := wire.NewAddressSet([]string{"653122100-00", h.dev, "653122100-02", "653122100-03"})
	otherArea, _ := wire.NewAddressSet([]string{"653122200-01", "653122200-02", "653122200-03"})

	first := h.broadcast(area, 5000, h.dev, h.playBody("B/v1", playOpt{level: 4}))
	h.writeBroadcast(c, first)
	if k := sink.nextStart(t); k != "B/v1" {
		t.Fatalf("started %q, want B/v1", k)
	}
	sink.release <- struct{}{}
	if f := h.waitReport("B/v1", "played", 0); f.Seq != 5000 {
		t.Errorf("played report names seq %d, want the broadcast's 5000", f.Seq)
	}

	refused := func(what string, b wire.Broadcast, want error) {
		t.Helper()
		h.writeBroadcast(c, b)
		f := h.waitReport("", "refused", b.Seq)
		if !strings.HasPrefix(f.Reason, want.Error()) {
			t.Errorf("%s: reason %q, want %q", what, f.Reason, want)
		}
		sink.noStartBefore(t, h, c)
	}
	refused("replayed broadcast", first, wire.ErrReplayed)
	refused("older broadcast", h.broadcast(area, 4000, h.dev, h.playBody("B2/v1", playOpt{level: 4})), wire.ErrReplayed)
	refused("broadcast for another area", h.broadcast(otherArea, 7000, h.dev, h.playBody("O/v1", playOpt{level: 4})), wire.ErrBadSignature)
	cancel()

	// Restarted from its saved state: the floor did not roll back.
	startAgent(t, h, sink, func(c *Config) { c.StateDir = dir })
	c = h.waitConn()
	refused("replayed broadcast after restart", first, wire.ErrReplayed)
	refused("older broadcast after restart", h.broadcast(area, 4999, h.dev, h.playBody("B3/v1", playOpt{level: 4})), wire.ErrReplayed)
	// Positive control: the next broadcast plays, and per-device commands
	// keep their own floor.
	h.writeBroadcast(c, h.broadcast(area, 5001, h.dev, h.playBody("C/v1", playOpt{level: 2})))
	if k := sink.nextStart(t); k != "C/v1" {
		t.Fatalf("started %q, want C/v1", k)
	}
	sink.release <- struct{}{}
	h.waitReport("C/v1", "played", 0)
	h.write(c, h.sign(h.playBody("D/v1", playOpt{level: 2})))
	if k := sink.nextStart(t); k != "D/v1" {
		t.Fatalf("started %q, want D/v1", k)
	}
	sink.release <- struct{}{}
	h.waitReport("D/v1", "played", 0)
}

// TestBroadcastFloorSaved: the broadcast floor is in the state file.
func TestBroadcastFloorSaved(t *testing.T) {
	h := newFakeHub(t)
	dir := t.TempDir()
	_, cancel := startAgent(t, h, &DiscardSink{}, func(c *Config) { c.StateDir = dir })
	c := h.waitConn()
	area, _ := wire.NewAddressSet([]string{h.dev, "653122100-02"})
	h.writeBroadcast(c, h.broadcast(area, 1<<40, h.dev, h.playBody("S/v1", playOpt{})))
	h.waitReport("S/v1", "played", 0)
	cancel()
	b, err := readState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.LastBroadcast != 1<<40 {
		t.Fatalf("saved last_broadcast %d, want %d", b.LastBroadcast, uint64(1<<40))
	}
}

func readState(dir string) (savedState, error) {
	a := &Agent{cfg: Config{StateDir: dir}}
	var s savedState
	raw, err := os.ReadFile(a.statePath())
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, errors.Join(errors.New("state file"), err)
	}
	return s, nil
}
