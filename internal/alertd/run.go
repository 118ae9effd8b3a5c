package alertd

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/dryrun"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/voice"
	"github.com/alertcast/alertcast/channels/websocket"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/api"
	"github.com/alertcast/alertcast/dispatch/cap"
	"github.com/alertcast/alertcast/dispatch/engine"
	"github.com/alertcast/alertcast/dispatch/lifecycle"
	"github.com/alertcast/alertcast/dispatch/render"
	"github.com/alertcast/alertcast/targeting"
)

// Server is a running alertd process.
type Server struct {
	cfg      Config
	log      *slog.Logger
	redis    *redisHandle
	store    *dispatch.Store
	popIndex *dispatch.PopulationIndex
	twBounds map[string]orb.MultiPolygon // township_boundaries, when configured (townships.go)
	engine   *engine.Engine
	service  *lifecycle.Service
	api      *api.API
	prom     *prometheus.Registry
	worker   *asynq.Server
	http     *http.Server
	listener net.Listener
	mux      *http.ServeMux
	patterns []string // every route registered on mux (see routes)
	closers  []func() // channel and hub closers, run after workers drain

	audio        *audio.Renderer
	render       *render.Renderer // warning → loudspeaker programme, and /audio/
	ws           *websocket.Hub
	speakers     *speaker.Hub
	speakerPub   string
	creds        credentials // who holds a token, for the channels' endpoints
	voice        *voice.Server
	sms          *sms.Channel
	scheduler    *lifecycle.Scheduler
	shutdownOnce sync.Once
	hotMu        sync.Mutex
	hot          map[string]time.Time // warnings whose progress consoles follow
	bg           sync.WaitGroup
	stopBG       chan struct{}
	auditV       *auditVerifier
	sound        firstSound    // see metrics_ops.go
	ops          *opsCollector // see metrics_ops.go
	// Addr is the address the HTTP server listens on.
	Addr string

	certs *certReloader // nil: plain HTTP
}

// NewLogger builds the process logger.
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Run starts alertd and blocks until ctx is done, then shuts down in
// order: stop intake → drain workers → close channels → close HTTP.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	s, err := Start(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return s.Shutdown()
}

