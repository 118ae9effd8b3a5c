// Package speaker is the loudspeaker channel: the hub that village IP
// loudspeakers (应急广播大喇叭) dial into, the signed command protocol they
// speak, and (in speaker/agent) the logic that runs on the device.
//
// Speakers sit behind 4G routers and NAT, so each keeps one WebSocket open to
// whichever alertd node its load balancer picked. Every command is signed
// with the platform's Ed25519 key over (device id, sequence number,
// issued-at, body); the agent plays only what verifies, is fresh and carries
// a sequence number above the last one it accepted. Several alertd nodes
// share one Redis: commands are held there per device (until the warning
// expires) and announced on a pub/sub channel, so the node that holds the
// device's connection signs and writes them; a device that reconnects gets
// what it missed.
//
// The hub must never play anything itself, never log a device credential
// and never sign a command whose body it did not build.
//
// # Threat model: Redis is not trusted with authority
//
// Anyone who can write to Redis (a process on the host, a leaked Redis
// password, a compromised neighbour service) must not be able to make a
// loudspeaker speak. Redis requires a password (internal/alertd), but the
// hub does not rely on that alone:
//
//   - Holds and bus commands carry a MAC (HMAC-SHA256, 128 bits) made by
//     Send, SetVolume or Live from the command the platform built from the
//     stored warning version. It binds the device id, the hold field, the
//     command id, expiry, creation time, warning version and body. Its key
//     is derived from the platform Ed25519 seed, which lives only in the key
//     file of each node. A node verifies the MAC in constant time before a
//     command enters a connection's queue; what fails is refused, counted
//     in alertcast_speaker_forged_total{source}, logged by name only, and
//     removed from the hold. So a forged hold, a genuine hold with any byte
//     changed (level, URL, hash, expiry, version), a hold copied to another
//     device or field, and a forged or re-addressed bus announcement are
//     never signed. Live-voice, volume and stop/cancel commands are holds
//     like any other and are covered the same way.
//   - Kicks (close a device's connection) carry a MAC over device, epoch
//     and time and are refused when older than a minute, so Redis cannot
//     knock devices off the air with forged or recorded kicks.
//   - Sequence epochs come from Redis; one more than an hour ahead of the
//     clock, or not a number, is restarted from the clock (and counted as
//     source "epoch"), so Redis cannot lift a device's replay floor out of
//     reach and then lock it out by restoring the real epoch. Freshness and replay protection are the
//     agent's (wire.Verifier): every signature covers device, sequence and
//     issued-at, signed at write time by the node holding the connection.
//   - A genuine hold replayed by someone who recorded it (same device, same
//     field, still unexpired) verifies and is re-signed, but the agent
//     executes a command id once, refuses an older version of a warning
//     than one it accepted (the version is in the key, "<alert>/v<n>") and
//     refuses a play of an alert it was told to stop; it keeps all three
//     across restarts. Such a refusal comes back as a "refused" receipt.
//
// # One signature per announcement (broadcast commands)
//
// A county-wide warning is one bus announcement naming thousands of devices.
// The node that holds their connections signs it once for all of them
// (wire.Broadcast, broadcast.go) instead of once per device: the signature
// covers the root of a Merkle tree over the device ids the node admitted
// (each one's hold MAC verified, exactly as before), a broadcast sequence
// number and issued-at, and the body the MACs bind. Each device gets the
// shared signature plus its own path to the root. The properties each
// device checks are those of a per-device command:
//
//   - bound to the warning version: the body is the one built from the
//     stored version and bound by the hold MAC; its key carries the version,
//     and the agent's command-id, older-version and stopped-alert checks
//     run on it as on any command;
//   - refused by the wrong device: the root is recomputed from the device's
//     own id, so a broadcast for another set (another area, a list with an
//     id added, removed or altered, a path taken from another device) does
//     not verify;
//   - fresh: issued-at is when the node signed it, and a broadcast not
//     written within broadcastMaxAge (10 s) is signed for the device alone at
//     write time instead;
//   - not replayed: broadcast sequence numbers come from the signing
//     node's clock (ms << 12, rising within a millisecond), and the agent
//     refuses any at or below the highest it accepted, a floor it keeps in
//     its state file across restarts, apart from the per-device floor
//     (per-device numbers come from Redis epochs and a connection counter,
//     so neither can push the other out of reach).
//
// A replayed broadcast is refused by the floor of every device that saw it;
// a device that missed it (offline) could be handed it within its freshness
// window, which gives nothing that delaying a per-device command in transit
// does not: it was addressed to that device, and the version and stopped
// checks still apply. Two nodes' broadcasts can reach a device out of order
// (or a device's clock can jump): the device refuses the older one, the
// hub sees the refusal of a broadcast copy (conn.onReport) and sends the
// same command again signed for that device alone. Held commands loaded on
// connect or at resync, announcements for one device, and agents that did
// not name wire.FeatureBroadcast when they connected (firmware from before
// broadcasts, which refuses the unknown frame field) always get per-device
// signatures.
//
// What Redis can still do is deny service: delete holds, fill the queue,
// set a device's acked version high so a command is not held, or falsify
// the device status shown on the console (status:{device}). None of these
// puts anything on the air. Asynq tasks in Redis carry only warning ids and
// versions; the engine reloads the warning from the database before a
// channel sees it.
package speaker

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/speaker/wire"
	"github.com/alertcast/alertcast/warning"
)

