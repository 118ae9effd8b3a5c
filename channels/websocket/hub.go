package websocket

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// Close codes sent to clients.
const (
	CloseSlow     = 4001 // too slow: reconnect and resume with last_id
	CloseAbusive  = 4002 // too many bad frames
	CloseRestart  = websocket.CloseServiceRestart
	closeTooLarge = websocket.CloseMessageTooBig
)

// Hub is the WebSocket/SSE channel. It implements channels.Channel and
// channels.Closer.
type Hub struct {
	cfg  Config
	log  *slog.Logger
	rdb  redis.UniversalClient
	cov  Coverage
	keys redisKeys
	met  *metrics
	ipl  *ipLimits
	up   websocket.Upgrader

	ctx    context.Context
	cancel context.CancelFunc
	loops  sync.WaitGroup // reader, progress, pinger
	conns  sync.WaitGroup // one per connection goroutine
	closed atomic.Bool
	once   sync.Once

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	scopes scopeIndex    // the same subscribers, once subscribed, by regions
	fanout []*subscriber // apply's list of recipients, reused

	partialWrites atomic.Int64      // frames the fan-out began and a writer finished
	active        map[string]*event // alert id → latest version, not lifted
	last          streamID          // last event applied on this node
	ring          []*event          // the last events applied, oldest first
	ringStart     streamID          // every event after ringStart is in ring
	bootstrapped  bool
	applied       chan struct{} // closed and replaced on every apply
	redisOK       bool

	guides guidanceCache // resident pages' per-village guidance answers
}

var (
	_ channels.Channel = (*Hub)(nil)
	_ channels.Closer  = (*Hub)(nil)
)

// NewHub starts a hub: it loads the active warnings from Redis and follows
// the event stream. If Redis is unreachable it keeps trying in the
// background; subscribers that connect meanwhile get their snapshot once it
// answers.
func NewHub(cfg Config) (*Hub, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	h := &Hub{
		cfg: c, log: c.Logger.With("channel", "websocket"), rdb: c.Redis, cov: c.Regions,
		keys: newRedisKeys(c.KeyPrefix, hex.EncodeToString(nonce[:])),
		ipl:  newIPLimits(c.MaxConnsPerIP, c.PublicRate, c.PublicBurst),
		subs: make(map[*subscriber]struct{}), scopes: make(scopeIndex), active: make(map[string]*event),
		applied: make(chan struct{}),
	}
	h.met, err = newMetrics(c.Registry)
	if err != nil {
		return nil, err
	}
	h.up = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// Small read buffer: clients only send small subscribe frames. The
		// hub writes its own frames (wire.go), never through gorilla's
		// write buffer (from a shared pool, so an unused one costs nothing).
		ReadBufferSize:  512,
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     h.checkOrigin,
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	bctx, cancel := context.WithTimeout(h.ctx, 3*time.Second)
	if err := h.bootstrap(bctx); err != nil {
		h.log.Warn("redis not reachable at start; will keep trying", "err", err)
	}
	cancel()
	h.loops.Add(3)
	go h.readLoop()
	go h.progressLoop()
	go h.pingLoop()
	return h, nil
}

// Name is "websocket".
func (h *Hub) Name() string { return "websocket" }

