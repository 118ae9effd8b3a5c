package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alertcast/alertcast/audio"

	"github.com/gorilla/websocket"

	"github.com/alertcast/alertcast/channels/speaker/wire"
)

// makeWAV returns a silent 8 kHz 16-bit mono WAV of d.
func makeWAV(d time.Duration) []byte {
	b, _ := audio.EncodeWAV(audio.PCM{Rate: 8000, Samples: make([]int16, int(d.Seconds()*8000))})
	return b
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// fakeHub is a minimal platform: it accepts the agent's WebSocket, lets the
// test write any frame (signed properly or not) and collects reports.
type fakeHub struct {
	t       *testing.T
	key     ed25519.PrivateKey
	dev     string
	srv     *httptest.Server
	connc   chan *websocket.Conn
	reports chan wire.AgentFrame
	seq     atomic.Uint64
	audio   map[string][]byte // path → body
	backlog []wire.AgentFrame // reports received while waiting for another
	served  atomic.Int64

	mu   sync.Mutex
	conn *websocket.Conn
}

func newFakeHub(t *testing.T) *fakeHub {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	h := &fakeHub{t: t, key: key, dev: "653122100-01", connc: make(chan *websocket.Conn, 8),
		reports: make(chan wire.AgentFrame, 1024), audio: map[string][]byte{}}
	h.seq.Store(1000)
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/speaker/ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret" || r.Header.Get(wire.HeaderDevice) != h.dev {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		h.mu.Lock()
		h.conn = c
		h.mu.Unlock()
		h.connc <- c
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			f, err := wire.ParseAgentFrame(b)
			if err != nil {
				t.Errorf("agent sent an invalid frame: %v: %s", err, b)
				return
			}
			if f.Type == wire.FrameReport {
				h.reports <- f
			}
		}
	})
	mux.HandleFunc("/audio/", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		b, ok := h.audio[r.URL.Path]
		h.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		h.served.Add(1)
		w.Write(b)
	})
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

// addAudio serves b and returns its relative URL and hash.
func (h *fakeHub) addAudio(b []byte) (string, string) {
	s := sha(b)
	h.mu.Lock()
	h.audio["/audio/"+s+".wav"] = b
	h.mu.Unlock()
	return "/audio/" + s + ".wav", s
}

func (h *fakeHub) waitConn() *websocket.Conn {
	h.t.Helper()
	select {
	case c := <-h.connc:
		return c
	case <-time.After(10 * time.Second):
		h.t.Fatal("agent did not connect")
		return nil
	}
}

func (h *fakeHub) write(c *websocket.Conn, sc wire.SignedCommand) {
	h.t.Helper()
	b, _ := json.Marshal(wire.HubFrame{Type: wire.FrameCommand, Command: &sc})
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := c.WriteMessage(websocket.TextMessage, b); err != nil {
		h.t.Fatalf("write command: %v", err)
	}
}

// sign signs a body for the hub's device with the next sequence number.
func (h *fakeHub) sign(body []byte) wire.SignedCommand {
	return wire.Sign(h.key, h.dev, h.seq.Add(1), time.Now(), body)
}

type playOpt struct {
	alert   string
	level   int
	drill   bool
	repeats int
	url     string
	sha     string
	until   time.Time
}

func (h *fakeHub) playBody(key string, o playOpt) []byte {
	if o.alert == "" {
		o.alert = strings.SplitN(key, "/", 2)[0]
	}
	if o.level == 0 {
		o.level = 3
	}
	if o.repeats == 0 {
		o.repeats = 1
	}
	if o.url == "" {
		o.url, o.sha = h.addAudio(makeWAV(100 * time.Millisecond))
	}
	if o.until.IsZero() {
		o.until = time.Now().Add(time.Hour)
	}
	b, _ := json.Marshal(wire.Command{Op: wire.OpPlay, ID: "play:" + key, Until: &o.until, Play: &wire.Play{
		Key: key, Alert: o.alert, URL: o.url, SHA256: o.sha, Level: o.level, Drill: o.drill, Repeats: o.repeats, Until: o.until}})
	return b
}

