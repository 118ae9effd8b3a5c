// Package agent is the program logic of a village loudspeaker: it dials the
// platform's speaker hub, verifies every command (Ed25519 signature, device
// id, freshness, strictly increasing sequence), plays programmes through a
// Sink in priority order, keeps verified audio in a local cache so it keeps
// playing when the network drops, and reports what it did.
//
// Besides the signature checks, it refuses an older version of a warning
// than one it accepted and any play of a warning it was told to stop, so a
// genuine command recorded and delivered again cannot roll a warning back.
//
// It must never play a command that failed verification, and never trust
// anything the network says about priority, device or time that is not
// inside a signed command. cmd/speaker wraps it in a binary.
package agent

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/alertcast/alertcast/channels/speaker/wire"
)

// Config configures one agent. Zero values mean the documented defaults.
type Config struct {
	// URL is the platform's base URL, e.g. "https://alertd.example.org".
	// The agent dials <URL with ws/wss scheme>/speaker/ws and resolves
	// relative audio URLs against it.
	URL        string
	Device     string // enrolled device id
	Credential string // the secret shown once at enrolment
	PublicKey  ed25519.PublicKey

	// StateDir keeps the last accepted sequence number, the ids of commands
	// already executed and the volume, so a restarted agent still refuses
	// replays and does not play twice. Empty keeps them in memory only
	// (simulation).
	StateDir string
	// Cache holds verified audio. Default: a cache in StateDir/audio (or a
	// temp dir when StateDir is empty).
	Cache *Cache
	Sink  Sink       // default DiscardSink
	Live  LiveJoiner // default NoLive: live commands are refused

	// Window is the accepted distance between a command's issued-at and the
	// device clock, either way. Default 2 min: devices keep time by NTP over
	// 4G; a command that took longer than that, or a device clock off by
	// more, is refused (and reported), never played late.
	Window time.Duration
	// Heartbeat is the interval of state reports. Default 20 s, jittered ±10 %.
	Heartbeat time.Duration
	// BackoffMin and BackoffMax bound the jittered exponential reconnect
	// delay. Defaults 1 s and 60 s.
	BackoffMin, BackoffMax time.Duration
	// DialTimeout bounds one connection attempt. Default 15 s.
	DialTimeout time.Duration

	Firmware string
	Signal   func() int // modem signal in dBm, 0 = unknown; may be nil
	Volume   int        // initial volume when no state is saved; default 80

	Logger *slog.Logger
	Dialer *websocket.Dialer
	Now    func() time.Time
}

// cmdMeta names a command in reports.
type cmdMeta struct {
	seq uint64
	id  string
	key string
}

// Agent is one loudspeaker.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	cache *Cache
	base  *url.URL
	ws    string

	// read-loop state
	ver      wire.Verifier
	seen     map[string]int64       // command id → until (Unix ms)
	versions map[string]versionMark // alert → highest warning version accepted

	player  *player
	playCtx context.Context // the player's lifetime: accepted commands outlive the connection

	mu       sync.Mutex
	outbox   []wire.AgentFrame
	notify   chan struct{}
	state    wire.DeviceState
	faulted  bool
	playing  string
	vol      int
	stateErr bool

	// reportsMerged counts "received" reports not sent because "playing"
	// of the same command followed at once (writeLoop).
	reportsMerged atomic.Int64
}

// ReportsMerged is how many "received" reports went out as the "playing"
// right behind them (one frame instead of two).
func (a *Agent) ReportsMerged() int64 { return a.reportsMerged.Load() }

