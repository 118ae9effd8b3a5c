package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

type savedState struct {
	LastSeq uint64 `json:"last_seq"`
	// LastBroadcast: the highest broadcast sequence number accepted.
	LastBroadcast uint64           `json:"last_broadcast,omitempty"`
	Volume        int              `json:"volume"`
	Seen          map[string]int64 `json:"seen"` // command id → until (Unix ms)
	// Versions: alert → newest version accepted, so a restarted device
	// still refuses an older one.
	Versions map[string]versionMark `json:"versions,omitempty"`
}

func (a *Agent) statePath() string { return filepath.Join(a.cfg.StateDir, "state.json") }

func (a *Agent) loadState() error {
	if a.cfg.StateDir == "" {
		return nil
	}
	if err := os.MkdirAll(a.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("agent state: %w", err)
	}
	b, err := os.ReadFile(a.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent state: %w", err)
	}
	var s savedState
	if err := json.Unmarshal(b, &s); err != nil {
		// Refuse to start rather than forget the last sequence number: a
		// forgotten one would let a recorded command be replayed.
		return fmt.Errorf("agent state %s: %w (move it aside only if you accept replays within the freshness window)", a.statePath(), err)
	}
	a.ver.LastSeq = s.LastSeq
	a.ver.LastBroadcast = s.LastBroadcast
	if s.Volume > 0 {
		a.vol = s.Volume
	}
	if s.Seen != nil {
		a.seen = s.Seen
	}
	if s.Versions != nil {
		a.versions = s.Versions
	}
	return nil
}

// saveState is called from the read loop after every accepted or
// sequence-spending command.
func (a *Agent) saveState() {
	now := a.now().UnixMilli()
	for id, until := range a.seen {
		if until < now {
			delete(a.seen, id)
		}
	}
	for alert, m := range a.versions {
		if m.Until < now {
			delete(a.versions, alert)
		}
	}
	if a.cfg.StateDir == "" {
		return
	}
	s := savedState{LastSeq: a.ver.LastSeq, LastBroadcast: a.ver.LastBroadcast, Volume: a.volume(), Seen: a.seen, Versions: a.versions}
	b, _ := json.Marshal(s)
	tmp := a.statePath() + ".tmp"
	err := os.WriteFile(tmp, b, 0o600)
	if err == nil {
		err = os.Rename(tmp, a.statePath())
	}
	if err != nil && !a.stateErr {
		a.log.Error("speaker agent: cannot save state; replays are refused only while running", "err", err)
	}
	a.stateErr = err != nil
}
