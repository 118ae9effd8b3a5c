package speaker

import "context"

// KickForTest publishes an authenticated kick, as a node does when a device
// connects (epoch > 0) or is revoked (epoch 0).
func (h *Hub) KickForTest(ctx context.Context, dev string, epoch uint64) error {
	return h.kick(ctx, dev, epoch)
}
