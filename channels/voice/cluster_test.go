package voice_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/channels/voice"
	"github.com/alertcast/alertcast/channels/voice/rtcclient"
	"github.com/alertcast/alertcast/channels/voice/wire"
	"github.com/alertcast/alertcast/internal/testsvc"
)

var clusterSecret = []byte("0123456789abcdef0123456789abcdef-test-only")

// node is one voice server of a cluster test, with its metrics registry.
type node struct {
	*env
	reg *prometheus.Registry
}

// metric reads a counter or gauge of the node (label: the one label's
// value, or "").
func (n *node) metric(t *testing.T, name, label string) float64 {
	t.Helper()
	mfs, err := n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s{%s}", name, label)
	return 0
}

// twoNodes starts nodes A and B on one throwaway redis-server, each with
// its own signalling socket, UDP port and registry.
func twoNodes(t *testing.T, lease time.Duration) (a, b *node, rdb *redis.Client) {
	t.Helper()
	rs := testsvc.Redis(t)
	rdb = redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	start := func(name string) *node {
		reg := prometheus.NewRegistry()
		e := newEnv(t, func(c *voice.Config) {
			c.Cluster = &voice.ClusterConfig{Redis: rdb, Node: name, Secret: clusterSecret, Lease: lease}
			c.Registry = reg
		})
		return &node{env: e, reg: reg}
	}
	return start("node-a"), start("node-b"), rdb
}

// TestClusterCallAcrossNodes: an officer connected to node B calls field1,
// whose page is connected to node A only. field1 is told through A, joins
// and publishes through A (its frames relayed to B, which holds the room and
// decides), and each hears the other; ending the call on B ends it for the
// page on A.
func TestClusterCallAcrossNodes(t *testing.T) {
	leakCheck(t)
	a, b, _ := twoNodes(t, 3*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	rooms := make(chan wire.Frame, 4)
	online := newFrameLog()
	officer := b.dial(t, "tok-officer", rtcclient.Config{OnFrame: func(f wire.Frame) {
		online.on(f)
		if f.Type == wire.TypeRoom {
			rooms <- f
		}
	}})
	calls := make(chan wire.Frame, 4)
	fieldLog := newFrameLog()
	field := a.dial(t, "tok-field1", rtcclient.Config{OnFrame: func(f wire.Frame) {
		fieldLog.on(f)
		if f.Type == wire.TypeIncomingCall {
			calls <- f
		}
	}})
	// The officer's list of online field users spans the nodes (after A's
	// registry entry, refreshed on every ping).
	waitFor(t, "field1 online as seen from node B", 10*time.Second, func() bool {
		_ = officer.Send(wire.Frame{Type: wire.TypePing})
		time.Sleep(50 * time.Millisecond)
		online.mu.Lock()
		defer online.mu.Unlock()
		for _, f := range online.fs {
			if f.Type == wire.TypeOnline && strings.Contains(strings.Join(f.Endpoints, ","), "field1") {
				return true
			}
		}
		return false
	})
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
			t.Fatalf("incoming call on node A: %+v", f)
		}
	case <-ctx.Done():
		t.Fatal("field1 on node A not told of the call held on node B")
	}
	if len(a.srv.Rooms()) != 0 || len(b.srv.Rooms()) != 1 {
		t.Fatalf("rooms: node A %d, node B %d; want the call on B only", len(a.srv.Rooms()), len(b.srv.Rooms()))
	}

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
	waitConnected(ctx, t, "officer on B", o.pub)
	waitConnected(ctx, t, "field1 on A", f.pub)
	stopO, stopF := make(chan struct{}), make(chan struct{})
	sentO, sentF := pump(t, o.pub, stopO), pump(t, f.pub, stopF)
	waitFor(t, "each side hears the other across nodes", 15*time.Second, func() bool {
		return o.heard.n.Load() >= 20 && f.heard.n.Load() >= 20
	})
	close(stopO)
	close(stopF)
	<-sentO
	<-sentF
	if o.heard.bad.Load() != 0 || f.heard.bad.Load() != 0 {
		t.Fatalf("altered packets: officer %d, field %d", o.heard.bad.Load(), f.heard.bad.Load())
	}
	// The field member is a member of B's room, as if it were connected there.
	info := b.srv.Rooms()[0]
	var members []string
	for _, m := range info.Members {
		members = append(members, m.User+"/"+m.Role)
	}
	if got := strings.Join(members, ","); !strings.Contains(got, "field1/field") || !strings.Contains(got, "duty1/") {
		t.Fatalf("members of the call on B: %s", got)
	}

	if err := officer.Send(wire.Frame{Type: wire.TypeEnd, Room: room}); err != nil {
		t.Fatal(err)
	}
	for who, s := range map[string]side{"officer": o, "field1": f} {
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("%s: subscription ended with %v, want the room's end", who, err)
			}
		case <-ctx.Done():
			t.Fatalf("%s not told the call ended", who)
		}
	}
	fieldLog.wait(t, "room_ended relayed to the page on A", func(f wire.Frame) bool {
		return f.Type == wire.TypeRoomEnded && f.Room == room && strings.Contains(f.Reason, "ended by duty1")
	})
	// The page on A closes: B drops its remote session.
	field.Close()
	waitFor(t, "node B drops the remote session", 10*time.Second, func() bool {
		return b.metric(t, "alertcast_voice_remote_sessions", "") == 0
	})
}

