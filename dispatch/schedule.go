package dispatch

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// scheduleParser accepts standard 5-field cron specs and descriptors such as
// "@every 30m" and "@daily".
var scheduleParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a rebroadcast or drill schedule: "every 30m" (at
// least 5 minutes apart), or a 5-field cron spec such as "0 10 1-7 * 3"
// (10:00 on the first Wednesday of each month).
func ParseSchedule(spec string) (cron.Schedule, error) {
	s := strings.TrimSpace(spec)
	if rest, ok := strings.CutPrefix(s, "every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("\"every\" needs a duration such as 30m or 1h")
		}
		if d < MinScheduleInterval {
			return nil, fmt.Errorf("must be at least %s apart", MinScheduleInterval)
		}
		s = "@every " + d.String()
	}
	sch, err := scheduleParser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("must be \"every DURATION\" or a 5-field cron spec: %v", err)
	}
	return sch, nil
}

// MinScheduleInterval is the shortest "every" schedule accepted. Tests
// lower it; operators cannot.
var MinScheduleInterval = 5 * time.Minute

// Schedule kinds.
const (
	ScheduleRebroadcast = "rebroadcast" // repeat an active warning on the loudspeakers
	ScheduleDrill       = "drill"       // issue an exercise (e.g. the monthly test)
	ScheduleBulletin    = "bulletin"    // issue a routine warning text
)

// Schedule is a stored, recurring action. It survives restarts and fires
// once per due time however many alertd nodes run.
type Schedule struct {
	ID        string        `json:"id"`
	Kind      string        `json:"kind"`
	Spec      string        `json:"spec"`               // "every 30m" or a 5-field cron spec
	AlertID   string        `json:"alert_id,omitempty"` // rebroadcast
	Body      *AlertInput   `json:"body,omitempty"`     // drill, bulletin
	TTL       time.Duration `json:"ttl,omitempty"`      // drill, bulletin: validity of each issue
	CreatedBy string        `json:"created_by"`
	Active    bool          `json:"active"`
	LastFired time.Time     `json:"last_fired,omitzero"`
	CreatedAt time.Time     `json:"created_at"`
	Next      time.Time     `json:"next,omitzero"`
	// ApprovedBy is the approver (never the creator) who approved a drill
	// or bulletin whose output is at an approval level (NeedsApproval);
	// until then each output waits for approval like any new warning.
	ApprovedBy    string    `json:"approved_by,omitempty"`
	ApprovedAt    time.Time `json:"approved_at,omitzero"`
	NeedsApproval bool      `json:"needs_approval,omitempty"`
}
