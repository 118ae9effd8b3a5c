package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// Task types.
const (
	TaskPlan = "alert:plan" // plan one warning version into per-channel batches
	TaskSend = "alert:send" // send one batch of one channel
)

// Queue names, in strict priority order.
const (
	QueueCritical = "critical" // red and orange
	QueueHigh     = "high"     // yellow
	QueueDefault  = "default"  // blue
	QueueLow      = "low"      // exercises and tests
)

// Queues is the strict-priority queue configuration for asynq.Config.
var Queues = map[string]int{QueueCritical: 8, QueueHigh: 4, QueueDefault: 2, QueueLow: 1}

// idempotentChannels deduplicate a (message key, recipient) themselves:
// loudspeakers acknowledge each warning version once, WebSocket publishes
// each version once.
var idempotentChannels = map[string]bool{"speaker": true, "websocket": true}

// idempotentBatch is the least batch size of idempotentChannels: a
// county's loudspeakers (the issue's 10,000) in one batch, one Send, one
// announcement and one broadcast signature per node. With 5,000, the
// 10,000 went as two Sends whose second announcement was signed 3.1 s
// after the issue call behind the first one's 5,000 writes and reports
// (bench, load 27), as the second half of one Send was before the hub
// announced once (channels/speaker deliver).
const idempotentBatch = 20000

// QueueFor is the queue of a warning: drills and tests never delay real warnings.
func QueueFor(a *dispatch.Alert) string {
	if a.Status.Drill() {
		return QueueLow
	}
	switch a.Level {
	case warning.LevelRed, warning.LevelOrange:
		return QueueCritical
	case warning.LevelYellow:
		return QueueHigh
	}
	return QueueDefault
}

type planPayload struct {
	ID      string `json:"id"`
	Version int    `json:"v"`
}

type sendPayload struct {
	ID      string `json:"id"`
	Version int    `json:"v"`
	Channel string `json:"ch"`
	Batch   int    `json:"b"`
}

// AudioRenderer renders a warning version into a loudspeaker programme.
type AudioRenderer interface {
	RenderAlert(ctx context.Context, a *dispatch.Alert) (*channels.Audio, error)
}

// Population is what planning needs to know about who is where.
type Population interface {
	// Resolve returns the resolution of an aim.
	Resolve(aim targeting.Aim) (*targeting.Resolution, error)
	// Resident returns a resident's record.
	Resident(id uint32) (targeting.Resident, bool)
	// FieldEndpoints returns the voice endpoints inside the area codes.
	FieldEndpoints(codes []string) []channels.Recipient
}

// EngineConfig configures an Engine. Zero values mean the documented defaults.
type EngineConfig struct {
	Store      *dispatch.Store
	Redis      asynq.RedisConnOpt // or Client below
	Client     *asynq.Client
	Population Population
	Channels   map[string]channels.Channel // by channel name; a missing channel uses the outbox
	Audio      AudioRenderer               // nil: no programme audio (speakers get none)
	Receipts   *ReceiptSink                // the channels' Reporter, made before them; nil: the engine makes one (Report)
	Logger     *slog.Logger
	Registry   prometheus.Registerer
	// BatchSize is recipients per send task (default 1000).
	BatchSize int
	// SendChunk is recipients per Channel.Send call inside a task (default
	// 200): results are recorded after each chunk, so a crashed worker
	// re-sends at most one chunk's unrecorded recipients.
	SendChunk int
	// MaxRetry is the retry budget of send tasks (default 12).
	MaxRetry int

	// NodeID names this process in batch claims and heartbeats (default:
	// random). Unique per process: a restarted node is a new node.
	NodeID string
	// Interrupted is, per channel, what to do with recipients a dead node
	// had handed to the channel without recording the result (default
	// AtMostOnce). Loudspeakers and WebSocket deduplicate themselves and
	// are always sent again.
	Interrupted map[string]Interrupted
	// HeartbeatEvery is how often this node proves it is alive and sweeps
	// dead nodes' batches (default 1 s); DeadAfter is how long a node may
	// be silent before its batches are taken over (default 4 s).
	HeartbeatEvery, DeadAfter time.Duration
	// Inspector, when set, lets the engine find batches whose task Redis
	// lost (re-enqueued every 5 s); nil: only orphaned claims are swept.
	Inspector *asynq.Inspector
}

