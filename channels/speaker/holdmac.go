package speaker

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"strconv"
	"sync"
	"time"

	"github.com/alertcast/alertcast/channels/speaker/wire"
)

// Everything the hub reads back from Redis that could reach a loudspeaker
// is authenticated with holdMAC before the hub signs or acts on it: a held
// command (hold:{device} and the "cmd" bus message) and a kick. The MAC key
// is derived from the platform's Ed25519 seed, which every node loads from
// its key file and which never goes to Redis, so whoever can write to Redis
// but not read the key file cannot make the hub sign anything.
//
// A held command's MAC binds the device id, the hold field, the command id,
// its expiry, its creation time, the warning version and the exact body:
// copying a genuine hold to another device or field, or changing a byte of
// its level, URL, hash or expiry, makes it fail.
//
// The device-independent part is hashed once per Send (digest); each device
// then costs one HMAC over ~70 bytes, well under a microsecond, against
// ~25 µs for the Ed25519 signature the hub makes anyway when it writes.

// macLen is the length of a hold MAC: HMAC-SHA256 truncated to 128 bits
// (RFC 2104 §5), which keeps a county-wide bus message small.
const macLen = 16

// maxKickAge bounds how old an authenticated kick may be, so a recorded
// kick replayed later cannot keep knocking a device off.
const maxKickAge = time.Minute

const (
	holdMACDomain = "alertcast-speaker-hold-v1\x00"
	kickMACDomain = "alertcast-speaker-kick-v1\x00"
)

type holdMAC struct {
	pool sync.Pool // hash.Hash keyed with the derived key
}

func newHoldMAC(priv ed25519.PrivateKey) *holdMAC {
	// Key derivation: HMAC-SHA256(seed, label). The label separates this
	// key from the signing key's own use; the seed never leaves the node.
	kdf := hmac.New(sha256.New, priv.Seed())
	kdf.Write([]byte("alertcast speaker hold MAC key v1"))
	key := kdf.Sum(nil)
	m := &holdMAC{}
	m.pool.New = func() any { return hmac.New(sha256.New, key) }
	return m
}

// heldDigest hashes the device-independent part of a held command.
func heldDigest(id string, until time.Time, created, version int64, body []byte) [sha256.Size]byte {
	h := sha256.New()
	var b [8]byte
	writeLP(h, []byte(id))
	binary.BigEndian.PutUint64(b[:], uint64(until.UnixMilli()))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(created))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(version))
	h.Write(b[:])
	writeLP(h, body)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

func writeLP(h hash.Hash, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// hold returns the MAC of a held command for one device and field, base64url.
func (m *holdMAC) hold(dev, field string, digest *[sha256.Size]byte) string {
	h := m.pool.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(holdMACDomain))
	writeLP(h, []byte(dev))
	writeLP(h, []byte(field))
	h.Write(digest[:])
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	m.pool.Put(h)
	return base64.RawURLEncoding.EncodeToString(sum[:macLen])
}

// verifyHold reports whether hd carries the platform's MAC for dev, in
// constant time. digest is heldDigest of hd.
func (m *holdMAC) verifyHold(dev string, hd *held, digest *[sha256.Size]byte) bool {
	got, err := base64.RawURLEncoding.DecodeString(hd.mac)
	if err != nil || len(got) != macLen {
		return false
	}
	want, _ := base64.RawURLEncoding.DecodeString(m.hold(dev, hd.field, digest))
	return hmac.Equal(got, want)
}

// kick returns the MAC of a kick for one device.
func (m *holdMAC) kick(dev string, epoch uint64, at int64) string {
	h := m.pool.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(kickMACDomain))
	writeLP(h, []byte(dev))
	writeLP(h, []byte(strconv.FormatUint(epoch, 10)))
	writeLP(h, []byte(strconv.FormatInt(at, 10)))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	m.pool.Put(h)
	return base64.RawURLEncoding.EncodeToString(sum[:macLen])
}

func (m *holdMAC) verifyKick(dev string, epoch uint64, at int64, mac string) bool {
	return hmac.Equal([]byte(mac), []byte(m.kick(dev, epoch, at)))
}

// refused counts, and logs, something read from Redis that the hub will not
// act on: source is "hold", "bus" or "kick". Nothing from the entry but its
// names goes to the log.
func (h *Hub) refused(source, dev, field, id, why string) {
	h.m.forged.WithLabelValues(source).Inc()
	h.log.Warn("speaker: refused a command read from Redis that the platform did not author",
		"source", source, "device", dev, "field", wire.Trunc(field), "id", wire.Trunc(id), "reason", why)
}

// drop removes a refused entry from a device's hold, if it is still there
// unchanged, so it is not read again at every resync.
func (h *Hub) drop(dev, field, raw string) {
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	if err := dropScript.Run(ctx, h.cfg.Redis, []string{h.keys.hold(dev)}, field, raw).Err(); err != nil && h.ctx.Err() == nil {
		h.log.Warn("speaker: remove refused hold", "device", dev, "err", err)
	}
}
