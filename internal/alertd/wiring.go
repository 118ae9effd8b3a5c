package alertd

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/pion/webrtc/v4"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/dryrun"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/wire"
	"github.com/alertcast/alertcast/channels/voice"
	"github.com/alertcast/alertcast/channels/websocket"
	"github.com/alertcast/alertcast/console"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/api"
	"github.com/alertcast/alertcast/dispatch/devices"
	"github.com/alertcast/alertcast/dispatch/engine"
	"github.com/alertcast/alertcast/dispatch/lifecycle"
	"github.com/alertcast/alertcast/dispatch/render"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// wireChannels builds every channel. A channel that is not configured is
// replaced by the outbox, and the log says so loudly. Channels report
// receipts to rep and ask creds who holds a console's token: both exist
// before any channel, so nothing here waits for the engine or the API.
func (s *Server) wireChannels(ctx context.Context, rep channels.Reporter, creds credentials) (map[string]channels.Channel, lifecycle.Previewer, error) {
	out := map[string]channels.Channel{}
	var preview lifecycle.Previewer
	spkCfg, wsCfg, vcCfg, smsCfg := s.cfg.Speakers, s.cfg.Web, s.cfg.Voice, s.cfg.SMS
	store, popIndex := s.store, s.popIndex // what the closures below may use: both built already
	forced := func(name string) bool { return slices.Contains(s.cfg.Outbox, name) }
	var platformKey ed25519.PrivateKey // the loudspeaker signing key, once loaded

	// WebSocket: resident pages and consoles.
	if on(wsCfg.Enabled) && !forced("websocket") {
		hub, err := websocket.NewHub(websocket.Config{
			Redis: s.redis.Client, Regions: s.popIndex.Tree().Scopes(), AllowedOrigins: wsCfg.AllowedOrigins, HistoryLen: wsCfg.HistoryLen,
			MaxConnsPerIP: wsCfg.MaxConnsPerIP, ClientIPHeader: wsCfg.ClientIPHeader, Logger: s.log.With("channel", "websocket"), Registry: s.prom,
			LiftedFor: wsCfg.LiftedFor, Guidance: s.residentGuidance,
			VillageLanguage: func(v string) string {
				l, _ := popIndex.Index().MajorityLanguage(v)
				return l
			},
			Authenticate: func(ctx context.Context, token string) (string, bool) {
				_, role, ok := creds.tokens.TokenRole(ctx, token)
				return role.String(), ok
			},
			RedeemTicket: func(ctx context.Context, ticket string) (string, bool) {
				_, role, ok := creds.tickets.Redeem(ctx, ticket)
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
		platformKey = key
		hub, err := speaker.NewHub(speaker.Config{
			Redis: s.redis.Client, Devices: devices.SpeakerDevices{Store: s.store}, Key: key, Reporter: rep,
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
			// Asked once a second per warning going out (console progress):
			// only the given devices, connected ones from memory.
			n, err := hub.CountOffline(ctx, ids)
			if err != nil {
				return 0
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
			MayReach: s.voiceMayReach,
			Loopback: vcCfg.Loopback, UDPPortMin: vcCfg.UDPPortMin, UDPPortMax: vcCfg.UDPPortMax,
			LivePolicy: policy, ApprovalTimeout: vcCfg.LiveApprovalTimeout, Audit: voiceAudit(s.store),
			RecordDir: vcCfg.recordDir(s.cfg.DataDir), Reporter: rep, Logger: s.log.With("channel", "voice"),
			Registry: s.prom, PublicURL: s.cfg.PublicURL,
			Authenticate: func(ctx context.Context, token string) (string, string, bool) {
				name, role, ok := creds.voice(ctx, token)
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
				_ = store.Audit(context.WithoutCancel(ctx), dispatch.AuditEntry{Actor: r.User, Action: "voice.recording",
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
			vc.Devices = regionDevices{s.popIndex}
		}
		cl, err := s.voiceCluster(platformKey)
		if err != nil {
			return nil, preview, err
		}
		vc.Cluster = cl
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
			var opts []dryrun.Option
			switch name {
			case "sms":
				opts = append(opts, dryrun.WithRender(dryrun.SMS(smsCfg)))
			case "speaker":
				opts = append(opts, dryrun.WithRender(dryrun.Speaker()))
			}
			out[name] = dryrun.New(name, recorder, opts...)
			s.log.Warn("channel not configured: messages are recorded in the outbox (GET /api/v1/outbox), NOT SENT", "channel", name)
		}
	}
	return out, preview, nil
}

func (s *Server) wireAudio() error {
	ac := s.cfg.Audio
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
	s.render, err = render.New(render.Config{Audio: r, Redis: s.redis.Client, Repeats: ac.Repeats,
		Logger: s.log.With("component", "audio")})
	return err
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
				if per, ov, err := engine.ReadProgress(ctx, s.store, s.progressSources(), a); err == nil {
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
	s.noteIssued(a)
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
func (s *Server) mountChannels(mux api.Router) {
	if s.render != nil {
		mux.Handle("GET /audio/", s.render.Handler())
		mux.Handle("HEAD /audio/", s.render.Handler())
	}
	if s.ws != nil {
		mux.Handle("GET /ws", s.ws.Handler())
		mux.Handle("GET /sse", s.ws.SSEHandler())
		mux.Handle("GET /r/", s.ws.PageHandler())
		mux.Handle("GET /r", http.RedirectHandler("/r/", http.StatusFound))
	}
	if s.speakers != nil {
		mux.Handle("GET /speaker/ws", s.speakers.Handler())
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
func (s *Server) mountConsole(mux api.Router) {
	h := console.Handler()
	mux.Handle("GET /{$}", h)
	mux.Handle("GET /console/", h)
	mux.Handle("GET /console/townships.json", console.TownshipsHandler(console.TownshipsConfig{Tree: s.popIndex.Tree,
		Villages: villageLocations{s.store}, Boundaries: s.twBounds, Logger: s.log.With("component", "console")}))
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
type regionDevices struct{ popIndex *dispatch.PopulationIndex }

func (r regionDevices) DevicesIn(ctx context.Context, region string) ([]string, error) {
	res, err := r.popIndex.Resolve(targetingAim(region))
	if err != nil {
		return nil, err
	}
	return res.Speakers(), nil
}

func targetingAim(region string) targeting.Aim { return targeting.Aim{Codes: []string{region}} }

// voiceCluster joins this node's voice server to the others on the same
// Redis, so a client of any API node reaches a room held on another (no
// sticky routing). The relay between nodes is authenticated with a key
// derived from the platform's loudspeaker signing key, which every node of
// a cluster shares (scripts/cluster.sh, deploy/): whoever holds that key
// can already put anything on the air; Redis access alone forges nothing.
func (s *Server) voiceCluster(key ed25519.PrivateKey) (*voice.ClusterConfig, error) {
	if key == nil {
		keyFile := s.cfg.Speakers.KeyFile
		if keyFile == "" {
			keyFile = filepath.Join(s.cfg.DataDir, "speaker-ed25519.key")
		}
		k, err := speaker.LoadOrCreateKey(keyFile)
		if err != nil {
			return nil, fmt.Errorf("speakers.key_file (the voice relay between nodes derives its key from it): %w", err)
		}
		key = k
	}
	mac := hmac.New(sha256.New, key.Seed())
	mac.Write([]byte("alertcast voice cluster secret v1"))
	node := strings.Map(func(r rune) rune {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._:@-", r)) {
			return r
		}
		return '-'
	}, nodeID())
	if len(node) > 100 {
		node = node[len(node)-100:]
	}
	node = strings.TrimLeft(node, "._:@-")
	return &voice.ClusterConfig{Redis: s.redis.Client, Node: node, Secret: mac.Sum(nil)}, nil
}

// voiceMayReach is the voice server's scope check: an account speaks live
// (or approves, or joins a live room as an officer) only to regions within
// its scope, read from the store at that moment.
func (s *Server) voiceMayReach(ctx context.Context, user string, regions []string) error {
	u, err := s.store.UserNamed(ctx, user)
	if err != nil {
		return fmt.Errorf("account %s: %w", user, err)
	}
	g := dispatch.ScopeGuard{Tree: s.popIndex.Tree()}
	by := dispatch.Actor{Name: u.Name, Role: u.Role, Scope: u.Scope}
	for _, r := range regions {
		if err := g.CheckRegion(by, "region", r); err != nil {
			return err
		}
	}
	return nil
}
