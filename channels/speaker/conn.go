package speaker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/alertcast/alertcast/channels/speaker/wire"
)

// ErrRevoked is returned for a device whose credential was revoked.
var ErrRevoked = errors.New("speaker device revoked")

// seqBits is how many low bits of a sequence number count commands within
// one connection; the high bits are the connection's epoch from Redis.
const seqBits = 20

// conn is one device's connection on this node. Its memory is what the
// 20 KB-per-speaker budget is about: the handler goroutine's stack, the
// reused HTTP read buffer and these fields; write buffers are pooled.
type conn struct {
	h       *Hub
	dev     string
	village string
	id      string
	ws      *websocket.Conn
	// broadcast: the agent named wire.FeatureBroadcast when it connected;
	// older agents get every command signed for them alone.
	broadcast bool
	// revoked: the device's credential was revoked (Disconnect,
	// revalidate) and this connection is closing; Send no longer takes it
	// for an enrolled device.
	revoked atomic.Bool

	wmu     sync.Mutex // serialises socket writes and sequence numbers
	epoch   uint64
	counter uint64

	mu        sync.Mutex
	pending   []held
	scheduled bool
	closed    bool
	delivered map[string]deliveredCmd // command id → hold field, written on this connection
	recent    [8]sentSeq              // last commands written, to name refusals by seq
	recentN   int
	st        DeviceStatus
}

type deliveredCmd struct{ field, key string }

type sentSeq struct {
	seq       uint64
	id, field string
	key       string
	retry     *held // written as a broadcast: sign this for the device alone if it is refused
	acked     bool  // its hold was acknowledged by a final report on this connection
}

// Handler serves the agents' WebSocket endpoint (mount at /speaker/ws).
func (h *Hub) Handler() http.Handler { return http.HandlerFunc(h.serveWS) }

func (h *Hub) serveWS(w http.ResponseWriter, r *http.Request) {
	dev := r.Header.Get(wire.HeaderDevice)
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if v := r.Header.Get(wire.HeaderVersion); v != wire.ProtocolVersion {
		h.m.authFail.WithLabelValues("protocol").Inc()
		http.Error(w, "unsupported speaker protocol "+strconv.Quote(wire.Trunc(v))+"; want "+wire.ProtocolVersion, http.StatusBadRequest)
		return
	}
	if dev == "" || !ok || secret == "" || wire.CheckID(wire.HeaderDevice, dev) != nil {
		h.m.authFail.WithLabelValues("missing").Inc()
		http.Error(w, "device id and credential required", http.StatusUnauthorized)
		return
	}
	d, err := h.cfg.Devices.Device(r.Context(), dev)
	switch {
	case errors.Is(err, ErrUnknownDevice):
		h.m.authFail.WithLabelValues("unknown").Inc()
		http.Error(w, "unknown device or bad credential", http.StatusUnauthorized)
		return
	case err != nil:
		h.log.Error("speaker: device store", "device", dev, "err", err)
		http.Error(w, "device store unavailable", http.StatusServiceUnavailable)
		return
	case !credentialMatches(secret, d.CredentialHash):
		h.m.authFail.WithLabelValues("credential").Inc()
		h.log.Warn("speaker: bad credential", "device", dev, "remote", r.RemoteAddr)
		http.Error(w, "unknown device or bad credential", http.StatusUnauthorized)
		return
	case d.Revoked:
		h.m.authFail.WithLabelValues("revoked").Inc()
		http.Error(w, "device revoked", http.StatusForbidden)
		return
	}
	// Register with the WaitGroup before upgrading so Close waits for us.
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	h.connWG.Add(1)
	h.mu.Unlock()

	ws, err := h.up.Upgrade(w, r, nil)
	if err != nil {
		h.connWG.Done()
		return // Upgrade already answered
	}
	c := &conn{h: h, dev: dev, village: d.Village, ws: ws,
		id:        h.cfg.NodeID + "/" + strconv.FormatUint(h.connSeq.Add(1), 36),
		broadcast: hasFeature(r.Header.Get(wire.HeaderFeatures), wire.FeatureBroadcast)}
	c.st = DeviceStatus{ID: dev, Village: d.Village, State: wire.StateNormal, LastSeen: h.cfg.Now()}
	// Serve on a fresh goroutine and let net/http's handler return: the
	// server then drops its per-connection request, response and write
	// buffers, and the connection costs only this small goroutine, the
	// socket and a 512-byte read buffer (the 20 KB-per-speaker budget).
	go func() {
		defer h.connWG.Done()
		c.run()
	}()
}