// Subscribers is the number of connected subscribers on this node.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Send publishes m to every node. Each recipient is a subscription scope:
// an empty Address means the message's own area, otherwise a region code
// that must exist. One publication serves all recipients; each gets a
// Result with StateDelivered and Detail "published to N local subscribers".
// A Redis failure fails the whole batch (transient): dispatch retries, and a
// retried version is published once (deduplicated by Message.Key).
func (h *Hub) Send(ctx context.Context, m *channels.Message, to []channels.Recipient) ([]channels.Result, error) {
	if h.closed.Load() {
		return nil, channels.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	results := make([]channels.Result, 0, len(to))
	var good []channels.Recipient
	for _, r := range to {
		if r.Address != "" && !h.knownRegion(r.Address) {
			results = append(results, channels.Result{RecipientID: r.ID, State: channels.StateFailed,
				Err: channels.Permanent(&warning.FieldError{Field: "recipient.address", Rule: "empty or a known region code", Value: clip(r.Address)})})
			continue
		}
		good = append(good, r)
	}
	if len(good) == 0 {
		return results, nil
	}
	if err := validateMessage(m); err != nil {
		for _, r := range good {
			results = append(results, channels.Result{RecipientID: r.ID, State: channels.StateFailed, Err: channels.Permanent(err)})
		}
		return results, nil
	}
	start := time.Now()
	id, outcome, err := h.publish(ctx, m)
	if err != nil {
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
		return results, fmt.Errorf("websocket: publish %s: %w", m.Key, err)
	}
	h.met.published.WithLabelValues(outcome).Inc()
	var detail string
	switch outcome {
	case "published":
		n, err := h.waitApplied(ctx, id)
		if err != nil {
			detail = "published as " + id.String() + " (local fan-out pending)"
		} else {
			detail = "published to " + strconv.Itoa(n) + " local subscribers"
		}
	case "duplicate":
		detail = "already published as " + id.String()
	default:
		detail = "not shown: a newer version of this warning was already published"
	}
	h.log.Info("warning published", "alert_id", m.AlertID, "version", m.Version, "kind", m.Kind.String(),
		"event_id", id.String(), "outcome", outcome, "took", time.Since(start))
	ref := ""
	if outcome != "stale" {
		ref = id.String()
	}
	for _, r := range good {
		results = append(results, channels.Result{RecipientID: r.ID, State: channels.StateDelivered, Ref: ref, Detail: detail})
	}
	return results, nil
}

func validateMessage(m *channels.Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if len(m.AlertID) > 128 {
		return &warning.FieldError{Field: "alert_id", Rule: "1..128 characters", Value: clip(m.AlertID)}
	}
	return nil
}

// waitApplied waits until this node's reader has applied id and returns how
// many local subscribers that event went to.
func (h *Hub) waitApplied(ctx context.Context, id streamID) (int, error) {
	timer := time.NewTimer(2 * time.Second)
	defer timer.Stop()
	for {
		h.mu.Lock()
		if !h.last.less(id) {
			n := 0
			if e := h.ringFind(id); e != nil {
				n = e.matched
			}
			h.mu.Unlock()
			return n, nil
		}
		ch := h.applied
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-timer.C:
			return 0, errors.New("timeout")
		case <-h.ctx.Done():
			return 0, channels.ErrClosed
		}
	}
}

// apply takes one event from the stream: it updates the active set, keeps
// it in the resume ring and hands it to every matching local subscriber.
// Only the reader goroutine calls it (and bootstrap, before it starts).
func (h *Hub) apply(e *event) {
	start := time.Now()
	h.mu.Lock()
	if !h.last.less(e.sid) {
		h.mu.Unlock()
		return
	}
	h.last = e.sid
	h.ring = append(h.ring, e)
	if max := h.ringCap(); len(h.ring) > max {
		h.ringStart = h.ring[0].sid
		copy(h.ring, h.ring[1:])
		h.ring[len(h.ring)-1] = nil
		h.ring = h.ring[:len(h.ring)-1]
	}
	h.setActive(e)
	matched := 0
	to := h.fanout[:0]
	h.scopes.matching(e, h.cov, func(s *subscriber) {
		matched++
		if !s.live || (!s.skipUpTo.zero() && !s.skipUpTo.less(e.sid)) {
			return
		}
		to = append(to, s)
	})
	e.matched = matched
	sent := deliver(e, to)
	clear(to) // hold no subscriber past its connection
	h.fanout = to[:0]
	close(h.applied)
	h.applied = make(chan struct{})
	h.mu.Unlock()
	h.met.events.Inc()
	h.met.fanout.Observe(time.Since(start).Seconds())
	h.log.Debug("warning fanned out", "alert_id", e.w.AlertID, "event_id", e.w.ID, "subscribers", sent)
}

// Fan-out parallelism: one goroutine per core, each with at least
// minPerWorker subscribers (fewer are not worth a goroutine).
const (
	maxFanoutWorkers = 8
	minPerWorker     = 256
)

// deliver pushes e to every subscriber of to (writing it to most sockets
// at once, see subscriber.writeNow), spread over the cores, and returns
// how many took it. h.mu is held throughout, so a subscriber's events stay
// in order and behind its snapshot.
func deliver(e *event, to []*subscriber) int {
	pushAll := func(part []*subscriber) int {
		n := 0
		for _, s := range part {
			if s.push(e.frames[variantIndex(s.sub.lang)]) {
				n++
			}
		}
		return n
	}
	workers := min(runtime.GOMAXPROCS(0), maxFanoutWorkers, len(to)/minPerWorker)
	if workers <= 1 {
		return pushAll(to)
	}
	var wg sync.WaitGroup
	var sent atomic.Int64
	chunk := (len(to) + workers - 1) / workers
	for i := 0; i < len(to); i += chunk {
		part := to[i:min(i+chunk, len(to))]
		wg.Go(func() { sent.Add(int64(pushAll(part))) })
	}
	wg.Wait()
	return int(sent.Load())
}

