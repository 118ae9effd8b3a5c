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
	ID       string      `json:"id"`
	Village  string      `json:"village,omitempty"`
	Online   bool        `json:"online"`
	State    DeviceState `json:"state"`
	Volume   int         `json:"volume"`
	Firmware string      `json:"firmware,omitempty"`
	Signal   int         `json:"signal,omitempty"` // dBm, 0 = unknown
	Playing  string      `json:"playing,omitempty"`
	Node     string      `json:"node,omitempty"`
	LastSeen time.Time   `json:"last_seen"`
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
		cfg.MaxFrame = DefaultMaxFrame
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
	return h.deliver(ctx, to, "a:"+alert, newHeldCmd(cmd.ID, until, now.UnixMilli(), int64(m.Version), body), now)
}

// buildCommand turns a message into the command body every recipient gets.
func (h *Hub) buildCommand(m *channels.Message, now time.Time) (Command, error) {
	if err := m.Validate(); err != nil {
		return Command{}, err
	}
	if err := checkID("message.key", m.Key); err != nil {
		return Command{}, err
	}
	until := m.Expires
	if until.IsZero() {
		until = now.Add(24 * time.Hour)
	}
	if !until.After(now) {
		return Command{}, &warning.FieldError{Field: "message.expires", Rule: "in the future", Value: until.Format(time.RFC3339)}
	}
	alert := m.AlertID
	if alert == "" {
		alert = m.Key
	}
	play := func() (*Play, error) {
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
		p := &Play{
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
			return Command{}, err
		}
		return Command{Op: wire.OpPlay, ID: "play:" + m.Key, Play: p, Until: &until}, nil
	case warning.KindCancel, warning.KindAllClear:
		st := &Stop{Key: m.Key, Alert: alert}
		if m.Audio != nil && m.Audio.URL != "" {
			p, err := play()
			if err != nil {
				return Command{}, err
			}
			st.Then = p
		}
		return Command{Op: wire.OpStop, ID: "stop:" + m.Key, Stop: st, Until: &until}, nil
	default:
		return Command{}, &warning.FieldError{Field: "message.kind", Rule: "alert, update, cancel or allclear", Value: m.Kind.String()}
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
	// Large chunks: holding is one Redis pipeline per chunk, and the
	// sooner all holds are in, the sooner every node signs and writes at
	// full speed. Context cancellation is checked between chunks.
	const chunk = 2500
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
	for start := 0; start < len(ok); start += chunk {
		if err := ctx.Err(); err != nil {
			return res, err // the rest have no result and will be retried
		}
		batch := ok[start:min(start+chunk, len(ok))]
		macs := make([]string, len(batch))
		for i, r := range batch {
			macs[i] = h.mac.hold(r.Address, field, &hc.digest)
		}
		fresh, freshMacs, err := h.hold(ctx, batch, macs, field, hc, ttl)
		if err != nil {
			return res, fmt.Errorf("speaker: hold commands: %w", err)
		}
		if len(fresh) > 0 {
			msg, _ := json.Marshal(busMsg{Kind: "cmd", Devices: fresh, Macs: freshMacs, Field: field, Value: hc.template})
			if err := h.cfg.Redis.Publish(ctx, h.keys.bus(), msg).Err(); err != nil {
				// Held already: the device gets it on reconnect or at the
				// next resync, so the recipients count as sent.
				h.log.Warn("speaker: announce failed; held commands go out at resync", "err", err)
			}
		}
		for _, r := range batch {
			res = append(res, channels.Result{RecipientID: r.ID, State: channels.StateSent, Ref: r.Address})
		}
	}
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

func (h *Hub) lookup(ctx context.Context, to []channels.Recipient) (map[string]Device, error) {
	if bs, ok := h.cfg.Devices.(BatchDeviceStore); ok {
		ids := make([]string, len(to))
		for i, r := range to {
			ids[i] = r.Address
		}
		return bs.Devices(ctx, ids)
	}
	out := make(map[string]Device, len(to))
	for _, r := range to {
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
	body, _ := json.Marshal(Command{Op: wire.OpVolume, ID: id, Volume: &vol, Until: &until})
	return h.single(ctx, []string{deviceID}, "volume", newHeldCmd(id, until, now.UnixMilli(), now.UnixMilli(), body), now)
}

// Live sends a signed "live" command telling devices to join a WebRTC room
// (the voice channel's live announcement). It is held until room.Until
// (default 10 min) for devices that are offline.
func (h *Hub) Live(ctx context.Context, deviceIDs []string, room LiveRoom) error {
	now := h.cfg.Now()
	if room.Until.IsZero() {
		room.Until = now.Add(10 * time.Minute)
	}
	if room.Level == 0 {
		room.Level = 4
	}
	cmd := Command{Op: wire.OpLive, ID: "live:" + room.ID, Live: &room, Until: &room.Until}
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

// Disconnect closes a device's connection on whatever node holds it; call it
// after revoking the device's credential.
func (h *Hub) Disconnect(ctx context.Context, deviceID string) error {
	return h.kick(ctx, deviceID, 0)
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
			st.State, _ = ParseDeviceState(v["state"])
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
func (h *Hub) report(dev string, f AgentFrame, key string) {
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
