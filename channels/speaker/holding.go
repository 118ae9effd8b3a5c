package speaker

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Holding reports which of ids have at least one unacknowledged command
// held for them in Redis: loudspeakers that were sent something they have
// not confirmed (typically offline ones that will get it on reconnecting).
// It is for monitoring, not delivery: one pipelined EXISTS per 1,000 ids.
func (h *Hub) Holding(ctx context.Context, ids []string) (map[string]bool, error) {
	out := make(map[string]bool)
	for start := 0; start < len(ids); start += 1000 {
		batch := ids[start:min(start+1000, len(ids))]
		pipe := h.cfg.Redis.Pipeline()
		cmds := make([]*redis.IntCmd, len(batch))
		for i, id := range batch {
			cmds[i] = pipe.Exists(ctx, h.keys.hold(id))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("speaker holding: %w", err)
		}
		for i, id := range batch {
			if cmds[i].Val() > 0 {
				out[id] = true
			}
		}
	}
	return out, nil
}
