package alertd

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
	"gopkg.in/yaml.v3"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/outbox"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/wire"
	"github.com/alertcast/alertcast/channels/voice"
	"github.com/alertcast/alertcast/channels/websocket"
	"github.com/alertcast/alertcast/console"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// SpeakersConfig is the "speakers:" section.
type SpeakersConfig struct {
	Enabled          *bool         `yaml:"enabled"`           // default true
	KeyFile          string        `yaml:"key_file"`          // Ed25519 platform key; default DATA_DIR/speaker-ed25519.key
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"` // default: the hub's (documented there)
	FreshnessWindow  time.Duration `yaml:"freshness_window"`  // default: the hub's
}

// WebSocketConfig is the "websocket:" section.
type WebSocketConfig struct {
	Enabled        *bool    `yaml:"enabled"`          // default true
	AllowedOrigins []string `yaml:"allowed_origins"`  // besides the server's own host
	HistoryLen     int      `yaml:"history_len"`      // default 1000
	MaxConnsPerIP  int      `yaml:"max_conns_per_ip"` // default 256 (carriers put many phones behind one address); negative: no cap
	ClientIPHeader string   `yaml:"client_ip_header"` // behind a trusted proxy: e.g. X-Forwarded-For
	// LiftedFor: how long resident pages show a lifted or cancelled warning
	// as a notice with its reason. Default 24h; negative: removed at once.
	LiftedFor time.Duration `yaml:"lifted_for"`
}

// VoiceConfig is the "voice:" section.
type VoiceConfig struct {
	Enabled    *bool `yaml:"enabled"` // default true
	ICEServers []struct {
		URLs       []string `yaml:"urls"`
		Username   string   `yaml:"username"`
		Credential string   `yaml:"credential"`
	} `yaml:"ice_servers"`
	// Loopback is the documented profile for tests and single-host demos:
	// loopback candidates on, interface filter lo, UDP4 only, mDNS off.
	Loopback   bool   `yaml:"loopback"`
	UDPPortMin uint16 `yaml:"udp_port_min"`
	UDPPortMax uint16 `yaml:"udp_port_max"`

	VoiceLiveConfig `yaml:",inline"` // two-person rule and recording, voice_live.go
}

// AudioConfig is the "audio:" section.
type AudioConfig struct {
	Espeak        string `yaml:"espeak"`   // espeak-ng binary; default "espeak-ng" on PATH; "off" for tone-only
	Speed         int    `yaml:"speed"`    // words per minute; default 140
	Repeats       int    `yaml:"repeats"`  // programme repeats; default 2
	EspeakVoiceZh string `yaml:"voice_zh"` // default cmn-latn-pinyin
	EspeakVoiceUg string `yaml:"voice_ug"` // default ug
}

func decodeSection(n *yaml.Node, name string, v any) error {
	if n == nil || n.Kind == 0 {
		return nil
	}
	if err := n.Decode(v); err != nil {
		return fmt.Errorf("config %s: %w", name, err)
	}
	return nil
}

func on(b *bool) bool { return b == nil || *b }

