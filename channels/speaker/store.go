package speaker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis layout (prefix "alertcast:speaker:" by default):
//
//	hold:{device}   hash  field → held command; fields are "a:<alert id>"
//	                      (latest instruction for that alert wins), "volume",
//	                      "live:<room>". The key expires with its latest entry.
//	acked:{device}  hash  field → version the device acknowledged; keeps a
//	                      retried older version from being held again
//	epoch:{device}  string sequence epoch, bumped on every connection
//	status:{device} hash  node, conn, online, state, volume, firmware, signal,
//	                      playing, village, last_seen (Unix ms)
//	seen            zset  device → last seen (Unix ms): the device list for Status
//	bus             pub/sub channel: commands and kicks for every node
//
// A held entry's value is "<id>\n<until ms>\n<created ms>\n<version>\n<mac>\n<body>",
// where mac authenticates all the rest for this device and field (holdmac.go):
// the hub signs nothing from Redis whose mac does not verify.

type keys struct{ prefix string }

func (k keys) hold(dev string) string   { return k.prefix + "hold:{" + dev + "}" }
func (k keys) acked(dev string) string  { return k.prefix + "acked:{" + dev + "}" }
func (k keys) epoch(dev string) string  { return k.prefix + "epoch:{" + dev + "}" }
func (k keys) status(dev string) string { return k.prefix + "status:{" + dev + "}" }
func (k keys) seen() string             { return k.prefix + "seen" }
func (k keys) bus() string              { return k.prefix + "bus" }

// holdScript stores a held command unless a newer version of the same field
// is already held, or the same or a newer one was already acknowledged, and
// stretches the key's TTL to cover it.
// KEYS[1] hold key, KEYS[2] acked key; ARGV field, value, version, ttl ms.
var holdScript = redis.NewScript(`
local v = tonumber(ARGV[3])
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local ov = tonumber(string.match(old, '^[^\n]*\n[^\n]*\n[^\n]*\n([^\n]*)\n'))
  if ov and ov > v then return 0 end
end
local av = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1')
if av >= v then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return 1`)

// ackScript deletes a held field only if it still holds the acknowledged
// command (a newer one may have replaced it meanwhile), and remembers the
// acknowledged version for as long as the hold would have lived.
// KEYS[1] hold key, KEYS[2] acked key; ARGV field, id.
var ackScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, #ARGV[2] + 1) == ARGV[2] .. '\n' then
  local ver = string.match(v, '^[^\n]*\n[^\n]*\n[^\n]*\n([^\n]*)\n')
  local ttl = redis.call('PTTL', KEYS[1])
  redis.call('HDEL', KEYS[1], ARGV[1])
  if ver then
    redis.call('HSET', KEYS[2], ARGV[1], ver)
    if ttl > 0 and redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
  end
  return 1
end
return 0`)

// epochScript returns a new sequence epoch for a device: above the last one
// and never below the wall clock in seconds, so sequence numbers keep rising
// even if Redis loses its data. An epoch more than ARGV[2] seconds ahead of
// the clock (legitimately it leads only by reconnections faster than one a
// second) or not a number was written by someone else: it starts again from
// the clock rather than push the device's sequence floor out of reach,
// and the second value returned is 1.
// KEYS[1] epoch key; ARGV now (Unix s), max lead (s).
var epochScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local reset = 0
if cur == nil or cur > now + tonumber(ARGV[2]) then
  cur, reset = 0, 1
end
local n = math.max(cur + 1, now)
redis.call('SET', KEYS[1], string.format('%d', n))
return {n, reset}`)

// maxEpochLead is how far a device's epoch may run ahead of the clock.
const maxEpochLead = 3600

// offlineScript marks a device offline only if conn still owns its status
// (the device may already be connected elsewhere).
var offlineScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'conn') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'online', '0', 'last_seen', ARGV[2])
  return 1
end
return 0`)

// dropScript deletes a held field only if it still holds exactly the value
// the hub refused (a forged or tampered entry), so a genuine command that
// replaced it meanwhile survives.
// KEYS[1] hold key; ARGV field, value.
var dropScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0`)

// held is one held command.
type held struct {
	field   string
	id      string
	until   time.Time
	created int64
	version int64
	mac     string // holdMAC for the device it was read for
	body    []byte
	raw     string // the value as read from Redis, for dropScript; "" from the bus
	bc      *bcast // signed once for this node's devices of a bus announcement (broadcast.go)
}

func encodeHeld(id string, until time.Time, created, version int64, mac string, body []byte) string {
	var b strings.Builder
	b.Grow(len(id) + len(mac) + len(body) + 48)
	b.WriteString(id)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(until.UnixMilli(), 10))
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(created, 10))
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(version, 10))
	b.WriteByte('\n')
	b.WriteString(mac)
	b.WriteByte('\n')
	b.Write(body)
	return b.String()
}

func decodeHeld(field, v string) (held, error) {
	parts := strings.SplitN(v, "\n", 6)
	if len(parts) != 6 {
		return held{}, fmt.Errorf("held command %q: malformed", field)
	}
	until, err1 := strconv.ParseInt(parts[1], 10, 64)
	created, err2 := strconv.ParseInt(parts[2], 10, 64)
	version, err3 := strconv.ParseInt(parts[3], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return held{}, fmt.Errorf("held command %q: %w", field, err)
	}
	return held{field: field, id: parts[0], until: time.UnixMilli(until), created: created, version: version,
		mac: parts[4], body: []byte(parts[5])}, nil
}

// loadHeld returns a device's held, unexpired commands in the order they
// were issued.
func loadHeld(ctx context.Context, rdb redis.UniversalClient, k keys, dev string, now time.Time) ([]held, error) {
	m, err := rdb.HGetAll(ctx, k.hold(dev)).Result()
	if err != nil {
		return nil, err
	}
	return sortHeld(m, now), nil
}

func sortHeld(m map[string]string, now time.Time) []held {
	out := make([]held, 0, len(m))
	for f, v := range m {
		h, err := decodeHeld(f, v)
		if err != nil {
			// Kept so the hub refuses, counts and removes it (conn.send).
			h = held{field: f, id: "malformed", until: now.Add(time.Minute)}
		}
		if !h.until.After(now) {
			continue
		}
		h.raw = v
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].created != out[j].created {
			return out[i].created < out[j].created
		}
		return out[i].field < out[j].field
	})
	return out
}