// Engine plans warnings into tasks and runs the task handlers.
type Engine struct {
	cfg     EngineConfig
	store   *dispatch.Store
	client  *asynq.Client
	log     *slog.Logger
	metrics *engineMetrics

	msgMu    sync.Mutex
	msgCache map[string]*channels.Message // by key; small, rebuilt on miss
	guides   guidanceCache                // per-village guidance by version key (guidance.go)

	receipts *ReceiptSink
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
	// bg tracks background work (prewarming) that Close stops and waits
	// for, so nothing writes to the audio cache after the engine closed.
	bg struct {
		mu     sync.Mutex
		closed bool
		wg     sync.WaitGroup
	}
	kick chan struct{}

	redisMu sync.Mutex
	redisOK bool

	node      string
	live      liveness
	inspector *asynq.Inspector
	slotsMu   sync.Mutex
	slots     map[string]*slots // per rate-limited channel: chunks in its hands at once
}

type engineMetrics struct {
	sent      *prometheus.CounterVec
	notSent   *prometheus.CounterVec
	failed    *prometheus.CounterVec
	receipts  *prometheus.CounterVec
	planned   *prometheus.CounterVec
	sendDur   *prometheus.HistogramVec
	unmatched prometheus.Counter
	// stage: where the time from the issue call to a channel's Send goes
	// (issue_to_plan, plan, plan_to_send, send_prepare, channel, record).
	stage *prometheus.HistogramVec

	takeovers   *prometheus.CounterVec
	lostTasks   *prometheus.CounterVec
	interrupted *prometheus.CounterVec
}

func newEngineMetrics(reg prometheus.Registerer) *engineMetrics {
	m := &engineMetrics{
		sent:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alertcast_deliveries_sent_total", Help: "Recipients handed to a channel."}, []string{"channel"}),
		notSent:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alertcast_deliveries_not_sent_total", Help: "Recipients recorded in the outbox instead of sent (no real channel configured): nobody received these."}, []string{"channel"}),
		failed:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alertcast_deliveries_failed_total", Help: "Recipients whose delivery failed permanently."}, []string{"channel"}),
		receipts:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alertcast_receipts_total", Help: "Asynchronous receipts by channel and state."}, []string{"channel", "state"}),
		planned:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alertcast_deliveries_planned_total", Help: "Delivery records planned."}, []string{"channel"}),
		sendDur:   prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "alertcast_send_batch_seconds", Help: "Time to process one send task.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"channel"}),
		unmatched: prometheus.NewCounter(prometheus.CounterOpts{Name: "alertcast_receipts_unmatched_total", Help: "Receipts that matched no delivery record."}),
		takeovers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alertcast_batch_takeovers_total", Help: "Batches (channel) or plans (\"plan\") of a dead node re-enqueued by this node's sweeper."}, []string{"channel"}),
		lostTasks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alertcast_lost_tasks_reenqueued_total", Help: "Batches with planned records whose task Redis no longer had, re-enqueued."}, []string{"channel"}),
		interrupted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alertcast_deliveries_interrupted_total",
			Help: "Recipients possibly sent by a node that died before recording the result, recorded failed and not sent again (at most once)."}, []string{"channel"}),
	}
	m.stage = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "alertcast_send_stage_seconds",
		Help:    "Time spent in each stage between a version's issue and its channel's Send returning: issue_to_plan (issue → plan task starts), plan (writing the channel's records and enqueuing its batches), plan_to_send (issue → send task starts), send_prepare (send task start → channel Send), channel (Send), record (writing the results).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .075, .1, .15, .2, .3, .4, .5, .75, 1, 1.5, 2, 5, 10}}, []string{"channel", "stage"})
	if reg != nil {
		for _, c := range []prometheus.Collector{m.sent, m.notSent, m.failed, m.receipts, m.planned, m.sendDur, m.stage, m.unmatched, m.takeovers, m.lostTasks, m.interrupted} {
			_ = reg.Register(c)
		}
	}
	return m
}

// NewEngine returns an engine. Call Start to run its background loops.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("engine: Store is required")
	}
	if cfg.Client == nil {
		if cfg.Redis == nil {
			return nil, errors.New("engine: Redis or Client is required")
		}
		cfg.Client = asynq.NewClient(cfg.Redis)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.SendChunk <= 0 {
		cfg.SendChunk = 200
	}
	if cfg.MaxRetry <= 0 {
		cfg.MaxRetry = 12
	}
	if cfg.Channels == nil {
		cfg.Channels = map[string]channels.Channel{}
	}
	if cfg.Receipts == nil {
		cfg.Receipts = NewReceiptSink(cfg.Logger)
	}
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = defaultHeartbeatEvery
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = defaultDeadAfter
	}
	cfg.NodeID = nodeName(cfg.NodeID)
	m := newEngineMetrics(cfg.Registry)
	for name := range cfg.Channels { // a zero series from the start: "none failed", not "no data"
		m.failed.WithLabelValues(name)
	}
	return &Engine{
		cfg: cfg, store: cfg.Store, client: cfg.Client, log: cfg.Logger,
		metrics:   m,
		msgCache:  map[string]*channels.Message{},
		receipts:  cfg.Receipts,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		kick:      make(chan struct{}, 1),
		redisOK:   true,
		node:      cfg.NodeID,
		inspector: cfg.Inspector,
		slots:     map[string]*slots{},
	}, nil
}

