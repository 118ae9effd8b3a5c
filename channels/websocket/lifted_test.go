package websocket

import (
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/warning"
)

// After an all-clear a resident who opens the page learns that the warning
// is over and why — from this node and from one started later — and is
// never shown the old instruction; the notice leaves after LiftedFor.
func TestLiftedWarningStaysAsANotice(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, nil)
	a := msg("", 1, warning.KindAlert, 4, township)
	send(t, n.hub, a)
	end := msg(a.AlertID, 2, warning.KindAllClear, 4, township)
	end.Reason = "沙尘暴已减弱"
	send(t, n.hub, end)

	check := func(who string, snap inFrame) {
		t.Helper()
		if len(snap.Warnings) != 0 {
			t.Errorf("%s: lifted warning still among the active: %+v", who, snap.Warnings)
		}
		if len(snap.Ended) != 1 {
			t.Fatalf("%s: ended = %+v, want the lifted warning", who, snap.Ended)
		}
		w := snap.Ended[0]
		if !w.Lifted || w.Kind != "allclear" || w.Reason != "沙尘暴已减弱" || w.ShowUntil.IsZero() {
			t.Errorf("%s: notice %+v", who, w)
		}
		zh := w.Texts["zh"]
		if !strings.Contains(zh.Headline, "解除") || !strings.Contains(zh.Description, "沙尘暴已减弱") || zh.Instruction != "" ||
			strings.Contains(zh.Description, "关好门窗") {
			t.Errorf("%s: zh notice %+v", who, zh)
		}
		if ug := w.Texts["ug"]; !strings.Contains(ug.Headline, "ئەمەلدىن قالدۇرۇلدى") || ug.Instruction != "" {
			t.Errorf("%s: ug notice %+v", who, ug)
		}
	}
	check("same node", dial(t, n.wsURL("?region="+village), nil).next("snapshot"))
	late := newNode(t, r.Addr, nil)
	check("node started later", dial(t, late.wsURL("?region="+village), nil).next("snapshot"))

	// Removed at once when configured so (positive control above).
	off := newNode(t, r.Addr, func(c *Config) { c.LiftedFor = -1 })
	b := msg("", 1, warning.KindAlert, 4, township)
	send(t, off.hub, b)
	bEnd := msg(b.AlertID, 2, warning.KindCancel, 4, township)
	send(t, off.hub, bEnd)
	fresh := newNode(t, r.Addr, func(c *Config) { c.LiftedFor = -1 })
	for _, e := range dial(t, fresh.wsURL("?region="+village), nil).next("snapshot").Ended {
		if e.AlertID == b.AlertID {
			t.Errorf("LiftedFor < 0 kept %s", b.AlertID)
		}
	}
}

// The notice leaves the screen when its time is up.
func TestLiftedNoticeEnds(t *testing.T) {
	checkLeaks(t)
	r := testsvc.Redis(t)
	n := newNode(t, r.Addr, func(c *Config) { c.LiftedFor = time.Hour })
	a := msg("", 1, warning.KindAlert, 3, township)
	send(t, n.hub, a)
	end := msg(a.AlertID, 2, warning.KindCancel, 3, township)
	end.Sent = time.Now().Add(-2 * time.Hour) // its hour of notice is already over
	send(t, n.hub, end)
	if snap := dial(t, n.wsURL("?region="+village), nil).next("snapshot"); len(snap.Ended) != 0 || len(snap.Warnings) != 0 {
		t.Errorf("expired notice shown: %+v %+v", snap.Warnings, snap.Ended)
	}
}