// Name is the channel name used in warnings.
const Name = "speaker"

// Config configures a Hub. Zero values mean the documented defaults.
type Config struct {
	Redis   redis.UniversalClient // required
	Devices DeviceStore           // required
	Key     ed25519.PrivateKey    // required: the platform signing key (LoadOrCreateKey)
	// NodeID names this alertd node in device status. Default: a random id.
	NodeID   string
	Reporter channels.Reporter     // play receipts; default channels.Discard
	Logger   *slog.Logger          // default slog.Default()
	Registry prometheus.Registerer // metrics; nil registers nothing

	// HeartbeatTimeout closes a connection that sent nothing for this long
	// and makes the device show offline. Default 90 s (agents beat every 20 s).
	HeartbeatTimeout time.Duration
	// FreshnessWindow is advertised to agents in the welcome frame so they
	// can warn about clock skew; each agent enforces its own configured
	// window. Default 2 min.
	FreshnessWindow time.Duration
	// MaxFrame is the largest frame accepted from a device; a larger one
	// closes that connection. Default DefaultMaxFrame (16 KiB).
	MaxFrame int
	// WriteTimeout bounds one write to a device. Default 10 s.
	WriteTimeout time.Duration
	// Writers is the number of goroutines that sign and write commands to
	// sockets. Default 32.
	Writers int
	// ResyncInterval is how often held commands of connected devices are
	// re-checked, which covers a pub/sub message lost in a Redis
	// reconnection. Default 15 s.
	ResyncInterval time.Duration
	// DefaultRepeats is how many times a programme plays when the message
	// has no "repeats" attribute. Default 1.
	DefaultRepeats int
	// KeyPrefix prefixes every Redis key. Default "alertcast:speaker:".
	KeyPrefix string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// DeviceStatus is a device's last known state, as seen across all nodes.
type DeviceStatus struct {
	ID       string           `json:"id"`
	Village  string           `json:"village,omitempty"`
	Online   bool             `json:"online"`
	State    wire.DeviceState `json:"state"`
	Volume   int              `json:"volume"`
	Firmware string           `json:"firmware,omitempty"`
	Signal   int              `json:"signal,omitempty"` // dBm, 0 = unknown
	Playing  string           `json:"playing,omitempty"`
	Node     string           `json:"node,omitempty"`
	LastSeen time.Time        `json:"last_seen"`
}

// Hub is the speaker channel. It implements channels.Channel and
// channels.Closer; Handler serves the agents' WebSocket endpoint.
type Hub struct {
	cfg  Config
	log  *slog.Logger
	keys keys
	up   websocket.Upgrader
	m    *metrics

	ctx    context.Context
	cancel context.CancelFunc
	pubsub *redis.PubSub
	writeq chan *conn
	mac    *holdMAC

	mu     sync.RWMutex
	conns  map[string]*conn
	closed bool

	connSeq   atomic.Uint64
	bcSeq     atomic.Uint64  // last broadcast sequence number (broadcast.go)
	bgWG      sync.WaitGroup // subscriber, writers, resync, status flusher
	connWG    sync.WaitGroup // WebSocket handlers
	closeOnce sync.Once

	statusMu    sync.Mutex
	statusDirty map[string]*conn

	acks chan ackReq

	issuedMu sync.Mutex
	issued   map[string]issuedNote // command id → its warning's issue (measuring only)
}

type issuedNote struct{ issued, noted time.Time }

// noteIssued remembers when the warning of command id was issued, for the
// write-latency summary of its broadcast on this node (bcast.written).
func (h *Hub) noteIssued(id string, issued time.Time) {
	if issued.IsZero() {
		return
	}
	now := time.Now()
	h.issuedMu.Lock()
	defer h.issuedMu.Unlock()
	if h.issued == nil {
		h.issued = map[string]issuedNote{}
	}
	for k, n := range h.issued {
		if now.Sub(n.noted) > 10*time.Minute {
			delete(h.issued, k)
		}
	}
	h.issued[id] = issuedNote{issued: issued, noted: now}
}

func (h *Hub) issuedAt(id string) time.Time {
	h.issuedMu.Lock()
	defer h.issuedMu.Unlock()
	return h.issued[id].issued
}

type ackReq struct{ dev, field, id string }

var (
	_ channels.Channel = (*Hub)(nil)
	_ channels.Closer  = (*Hub)(nil)
)

// NewHub validates cfg, subscribes to the command bus and starts the
// background writers. The hub is ready when NewHub returns.
func NewHub(cfg Config) (*Hub, error) {
	if cfg.Redis == nil {
		return nil, &warning.FieldError{Field: "speaker.redis", Rule: "required"}
	}
	if cfg.Devices == nil {
		return nil, &warning.FieldError{Field: "speaker.devices", Rule: "required"}
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, &warning.FieldError{Field: "speaker.key", Rule: "an Ed25519 private key"}
	}
	if cfg.NodeID == "" {
		s, _ := NewCredential()
		cfg.NodeID = "node-" + s[:8]
	}
	if cfg.Reporter == nil {
		cfg.Reporter = channels.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = 90 * time.Second
	}
	if cfg.FreshnessWindow <= 0 {
		cfg.FreshnessWindow = 2 * time.Minute
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = wire.DefaultMaxFrame
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 32
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = 15 * time.Second
	}
	if cfg.DefaultRepeats <= 0 {
		cfg.DefaultRepeats = 1
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "alertcast:speaker:"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	h := &Hub{
		cfg:  cfg,
		log:  cfg.Logger.With("channel", Name, "node", cfg.NodeID),
		keys: keys{prefix: cfg.KeyPrefix},
		m:    m,
		up: websocket.Upgrader{
			HandshakeTimeout: 10 * time.Second,
			WriteBufferPool:  &sync.Pool{}, // idle speakers hold no write buffer
			ReadBufferSize:   512,          // agent frames are a few hundred bytes
			// Agents are not browsers; they authenticate with a credential.
			CheckOrigin: func(*http.Request) bool { return true },
		},
		writeq:      make(chan *conn, 4096),
		conns:       map[string]*conn{},
		statusDirty: map[string]*conn{},
		acks:        make(chan ackReq, 8192),
		mac:         newHoldMAC(cfg.Key),
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())

	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	for _, s := range []*redis.Script{holdScript, ackScript, epochScript, offlineScript, dropScript} {
		if err := s.Load(ctx, cfg.Redis).Err(); err != nil {
			h.cancel()
			return nil, fmt.Errorf("speaker: load Redis script: %w", err)
		}
	}
	h.pubsub = cfg.Redis.Subscribe(ctx, h.keys.bus())
	if _, err := h.pubsub.Receive(ctx); err != nil { // wait for the subscription
		h.pubsub.Close()
		h.cancel()
		return nil, fmt.Errorf("speaker: subscribe: %w", err)
	}
	h.bgWG.Add(4 + cfg.Writers)
	go h.subscribe()
	go h.ackLoop()
	go h.resyncLoop()
	go h.statusLoop()
	for range cfg.Writers {
		go h.writer()
	}
	return h, nil
}

// Name implements channels.Channel.
func (h *Hub) Name() string { return Name }

// Close disconnects every device and stops the hub. Held commands stay in
// Redis for whichever node the devices reconnect to. Safe to call twice.
func (h *Hub) Close() error {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		conns := make([]*conn, 0, len(h.conns))
		for _, c := range h.conns {
			conns = append(conns, c)
		}
		h.mu.Unlock()
		h.cancel()
		_ = h.pubsub.Close()
		for _, c := range conns {
			c.close(websocket.CloseGoingAway, "server shutting down")
		}
		h.connWG.Wait()
		h.bgWG.Wait()
		h.flushStatus(context.Background())
	})
	return nil
}

