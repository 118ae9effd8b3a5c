package speaker_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/wire"
	"github.com/alertcast/alertcast/warning"
)

// forgedCount reads alertcast_speaker_forged_total{source} from reg.
func forgedCount(t *testing.T, reg *prometheus.Registry, source string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "alertcast_speaker_forged_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == source {
					return int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return 0
}

// heldValue builds a held entry the way the hold layout reads
// ("<id>\n<until>\n<created>\n<version>\n<mac>\n<body>").
func heldValue(id string, until time.Time, created, version int64, mac string, body []byte) string {
	return fmt.Sprintf("%s\n%d\n%d\n%d\n%s\n%s", id, until.UnixMilli(), created, version, mac, body)
}

// setLine replaces line i of a held value.
func setLine(v string, i int, s string) string {
	parts := strings.SplitN(v, "\n", 6)
	parts[i] = s
	return strings.Join(parts, "\n")
}

// TestForgedHoldsNeverPlay is the attack that was found: someone who can
// write to Redis (but cannot read the platform key file) writes a hold or
// publishes a bus command. The hub must sign none of it, so no loudspeaker
// plays it; a genuine command written back afterwards (the positive
// control) still plays, proving the agent was listening all along.
func TestForgedHoldsNeverPlay(t *testing.T) {
	r := newRig(t)
	reg := prometheus.NewRegistry()
	n := r.node(t, "n1", func(c *speaker.Config) { c.Registry = reg })
	rdb := r.redis(t)
	ctx := context.Background()
	r.enroll("victim")
	r.enroll("other")
	holdKey := func(dev string) string { return "alertcast:speaker:hold:{" + dev + "}" }

	// Capture what a genuine Send leaves in Redis while both are offline:
	// each device's hold and the bus announcement.
	sub := rdb.Subscribe(ctx, "alertcast:speaker:bus")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	blue := r.msg("B/v1", 1)
	mustSend(t, n.hub, blue, to("victim", "other"))
	busMsg, err := sub.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	genuine, err := rdb.HGet(ctx, holdKey("victim"), "a:B").Result()
	if err != nil {
		t.Fatal(err)
	}
	others, err := rdb.HGet(ctx, holdKey("other"), "a:B").Result()
	if err != nil {
		t.Fatal(err)
	}
	// Keep the genuine command back for the positive control.
	if err := rdb.HDel(ctx, holdKey("victim"), "a:B").Err(); err != nil {
		t.Fatal(err)
	}
	ag := r.agent(t, n, "victim", nil)
	waitOnline(t, n.hub, "victim")

	until := time.Now().Add(time.Hour)
	forgedBody, _ := json.Marshal(speaker.Command{Op: wire.OpPlay, ID: "play:F/v1", Until: &until, Play: &speaker.Play{
		Key: "F/v1", Alert: "F", URL: blue.Audio.URL, SHA256: blue.Audio.SHA256, Level: 4, Repeats: 1, Until: until}})
	zeroMAC := base64.RawURLEncoding.EncodeToString(make([]byte, 16))
	forged := heldValue("play:F/v1", until, time.Now().UnixMilli(), 1, zeroMAC, forgedBody)
	later := until.Add(48 * time.Hour)

	holds := []struct{ name, field, value string }{
		{"forged from scratch", "a:F", forged},
		{"forged without a MAC line (old layout)", "a:F", "play:F/v1\n" + strconv.FormatInt(until.UnixMilli(), 10) + "\n1\n1\n" + string(forgedBody)},
		{"level raised", "a:B", strings.Replace(genuine, `"level":1`, `"level":4`, 1)},
		{"audio URL changed", "a:B", strings.Replace(genuine, blue.Audio.URL, r.audioSrv.URL+"/audio/other.wav", 1)},
		{"expiry extended", "a:B", setLine(genuine, 1, strconv.FormatInt(later.UnixMilli(), 10))},
		{"version raised", "a:B", setLine(genuine, 3, "9")},
		{"another device's hold", "a:B", others},
		{"moved to another field", "a:Z", genuine},
	}
	for i, h := range holds {
		if h.value == genuine && h.field == "a:B" {
			t.Fatalf("%s: tampering changed nothing", h.name)
		}
		if err := rdb.HSet(ctx, holdKey("victim"), h.field, h.value).Err(); err != nil {
			t.Fatal(err)
		}
		// The next resync reads it, refuses it and removes it.
		waitFor(t, 10*time.Second, h.name+" refused", func() bool { return forgedCount(t, reg, "hold") >= i+1 })
		waitFor(t, 10*time.Second, h.name+" removed", func() bool {
			n, _ := rdb.HExists(ctx, holdKey("victim"), h.field).Result()
			return !n
		})
	}

	var replay map[string]any
	if err := json.Unmarshal([]byte(busMsg.Payload), &replay); err != nil {
		t.Fatal(err)
	}
	devs, macs := replay["d"].([]any), replay["m"].([]any)
	otherMAC := ""
	for i, d := range devs {
		if d == "other" {
			otherMAC = macs[i].(string)
		}
	}
	replay["d"], replay["m"] = []string{"victim"}, []string{otherMAC}
	replayed, _ := json.Marshal(replay)
	buses := []struct{ name, msg string }{
		{"forged bus command", fmt.Sprintf(`{"k":"cmd","d":["victim"],"m":[%q],"f":"a:F","v":%q}`, zeroMAC, setLine(forged, 4, ""))},
		{"another device's announcement", string(replayed)},
		{"bus command without MACs", fmt.Sprintf(`{"k":"cmd","d":["victim"],"f":"a:B","v":%q}`, setLine(genuine, 4, ""))},
	}
	for i, b := range buses {
		if err := rdb.Publish(ctx, "alertcast:speaker:bus", b.msg).Err(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, b.name+" refused", func() bool { return forgedCount(t, reg, "bus") >= i+1 })
	}
	kicks := []string{
		`{"k":"kick","d":["victim"]}`,
		fmt.Sprintf(`{"k":"kick","d":["victim"],"m":[%q],"t":%d}`, zeroMAC, time.Now().UnixMilli()),
	}
	for i, k := range kicks {
		if err := rdb.Publish(ctx, "alertcast:speaker:bus", k).Err(); err != nil {
			t.Fatal(err)
		}
		key := "kick"
		if i == 0 {
			key = "bus" // no MACs at all: refused before it is read as a kick
		}
		want := map[string]int{"kick": 1, "bus": len(buses) + 1}[key]
		waitFor(t, 10*time.Second, "forged kick refused", func() bool { return forgedCount(t, reg, key) >= want })
	}

	// Everything above was read and refused by the hub; the device heard
	// nothing of it: no receipt of any kind, nothing played.
	for _, rc := range r.rec.Receipts() {
		if rc.RecipientID == "victim" {
			t.Errorf("the victim reported on a forged command: %+v", rc)
		}
	}

	// Positive control: the genuine hold, written back verbatim, plays.
	if err := rdb.HSet(ctx, holdKey("victim"), "a:B", genuine).Err(); err != nil {
		t.Fatal(err)
	}
	r.rec.wait(t, "B/v1", "victim", "played")
	if got := ag.sink.Plays(); got != 1 {
		t.Errorf("victim played %d programmes, want 1 (the genuine one)", got)
	}
	if got := r.rec.count("F/v1", "victim", ""); got != 0 {
		t.Errorf("%d receipts for the forged F/v1", got)
	}
	if got := r.rec.count("B/v1", "victim", "refused"); got != 0 {
		t.Errorf("the victim refused %d commands: the hub signed something it should not have", got)
	}
	if n.hub.Connected() != 1 {
		t.Error("a forged kick closed the victim's connection")
	}
	if got := forgedCount(t, reg, "hold"); got != len(holds) {
		t.Errorf("forged holds counted %d, want %d (the genuine one must not count)", got, len(holds))
	}
}

