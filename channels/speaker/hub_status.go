package speaker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/speaker/wire"
)

func (h *Hub) schedule(c *conn) {
	select {
	case h.writeq <- c:
	case <-h.ctx.Done():
	}
}

func (h *Hub) writer() {
	defer h.bgWG.Done()
	for {
		select {
		case <-h.ctx.Done():
			return
		case c := <-h.writeq:
			c.drain()
		}
	}
}

// ---- acknowledgements ------------------------------------------------------

// ack removes an acknowledged command from the device's hold. Acks are
// batched into pipelines: after a county-wide warning 5,000 speakers answer
// within a second, and one round trip per answer would cost more than the
// answers themselves.
func (h *Hub) ack(dev, field, id string) {
	select {
	case h.acks <- ackReq{dev, field, id}:
	default:
		// Queue full: acknowledge inline rather than drop it.
		ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
		defer cancel()
		if err := ackScript.Run(ctx, h.cfg.Redis, []string{h.keys.hold(dev), h.keys.acked(dev)}, field, id).Err(); err != nil && h.ctx.Err() == nil {
			h.log.Warn("speaker: acknowledge held command", "device", dev, "id", id, "err", err)
		}
	}
}

func (h *Hub) ackLoop() {
	defer h.bgWG.Done()
	batch := make([]ackReq, 0, 512)
	for {
		batch = batch[:0]
		select {
		case <-h.ctx.Done():
			return
		case a := <-h.acks:
			batch = append(batch, a)
		}
	fill:
		for len(batch) < cap(batch) {
			select {
			case a := <-h.acks:
				batch = append(batch, a)
			default:
				break fill
			}
		}
		ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
		pipe := h.cfg.Redis.Pipeline()
		for _, a := range batch {
			ackScript.EvalSha(ctx, pipe, []string{h.keys.hold(a.dev), h.keys.acked(a.dev)}, a.field, a.id)
		}
		_, err := pipe.Exec(ctx)
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			_ = ackScript.Load(ctx, h.cfg.Redis).Err()
			pipe = h.cfg.Redis.Pipeline()
			for _, a := range batch {
				ackScript.EvalSha(ctx, pipe, []string{h.keys.hold(a.dev), h.keys.acked(a.dev)}, a.field, a.id)
			}
			_, err = pipe.Exec(ctx)
		}
		cancel()
		if err != nil && h.ctx.Err() == nil {
			// Unacknowledged commands are offered again on reconnect or at
			// resync; the agent answers "duplicate" and plays nothing.
			h.log.Warn("speaker: acknowledge held commands", "n", len(batch), "err", err)
		}
	}
}

// ---- status ----------------------------------------------------------------

func (h *Hub) markDirty(c *conn) {
	h.statusMu.Lock()
	h.statusDirty[c.dev] = c
	h.statusMu.Unlock()
}

// owns reports whether c is this node's current connection of its device.
func (h *Hub) owns(c *conn) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.conns[c.dev] == c
}

func (h *Hub) statusLoop() {
	defer h.bgWG.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
			h.flushStatus(h.ctx)
		}
	}
}

// flushStatus writes heartbeat state of every device that changed since the
// last flush in one pipeline: 5,000 speakers beating every 20 s cost one
// round trip a second, not 250.
func (h *Hub) flushStatus(ctx context.Context) {
	h.statusMu.Lock()
	dirty := h.statusDirty
	h.statusDirty = map[string]*conn{}
	h.statusMu.Unlock()
	h.writeStatus(ctx, dirty)
}

func (h *Hub) writeStatus(ctx context.Context, dirty map[string]*conn) {
	if len(dirty) == 0 {
		return
	}
	pipe := h.cfg.Redis.Pipeline()
	for dev, c := range dirty {
		st := c.status()
		if c.isClosed() || !h.owns(c) {
			// offlineScript already ran, or will: a connection the device
			// has replaced must not write "online, conn=old" over the new
			// one's status, or the old one's offline mark would then hide
			// a connected device until its next heartbeat.
			continue
		}
		pipe.HSet(ctx, h.keys.status(dev), "node", h.cfg.NodeID, "conn", c.id, "online", "1",
			"state", st.State.String(), "volume", st.Volume, "firmware", st.Firmware, "signal", st.Signal,
			"playing", st.Playing, "village", c.village, "last_seen", st.LastSeen.UnixMilli())
		pipe.ZAdd(ctx, h.keys.seen(), redis.Z{Score: float64(st.LastSeen.UnixMilli()), Member: dev})
	}
	if _, err := pipe.Exec(ctx); err != nil && ctx.Err() == nil {
		h.log.Warn("speaker: write device status", "err", err)
	}
}