// TestClusterLiveToSpeakerOnOtherNode: an officer on node B goes live; the
// loudspeaker told to join connects its signalling to node A (as a load
// balancer might send it) with the room token, and hears the officer; its
// media flows straight from B. A forged or replayed envelope on the bus is
// refused. When B dies (its lease lapses, sockets still open), the
// loudspeaker on A is told the room is over and A writes the live room's end
// record from the start record B left in the registry.
func TestClusterLiveToSpeakerOnOtherNode(t *testing.T) {
	leakCheck(t)
	a, b, rdb := twoNodes(t, 1500*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	officer := b.dial(t, "tok-officer", rtcclient.Config{})
	pub, err := officer.GoLive(ctx, "653122100", 4)
	if err != nil {
		t.Fatal(err)
	}
	var lr voice.LiveRoom
	select {
	case lr = <-b.live.ch:
	case <-ctx.Done():
		t.Fatal("loudspeakers not told")
	}
	waitConnected(ctx, t, "officer on B", pub)
	stop := make(chan struct{})
	sent := pump(t, pub, stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-sent
	}()

	// A token that is not a room's, through A: refused at the door.
	if _, err := rtcclient.Dial(ctx, a.wsURL, "not-a-room-token", rtcclient.Config{Loopback: true}); err == nil {
		t.Fatal("node A admitted an unknown token")
	}
	heard := newCounter()
	joined := make(chan error, 1)
	spkLog := newFrameLog()
	agent := a.dial(t, lr.Token, rtcclient.Config{Device: "spk-100-01", OnFrame: spkLog.on})
	go func() { joined <- agent.Subscribe(ctx, lr.ID, heard.onRTP) }()
	select {
	case <-heard.firstCh:
	case err := <-joined:
		t.Fatalf("loudspeaker on node A: %v", err)
	case <-ctx.Done():
		t.Fatal("the loudspeaker on node A heard nothing of the room on node B")
	}
	waitFor(t, "packets on the loudspeaker", 10*time.Second, func() bool { return heard.n.Load() >= 20 })
	if heard.bad.Load() != 0 {
		t.Fatalf("%d altered packets", heard.bad.Load())
	}
	if len(a.srv.Rooms()) != 0 {
		t.Fatal("node A opened a room of its own")
	}
	if info := b.srv.Rooms(); len(info) != 1 || info[0].Speakers != 1 {
		t.Fatalf("room on B: %+v, want one loudspeaker in it", info)
	}
	// The room's token, presented to A, admits to that room only.
	errs := newFrameLog()
	spk := a.dial(t, lr.Token, rtcclient.Config{OnFrame: errs.on})
	if err := spk.Send(wire.Frame{Type: wire.TypeJoin, Room: "call-0011223344556677"}); err != nil {
		t.Fatal(err)
	}
	errs.wait(t, "the other room refused", func(f wire.Frame) bool { return f.Type == wire.TypeError && f.Room == "call-0011223344556677" })
	spk.Close()

	// Forged: a frame claiming to be an approver's, MAC under another key.
	refusedBefore := b.metric(t, "alertcast_voice_relayed_envelopes_total", "refused")
	forge := func(key []byte) string {
		body, _ := json.Marshal(map[string]any{"kind": "frame", "from": "node-x", "seq": 1, "sent": time.Now().UnixMilli(), "sid": "s-x",
			"user": "chief1", "role": "approver", "frame": json.RawMessage(`{"type":"end","room":"` + lr.ID + `"}`)})
		m := hmac.New(sha256.New, key)
		m.Write(body)
		return hex.EncodeToString(m.Sum(nil)) + " " + string(body)
	}
	if err := rdb.Publish(ctx, "alertcast:voice:bus:node-b", forge([]byte("wrong key, but 32 bytes or more!!"))).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Publish(ctx, "alertcast:voice:bus:node-b", "not even an envelope").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "forged envelopes refused", 5*time.Second, func() bool {
		return b.metric(t, "alertcast_voice_relayed_envelopes_total", "refused") >= refusedBefore+2
	})
	if len(b.srv.Rooms()) != 1 {
		t.Fatal("a forged end frame ended the room")
	}

	// B crashes: no lease renewal, no answers; its sockets stay open.
	b.srv.FreezeCluster()
	select {
	case err := <-joined:
		if err != nil {
			t.Fatalf("loudspeaker on A: %v, want the room's end", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the loudspeaker on node A was not told that node B was lost")
	}
	spkLog.wait(t, "room_ended node_lost", func(f wire.Frame) bool {
		return f.Type == wire.TypeRoomEnded && f.Room == lr.ID && strings.HasPrefix(f.Reason, "node_lost")
	})
	end := a.audits.wait(t, voice.AuditLiveEnd, func(e voice.LiveAudit) bool { return e.Room == lr.ID })
	if end.Actor != voice.SystemActor || end.Reason != "node_lost: node-b" || end.StartedBy != "duty1" || end.Ended.IsZero() ||
		len(end.Regions) != 1 || end.Regions[0] != "653122100" || end.Level != 4 {
		t.Fatalf("end record written by A: %+v", end)
	}
	if n, _ := rdb.HLen(ctx, "alertcast:voice:rooms").Result(); n != 0 {
		t.Fatalf("%d rooms left in the registry", n)
	}

	// B comes back: its room was ended for the others and closed on the
	// record, so B ends it for its own officer too — without a second end
	// record.
	close(stop)
	<-sent
	b.srv.ThawCluster()
	select {
	case <-pub.Done():
		if r, ok := rtcclient.RoomEndedReason(pub.Err()); !ok || r != "node_lease_lost" {
			t.Fatalf("officer on B: %v, want room_ended node_lease_lost", pub.Err())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("node B kept a room the others had ended")
	}
	for _, e := range b.audits.all() {
		if e.Action == voice.AuditLiveEnd {
			t.Fatalf("a second end record, from B: %+v", e)
		}
	}
}

// TestClusterConfigRefused: a cluster without Redis or with a short secret
// is refused by New, naming the field.
func TestClusterConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		c    voice.ClusterConfig
		want string
	}{
		{voice.ClusterConfig{Secret: clusterSecret}, "Cluster.Redis"},
		{voice.ClusterConfig{Redis: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), Secret: []byte("short")}, "Cluster.Secret"},
	} {
		_, err := voice.New(voice.Config{Authenticate: func(context.Context, string) (string, string, bool) { return "", "", false },
			Cluster: &tc.c})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New with %+v: %v, want an error naming %s", tc.c, err, tc.want)
		}
		if tc.c.Redis != nil {
			_ = tc.c.Redis.Close()
		}
	}
}