// Node is this process's node id in batch claims and heartbeats.
func (e *Engine) Node() string { return e.node }

// Channel returns the channel used for name (the outbox stand-in when none
// is configured).
func (e *Engine) Channel(name string) channels.Channel { return e.cfg.Channels[name] }

// Audio is the programme renderer the engine was given (nil: none).
func (e *Engine) Audio() AudioRenderer { return e.cfg.Audio }

// Start runs the dispatch relay (stored → queued) and the receipt writer
// until Close.
func (e *Engine) Start() {
	// Beat once before any task can claim a batch for this node.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	e.beat(ctx)
	cancel()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); e.relayLoop() }()
	go func() { defer wg.Done(); e.receiptLoop() }()
	go func() { defer wg.Done(); e.livenessLoop() }()
	go func() { wg.Wait(); close(e.done) }()
}

// Close stops the background loops, flushing pending receipts.
func (e *Engine) Close() error {
	e.stopOnce.Do(func() {
		close(e.stop)
		e.bg.mu.Lock()
		e.bg.closed = true
		e.bg.mu.Unlock()
		e.receipts.close()
		bgDone := make(chan struct{})
		go func() { e.bg.wg.Wait(); close(bgDone) }()
		deadline := time.After(10 * time.Second)
		for _, ch := range []chan struct{}{e.done, bgDone} {
			select {
			case <-ch:
			case <-deadline:
			}
		}
	})
	return nil
}

// QueueReady reports whether the last attempt to reach the queue worked.
func (e *Engine) QueueReady() bool {
	e.redisMu.Lock()
	defer e.redisMu.Unlock()
	return e.redisOK
}

func (e *Engine) setRedisOK(ok bool) {
	e.redisMu.Lock()
	changed := e.redisOK != ok
	e.redisOK = ok
	e.redisMu.Unlock()
	if changed {
		if ok {
			e.log.Info("queue reachable again: dispatching stored warnings")
		} else {
			e.log.Error("queue (Redis) unreachable: warnings are stored and will be dispatched when it returns")
		}
	}
}

// Register adds the task handlers to mux.
func (e *Engine) Register(mux *asynq.ServeMux) {
	mux.HandleFunc(TaskPlan, e.handlePlan)
	mux.HandleFunc(TaskSend, e.handleSend)
}

func sendTaskID(id string, version int, channel string, batch int) string {
	return fmt.Sprintf("send:%s:v%d:%s:%d", id, version, channel, batch)
}

// handlePlan resolves the audience of a version per channel, writes one
// planned delivery record per recipient (batch by batch) and enqueues the
// send tasks. Re-running it writes and enqueues nothing new.
func (e *Engine) handlePlan(ctx context.Context, t *asynq.Task) error {
	var p planPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("plan payload: %v: %w", err, asynq.SkipRetry)
	}
	a, err := e.store.AlertVersion(ctx, p.ID, p.Version)
	if errors.Is(err, dispatch.ErrNotFound) {
		return fmt.Errorf("plan %s v%d: no such warning version: %w", p.ID, p.Version, asynq.SkipRetry)
	}
	if err != nil {
		return err
	}
	log := e.log.With("alert_id", a.ID, "version", a.Version)
	if revoked, err := e.superseded(ctx, a); err != nil {
		return err
	} else if revoked {
		log.Info("plan skipped: warning cancelled or superseded")
		return asynq.RevokeTask
	}
	c, out, err := e.claim(ctx, dispatch.BatchKey{AlertID: a.ID, Version: a.Version, Channel: "", Batch: dispatch.PlanBatch})
	if err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("plan %s v%d: %w (%s)", a.ID, a.Version, errHeld, out.HeldBy)
	}
	defer c.release()
	// The guidance frozen with the version is read here, once per version
	// and node, before any batch needs it.
	if g, err := e.Guidance(ctx, a); err != nil {
		return err
	} else if g != nil {
		log.Info("guidance loaded", "action", a.Action.Type.String(), "villages", len(g.ByVillage), "digest", a.GuidanceDigest)
	}
	plans, err := e.store.Plans(ctx, a.ID, a.Version)
	if err != nil {
		return err
	}
	for _, ch := range planOrder(a.Channels) {
		if a.Round > 0 && ch != "speaker" {
			continue // a rebroadcast repeats on the loudspeakers only
		}
		plan, done := plans[ch]
		planStart := time.Now()
		e.observeSinceIssue(a, ch, "issue_to_plan", planStart)
		if done {
			err = e.enqueueBatches(ctx, a, plan, 0, plan.Batches)
		} else {
			plan, err = e.planChannel(ctx, a, ch)
		}
		if errors.Is(err, errPlanRevoked) {
			log.Info("plan stopped: warning cancelled while it was planned", "channel", ch)
			return asynq.RevokeTask
		}
		if err != nil {
			return fmt.Errorf("plan %s: %w", ch, err)
		}
		e.metrics.stage.WithLabelValues(ch, "plan").Observe(time.Since(planStart).Seconds())
		log.Info("planned", "channel", ch, "recipients", plan.Recipients, "batches", plan.Batches)
	}
	return nil
}