func (h *Hub) ringCap() int { return min(h.cfg.HistoryLen, 4096) }

// setActive updates the active set for e; h.mu held.
func (h *Hub) setActive(e *event) {
	cur, ok := h.active[e.w.AlertID]
	if ok && cur.w.Version > e.w.Version {
		return
	}
	if !e.w.until().After(time.Now()) {
		delete(h.active, e.w.AlertID)
		return
	}
	h.active[e.w.AlertID] = e
}

// ringFind returns the event with id from the ring; h.mu held.
func (h *Hub) ringFind(id streamID) *event {
	for i := len(h.ring) - 1; i >= 0; i-- {
		if h.ring[i].sid == id {
			return h.ring[i]
		}
		if h.ring[i].sid.less(id) {
			break
		}
	}
	return nil
}

// snapshotFrame renders the active warnings s may see; h.mu held.
func (h *Hub) snapshotFrame(s *subscriber, reset bool, reason string) *frame {
	type snapshot struct {
		Type     string     `json:"type"`
		ID       string     `json:"id"`
		Reset    bool       `json:"reset"`
		Reason   string     `json:"reason,omitempty"`
		Warnings []*Warning `json:"warnings"`
		// Ended are warnings cancelled or lifted within Config.LiftedFor,
		// apart so that a client that knows only "warnings" never mistakes
		// them for active ones.
		Ended []*Warning `json:"ended"`
	}
	now := time.Now()
	snap := snapshot{Type: "snapshot", ID: h.last.String(), Reset: reset, Reason: reason, Warnings: []*Warning{}, Ended: []*Warning{}}
	for id, e := range h.active {
		if !e.w.until().After(now) {
			delete(h.active, id)
			continue
		}
		if s.sub.shows(e, h.cov) {
			c := *e.w.forLang(s.sub.lang)
			c.Type = ""
			if c.Lifted {
				snap.Ended = append(snap.Ended, &c)
			} else {
				snap.Warnings = append(snap.Warnings, &c)
			}
		}
	}
	sortWarnings(snap.Warnings)
	sortWarnings(snap.Ended)
	return controlFrame("snapshot", snap.ID, snap)
}

// subscribe (re)subscribes s and sends what it needs first: the active
// warnings, or the events it missed since lastID, or — when those are gone
// from the bounded history — a snapshot marked reset.
func (h *Hub) subscribe(s *subscriber, sub subscription, lastID string) {
	var last streamID
	if lastID != "" {
		last, _ = parseStreamID(lastID) // validated by the parser
	}
	h.mu.Lock()
	if h.closed.Load() || s.dead.Load() {
		// Close already went through the subscribers: do not add one now.
		h.mu.Unlock()
		s.kick(CloseRestart, "server restart: reconnect with last_id")
		return
	}
	h.scopes.remove(s)
	s.sub = sub
	h.subs[s] = struct{}{}
	h.scopes.add(s)
	s.push(controlFrame("subscribed", "", map[string]any{
		"type": "subscribed", "regions": nonNil(sub.regions), "lang": sub.lang, "min_level": sub.minLevel,
		"progress": sub.progress, "console": sub.console,
	}))
	if !h.bootstrapped {
		s.live = false
		s.pendingSnapshot = true
		h.mu.Unlock()
		return
	}
	if lastID == "" {
		s.push(h.snapshotFrame(s, false, ""))
		h.goLive(s, streamID{})
		h.mu.Unlock()
		return
	}
	if h.last.less(last) || !last.less(h.ringStart) {
		h.replayLocked(s, last, nil)
		h.mu.Unlock()
		return
	}
	// Older than this node's memory: read the gap from Redis.
	s.live = false
	h.mu.Unlock()
	evs, lost, err := h.history(h.ctx, last)
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, still := h.subs[s]; !still {
		return
	}
	switch {
	case err != nil:
		h.log.Warn("resume history unavailable", "err", err)
		s.push(h.snapshotFrame(s, true, "history unavailable, here is the current state"))
		h.goLive(s, streamID{})
	case lost:
		s.push(h.snapshotFrame(s, true, "history lost, here is the current state"))
		h.goLive(s, streamID{})
	default:
		h.replayLocked(s, last, evs)
	}
}