// TestClusterApprovalAcrossNodes: the two-person rule with the requester on
// node A and the approvers on node B. An approver connected to B only (and
// one who connects after the request was filed) sees the request; a plain
// officer on B cannot approve it (decided on A, refused there); the approver
// on B approves, and the room opens on A with op1 publishing, approved by
// chief1 on the record.
func TestClusterApprovalAcrossNodes(t *testing.T) {
	leakCheck(t)
	a, b, _ := twoNodes(t, 3*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	chiefLog := newFrameLog()
	chief := b.dial(t, "tok-approver", rtcclient.Config{OnFrame: chiefLog.on})
	op := a.dial(t, "tok-op1", rtcclient.Config{})
	type result struct {
		pub *rtcclient.Publication
		err error
	}
	live := make(chan result, 1)
	go func() {
		p, err := op.GoLive(ctx, "653122100", 4)
		live <- result{p, err}
	}()
	req := chiefLog.wait(t, "the request shown to the approver on node B", func(f wire.Frame) bool {
		return f.Type == wire.TypeLiveRequest && f.State == wire.LivePending && f.From == "op1"
	})
	// An approver page opened later, on B, lists it too.
	lateLog := newFrameLog()
	b.dial(t, "tok-approver", rtcclient.Config{OnFrame: lateLog.on})
	lateLog.wait(t, "the pending request listed to a late approver on B", func(f wire.Frame) bool {
		return f.Type == wire.TypeLiveRequest && f.Request == req.Request && f.ExpiresIn > 0
	})

	otherLog := newFrameLog()
	other := b.dial(t, "tok-op2", rtcclient.Config{OnFrame: otherLog.on})
	if err := other.Send(wire.Frame{Type: wire.TypeApprove, Request: req.Request}); err != nil {
		t.Fatal(err)
	}
	otherLog.wait(t, "a plain officer's approval refused (by node A)", func(f wire.Frame) bool {
		return f.Type == wire.TypeError && f.Code == "forbidden"
	})
	select {
	case r := <-live:
		t.Fatalf("went live without an approver: %+v", r)
	default:
	}
	if err := chief.Send(wire.Frame{Type: wire.TypeApprove, Request: req.Request}); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-live:
	case <-ctx.Done():
		t.Fatal("no room after the approval on node B")
	}
	if r.err != nil {
		t.Fatalf("GoLive: %v", r.err)
	}
	waitConnected(ctx, t, "op1 on A", r.pub)
	if len(a.srv.Rooms()) != 1 || len(b.srv.Rooms()) != 0 {
		t.Fatalf("rooms: A %d, B %d; want the room on the requester's node", len(a.srv.Rooms()), len(b.srv.Rooms()))
	}
	start := a.audits.wait(t, voice.AuditLiveStart, nil)
	if start.StartedBy != "op1" || start.ApprovedBy != "chief1" || start.Approval != voice.ApprovalApproved {
		t.Fatalf("start record: %+v", start)
	}
	chiefLog.wait(t, "the approver on B told it was approved", func(f wire.Frame) bool {
		return f.Type == wire.TypeLiveRequest && f.Request == req.Request && f.State == wire.LiveApproved && f.By == "chief1"
	})
	r.pub.Close()
}
