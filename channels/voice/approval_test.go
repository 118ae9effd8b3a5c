package voice_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels/voice"
	"github.com/alertcast/alertcast/channels/voice/rtcclient"
	"github.com/alertcast/alertcast/channels/voice/wire"
)

func TestThresholdPolicy(t *testing.T) {
	def := voice.DefaultLivePolicy()
	for _, tc := range []struct {
		name  string
		p     voice.ThresholdPolicy
		level int
		codes []string
		want  bool
	}{
		{"red township", def, 4, []string{"653122100"}, true},
		{"orange village", def, 3, []string{"653122100001"}, true},
		{"yellow township", def, 2, []string{"653122100"}, false},
		{"blue village", def, 1, []string{"653122100001"}, false},
		{"yellow whole county", def, 2, []string{"653122"}, true},
		{"blue three townships", def, 1, []string{"653122100", "653122101", "653122102"}, false},
		{"blue four townships", def, 1, []string{"653122100", "653122101", "653122102", "653122103"}, true},
		{"villages of one township count once", def, 1, []string{"653122100001", "653122100002", "653122100003", "653122100004"}, false},
		{"county-wide off", voice.ThresholdPolicy{Levels: []int{4}}, 2, []string{"653122"}, false},
		{"only county codes when MaxTownships 0", voice.ThresholdPolicy{CountyWide: true}, 1, []string{"653122100", "653122101", "653122102", "653122103", "653122104"}, false},
		{"every level", voice.ThresholdPolicy{Levels: []int{1, 2, 3, 4}}, 1, []string{"653122100001"}, true},
		{"nothing", voice.ThresholdPolicy{}, 4, []string{"653122"}, false},
	} {
		if got := tc.p.NeedsApproval(tc.level, tc.codes); got != tc.want {
			t.Errorf("%s: NeedsApproval(%d, %v) = %v, want %v", tc.name, tc.level, tc.codes, got, tc.want)
		}
	}
}

