package websocket

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/warning"
)

func TestActiveOnConnect(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, nil)
	a := msg("", 1, warning.KindAlert, 3, township)
	b := msg("", 1, warning.KindAlert, 2, otherTwn)
	send(t, n.hub, a)
	send(t, n.hub, b)

	cl := dial(t, n.wsURL("?region="+village+"&lang=ug"), nil)
	snap := cl.next("snapshot")
	if len(snap.Warnings) != 1 || snap.Warnings[0].AlertID != a.AlertID || snap.Reset {
		t.Fatalf("snapshot = %+v, want only %s", snap, a.AlertID)
	}
	if _, ok := snap.Warnings[0].Texts["zh"]; ok || snap.Warnings[0].Texts["ug"].Headline == "" {
		t.Errorf("lang=ug snapshot texts = %+v", snap.Warnings[0].Texts)
	}
	// Lift it: live subscribers see "lifted", later ones see nothing.
	c := msg(a.AlertID, 2, warning.KindCancel, 3, township)
	send(t, n.hub, c)
	if f := cl.next("warning"); f.AlertID != a.AlertID || !f.Lifted {
		t.Fatalf("lift frame = %+v", f)
	}
	cl2 := dial(t, n.wsURL("?region="+village), nil)
	if snap := cl2.next("snapshot"); len(snap.Warnings) != 0 {
		t.Fatalf("snapshot after cancel = %+v", snap.Warnings)
	}
	// A node started later loads the active set from Redis.
	d := msg("", 1, warning.KindAlert, 4, county)
	send(t, n.hub, d)
	late := newNode(t, r.Addr, nil)
	cl3 := dial(t, late.wsURL("?region="+otherVil), nil)
	snap = cl3.next("snapshot")
	if len(snap.Warnings) != 2 {
		t.Fatalf("late node snapshot: %d warnings, want 2 (county red + township %s)", len(snap.Warnings), otherTwn)
	}
	if snap.Warnings[0].AlertID != d.AlertID {
		t.Errorf("snapshot not sorted by level: first %s", snap.Warnings[0].AlertID)
	}
}

func TestSendDedupeAndStale(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, nil)
	cl := dial(t, n.wsURL("?region="+village), nil)
	cl.next("snapshot")
	m := msg("", 2, warning.KindUpdate, 3, village)
	first := send(t, n.hub, m)
	cl.next("warning")
	again := send(t, n.hub, m)
	if again.Ref != first.Ref {
		t.Errorf("retried Send published anew: %s then %s", first.Ref, again.Ref)
	}
	old := msg(m.AlertID, 1, warning.KindAlert, 3, village)
	res := send(t, n.hub, old)
	if res.Ref != "" {
		t.Errorf("stale version published as %s", res.Ref)
	}
	cl.quiet(200 * time.Millisecond)
}

func TestResumeAfterForcedDisconnect(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, nil)
	cl := dial(t, n.wsURL(""), nil)
	cl.subscribe(map[string]any{"regions": []string{village}})
	cl.next("snapshot")
	send(t, n.hub, msg("", 1, warning.KindAlert, 3, village))
	last := cl.next("warning").ID
	_ = cl.c.Close() // forced disconnect
	waitFor(t, "unsubscribe", func() bool { return n.hub.Subscribers() == 0 })

	missed := []*channels.Message{msg("", 1, warning.KindAlert, 2, township), msg("", 1, warning.KindAlert, 4, county)}
	send(t, n.hub, msg("", 1, warning.KindAlert, 3, otherTwn)) // not for this village
	for _, m := range missed {
		send(t, n.hub, m)
	}
	// Same node: the gap comes from memory.
	cl = dial(t, n.wsURL(""), nil)
	cl.subscribe(map[string]any{"regions": []string{village}, "last_id": last})
	for _, m := range missed {
		if f := cl.next("warning"); f.AlertID != m.AlertID {
			t.Fatalf("replayed %s, want %s", f.AlertID, m.AlertID)
		}
	}
	if f := cl.next("resumed"); f.Missed != 2 {
		t.Fatalf("resumed = %+v", f)
	}
	// Live events follow, nothing twice.
	live := msg("", 1, warning.KindAlert, 3, village)
	send(t, n.hub, live)
	if f := cl.next("warning"); f.AlertID != live.AlertID {
		t.Fatalf("live after resume = %s", f.AlertID)
	}
	// Another node (fresh memory) fills the gap from Redis.
	other := newNode(t, r.Addr, nil)
	cl2 := dial(t, other.wsURL("?region="+village+"&last_id="+last), nil)
	for _, m := range append(missed, live) {
		if f := cl2.next("warning"); f.AlertID != m.AlertID {
			t.Fatalf("other node replayed %s, want %s", f.AlertID, m.AlertID)
		}
	}
	if f := cl2.next("resumed"); f.Missed != 3 {
		t.Fatalf("resumed = %+v", f)
	}
	// Already current: nothing replayed.
	cl3 := dial(t, n.wsURL("?region="+village+"&last_id="+n.hub.lastID()), nil)
	if f := cl3.next("resumed"); f.Missed != 0 {
		t.Fatalf("current client: %+v", f)
	}
}