// Status returns every device that has ever connected, with its last known
// state, across all nodes. A device is online when its connection is open
// and it was heard from within HeartbeatTimeout. Enrolled devices that never
// connected are not listed (the enrolment store knows them).
func (h *Hub) Status(ctx context.Context) ([]DeviceStatus, error) {
	ids, err := h.cfg.Redis.ZRange(ctx, h.keys.seen(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("speaker status: %w", err)
	}
	out := make([]DeviceStatus, 0, len(ids))
	now := h.cfg.Now()
	for start := 0; start < len(ids); start += 500 {
		batch := ids[start:min(start+500, len(ids))]
		pipe := h.cfg.Redis.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(batch))
		for i, id := range batch {
			cmds[i] = pipe.HGetAll(ctx, h.keys.status(id))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("speaker status: %w", err)
		}
		for i, id := range batch {
			v := cmds[i].Val()
			if len(v) == 0 {
				continue
			}
			st := DeviceStatus{ID: id, Village: v["village"], Firmware: v["firmware"], Playing: v["playing"], Node: v["node"]}
			st.State, _ = wire.ParseDeviceState(v["state"])
			st.Volume, _ = strconv.Atoi(v["volume"])
			st.Signal, _ = strconv.Atoi(v["signal"])
			ms, _ := strconv.ParseInt(v["last_seen"], 10, 64)
			st.LastSeen = time.UnixMilli(ms)
			st.Online = v["online"] == "1" && now.Sub(st.LastSeen) <= h.cfg.HeartbeatTimeout
			out = append(out, st)
		}
	}
	return out, nil
}

func (h *Hub) isClosed() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closed
}

// report forwards a device's report as a Receipt.
func (h *Hub) report(dev string, f wire.AgentFrame, key string) {
	h.m.reports.WithLabelValues(f.Step).Inc()
	if key == "" {
		return // volume changes and unknown commands are not deliveries
	}
	r := channels.Receipt{Channel: Name, Key: key, RecipientID: dev, Ref: dev, At: h.cfg.Now()}
	if !f.At.IsZero() && f.At.Before(r.At.Add(h.cfg.FreshnessWindow)) && f.At.After(r.At.Add(-24*time.Hour)) {
		r.At = f.At // the device's time: reports queued while offline keep when they happened
	}
	switch f.Step {
	case wire.StepReceived, wire.StepDownloading, wire.StepPlaying, wire.StepJoined:
		r.State, r.Detail = channels.StateSent, f.Step
	case wire.StepPlayed, wire.StepStopped, wire.StepLeft:
		r.State, r.Detail = channels.StateDelivered, f.Step
	case wire.StepRefused, wire.StepFailed:
		r.State, r.Detail = channels.StateFailed, f.Step+": "+f.Reason
	case wire.StepRevoked:
		r.State, r.Detail = channels.StateRevoked, f.Step+": "+f.Reason
	case wire.StepExpired:
		r.State, r.Detail = channels.StateExpired, f.Step
	default:
		return
	}
	h.cfg.Reporter.Report(h.ctx, r)
}

// Connected is the number of devices connected to this node.
func (h *Hub) Connected() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.conns)
}

// CountOffline returns how many of ids are offline, as Status would show
// them, without reading every device's status: devices connected to this
// node are answered from memory, the others with two status fields each
// from Redis. The console's progress asks this once a second while a
// warning goes out; reading the whole fleet's status for it cost Redis and
// the node more than the warning itself.
func (h *Hub) CountOffline(ctx context.Context, ids []string) (int, error) {
	now := h.cfg.Now()
	var remote []string
	h.mu.RLock()
	for _, id := range ids {
		if c := h.conns[id]; c != nil {
			if st := c.status(); !c.isClosed() && now.Sub(st.LastSeen) <= h.cfg.HeartbeatTimeout {
				continue
			}
		}
		remote = append(remote, id)
	}
	h.mu.RUnlock()
	n := 0
	for start := 0; start < len(remote); start += 500 {
		batch := remote[start:min(start+500, len(remote))]
		pipe := h.cfg.Redis.Pipeline()
		cmds := make([]*redis.SliceCmd, len(batch))
		for i, id := range batch {
			cmds[i] = pipe.HMGet(ctx, h.keys.status(id), "online", "last_seen")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return 0, fmt.Errorf("speaker status: %w", err)
		}
		for _, c := range cmds {
			v := c.Val()
			online := false
			if len(v) == 2 && v[0] == "1" {
				if s, ok := v[1].(string); ok {
					ms, err := strconv.ParseInt(s, 10, 64)
					online = err == nil && now.Sub(time.UnixMilli(ms)) <= h.cfg.HeartbeatTimeout
				}
			}
			if !online {
				n++
			}
		}
	}
	return n, nil
}