// TestLiveNeedsApproval: an operator alone at red only files a request — no
// room, no token, no loudspeaker told — and sees it wait; the requester
// cannot approve it, nor can another plain operator; an approver approves
// and the operator goes live; the loudspeakers hear it; the start and end
// are audited with who, who approved, region, level, times and reason; the
// recording is on disk.
func TestLiveNeedsApproval(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	chiefFrames, opFrames, op2Frames := newFrameLog(), newFrameLog(), newFrameLog()
	chief := e.dial(t, "tok-approver", rtcclient.Config{OnFrame: chiefFrames.on})
	op := e.dial(t, "tok-op1", rtcclient.Config{OnFrame: opFrames.on})
	op2 := e.dial(t, "tok-op2", rtcclient.Config{OnFrame: op2Frames.on})

	type result struct {
		pub *rtcclient.Publication
		err error
	}
	live := make(chan result, 1)
	go func() {
		pub, err := op.GoLive(ctx, "653122100", 4)
		live <- result{pub, err}
	}()

	// The requester sees its request wait; the approver sees it to decide.
	mine := opFrames.wait(t, "the requester's pending state", func(f wire.Frame) bool {
		return f.Type == wire.TypeLiveRequest && f.State == wire.LivePending
	})
	req := chiefFrames.wait(t, "the request shown to the approver", func(f wire.Frame) bool {
		return f.Type == wire.TypeLiveRequest && f.State == wire.LivePending
	})
	if req.Request != mine.Request || req.From != "op1" || req.Region != "653122100" || req.Level != 4 || req.ExpiresIn <= 0 || req.ExpiresIn > 120 {
		t.Fatalf("approver sees %+v; requester's request %s", req, mine.Request)
	}
	if rs := e.srv.LiveRequests(); len(rs) != 1 || rs[0].ID != req.Request || rs[0].Requester != "op1" {
		t.Fatalf("LiveRequests = %+v", rs)
	}
	e.audits.wait(t, voice.AuditLiveRequest, func(a voice.LiveAudit) bool { return a.Request == req.Request && a.Actor == "op1" })

	// The requester cannot approve its own request; a plain operator cannot
	// approve anyone's.
	if err := op.Send(wire.Frame{Type: wire.TypeApprove, ID: "self-1", Request: req.Request}); err != nil {
		t.Fatal(err)
	}
	if f := opFrames.wait(t, "self-approval refused", func(f wire.Frame) bool { return f.ID == "self-1" }); f.Code != "self_approval" {
		t.Fatalf("self-approval answered %+v", f)
	}
	if err := op2.Send(wire.Frame{Type: wire.TypeApprove, ID: "op2-1", Request: req.Request}); err != nil {
		t.Fatal(err)
	}
	if f := op2Frames.wait(t, "operator approval refused", func(f wire.Frame) bool { return f.ID == "op2-1" }); f.Code != "forbidden" {
		t.Fatalf("approval by a plain operator answered %+v", f)
	}
	// Both refusals have been answered (the positive controls above); the
	// request still waits and nothing is on the air.
	if rooms := e.srv.Rooms(); len(rooms) != 0 {
		t.Fatalf("a room opened before approval: %+v", rooms)
	}
	e.live.mu.Lock()
	told := len(e.live.rooms)
	e.live.mu.Unlock()
	if told != 0 {
		t.Fatal("loudspeakers were told to join before approval")
	}
	select {
	case r := <-live:
		t.Fatalf("GoLive returned before approval: %+v", r)
	default:
	}
	if len(e.srv.LiveRequests()) != 1 {
		t.Fatal("the request stopped waiting after refused approvals")
	}

	// The approver approves: the requester goes live.
	if err := chief.Send(wire.Frame{Type: wire.TypeApprove, Request: req.Request}); err != nil {
		t.Fatal(err)
	}
	var res result
	select {
	case res = <-live:
	case <-ctx.Done():
		t.Fatal("GoLive did not return after approval")
	}
	if res.err != nil {
		t.Fatalf("GoLive after approval: %v", res.err)
	}
	pub := res.pub
	var lr voice.LiveRoom
	select {
	case lr = <-e.live.ch:
	case <-ctx.Done():
		t.Fatal("loudspeakers not told after approval")
	}
	if lr.ID != pub.Room || lr.Publisher != "op1" || lr.Level != 4 {
		t.Fatalf("LiveRoom = %+v", lr)
	}
	opFrames.wait(t, "the requester told it was approved", func(f wire.Frame) bool {
		return f.Type == wire.TypeLiveRequest && f.State == wire.LiveApproved && f.By == "chief1"
	})
	if len(e.srv.LiveRequests()) != 0 {
		t.Fatal("an approved request still listed as waiting")
	}
	// Approving twice is refused: the request is decided.
	if err := chief.Send(wire.Frame{Type: wire.TypeApprove, ID: "again", Request: req.Request}); err != nil {
		t.Fatal(err)
	}
	if f := chiefFrames.wait(t, "second approval refused", func(f wire.Frame) bool { return f.ID == "again" }); f.Code != "no_request" {
		t.Fatalf("second approval answered %+v", f)
	}

	// A loudspeaker hears it.
	c := newCounter()
	joined := make(chan error, 1)
	go func() {
		joined <- rtcclient.Join(ctx, e.wsURL, lr.Token, lr.ID, rtcclient.Config{Loopback: true, Device: "spk-100-01"}, c.onRTP)
	}()
	select {
	case <-pub.Connected:
	case <-ctx.Done():
		t.Fatal("publisher never connected")
	}
	stop := make(chan struct{})
	sent := pump(t, pub, stop)
	select {
	case <-c.firstCh:
	case err := <-joined:
		t.Fatalf("loudspeaker left before the first packet: %v", err)
	case <-ctx.Done():
		t.Fatal("loudspeaker got no packet")
	}
	base := c.n.Load()
	waitFor(t, "10 more packets", 5*time.Second, func() bool { return c.n.Load() >= base+10 })
	close(stop)
	<-sent
	pub.Close()
	select {
	case err := <-joined:
		if err != nil {
			t.Fatalf("loudspeaker: %v, want nil (room ended)", err)
		}
	case <-ctx.Done():
		t.Fatal("loudspeaker not told the room ended")
	}

	// The audit trail.
	e.audits.wait(t, voice.AuditLiveApprove, func(a voice.LiveAudit) bool {
		return a.Request == req.Request && a.Actor == "chief1" && a.ApprovedBy == "chief1" && a.StartedBy == "op1"
	})
	start := e.audits.wait(t, voice.AuditLiveStart, func(a voice.LiveAudit) bool { return a.Room == lr.ID })
	if start.Actor != "op1" || start.StartedBy != "op1" || start.ApprovedBy != "chief1" || start.Approval != voice.ApprovalApproved ||
		start.Request != req.Request || !slices.Equal(start.Regions, []string{"653122100"}) || start.Level != 4 || start.Devices != 2 ||
		start.Started.IsZero() || start.Requested.IsZero() || start.Started.Before(start.Requested) || start.Recording != "on" {
		t.Errorf("start record = %+v", start)
	}
	end := e.audits.wait(t, voice.AuditLiveEnd, func(a voice.LiveAudit) bool { return a.Room == lr.ID })
	if end.StartedBy != "op1" || end.ApprovedBy != "chief1" || end.Level != 4 || !slices.Equal(end.Regions, []string{"653122100"}) ||
		end.Ended.Before(end.Started) || !strings.HasPrefix(end.Reason, "publisher_left") || len(end.Recordings) != 1 {
		t.Errorf("end record = %+v", end)
	}

	// The recording named in the end record is on disk, not empty.
	var rec voice.Recording
	select {
	case rec = <-e.recs:
	case <-ctx.Done():
		t.Fatal("no recording reported")
	}
	if len(end.Recordings) == 1 && rec.Path != end.Recordings[0] {
		t.Errorf("recording %s, end record names %v", rec.Path, end.Recordings)
	}
	if st, err := os.Stat(rec.Path); err != nil || st.Size() == 0 || rec.Packets < 10 {
		t.Errorf("recording %s: %v (packets %d)", rec.Path, err, rec.Packets)
	}
}