// ---- sending -------------------------------------------------------------

// busMsg is what travels on the pub/sub channel. Anyone who can publish on
// Redis can put one there, so every entry carries a holdMAC per device and
// a node acts on none that does not verify.
type busMsg struct {
	Kind    string   `json:"k"`           // "cmd" or "kick"
	Devices []string `json:"d"`           // target devices
	Macs    []string `json:"m"`           // holdMAC per device, same order
	Field   string   `json:"f,omitempty"` // hold field
	Value   string   `json:"v,omitempty"` // encoded held command, mac line empty
	Epoch   uint64   `json:"e,omitempty"` // kick: close only connections of an older epoch (0: all)
	At      int64    `json:"t,omitempty"` // kick: when it was sent (Unix ms), bound by its MAC
}

// heldCmd is a command as the platform authored it, before it is held.
type heldCmd struct {
	id       string
	until    time.Time
	created  int64
	version  int64
	body     []byte
	digest   [32]byte
	template string // encodeHeld with an empty mac: what the bus carries
}

func newHeldCmd(id string, until time.Time, created, version int64, body []byte) *heldCmd {
	return &heldCmd{id: id, until: until, created: created, version: version, body: body,
		digest:   heldDigest(id, until, created, version, body),
		template: encodeHeld(id, until, created, version, "", body)}
}

