package dispatch

import "testing"

func TestParseSchedule(t *testing.T) {
	for _, ok := range []string{"every 30m", "every 1h", "0 10 1-7 * 3", "@daily"} {
		if _, err := ParseSchedule(ok); err != nil {
			t.Errorf("ParseSchedule(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"every 1m", "every soon", "61 * * * *", "hello"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
}
