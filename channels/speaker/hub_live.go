package speaker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/channels/speaker/wire"
)

// DeviceLive is what the hub knows of one device right now, across all nodes.
type DeviceLive struct {
	// Seen: the device has connected at least once (its status was
	// written). A device never seen has the zero DeviceLive.
	Seen     bool
	Online   bool // connected and heard from within HeartbeatTimeout, as Status says
	State    wire.DeviceState
	Firmware string
	LastSeen time.Time
	// Held: at least one command waits unacknowledged for it (Holding).
	Held bool
}

// LiveStatus returns the state of the devices named, for the fleet page: a few
// status fields and the hold's existence of each, in one pipeline per
// 1,000 devices, so a page of 100 costs one round trip and the census of a
// 40,000-speaker fleet forty, without reading whole status hashes as
// Status does. Devices that never connected are absent from the map.
func (h *Hub) LiveStatus(ctx context.Context, ids []string) (map[string]DeviceLive, error) {
	out := make(map[string]DeviceLive, len(ids))
	now := h.cfg.Now()
	for start := 0; start < len(ids); start += 1000 {
		batch := ids[start:min(start+1000, len(ids))]
		pipe := h.cfg.Redis.Pipeline()
		st := make([]*redis.SliceCmd, len(batch))
		held := make([]*redis.IntCmd, len(batch))
		for i, id := range batch {
			st[i] = pipe.HMGet(ctx, h.keys.status(id), "online", "last_seen", "state", "firmware")
			held[i] = pipe.Exists(ctx, h.keys.hold(id))
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return nil, fmt.Errorf("speaker live status: %w", err)
		}
		for i, id := range batch {
			var l DeviceLive
			v := st[i].Val()
			if len(v) == 4 {
				if s, ok := v[1].(string); ok {
					if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
						l.Seen, l.LastSeen = true, time.UnixMilli(ms)
					}
				}
				on, _ := v[0].(string)
				l.Online = l.Seen && on == "1" && now.Sub(l.LastSeen) <= h.cfg.HeartbeatTimeout
				if s, ok := v[2].(string); ok {
					l.State, _ = wire.ParseDeviceState(s)
				}
				l.Firmware, _ = v[3].(string)
			}
			l.Held = held[i].Val() > 0
			if l.Seen || l.Held {
				out[id] = l
			}
		}
	}
	return out, nil
}