// waitReport returns the first report with step for key (or for seq when
// key is empty), failing after a deadline. Other reports are kept in seen.
func (h *fakeHub) waitReport(key, step string, seq uint64) wire.AgentFrame {
	h.t.Helper()
	match := func(f wire.AgentFrame) bool {
		return f.Step == step && (key == "" || f.Key == key) && (seq == 0 || f.Seq == seq)
	}
	for i, f := range h.backlog {
		if match(f) {
			h.backlog = append(h.backlog[:i:i], h.backlog[i+1:]...)
			return f
		}
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f := <-h.reports:
			if match(f) {
				return f
			}
			h.backlog = append(h.backlog, f)
		case <-deadline:
			h.t.Fatalf("no %q report for key %q seq %d", step, key, seq)
		}
	}
}

// gateSink records starts and plays until the test releases it or the
// agent cancels it.
type gateSink struct {
	starts   chan string
	ends     chan string
	release  chan struct{}
	controls atomic.Int64 // positive controls played so far (noStartBefore)
}

// gatedAgent starts an agent that plays into a gate sink, connected to a
// fake hub: the hub, the sink, the agent and its connection.
func gatedAgent(t *testing.T) (*fakeHub, *gateSink, *Agent, *websocket.Conn) {
	t.Helper()
	h := newFakeHub(t)
	sink := newGateSink()
	a, _ := startAgent(t, h, sink, nil)
	return h, sink, a, h.waitConn()
}

func newGateSink() *gateSink {
	return &gateSink{starts: make(chan string, 64), ends: make(chan string, 64), release: make(chan struct{})}
}

func (s *gateSink) Play(ctx context.Context, p Programme) error {
	s.starts <- p.Key
	select {
	case <-ctx.Done():
		s.ends <- p.Key + " interrupted"
		return ctx.Err()
	case <-s.release:
		s.ends <- p.Key + " done"
		return nil
	}
}

func (s *gateSink) nextStart(t *testing.T) string {
	t.Helper()
	select {
	case k := <-s.starts:
		return k
	case <-time.After(10 * time.Second):
		t.Fatal("sink: no play started")
		return ""
	}
}

// noStartBefore proves that nothing the agent was sent so far started
// playing, with a positive control: a genuine play sent now is the next
// thing the sink starts (the agent handles commands in order, and nothing
// else plays, so the control starts at once).
// The control is released once it starts, so the helper can be called again.
func (s *gateSink) noStartBefore(t *testing.T, h *fakeHub, c *websocket.Conn) {
	t.Helper()
	key := fmt.Sprintf("control-%d/v1", s.controls.Add(1))
	h.write(c, h.sign(h.playBody(key, playOpt{})))
	if k := s.nextStart(t); k != key {
		t.Fatalf("sink played %q, which must never have reached it", k)
	}
	s.release <- struct{}{}
}

func startAgent(t *testing.T, h *fakeHub, sink Sink, mod func(*Config)) (*Agent, context.CancelFunc) {
	t.Helper()
	cfg := Config{URL: h.srv.URL, Device: h.dev, Credential: "secret", PublicKey: h.key.Public().(ed25519.PublicKey),
		StateDir: t.TempDir(), Sink: sink, BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		Heartbeat: time.Second, Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("agent did not stop")
		}
	})
	return a, cancel
}

func TestPlaysSignedCommandAndReports(t *testing.T) {
	h := newFakeHub(t)
	sink := &DiscardSink{}
	startAgent(t, h, sink, nil)
	c := h.waitConn()
	h.write(c, h.sign(h.playBody("A1/v1", playOpt{repeats: 2})))
	for _, step := range []string{"received", "downloading", "playing", "played"} {
		h.waitReport("A1/v1", step, 0)
	}
	if got := sink.Plays(); got != 2 {
		t.Errorf("sink played %d times, want 2 repeats", got)
	}
}

// refusalCase sends one bad command after a good one and checks that the
// agent refuses it, says why, and plays nothing.
func refusalCase(t *testing.T, want error, bad func(h *fakeHub, good wire.SignedCommand) wire.SignedCommand) {
	t.Helper()
	h, sink, _, c := gatedAgent(t)
	// A valid volume command first, so there is a sequence number to replay.
	vol := 55
	until := time.Now().Add(time.Hour)
	vb, _ := json.Marshal(wire.Command{Op: wire.OpVolume, ID: "volume:1", Volume: &vol, Until: &until})
	good := h.sign(vb)
	h.write(c, good)
	h.waitReport("", "applied", good.Seq)

	sc := bad(h, good)
	h.write(c, sc)
	f := h.waitReport("", "refused", sc.Seq)
	if !strings.Contains(f.Reason, want.Error()) {
		t.Errorf("refusal reason %q, want it to say %q", f.Reason, want)
	}
	sink.noStartBefore(t, h, c)
}

