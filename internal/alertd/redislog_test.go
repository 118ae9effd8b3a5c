package alertd

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A Redis outage makes go-redis repeat the same message many times a
// second: alertd writes the first, then at most one per redisLogEvery
// carrying how many it held back; another kind of message is not held
// back by the first.
func TestRedisLogHoldsBackRepeats(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	l := &redisLogger{seen: map[string]*redisLogKind{}, now: func() time.Time { return now }}
	l.log.Store(slog.New(slog.NewTextHandler(&buf, nil)))
	ctx := context.Background()
	const dial = "redis: connection pool: failed to dial after %d attempts: %v"
	for range 50 {
		l.Printf(ctx, dial, 5, "connection refused")
	}
	l.Printf(ctx, "sentinel: new master=%q addr=%q", "alertcast", "127.0.0.1:1")
	now = now.Add(redisLogEvery)
	l.Printf(ctx, dial, 5, "connection refused")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines (first, other kind, one after the interval), got %d:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], "failed to dial after 5 attempts: connection refused") || strings.Contains(lines[0], "held_back") {
		t.Errorf("first line: %s", lines[0])
	}
	if !strings.Contains(lines[1], "new master") {
		t.Errorf("other kind held back: %s", lines[1])
	}
	if !strings.Contains(lines[2], "held_back=49") || !strings.Contains(lines[2], "level=WARN") {
		t.Errorf("line after the interval must say 49 were held back: %s", lines[2])
	}
}
