package speaker_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/channeltest"
	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/agent"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/warning"
)

func wav(d time.Duration) []byte {
	b, _ := audio.EncodeWAV(audio.PCM{Rate: 8000, Samples: make([]int16, int(d.Seconds()*8000))})
	return b
}

// recorder keeps receipts and lets tests wait for one.
type recorder struct{ channeltest.Recorder }

// matching returns the receipts for key and dev whose detail starts so.
func (r *recorder) matching(key, dev, detail string) []channels.Receipt {
	var out []channels.Receipt
	for _, rc := range r.Receipts() {
		if rc.Key == key && rc.RecipientID == dev && strings.HasPrefix(rc.Detail, detail) {
			out = append(out, rc)
		}
	}
	return out
}

func (r *recorder) count(key, dev, detail string) int { return len(r.matching(key, dev, detail)) }

func (r *recorder) wait(t *testing.T, key, dev, detail string) channels.Receipt {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("receipt %s for %s/%s", detail, key, dev), func() bool { return r.count(key, dev, detail) > 0 })
	return r.matching(key, dev, detail)[0]
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testsvc.WaitFor(t, timeout, what, cond)
}

// rig is one Redis, one platform key, one device registry and an audio
// server: the shared ground for one or more hubs.
type rig struct {
	t        testing.TB
	rdbURL   string
	key      ed25519.PrivateKey
	devs     *speaker.MemoryDevices
	rec      *recorder
	audio    []byte
	audioSHA string
	audioSrv *httptest.Server
	secrets  map[string]string
}

func newRig(t *testing.T) *rig { return newRigB(t) }

func newRigB(t testing.TB) *rig {
	t.Helper()
	srv := testsvc.Redis(t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	r := &rig{t: t, rdbURL: srv.Addr, key: key, devs: speaker.NewMemoryDevices(), rec: &recorder{},
		audio: wav(50 * time.Millisecond), secrets: map[string]string{}}
	s := sha256.Sum256(r.audio)
	r.audioSHA = hex.EncodeToString(s[:])
	r.audioSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/audio/"+r.audioSHA+".wav" {
			http.NotFound(w, req)
			return
		}
		w.Write(r.audio)
	}))
	t.Cleanup(r.audioSrv.Close)
	return r
}

func (r *rig) redis(t testing.TB) redis.UniversalClient {
	c := redis.NewClient(&redis.Options{Addr: r.rdbURL})
	t.Cleanup(func() { c.Close() })
	return c
}

