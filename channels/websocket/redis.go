package websocket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/redis/go-redis/v9"
)

type redisKeys struct {
	events   string // stream: every warning event, bounded (the resume history)
	active   string // hash: alert id → event payload of the active version
	expiry   string // zset: alert id → expiry (ms), to drop expired entries
	versions string // hash: alert id → latest version published
	dedupe   string // prefix of "published once" markers, per Message.Key
	progress string // pub/sub channel for console progress events
	wake     string // this node's private stream, written by Close to end XREAD
}

func newRedisKeys(prefix, node string) redisKeys {
	return redisKeys{
		events: prefix + ":events", active: prefix + ":active", expiry: prefix + ":expiry",
		versions: prefix + ":versions", dedupe: prefix + ":sent:", progress: prefix + ":progress",
		wake: prefix + ":wake:" + node,
	}
}

// publishScript appends one event and updates the active set atomically.
// It refuses a version older than one already published for the same alert
// (a late retry must not bring an old text back), and publishes a
// Message.Key at most once.
//
// KEYS: events active expiry versions dedupe
// ARGV: maxlen payload alert_id version lifted(0/1) expires_ms now_ms dedupe_ttl_s
// Returns {1, id} published, {0, id} duplicate, {2, ""} stale.
var publishScript = redis.NewScript(`
local prev = redis.call('GET', KEYS[5])
if prev then return {0, prev} end
local ver = tonumber(ARGV[4])
local cur = tonumber(redis.call('HGET', KEYS[4], ARGV[3]) or '-1')
if ver < cur then return {2, ''} end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'e', ARGV[2])
redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
local exp = tonumber(ARGV[6])
local now = tonumber(ARGV[7])
if ARGV[5] == '1' or exp <= now then
  redis.call('HDEL', KEYS[2], ARGV[3])
else
  redis.call('HSET', KEYS[2], ARGV[3], id .. ' ' .. ARGV[2])
end
redis.call('ZADD', KEYS[3], exp, ARGV[3])
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)
for _, a in ipairs(gone) do
  if a ~= ARGV[3] or ARGV[5] == '1' or exp <= now then
    redis.call('HDEL', KEYS[2], a)
    redis.call('HDEL', KEYS[4], a)
    redis.call('ZREM', KEYS[3], a)
  end
end
redis.call('SET', KEYS[5], id, 'EX', ARGV[8])
return {1, id}
`)

func (h *Hub) publish(ctx context.Context, m *channels.Message) (streamID, string, error) {
	w := warningFrom(m)
	now := time.Now()
	// A lifted warning stays in the active set as a notice until ShowUntil
	// (the script keeps what has not reached its "expiry" score).
	until, lifted := m.Expires, "0"
	if w.Lifted {
		if h.cfg.LiftedFor > 0 {
			sent := m.Sent
			if sent.IsZero() {
				sent = now
			}
			w.ShowUntil = sent.Add(h.cfg.LiftedFor).UTC()
			until = w.ShowUntil
		} else {
			lifted = "1"
		}
	}
	payload, err := json.Marshal(w)
	if err != nil {
		return streamID{}, "", err
	}
	ttl := time.Until(m.Expires) + 24*time.Hour
	ttl = max(min(ttl, 30*24*time.Hour), time.Hour)
	key := m.Key
	if key == "" {
		key = m.AlertID + "/v" + strconv.Itoa(m.Version) + "/" + w.Kind
	}
	res, err := publishScript.Run(ctx, h.rdb,
		[]string{h.keys.events, h.keys.active, h.keys.expiry, h.keys.versions, h.keys.dedupe + key},
		h.cfg.HistoryLen, payload, m.AlertID, m.Version, lifted, until.UnixMilli(), now.UnixMilli(),
		int64(ttl/time.Second)).Slice()
	if err != nil {
		return streamID{}, "", err
	}
	if len(res) != 2 {
		return streamID{}, "", fmt.Errorf("unexpected script reply %v", res)
	}
	code, _ := res[0].(int64)
	idStr, _ := res[1].(string)
	switch code {
	case 2:
		return streamID{}, "stale", nil
	case 0, 1:
		id, err := parseStreamID(idStr)
		if err != nil {
			return streamID{}, "", fmt.Errorf("bad stream id %q from redis", idStr)
		}
		if code == 0 {
			return id, "duplicate", nil
		}
		return id, "published", nil
	}
	return streamID{}, "", fmt.Errorf("unexpected script reply %v", res)
}

// decodeEntry turns a stream entry into an event.
func decodeEntry(id string, values map[string]any) (*event, error) {
	sid, err := parseStreamID(id)
	if err != nil {
		return nil, err
	}
	raw, _ := values["e"].(string)
	var w Warning
	if err := json.Unmarshal([]byte(raw), &w); err != nil {
		return nil, fmt.Errorf("stream entry %s: %w", id, err)
	}
	return newEvent(sid, &w)
}

