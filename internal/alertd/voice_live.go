package alertd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/alertcast/alertcast/channels/voice"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
)

// VoiceLiveConfig is the two-person rule for going live to loudspeakers and
// the recording of live sessions (keys of the "voice:" section).
type VoiceLiveConfig struct {
	// LiveApprovalLevels need a second officer; default [orange, red]; []
	// for none.
	LiveApprovalLevels *[]string `yaml:"live_approval_levels"`
	// LiveApprovalCountyWide: the whole county, or more than
	// LiveApprovalMaxTownships townships, needs a second officer at any
	// level. Default true.
	LiveApprovalCountyWide   *bool `yaml:"live_approval_county_wide"`
	LiveApprovalMaxTownships *int  `yaml:"live_approval_max_townships"` // default 3
	// LiveApprovalTimeout is how long a request waits for an approver.
	// Default 2m.
	LiveApprovalTimeout time.Duration `yaml:"live_approval_timeout"`
	// Record live announcements and calls (Ogg/Opus). Default true.
	Record *bool `yaml:"record"`
	// RecordDir; default <data_dir>/recordings.
	RecordDir string `yaml:"record_dir"`
}

// livePolicy is the voice section's own threshold policy. The server asks
// the dispatch approval policy first (policy.NeedsApprovalForLive) and this
// one second: the voice section can add levels or the county-wide rule to
// the one policy, never relax it.
func (c VoiceLiveConfig) livePolicy() (voice.ThresholdPolicy, error) {
	p := voice.DefaultLivePolicy()
	var errs []error
	if c.LiveApprovalLevels != nil {
		p.Levels = nil
		for i, s := range *c.LiveApprovalLevels {
			l, err := warning.ParseLevel(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("config voice.live_approval_levels[%d]: %q is not a level (blue, yellow, orange, red)", i, s))
				continue
			}
			p.Levels = append(p.Levels, int(l))
		}
	}
	if c.LiveApprovalCountyWide != nil {
		p.CountyWide = *c.LiveApprovalCountyWide
	}
	if c.LiveApprovalMaxTownships != nil {
		if *c.LiveApprovalMaxTownships < 0 {
			errs = append(errs, fmt.Errorf("config voice.live_approval_max_townships: %d is negative (0 means only a county code counts as county-wide)", *c.LiveApprovalMaxTownships))
		} else {
			p.MaxTownships = *c.LiveApprovalMaxTownships
		}
	}
	if c.LiveApprovalTimeout < 0 {
		errs = append(errs, fmt.Errorf("config voice.live_approval_timeout: %s is negative", c.LiveApprovalTimeout))
	}
	return p, errors.Join(errs...)
}

// recordDir is where voice recordings go; "" when recording is off.
func (c VoiceLiveConfig) recordDir(dataDir string) string {
	if !on(c.Record) {
		return ""
	}
	if c.RecordDir != "" {
		return c.RecordDir
	}
	return filepath.Join(dataDir, "recordings")
}

// voiceAudit appends the voice server's live records to the audit log,
// filed under the warning they were started from (the console's "speak
// live"), so GET /api/v1/audit?alert=ID lists them. A request or start that
// names a warning the store does not have is refused: the record (and so
// the announcement) would point at nothing.
func voiceAudit(store *dispatch.Store) func(context.Context, voice.LiveAudit) error {
	return func(ctx context.Context, e voice.LiveAudit) error {
		if e.AlertID != "" && (e.Action == voice.AuditLiveRequest || e.Action == voice.AuditLiveStart) {
			if _, err := store.Alert(ctx, e.AlertID); errors.Is(err, dispatch.ErrNotFound) {
				return fmt.Errorf("alert_id %q: no such warning", e.AlertID)
			} else if err != nil {
				return err
			}
		}
		detail, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return store.Audit(context.WithoutCancel(ctx), dispatch.AuditEntry{Actor: e.Actor, Action: e.Action, AlertID: e.AlertID, Detail: string(detail)})
	}
}