// nodeB is a bare hub for benchmarks.
func (r *rig) nodeB(b testing.TB) *speaker.Hub {
	h, err := speaker.NewHub(speaker.Config{Redis: r.redis(b), Devices: r.devs, Key: r.key, Reporter: r.rec,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	return h
}

type node struct {
	hub *speaker.Hub
	srv *httptest.Server
}

func (r *rig) node(t *testing.T, id string, mod func(*speaker.Config)) *node {
	t.Helper()
	cfg := speaker.Config{Redis: r.redis(t), Devices: r.devs, Key: r.key, NodeID: id, Reporter: r.rec,
		Logger: slog.New(slog.DiscardHandler), HeartbeatTimeout: 5 * time.Second, ResyncInterval: 500 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	h, err := speaker.NewHub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/speaker/ws", h.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { h.Close(); srv.Close() })
	return &node{hub: h, srv: srv}
}

func (r *rig) enroll(id string) string {
	s := r.devs.Enroll(id, "653122100")
	r.secrets[id] = s
	return s
}

type runningAgent struct {
	a    *agent.Agent
	sink *agent.DiscardSink
	stop func()
}

func (r *rig) agent(t *testing.T, n *node, dev string, mod func(*agent.Config)) *runningAgent {
	t.Helper()
	secret, ok := r.secrets[dev]
	if !ok {
		secret = r.enroll(dev)
	}
	sink := &agent.DiscardSink{}
	cfg := agent.Config{URL: n.srv.URL, Device: dev, Credential: secret, PublicKey: r.key.Public().(ed25519.PublicKey),
		StateDir: t.TempDir(), Sink: sink, Heartbeat: 200 * time.Millisecond, BackoffMin: 20 * time.Millisecond,
		BackoffMax: 200 * time.Millisecond, Firmware: "test-1.0", Signal: func() int { return -80 },
		Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("agent did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return &runningAgent{a: a, sink: sink, stop: stop}
}

func (r *rig) msg(key string, level int) *channels.Message {
	alert := strings.SplitN(key, "/", 2)[0]
	return &channels.Message{Key: key, AlertID: alert, Version: 1, Kind: warning.KindAlert, Level: warning.Level(level),
		Event: warning.EventSandstorm, Status: warning.StatusActual, Sent: time.Now(), Expires: time.Now().Add(time.Hour),
		Area: []string{"653122"}, Audio: &channels.Audio{URL: r.audioSrv.URL + "/audio/" + r.audioSHA + ".wav",
			SHA256: r.audioSHA, Duration: 50 * time.Millisecond, Format: "wav/pcm16/8000"}}
}

func to(ids ...string) []channels.Recipient {
	out := make([]channels.Recipient, len(ids))
	for i, id := range ids {
		out[i] = channels.Recipient{ID: id, Address: id}
	}
	return out
}

// waitOnline waits until the hub has registered the device.
func waitOnline(t *testing.T, h *speaker.Hub, dev string) {
	t.Helper()
	waitFor(t, 10*time.Second, dev+" online", func() bool {
		st, err := h.Status(context.Background())
		if err != nil {
			return false
		}
		for _, s := range st {
			if s.ID == dev && s.Online {
				return true
			}
		}
		return false
	})
}

func mustSend(t *testing.T, h *speaker.Hub, m *channels.Message, rcpt []channels.Recipient) map[string]channels.Result {
	t.Helper()
	res, err := h.Send(context.Background(), m, rcpt)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return channeltest.CheckResults(t, rcpt, res)
}

func TestSendPlaysAndReportsReceipts(t *testing.T) {
	r := newRig(t)
	n := r.node(t, "n1", nil)
	ag := r.agent(t, n, "spk-1", nil)
	waitOnline(t, n.hub, "spk-1")
	res := mustSend(t, n.hub, r.msg("A/v1", 4), to("spk-1"))
	if res["spk-1"].State != channels.StateSent {
		t.Fatalf("result %+v", res["spk-1"])
	}
	for _, d := range []string{"received", "downloading", "playing"} {
		if rc := r.rec.wait(t, "A/v1", "spk-1", d); rc.State != channels.StateSent || rc.Channel != "speaker" {
			t.Errorf("%s receipt %+v", d, rc)
		}
	}
	if rc := r.rec.wait(t, "A/v1", "spk-1", "played"); rc.State != channels.StateDelivered {
		t.Errorf("played receipt %+v", rc)
	}
	if ag.sink.Plays() != 1 {
		t.Errorf("plays %d", ag.sink.Plays())
	}
}

func TestSendRefusesBadInput(t *testing.T) {
	r := newRig(t)
	n := r.node(t, "n1", nil)
	r.enroll("ok")
	r.enroll("gone")
	r.devs.Revoke("gone")

	noAudio := r.msg("B/v1", 3)
	noAudio.Audio = nil
	res := mustSend(t, n.hub, noAudio, to("ok"))
	if e := res["ok"].Err; e == nil || !channels.IsPermanent(e) || !strings.Contains(e.Error(), "audio") {
		t.Errorf("no audio: %v", e)
	}
	expired := r.msg("C/v1", 3)
	expired.Expires = time.Now().Add(-time.Minute)
	res = mustSend(t, n.hub, expired, to("ok"))
	if e := res["ok"].Err; e == nil || !channels.IsPermanent(e) || !strings.Contains(e.Error(), "expires") {
		t.Errorf("expired: %v", e)
	}
	res = mustSend(t, n.hub, r.msg("D/v1", 3), to("ok", "nobody", "gone"))
	if res["ok"].State != channels.StateSent {
		t.Errorf("good device: %+v", res["ok"])
	}
	if e := res["nobody"].Err; !errors.Is(e, speaker.ErrUnknownDevice) || !channels.IsPermanent(e) {
		t.Errorf("unknown device: %v", e)
	}
	if e := res["gone"].Err; !errors.Is(e, speaker.ErrRevoked) || !channels.IsPermanent(e) {
		t.Errorf("revoked device: %v", e)
	}
	if err := n.hub.SetVolume(context.Background(), "ok", 101); err == nil {
		t.Error("volume 101 accepted")
	}
}

// TestOfflineHoldAndRedelivery: commands for an offline speaker wait in
// Redis and arrive when it connects; a cancel issued meanwhile replaces the
// held play, so the speaker never sounds a withdrawn warning.
func TestOfflineHoldAndRedelivery(t *testing.T) {
	r := newRig(t)
	n := r.node(t, "n1", nil)
	r.enroll("off-1")
	r.enroll("off-2")
	mustSend(t, n.hub, r.msg("H/v1", 3), to("off-1", "off-2"))
	cancel := r.msg("H/v2", 3)
	cancel.Kind, cancel.Version, cancel.Audio = warning.KindCancel, 2, nil
	mustSend(t, n.hub, cancel, to("off-2"))

	a1 := r.agent(t, n, "off-1", nil)
	a2 := r.agent(t, n, "off-2", nil)
	r.rec.wait(t, "H/v1", "off-1", "played")
	r.rec.wait(t, "H/v2", "off-2", "stopped")
	if a1.sink.Plays() != 1 || a2.sink.Plays() != 0 {
		t.Errorf("plays: off-1 %d (want 1), off-2 %d (want 0)", a1.sink.Plays(), a2.sink.Plays())
	}
	if r.rec.count("H/v1", "off-2", "") != 0 {
		t.Error("off-2 reported on the cancelled play")
	}
	// An older version retried by the queue after the cancel must not
	// bring the play back.
	mustSend(t, n.hub, r.msg("H/v1", 3), to("off-2"))
	a2.stop()
	a2 = r.agent(t, n, "off-2", func(c *agent.Config) { c.StateDir = t.TempDir() })
	waitOnline(t, n.hub, "off-2")
	if a2.sink.Plays() != 0 {
		t.Error("stale version replayed after cancel")
	}
}

func TestOfflineHoldExpires(t *testing.T) {
	r := newRig(t)
	n := r.node(t, "n1", nil)
	r.enroll("late")
	m := r.msg("X/v1", 3)
	m.Expires = time.Now().Add(400 * time.Millisecond)
	mustSend(t, n.hub, m, to("late"))
	rdb := r.redis(t)
	waitFor(t, 10*time.Second, "held command to expire", func() bool {
		return time.Now().After(m.Expires)
	})
	a := r.agent(t, n, "late", nil)
	waitOnline(t, n.hub, "late")
	// Status is written after the connection loaded its held commands, so
	// anything held would already be queued by now.
	if r.rec.count("X/v1", "late", "") != 0 || a.sink.Plays() != 0 {
		t.Error("an expired warning reached the speaker")
	}
	_ = rdb
}

// TestMultiNodeRouting: two hub nodes on one Redis; a warning sent through
// either reaches speakers connected to both.
func TestMultiNodeRouting(t *testing.T) {
	r := newRig(t)
	n1 := r.node(t, "n1", nil)
	n2 := r.node(t, "n2", nil)
	r.agent(t, n1, "on-1", nil)
	r.agent(t, n2, "on-2", nil)
	waitOnline(t, n1.hub, "on-1")
	waitOnline(t, n1.hub, "on-2")

	mustSend(t, n1.hub, r.msg("M/v1", 4), to("on-1", "on-2"))
	r.rec.wait(t, "M/v1", "on-1", "played")
	r.rec.wait(t, "M/v1", "on-2", "played")
	mustSend(t, n2.hub, r.msg("N/v1", 4), to("on-1"))
	r.rec.wait(t, "N/v1", "on-1", "played")

	st, err := n2.hub.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]string{}
	for _, s := range st {
		nodes[s.ID] = s.Node
	}
	if nodes["on-1"] != "n1" || nodes["on-2"] != "n2" {
		t.Errorf("status nodes %v", nodes)
	}
	// Volume set through n1 for a speaker on n2.
	if err := n1.hub.SetVolume(context.Background(), "on-2", 35); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "volume 35 in status", func() bool {
		st, _ := n1.hub.Status(context.Background())
		for _, s := range st {
			if s.ID == "on-2" && s.Volume == 35 {
				return true
			}
		}
		return false
	})
}

// TestReconnectToOtherNode: a speaker that moves to another node gets what
// was sent while it moved, and the old node lets go of it.
func TestReconnectToOtherNode(t *testing.T) {
	r := newRig(t)
	n1 := r.node(t, "n1", nil)
	n2 := r.node(t, "n2", nil)
	dir := t.TempDir()
	a := r.agent(t, n1, "mv", func(c *agent.Config) { c.StateDir = dir })
	waitOnline(t, n1.hub, "mv")
	mustSend(t, n2.hub, r.msg("P/v1", 2), to("mv"))
	r.rec.wait(t, "P/v1", "mv", "played")
	a.stop()
	mustSend(t, n1.hub, r.msg("Q/v1", 2), to("mv")) // while offline
	a = r.agent(t, n2, "mv", func(c *agent.Config) { c.StateDir = dir })
	r.rec.wait(t, "Q/v1", "mv", "played")
	st, _ := n1.hub.Status(context.Background())
	for _, s := range st {
		// Written at connection time, not at the next status flush.
		if s.ID == "mv" && (s.Node != "n2" || !s.Online) {
			t.Errorf("status after move: %+v", s)
		}
	}
}

// TestFlappingDoesNotPlayTwice: a speaker whose link drops again and again,
// and a queue that retries the same message, still plays it once.
func TestFlappingDoesNotPlayTwice(t *testing.T) {
	r := newRig(t)
	n := r.node(t, "n1", nil)
	a := r.agent(t, n, "flap", nil)
	waitOnline(t, n.hub, "flap")
	m := r.msg("F/v1", 3)
	mustSend(t, n.hub, m, to("flap"))
	for range 3 {
		if err := n.hub.Disconnect(context.Background(), "flap"); err != nil {
			t.Fatal(err)
		}
		mustSend(t, n.hub, m, to("flap")) // a retried task
	}
	r.rec.wait(t, "F/v1", "flap", "played")
	waitOnline(t, n.hub, "flap")
	// Let every redelivery be answered: the hold empties once the agent
	// acknowledged the last copy.
	rdb := r.redis(t)
	waitFor(t, 10*time.Second, "hold drained", func() bool {
		n, _ := rdb.HLen(context.Background(), "alertcast:speaker:hold:{flap}").Result()
		return n == 0
	})
	if p := a.sink.Plays(); p != 1 {
		t.Errorf("played %d times", p)
	}
	if c := r.rec.count("F/v1", "flap", "played"); c != 1 {
		t.Errorf("%d played receipts", c)
	}
}

func dialRaw(t *testing.T, n *node, dev, secret string) (*websocket.Conn, *http.Response, error) {
	hdr := http.Header{}
	hdr.Set(speaker.HeaderDevice, dev)
	hdr.Set(speaker.HeaderVersion, speaker.ProtocolVersion)
	hdr.Set("Authorization", "Bearer "+secret)
	return websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(n.srv.URL, "http")+"/speaker/ws", hdr)
}

func TestAuthentication(t *testing.T) {
	r := newRig(t)
	n := r.node(t, "n1", nil)
	good := r.enroll("auth-1")
	r.enroll("auth-2")
	r.devs.Revoke("auth-2")
	for _, tc := range []struct {
		dev, secret string
		code        int
	}{
		{"auth-1", "wrong", http.StatusUnauthorized},
		{"nobody", good, http.StatusUnauthorized},
		{"auth-2", r.secrets["auth-2"], http.StatusForbidden},
		{"", good, http.StatusUnauthorized},
	} {
		c, resp, err := dialRaw(t, n, tc.dev, tc.secret)
		if err == nil {
			c.Close()
			t.Errorf("%s/%s: connected", tc.dev, tc.secret)
			continue
		}
		if resp == nil || resp.StatusCode != tc.code {
			t.Errorf("%s: got %v %v, want HTTP %d", tc.dev, resp, err, tc.code)
		}
	}
	c, _, err := dialRaw(t, n, "auth-1", good)
	if err != nil {
		t.Fatalf("good credential refused: %v", err)
	}
	c.Close()
}

// TestBadFramesCloseOnlyThatConnection: garbage, oversized and binary
// frames from one device end its connection; others keep working.
func TestBadFramesCloseOnlyThatConnection(t *testing.T) {
	r := newRig(t)
	n := r.node(t, "n1", func(c *speaker.Config) { c.MaxFrame = 1024 })
	r.agent(t, n, "good", nil)
	waitOnline(t, n.hub, "good")
	secret := r.enroll("bad")
	for _, tc := range []struct {
		name string
		typ  int
		data []byte
		code int
	}{
		{"garbage", websocket.TextMessage, []byte("\x00\xffnot json at all"), websocket.CloseInvalidFramePayloadData},
		{"unknown type", websocket.TextMessage, []byte(`{"type":"play","key":"x"}`), websocket.CloseInvalidFramePayloadData},
		{"bad state", websocket.TextMessage, []byte(`{"type":"heartbeat","state":"exploded"}`), websocket.CloseInvalidFramePayloadData},
		{"oversized", websocket.TextMessage, append([]byte(`{"type":"heartbeat","firmware":"`), bytes.Repeat([]byte("x"), 4096)...), websocket.CloseMessageTooBig},
		{"binary", websocket.BinaryMessage, []byte{1, 2, 3}, websocket.CloseUnsupportedData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := dialRaw(t, n, "bad", secret)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.WriteMessage(tc.typ, tc.data); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				_, _, err = c.ReadMessage()
				if err != nil {
					break
				}
			}
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != tc.code {
				t.Errorf("closed with %v, want close code %d", err, tc.code)
			}
		})
	}
	mustSend(t, n.hub, r.msg("G/v1", 2), to("good"))
	r.rec.wait(t, "G/v1", "good", "played")
}