func TestRefusesForged(t *testing.T) {
	refusalCase(t, wire.ErrBadSignature, func(h *fakeHub, _ wire.SignedCommand) wire.SignedCommand {
		_, other, _ := ed25519.GenerateKey(rand.Reader) // not the platform's key
		return wire.Sign(other, h.dev, h.seq.Add(1), time.Now(), h.playBody("F/v1", playOpt{level: 4}))
	})
}

func TestRefusesTampered(t *testing.T) {
	refusalCase(t, wire.ErrBadSignature, func(h *fakeHub, _ wire.SignedCommand) wire.SignedCommand {
		sc := h.sign(h.playBody("T/v1", playOpt{level: 1, drill: true}))
		// Raise a blue drill to a red real warning in transit.
		sc.Body = []byte(strings.Replace(strings.Replace(string(sc.Body), `"level":1`, `"level":4`, 1), `"drill":true`, `"drill":false`, 1))
		return sc
	})
}

func TestRefusesExpired(t *testing.T) {
	refusalCase(t, wire.ErrStale, func(h *fakeHub, _ wire.SignedCommand) wire.SignedCommand {
		// Properly signed, but issued 10 minutes ago (window is 2 minutes).
		return wire.Sign(h.key, h.dev, h.seq.Add(1), time.Now().Add(-10*time.Minute), h.playBody("E/v1", playOpt{}))
	})
}

func TestRefusesFromTheFuture(t *testing.T) {
	refusalCase(t, wire.ErrStale, func(h *fakeHub, _ wire.SignedCommand) wire.SignedCommand {
		return wire.Sign(h.key, h.dev, h.seq.Add(1), time.Now().Add(10*time.Minute), h.playBody("E/v1", playOpt{}))
	})
}

func TestRefusesReplayed(t *testing.T) {
	refusalCase(t, wire.ErrReplayed, func(h *fakeHub, good wire.SignedCommand) wire.SignedCommand {
		return good // the exact frame again
	})
}

func TestRefusesOutOfOrder(t *testing.T) {
	refusalCase(t, wire.ErrReplayed, func(h *fakeHub, good wire.SignedCommand) wire.SignedCommand {
		// Fresh and validly signed, but numbered below the last accepted one.
		return wire.Sign(h.key, h.dev, good.Seq-1, time.Now(), h.playBody("O/v1", playOpt{}))
	})
}

func TestRefusesWrongDevice(t *testing.T) {
	refusalCase(t, wire.ErrWrongDevice, func(h *fakeHub, _ wire.SignedCommand) wire.SignedCommand {
		// A genuine command for the neighbouring village's wire.
		return wire.Sign(h.key, "653122100-02", h.seq.Add(1), time.Now(), h.playBody("W/v1", playOpt{}))
	})
}

func TestReplayRefusedAfterRestart(t *testing.T) {
	h := newFakeHub(t)
	dir := t.TempDir()
	sink := newGateSink()
	close(sink.release)
	_, stop := startAgent(t, h, sink, func(c *Config) { c.StateDir = dir })
	c := h.waitConn()
	sc := h.sign(h.playBody("R/v1", playOpt{}))
	h.write(c, sc)
	h.waitReport("R/v1", "played", 0)
	stop()

	startAgent(t, h, sink, func(c *Config) { c.StateDir = dir })
	c = h.waitConn()
	h.write(c, sc)
	h.waitReport("", "refused", sc.Seq)
}

func TestHashMismatchAbortsPlay(t *testing.T) {
	h, sink, a, c := gatedAgent(t)
	real := makeWAV(100 * time.Millisecond)
	url, _ := h.addAudio(real)
	wrong := sha([]byte("another programme"))
	h.write(c, h.sign(h.playBody("H/v1", playOpt{url: url, sha: wrong})))
	f := h.waitReport("H/v1", "failed", 0)
	if !strings.Contains(f.Reason, "hash mismatch") {
		t.Errorf("reason %q, want hash mismatch", f.Reason)
	}
	if s := a.State(); s != wire.StateFault {
		t.Errorf("state %s after a failed play, want fault", s)
	}
	sink.noStartBefore(t, h, c)
}