// replayLocked sends s every event after last (from Redis evs, then the
// ring) that matches, then puts it live; h.mu held.
func (h *Hub) replayLocked(s *subscriber, last streamID, evs []*event) {
	if h.last.less(last) {
		// The client has seen more than this node (another node is ahead):
		// nothing to replay, and skip what it has already seen.
		s.push(controlFrame("resumed", last.String(), map[string]any{"type": "resumed", "id": last.String(), "missed": 0}))
		h.goLive(s, last)
		return
	}
	var missed []*event
	upTo := last
	for _, e := range evs {
		if upTo.less(e.sid) && !h.ringStart.less(e.sid) {
			missed = append(missed, e)
			upTo = e.sid
		}
	}
	if upTo.less(h.ringStart) {
		// Redis did not reach the ring: a gap we cannot fill.
		s.push(h.snapshotFrame(s, true, "history lost, here is the current state"))
		h.goLive(s, streamID{})
		return
	}
	for _, e := range h.ring {
		if upTo.less(e.sid) {
			missed = append(missed, e)
		}
	}
	var send []*event
	for _, e := range missed {
		if s.sub.matches(e, h.cov) {
			send = append(send, e)
		}
	}
	if len(send) > h.cfg.SendQueue/2 {
		// Too much to replay through a bounded queue: the current state says it all.
		s.push(h.snapshotFrame(s, true, "too many missed events, here is the current state"))
		h.goLive(s, streamID{})
		return
	}
	for _, e := range send {
		s.push(e.frames[variantIndex(s.sub.lang)])
	}
	s.push(controlFrame("resumed", h.last.String(), map[string]any{"type": "resumed", "id": h.last.String(), "missed": len(send)}))
	h.goLive(s, streamID{})
}

// goLive lets s receive live events (after skip); h.mu held.
func (h *Hub) goLive(s *subscriber, skip streamID) {
	s.live = true
	s.skipUpTo = skip
	s.pendingSnapshot = false
}

// unregister removes s; called once per connection when it ends.
func (h *Hub) unregister(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.scopes.remove(s)
	h.mu.Unlock()
	h.met.subscribers.WithLabelValues(s.transport()).Dec()
}

// PublishProgress sends a delivery-progress event for alertID to the
// token-authenticated consoles of every node that asked for progress.
func (h *Hub) PublishProgress(ctx context.Context, alertID string, progress any) error {
	if h.closed.Load() {
		return channels.ErrClosed
	}
	if alertID == "" {
		return &warning.FieldError{Field: "alert_id", Rule: "required"}
	}
	b, err := json.Marshal(map[string]any{"type": "progress", "alert_id": alertID, "progress": progress})
	if err != nil {
		return fmt.Errorf("websocket: encode progress: %w", err)
	}
	return h.rdb.Publish(ctx, h.keys.progress, b).Err()
}

func (h *Hub) fanProgress(payload string) {
	var head struct {
		AlertID string `json:"alert_id"`
	}
	if err := json.Unmarshal([]byte(payload), &head); err != nil || head.AlertID == "" {
		return
	}
	f, err := newFrame("progress", "", []byte(payload))
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.live && s.sub.wantsProgress(head.AlertID) {
			s.push(f)
		}
	}
}

// pingLoop pings every connection, expires active warnings and forgets idle
// per-address limiters.
func (h *Hub) pingLoop() {
	defer h.loops.Done()
	t := time.NewTicker(h.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		for s := range h.subs {
			s.ping()
		}
		now := time.Now()
		for id, e := range h.active {
			if !e.w.until().After(now) {
				delete(h.active, id)
			}
		}
		h.mu.Unlock()
		h.ipl.sweep(time.Now())
	}
}

// Close disconnects every subscriber (close code 1012: reconnect and resume)
// and stops following Redis. Safe to call twice.
func (h *Hub) Close() error {
	h.once.Do(func() {
		h.closed.Store(true)
		h.cancel()
		h.wakeReader()
		h.disconnectAll(CloseRestart, "server restart: reconnect with last_id")
		h.loops.Wait()
		done := make(chan struct{})
		go func() { h.conns.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			h.log.Warn("connections still closing after 5s")
		}
		h.met.unregister()
	})
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (h *Hub) knownRegion(code string) bool {
	if !wellFormedCode(code) {
		return false
	}
	return h.cov.Known(code)
}

// lastID is the id of the last event this node applied.
func (h *Hub) lastID() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last.String()
}

// disconnectAll drops every subscriber with code (0: the connection just
// breaks, like a network failure).
func (h *Hub) disconnectAll(code int, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.kick(code, reason)
	}
}

// Ready reports whether the hub follows the Redis event stream (for
// /readyz): nil once the active warnings are loaded and the last read of
// the stream succeeded.
func (h *Hub) Ready() error {
	if h.closed.Load() {
		return channels.ErrClosed
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.bootstrapped:
		return errors.New("websocket: active warnings not loaded from redis yet")
	case !h.redisOK:
		return errors.New("websocket: redis event stream unreachable")
	}
	return nil
}