// Start starts alertd and returns once it serves.
func Start(ctx context.Context, cfg Config, stdout, stderr io.Writer) (_ *Server, err error) {
	log := NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	useRedisLogger(log)
	s := &Server{cfg: cfg, log: log, stopBG: make(chan struct{}), hot: map[string]time.Time{}}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	if err := privateDataDir(cfg.DataDir, log); err != nil {
		return nil, err
	}
	if s.redis, err = openRedis(ctx, cfg.Redis, cfg.RedisCA, cfg.DataDir, log); err != nil {
		return nil, err
	}
	if s.store, err = dispatch.OpenStore(ctx, cfg.DB, cfg.DataDir, log); err != nil {
		return nil, err
	}
	log.Info("database ready", "engine", s.store.Engine())
	if err := s.useAuditKey(ctx); err != nil {
		return nil, err
	}

	tree := targeting.DefaultTree()
	for _, path := range cfg.Regions {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("regions: %w", err)
		}
		t, err := targeting.ParseRegions(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("regions %s: %w", path, err)
		}
		if err := tree.Merge(t); err != nil {
			return nil, fmt.Errorf("regions %s: %w", path, err)
		}
	}
	if s.twBounds, err = loadTownshipBoundaries(cfg.TownshipBoundaries, tree); err != nil {
		return nil, err
	}
	if s.popIndex, err = dispatch.NewPopulationIndex(ctx, s.store, tree); err != nil {
		return nil, err
	}
	nres, nspk := s.popIndex.Index().Len()
	log.Info("population loaded", "residents", nres, "speakers", nspk)

	if err := s.bootstrapAdmin(ctx, stdout); err != nil {
		return nil, err
	}
	policy, _ := cfg.Policy.Policy()

	s.prom = prometheus.NewRegistry()
	s.prom.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.ops = newOpsCollector(s)
	s.prom.MustRegister(s.ops)

	// Listen first: on port 0 the public URL (programme links, voice
	// signalling) names the real port only once it is bound.
	if cfg.Has("api") {
		if err := s.listen(); err != nil {
			return nil, err
		}
	}
	// In dependency order: what the channels report to and ask, the
	// programme renderer, the channels, then the engine that uses them all.
	receipts := engine.NewReceiptSink(log)
	s.creds = credentials{tokens: &api.API{Store: s.store, SessionIdle: cfg.SessionIdleTimeout}, tickets: ticketStore{rdb: s.redis.Client}}
	if err := s.wireAudio(); err != nil {
		return nil, err
	}
	// The channels report to the sink; loudspeaker "playing" reports also
	// time the last warning's first sound (alertcast_last_warning_first_sound_seconds).
	rep := channels.ReporterFunc(func(ctx context.Context, r channels.Receipt) {
		s.noteReceipt(r)
		receipts.Report(ctx, r)
	})
	chans, preview, err := s.wireChannels(ctx, rep, s.creds)
	if err != nil {
		return nil, err
	}
	smsInterrupted, _ := engine.ParseInterrupted(cfg.SMSInterrupted) // validated by Load
	s.engine, err = engine.NewEngine(engine.EngineConfig{
		Store: s.store, Client: asynq.NewClientFromRedisClient(s.redis.Client), Population: s.popIndex,
		Channels: chans, Audio: s.render, Receipts: receipts, Logger: log, Registry: s.prom, BatchSize: cfg.BatchSize, SendChunk: cfg.SendChunk,
		NodeID: nodeID(), Interrupted: map[string]engine.Interrupted{"sms": smsInterrupted},
		Inspector: asynq.NewInspectorFromRedisClient(s.redis.Client),
	})
	if err != nil {
		return nil, err
	}
	s.service = &lifecycle.Service{Store: s.store, Engine: s.engine, Population: s.popIndex, Policy: policy, Preview: preview, Logger: log,
		OnChange: s.onAlertChange}
	s.engine.Start()

	if cfg.Has("worker") {
		s.worker = asynq.NewServerFromRedisClient(s.redis.Client, asynq.Config{
			Concurrency:     cfg.Workers,
			Queues:          engine.Queues,
			StrictPriority:  true,
			ShutdownTimeout: shutdownGrace,
			Logger:          asynqLogger{log.With("component", "asynq")},
			LogLevel:        asynq.WarnLevel,
			RetryDelayFunc:  retryDelay,
			// Poll idle queues every ~25 ms (default 1 s): a warning must not
			// wait a second per stage (plan, then send). Each poll is four
			// cheap EVALs on Redis.
			TaskCheckInterval: 25 * time.Millisecond,
		})
		mux := asynq.NewServeMux()
		s.engine.Register(mux)
		if err := s.worker.Start(mux); err != nil {
			return nil, fmt.Errorf("start workers: %w", err)
		}
		log.Info("workers started", "concurrency", cfg.Workers)
	}
	if cfg.Has("scheduler") {
		s.bg.Add(1)
		go s.expiryLoop()
		if len(cfg.CAP.Poll) > 0 {
			s.startCAPPoller()
		}
		s.scheduler = &lifecycle.Scheduler{Service: s.service, Redis: s.redis.Client, NodeID: nodeID(), Logger: log.With("component", "scheduler")}
		sctx, scancel := context.WithCancel(context.Background())
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			go func() { <-s.stopBG; scancel() }()
			s.scheduler.Run(sctx)
		}()
	}
	if cfg.Has("api") {
		if err := s.serveHTTP(ctx); err != nil {
			return nil, err
		}
		if s.ws != nil {
			s.bg.Add(1)
			go s.progressLoop()
		}
	}
	s.startAuditVerifier()
	log.Info("alertd running", "roles", strings.Join(cfg.Roles, ","), "listen", s.Addr, "redis", s.redis.Kind, "db", s.store.Engine())
	return s, nil
}

// retryDelay is exponential backoff from 1 s to 2 min with jitter.
func retryDelay(n int, err error, t *asynq.Task) time.Duration {
	d := time.Second << min(n, 7)
	if d > 2*time.Minute {
		d = 2 * time.Minute
	}
	var b [1]byte
	_, _ = rand.Read(b[:])
	return d/2 + time.Duration(int64(d/2)*int64(b[0])/255)
}

func (s *Server) bootstrapAdmin(ctx context.Context, stdout io.Writer) error {
	if s.cfg.AdminToken != "" {
		if len(s.cfg.AdminToken) < 16 {
			return errors.New("ALERTCAST_ADMIN_TOKEN: at least 16 characters")
		}
		_, err := s.store.EnsureUserToken(ctx, "admin", dispatch.RoleAdmin, s.cfg.AdminToken)
		return err
	}
	n, err := s.store.UserCount(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	tok := dispatch.NewToken()
	if _, err := s.store.EnsureUserToken(ctx, "admin", dispatch.RoleAdmin, tok); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n  First start: created user \"admin\" with token\n\n    %s\n\n  It is shown only now and stored hashed. Use it as ALERTCAST_TOKEN for alertctl.\n\n", tok)
	return nil
}

