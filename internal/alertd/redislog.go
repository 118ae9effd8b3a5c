package alertd

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// go-redis reports what it does on its own — a pool that cannot dial, a
// Sentinel naming a new master — through one process-wide logger that
// writes to stderr. While Redis is down that is several identical lines
// every second per client. alertd passes these messages to its own log
// instead, as warnings, and writes each kind (its format string) at most
// once per redisLogEvery, with the count of those held back.

const redisLogEvery = 10 * time.Second

var redisLogs = &redisLogger{seen: map[string]*redisLogKind{}, now: time.Now}

// useRedisLogger makes log the destination of go-redis's messages: the
// logger of the alertd started last in this process.
func useRedisLogger(log *slog.Logger) {
	redisLogs.log.Store(log)
	redisLogs.once.Do(func() { redis.SetLogger(redisLogs) })
}

type redisLogger struct {
	once sync.Once
	log  atomic.Pointer[slog.Logger]
	now  func() time.Time

	mu   sync.Mutex
	seen map[string]*redisLogKind
}

type redisLogKind struct {
	at   time.Time // when a line of this kind was last written
	held int       // lines not written since
}

// Printf implements go-redis's internal.Logging.
func (l *redisLogger) Printf(ctx context.Context, format string, v ...any) {
	log := l.log.Load()
	if log == nil {
		return
	}
	now := l.now()
	l.mu.Lock()
	k := l.seen[format]
	if k == nil {
		if len(l.seen) > 1000 { // formats are constants in go-redis; bound it anyway
			clear(l.seen)
		}
		k = &redisLogKind{}
		l.seen[format] = k
	} else if now.Sub(k.at) < redisLogEvery {
		k.held++
		l.mu.Unlock()
		return
	}
	held := k.held
	k.at, k.held = now, 0
	l.mu.Unlock()
	attrs := []any{"component", "go-redis"}
	if held > 0 {
		attrs = append(attrs, "held_back", held, "held_back_over", redisLogEvery.String())
	}
	log.WarnContext(ctx, fmt.Sprintf(format, v...), attrs...)
}
