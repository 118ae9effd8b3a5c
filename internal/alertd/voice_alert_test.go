package alertd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels/voice"
	"github.com/alertcast/alertcast/channels/voice/rtcclient"
)

// A live announcement started from a warning ("speak live" in the console)
// is filed under that warning in the audit log; one naming a warning the
// store does not have never opens (the start cannot be recorded).
func TestVoiceLiveFiledUnderItsWarning(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.Outbox = []string{"speaker", "sms", "websocket"}
		c.Voice = voiceSection(t, "loopback: true")
	})
	op := addUser(t, s.Base, "op1", "operator")
	body := strings.Replace(string(exampleBody(t)), `"orange"`, `"blue"`, 1)
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, body, 201)["id"].(string)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	officer, err := rtcclient.Dial(ctx, "ws"+strings.TrimPrefix(s.Base, "http")+"/voice/ws", op, rtcclient.Config{Loopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer officer.Close()

	var se *rtcclient.ServerError
	if _, err := officer.GoLiveTo(ctx, []string{"653122100"}, 1, "NO-SUCH-WARNING"); !errors.As(err, &se) || se.Code != "live_failed" || !strings.Contains(se.Message, "no such warning") {
		t.Fatalf("live for an unknown warning: %v", err)
	}
	if rs := s.voice.Rooms(); len(rs) != 0 {
		t.Fatalf("a room opened for an unknown warning: %+v", rs)
	}

	pub, err := officer.GoLiveTo(ctx, []string{"653122100", "653122201"}, 1, id)
	if err != nil {
		t.Fatalf("live for warning %s: %v", id, err)
	}
	defer pub.Close()
	es, err := s.store.AuditLog(ctx, 0, id, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range es {
		if e.Action == voice.AuditLiveStart {
			found = true
			if e.Actor != "op1" || e.AlertID != id || !strings.Contains(e.Detail, pub.Room) || !strings.Contains(e.Detail, `"regions":["653122100","653122201"]`) {
				t.Errorf("start row: %+v", e)
			}
		}
	}
	if !found {
		t.Fatalf("no %s row under warning %s: %+v", voice.AuditLiveStart, id, es)
	}
}