func TestDuplicateCommandPlaysOnce(t *testing.T) {
	h := newFakeHub(t)
	sink := &DiscardSink{}
	startAgent(t, h, sink, nil)
	c := h.waitConn()
	body := h.playBody("D/v1", playOpt{})
	h.write(c, h.sign(body))
	h.waitReport("D/v1", "played", 0)
	// The platform redelivers the same command, freshly signed (a flapping
	// link, or a node that missed the acknowledgement).
	again := h.sign(body)
	h.write(c, again)
	f := h.waitReport("D/v1", "received", again.Seq)
	if f.Reason != "duplicate" {
		t.Errorf("redelivery reported %q, want duplicate", f.Reason)
	}
	if n := sink.Plays(); n != 1 {
		t.Errorf("played %d times, want 1", n)
	}
}

// TestPreemptionOrder: a higher level interrupts a lower one, which plays
// again afterwards; equal or lower levels queue; a drill never interrupts
// a real warning, even at a higher level.
func TestPreemptionOrder(t *testing.T) {
	h, sink, _, c := gatedAgent(t)

	h.write(c, h.sign(h.playBody("yellow/v1", playOpt{level: 2})))
	if k := sink.nextStart(t); k != "yellow/v1" {
		t.Fatalf("first start %q", k)
	}
	h.write(c, h.sign(h.playBody("blue/v1", playOpt{level: 1})))
	h.write(c, h.sign(h.playBody("yellow2/v1", playOpt{level: 2})))
	h.write(c, h.sign(h.playBody("reddrill/v1", playOpt{level: 4, drill: true})))
	h.waitReport("reddrill/v1", "received", 0)
	// Nothing so far outranks a real yellow: the next start is the red
	// sent now (the positive control), not anything sent before it.
	h.write(c, h.sign(h.playBody("red/v1", playOpt{level: 4})))

	want := []string{"red/v1", "yellow/v1", "yellow2/v1", "blue/v1", "reddrill/v1"}
	for i, w := range want {
		if k := sink.nextStart(t); k != w {
			t.Fatalf("start #%d = %q, want %q (order %v)", i+2, k, w, want)
		}
		if i == 0 {
			if e := <-sink.ends; e != "yellow/v1 interrupted" {
				t.Fatalf("red should have interrupted yellow, got %q", e)
			}
		}
		sink.release <- struct{}{}
	}
	for _, k := range []string{"red/v1", "yellow/v1", "yellow2/v1", "blue/v1", "reddrill/v1"} {
		h.waitReport(k, "played", 0)
	}
}

func TestCancelStopsAtOnce(t *testing.T) {
	h, sink, a, c := gatedAgent(t)
	h.write(c, h.sign(h.playBody("S/v1", playOpt{alert: "S", level: 3})))
	sink.nextStart(t)
	h.write(c, h.sign(h.playBody("S2/v1", playOpt{alert: "S2", level: 1}))) // queued, other alert
	until := time.Now().Add(time.Hour)
	stop, _ := json.Marshal(wire.Command{Op: wire.OpStop, ID: "stop:S/v2", Until: &until, Stop: &wire.Stop{Key: "S/v2", Alert: "S"}})
	// The gate sink plays until released: an end now is the stop's doing.
	h.write(c, h.sign(stop))
	if e := <-sink.ends; e != "S/v1 interrupted" {
		t.Fatalf("end %q", e)
	}
	h.waitReport("S/v1", "revoked", 0)
	h.waitReport("S/v2", "stopped", 0)
	// The other alert still plays.
	if k := sink.nextStart(t); k != "S2/v1" {
		t.Fatalf("after stop, started %q", k)
	}
	if s := a.State(); s != wire.StateBroadcasting {
		t.Errorf("state %s", s)
	}
	sink.release <- struct{}{}
}

func TestAllClearStopsThenPlays(t *testing.T) {
	h, sink, _, c := gatedAgent(t)
	h.write(c, h.sign(h.playBody("Q/v1", playOpt{alert: "Q"})))
	sink.nextStart(t)
	url, s := h.addAudio(makeWAV(50 * time.Millisecond))
	until := time.Now().Add(time.Hour)
	body, _ := json.Marshal(wire.Command{Op: wire.OpStop, ID: "stop:Q/v2", Until: &until, Stop: &wire.Stop{Key: "Q/v2", Alert: "Q",
		Then: &wire.Play{Key: "Q/v2", Alert: "Q", URL: url, SHA256: s, Level: 1, Repeats: 1, Until: until}}})
	h.write(c, h.sign(body))
	if k := sink.nextStart(t); k != "Q/v2" {
		t.Fatalf("all-clear programme: started %q", k)
	}
	sink.release <- struct{}{}
	h.waitReport("Q/v2", "played", 0)
}

