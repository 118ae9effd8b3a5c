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