// errPlanRevoked stops a plan whose warning was cancelled meanwhile.
var errPlanRevoked = errors.New("warning cancelled while planned")

// planOrder is the order a version's channels are planned in: the ones
// with few recipients that reach many people at once first, so that the
// loudspeakers do not wait for a county's SMS records to be written.
func planOrder(chans []string) []string {
	first := []string{"websocket", "speaker", "voice"}
	rank := func(ch string) int {
		if i := slices.Index(first, ch); i >= 0 {
			return i
		}
		return len(first)
	}
	out := slices.Clone(chans)
	slices.SortStableFunc(out, func(a, b string) int { return rank(a) - rank(b) })
	return out
}

// observeSinceIssue records how long after its issue (its update, for a
// later version) version a reached stage on channel ch. Rebroadcast rounds
// are left out: their clock starts at the schedule, not the issue call.
func (e *Engine) observeSinceIssue(a *dispatch.Alert, ch, stage string, now time.Time) {
	at := a.IssuedAt
	if a.Version > 1 || at.IsZero() {
		at = a.UpdatedAt
	}
	if a.Round > 0 || at.IsZero() {
		return
	}
	e.metrics.stage.WithLabelValues(ch, stage).Observe(now.Sub(at).Seconds())
}

// superseded reports whether a version must not be delivered any more: the
// warning was cancelled/lifted (for an alert or update version) or a newer
// version replaced it before it was planned.
func (e *Engine) superseded(ctx context.Context, a *dispatch.Alert) (bool, error) {
	head, err := e.store.Alert(ctx, a.ID)
	if err != nil {
		return false, err
	}
	if a.Kind == warning.KindCancel || a.Kind == warning.KindAllClear {
		return false, nil
	}
	if head.State == warning.StateCancelled || head.State == warning.StateAllClear || head.State == warning.StateRejected {
		return true, nil
	}
	return false, nil
}

// recipients lists who must receive version a on channel ch, in a stable order.
func (e *Engine) recipients(ctx context.Context, a *dispatch.Alert, ch string) ([]channels.Recipient, string, error) {
	if ch == "websocket" {
		return []channels.Recipient{{ID: "broadcast"}}, "", nil
	}
	aim, err := dispatch.AimOf(a)
	if err != nil {
		return nil, "", channels.Permanent(err)
	}
	// Another node may have imported residents or loudspeakers since this
	// one loaded them: plan against the database's population, not a stale
	// copy (a failed check is retried with the task).
	if r, ok := e.cfg.Population.(refresher); ok {
		if err := r.Refresh(ctx); err != nil {
			return nil, "", err
		}
	}
	var out []channels.Recipient
	seen := map[string]bool{}
	add := func(r channels.Recipient) {
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, r)
		}
	}
	detail := ""
	// A cancel or all-clear goes to whoever was reached before; an update
	// goes to the new aim and to whoever was reached before.
	if a.Kind != warning.KindAlert {
		prev, err := e.store.ReachedBefore(ctx, a.ID, a.Version, ch)
		if err != nil {
			return nil, "", err
		}
		for _, r := range prev {
			add(r)
		}
	}
	if a.Kind == warning.KindAlert || a.Kind == warning.KindUpdate {
		if e.cfg.Population == nil {
			return nil, "", errors.New("no population registry configured")
		}
		switch ch {
		case "sms", "speaker":
			res, err := e.cfg.Population.Resolve(aim)
			if err != nil {
				return nil, "", channels.Permanent(err)
			}
			if ch == "sms" {
				for _, id := range res.Residents() {
					r, ok := e.cfg.Population.Resident(id)
					if !ok {
						continue
					}
					add(channels.Recipient{ID: strconv.FormatUint(uint64(id), 10), Address: r.Phone, Language: r.Language})
				}
			} else {
				for _, id := range res.Speakers() {
					add(channels.Recipient{ID: id, Address: id})
				}
			}
			if u := res.Preview().Unplaced; u > 0 {
				detail = fmt.Sprintf("%d entities without coordinates matched by village code only", u)
			}
		case "voice":
			for _, r := range e.cfg.Population.FieldEndpoints(a.Area.Codes) {
				add(r)
			}
		}
	}
	return out, detail, nil
}

