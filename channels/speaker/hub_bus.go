package speaker

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// Disconnect closes a device's connection on whatever node holds it; call it
// after revoking the device's credential.
func (h *Hub) Disconnect(ctx context.Context, deviceID string) error {
	// A connection here is closed at once, whether or not Redis carries
	// the kick to the other nodes (revalidate covers a kick lost there).
	h.mu.RLock()
	c := h.conns[deviceID]
	h.mu.RUnlock()
	if c != nil {
		c.revoked.Store(true)
		c.close(websocket.ClosePolicyViolation, "connected elsewhere or revoked")
	}
	return h.kick(ctx, deviceID, 0)
}

// revalidate closes the connections of devices the store no longer knows
// or has revoked: a revocation whose kick was lost (Redis unreachable when
// it was published) takes effect within ResyncInterval, and Send, which
// trusts connected devices (lookup), never holds a command for one longer.
func (h *Hub) revalidate(ctx context.Context) error {
	h.mu.RLock()
	conns := make(map[string]*conn, len(h.conns))
	for id, c := range h.conns {
		conns[id] = c
	}
	h.mu.RUnlock()
	if len(conns) == 0 {
		return nil
	}
	ids := make([]string, 0, len(conns))
	for id := range conns {
		ids = append(ids, id)
	}
	var devs map[string]Device
	if bs, ok := h.cfg.Devices.(BatchDeviceStore); ok {
		var err error
		if devs, err = bs.Devices(ctx, ids); err != nil {
			return err
		}
	} else {
		devs = make(map[string]Device, len(ids))
		for _, id := range ids {
			d, err := h.cfg.Devices.Device(ctx, id)
			if errors.Is(err, ErrUnknownDevice) {
				continue
			}
			if err != nil {
				return err
			}
			devs[id] = d
		}
	}
	for id, c := range conns {
		if d, ok := devs[id]; !ok || d.Revoked {
			c.revoked.Store(true)
			h.log.Warn("speaker: closing the connection of a revoked or unknown device", "device", id)
			c.close(websocket.ClosePolicyViolation, "connected elsewhere or revoked")
		}
	}
	return nil
}

// kick asks every node to close the device's connections older than epoch
// (0: all of them). The kick carries a MAC and the time, so a kick forged or
// replayed from Redis closes nothing.
func (h *Hub) kick(ctx context.Context, dev string, epoch uint64) error {
	at := h.cfg.Now().UnixMilli()
	msg, _ := json.Marshal(busMsg{Kind: "kick", Devices: []string{dev}, Macs: []string{h.mac.kick(dev, epoch, at)},
		Epoch: epoch, At: at})
	return h.cfg.Redis.Publish(ctx, h.keys.bus(), msg).Err()
}

// ---- bus -------------------------------------------------------------------

func (h *Hub) subscribe() {
	defer h.bgWG.Done()
	ch := h.pubsub.Channel(redis.WithChannelSize(1024))
	for {
		select {
		case <-h.ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			var b busMsg
			if err := json.Unmarshal([]byte(msg.Payload), &b); err != nil {
				h.log.Warn("speaker: malformed bus message", "err", err)
				continue
			}
			if len(b.Macs) != len(b.Devices) {
				h.refused("bus", "", b.Field, "", "devices and MACs differ in number")
				continue
			}
			switch b.Kind {
			case "cmd":
				hd, err := decodeHeld(b.Field, b.Value)
				if err != nil {
					h.refused("bus", "", b.Field, "", "malformed")
					continue
				}
				digest := heldDigest(hd.id, hd.until, hd.created, hd.version, hd.body)
				var targets []*conn
				h.mu.RLock()
				for i, d := range b.Devices {
					if c := h.conns[d]; c != nil {
						hd.mac = b.Macs[i]
						if c.admit(hd, &digest) {
							targets = append(targets, c)
						}
					}
				}
				h.mu.RUnlock()
				// One signature for every device here that the command's
				// MACs admitted; what is signed is the body they bind.
				devs := make([]string, 0, len(targets))
				for _, c := range targets {
					if c.broadcast {
						devs = append(devs, c.dev)
					}
				}
				hd.mac, hd.bc = "", h.signBroadcast(devs, hd.body)
				if hd.bc != nil {
					hd.bc.id, hd.bc.created, hd.bc.issued = hd.id, time.UnixMilli(hd.created), h.issuedAt(hd.id)
				}
				for _, c := range targets {
					if c.broadcast {
						c.enqueue(hd)
					} else {
						perDevice := hd
						perDevice.bc = nil
						c.enqueue(perDevice)
					}
				}
			case "kick":
				now := h.cfg.Now().UnixMilli()
				for i, d := range b.Devices {
					if !h.mac.verifyKick(d, b.Epoch, b.At, b.Macs[i]) {
						h.refused("kick", d, "", "", "bad MAC")
						continue
					}
					if age := time.Duration(now-b.At) * time.Millisecond; age > maxKickAge || age < -maxKickAge {
						h.refused("kick", d, "", "", "stale ("+age.String()+" old)")
						continue
					}
					h.mu.RLock()
					c := h.conns[d]
					h.mu.RUnlock()
					// Epochs rise with every connection of a device, so a
					// kick that arrives late (after its sender was itself
					// replaced) cannot close a newer connection.
					if c != nil && (b.Epoch == 0 || c.epoch < b.Epoch) {
						c.close(websocket.ClosePolicyViolation, "connected elsewhere or revoked")
					}
				}
			default:
				h.refused("bus", "", "", "", "unknown kind")
			}
		}
	}
}

// resyncLoop re-offers held commands to connected devices, so a pub/sub
// message lost while Redis reconnected is delivered within ResyncInterval.
func (h *Hub) resyncLoop() {
	defer h.bgWG.Done()
	t := time.NewTicker(h.cfg.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
			if err := h.revalidate(h.ctx); err != nil && h.ctx.Err() == nil {
				h.log.Warn("speaker: revalidate connected devices", "err", err)
			}
			if err := h.resync(h.ctx); err != nil && h.ctx.Err() == nil {
				h.log.Warn("speaker: resync", "err", err)
			}
		}
	}
}

func (h *Hub) resync(ctx context.Context) error {
	h.mu.RLock()
	conns := make([]*conn, 0, len(h.conns))
	for _, c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.RUnlock()
	for start := 0; start < len(conns); start += 500 {
		batch := conns[start:min(start+500, len(conns))]
		pipe := h.cfg.Redis.Pipeline()
		lens := make([]*redis.IntCmd, len(batch))
		for i, c := range batch {
			lens[i] = pipe.HLen(ctx, h.keys.hold(c.dev))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		now := h.cfg.Now()
		for i, c := range batch {
			if lens[i].Val() == 0 {
				continue
			}
			hs, err := loadHeld(ctx, h.cfg.Redis, h.keys, c.dev, now)
			if err != nil {
				return err
			}
			for _, hd := range hs {
				c.offer(hd, nil)
			}
		}
	}
	return nil
}

// ---- writers ---------------------------------------------------------------
