package alertd

import (
	"context"

	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/dispatch/api"
)

// speakersLive serves the fleet page the hub's live state of the devices
// named (from Redis: every node's devices, not only this node's).
func speakersLive(hub *speaker.Hub) func(ctx context.Context, ids []string) (map[string]api.SpeakerLive, error) {
	return func(ctx context.Context, ids []string) (map[string]api.SpeakerLive, error) {
		m, err := hub.LiveStatus(ctx, ids)
		if err != nil {
			return nil, err
		}
		out := make(map[string]api.SpeakerLive, len(m))
		for id, l := range m {
			out[id] = api.SpeakerLive{Seen: l.Seen, Online: l.Online, State: l.State.String(), Firmware: l.Firmware,
				LastSeen: l.LastSeen, Held: l.Held}
		}
		return out, nil
	}
}