// TestRecordedHoldReplayDoesNotRollBack: someone with Redis access records
// a genuine hold (its MAC is valid) and writes it back after the warning was
// updated, and again after it was cancelled. The hub signs it (it is
// authentic), but the device refuses to roll the warning back or bring a
// cancelled one back on the air.
func TestRecordedHoldReplayDoesNotRollBack(t *testing.T) {
	r := newRig(t)
	n := r.node(t, "n1", nil)
	rdb := r.redis(t)
	ctx := context.Background()
	r.enroll("spk")
	holdKey := "alertcast:speaker:hold:{spk}"

	mustSend(t, n.hub, r.msg("R/v1", 4), to("spk"))
	v1, err := rdb.HGet(ctx, holdKey, "a:R").Result()
	if err != nil {
		t.Fatal(err)
	}
	v2 := r.msg("R/v2", 2)
	v2.Kind, v2.Version = warning.KindUpdate, 2
	mustSend(t, n.hub, v2, to("spk"))
	ag := r.agent(t, n, "spk", nil)
	r.rec.wait(t, "R/v2", "spk", "played")
	// The hub acknowledges (drops the hold) in batches, beside the receipt.
	waitFor(t, 10*time.Second, "v2's hold dropped after it played", func() bool {
		held, err := rdb.HExists(ctx, holdKey, "a:R").Result()
		return err == nil && !held
	})

	if err := rdb.HSet(ctx, holdKey, "a:R", v1).Err(); err != nil {
		t.Fatal(err)
	}
	if rc := r.rec.wait(t, "R/v1", "spk", "refused"); !strings.Contains(rc.Detail, "older version") {
		t.Errorf("replayed v1: %+v", rc)
	}

	cancel := r.msg("R/v3", 2)
	cancel.Kind, cancel.Version, cancel.Audio = warning.KindCancel, 3, nil
	mustSend(t, n.hub, cancel, to("spk"))
	r.rec.wait(t, "R/v3", "spk", "stopped")
	if err := rdb.HSet(ctx, holdKey, "a:R", v1).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "second replay refused", func() bool { return r.rec.count("R/v1", "spk", "refused") >= 2 })
	if got := ag.sink.Plays(); got != 1 {
		t.Errorf("played %d programmes, want 1 (v2 only)", got)
	}
	if got := r.rec.count("R/v1", "spk", "played") + r.rec.count("R/v1", "spk", "playing"); got != 0 {
		t.Errorf("the replayed v1 went on the air (%d reports)", got)
	}
}