// New checks cfg and loads the saved state.
func New(cfg Config) (*Agent, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("agent config: url: want http(s)://host[:port], got %q", cfg.URL)
	}
	if cfg.Device == "" {
		return nil, errors.New("agent config: device: required")
	}
	if cfg.Credential == "" {
		return nil, errors.New("agent config: credential: required")
	}
	if len(cfg.PublicKey) != ed25519.PublicKeySize {
		return nil, errors.New("agent config: platform public key: required (32-byte Ed25519)")
	}
	if cfg.Window <= 0 {
		cfg.Window = 2 * time.Minute
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 20 * time.Second
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = time.Second
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(60*time.Second, cfg.BackoffMin)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 15 * time.Second
	}
	if cfg.Sink == nil {
		cfg.Sink = &DiscardSink{}
	}
	if cfg.Live == nil {
		cfg.Live = NoLive{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &websocket.Dialer{HandshakeTimeout: cfg.DialTimeout, Proxy: http.ProxyFromEnvironment}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Volume == 0 {
		cfg.Volume = 80
	}
	a := &Agent{
		cfg:      cfg,
		log:      cfg.Logger.With("device", cfg.Device),
		base:     u,
		seen:     map[string]int64{},
		versions: map[string]versionMark{},
		notify:   make(chan struct{}, 1),
		state:    wire.StateNormal,
		vol:      cfg.Volume,
		ver:      wire.Verifier{Key: cfg.PublicKey, Device: cfg.Device, Window: cfg.Window},
	}
	ws := *u
	ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	ws.Path = strings.TrimSuffix(u.Path, "/") + "/speaker/ws"
	a.ws = ws.String()
	a.cache = cfg.Cache
	if a.cache == nil {
		dir := filepath.Join(cfg.StateDir, "audio")
		if cfg.StateDir == "" {
			if dir, err = os.MkdirTemp("", "speaker-audio-"); err != nil {
				return nil, err
			}
		}
		if a.cache, err = NewCache(dir, nil); err != nil {
			return nil, err
		}
	}
	if err := a.loadState(); err != nil {
		return nil, err
	}
	a.player = newPlayer(a)
	return a, nil
}

// Run plays and stays connected until ctx is done. Playback does not depend
// on the connection: a programme that started keeps playing from the cache
// while the agent reconnects.
func (a *Agent) Run(ctx context.Context) error {
	pctx, cancel := context.WithCancel(ctx)
	a.playCtx = pctx
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); a.player.run(pctx) }()
	defer func() { cancel(); wg.Wait() }()

	attempt := 0
	for {
		connected, err := a.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			attempt = 0
		}
		d := a.backoff(attempt)
		attempt++
		a.log.Warn("speaker agent: disconnected; reconnecting", "err", err, "in", d.Round(time.Millisecond))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff is exponential with equal jitter, so thousands of speakers that