// TestLiveBelowThreshold: at yellow, for one township, an operator goes live
// alone; the start record says no approval was needed.
func TestLiveBelowThreshold(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	op := e.dial(t, "tok-op1", rtcclient.Config{})
	pub, err := op.GoLive(ctx, "653122100", 2)
	if err != nil {
		t.Fatalf("GoLive at yellow: %v", err)
	}
	select {
	case lr := <-e.live.ch:
		if lr.ID != pub.Room || lr.Publisher != "op1" || lr.Level != 2 {
			t.Fatalf("LiveRoom = %+v", lr)
		}
	case <-ctx.Done():
		t.Fatal("loudspeakers not told")
	}
	start := e.audits.wait(t, voice.AuditLiveStart, nil)
	if start.Room != pub.Room || start.StartedBy != "op1" || start.ApprovedBy != "" || start.Approval != voice.ApprovalNotRequired || start.Level != 2 {
		t.Errorf("start record = %+v", start)
	}
	if err := op.Send(wire.Frame{Type: wire.TypeEnd, Room: pub.Room}); err != nil {
		t.Fatal(err)
	}
	end := e.audits.wait(t, voice.AuditLiveEnd, nil)
	if end.Room != pub.Room || end.Actor != "op1" || end.Reason != "ended by op1" || end.Ended.IsZero() {
		t.Errorf("end record = %+v", end)
	}
	pub.Close()
}

