package alertd

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/alertcast/alertcast/internal/testsvc"
)

// The embedded default starts a managed redis-server (AOF on) even when the
// data dir is a relative path, as in `go run ./cmd/alertd`.
func TestManagedRedisWithRelativeDataDir(t *testing.T) {
	bin := testsvc.Need(t, "redis-server")
	dir := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	h, err := startManagedRedis(context.Background(), bin, "alertcast-data/redis", "0123456789abcdef0123", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("managed redis-server: %v", err)
	}
	defer h.Close()
	if h.Kind != "managed" || !h.Durable {
		t.Fatalf("handle %+v", h)
	}
	if v, err := h.Client.ConfigGet(context.Background(), "appendonly").Result(); err != nil || v["appendonly"] != "yes" {
		t.Fatalf("appendonly: %v %v", v, err)
	}
}