// wireChannels builds every channel. A channel that is not configured is
// replaced by the outbox, and the log says so loudly.
func (s *Server) wireChannels(ctx context.Context) (map[string]channels.Channel, dispatch.Previewer, error) {
	out := map[string]channels.Channel{}
	var preview dispatch.Previewer
	rep := s.reporter()
	var (
		spkCfg SpeakersConfig
		wsCfg  WebSocketConfig
		vcCfg  VoiceConfig
		smsCfg sms.Config
	)
	for _, d := range []struct {
		n    *yaml.Node
		name string
		v    any
	}{{&s.cfg.Speakers, "speakers", &spkCfg}, {&s.cfg.Web, "websocket", &wsCfg}, {&s.cfg.Voice, "voice", &vcCfg}, {&s.cfg.SMS, "sms", &smsCfg}} {
		if err := decodeSection(d.n, d.name, d.v); err != nil {
			return nil, preview, err
		}
	}
	forced := func(name string) bool { return slices.Contains(s.cfg.Outbox, name) }

	// Audio: programmes for speakers and voice calls.
	if err := s.wireAudio(); err != nil {
		return nil, preview, err
	}

	// WebSocket: resident pages and consoles.
	if on(wsCfg.Enabled) && !forced("websocket") {
		hub, err := websocket.NewHub(websocket.Config{
			Redis: s.redis.Client, Tree: s.popIndex.Tree(), AllowedOrigins: wsCfg.AllowedOrigins, HistoryLen: wsCfg.HistoryLen,
			MaxConnsPerIP: wsCfg.MaxConnsPerIP, ClientIPHeader: wsCfg.ClientIPHeader, Logger: s.log.With("channel", "websocket"), Registry: s.prom,
			LiftedFor: wsCfg.LiftedFor,
			VillageLanguage: func(v string) string {
				l, _ := s.popIndex.Index().MajorityLanguage(v)
				return l
			},
			Authenticate: func(ctx context.Context, token string) (string, bool) {
				if s.api == nil {
					return "", false
				}
				_, role, ok := s.api.TokenRole(ctx, token)
				return role.String(), ok
			},
			RedeemTicket: func(ctx context.Context, ticket string) (string, bool) {
				_, role, ok := ticketStore{rdb: s.redis.Client}.Redeem(ctx, ticket)
				return role.String(), ok
			},
		})
		if err != nil {
			return nil, preview, fmt.Errorf("websocket: %w", err)
		}
		s.ws = hub
		s.closers = append(s.closers, func() { _ = hub.Close() })
		out["websocket"] = hub
		preview.Subscribers = func(m *channels.Message) int { return hub.Subscribers() }
	}

	// Loudspeakers.
	if on(spkCfg.Enabled) && !forced("speaker") {
		keyFile := spkCfg.KeyFile
		if keyFile == "" {
			keyFile = filepath.Join(s.cfg.DataDir, "speaker-ed25519.key")
		}
		key, err := speaker.LoadOrCreateKey(keyFile)
		if err != nil {
			return nil, preview, fmt.Errorf("speakers.key_file: %w", err)
		}
		hub, err := speaker.NewHub(speaker.Config{
			Redis: s.redis.Client, Devices: deviceStore{s.store}, Key: key, Reporter: rep,
			Logger: s.log.With("channel", "speaker"), Registry: s.prom,
			HeartbeatTimeout: spkCfg.HeartbeatTimeout, FreshnessWindow: spkCfg.FreshnessWindow,
		})
		if err != nil {
			return nil, preview, fmt.Errorf("speakers: %w", err)
		}
		s.speakers = hub
		s.speakerPub = speaker.EncodePublicKey(key.Public().(ed25519.PublicKey))
		s.closers = append(s.closers, func() { _ = hub.Close() })
		out["speaker"] = hub
		preview.OfflineSpeakers = func(ctx context.Context, ids []string) int {
			st, err := hub.Status(ctx)
			if err != nil {
				return 0
			}
			online := make(map[string]bool, len(st))
			for _, d := range st {
				if d.Online {
					online[d.ID] = true
				}
			}
			n := 0
			for _, id := range ids {
				if !online[id] {
					n++
				}
			}
			return n
		}
	}

	// Voice: SFU, signalling, field calls.
	if on(vcCfg.Enabled) && !forced("voice") {
		threshold, err := vcCfg.livePolicy()
		if err != nil {
			return nil, preview, err
		}
		approval, err := s.cfg.Policy.Policy()
		if err != nil {
			return nil, preview, err
		}
		// The dispatch approval policy always applies to going live; the
		// voice section can only add to it (more levels, county-wide).
		policy := voice.LivePolicyFunc(func(level int, codes []string) bool {
			return approval.NeedsApprovalForLive(warning.Level(level), dispatch.Area{Codes: codes}) || threshold.NeedsApproval(level, codes)
		})
		vc := voice.Config{
			Loopback: vcCfg.Loopback, UDPPortMin: vcCfg.UDPPortMin, UDPPortMax: vcCfg.UDPPortMax,
			LivePolicy: policy, ApprovalTimeout: vcCfg.LiveApprovalTimeout, Audit: voiceAudit(s.store),
			RecordDir: vcCfg.recordDir(s.cfg.DataDir), Reporter: rep, Logger: s.log.With("channel", "voice"),
			Registry: s.prom, PublicURL: s.cfg.PublicURL,
			Authenticate: func(ctx context.Context, token string) (string, string, bool) {
				if s.api == nil {
					return "", "", false
				}
				name, role, ok := s.voiceCredential(ctx, token)
				// Voice roles: officers go live and call; field team
				// members (viewer accounts) are rung and listen.
				switch {
				case role == dispatch.RoleAdmin:
					return name, "admin", ok
				case role == dispatch.RoleApprover:
					return name, voice.RoleApprover, ok
				case role.Can(dispatch.RoleOperator):
					return name, "officer", ok
				}
				return name, "field", ok
			},
			OnRecording: func(ctx context.Context, r voice.Recording) {
				_ = s.store.Audit(context.WithoutCancel(ctx), dispatch.AuditEntry{Actor: r.User, Action: "voice.recording",
					Detail: fmt.Sprintf(`{"room":%q,"kind":%q,"path":%q,"packets":%d,"started":%q,"ended":%q}`,
						r.Room, r.Kind, r.Path, r.Packets, r.Started.Format(time.RFC3339), r.Ended.Format(time.RFC3339))})
			},
		}
		for _, ice := range vcCfg.ICEServers {
			vc.ICEServers = append(vc.ICEServers, webrtc.ICEServer{URLs: ice.URLs, Username: ice.Username, Credential: ice.Credential})
		}
		if s.audio != nil {
			vc.Audio = pcmuSource{s.audio}
		}
		if s.speakers != nil {
			vc.Live = liveAdapter{s.speakers}
			vc.Endpoints = onlineSpeakers{s.speakers}
			vc.Devices = regionDevices{s}
		}
		srv, err := voice.New(vc)
		if err != nil {
			return nil, preview, fmt.Errorf("voice: %w", err)
		}
		s.voice = srv
		s.closers = append(s.closers, func() { _ = srv.Close() })
		out["voice"] = srv.Channel()
	}

	// SMS: only when gateways are configured.
	if len(smsCfg.Gateways) > 0 && !forced("sms") {
		smsCfg.Refs = smsRefs{s.store}
		ch, err := sms.New(smsCfg, rep, s.log.With("channel", "sms"), s.prom)
		if err != nil {
			return nil, preview, fmt.Errorf("sms: %w", err)
		}
		s.sms = ch
		s.closers = append(s.closers, func() { _ = ch.Close() })
		out["sms"] = ch
	}
	preview.SMSParts = func(m *channels.Message) map[string]int {
		parts := map[string]int{}
		rs, err := sms.Preview(m, smsCfg)
		if err != nil {
			return parts
		}
		for lang, r := range rs {
			parts[lang] = r.Parts
		}
		return parts
	}

	recorder := outboxRecorder{s.store}
	for _, name := range dispatch.ChannelNames {
		if out[name] == nil {
			// The outbox records what the real channel would have sent,
			// rendered by that channel's own renderer.
			var opts []outbox.Option
			switch name {
			case "sms":
				opts = append(opts, outbox.WithRender(outbox.SMS(smsCfg)))
			case "speaker":
				opts = append(opts, outbox.WithRender(outbox.Speaker()))
			}
			out[name] = outbox.New(name, recorder, opts...)
			s.log.Warn("channel not configured: messages are recorded in the outbox (GET /api/v1/outbox), NOT SENT", "channel", name)
		}
	}
	return out, preview, nil
}