// lost the same cell tower do not come back in lockstep.
func (a *Agent) backoff(attempt int) time.Duration {
	d := a.cfg.BackoffMin << min(attempt, 16)
	if d > a.cfg.BackoffMax || d <= 0 {
		d = a.cfg.BackoffMax
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// session runs one connection. It reports whether the connection was
// established.
func (a *Agent) session(ctx context.Context) (bool, error) {
	hdr := http.Header{}
	hdr.Set(wire.HeaderDevice, a.cfg.Device)
	hdr.Set(wire.HeaderVersion, wire.ProtocolVersion)
	hdr.Set(wire.HeaderFeatures, wire.FeatureBroadcast)
	hdr.Set("Authorization", "Bearer "+a.cfg.Credential)
	dctx, cancel := context.WithTimeout(ctx, a.cfg.DialTimeout)
	c, resp, err := a.cfg.Dialer.DialContext(dctx, a.ws, hdr)
	cancel()
	if err != nil {
		if resp != nil {
			return false, fmt.Errorf("dial %s: HTTP %d", a.ws, resp.StatusCode)
		}
		return false, fmt.Errorf("dial %s: %w", a.ws, err)
	}
	defer c.Close()
	c.SetReadLimit(wire.MaxHubFrame)

	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	var werr error
	go func() {
		defer wg.Done()
		werr = a.writeLoop(sctx, c)
		stop()
		c.Close() // unblocks the read below
	}()
	err = a.readLoop(sctx, c)
	stop()
	c.Close()
	wg.Wait()
	if err == nil {
		err = werr
	}
	return true, err
}

func (a *Agent) readLoop(ctx context.Context, c *websocket.Conn) error {
	for {
		_ = c.SetReadDeadline(time.Now().Add(3 * a.cfg.Heartbeat))
		mt, b, err := c.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if mt != websocket.TextMessage {
			return errors.New("hub sent a binary frame")
		}
		f, err := wire.ParseHubFrame(b)
		if err != nil {
			// Not what a hub sends: drop the connection and dial again.
			return fmt.Errorf("hub frame: %w", err)
		}
		switch f.Type {
		case wire.FrameWelcome:
			if skew := a.now().Sub(f.Time); skew > a.cfg.Window/2 || skew < -a.cfg.Window/2 {
				a.log.Warn("speaker agent: clock differs from the platform's; commands may be refused as stale",
					"skew", skew.Round(time.Millisecond), "window", a.cfg.Window)
			}
		case wire.FrameCommand:
			if f.Broadcast != nil {
				a.onBroadcast(ctx, *f.Broadcast)
			} else {
				a.onCommand(ctx, *f.Command)
			}
		}
	}
}

// onCommand verifies and executes one command.
func (a *Agent) onCommand(ctx context.Context, sc wire.SignedCommand) {
	now := a.now()
	before := a.ver.LastSeq
	cmd, err := a.ver.Verify(sc, now)
	if err != nil {
		a.log.Warn("speaker agent: refused command", "seq", sc.Seq, "reason", err)
		a.report(cmdMeta{seq: sc.Seq}, wire.StepRefused, err.Error())
		if a.ver.LastSeq != before {
			a.saveState()
		}
		return
	}
	a.execute(cmd, sc.Seq, now)
}

// onBroadcast verifies and executes one command signed for a set of devices.
func (a *Agent) onBroadcast(ctx context.Context, b wire.Broadcast) {
	now := a.now()
	before := a.ver.LastBroadcast
	cmd, err := a.ver.VerifyBroadcast(b, now)
	if err != nil {
		a.log.Warn("speaker agent: refused broadcast command", "seq", b.Seq, "reason", err)
		a.report(cmdMeta{seq: b.Seq}, wire.StepRefused, err.Error())
		if a.ver.LastBroadcast != before {
			a.saveState()
		}
		return
	}
	a.execute(cmd, b.Seq, now)
}

// execute runs a verified command once: duplicates, older versions of a
// warning and plays of a stopped warning are refused here, whichever way
// the command was signed.
func (a *Agent) execute(cmd wire.Command, seq uint64, now time.Time) {
	meta := cmdMeta{seq: seq, id: cmd.ID, key: commandKey(cmd)}
	if _, dup := a.seen[cmd.ID]; dup {
		// A redelivery (flapping link, a node that did not see our
		// acknowledgement): acknowledge again, do nothing.
		a.report(meta, wire.StepReceived, "duplicate")
		a.saveState()
		return
	}
	until := now.Add(24 * time.Hour)
	if cmd.Until != nil {
		until = *cmd.Until
	}
	alert, version := commandVersion(cmd)
	if mark, ok := a.versions[alert]; ok && version > 0 && version < mark.Version {
		// An older version of a warning after a newer one: a genuine
		// command delivered again (recorded and written back into the
		// platform's cache). Never roll a warning back on the air.
		a.log.Warn("speaker agent: refused an older version of an alert", "seq", seq, "alert", alert,
			"version", version, "newest", mark.Version)
		a.report(meta, wire.StepRefused, fmt.Sprintf("%s: version %d after %d", ErrOlderVersion, version, mark.Version))
		return
	}
	if cmd.Op == wire.OpPlay {
		if _, stopped := a.seen[stoppedMark(cmd.Play.Alert)]; stopped {
			// A cancelled or all-clear warning has no later version, so
			// this is a genuine but superseded play delivered again (a
			// recorded hold written back into the platform's cache):
			// never let it bring the warning back on the air.
			a.log.Warn("speaker agent: refused a play of a stopped alert", "seq", seq, "alert", cmd.Play.Alert)
			a.report(meta, wire.StepRefused, ErrAlertStopped.Error())
			return
		}
	}
	a.seen[cmd.ID] = until.UnixMilli()
	if version > 0 {
		keep := max(until.UnixMilli(), now.Add(stoppedMemory).UnixMilli())
		if mark := a.versions[alert]; version > mark.Version || keep > mark.Until {
			a.versions[alert] = versionMark{Version: max(version, mark.Version), Until: max(keep, mark.Until)}
		}
	}
	if cmd.Op == wire.OpStop {
		// Remembered (and saved) well past the stop's own expiry: a play
		// of the same alert may have been issued with a later one.
		a.seen[stoppedMark(cmd.Stop.Alert)] = max(until.UnixMilli(), now.Add(stoppedMemory).UnixMilli())
	}
	a.saveState()
	if !until.After(now) {
		a.report(meta, wire.StepExpired, "")
		return
	}
	a.report(meta, wire.StepReceived, "")
	switch cmd.Op {
	case wire.OpPlay:
		it := playItem(meta, cmd.Play, until)
		a.player.do(a.playCtx, func() { a.player.add(it) })
	case wire.OpStop:
		st := cmd.Stop
		a.player.do(a.playCtx, func() {
			a.player.stop(st.Alert)
			if st.Then == nil {
				a.report(meta, wire.StepStopped, "")
				return
			}
			a.player.add(playItem(meta, st.Then, until))
		})
	case wire.OpVolume:
		a.mu.Lock()
		a.vol = *cmd.Volume
		a.mu.Unlock()
		a.saveState()
		a.report(meta, wire.StepApplied, "")
	case wire.OpLive:
		if _, none := a.cfg.Live.(NoLive); none {
			// Refuse without touching the player: a live command this
			// device cannot join must not interrupt what is playing.
			a.report(meta, wire.StepRefused, ErrLiveUnsupported.Error())
			return
		}
		room := *cmd.Live
		it := &item{meta: meta, live: &room, alert: "live:" + room.ID, level: room.Level, until: minTime(until, room.Until)}
		a.player.do(a.playCtx, func() { a.player.add(it) })
	}
}

// ErrOlderVersion is the refusal of a command for an older version of a
// warning than one the device already accepted.
var ErrOlderVersion = errors.New("older version of the alert (replayed)")

// versionMark is the newest version of an alert a device accepted and how
// long to remember it.
type versionMark struct {
	Version int   `json:"v"`
	Until   int64 `json:"until"` // Unix ms
}

// commandVersion returns a play's or stop's alert and warning version. The
// version comes from the key, which the platform writes as
// "<alert id>/v<version>" (channels.Message.Key); 0 when the key does not
// have that form, and then no ordering is enforced.
func commandVersion(c wire.Command) (string, int) {
	var alert, key string
	switch {
	case c.Op == wire.OpPlay && c.Play != nil:
		alert, key = c.Play.Alert, c.Play.Key
	case c.Op == wire.OpStop && c.Stop != nil:
		alert, key = c.Stop.Alert, c.Stop.Key
	default:
		return "", 0
	}
	rest, ok := strings.CutPrefix(key, alert+"/v")
	if !ok {
		return alert, 0
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 {
		return alert, 0
	}
	return alert, n
}

// ErrAlertStopped is the refusal of a play for an alert the device was
// already told to stop.
var ErrAlertStopped = errors.New("alert already stopped (cancelled or all-clear)")

// stoppedMemory is how long a device remembers that an alert was stopped.
const stoppedMemory = 7 * 24 * time.Hour

// stoppedMark is the key in seen that records a stopped alert. Platform
// command ids start with "play:", "stop:", "volume:" or "live:", so it
// cannot collide with one.
func stoppedMark(alert string) string { return "stopped\x00" + alert }

func playItem(meta cmdMeta, p *wire.Play, until time.Time) *item {
	return &item{meta: meta, play: p, alert: p.Alert, level: p.Level, drill: p.Drill, until: minTime(until, p.Until)}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func commandKey(c wire.Command) string {
	switch c.Op {
	case wire.OpPlay:
		return c.Play.Key
	case wire.OpStop:
		return c.Stop.Key
	case wire.OpLive:
		return "live:" + c.Live.ID
	}
	return ""
}

// writeLoop sends the first heartbeat at once, then heartbeats and queued
// reports.
func (a *Agent) writeLoop(ctx context.Context, c *websocket.Conn) error {
	write := func(f wire.AgentFrame) error {
		b, err := json.Marshal(f)
		if err != nil {
			return err
		}
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return c.WriteMessage(websocket.TextMessage, b)
	}
	if err := write(a.heartbeat()); err != nil {
		return err
	}
	jitter := func() time.Duration {
		hb := a.cfg.Heartbeat
		return hb - hb/10 + time.Duration(rand.Int64N(int64(hb/5)+1))
	}
	t := time.NewTimer(jitter())
	defer t.Stop()
	for {
		// Reports first: they were queued while a previous connection was down.
		for {
			a.mu.Lock()
			if len(a.outbox) == 0 {
				a.mu.Unlock()
				break
			}
			f := a.outbox[0]
			skip := mergedIntoNext(a.outbox)
			a.mu.Unlock()
			if skip {
				a.reportsMerged.Add(1)
			} else if err := write(f); err != nil {
				return err
			}
			a.mu.Lock()
			a.outbox = a.outbox[1:]
			a.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
			return nil
		case <-a.notify:
		case <-t.C:
			if err := write(a.heartbeat()); err != nil {
				return err
			}
			t.Reset(jitter())
		}
	}
}

// mergedIntoNext reports whether the first report of outbox need not be
// written: a "received" with "playing" of the same command right behind it
// says nothing "playing" does not. The hub takes either as the
// acknowledgement and the record shows the later one; one report instead
// of two, on the device and the platform, at the moment thousands of
// devices answer the same warning. A "received" with a reason
// ("duplicate"), or followed by anything else, is written.
func mergedIntoNext(outbox []wire.AgentFrame) bool {
	if len(outbox) < 2 {
		return false
	}
	f, next := outbox[0], outbox[1]
	return f.Type == wire.FrameReport && f.Step == wire.StepReceived && f.Reason == "" && f.ID != "" &&
		next.Type == wire.FrameReport && next.Step == wire.StepPlaying && next.ID == f.ID && next.Seq == f.Seq
}

func (a *Agent) heartbeat() wire.AgentFrame {
	sig := 0
	if a.cfg.Signal != nil {
		sig = max(-200, min(0, a.cfg.Signal()))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	f := wire.AgentFrame{Type: wire.FrameHeartbeat, State: a.state, Volume: a.vol,
		Firmware: a.cfg.Firmware, Signal: sig, Playing: a.playing}
	if a.state == wire.StateRecovered {
		a.state = wire.StateNormal // reported once
	}
	return f
}

// maxOutbox bounds reports queued while offline; the oldest go first.
const maxOutbox = 1024

func (a *Agent) report(m cmdMeta, step, reason string) {
	if len(reason) > 500 {
		reason = reason[:500]
	}
	f := wire.AgentFrame{Type: wire.FrameReport, Seq: m.seq, ID: m.id, Key: m.key, Step: step,
		Reason: strings.ToValidUTF8(reason, "?"), At: a.now().UTC()}
	a.mu.Lock()
	if len(a.outbox) >= maxOutbox {
		a.outbox = a.outbox[1:]
	}
	a.outbox = append(a.outbox, f)
	a.mu.Unlock()
	select {
	case a.notify <- struct{}{}:
	default:
	}
}

func (a *Agent) setBusy(key string) {
	a.mu.Lock()
	a.state, a.playing = wire.StateBroadcasting, key
	a.mu.Unlock()
}

func (a *Agent) setIdle(s wire.DeviceState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.playing = ""
	switch {
	case s == wire.StateFault:
		a.faulted = true
	case a.faulted && s == wire.StateNormal:
		a.faulted = false
		s = wire.StateRecovered
	}
	a.state = s
}

// State returns the state the next heartbeat reports.
func (a *Agent) State() wire.DeviceState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

func (a *Agent) volume() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.vol
}

func (a *Agent) now() time.Time { return a.cfg.Now() }

func (a *Agent) resolve(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return a.base.ResolveReference(u).String()
}

// prefetch starts downloading a queued programme so it can start at once
// when it reaches the front (or preempts what is playing).
func (a *Agent) prefetch(p *wire.Play) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		_, _ = a.cache.Get(ctx, a.resolve(p.URL), p.SHA256)
	}()
}

// ---- persistent state --------------------------------------------------------