func (c *conn) run() {
	h := c.h
	defer c.ws.Close()
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	var epoch uint64
	res, err := epochScript.Run(ctx, h.cfg.Redis, []string{h.keys.epoch(c.dev)}, h.cfg.Now().Unix(), maxEpochLead).Int64Slice()
	if err == nil && (len(res) != 2 || res[0] <= 0) {
		err = fmt.Errorf("epoch script answered %v", res)
	}
	if err == nil {
		epoch = uint64(res[0])
		if res[1] == 1 {
			h.refused("epoch", c.dev, "", "", "epoch far ahead of the clock or not a number; restarted from the clock")
		}
	}
	cancel()
	if err != nil {
		h.log.Error("speaker: sequence epoch", "device", c.dev, "err", err)
		c.close(websocket.CloseTryAgainLater, "platform storage unavailable")
		return
	}
	c.epoch = epoch

	// Register, replacing an older connection of the same device here, and
	// tell other nodes to drop theirs.
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	old := h.conns[c.dev]
	h.conns[c.dev] = c
	h.mu.Unlock()
	if old != nil {
		old.close(websocket.ClosePolicyViolation, "connected again")
	}
	h.m.connected.Inc()
	defer c.unregister()
	ctx, cancel = context.WithTimeout(h.ctx, 10*time.Second)
	_ = h.kick(ctx, c.dev, c.epoch)
	// Online at once across nodes; heartbeats are batched after this.
	h.writeStatus(ctx, map[string]*conn{c.dev: c})

	welcome, _ := json.Marshal(wire.HubFrame{Type: wire.FrameWelcome, Device: c.dev, Time: h.cfg.Now().UTC(),
		Freshness: h.cfg.FreshnessWindow.String()})
	if err := c.write(welcome); err != nil {
		cancel()
		return
	}
	// Held commands go after registration: anything announced from now on
	// reaches us through the bus, anything earlier is in the hash.
	hs, err := loadHeld(ctx, h.cfg.Redis, h.keys, c.dev, h.cfg.Now())
	cancel()
	if err != nil {
		h.log.Warn("speaker: load held commands; retrying at resync", "device", c.dev, "err", err)
	}
	for _, hd := range hs {
		c.offer(hd, nil)
	}
	h.log.Debug("speaker: connected", "device", c.dev, "conn", c.id, "held", len(hs))
	c.readLoop()
}

func (c *conn) unregister() {
	h := c.h
	c.close(websocket.CloseNormalClosure, "")
	h.mu.Lock()
	if h.conns[c.dev] == c {
		delete(h.conns, c.dev)
	}
	h.mu.Unlock()
	h.m.connected.Dec()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := offlineScript.Run(ctx, h.cfg.Redis, []string{h.keys.status(c.dev)}, c.id, h.cfg.Now().UnixMilli()).Err(); err != nil {
		h.log.Warn("speaker: mark offline", "device", c.dev, "err", err)
	}
	h.log.Debug("speaker: disconnected", "device", c.dev, "conn", c.id)
}

func (c *conn) readLoop() {
	h := c.h
	c.ws.SetReadLimit(int64(h.cfg.MaxFrame))
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(h.cfg.HeartbeatTimeout))
		mt, b, err := c.ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				h.m.rejected.WithLabelValues("oversized").Inc()
				h.log.Warn("speaker: oversized frame; closing", "device", c.dev, "limit", h.cfg.MaxFrame)
				c.close(websocket.CloseMessageTooBig, "frame too large")
			}
			return
		}
		if mt != websocket.TextMessage {
			h.m.rejected.WithLabelValues("binary").Inc()
			c.close(websocket.CloseUnsupportedData, "text frames only")
			return
		}
		f, err := wire.ParseAgentFrame(b)
		if err != nil {
			h.m.rejected.WithLabelValues("malformed").Inc()
			h.log.Warn("speaker: malformed frame; closing", "device", c.dev, "err", err)
			c.close(websocket.CloseInvalidFramePayloadData, wire.Trunc(err.Error()))
			return
		}
		switch f.Type {
		case wire.FrameHeartbeat:
			c.mu.Lock()
			c.st.State, c.st.Volume, c.st.Firmware, c.st.Signal, c.st.Playing = f.State, f.Volume, f.Firmware, f.Signal, f.Playing
			c.st.LastSeen = h.cfg.Now()
			c.mu.Unlock()
			h.markDirty(c)
			ack, _ := json.Marshal(wire.HubFrame{Type: wire.FrameHBAck, Time: h.cfg.Now().UTC()})
			if err := c.write(ack); err != nil {
				return
			}
		case wire.FrameReport:
			c.onReport(f)
		}
	}
}