// planChannel writes the planned records of a version on one channel and
// enqueues its send tasks. Batches are enqueued as soon as their records
// are written, so the first recipients are being sent to while the rest of
// a county-wide audience is still being written.
func (e *Engine) planChannel(ctx context.Context, a *dispatch.Alert, ch string) (dispatch.Plan, error) {
	rcpts, detail, err := e.recipients(ctx, a, ch)
	if err != nil {
		return dispatch.Plan{}, err
	}
	bs := e.cfg.BatchSize
	if idempotentChannels[ch] {
		// These take a whole batch in one Send: one task for a county's
		// loudspeakers instead of five (measured: p99 to "playing" 935 ms
		// instead of 1,017 ms for 5,000 speakers).
		bs = max(bs, idempotentBatch)
	}
	const batchesPerWrite = 10
	plan := dispatch.Plan{AlertID: a.ID, Version: a.Version, Channel: ch, Recipients: len(rcpts), Batches: (len(rcpts) + bs - 1) / bs, Detail: detail}
	rows := make([]dispatch.Delivery, 0, min(len(rcpts), bs*batchesPerWrite))
	enqueued := 0
	for start := 0; start < len(rcpts); start += bs * batchesPerWrite {
		if start > 0 {
			// A warning cancelled while its audience is written stops
			// here: the batches enqueued so far revoke their records.
			if revoked, err := e.superseded(ctx, a); err != nil {
				return dispatch.Plan{}, err
			} else if revoked {
				return dispatch.Plan{}, errPlanRevoked
			}
		}
		rows = rows[:0]
		for i, r := range rcpts[start:min(start+bs*batchesPerWrite, len(rcpts))] {
			rows = append(rows, dispatch.Delivery{AlertID: a.ID, Version: a.Version, Channel: ch, Recipient: r.ID, Address: r.Address, Language: r.Language, Batch: (start + i) / bs})
		}
		added, err := e.store.PlanNewDeliveries(ctx, rows)
		if err != nil {
			return dispatch.Plan{}, err
		}
		// Every write but the last ends on a batch boundary.
		upTo := (start + len(rows) + bs - 1) / bs
		if directChannels[ch] && added == len(rows) {
			// Sent from here, without the round trip through the queue and
			// a read of the records just written; a batch the direct send
			// leaves unfinished goes the queued way.
			done := e.sendDirect(ctx, a, ch, rcpts, bs, enqueued, upTo)
			for b := enqueued; b < upTo; b++ {
				if done[b-enqueued] {
					continue
				}
				if err := e.enqueueBatches(ctx, a, plan, b, b+1); err != nil {
					return dispatch.Plan{}, err
				}
			}
		} else if err := e.enqueueBatches(ctx, a, plan, enqueued, upTo); err != nil {
			return dispatch.Plan{}, err
		}
		enqueued = upTo
	}
	// Recorded last: a plan task re-run before this point writes nothing
	// twice (records and task ids are unique) and finishes the job.
	if err := e.store.SavePlan(ctx, plan); err != nil {
		return dispatch.Plan{}, err
	}
	e.metrics.planned.WithLabelValues(ch).Add(float64(len(rcpts)))
	return plan, nil
}

// directChannels are sent to from the plan task itself, as soon as their
// records are written, instead of through a send task: the loudspeakers,
// whose hub runs in every worker process and deduplicates a (warning
// version, device) itself, so a plan re-run after a crash cannot make a
// device play twice (the agent also executes a command id once).
//
// Nothing about the records changes: every recipient's planned record is
// written (and committed) before anything is sent, so a device's report
// always finds its record, and each batch's results are recorded before
// the plan goes on. The batch is claimed exactly as a send task claims it.
// A batch the direct send does not finish (the claim is held elsewhere,
// a recipient to retry, an error) gets its send task as before, which
// sends what is still planned; a crash before the plan is saved re-runs
// the plan task, which finds the records written and enqueues the send
// tasks (a direct send happens only for records this execution wrote).
var directChannels = map[string]bool{"speaker": true}

// sendDirect sends batches [from, to) of a plan on ch (batch b is
// rcpts[b*bs:(b+1)*bs], all of them just written as planned) at once, one
// goroutine per batch, and reports which batches are done: every
// recipient's result recorded, nothing left to retry.
func (e *Engine) sendDirect(ctx context.Context, a *dispatch.Alert, ch string, rcpts []channels.Recipient, bs, from, to int) []bool {
	done := make([]bool, to-from)
	if (a.Kind == warning.KindAlert || a.Kind == warning.KindUpdate) && !time.Now().Before(a.Expires) {
		return done // the send task records them expired
	}
	var wg sync.WaitGroup
	for b := from; b < to; b++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done[b-from] = e.sendDirectBatch(ctx, a, ch, b, rcpts[b*bs:min((b+1)*bs, len(rcpts))])
		}()
	}
	wg.Wait()
	return done
}