// TestLiveApproverAlone: an approver goes live county-wide at red without
// anyone else; the start record says the starter was the second person.
func TestLiveApproverAlone(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, func(c *voice.Config) {
		c.Devices = nil // no region lookup: the county has no loudspeakers in this test
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	chief := e.dial(t, "tok-approver", rtcclient.Config{})
	pub, err := chief.GoLive(ctx, "653122", 4)
	if err != nil {
		t.Fatalf("GoLive: %v", err)
	}
	defer pub.Close()
	start := e.audits.wait(t, voice.AuditLiveStart, nil)
	if start.StartedBy != "chief1" || start.Approval != voice.ApprovalByStarter || start.ApprovedBy != "" || !slices.Equal(start.Regions, []string{"653122"}) {
		t.Errorf("start record = %+v", start)
	}
}

// TestLiveRequestExpires: nobody decides in time; the requester is told and
// the expiry is audited; no room opens.
func TestLiveRequestExpires(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, func(c *voice.Config) { c.ApprovalTimeout = 300 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	op := e.dial(t, "tok-op1", rtcclient.Config{})
	var lre *rtcclient.LiveRequestError
	if _, err := op.GoLive(ctx, "653122100", 3); !errors.As(err, &lre) || lre.State != wire.LiveExpired || lre.By != voice.SystemActor {
		t.Fatalf("unanswered GoLive = %v", err)
	}
	if a := e.audits.wait(t, voice.AuditLiveExpire, nil); a.Actor != voice.SystemActor || a.StartedBy != "op1" || a.Level != 3 {
		t.Errorf("expire record = %+v", a)
	}
	if len(e.srv.Rooms()) != 0 || len(e.srv.LiveRequests()) != 0 {
		t.Fatalf("after expiry: rooms %+v, requests %+v", e.srv.Rooms(), e.srv.LiveRequests())
	}
}

// TestLiveRequestOutcomes: a request is denied, is withdrawn, or is
// cancelled when the requester goes; none of them opens a room.
func TestLiveRequestOutcomes(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	chiefFrames := newFrameLog()
	chief := e.dial(t, "tok-approver", rtcclient.Config{OnFrame: chiefFrames.on})
	pendingFor := func(user string) wire.Frame {
		t.Helper()
		var seen []string
		f := chiefFrames.wait(t, "a pending request of "+user, func(f wire.Frame) bool {
			if f.Type != wire.TypeLiveRequest || f.State != wire.LivePending || f.From != user || slices.Contains(seen, f.Request) {
				return false
			}
			for _, a := range e.audits.all() {
				if a.Request == f.Request && a.Action != voice.AuditLiveRequest {
					seen = append(seen, f.Request) // already decided
					return false
				}
			}
			return true
		})
		return f
	}

	// Denied, county-wide at yellow (the county code needs approval).
	opFrames := newFrameLog()
	op := e.dial(t, "tok-op1", rtcclient.Config{OnFrame: opFrames.on})
	errc := make(chan error, 1)
	go func() {
		_, err := op.GoLive(ctx, "653122", 2)
		errc <- err
	}()
	req := pendingFor("op1")
	if err := chief.Send(wire.Frame{Type: wire.TypeDeny, Request: req.Request, Reason: "use the SMS channel"}); err != nil {
		t.Fatal(err)
	}
	var lre *rtcclient.LiveRequestError
	if err := <-errc; !errors.As(err, &lre) || lre.State != wire.LiveDenied || lre.By != "chief1" || lre.Reason != "use the SMS channel" {
		t.Fatalf("denied GoLive = %v", err)
	}
	if a := e.audits.wait(t, voice.AuditLiveDeny, nil); a.Actor != "chief1" || a.Request != req.Request || a.Reason != "use the SMS channel" {
		t.Errorf("deny record = %+v", a)
	}

	// Withdrawn: the requester gives up waiting.
	gctx, gcancel := context.WithCancel(ctx)
	go func() {
		_, err := op.GoLive(gctx, "653122100", 4)
		errc <- err
	}()
	req = pendingFor("op1")
	gcancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("withdrawn GoLive = %v", err)
	}
	if a := e.audits.wait(t, voice.AuditLiveCancel, func(a voice.LiveAudit) bool { return a.Request == req.Request }); a.Actor != "op1" {
		t.Errorf("withdraw record = %+v", a)
	}
	chiefFrames.wait(t, "the approver told it was withdrawn", func(f wire.Frame) bool {
		return f.Request == req.Request && f.State == wire.LiveCancelled
	})

	// Cancelled: the requester's page closes.
	op2 := e.dial(t, "tok-op2", rtcclient.Config{})
	go func() {
		_, err := op2.GoLive(ctx, "653122100", 4)
		errc <- err
	}()
	req = pendingFor("op2")
	op2.Close()
	<-errc
	chiefFrames.wait(t, "the approver told the requester went", func(f wire.Frame) bool {
		return f.Request == req.Request && f.State == wire.LiveCancelled && f.Reason == "disconnected"
	})
	// Approving it now is too late.
	if err := chief.Send(wire.Frame{Type: wire.TypeApprove, ID: "late", Request: req.Request}); err != nil {
		t.Fatal(err)
	}
	if f := chiefFrames.wait(t, "late approval refused", func(f wire.Frame) bool { return f.ID == "late" }); f.Code != "no_request" {
		t.Fatalf("late approval answered %+v", f)
	}
	if rooms := e.srv.Rooms(); len(rooms) != 0 {
		t.Fatalf("rooms opened: %+v", rooms)
	}
	for _, a := range e.audits.all() {
		if a.Action == voice.AuditLiveStart {
			t.Fatalf("a room started: %+v", a)
		}
	}
}

// TestLiveNotOpenedUnaudited: when the audit log cannot take the start
// record, the room does not open and no loudspeaker is told.
func TestLiveNotOpenedUnaudited(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, nil)
	e.audits.mu.Lock()
	e.audits.fail = func(a voice.LiveAudit) error {
		if a.Action == voice.AuditLiveStart {
			return errors.New("disk full")
		}
		return nil
	}
	e.audits.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	chief := e.dial(t, "tok-approver", rtcclient.Config{})
	_, err := chief.GoLive(ctx, "653122100", 4)
	if !isServerErr(err, "live_failed") || !strings.Contains(err.Error(), "audit") {
		t.Fatalf("GoLive with the audit log down = %v", err)
	}
	if rooms := e.srv.Rooms(); len(rooms) != 0 {
		t.Fatalf("rooms opened: %+v", rooms)
	}
	e.live.mu.Lock()
	defer e.live.mu.Unlock()
	if len(e.live.rooms) != 0 {
		t.Fatal("loudspeakers were told")
	}
}