func (s *Server) wireAudio() error {
	var ac AudioConfig
	if err := decodeSection(&s.cfg.Audio, "audio", &ac); err != nil {
		return err
	}
	var synth audio.Synthesizer
	if ac.Espeak != "off" {
		voices := map[string]string{}
		if ac.EspeakVoiceZh != "" {
			voices["zh"] = ac.EspeakVoiceZh
		}
		if ac.EspeakVoiceUg != "" {
			voices["ug"] = ac.EspeakVoiceUg
		}
		es, err := audio.NewEspeak(audio.EspeakConfig{Binary: ac.Espeak, Speed: ac.Speed, Voices: voices})
		switch {
		case err == nil:
			synth = es
		case errors.Is(err, audio.ErrNoSynthesizer):
			s.log.Error("espeak-ng not found: loudspeaker programmes will be TONE ONLY (marked in every delivery record). Install Debian package espeak-ng.")
		default:
			return fmt.Errorf("audio: %w", err)
		}
	}
	r, err := audio.NewRenderer(audio.Config{Dir: filepath.Join(s.cfg.DataDir, "audio"), Synth: synth, Logger: s.log.With("component", "audio"), Registerer: s.prom})
	if err != nil {
		return fmt.Errorf("audio: %w", err)
	}
	s.audio = r
	s.audioRepeats = ac.Repeats
	return nil
}