// TestTamperedEpochIsReset: a sequence epoch written far ahead (which would
// raise the device's replay floor out of reach once the real epoch is
// restored) or as garbage is not used; the hub restarts it from the clock,
// counts it, and the device still plays.
func TestTamperedEpochIsReset(t *testing.T) {
	r := newRig(t)
	reg := prometheus.NewRegistry()
	n := r.node(t, "n1", func(c *speaker.Config) { c.Registry = reg })
	rdb := r.redis(t)
	ctx := context.Background()
	for i, bad := range []string{"99999999999999", "garbage"} {
		dev := fmt.Sprintf("ep-%d", i)
		if err := rdb.Set(ctx, "alertcast:speaker:epoch:{"+dev+"}", bad, 0).Err(); err != nil {
			t.Fatal(err)
		}
		r.agent(t, n, dev, nil)
		waitOnline(t, n.hub, dev)
		if got := forgedCount(t, reg, "epoch"); got != i+1 {
			t.Errorf("%s: tampered epochs counted %d, want %d", bad, got, i+1)
		}
		e, err := rdb.Get(ctx, "alertcast:speaker:epoch:{"+dev+"}").Int64()
		if err != nil || e > time.Now().Unix()+10 {
			t.Errorf("%s: epoch now %d %v, want the clock", bad, e, err)
		}
		key := fmt.Sprintf("E%d/v1", i)
		mustSend(t, n.hub, r.msg(key, 2), to(dev))
		r.rec.wait(t, key, dev, "played")
	}
}