// Send implements channels.Channel. Alerts and updates become signed play
// commands, cancels and all-clears stop commands (followed by the all-clear
// programme when m.Audio is set). A recipient's result is StateSent once its
// command is held in Redis and announced to the node it is connected to (or
// will reconnect to); play reports follow as Receipts.
func (h *Hub) Send(ctx context.Context, m *channels.Message, to []channels.Recipient) ([]channels.Result, error) {
	if h.isClosed() {
		return nil, channels.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := h.cfg.Now()
	cmd, err := h.buildCommand(m, now)
	if err != nil {
		return failAll(to, channels.Permanent(err)), nil
	}
	body, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	alert := m.AlertID
	if alert == "" {
		alert = m.Key
	}
	until := *cmd.Until
	h.noteIssued(cmd.ID, m.Sent)
	return h.deliver(ctx, to, "a:"+alert, newHeldCmd(cmd.ID, until, now.UnixMilli(), int64(m.Version), body), now)
}

// buildCommand turns a message into the command body every recipient gets.
func (h *Hub) buildCommand(m *channels.Message, now time.Time) (wire.Command, error) {
	if err := m.Validate(); err != nil {
		return wire.Command{}, err
	}
	if err := wire.CheckID("message.key", m.Key); err != nil {
		return wire.Command{}, err
	}
	until := m.Expires
	if until.IsZero() {
		until = now.Add(24 * time.Hour)
	}
	if !until.After(now) {
		return wire.Command{}, &warning.FieldError{Field: "message.expires", Rule: "in the future", Value: until.Format(time.RFC3339)}
	}
	alert := m.AlertID
	if alert == "" {
		alert = m.Key
	}
	play := func() (*wire.Play, error) {
		if m.Audio == nil || m.Audio.URL == "" {
			return nil, &warning.FieldError{Field: "message.audio", Rule: "a loudspeaker needs a rendered programme (url + sha256)"}
		}
		repeats := h.cfg.DefaultRepeats
		if s := m.Attrs["repeats"]; s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 20 {
				return nil, &warning.FieldError{Field: "message.attrs.repeats", Rule: "1..20", Value: s}
			}
			repeats = n
		}
		p := &wire.Play{
			Key: m.Key, Alert: alert, URL: m.Audio.URL, SHA256: strings.ToLower(m.Audio.SHA256),
			Level: int(m.Level), Drill: m.Drill(), Repeats: repeats, Until: until, Duration: m.Audio.Duration,
		}
		if err := p.Validate("message"); err != nil {
			return nil, err
		}
		return p, nil
	}
	switch m.Kind {
	case warning.KindAlert, warning.KindUpdate:
		p, err := play()
		if err != nil {
			return wire.Command{}, err
		}
		return wire.Command{Op: wire.OpPlay, ID: "play:" + m.Key, Play: p, Until: &until}, nil
	case warning.KindCancel, warning.KindAllClear:
		st := &wire.Stop{Key: m.Key, Alert: alert}
		if m.Audio != nil && m.Audio.URL != "" {
			p, err := play()
			if err != nil {
				return wire.Command{}, err
			}
			st.Then = p
		}
		return wire.Command{Op: wire.OpStop, ID: "stop:" + m.Key, Stop: st, Until: &until}, nil
	default:
		return wire.Command{}, &warning.FieldError{Field: "message.kind", Rule: "alert, update, cancel or allclear", Value: m.Kind.String()}
	}
}