func TestUpdateSupersedesPlaying(t *testing.T) {
	h, sink, _, c := gatedAgent(t)
	h.write(c, h.sign(h.playBody("U/v1", playOpt{alert: "U", level: 3})))
	sink.nextStart(t)
	h.write(c, h.sign(h.playBody("U/v2", playOpt{alert: "U", level: 3})))
	if k := sink.nextStart(t); k != "U/v2" {
		t.Fatalf("update: started %q", k)
	}
	h.waitReport("U/v1", "revoked", 0)
	sink.release <- struct{}{}
	h.waitReport("U/v2", "played", 0)
}

func TestKeepsPlayingWhenDisconnected(t *testing.T) {
	h, sink, _, c := gatedAgent(t)
	h.write(c, h.sign(h.playBody("K/v1", playOpt{})))
	sink.nextStart(t)
	c.Close() // the 4G link drops mid-programme
	c2 := h.waitConn()
	_ = c2
	select {
	case e := <-sink.ends:
		t.Fatalf("programme ended when the link dropped: %q", e)
	default:
	}
	sink.release <- struct{}{}
	// The report queued while offline arrives over the new connection.
	h.waitReport("K/v1", "played", 0)
}

func TestLiveRefusedByDefault(t *testing.T) {
	h, sink, _, c := gatedAgent(t)
	h.write(c, h.sign(h.playBody("L/v1", playOpt{level: 1})))
	sink.nextStart(t)
	until := time.Now().Add(time.Hour)
	body, _ := json.Marshal(wire.Command{Op: wire.OpLive, ID: "live:room1", Until: &until,
		Live: &wire.LiveRoom{ID: "room1", Signaling: "wss://example.invalid/sig", Token: "t", Level: 4, Until: until}})
	sc := h.sign(body)
	h.write(c, sc)
	f := h.waitReport("live:room1", "refused", 0)
	if f.Reason != ErrLiveUnsupported.Error() {
		t.Errorf("reason %q", f.Reason)
	}
	select {
	case e := <-sink.ends:
		t.Fatalf("an unsupported live command interrupted the programme: %q", e)
	default:
	}
	sink.release <- struct{}{}
}

type fakeLive struct{ joined chan LiveCommand }

func (f *fakeLive) Join(ctx context.Context, cmd LiveCommand, _ Sink) error {
	cmd.Joined()
	f.joined <- cmd
	<-ctx.Done()
	return ctx.Err()
}

func TestLiveJoinerPreemptsLowerLevel(t *testing.T) {
	h := newFakeHub(t)
	sink := newGateSink()
	live := &fakeLive{joined: make(chan LiveCommand, 1)}
	startAgent(t, h, sink, func(c *Config) { c.Live = live })
	c := h.waitConn()
	h.write(c, h.sign(h.playBody("P/v1", playOpt{level: 2})))
	sink.nextStart(t)
	until := time.Now().Add(time.Hour)
	body, _ := json.Marshal(wire.Command{Op: wire.OpLive, ID: "live:r2", Until: &until,
		Live: &wire.LiveRoom{ID: "r2", Signaling: "wss://example.invalid/sig", Token: "t", Level: 4, Until: until}})
	h.write(c, h.sign(body))
	select {
	case lc := <-live.joined:
		if lc.Room.ID != "r2" || lc.Device != h.dev {
			t.Errorf("joined %+v", lc)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("live room not joined")
	}
	h.waitReport("live:r2", "joined", 0)
	if e := <-sink.ends; e != "P/v1 interrupted" {
		t.Fatalf("end %q", e)
	}
}

func TestExpiredQueuedItemIsNotPlayed(t *testing.T) {
	h, sink, _, c := gatedAgent(t)
	h.write(c, h.sign(h.playBody("X/v1", playOpt{level: 4})))
	sink.nextStart(t)
	h.write(c, h.sign(h.playBody("Y/v1", playOpt{level: 1, until: time.Now().Add(300 * time.Millisecond)})))
	h.waitReport("Y/v1", "expired", 0)
	sink.release <- struct{}{}
	h.waitReport("X/v1", "played", 0)
	sink.noStartBefore(t, h, c)
}

func TestHeartbeatCarriesState(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	beats := make(chan wire.AgentFrame, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			if f, err := wire.ParseAgentFrame(b); err == nil && f.Type == wire.FrameHeartbeat {
				beats <- f
			}
		}
	}))
	defer srv.Close()
	a, err := New(Config{URL: srv.URL, Device: "d1", Credential: "c", PublicKey: key.Public().(ed25519.PublicKey),
		Firmware: "1.4.2", Signal: func() int { return -73 }, Volume: 60})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case f := <-beats:
		if f.State != wire.StateNormal || f.Firmware != "1.4.2" || f.Signal != -73 || f.Volume != 60 {
			t.Errorf("heartbeat %+v", f)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no heartbeat")
	}
}