// onReport resolves which command a report is about, acknowledges it in
// the hold and forwards it as a receipt.
func (c *conn) onReport(f wire.AgentFrame) {
	h := c.h
	c.mu.Lock()
	c.st.LastSeen = h.cfg.Now()
	var field, id, key string
	var retry *held
	if f.ID != "" {
		id = f.ID
		if d, ok := c.delivered[f.ID]; ok {
			field, key = d.field, d.key
		}
	}
	if f.Seq != 0 && (id == "" || field == "") {
		for i, s := range c.recent {
			if s.seq == f.Seq {
				id, field, key = s.id, s.field, s.key
				if f.ID == "" && f.Step == wire.StepRefused {
					retry = s.retry
					c.recent[i].retry = nil
				}
				break
			}
		}
	}
	if retry != nil {
		// The device could not verify the broadcast (it accepted a later
		// one from another node first, or its clock moved): the command
		// goes again, signed for this device alone and fresh. Nothing is
		// acknowledged or reported for the broadcast copy; a refusal of
		// the per-device copy is final.
		delete(c.delivered, id)
		c.mu.Unlock()
		h.m.reports.WithLabelValues("broadcast_refused").Inc()
		h.log.Info("speaker: device refused a broadcast; signing for it alone", "device", c.dev, "seq", f.Seq, "id", id, "reason", f.Reason)
		c.enqueue(*retry)
		return
	}
	final := f.Step != wire.StepDownloading && f.Step != wire.StepPlaying
	// "playing" acknowledges the hold as "received" does: an agent that
	// starts a programme at once sends "playing" without the "received"
	// before it (agent.writeLoop).
	acks := final || f.Step == wire.StepPlaying
	ack := acks && field != ""
	if acks && id != "" {
		if final {
			delete(c.delivered, id)
		}
		// "received" (or "playing") acknowledges the hold; the "played"
		// that follows would only repeat it (one Redis script call per
		// speaker per warning saved). A hold written again since (resync,
		// a reconnect) is a new recent entry and acknowledged again.
		var last *sentSeq // the latest write of this command here (newest first)
		for k := 1; k <= min(c.recentN, len(c.recent)); k++ {
			if s := &c.recent[(c.recentN-k)%len(c.recent)]; s.id == id && s.field == field {
				last = s
				break
			}
		}
		if last != nil {
			ack = ack && !last.acked
			last.acked = true
			last.retry = nil // the device took it: no fallback will be needed
		}
	}
	c.mu.Unlock()
	if key == "" {
		// A report about a command written on an earlier connection (the
		// device kept playing offline): the device names the key itself.
		key = f.Key
	}
	if ack {
		h.ack(c.dev, field, id)
	}
	if f.Step == wire.StepRefused {
		h.log.Warn("speaker: device refused a command", "device", c.dev, "seq", f.Seq, "id", id, "reason", f.Reason)
	}
	if f.Step == wire.StepReceived && f.Reason == "duplicate" {
		h.m.reports.WithLabelValues("duplicate").Inc()
		return // already received once; the receipt was reported then
	}
	h.report(c.dev, f, key)
}

// offer queues hd for this connection if it carries the platform's MAC for
// this device (digest, when not nil, is hd's heldDigest, computed once for a
// bus message to many devices). Anything else is refused, counted, logged
// and, when it came from the device's hold, removed from Redis: it never
// reaches the signer, nor the dedup state a genuine command relies on.
func (c *conn) offer(hd held, digest *[32]byte) {
	if c.admit(hd, digest) {
		c.enqueue(hd)
	}
}

