package sms_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/channels/sms/smscsim"
)

// TestLogsSayChannelOnce: given the logger the wiring passes to every
// channel (already With("channel", "sms")), every line carries channel=sms
// exactly once — not "channel=sms channel=sms".
func TestLogsSayChannelOnce(t *testing.T) {
	sim := startSim(t, smscsim.Config{})
	var logs bytes.Buffer
	var mu sync.Mutex
	lw := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	log := slog.New(slog.NewTextHandler(lw, nil)).With("channel", sms.Name)
	newChannel(t, sms.Config{Gateways: []sms.GatewayConfig{smppGW("a", sim.Addr(), 0)}}, channels.Discard, log)
	text := func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }
	// Both binds log "sms bound": lines from inside the channel exist.
	waitFor(t, 5*time.Second, "two binds logged", func() bool { return strings.Count(text(), "sms bound") >= 2 })
	for _, line := range strings.Split(strings.TrimSpace(text()), "\n") {
		if n := strings.Count(line, "channel=sms"); n != 1 {
			t.Errorf("channel=sms %d times in %q", n, line)
		}
	}
}