func TestStatusShowsHeartbeatAndOffline(t *testing.T) {
	r := newRig(t)
	n := r.node(t, "n1", func(c *speaker.Config) { c.HeartbeatTimeout = 2 * time.Second })
	a := r.agent(t, n, "st-1", nil)
	waitFor(t, 10*time.Second, "status with firmware", func() bool {
		st, _ := n.hub.Status(context.Background())
		return len(st) == 1 && st[0].Firmware == "test-1.0"
	})
	st, _ := n.hub.Status(context.Background())
	s := st[0]
	if !s.Online || s.State != speaker.StateNormal || s.Signal != -80 || s.Volume != 80 || s.Village != "653122100" || s.Node != "n1" {
		t.Errorf("status %+v", s)
	}
	if time.Since(s.LastSeen) > 5*time.Second {
		t.Errorf("last seen %s", s.LastSeen)
	}
	a.stop()
	waitFor(t, 10*time.Second, "offline", func() bool {
		st, _ := n.hub.Status(context.Background())
		return len(st) == 1 && !st[0].Online
	})
}

func TestLiveRefusedByAgentWithoutWebRTC(t *testing.T) {
	r := newRig(t)
	n := r.node(t, "n1", nil)
	r.agent(t, n, "lv", nil)
	waitOnline(t, n.hub, "lv")
	err := n.hub.Live(context.Background(), []string{"lv"}, speaker.LiveRoom{ID: "room-7", Signaling: "wss://alertd/voice/signal", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	rc := r.rec.wait(t, "live:room-7", "lv", "refused")
	if rc.State != channels.StateFailed || !strings.Contains(rc.Detail, "live not supported") {
		t.Errorf("receipt %+v", rc)
	}
}

// TestHubNoGoroutineLeak: after Close, every goroutine the hub and its
// connections started has ended.
func TestHubNoGoroutineLeak(t *testing.T) {
	r := newRig(t)
	rdb := r.redis(t)
	_ = rdb.Ping(context.Background()).Err()
	runtime.GC()
	before := runtime.NumGoroutine()
	func() {
		h, err := speaker.NewHub(speaker.Config{Redis: rdb, Devices: r.devs, Key: r.key, Reporter: r.rec,
			Logger: slog.New(slog.DiscardHandler), ResyncInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h.Handler())
		n := &node{hub: h, srv: srv}
		var agents []*runningAgent
		for i := range 3 {
			agents = append(agents, r.agent(t, n, fmt.Sprintf("lk-%d", i), nil))
		}
		for i := range 3 {
			waitOnline(t, h, fmt.Sprintf("lk-%d", i))
		}
		mustSend(t, h, r.msg("L/v1", 3), to("lk-0", "lk-1", "lk-2"))
		r.rec.wait(t, "L/v1", "lk-2", "played")
		c, _, err := dialRaw(t, n, "lk-0", r.secrets["lk-0"]) // a raw client still connected at Close
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		if err := h.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := h.Send(context.Background(), r.msg("L/v2", 3), to("lk-0")); !errors.Is(err, channels.ErrClosed) {
			t.Errorf("Send after Close: %v", err)
		}
		for _, a := range agents {
			a.stop()
		}
		srv.Close()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConformance runs the shared channel suite against the hub with real
// agents on a real Redis.
func TestConformance(t *testing.T) {
	r := newRig(t)
	rdb := r.redis(t)
	var mu sync.Mutex
	var cur *node
	var seq int
	const cancelBatch = 20000 // eight hold pipelines of 2,500
	channeltest.Run(t, channeltest.Harness{
		New: func(t *testing.T, env channeltest.Env) channels.Channel {
			n := r.node(t, fmt.Sprintf("c%d", seq), func(c *speaker.Config) { c.Logger, c.Reporter = env.Logger, env.Reporter })
			mu.Lock()
			cur = n
			mu.Unlock()
			return n.hub
		},
		Good: func(t *testing.T, k int) []channels.Recipient {
			mu.Lock()
			n := cur
			mu.Unlock()
			var ids []string
			for range k {
				seq++
				id := fmt.Sprintf("conf-%d", seq)
				if k == cancelBatch {
					// Enrolled and offline: a command for it is held in
					// Redis (what StateSent promises) until it connects.
					r.enroll(id)
				} else {
					r.agent(t, n, id, nil)
				}
				ids = append(ids, id)
			}
			// No wait for the connections: a command for a speaker that
			// is still dialling (or for a closed hub) is held in Redis.
			return to(ids...)
		},
		Permanent: func(t *testing.T) channels.Recipient { return to("never-enrolled")[0] },
		NoTransient: "a device that is offline is not a failure: its command is held in Redis until it connects " +
			"(StateSent); what can fail transiently (Redis, the device store) fails the whole batch with Send's error",
		Message: func() *channels.Message {
			m := r.msg("conformance-1/v1", 3)
			m.Status = warning.StatusExercise
			return m
		},
		Receipts: true,
		// The far end of a Send is the commands held in Redis, one hash
		// per device.
		Delivered: func() int {
			n, cursor := 0, uint64(0)
			for {
				keys, next, err := rdb.Scan(context.Background(), cursor, "alertcast:speaker:hold:*", 5000).Result()
				if err != nil {
					t.Errorf("count held commands: %v", err)
					return n
				}
				n += len(keys)
				if cursor = next; cursor == 0 {
					return n
				}
			}
		},
		CancelBatch: cancelBatch,
		// Cancellation is honoured between hold pipelines of 2,500 devices:
		// the chunk under way (its MACs, then one pipeline) is finished
		// first, which under -race on a busy machine takes seconds.
		CancelWithin: 10 * time.Second,
		Secret:       r.enroll("secret-holder"),
	})
}

// TestHashMismatchReportedAsFailed: audio that does not match the signed
// hash is not played, and the delivery fails with the reason.
func TestHashMismatchReportedAsFailed(t *testing.T) {
	r := newRig(t)
	n := r.node(t, "n1", nil)
	a := r.agent(t, n, "hm", nil)
	waitOnline(t, n.hub, "hm")
	m := r.msg("HM/v1", 4)
	m.Audio.SHA256 = strings.Repeat("0", 64) // the file served is another programme
	mustSend(t, n.hub, m, to("hm"))
	rc := r.rec.wait(t, "HM/v1", "hm", "failed")
	if rc.State != channels.StateFailed || !strings.Contains(rc.Detail, "audio hash mismatch") {
		t.Errorf("receipt %+v", rc)
	}
	if a.sink.Plays() != 0 {
		t.Error("mismatching audio was played")
	}
	waitFor(t, 10*time.Second, "fault state in status", func() bool {
		st, _ := n.hub.Status(context.Background())
		return len(st) == 1 && st[0].State == speaker.StateFault
	})
}

// TestSilentDeviceGoesOffline: a connection that sends nothing for
// HeartbeatTimeout is closed and the device shows offline.
func TestSilentDeviceGoesOffline(t *testing.T) {
	r := newRig(t)
	n := r.node(t, "n1", func(c *speaker.Config) { c.HeartbeatTimeout = 500 * time.Millisecond })
	secret := r.enroll("mute")
	c, _, err := dialRaw(t, n, "mute", secret)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err = c.ReadMessage(); err != nil {
			break
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("silent connection closed after %s", d)
	}
	waitFor(t, 10*time.Second, "offline", func() bool {
		st, _ := n.hub.Status(context.Background())
		return len(st) == 1 && !st[0].Online
	})
	if n.hub.Connected() != 0 {
		t.Errorf("%d still connected", n.hub.Connected())
	}
}

// TestLateKickSparesNewerConnection: the "drop your older connection"
// announcement of a device's earlier connection, arriving after the device
// has connected again, does not close the newer connection; a revocation
// kick (no epoch) still does.
func TestLateKickSparesNewerConnection(t *testing.T) {
	r := newRig(t)
	n := r.node(t, "n1", nil)
	secret := r.enroll("flappy")
	first, _, err := dialRaw(t, n, "flappy", secret)
	if err != nil {
		t.Fatal(err)
	}
	// The first connection is registered (its welcome arrived) before it
	// drops: what arrives late here is its kick, not its registration.
	first.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := first.ReadMessage(); err != nil {
		t.Fatalf("first connection's welcome: %v", err)
	}
	first.Close()
	c, _, err := dialRaw(t, n, "flappy", secret)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitOnline(t, n.hub, "flappy")
	// A control device, kicked right after the stale kick: the hub handles
	// bus messages in order, so once the control is closed the stale kick
	// has been handled too.
	control, _, err := dialRaw(t, n, "control", r.enroll("control"))
	if err != nil {
		t.Fatal(err)
	}
	defer control.Close()
	waitOnline(t, n.hub, "control")
	// Epoch 1 is older than any connection's (epochs start at the clock in seconds).
	if err := n.hub.KickForTest(context.Background(), "flappy", 1); err != nil {
		t.Fatal(err)
	}
	if err := n.hub.Disconnect(context.Background(), "control"); err != nil {
		t.Fatal(err)
	}
	control.SetReadDeadline(time.Now().Add(10 * time.Second))
	for err == nil {
		_, _, err = control.ReadMessage()
	}
	if ce := (*websocket.CloseError)(nil); !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
		t.Fatalf("control kick: %v, want close 1008", err)
	}
	// The newer connection still answers a ping.
	pong := make(chan struct{}, 1)
	c.SetPongHandler(func(string) error {
		select {
		case pong <- struct{}{}:
		default:
		}
		return nil
	})
	readErr := make(chan error, 1)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	if err := c.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)); err != nil {
		t.Fatalf("a stale kick closed the newer connection: ping: %v", err)
	}
	select {
	case <-pong:
	case err := <-readErr:
		t.Fatalf("a stale kick closed the newer connection: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no pong from the newer connection")
	}
	if err := n.hub.Disconnect(context.Background(), "flappy"); err != nil {
		t.Fatal(err)
	}
	err = <-readErr
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
		t.Fatalf("revocation kick: %v, want close 1008", err)
	}
}
