package speaker

import (
	"encoding/base64"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/alertcast/alertcast/channels/speaker/wire"
)

// Broadcast signing. A bus announcement for many devices connected to this
// node is signed once (wire.Broadcast: one Ed25519 signature over the root of
// a Merkle tree of the device ids) instead of once per device; each device's
// frame is the shared prefix plus its own path. Per-device signing
// (conn.send) stays for everything else: commands loaded from the hold when a
// device connects or at resync, a single device, a broadcast that waited too
// long to be written, and any broadcast a device refuses (conn.onReport
// signs it again for that device alone).

// broadcastMin is the smallest announcement signed as a broadcast: for one
// device a per-device signature costs the same and needs no path.
const broadcastMin = 2

// broadcastMaxAge is how long after signing a broadcast frame may still be
// written; later, the command is signed for the device at write time, so it
// arrives as fresh as a per-device command would. Agents accept minutes.
const broadcastMaxAge = 10 * time.Second

// bcast is one broadcast signature shared by the connections it addresses.
type bcast struct {
	set    *wire.AddressSet
	seq    uint64
	at     time.Time
	prefix []byte // the frame up to the path's base64

	// Measuring only; nothing below is signed or sent.
	id      string    // the command id
	created time.Time // when Send built the command (any node)
	issued  time.Time // the warning's issue, when it was sent from this node
	wmu     sync.Mutex
	want    int             // devices addressed
	lat     []time.Duration // per frame written: since issued (else created)
}

// written notes that one device's frame of b went out at t; after the last
// one it logs how long the node took from the issue call (or from Send,
// for a command sent by another node) to the first and the last frame, and
// the p50/p99 over the devices: the platform's share of the time to sound,
// without the devices' own work.
func (b *bcast) written(h *Hub, t time.Time) {
	from := b.issued
	if from.IsZero() {
		from = b.created
	}
	b.wmu.Lock()
	b.lat = append(b.lat, t.Sub(from))
	if len(b.lat) < b.want {
		b.wmu.Unlock()
		return
	}
	lat := b.lat
	b.lat = nil
	b.wmu.Unlock()
	slices.Sort(lat)
	pc := func(q float64) int64 { return lat[int(q*float64(len(lat)-1))].Milliseconds() }
	since := "send"
	if !b.issued.IsZero() {
		since = "issue"
	}
	h.log.Info("speaker: broadcast written", "id", b.id, "devices", len(lat), "since", since,
		"send_ms", b.created.Sub(from).Milliseconds(), "signed_ms", b.at.Sub(from).Milliseconds(),
		"first_ms", lat[0].Milliseconds(), "p50_ms", pc(0.5), "p99_ms", pc(0.99), "last_ms", lat[len(lat)-1].Milliseconds())
}

// nextBroadcastSeq numbers broadcasts from this node's clock: milliseconds
// shifted left 12 bits, plus one per broadcast within a millisecond, so they
// rise across restarts without any state, and Redis has no say in them.
func (h *Hub) nextBroadcastSeq(now time.Time) uint64 {
	base := uint64(now.UnixMilli()) << 12
	for {
		old := h.bcSeq.Load()
		next := max(old+1, base)
		if h.bcSeq.CompareAndSwap(old, next) {
			return next
		}
	}
}

// signBroadcast signs body once for devs (already MAC-verified for this
// command); nil when there are too few of them.
func (h *Hub) signBroadcast(devs []string, body []byte) *bcast {
	if len(devs) < broadcastMin {
		return nil
	}
	set, err := wire.NewAddressSet(devs)
	if err != nil {
		return nil
	}
	now := h.cfg.Now()
	b := wire.SignBroadcast(h.cfg.Key, set, h.nextBroadcastSeq(now), now, body)
	h.m.signatures.WithLabelValues("broadcast").Inc()
	// The frame is what json.Marshal(HubFrame{Type: command, Broadcast: &b})
	// writes, built once: only the path differs between devices.
	p := make([]byte, 0, 96+base64.StdEncoding.EncodedLen(len(body))+base64.StdEncoding.EncodedLen(len(b.Sig)))
	p = append(p, `{"type":"command","broadcast":{"seq":`...)
	p = strconv.AppendUint(p, b.Seq, 10)
	p = append(p, `,"issued_at":`...)
	p = strconv.AppendInt(p, b.IssuedAt, 10)
	p = append(p, `,"body":"`...)
	p = base64.StdEncoding.AppendEncode(p, b.Body)
	p = append(p, `","sig":"`...)
	p = base64.StdEncoding.AppendEncode(p, b.Sig)
	p = append(p, `","path":"`...)
	return &bcast{set: set, seq: b.Seq, at: now, prefix: p, want: len(devs)}
}

// frame is dev's copy of the broadcast; false when dev is not addressed.
func (b *bcast) frame(dev string) ([]byte, bool) {
	path, ok := b.set.Path(dev)
	if !ok {
		return nil, false
	}
	out := make([]byte, 0, len(b.prefix)+base64.StdEncoding.EncodedLen(len(path))+3)
	out = append(out, b.prefix...)
	out = base64.StdEncoding.AppendEncode(out, path)
	return append(out, `"}}`...), true
}