// RenderAlert implements dispatch.AudioRenderer: the attention signal of the
// level (or the all-clear), the drill marker, then the text in Mandarin and
// Uyghur.
func (s *Server) RenderAlert(ctx context.Context, a *dispatch.Alert) (*channels.Audio, error) {
	p := audio.Programme{Drill: a.Status.Drill(), Repeats: s.audioRepeats}
	switch {
	case a.Kind == warning.KindAllClear:
		p.Attention = audio.SignalAllClear
	case a.Kind == warning.KindCancel:
		p.Attention = audio.SignalCancel // its own figure: never a warning cadence, never the all-clear
	default:
		p.Attention = audio.Signal(int(a.Level)) // SignalBlue..SignalRed follow LevelBlue..LevelRed
	}
	p.Speech = speechSegments(a)
	r, err := s.audio.Render(ctx, p)
	if err != nil {
		return nil, err
	}
	// Any node may be asked for the file (a speaker downloads from the node
	// it is connected to): keep what the programme was, so a node without
	// the file renders the same bytes on demand.
	// Once per programme and process: previews and polls render (cache
	// hits) again and again.
	// (refreshed daily, well inside the key's 8-day life).
	if at, ok := s.specStored.Load(r.SHA256); !ok || time.Since(at.(time.Time)) > 24*time.Hour {
		s.specStored.Store(r.SHA256, time.Now())
		if spec, err := json.Marshal(p); err == nil {
			if err := s.redis.Client.Set(ctx, programmeKey(r.SHA256), spec, 8*24*time.Hour).Err(); err != nil {
				s.specStored.Delete(r.SHA256)
			}
		}
	}
	return &channels.Audio{SHA256: r.SHA256, URL: s.cfg.PublicURL + "/audio/" + r.SHA256 + ".wav", Duration: r.Duration,
		Format: fmt.Sprintf("wav/pcm16/%d", r.SampleRate), ToneOnly: r.ToneOnly}, nil
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimRight(strings.TrimSpace(s), "。."); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// audioRenderer returns the programme renderer.
func (s *Server) audioRenderer() dispatch.AudioRenderer {
	if s.audio == nil {
		return nil
	}
	return s
}

// progressLoop publishes delivery progress of recently changed warnings to
// consoles over the WebSocket hub, once a second while work is pending.
func (s *Server) progressLoop() {
	defer s.bg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stopBG:
			return
		case <-t.C:
		}
		s.hotMu.Lock()
		ids := make([]string, 0, len(s.hot))
		for id, until := range s.hot {
			if time.Now().After(until) {
				delete(s.hot, id)
				continue
			}
			ids = append(ids, id)
		}
		s.hotMu.Unlock()
		for _, id := range ids {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			a, err := s.store.Alert(ctx, id)
			if err == nil {
				if per, ov, err := dispatch.ReadProgress(ctx, s.store, s.progressSources(), a); err == nil {
					_ = s.ws.PublishProgress(ctx, a.ID, map[string]any{"state": a.State, "version": a.Version, "progress": per, "overall": ov})
				}
			}
			cancel()
		}
	}
}

// onAlertChange is called after every stored change of a warning: consoles
// hear of it at once and follow its progress for a while.
func (s *Server) onAlertChange(a *dispatch.Alert) {
	if s.ws == nil {
		return
	}
	s.hotMu.Lock()
	s.hot[a.ID] = time.Now().Add(10 * time.Minute)
	s.hotMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.ws.PublishProgress(ctx, a.ID, map[string]any{"state": a.State, "version": a.Version})
}

// mountChannels adds the channels' HTTP endpoints.
func (s *Server) mountChannels(mux dispatch.Router) {
	if s.audio != nil {
		h := http.StripPrefix("/audio", s.audio.Handler())
		mux.Handle("GET /audio/", s.renderOnMiss(h))
		mux.Handle("HEAD /audio/", s.renderOnMiss(h))
	}
	if s.ws != nil {
		mux.Handle("GET /ws", s.ws.Handler())
		mux.Handle("GET /sse", s.ws.SSEHandler())
		mux.Handle("GET /r/", s.ws.PageHandler())
		mux.Handle("GET /r", http.RedirectHandler("/r/", http.StatusFound))
	}
	if s.speakers != nil {
		mux.Handle("GET /speaker/ws", s.speakers.Handler())
		s.api.SpeakerPublicKey = s.speakerPub
		s.api.DisconnectSpeaker = s.speakers.Disconnect
		s.api.SpeakerStatus = func(ctx context.Context) (any, error) { return s.speakers.Status(ctx) }
		s.api.NewSpeakerCredential = func() (string, string) {
			secret, hash := speaker.NewCredential()
			return secret, hex.EncodeToString(hash)
		}
	}
	if s.voice != nil {
		mux.Handle("GET /voice/ws", s.voice.SignalHandler())
		mux.Handle("GET /voice/", s.voice.PagesHandler())
	}
	if s.sms != nil {
		mux.Handle("/sms/dlr", s.sms.DLRHandler())
	}
}

