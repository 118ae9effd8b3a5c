package dispatch

import (
	"slices"
	"testing"
)

func TestProgressOf(t *testing.T) {
	all := map[string]Plan{"sms": {}, "speaker": {}, "websocket": {}}
	t.Run("outbox is not sent, never delivered", func(t *testing.T) {
		per, ov := ProgressOf(Counters{"sms": {"not_sent": 90}, "speaker": {"delivered": 10}},
			ProgressInput{Channels: []string{"sms", "speaker"}, Planned: all, Outbox: []string{"sms"}})
		if p := per["sms"]; p.Mode != ModeOutbox || p.Delivered != 0 || p.Sent != 0 || p.NotSent != 90 || p.Planned != 90 {
			t.Errorf("sms %+v", p)
		}
		if per["speaker"].Mode != ModeLive {
			t.Errorf("speaker mode %q", per["speaker"].Mode)
		}
		if ov.Delivered != 10 || ov.NotSent != 90 || !slices.Equal(ov.Outbox, []string{"sms"}) || ov.Phase != PhaseDone {
			t.Errorf("overall %+v", ov)
		}
	})
	t.Run("not_sent records make the mode outbox even where this node has the channel", func(t *testing.T) {
		per, ov := ProgressOf(Counters{"sms": {"not_sent": 1, "sent": 1}}, ProgressInput{Channels: []string{"sms"}, Planned: all})
		if per["sms"].Mode != ModeOutbox || len(ov.Outbox) != 1 {
			t.Errorf("%+v %+v", per["sms"], ov)
		}
	})
	t.Run("planning has no percentage", func(t *testing.T) {
		per, ov := ProgressOf(Counters{"sms": {"planned": 500, "delivered": 100}, "speaker": {"delivered": 20}},
			ProgressInput{Channels: []string{"sms", "speaker"}, Planned: map[string]Plan{"speaker": {}}})
		if ov.Phase != PhasePlanning || ov.Percent != nil || per["sms"].Percent != nil {
			t.Errorf("overall %+v sms %+v", ov, per["sms"])
		}
		if per["speaker"].Percent == nil || *per["speaker"].Percent != 100 {
			t.Errorf("a planned channel keeps its figure: %+v", per["speaker"])
		}
	})
	t.Run("offline speakers are not done; sent is not done", func(t *testing.T) {
		// 739 of 759 loudspeakers have not played: the overall figure must
		// not say 99 %.
		_, ov := ProgressOf(Counters{"speaker": {"sent": 739, "delivered": 20}, "websocket": {"delivered": 5000}},
			ProgressInput{Channels: []string{"speaker", "websocket"}, Planned: all})
		if ov.Phase != PhaseSending || *ov.Percent != (20+5000)*100/(759+5000) {
			t.Errorf("%+v", ov)
		}
		per, _ := ProgressOf(Counters{"speaker": {"sent": 739, "delivered": 20}}, ProgressInput{Channels: []string{"speaker"}, Planned: all})
		if p := per["speaker"]; *p.Percent != 2 || p.Done != 20 {
			t.Errorf("speaker %+v (want 2 %%)", p)
		}
	})
	t.Run("offline speakers are held, not sent", func(t *testing.T) {
		per, ov := ProgressOf(Counters{"speaker": {"sent": 740, "delivered": 19}},
			ProgressInput{Channels: []string{"speaker"}, Planned: all, Held: map[string]int{"speaker": 739}})
		if p := per["speaker"]; p.Held != 739 || p.Sent != 1 || p.Planned != 759 || *p.Percent != 2 {
			t.Errorf("speaker %+v", p)
		}
		if ov.Phase != PhaseSending || ov.Held != 739 {
			t.Errorf("overall %+v", ov)
		}
		_, ov = ProgressOf(Counters{"speaker": {"sent": 739, "delivered": 20}},
			ProgressInput{Channels: []string{"speaker"}, Planned: all, Held: map[string]int{"speaker": 739}})
		if ov.Phase != PhaseHeld || *ov.Percent != 2 {
			t.Errorf("only held ones left: %+v", ov)
		}
	})
	t.Run("after expiry a speaker that never played is expired, not held", func(t *testing.T) {
		per, ov := ProgressOf(Counters{"speaker": {"sent": 739, "delivered": 20}},
			ProgressInput{Channels: []string{"speaker"}, Planned: all, Lapsed: map[string]int{"speaker": 739}})
		if p := per["speaker"]; p.Sent != 0 || p.Held != 0 || p.Expired != 739 || p.Planned != 759 || *p.Percent != 100 {
			t.Errorf("speaker %+v", p)
		}
		if ov.Phase != PhaseDone || ov.Delivered != 20 {
			t.Errorf("overall %+v", ov)
		}
	})
	t.Run("unconfirmed SMS is neither sent nor delivered", func(t *testing.T) {
		per, ov := ProgressOf(Counters{"sms": {"sent": 30, "delivered": 70}},
			ProgressInput{Channels: []string{"sms"}, Planned: all, Unconfirmed: map[string]int{"sms": 30}})
		if p := per["sms"]; p.Sent != 0 || p.Unconfirmed != 30 || p.Delivered != 70 || p.Planned != 100 || *p.Percent != 70 {
			t.Errorf("sms %+v", p)
		}
		if ov.Phase != PhaseUnconfirmed || ov.Unconfirmed != 30 || *ov.Percent != 70 {
			t.Errorf("overall %+v (not 100 %%: thirty have no delivery report)", ov)
		}
	})
	t.Run("an empty plan is complete", func(t *testing.T) {
		_, ov := ProgressOf(nil, ProgressInput{Channels: []string{"sms"}, Planned: all})
		if ov.Phase != PhaseDone || *ov.Percent != 100 {
			t.Errorf("%+v", ov)
		}
	})
	t.Run("counts add up", func(t *testing.T) {
		c := Counters{"sms": {"planned": 1, "sent": 3, "delivered": 3, "failed": 4, "expired": 5, "revoked": 6, "not_sent": 7}}
		per, _ := ProgressOf(c, ProgressInput{Channels: []string{"sms"}, Planned: all, Unconfirmed: map[string]int{"sms": 1}, Held: map[string]int{"sms": 1}})
		p := per["sms"]
		if p.Planned != 29 || p.Queued+p.Sent+p.Unconfirmed+p.Held+p.Done != p.Planned || p.Done != 25 || p.Held != 1 || p.Unconfirmed != 1 || p.Sent != 1 {
			t.Errorf("%+v", p)
		}
	})
}