// bootstrap loads the active set and the stream position. The position is
// read first: events after it are applied again by the reader, which is
// harmless because the active set only moves forward by version.
func (h *Hub) bootstrap(ctx context.Context) error {
	msgs, err := h.rdb.XRevRangeN(ctx, h.keys.events, "+", "-", 1).Result()
	if err != nil {
		return fmt.Errorf("read stream position: %w", err)
	}
	var pos streamID
	if len(msgs) == 1 {
		if pos, err = parseStreamID(msgs[0].ID); err != nil {
			return err
		}
	}
	all, err := h.rdb.HGetAll(ctx, h.keys.active).Result()
	if err != nil {
		return fmt.Errorf("read active warnings: %w", err)
	}
	active := make(map[string]*event, len(all))
	now := time.Now()
	for alertID, v := range all {
		id, payload, ok := strings.Cut(v, " ")
		if !ok {
			continue
		}
		e, err := decodeEntry(id, map[string]any{"e": payload})
		if err != nil {
			h.log.Warn("skipping unreadable active warning", "alert_id", alertID, "err", err)
			continue
		}
		if e.w.until().After(now) {
			active[alertID] = e
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bootstrapped {
		return nil
	}
	h.active = active
	h.last, h.ringStart = pos, pos
	h.bootstrapped = true
	h.redisOK = true
	for s := range h.subs {
		if s.pendingSnapshot {
			s.push(h.snapshotFrame(s, true, "connected while the server was starting, here is the current state"))
			h.goLive(s, streamID{})
		}
	}
	return nil
}

// readLoop follows the event stream from the last applied id. After a Redis
// restart it simply continues from there, so nothing is missed.
func (h *Hub) readLoop() {
	defer h.loops.Done()
	backoff := 50 * time.Millisecond
	var lastErr string
	fail := func(err error) bool {
		if h.ctx.Err() != nil {
			return false
		}
		h.met.redisErrors.Inc()
		if msg := err.Error(); msg != lastErr {
			h.log.Warn("redis stream read failed; retrying", "err", err)
			lastErr = msg
		}
		h.mu.Lock()
		h.redisOK = false
		h.mu.Unlock()
		select {
		case <-time.After(backoff):
		case <-h.ctx.Done():
			return false
		}
		backoff = min(backoff*2, 2*time.Second)
		return true
	}
	for h.ctx.Err() == nil {
		h.mu.Lock()
		boot, from := h.bootstrapped, h.last.String()
		h.mu.Unlock()
		if !boot {
			if err := h.bootstrap(h.ctx); err != nil {
				if !fail(err) {
					return
				}
				continue
			}
			continue
		}
		streams, err := h.rdb.XRead(h.ctx, &redis.XReadArgs{
			// The wake stream is empty until Close writes to it; reading it
			// from the start means a wake-up written just before this call
			// is not missed.
			Streams: []string{h.keys.events, h.keys.wake, from, "0-0"},
			Count:   512, Block: 5 * time.Second,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if !fail(err) {
				return
			}
			continue
		}
		if lastErr != "" {
			h.log.Info("redis stream read recovered")
			lastErr = ""
		}
		backoff = 50 * time.Millisecond
		h.mu.Lock()
		h.redisOK = true
		h.mu.Unlock()
		for _, st := range streams {
			if st.Stream != h.keys.events {
				continue
			}
			for _, msg := range st.Messages {
				e, err := decodeEntry(msg.ID, msg.Values)
				if err != nil {
					h.log.Error("skipping unreadable stream entry", "event_id", msg.ID, "err", err)
					if sid, perr := parseStreamID(msg.ID); perr == nil {
						h.mu.Lock()
						if h.last.less(sid) {
							h.last = sid
						}
						h.mu.Unlock()
					}
					continue
				}
				h.apply(e)
			}
		}
	}
}

// wakeReader ends a blocking XREAD so Close does not wait for its timeout.
func (h *Hub) wakeReader() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = h.rdb.XAdd(ctx, &redis.XAddArgs{Stream: h.keys.wake, Values: []string{"wake", "1"}}).Err()
	_ = h.rdb.Expire(ctx, h.keys.wake, time.Minute).Err()
}

// history reads the events after last from Redis. lost is true when some of
// them were already trimmed from the bounded stream.
func (h *Hub) history(ctx context.Context, last streamID) ([]*event, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	info, err := h.rdb.XInfoStream(ctx, h.keys.events).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return nil, true, nil
		}
		return nil, false, err
	}
	// Trimming does not move max-deleted-entry-id (only XDEL does), so the
	// test is: is last still at or after the oldest entry kept? If not, some
	// entries after last may have been trimmed away.
	first := info.FirstEntry.ID
	if first == "" {
		first = info.RecordedFirstEntryID
	}
	if fid, err := parseStreamID(first); err == nil && last.less(fid) {
		return nil, true, nil
	}
	if info.MaxDeletedEntryID != "" {
		if del, err := parseStreamID(info.MaxDeletedEntryID); err == nil && last.less(del) {
			return nil, true, nil
		}
	}
	msgs, err := h.rdb.XRangeN(ctx, h.keys.events, "("+last.String(), "+", int64(h.cfg.HistoryLen)).Result()
	if err != nil {
		return nil, false, err
	}
	evs := make([]*event, 0, len(msgs))
	for _, m := range msgs {
		e, err := decodeEntry(m.ID, m.Values)
		if err != nil {
			continue
		}
		evs = append(evs, e)
	}
	return evs, false, nil
}

// progressLoop relays console progress events published on any node.
func (h *Hub) progressLoop() {
	defer h.loops.Done()
	ps := h.rdb.Subscribe(h.ctx, h.keys.progress)
	defer ps.Close()
	ch := ps.Channel(redis.WithChannelSize(256))
	for {
		select {
		case <-h.ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			h.fanProgress(m.Payload)
		}
	}
}

func sortWarnings(ws []*Warning) {
	sort.Slice(ws, func(i, j int) bool {
		if ws[i].Level != ws[j].Level {
			return ws[i].Level > ws[j].Level
		}
		return ws[i].Sent.After(ws[j].Sent)
	})
}
