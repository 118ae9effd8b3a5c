package agent

import (
	"testing"

	"github.com/alertcast/alertcast/channels/speaker/wire"
)

func TestMergedIntoNext(t *testing.T) {
	rep := func(seq uint64, id, step, reason string) wire.AgentFrame {
		return wire.AgentFrame{Type: wire.FrameReport, Seq: seq, ID: id, Key: "A/v1", Step: step, Reason: reason}
	}
	for _, c := range []struct {
		name   string
		outbox []wire.AgentFrame
		want   bool
	}{
		{"received then playing", []wire.AgentFrame{rep(7, "play:A/v1", wire.StepReceived, ""), rep(7, "play:A/v1", wire.StepPlaying, "")}, true},
		{"received alone", []wire.AgentFrame{rep(7, "play:A/v1", wire.StepReceived, "")}, false},
		{"received then downloading", []wire.AgentFrame{rep(7, "play:A/v1", wire.StepReceived, ""), rep(7, "play:A/v1", wire.StepDownloading, "")}, false},
		{"duplicate", []wire.AgentFrame{rep(7, "play:A/v1", wire.StepReceived, "duplicate"), rep(7, "play:A/v1", wire.StepPlaying, "")}, false},
		{"another command plays", []wire.AgentFrame{rep(7, "play:A/v1", wire.StepReceived, ""), rep(8, "play:B/v1", wire.StepPlaying, "")}, false},
		{"same id, another write", []wire.AgentFrame{rep(7, "play:A/v1", wire.StepReceived, ""), rep(9, "play:A/v1", wire.StepPlaying, "")}, false},
		{"no id", []wire.AgentFrame{rep(7, "", wire.StepReceived, ""), rep(7, "", wire.StepPlaying, "")}, false},
		{"playing first", []wire.AgentFrame{rep(7, "play:A/v1", wire.StepPlaying, ""), rep(7, "play:A/v1", wire.StepReceived, "")}, false},
		{"a heartbeat between", []wire.AgentFrame{rep(7, "play:A/v1", wire.StepReceived, ""), {Type: wire.FrameHeartbeat}, rep(7, "play:A/v1", wire.StepPlaying, "")}, false},
	} {
		if got := mergedIntoNext(c.outbox); got != c.want {
			t.Errorf("%s: merged %v, want %v", c.name, got, c.want)
		}
	}
}