// deliver holds hc under field for every recipient, each copy with its
// device's MAC, and announces it.
func (h *Hub) deliver(ctx context.Context, to []channels.Recipient, field string, hc *heldCmd, now time.Time) ([]channels.Result, error) {
	until := hc.until
	res := make([]channels.Result, 0, len(to))
	devs, err := h.lookup(ctx, to)
	if err != nil {
		return nil, err
	}
	ttl := until.Sub(now).Milliseconds() + 60_000
	var ok []channels.Recipient
	for _, r := range to {
		d, found := devs[r.Address]
		switch {
		case !found:
			res = append(res, channels.Result{RecipientID: r.ID, State: channels.StateFailed,
				Err: channels.Permanent(fmt.Errorf("speaker %q: %w", r.Address, ErrUnknownDevice))})
		case d.Revoked:
			res = append(res, channels.Result{RecipientID: r.ID, State: channels.StateFailed,
				Err: channels.Permanent(fmt.Errorf("speaker %q: %w", r.Address, ErrRevoked))})
		default:
			ok = append(ok, r)
		}
	}
	// Every hold goes in (one Redis pipeline per chunk) before one
	// announcement names every device whose hold changed: announcing the
	// first chunk while the next is held made the second wait for Redis
	// and CPU behind the first one's signing, writes and the devices'
	// reports (measured: 5,000 speakers, the second half's frames 0.6–1 s
	// after the first half's). One announcement is also one broadcast
	// signature per node. Context cancellation is checked between chunks;
	// what is held by then is announced all the same.
	const chunk = 2500
	var fresh, freshMacs []string
	announce := func() {
		if len(fresh) == 0 {
			return
		}
		msg, _ := json.Marshal(busMsg{Kind: "cmd", Devices: fresh, Macs: freshMacs, Field: field, Value: hc.template})
		if err := h.cfg.Redis.Publish(context.WithoutCancel(ctx), h.keys.bus(), msg).Err(); err != nil {
			// Held already: the device gets it on reconnect or at the
			// next resync, so the recipients count as sent.
			h.log.Warn("speaker: announce failed; held commands go out at resync", "err", err)
		}
	}
	for start := 0; start < len(ok); start += chunk {
		if err := ctx.Err(); err != nil {
			announce()
			return res, err // the rest have no result and will be retried
		}
		batch := ok[start:min(start+chunk, len(ok))]
		macs := make([]string, len(batch))
		for i, r := range batch {
			macs[i] = h.mac.hold(r.Address, field, &hc.digest)
		}
		f, fm, err := h.hold(ctx, batch, macs, field, hc, ttl)
		if err != nil {
			announce()
			return res, fmt.Errorf("speaker: hold commands: %w", err)
		}
		fresh, freshMacs = append(fresh, f...), append(freshMacs, fm...)
		for _, r := range batch {
			res = append(res, channels.Result{RecipientID: r.ID, State: channels.StateSent, Ref: r.Address})
		}
	}
	announce()
	return res, nil
}