// admit reports whether hd carries the platform's MAC for this device; what
// does not is refused as offer describes.
func (c *conn) admit(hd held, digest *[32]byte) bool {
	h := c.h
	if digest == nil {
		d := heldDigest(hd.id, hd.until, hd.created, hd.version, hd.body)
		digest = &d
	}
	if !h.mac.verifyHold(c.dev, &hd, digest) {
		source := "bus"
		if hd.raw != "" {
			source = "hold"
		}
		h.refused(source, c.dev, hd.field, hd.id, "bad MAC")
		if hd.raw != "" {
			// Read from the hold (connect, resync): no lock is held here.
			h.drop(c.dev, hd.field, hd.raw)
		}
		return false
	}
	return true
}

// enqueue queues a held command for this connection unless the same command
// was already written on it.
func (c *conn) enqueue(hd held) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if d, ok := c.delivered[hd.id]; ok && d.field == hd.field {
		c.mu.Unlock()
		return
	}
	for _, p := range c.pending {
		if p.id == hd.id {
			c.mu.Unlock()
			return
		}
	}
	c.pending = append(c.pending, hd)
	sched := !c.scheduled
	c.scheduled = true
	c.mu.Unlock()
	if sched {
		c.h.schedule(c)
	}
}

// drain signs and writes everything pending; called by one writer at a time.
func (c *conn) drain() {
	for {
		c.mu.Lock()
		items := c.pending
		c.pending = nil
		if len(items) == 0 || c.closed {
			c.scheduled = false
			c.pending = nil
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		for _, hd := range items {
			if err := c.send(hd); err != nil {
				c.close(websocket.CloseGoingAway, "write failed")
				return
			}
		}
	}
}

// send signs one held command with the next sequence number and writes it.
// Signing happens at write time, so a command held for hours still arrives
// fresh, and sequence numbers reach the socket in order.
func (c *conn) send(hd held) error {
	h := c.h
	now := h.cfg.Now()
	if !hd.until.After(now) {
		return nil
	}
	key := ""
	if strings.HasPrefix(hd.id, "play:") || strings.HasPrefix(hd.id, "stop:") || strings.HasPrefix(hd.id, "live:") {
		key = hd.id[5:]
		if hd.id[:5] == "live:" {
			key = hd.id
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var (
		seq   uint64
		frame []byte
		retry *held // a broadcast: what to sign for this device alone if it refuses
	)
	if hd.bc != nil && now.Sub(hd.bc.at) < broadcastMaxAge {
		if f, ok := hd.bc.frame(c.dev); ok {
			seq, frame = hd.bc.seq, f
			r := hd
			r.bc = nil
			retry = &r
		}
	}
	if frame == nil {
		c.counter++
		if c.counter >= 1<<seqBits {
			return errors.New("sequence space of this connection exhausted")
		}
		seq = c.epoch<<seqBits | c.counter
		sc := wire.Sign(h.cfg.Key, c.dev, seq, now, hd.body)
		h.m.signatures.WithLabelValues("device").Inc()
		var err error
		if frame, err = json.Marshal(wire.HubFrame{Type: wire.FrameCommand, Command: &sc}); err != nil {
			return err
		}
	}
	c.mu.Lock()
	if c.delivered == nil {
		c.delivered = make(map[string]deliveredCmd, 2)
	}
	c.delivered[hd.id] = deliveredCmd{field: hd.field, key: key}
	c.recent[c.recentN%len(c.recent)] = sentSeq{seq: seq, id: hd.id, field: hd.field, key: key, retry: retry}
	c.recentN++
	c.mu.Unlock()
	op := hd.id[:strings.IndexByte(hd.id+":", ':')]
	h.m.commands.WithLabelValues(op).Inc()
	if err := c.writeLocked(frame); err != nil {
		return err
	}
	t := time.Now()
	h.m.writeDelay.Observe(t.Sub(time.UnixMilli(hd.created)).Seconds())
	if retry != nil {
		hd.bc.written(h, t)
	}
	return nil
}

func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(b)
}

func (c *conn) writeLocked(b []byte) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.h.cfg.WriteTimeout))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// close sends a close frame (best effort) and closes the socket, which ends
// the read loop. Safe to call many times from any goroutine.
func (c *conn) close(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.pending = nil
	c.mu.Unlock()
	msg := websocket.FormatCloseMessage(code, reason)
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	_ = c.ws.Close()
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *conn) status() DeviceStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

// hasFeature reports whether the comma-separated list names f.
func hasFeature(list, f string) bool {
	for _, x := range strings.Split(list, ",") {
		if strings.TrimSpace(x) == f {
			return true
		}
	}
	return false
}