func TestBackoffIsJitteredAndBounded(t *testing.T) {
	a := &Agent{cfg: Config{BackoffMin: time.Second, BackoffMax: time.Minute}}
	seen := map[time.Duration]bool{}
	for attempt := range 40 {
		d := a.backoff(attempt)
		ceil := min(time.Second<<min(attempt, 16), time.Minute)
		if d < ceil/2 || d > ceil {
			t.Fatalf("attempt %d: %s outside [%s, %s]", attempt, d, ceil/2, ceil)
		}
		seen[d] = true
	}
	if len(seen) < 30 {
		t.Errorf("only %d distinct delays in 40 attempts: not jittered", len(seen))
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub := key.Public().(ed25519.PublicKey)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "ftp://x", Device: "d", Credential: "c", PublicKey: pub}, "url"},
		{Config{URL: "http://x", Credential: "c", PublicKey: pub}, "device"},
		{Config{URL: "http://x", Device: "d", PublicKey: pub}, "credential"},
		{Config{URL: "http://x", Device: "d", Credential: "c"}, "public key"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error naming %q", tc.cfg, err, tc.want)
		}
	}
}

func TestWAVDuration(t *testing.T) {
	for _, d := range []time.Duration{0, 100 * time.Millisecond, 2 * time.Second} {
		got, err := WAVDuration(makeWAV(d))
		if err != nil || got != d {
			t.Errorf("WAVDuration(%s) = %s, %v", d, got, err)
		}
	}
	if _, err := WAVDuration([]byte("RIFF....WAVEjunk")); err == nil {
		t.Error("no data chunk accepted")
	}
}

func FuzzWAVDuration(f *testing.F) {
	f.Add(makeWAV(10 * time.Millisecond))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := WAVDuration(b)
		if err == nil && d < 0 {
			t.Fatalf("negative duration %s", d)
		}
	})
}

// FuzzHubFrameToAgent: whatever the hub (or anyone in between) sends, the
// device accepts a command only as the platform signed it: same device,
// sequence number, time and body. The key and the clock are fixed, so a
// failing input found once fails again from the corpus.
func FuzzHubFrameToAgent(f *testing.F) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x5a}, ed25519.SeedSize))
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	until := now.Add(time.Hour)
	vol := 10
	body, _ := json.Marshal(wire.Command{Op: wire.OpVolume, ID: "volume:1", Volume: &vol, Until: &until})
	sc := wire.Sign(key, "d", 5, now, body)
	good, _ := json.Marshal(wire.HubFrame{Type: wire.FrameCommand, Command: &sc})
	f.Add(good)
	old := wire.Sign(key, "d", 4, now, body) // replayed
	replay, _ := json.Marshal(wire.HubFrame{Type: wire.FrameCommand, Command: &old})
	f.Add(replay)
	f.Add([]byte(`{"type":"welcome","device":"d","time":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"type":"command","command":{"device":"d","seq":1,"issued_at":0,"body":"e30=","sig":""}}`))
	f.Add([]byte(`{"type":"hb_ack"}{"type":"hb_ack"}`))
	// Positive control: the genuine frame verifies.
	if fr, err := wire.ParseHubFrame(good); err != nil {
		f.Fatal(err)
	} else if _, err := (&wire.Verifier{Key: key.Public().(ed25519.PublicKey), Device: "d", Window: time.Hour, LastSeq: 4}).Verify(*fr.Command, now); err != nil {
		f.Fatalf("the genuine command is refused: %v", err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := wire.ParseHubFrame(b)
		if err != nil || fr.Command == nil {
			return
		}
		v := wire.Verifier{Key: key.Public().(ed25519.PublicKey), Device: "d", Window: time.Hour, LastSeq: 4}
		got := *fr.Command
		if _, err := v.Verify(got, now); err != nil {
			return
		}
		if got.Seq <= 4 {
			t.Fatalf("accepted seq %d after 4", got.Seq)
		}
		if got.Device != sc.Device || got.Seq != sc.Seq || got.IssuedAt != sc.IssuedAt || !bytes.Equal(got.Body, sc.Body) {
			t.Fatalf("accepted a command the platform never signed: %+v", got)
		}
		if _, perr := wire.ParseCommand(got.Body); perr != nil {
			t.Fatalf("verified a body that does not parse: %v", perr)
		}
	})
}