// hold stores hc for each recipient with its MAC and returns the devices
// whose entry changed (a newer version already held is not replaced) and
// their MACs.
func (h *Hub) hold(ctx context.Context, batch []channels.Recipient, macs []string, field string, hc *heldCmd, ttl int64) ([]string, []string, error) {
	version := strconv.FormatInt(hc.version, 10)
	values := make([]string, len(batch))
	for i := range batch {
		values[i] = encodeHeld(hc.id, hc.until, hc.created, hc.version, macs[i], hc.body)
	}
	for attempt := 0; ; attempt++ {
		pipe := h.cfg.Redis.Pipeline()
		cmds := make([]*redis.Cmd, len(batch))
		for i, r := range batch {
			cmds[i] = holdScript.EvalSha(ctx, pipe, []string{h.keys.hold(r.Address), h.keys.acked(r.Address)}, field, values[i], version, ttl)
		}
		_, err := pipe.Exec(ctx)
		if err != nil && attempt == 0 && redis.HasErrorPrefix(err, "NOSCRIPT") {
			if err := holdScript.Load(ctx, h.cfg.Redis).Err(); err != nil {
				return nil, nil, err
			}
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		fresh := make([]string, 0, len(batch))
		freshMacs := make([]string, 0, len(batch))
		for i, c := range cmds {
			if n, _ := c.Int(); n == 1 {
				fresh = append(fresh, batch[i].Address)
				freshMacs = append(freshMacs, macs[i])
			}
		}
		return fresh, freshMacs, nil
	}
}

// lookup finds the recipients' devices. A device connected to this node
// is answered from memory: its credential was checked against the store,
// and it was not revoked, when it connected, and revoking it closes the
// connection (Disconnect closes a local one at once and tells the other
// nodes; revalidate closes any a lost message left open within
// ResyncInterval). The others (offline, or on another node) are read from
// the store. A county's Send used to read all its devices from the
// database before the first hold; now, with the fleet online, none.
func (h *Hub) lookup(ctx context.Context, to []channels.Recipient) (map[string]Device, error) {
	out := make(map[string]Device, len(to))
	var rest []channels.Recipient
	h.mu.RLock()
	for _, r := range to {
		if c := h.conns[r.Address]; c != nil && !c.revoked.Load() {
			out[r.Address] = Device{ID: c.dev, Village: c.village}
		} else {
			rest = append(rest, r)
		}
	}
	h.mu.RUnlock()
	if len(rest) == 0 {
		return out, nil
	}
	if bs, ok := h.cfg.Devices.(BatchDeviceStore); ok {
		ids := make([]string, len(rest))
		for i, r := range rest {
			ids[i] = r.Address
		}
		got, err := bs.Devices(ctx, ids)
		if err != nil {
			return nil, err
		}
		for id, d := range got {
			out[id] = d
		}
		return out, nil
	}
	for _, r := range rest {
		d, err := h.cfg.Devices.Device(ctx, r.Address)
		if errors.Is(err, ErrUnknownDevice) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("speaker: device store: %w", err)
		}
		out[r.Address] = d
	}
	return out, nil
}

func failAll(to []channels.Recipient, err error) []channels.Result {
	res := make([]channels.Result, len(to))
	for i, r := range to {
		res[i] = channels.Result{RecipientID: r.ID, State: channels.StateFailed, Err: err}
	}
	return res
}

// SetVolume sends a signed volume command (0..100) to one device, held until
// it is delivered (at most 24 h).
func (h *Hub) SetVolume(ctx context.Context, deviceID string, vol int) error {
	if vol < 0 || vol > 100 {
		return &warning.FieldError{Field: "volume", Rule: "0..100", Value: strconv.Itoa(vol)}
	}
	now := h.cfg.Now()
	until := now.Add(24 * time.Hour)
	id := "volume:" + strconv.FormatInt(now.UnixNano(), 36)
	body, _ := json.Marshal(wire.Command{Op: wire.OpVolume, ID: id, Volume: &vol, Until: &until})
	return h.single(ctx, []string{deviceID}, "volume", newHeldCmd(id, until, now.UnixMilli(), now.UnixMilli(), body), now)
}

// Live sends a signed "live" command telling devices to join a WebRTC room
// (the voice channel's live announcement). It is held until room.Until
// (default 10 min) for devices that are offline.
func (h *Hub) Live(ctx context.Context, deviceIDs []string, room wire.LiveRoom) error {
	now := h.cfg.Now()
	if room.Until.IsZero() {
		room.Until = now.Add(10 * time.Minute)
	}
	if room.Level == 0 {
		room.Level = 4
	}
	cmd := wire.Command{Op: wire.OpLive, ID: "live:" + room.ID, Live: &room, Until: &room.Until}
	body, _ := json.Marshal(cmd)
	if _, err := wire.ParseCommand(body); err != nil {
		return err
	}
	if !room.Until.After(now) {
		return &warning.FieldError{Field: "live.until", Rule: "in the future"}
	}
	return h.single(ctx, deviceIDs, "live:"+room.ID, newHeldCmd(cmd.ID, room.Until, now.UnixMilli(), now.UnixMilli(), body), now)
}

func (h *Hub) single(ctx context.Context, ids []string, field string, hc *heldCmd, now time.Time) error {
	if h.isClosed() {
		return channels.ErrClosed
	}
	to := make([]channels.Recipient, len(ids))
	for i, id := range ids {
		to[i] = channels.Recipient{ID: id, Address: id}
	}
	res, err := h.deliver(ctx, to, field, hc, now)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range res {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return errors.Join(errs...)
}