func (e *Engine) sendDirectBatch(ctx context.Context, a *dispatch.Alert, ch string, batch int, todo []channels.Recipient) bool {
	start := time.Now()
	if batch == 0 {
		e.observeSinceIssue(a, ch, "plan_to_send", start)
	}
	p := sendPayload{ID: a.ID, Version: a.Version, Channel: ch, Batch: batch}
	log := e.log.With("alert_id", p.ID, "version", p.Version, "channel", p.Channel, "batch", p.Batch, "direct", true)
	claim, out, err := e.claim(ctx, dispatch.BatchKey{AlertID: p.ID, Version: p.Version, Channel: p.Channel, Batch: p.Batch})
	if err != nil || claim == nil {
		return false
	}
	if out.TakenFrom != "" || len(out.Inflight) > 0 {
		claim.abandon() // keeps what is in flight for the send task to settle
		return false
	}
	unrecorded := false
	transient, lastErr, err := e.sendTodo(ctx, log, start, p, a, claim, todo, false, &unrecorded)
	if unrecorded {
		claim.abandon()
	} else {
		claim.release()
	}
	if err != nil || transient > 0 {
		log.Warn("direct send left recipients to its send task", "retry", transient, "err", cmp.Or(err, lastErr))
		return false
	}
	e.metrics.sendDur.WithLabelValues(ch).Observe(time.Since(start).Seconds())
	return true
}

// enqueueBatches enqueues the send tasks of batches [from, to) of a plan.
// A task already there (same id) is left as it is.
func (e *Engine) enqueueBatches(ctx context.Context, a *dispatch.Alert, plan dispatch.Plan, from, to int) error {
	deadline := sendDeadline(a)
	for b := from; b < to; b++ {
		payload, _ := json.Marshal(sendPayload{ID: a.ID, Version: a.Version, Channel: plan.Channel, Batch: b})
		_, err := e.client.EnqueueContext(ctx, asynq.NewTask(TaskSend, payload),
			asynq.TaskID(sendTaskID(a.ID, a.Version, plan.Channel, b)),
			asynq.Queue(QueueFor(a)), asynq.MaxRetry(e.cfg.MaxRetry), asynq.Deadline(deadline),
			asynq.Retention(time.Until(deadline)))
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("enqueue batch %d: %w", b, err)
		}
	}
	return nil
}

// sendDeadline is the deadline of a version's send tasks.
func sendDeadline(a *dispatch.Alert) time.Time {
	deadline := a.Expires
	if a.Kind == warning.KindCancel || a.Kind == warning.KindAllClear || deadline.Before(time.Now().Add(time.Hour)) {
		// Stop and all-clear messages must still go out after expiry.
		deadline = time.Now().Add(24 * time.Hour)
	}
	return deadline
}

// Message builds the channel message of a version (cached by key).
func (e *Engine) Message(ctx context.Context, a *dispatch.Alert) (*channels.Message, error) {
	key := a.Key()
	e.msgMu.Lock()
	m, ok := e.msgCache[key]
	e.msgMu.Unlock()
	if ok {
		return m, nil
	}
	m = dispatch.MessageOf(a)
	if e.cfg.Audio != nil && (a.HasChannel("speaker") || a.HasChannel("voice")) {
		au, err := e.cfg.Audio.RenderAlert(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("render programme: %w", err)
		}
		m.Audio = au
	}
	e.msgMu.Lock()
	if len(e.msgCache) > 256 {
		clear(e.msgCache)
	}
	e.msgCache[key] = m
	e.msgMu.Unlock()
	return m, nil
}

// Prewarm renders a version's programme in the background, so that
// planning finds it in the audio cache instead of rendering on the path from
// the issue call to the first loudspeaker.
func (e *Engine) Prewarm(a *dispatch.Alert) {
	if e.cfg.Audio == nil || !(a.HasChannel("speaker") || a.HasChannel("voice")) {
		return
	}
	e.background(time.Minute, func(ctx context.Context) {
		if _, err := e.cfg.Audio.RenderAlert(ctx, a); err != nil {
			e.log.Warn("programme prewarm failed (rendered again when sent)", "alert_id", a.ID, "err", err)
		}
	})
	e.background(10*time.Minute, func(ctx context.Context) { e.prewarmVillages(ctx, a) })
}