// outboxRecorder stores outbox records in the database.
type outboxRecorder struct{ store *dispatch.Store }

func (o outboxRecorder) Record(ctx context.Context, recs []dryrun.Record) error {
	out := make([]dispatch.OutboxRecord, len(recs))
	for i, r := range recs {
		out[i] = dispatch.OutboxRecord{Key: r.Key, Channel: r.Channel, Recipient: r.Recipient, Address: r.Address, Language: r.Language, Body: r.Body, Encoding: r.Encoding, Parts: r.Parts, At: r.At}
	}
	return o.store.RecordOutbox(ctx, out)
}

// listen binds the HTTP address. Listening on a random port (":0"), the
// public URL is made to name the real one.
func (s *Server) listen() error {
	l, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
	}
	s.listener, s.Addr = l, l.Addr().String()
	if strings.HasSuffix(s.cfg.PublicURL, ":0") {
		scheme := "http://"
		if s.cfg.TLSCert != "" {
			scheme = "https://"
		}
		s.cfg.PublicURL = scheme + s.Addr
	}
	return nil
}

func (s *Server) serveHTTP(ctx context.Context) error {
	s.api = &api.API{Service: s.service, Store: s.store, Logger: s.log, BaseURL: s.cfg.PublicURL, CAPRules: s.cfg.CAP.Rules,
		Login: s.cfg.Login, Throttle: api.NewRedisThrottle(s.redis.Client, s.cfg.Login),
		SessionLifetime: s.cfg.SessionLifetime, SessionIdle: s.cfg.SessionIdleTimeout, UnconfirmedAfter: s.unconfirmedAfter()}
	s.api.ReportEvents = s.publishReport
	if s.speakers != nil {
		s.api.SpeakerPublicKey = s.speakerPub
		s.api.DisconnectSpeaker = s.speakers.Disconnect
		s.api.SpeakerStatus = func(ctx context.Context) (any, error) { return s.speakers.Status(ctx) }
		s.api.SpeakersLive = speakersLive(s.speakers)
		s.api.NewSpeakerCredential = func() (string, string) {
			secret, hash := speaker.NewCredential()
			return secret, hex.EncodeToString(hash)
		}
	}
	s.bg.Add(1)
	go s.accountsLoop()
	s.mux = http.NewServeMux()
	_ = s.prom.Register(engine.NewProgressCollector(s.store, s.progressSources, s.log))
	s.routes(&routeList{mux: s.mux, patterns: &s.patterns})

	handler, err := s.transportHandler(s.logRequests(s.mux))
	if err != nil {
		return err
	}
	l := s.listener
	s.http = &http.Server{Handler: handler, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	if s.certs != nil {
		s.http.TLSConfig = s.certs.tlsConfig()
		l = tls.NewListener(l, s.http.TLSConfig)
		s.bg.Add(1)
		s.certs.watchSIGHUP(s.stopBG, s.bg.Done)
	}
	go func() {
		if err := s.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "err", err)
		}
	}()
	return nil
}

// routes registers every HTTP route alertd serves, and only here: the
// authorization matrix test (authz_test.go) reads the list back and fails
// on a route it has no entry for. Register through mux, never on s.mux.
func (s *Server) routes(mux api.Router) {
	s.api.Routes(mux)
	mux.Handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	}))
	mux.Handle("GET /readyz", http.HandlerFunc(s.readyz))
	mux.Handle("POST /api/v1/tickets", s.ticketsHandler())
	mux.Handle("GET /metrics", metricsAuth(s.cfg.MetricsToken, promhttp.HandlerFor(s.prom, promhttp.HandlerOpts{Registry: s.prom})))
	s.mountChannels(mux)
	s.mountConsole(mux)
	s.mountField(mux)
}

// routeList registers on mux and keeps the patterns, in order.
type routeList struct {
	mux      *http.ServeMux
	patterns *[]string
}

func (l *routeList) Handle(pattern string, h http.Handler) {
	*l.patterns = append(*l.patterns, pattern)
	l.mux.Handle(pattern, h)
}