func TestResumeWithGapGetsCurrentState(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, func(c *Config) { c.HistoryLen = 3 })
	cl := dial(t, n.wsURL("?region="+village), nil)
	cl.next("snapshot")
	first := msg("", 1, warning.KindAlert, 3, village)
	send(t, n.hub, first)
	last := cl.next("warning").ID
	_ = cl.c.Close()
	var ids []string
	for range 6 {
		m := msg("", 1, warning.KindAlert, 2, township)
		send(t, n.hub, m)
		ids = append(ids, m.AlertID)
	}
	for _, node := range []*testNode{n, newNode(t, r.Addr, func(c *Config) { c.HistoryLen = 3 })} {
		cl = dial(t, node.wsURL("?region="+village+"&last_id="+last), nil)
		snap := cl.next("snapshot")
		if !snap.Reset || !strings.Contains(snap.Reason, "history lost") {
			t.Fatalf("snapshot = %+v, want reset with 'history lost'", snap)
		}
		if len(snap.Warnings) != 7 {
			t.Fatalf("current state has %d warnings, want 7", len(snap.Warnings))
		}
	}
}

func TestCrossNodeDelivery(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	a := newNode(t, r.Addr, nil)
	b := newNode(t, r.Addr, nil)
	onA := dial(t, a.wsURL("?region="+township), nil)
	onB := dial(t, b.wsURL("?region="+village), nil)
	onA.next("snapshot")
	onB.next("snapshot")
	m := msg("", 1, warning.KindAlert, 4, village)
	if res := send(t, a.hub, m); res.Detail != "published to 1 local subscribers" {
		t.Errorf("Send detail %q", res.Detail)
	}
	fa, fb := onA.next("warning"), onB.next("warning")
	if fa.AlertID != m.AlertID || fb.AlertID != m.AlertID || fa.ID != fb.ID {
		t.Fatalf("node A got %+v, node B got %+v", fa, fb)
	}
	m2 := msg("", 1, warning.KindAlert, 2, county)
	send(t, b.hub, m2)
	if fa, fb := onA.next("warning"), onB.next("warning"); fa.AlertID != m2.AlertID || fb.AlertID != m2.AlertID {
		t.Fatalf("A got %s, B got %s", fa.AlertID, fb.AlertID)
	}
	// Progress events for consoles cross nodes too.
	hdr := http.Header{"Authorization": {"Bearer console-secret"}}
	con := dial(t, b.wsURL("?progress=1&alert="+m.AlertID), hdr)
	con.next("snapshot") // a console without regions sees every warning
	waitFor(t, "console registered", func() bool { return b.hub.Subscribers() == 2 })
	if err := a.hub.PublishProgress(context.Background(), m.AlertID, map[string]int{"sent": 10, "delivered": 7}); err != nil {
		t.Fatal(err)
	}
	if f := con.next("progress"); f.AlertID != m.AlertID || f.Progress == nil {
		t.Fatalf("progress = %+v", f)
	}
	onB.quiet(100 * time.Millisecond) // residents never see progress
}

func TestRedisRestartNothingMissed(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	a := newNode(t, r.Addr, nil)
	b := newNode(t, r.Addr, nil)
	onB := dial(t, b.wsURL("?region="+village), nil)
	onB.next("snapshot")
	before := msg("", 1, warning.KindAlert, 3, village)
	send(t, a.hub, before)
	last := onB.next("warning").ID

	r.Stop()
	waitFor(t, "readiness red while redis is down", func() bool { return a.hub.Ready() != nil })
	r.Restart(t)
	// A client that drops during the outage resumes afterwards.
	resumer := dial(t, a.wsURL("?region="+village), nil)
	resumer.next("snapshot")
	_ = resumer.c.Close()

	after := msg("", 1, warning.KindAlert, 4, township)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		res, err := a.hub.Send(ctx, after, []channels.Recipient{{ID: "broadcast"}})
		if err == nil && len(res) == 1 && res[0].State == channels.StateDelivered {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Send never succeeded after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // dispatch's retry, compressed
	}
	if f := onB.next("warning"); f.AlertID != after.AlertID {
		t.Fatalf("node B after restart got %s", f.AlertID)
	}
	waitFor(t, "readiness green again", func() bool { return a.hub.Ready() == nil && b.hub.Ready() == nil })
	cl := dial(t, b.wsURL("?region="+village+"&last_id="+last), nil)
	if f := cl.next("warning"); f.AlertID != after.AlertID {
		t.Fatalf("resume after restart replayed %s", f.AlertID)
	}
	cl.next("resumed")
	// The active set survived (AOF): a new node shows both.
	c := newNode(t, r.Addr, nil)
	snap := dial(t, c.wsURL("?region="+village), nil).next("snapshot")
	if len(snap.Warnings) != 2 {
		t.Fatalf("active after restart: %d warnings, want 2", len(snap.Warnings))
	}
}
