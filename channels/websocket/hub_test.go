package websocket

import (
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/internal/testsvc"
)

func TestActiveOnConnect(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, nil)
	a := msg("", 1, channels.KindAlert, 3, township)
	b := msg("", 1, channels.KindAlert, 2, otherTwn)
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
	c := msg(a.AlertID, 2, channels.KindCancel, 3, township)
	send(t, n.hub, c)
	if f := cl.next("warning"); f.AlertID != a.AlertID || !f.Lifted {
		t.Fatalf("lift frame = %+v", f)
	}
	cl2 := dial(t, n.wsURL("?region="+village), nil)
	if snap := cl2.next("snapshot"); len(snap.Warnings) != 0 {
		t.Fatalf("snapshot after cancel = %+v", snap.Warnings)
	}
	// A node started later loads the active set from Redis.
	d := msg("", 1, channels.KindAlert, 4, county)
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
	m := msg("", 2, channels.KindUpdate, 3, village)
	first := send(t, n.hub, m)
	cl.next("warning")
	again := send(t, n.hub, m)
	if again.Ref != first.Ref {
		t.Errorf("retried Send published anew: %s then %s", first.Ref, again.Ref)
	}
	old := msg(m.AlertID, 1, channels.KindAlert, 3, village)
	res := send(t, n.hub, old)
	if res.Ref != "" {
		t.Errorf("stale version published as %s", res.Ref)
	}
	cl.quiet(200 * time.Millisecond)
}