func ExampleWAVDuration() {
	d, _ := WAVDuration(makeWAV(1500 * time.Millisecond))
	fmt.Println(d)
	// Output: 1.5s
}

// A genuine play of an alert that was stopped since (a recorded command
// delivered again) is refused, also after a restart; a play of another
// alert still plays.
func TestPlayOfStoppedAlertRefused(t *testing.T) {
	h := newFakeHub(t)
	sink := newGateSink()
	dir := t.TempDir()
	_, cancel := startAgent(t, h, sink, func(c *Config) { c.StateDir = dir })
	c := h.waitConn()
	until := time.Now().Add(time.Hour)
	stop, _ := json.Marshal(wire.Command{Op: wire.OpStop, ID: "stop:X/v2", Until: &until, Stop: &wire.Stop{Key: "X/v2", Alert: "X"}})
	h.write(c, h.sign(stop))
	h.waitReport("X/v2", "stopped", 0)
	// Even a "later" version: a stopped warning has none.
	h.write(c, h.sign(h.playBody("X/v3", playOpt{alert: "X", level: 4})))
	if f := h.waitReport("X/v3", "refused", 0); f.Reason != ErrAlertStopped.Error() {
		t.Errorf("reason %q", f.Reason)
	}
	cancel()

	// Restarted from its saved state, the device still remembers.
	startAgent(t, h, sink, func(c *Config) { c.StateDir = dir })
	c = h.waitConn()
	h.write(c, h.sign(h.playBody("X/v4", playOpt{alert: "X", level: 4})))
	if f := h.waitReport("X/v4", "refused", 0); f.Reason != ErrAlertStopped.Error() {
		t.Errorf("after restart: reason %q", f.Reason)
	}
	// Positive control: another alert plays.
	h.write(c, h.sign(h.playBody("Y/v1", playOpt{alert: "Y", level: 1})))
	if k := sink.nextStart(t); k != "Y/v1" {
		t.Fatalf("started %q, want Y/v1 (X must never start)", k)
	}
	sink.release <- struct{}{}
	h.waitReport("Y/v1", "played", 0)
}

// An older version of a warning after a newer one (a recorded command
// delivered again) is refused, also after a restart; a newer one plays.
func TestOlderVersionRefused(t *testing.T) {
	h := newFakeHub(t)
	sink := newGateSink()
	dir := t.TempDir()
	_, cancel := startAgent(t, h, sink, func(c *Config) { c.StateDir = dir })
	c := h.waitConn()
	h.write(c, h.sign(h.playBody("V/v2", playOpt{alert: "V", level: 2})))
	if k := sink.nextStart(t); k != "V/v2" {
		t.Fatalf("started %q", k)
	}
	sink.release <- struct{}{}
	h.waitReport("V/v2", "played", 0)
	h.write(c, h.sign(h.playBody("V/v1", playOpt{alert: "V", level: 4})))
	if f := h.waitReport("V/v1", "refused", 0); !strings.Contains(f.Reason, ErrOlderVersion.Error()) {
		t.Errorf("reason %q", f.Reason)
	}
	cancel()

	startAgent(t, h, sink, func(c *Config) { c.StateDir = dir })
	c = h.waitConn()
	h.write(c, h.sign(h.playBody("V/v1", playOpt{alert: "V", level: 4})))
	h.waitReport("V/v1", "refused", 0)
	// Positive control: the next version plays.
	h.write(c, h.sign(h.playBody("V/v3", playOpt{alert: "V", level: 3})))
	if k := sink.nextStart(t); k != "V/v3" {
		t.Fatalf("started %q, want V/v3 (V/v1 must never start)", k)
	}
	sink.release <- struct{}{}
	h.waitReport("V/v3", "played", 0)
}