// mountConsole serves the duty officer console at / (assets under /console/).
// Only GET patterns, so the API keeps its own 404 and 405 answers.
func (s *Server) mountConsole(mux dispatch.Router) {
	h := console.Handler()
	mux.Handle("GET /{$}", h)
	mux.Handle("GET /console/", h)
}

// deviceStore serves loudspeaker credentials from the database.
type deviceStore struct{ store *dispatch.Store }

func (d deviceStore) Device(ctx context.Context, id string) (speaker.Device, error) {
	r, err := d.store.Speaker(ctx, id)
	if errors.Is(err, dispatch.ErrNotFound) {
		return speaker.Device{}, fmt.Errorf("%w: %s", speaker.ErrUnknownDevice, id)
	}
	if err != nil {
		return speaker.Device{}, err
	}
	return deviceOf(r), nil
}

// Devices looks up a batch's loudspeakers in a few queries, not one each.
func (d deviceStore) Devices(ctx context.Context, ids []string) (map[string]speaker.Device, error) {
	recs, err := d.store.SpeakersByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]speaker.Device, len(recs))
	for id, r := range recs {
		out[id] = deviceOf(r)
	}
	return out, nil
}

func deviceOf(r dispatch.SpeakerRecord) speaker.Device {
	hash, _ := hex.DecodeString(r.CredentialHash)
	return speaker.Device{ID: r.ID, Village: r.Village, CredentialHash: hash, Revoked: r.Revoked}
}

// pcmuSource opens programmes as G.711 µ-law for voice calls.
type pcmuSource struct{ r *audio.Renderer }

func (p pcmuSource) OpenPCMU(ctx context.Context, sha string) (io.ReadCloser, error) {
	rc, _, err := p.r.OpenFormat(sha, audio.FormatPCMU)
	return rc, err
}

// liveAdapter lets the voice server start live rooms on loudspeakers.
type liveAdapter struct{ hub *speaker.Hub }

func (l liveAdapter) Live(ctx context.Context, ids []string, room voice.LiveRoom) error {
	sig := room.SignalURL
	if sig == "" {
		sig = room.SignalPath
	}
	return l.hub.Live(ctx, ids, wire.LiveRoom{ID: room.ID, Signaling: sig, Token: room.Token, Level: room.Level,
		Until: time.Now().Add(2 * time.Hour)})
}

// onlineSpeakers lists connected loudspeakers.
type onlineSpeakers struct{ hub *speaker.Hub }

func (o onlineSpeakers) Online(ctx context.Context) []string {
	st, err := o.hub.Status(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, d := range st {
		if d.Online {
			out = append(out, d.ID)
		}
	}
	return out
}

// regionDevices resolves a region to its registered loudspeakers.
type regionDevices struct{ s *Server }

func (r regionDevices) DevicesIn(ctx context.Context, region string) ([]string, error) {
	res, err := r.s.popIndex.Resolve(targetingAim(region))
	if err != nil {
		return nil, err
	}
	return res.Speakers(), nil
}

func targetingAim(region string) targeting.Aim { return targeting.Aim{Codes: []string{region}} }

func programmeKey(sha string) string { return "alertcast:audio:programme:" + sha }

// renderOnMiss renders a programme this node has not rendered yet (another
// node did) from its stored description before serving it; the content
// hash proves the bytes are the same.
func (s *Server) renderOnMiss(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/audio/")
		sha, _, _ := strings.Cut(name, ".")
		if len(sha) == 64 {
			if rc, _, err := s.audio.Open(sha); err == nil {
				rc.Close()
			} else if errors.Is(err, audio.ErrNotFound) {
				spec, err := s.redis.Client.Get(r.Context(), programmeKey(sha)).Bytes()
				var p audio.Programme
				if err == nil && json.Unmarshal(spec, &p) == nil {
					res, err := s.audio.Render(r.Context(), p)
					switch {
					case err != nil:
						s.log.Error("render programme on demand", "sha256", sha, "err", err)
					case res.SHA256 != sha:
						s.log.Error("programme rendered on this node differs from the original (different espeak-ng?)", "want", sha, "got", res.SHA256)
					}
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}