// background runs fn in its own goroutine with a context that ends after
// timeout or when the engine closes; Close waits for it. Nothing starts
// once the engine is closed.
func (e *Engine) background(timeout time.Duration, fn func(ctx context.Context)) {
	e.bg.mu.Lock()
	defer e.bg.mu.Unlock()
	if e.bg.closed {
		return
	}
	e.bg.wg.Add(1)
	go func() {
		defer e.bg.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		go func() {
			select {
			case <-e.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		fn(ctx)
	}()
}

// handleSend delivers one batch. Recipients already sent are skipped, so a
// re-run task sends nothing twice; results are recorded chunk by chunk.
func (e *Engine) handleSend(ctx context.Context, t *asynq.Task) error {
	var p sendPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("send payload: %v: %w", err, asynq.SkipRetry)
	}
	start := time.Now()
	defer func() { e.metrics.sendDur.WithLabelValues(p.Channel).Observe(time.Since(start).Seconds()) }()
	log := e.log.With("alert_id", p.ID, "version", p.Version, "channel", p.Channel, "batch", p.Batch)
	a, err := e.store.AlertVersion(ctx, p.ID, p.Version)
	if errors.Is(err, dispatch.ErrNotFound) {
		return fmt.Errorf("send %s v%d: no such warning version: %w", p.ID, p.Version, asynq.SkipRetry)
	}
	if err != nil {
		return err
	}
	if p.Batch == 0 {
		e.observeSinceIssue(a, p.Channel, "plan_to_send", start)
	}
	if revoked, err := e.superseded(ctx, a); err != nil {
		return err
	} else if revoked {
		if _, err := e.store.FinishBatch(ctx, p.ID, p.Version, p.Channel, p.Batch, channels.StateRevoked, "warning cancelled before delivery"); err != nil {
			return err
		}
		return asynq.RevokeTask
	}
	if (a.Kind == warning.KindAlert || a.Kind == warning.KindUpdate) && !time.Now().Before(a.Expires) {
		_, err := e.store.FinishBatch(ctx, p.ID, p.Version, p.Channel, p.Batch, channels.StateExpired, "warning expired before delivery")
		if err == nil {
			log.Warn("batch expired before delivery")
		}
		return err
	}
	// Claimed before the records are read: a batch is worked on by one
	// execution at a time, and what a dead holder left in flight is known.
	claim, out, err := e.claim(ctx, dispatch.BatchKey{AlertID: p.ID, Version: p.Version, Channel: p.Channel, Batch: p.Batch})
	if err != nil {
		return err
	}
	if claim == nil {
		return fmt.Errorf("send %s v%d %s batch %d: %w (%s)", p.ID, p.Version, p.Channel, p.Batch, errHeld, out.HeldBy)
	}
	unrecorded := false // a chunk went to the channel and its results could not be written
	defer func() {
		if unrecorded {
			claim.abandon()
		} else {
			claim.release()
		}
	}()
	rows, err := e.store.BatchDeliveries(ctx, p.ID, p.Version, p.Channel, p.Batch)
	if err != nil {
		return err
	}
	var todo []channels.Recipient
	for _, d := range rows {
		if d.State == channels.StatePlanned {
			todo = append(todo, channels.Recipient{ID: d.Recipient, Address: d.Address, Language: d.Language})
		}
	}
	if todo, err = e.settleInterrupted(ctx, p, todo, out.Inflight); err != nil {
		return err
	}
	if len(todo) == 0 {
		return nil
	}
	retryCount, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	transient, lastErr, err := e.sendTodo(ctx, log, start, p, a, claim, todo, retryCount >= maxRetry, &unrecorded)
	if err != nil {
		return err
	}
	if transient > 0 {
		log.Warn("batch has recipients to retry", "count", transient, "err", lastErr)
		return fmt.Errorf("%d recipients to retry: %w", transient, lastErr)
	}
	return nil
}

// sendTodo hands todo (planned records of batch p, claimed by claim) to
// the channel chunk by chunk and records each chunk's results before the
// next (start: when the execution began, for the stage metrics). It returns how many recipients are left to retry (transient
// errors; on lastTry they are recorded failed instead). *unrecorded is set
// when a chunk went to the channel and its results could not be written.
func (e *Engine) sendTodo(ctx context.Context, log *slog.Logger, start time.Time, p sendPayload, a *dispatch.Alert, claim *heldClaim, todo []channels.Recipient, lastTry bool, unrecorded *bool) (transient int, lastErr error, err error) {
	ch := e.cfg.Channels[p.Channel]
	if ch == nil {
		return 0, nil, fmt.Errorf("no %q channel configured: %w", p.Channel, asynq.SkipRetry)
	}
	msg, err := e.Message(ctx, a)
	if err != nil {
		return 0, nil, err
	}
	limit := e.channelSlots(p.Channel, ch)
	prio := int(msg.Level)
	if msg.Drill() {
		prio = 0
	}
	chunkSize := e.cfg.SendChunk
	if idempotentChannels[p.Channel] {
		// These channels deduplicate by message key themselves, so a re-run
		// after a crash cannot double-send: hand them the whole batch at once.
		chunkSize = len(todo)
	}
	parts, err := e.sendParts(ctx, a, p.Channel, msg, todo, chunkSize)
	if err != nil {
		return 0, nil, err
	}
	sentHere := 0
	for _, part := range parts {
		chunk := part.rcpts
		// A village's own programme is rendered before anything is held
		// or marked in flight for its loudspeakers.
		sendMsg, perr := e.partMessage(ctx, a, part)
		if perr != nil {
			return 0, nil, perr
		}
		if limit != nil && !limit.acquire(ctx, prio) {
			return 0, nil, ctx.Err()
		}
		if !e.replaySafe(p.Channel) {
			// Write-ahead: from here until the results are recorded, these
			// recipients are possibly sent should this node die.
			if err := claim.markInflight(ctx, chunk); err != nil {
				if limit != nil {
					limit.release()
				}
				if errors.Is(err, errClaimLost) {
					log.Warn("batch taken over by another node (this one was thought dead): stopping", "sent_here", sentHere)
					return 0, nil, nil
				}
				return 0, nil, fmt.Errorf("record chunk in flight: %w", err)
			}
		}
		sentHere += len(chunk)
		sendStart := time.Now()
		if sentHere == len(chunk) {
			e.metrics.stage.WithLabelValues(p.Channel, "send_prepare").Observe(sendStart.Sub(start).Seconds())
		}
		results, sendErr := ch.Send(ctx, sendMsg, chunk)
		recordStart := time.Now()
		e.metrics.stage.WithLabelValues(p.Channel, "channel").Observe(recordStart.Sub(sendStart).Seconds())
		ups := make([]dispatch.DeliveryUpdate, 0, len(chunk))
		got := make(map[string]bool, len(results))
		for _, r := range results {
			got[r.RecipientID] = true
			u := dispatch.DeliveryUpdate{AlertID: p.ID, Version: p.Version, Channel: p.Channel, Recipient: r.RecipientID, Attempt: true, Ref: r.Ref, Detail: r.Detail}
			switch {
			case r.State == channels.StateSent || r.State == channels.StateDelivered:
				u.State = r.State
				e.metrics.sent.WithLabelValues(p.Channel).Inc()
			case r.State == channels.StateNotSent:
				// The outbox: recorded, reached nobody. Never counted as sent.
				u.State = r.State
				e.metrics.notSent.WithLabelValues(p.Channel).Inc()
			case channels.IsPermanent(r.Err) || lastTry:
				u.State = channels.StateFailed
				u.Error = errString(r.Err)
				e.metrics.failed.WithLabelValues(p.Channel).Inc()
			default:
				u.Error = errString(r.Err)
				transient++
				lastErr = r.Err
			}
			ups = append(ups, u)
		}
		if sendErr != nil {
			for _, r := range chunk {
				if !got[r.ID] {
					u := dispatch.DeliveryUpdate{AlertID: p.ID, Version: p.Version, Channel: p.Channel, Recipient: r.ID, Attempt: true, Error: sendErr.Error()}
					if channels.IsPermanent(sendErr) || lastTry {
						u.State = channels.StateFailed
					} else {
						transient++
					}
					ups = append(ups, u)
				}
			}
			lastErr = sendErr
		}
		// Record even when ctx is done: what was sent must be known.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := e.store.UpdateDeliveries(wctx, ups)
		cancel()
		e.metrics.stage.WithLabelValues(p.Channel, "record").Observe(time.Since(recordStart).Seconds())
		// The slot is held until the chunk is recorded: a chunk sent and
		// not yet recorded is as "possibly sent" as one in the channel.
		if limit != nil {
			limit.release()
		}
		if err != nil {
			*unrecorded = true
			return 0, nil, fmt.Errorf("record results: %w", err)
		}
		if sendErr != nil && ctx.Err() != nil {
			return 0, nil, sendErr
		}
	}
	return transient, lastErr, nil
}

func errString(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// channelSlots returns the limit on chunks handed at once to ch on this
// node, nil for channels without one (those that deduplicate themselves,
// or that know no submit rate).
func (e *Engine) channelSlots(name string, ch channels.Channel) *slots {
	rl, ok := ch.(rateLimited)
	if !ok || idempotentChannels[name] {
		return nil
	}
	e.slotsMu.Lock()
	defer e.slotsMu.Unlock()
	s, ok := e.slots[name]
	if !ok {
		if n := slotsFor(rl.SubmitRate(), e.cfg.SendChunk); n > 0 {
			s = newSlots(n)
		}
		e.slots[name] = s // nil: no limit
	}
	return s
}

// refresher is a population that can bring itself up to date with the
// database (dispatch.PopulationIndex).
type refresher interface {
	Refresh(ctx context.Context) error
}
