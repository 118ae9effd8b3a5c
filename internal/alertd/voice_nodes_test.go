package alertd

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/agent"
	"github.com/alertcast/alertcast/channels/voice/rtcclient"
	"github.com/alertcast/alertcast/channels/voice/wire"
	"github.com/alertcast/alertcast/internal/testsvc"
)

// nodeJoiner is a loudspeaker's live joiner behind a load balancer that
// sends its signalling to node A, whatever node the room is on.
type nodeJoiner struct {
	wsURL string
	heard atomic.Int64
	mu    sync.Mutex
	rooms []string
}

func (j *nodeJoiner) Join(ctx context.Context, cmd agent.LiveCommand, _ agent.Sink) error {
	j.mu.Lock()
	j.rooms = append(j.rooms, cmd.Room.ID)
	j.mu.Unlock()
	var once sync.Once
	return rtcclient.Join(ctx, j.wsURL, cmd.Room.Token, cmd.Room.ID, rtcclient.Config{Loopback: true, Device: cmd.Device}, func(*rtp.Packet) {
		once.Do(func() {
			if cmd.Joined != nil {
				cmd.Joined()
			}
		})
		j.heard.Add(1)
	})
}

// TestVoiceAcrossNodes: two alertd API nodes on one Redis and one database,
// no sticky routing. A field team member connected to node A is called by
// an officer connected to node B and they hear each other; a loudspeaker
// agent connected to node A (its hub socket and its voice signalling) hears
// a live announcement held on node B. The rooms exist on B only; the
// audit log has the live room's start and end.
func TestVoiceAcrossNodes(t *testing.T) {
	// Checked after every cleanup: both nodes shut down, their Redis stopped.
	before := runtime.NumGoroutine()
	t.Cleanup(func() { testsvc.NoGoroutinesLeft(t, before, 15*time.Second) })
	db := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	voiceOn := func(c *Config) {
		c.DB = db
		c.Outbox = []string{"sms"}
		c.Voice = voiceSection(t, "loopback: true")
	}
	a := startServer(t, voiceOn)
	b := startServer(t, func(c *Config) {
		voiceOn(c)
		c.Redis = a.Redis.URL()
		c.Roles = []string{"api"}
		c.AuditKeyFile = filepath.Join(a.cfg.DataDir, "audit.key")
		c.Speakers.KeyFile = filepath.Join(a.cfg.DataDir, "speaker-ed25519.key")
	})
	wsA := "ws" + strings.TrimPrefix(a.Base, "http") + "/voice/ws"
	wsB := "ws" + strings.TrimPrefix(b.Base, "http") + "/voice/ws"
	chief := addUser(t, b.Base, "chief", "approver") // goes live alone at red
	team := addUser(t, a.Base, "team1", "viewer")    // a field team member
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// --- A call: officer on B, field team on A.
	rooms := make(chan wire.Frame, 4)
	officer, err := rtcclient.Dial(ctx, wsB, chief, rtcclient.Config{Loopback: true, OnFrame: func(f wire.Frame) {
		if f.Type == wire.TypeRoom {
			rooms <- f
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer officer.Close()
	calls := make(chan wire.Frame, 4)
	field, err := rtcclient.Dial(ctx, wsA, team, rtcclient.Config{Loopback: true, OnFrame: func(f wire.Frame) {
		if f.Type == wire.TypeIncomingCall {
			calls <- f
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer field.Close()
	if err := officer.Send(wire.Frame{Type: wire.TypeCall, Members: []string{"team1"}}); err != nil {
		t.Fatal(err)
	}
	var room string
	select {
	case f := <-rooms:
		room = f.Room
	case <-ctx.Done():
		t.Fatal("no call room on node B")
	}
	select {
	case f := <-calls:
		if f.Room != room || f.From != "chief" {
			t.Fatalf("incoming call on node A: %+v", f)
		}
	case <-ctx.Done():
		t.Fatal("the field team on node A was not told of the call held on node B")
	}
	if len(a.voice.Rooms()) != 0 || len(b.voice.Rooms()) != 1 {
		t.Fatalf("rooms: node A %d, node B %d; want the call on B only", len(a.voice.Rooms()), len(b.voice.Rooms()))
	}
	type side struct {
		heard atomic.Int64
		done  chan error
		pub   *rtcclient.Publication
	}
	start := func(c *rtcclient.Conn) *side {
		s := &side{done: make(chan error, 1)}
		go func() { s.done <- c.Subscribe(ctx, room, func(*rtp.Packet) { s.heard.Add(1) }) }()
		p, err := c.Publish(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.Connected:
		case <-ctx.Done():
			t.Fatal("publisher not connected")
		}
		s.pub = p
		return s
	}
	o, f := start(officer), start(field)
	stop := make(chan struct{})
	var pumps sync.WaitGroup
	for _, s := range []*side{o, f} {
		pumps.Add(1)
		go func() {
			defer pumps.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for seq := uint16(1); ; seq++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				_ = s.pub.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960},
					Payload: []byte{0xF8, 0x01, 0x02, 0x03}})
			}
		}()
	}
	waitFor(t, 20*time.Second, "officer (node B) and field team (node A) hear each other", func() bool {
		return o.heard.Load() >= 20 && f.heard.Load() >= 20
	})
	close(stop)
	pumps.Wait()
	if err := officer.Send(wire.Frame{Type: wire.TypeEnd, Room: room}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*side{o, f} {
		select {
		case err := <-s.done:
			if err != nil {
				t.Fatalf("call subscription: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("call end not seen on both nodes")
		}
	}

	// --- A live announcement on B, heard by a loudspeaker connected to A.
	mustCall(t, b.Base, "POST", "/api/v1/speakers/import", testAdminToken, "id,village\nSPK-1,653122100001\n", 200)
	e := mustCall(t, b.Base, "POST", "/api/v1/speakers/SPK-1/enroll", testAdminToken, nil, 200)
	pub, err := speaker.ParsePublicKey(mustCall(t, a.Base, "GET", "/api/v1/speakers/key", "", nil, 200)["public_key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	joiner := &nodeJoiner{wsURL: wsA}
	ag, err := agent.New(agent.Config{URL: a.Base, Device: "SPK-1", Credential: e["credential"].(string), PublicKey: pub, Live: joiner})
	if err != nil {
		t.Fatal(err)
	}
	agCtx, agStop := context.WithCancel(ctx)
	agDone := make(chan error, 1)
	go func() { agDone <- ag.Run(agCtx) }()
	defer func() { agStop(); <-agDone }()
	waitFor(t, 15*time.Second, "SPK-1 online (connected to node A)", func() bool {
		st := mustCall(t, b.Base, "GET", "/api/v1/speakers", testAdminToken, nil, 200)
		for _, d := range st["status"].([]any) {
			if d.(map[string]any)["id"] == "SPK-1" && d.(map[string]any)["online"] == true {
				return true
			}
		}
		return false
	})
	live, err := officer.GoLive(ctx, "653122100", 4)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-live.Connected:
	case <-ctx.Done():
		t.Fatal("live publisher not connected")
	}
	stop = make(chan struct{})
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(1); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			_ = live.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960},
				Payload: []byte{0xF8, 0x01, 0x02, 0x03}})
		}
	}()
	waitFor(t, 20*time.Second, "the loudspeaker on node A hears the live room on node B", func() bool { return joiner.heard.Load() >= 20 })
	close(stop)
	<-pumped
	if len(a.voice.Rooms()) != 0 {
		t.Fatal("node A opened a room of its own")
	}
	if rs := b.voice.Rooms(); len(rs) != 1 || rs[0].Speakers != 1 {
		t.Fatalf("rooms on B: %+v, want the live room with one loudspeaker", rs)
	}
	live.Close()
	waitFor(t, 10*time.Second, "the live room ends", func() bool { return len(b.voice.Rooms()) == 0 })
	var actions []string
	waitFor(t, 10*time.Second, "the live room's start and end in the shared audit log", func() bool {
		es, err := a.store.AuditLog(ctx, 0, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		actions = actions[:0]
		for _, en := range es {
			actions = append(actions, en.Action)
		}
		all := strings.Join(actions, ",")
		return strings.Contains(all, "voice.live.start") && strings.Contains(all, "voice.live.end")
	})
}