// TestLiveForWarningArea: the console's "speak live" goes live to a
// warning's whole area (several region codes) on behalf of the warning: the
// loudspeakers of every region are told once each, and the start and end
// records carry the actor, the room, the warning id and every region.
func TestLiveForWarningArea(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, func(c *voice.Config) {
		c.Devices = devicesByRegion{
			"653122100":    {"spk-100-01", "spk-100-02"},
			"653122201":    {"spk-201-01"},
			"653122100001": {"spk-100-01"}, // a village of the first township: no second invitation
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	op := e.dial(t, "tok-op1", rtcclient.Config{})
	pub, err := op.GoLiveTo(ctx, []string{"653122100", "653122201", "653122100001", "653122201"}, 1, "AC-2026-0042")
	if err != nil {
		t.Fatalf("GoLiveTo: %v", err)
	}
	select {
	case lr := <-e.live.ch:
		if lr.ID != pub.Room || lr.Region != "653122100" || lr.Level != 1 {
			t.Fatalf("LiveRoom = %+v", lr)
		}
	case <-ctx.Done():
		t.Fatal("loudspeakers not told")
	}
	if got := e.live.devices[0]; !slices.Equal(got, []string{"spk-100-01", "spk-100-02", "spk-201-01"}) {
		t.Errorf("devices told = %v", got)
	}
	regions := []string{"653122100", "653122201", "653122100001"}
	start := e.audits.wait(t, voice.AuditLiveStart, nil)
	if start.Actor != "op1" || start.Room != pub.Room || start.AlertID != "AC-2026-0042" || !slices.Equal(start.Regions, regions) || start.Devices != 3 {
		t.Errorf("start record = %+v", start)
	}
	if err := op.Send(wire.Frame{Type: wire.TypeEnd, Room: pub.Room}); err != nil {
		t.Fatal(err)
	}
	end := e.audits.wait(t, voice.AuditLiveEnd, nil)
	if end.Actor != "op1" || end.Room != pub.Room || end.AlertID != "AC-2026-0042" || !slices.Equal(end.Regions, regions) {
		t.Errorf("end record = %+v", end)
	}
	pub.Close()
}

// A warning-wide live request waits for an approver over the whole area:
// three townships at blue are under the county-wide threshold, four are
// not; the request and its audit record name every region and the warning.
func TestLiveForWarningAreaCountyWideNeedsApprover(t *testing.T) {
	leakCheck(t)
	e := newEnv(t, func(c *voice.Config) { c.ApprovalTimeout = 300 * time.Millisecond; c.Devices = nil })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	op := e.dial(t, "tok-op1", rtcclient.Config{})
	four := []string{"653122100", "653122101", "653122102", "653122200"}
	var lre *rtcclient.LiveRequestError
	if _, err := op.GoLiveTo(ctx, four, 1, "AC-7"); !errors.As(err, &lre) || lre.State != wire.LiveExpired {
		t.Fatalf("four townships at blue: GoLiveTo = %v, want a request that expires", err)
	}
	req := e.audits.wait(t, voice.AuditLiveRequest, nil)
	if req.AlertID != "AC-7" || !slices.Equal(req.Regions, four) {
		t.Errorf("request record = %+v", req)
	}
	// Positive control: three townships go live at once.
	pub, err := op.GoLiveTo(ctx, four[:3], 1, "AC-7")
	if err != nil {
		t.Fatalf("three townships at blue: %v", err)
	}
	pub.Close()
}