func (s *Server) logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	ok := true
	// /readyz is public: the cause (addresses, user and database names) goes
	// to the log, not to the caller.
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readyz: database unreachable", "err", err)
		checks["database"], ok = "unreachable", false
	} else {
		checks["database"] = "ok"
	}
	if err := s.redis.Client.Ping(ctx).Err(); err != nil {
		s.log.Warn("readyz: redis unreachable", "err", err)
		checks["redis"], ok = "unreachable", false
	} else {
		checks["redis"] = "ok (" + s.redis.Kind + ")"
	}
	var smsGateways []sms.GatewayStatus
	if s.sms != nil {
		// Red only when no gateway can send; one gateway down while another
		// carries the traffic is "degraded: <gateway>: <why>".
		if detail, err := s.sms.Readiness(); err != nil {
			checks["sms"], ok = err.Error(), false
		} else {
			checks["sms"] = detail
		}
		smsGateways = s.sms.Status()
	}
	if s.ws != nil {
		if err := s.ws.Ready(); err != nil {
			checks["websocket"], ok = err.Error(), false
		} else {
			checks["websocket"] = "ok"
		}
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	body := map[string]any{"ready": ok, "checks": checks}
	if smsGateways != nil {
		body["sms_gateways"] = smsGateways
	}
	b, _ := json.Marshal(body)
	_, _ = w.Write(append(b, '\n'))
}

func (s *Server) expiryLoop() {
	defer s.bg.Done()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stopBG:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if _, err := s.service.ExpireDue(ctx); err != nil {
				s.log.Error("expire warnings", "err", err)
			}
			cancel()
		}
	}
}

// Shutdown stops intake, drains workers, closes channels and HTTP. Safe to
// call twice.
func (s *Server) Shutdown() error {
	s.shutdownOnce.Do(s.shutdown)
	return nil
}

func (s *Server) shutdown() {
	s.log.Info("shutting down: stop intake → drain workers → close channels → close HTTP")
	// Stop intake: no new API requests.
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.http.Shutdown(ctx)
		cancel()
	}
	close(s.stopBG)
	s.bg.Wait()
	// Drain workers: in-flight tasks finish or go back to the queue.
	if s.worker != nil {
		s.worker.Shutdown()
	}
	s.closeAll()
}

func (s *Server) closeAll() {
	if s.http == nil && s.listener != nil {
		_ = s.listener.Close() // bound, never served: start-up failed
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
	if s.engine != nil {
		_ = s.engine.Close()
	}
	if s.store != nil {
		_ = s.store.Close()
	}
	if s.redis != nil {
		s.redis.Close()
	}
}

// asynqLogger adapts slog to asynq's logger.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)); os.Exit(1) }

// startCAPPoller polls upstream CAP feeds and imports what is new.
func (s *Server) startCAPPoller() {
	pollScope, _ := s.cfg.CAP.pollScope() // checked by Validate
	if pollScope == nil {
		pollScope = dispatch.Scope{} // unparseable: reaches nowhere
	}
	p := &cap.Poller{Sources: s.cfg.CAP.Poll, Interval: s.cfg.CAP.Interval, Logger: s.log.With("component", "cap-poll"),
		Handle: func(ctx context.Context, a *cap.Alert, raw []byte, from string) error {
			// Polled as the system account: a configured feed authenticates
			// its sender for auto rules; the policy decides the rest.
			res, err := s.service.ImportCAPFrom(ctx, dispatch.Actor{Name: "system:cap-poll", Role: dispatch.RoleOperator, Remote: from, Scope: pollScope},
				raw, s.cfg.CAP.Rules, dispatch.OriginCAPPoll)
			var ce *lifecycle.CAPError
			if errors.As(err, &ce) && ce.Status < 500 {
				// Retrying cannot fix a refused document: log it once.
				return fmt.Errorf("%w: %v", cap.ErrPermanent, err)
			}
			if err != nil {
				return err
			}
			s.log.Info("CAP imported", "from", from, "identifier", res.Identifier, "outcome", res.Outcome, "alert_id", res.AlertID)
			return nil
		}}
	_ = p.RegisterMetrics(s.prom)
	ctx, cancel := context.WithCancel(context.Background())
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		go func() { <-s.stopBG; cancel() }()
		_ = p.Run(ctx)
	}()
}

// nodeID names this process among alertd nodes.
func nodeID() string {
	h, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", h, os.Getpid(), hex.EncodeToString(b))
}

// unconfirmedAfter is, per channel, how long a sent record waits for its
// receipt before progress calls it unconfirmed.
func (s *Server) unconfirmedAfter() map[string]time.Duration {
	return map[string]time.Duration{"sms": s.cfg.Progress.SMSUnconfirmedAfter}
}

// progressSources is what progress is read from besides the database.
func (s *Server) progressSources() engine.ProgressSources {
	src := engine.ProgressSources{Engine: s.engine, UnconfirmedAfter: s.unconfirmedAfter()}
	if s.service != nil {
		src.OfflineSpeakers = s.service.Preview.OfflineSpeakers
	}
	return src
}
