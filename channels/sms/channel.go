// Package sms is the SMS channel: it renders a warning per resident language
// (GSM-7 or UCS-2, concatenated parts, sender signature, drill marker) and
// submits it through SMPP binds or HTTP gateways (Kannel sendsms, a signed
// JSON webhook), with priorities, weights and failover between gateways,
// per-level submit queues so red warnings overtake drill traffic, and
// delivery receipts (deliver_sm, Kannel DLR callbacks) reported to dispatch.
//
// It never sends the same message version to the same recipient twice on its
// own: an acknowledged submit is remembered per (Message.Key, Recipient.ID)
// and never repeated; only submits that no gateway acknowledged come back as
// transient failures. It never logs gateway passwords or HMAC secrets.
package sms

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alertcast/alertcast/channels"
)

// Name is the channel name used in warnings and receipts.
const Name = "sms"

// Errors, wrapped with more detail where they are returned.
var (
	ErrInvalidNumber = errors.New("invalid phone number")
	ErrNoGateway     = errors.New("no SMS gateway available")
	ErrThrottled     = errors.New("throttled by the SMSC")
	ErrBindLost      = errors.New("bind lost before the SMSC acknowledged the submit")
	ErrInFlight      = errors.New("a submit to this recipient for this message is already in flight")
	ErrRejected      = errors.New("rejected by the SMSC")
)

// noGatewayGrace is how long Send waits for any gateway to come up before
// giving the batch back as a transient failure, when it is not one of the
// maxHeldSends that wait until shortly before their deadline.
var noGatewayGrace = 3 * time.Second

// maxHeldSends is how many Sends at once keep their recipients queued for
// a whole outage (up to their context's deadline), so they go out the
// moment a bind is back; each holds a task queue worker meanwhile, so the
// rest give up after noGatewayGrace and come back with the queue's retry.
const maxHeldSends = 8

// cancelGrace is how long Send, once its context is done, waits for submits
// already on the wire to be acknowledged, so their results are not lost.
const cancelGrace = 500 * time.Millisecond

// Channel is the SMS channel. Safe for concurrent use.
type Channel struct {
	cfg Config
	rep channels.Reporter
	log *slog.Logger
	m   *metrics

	gateways []*gateway
	tiers    [][]*gateway // by priority, lower first

	qmu     sync.Mutex
	queues  [levels]jobQueue // per level; index 0 = drill/test
	delayed []*job           // throttled, waiting for notBefore
	kick    chan struct{}
	sticky  *gateway // scheduler only: chosen gateway waiting for room

	acks   *ackStore
	dlrs   *dlrStore
	dlrKey []byte // signs Kannel dlr-url callbacks

	changeMu sync.Mutex
	changed  chan struct{} // closed and replaced at every bind up or down
	holds    chan struct{} // Sends waiting out an outage to their deadline

	life    context.Context // cancelled by Close: bounds store lookups
	endLife context.CancelFunc

	closed    atomic.Bool
	closeOnce sync.Once
	quit      chan struct{}
	wg        sync.WaitGroup
}

var (
	_ channels.Channel = (*Channel)(nil)
	_ channels.Closer  = (*Channel)(nil)
)

const levels = 5

// New validates cfg, starts the gateways' binds and workers and returns the
// channel. rep receives delivery receipts; log is used as given (the caller
// adds channel=sms); reg may be nil.
func New(cfg Config, rep channels.Reporter, log *slog.Logger, reg prometheus.Registerer) (*Channel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if rep == nil {
		rep = channels.Discard
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// log is used as given: the wiring adds channel=sms, as for every
	// channel (adding it here too logged "channel=sms channel=sms").
	c := &Channel{cfg: cfg, rep: rep, log: log, kick: make(chan struct{}, 1), quit: make(chan struct{}),
		acks: newAckStore(), dlrs: newDLRStore(), changed: make(chan struct{}), holds: make(chan struct{}, maxHeldSends)}
	c.life, c.endLife = context.WithCancel(context.Background())
	c.dlrKey = make([]byte, 32)
	if _, err := rand.Read(c.dlrKey); err != nil {
		return nil, fmt.Errorf("sms: dlr key: %w", err)
	}
	for _, gc := range cfg.Gateways {
		g := &gateway{c: c, cfg: gc, inbox: make(chan *job, inboxSize(gc)), log: log.With("gateway", gc.Name)}
		switch gc.Type {
		case "smpp":
			g.impl = newSMPPGateway(g)
		case "kannel":
			g.impl = newKannelGateway(g)
		case "webhook":
			g.impl = newWebhookGateway(g)
		}
		c.gateways = append(c.gateways, g)
	}
	m, err := newMetrics(reg, c, c.gateways)
	if err != nil {
		return nil, err
	}
	c.m = m
	byPrio := map[int][]*gateway{}
	var prios []int
	for _, g := range c.gateways {
		if _, ok := byPrio[g.cfg.Priority]; !ok {
			prios = append(prios, g.cfg.Priority)
		}
		byPrio[g.cfg.Priority] = append(byPrio[g.cfg.Priority], g)
	}
	sort.Ints(prios)
	for _, p := range prios {
		c.tiers = append(c.tiers, byPrio[p])
	}
	for _, g := range c.gateways {
		g.impl.start()
	}
	c.wg.Add(2)
	go c.schedule()
	go c.janitor()
	return c, nil
}

func inboxSize(gc GatewayConfig) int {
	if gc.Type == "smpp" {
		return gc.Binds * gc.Window
	}
	return gc.Workers * 2
}

// Name returns "sms".
func (c *Channel) Name() string { return Name }

// Close unbinds gracefully and stops every worker. Safe twice.
func (c *Channel) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		close(c.quit)
		c.endLife()
		for _, g := range c.gateways {
			g.impl.stop()
		}
		c.wg.Wait()
		c.m.unregister()
	})
	return nil
}

// DLRHandler serves delivery-report callbacks: Kannel's dlr-url GETs and
// webhook providers' signed POSTs. Mount it at /sms/dlr.
func (c *Channel) DLRHandler() http.Handler { return http.HandlerFunc(c.serveDLR) }

// prepared is a message rendered and encoded for one language.
type prepared struct {
	r      Rendered
	parts  [][]byte
	coding byte
}

type job struct {
	b     *batch
	idx   int
	rcpt  channels.Recipient
	p     *prepared
	level int
	ack   *ackEntry
	ref   byte // concatenation reference, the same on every retry

	attempts  int
	notBefore time.Time
	begun     bool     // guarded by b.mu: on a gateway, between begin and end
	avoid     *gateway // throttled this job last time: prefer another

	// per attempt, owned by the gateway processing the job
	outstanding int
	throttled   bool
	lost        bool
	permErr     error
	tempErr     error
	gw          *gateway
}

// Send submits m to every recipient. See channels.Channel.
func (c *Channel) Send(ctx context.Context, m *channels.Message, to []channels.Recipient) ([]channels.Result, error) {
	if c.closed.Load() {
		return nil, channels.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, channels.Permanent(err)
	}
	// The key is what keeps a phone from getting the same warning twice.
	key := m.Key
	b := newBatch(ctx, len(to))
	b.expires = m.Expires
	// Drills and tests queue below every real warning (index 0).
	level := int(m.Level)
	if m.Drill() {
		level = 0
	}
	// Render every language first: an error must leave nothing claimed.
	preps := map[string]*prepared{}
	for _, r := range to {
		lang := r.Language
		if lang == "" {
			lang = c.cfg.DefaultLanguage
		}
		if _, ok := preps[lang]; ok {
			continue
		}
		rd, err := Render(m, lang, c.cfg)
		if err != nil {
			return nil, channels.Permanent(fmt.Errorf("render %s: %w", lang, err))
		}
		parts, coding, err := encodeSegments(rd)
		if err != nil {
			return nil, channels.Permanent(fmt.Errorf("render %s: %w", lang, err))
		}
		preps[lang] = &prepared{r: rd, parts: parts, coding: coding}
	}
	var jobs []*job
	for i, r := range to {
		lang := r.Language
		if lang == "" {
			lang = c.cfg.DefaultLanguage
		}
		p := preps[lang]
		dest, err := normalizeNumber(r.Address)
		if err != nil {
			b.finish(i, channels.Result{RecipientID: r.ID, State: channels.StateFailed, Err: channels.Permanent(err)})
			continue
		}
		r.Address = dest
		ack, status := c.acks.claim(key, r.ID, len(p.parts))
		switch status {
		case claimDone:
			b.finish(i, channels.Result{RecipientID: r.ID, State: channels.StateSent, Ref: ack.ref(), Detail: "already submitted"})
			continue
		case claimBusy:
			b.finish(i, channels.Result{RecipientID: r.ID, State: channels.StateFailed, Err: ErrInFlight})
			continue
		}
		jobs = append(jobs, &job{b: b, idx: i, rcpt: r, p: p, level: level, ack: ack, ref: concatRef(key, r.ID)})
	}
	b.jobs = jobs
	b.key = key
	c.enqueue(jobs...)
	return c.wait(ctx, b)
}

// wait collects b's results. While no gateway is up the recipients stay
// queued: a bind that comes back sends them at once (the scheduler is woken
// by the bind). Only when none comes back before shortly ahead of ctx's
// deadline (noGatewayGrace for all but maxHeldSends Sends) does Send give
// up with ErrNoGateway, naming why each gateway is down.
func (c *Channel) wait(ctx context.Context, b *batch) ([]channels.Result, error) {
	// A backstop for gateways whose state changes without a bind event.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var giveUp *time.Timer
	held := false
	disarm := func() {
		if giveUp != nil {
			giveUp.Stop()
			giveUp = nil
		}
		if held {
			<-c.holds
			held = false
		}
	}
	defer disarm()
	for {
		changed := c.gatewayChange()
		var expired <-chan time.Time
		switch up := c.anyUp(); {
		case up && giveUp != nil:
			disarm()
		case !up && giveUp == nil:
			// Only a few Sends hold their task queue worker for the whole
			// outage: the rest give their workers back to the other
			// channels (loudspeakers) after the short grace.
			d := min(noGatewayGrace, noGatewayWait(ctx))
			select {
			case c.holds <- struct{}{}:
				held = true
				d = noGatewayWait(ctx)
			default:
			}
			giveUp = time.NewTimer(d)
		}
		if giveUp != nil {
			expired = giveUp.C
		}
		select {
		case <-b.done:
			return b.collect(), nil
		case <-c.quit:
			b.stop()
			b.release(c.acks)
			return b.collect(), channels.ErrClosed
		case <-ctx.Done():
			b.stop()
			b.drain(cancelGrace)
			b.release(c.acks)
			return b.collect(), ctx.Err()
		case <-changed:
		case <-tick.C:
		case <-expired:
			b.stop()
			b.drain(cancelGrace)
			b.release(c.acks)
			return b.collect(), errNoGateway(c.downReasons())
		}
	}
}

func normalizeNumber(s string) (string, error) {
	d := strings.TrimPrefix(strings.TrimSpace(s), "+")
	if len(d) < 5 || len(d) > 15 {
		return "", fmt.Errorf("%w: %q (want 5–15 digits, optional +)", ErrInvalidNumber, s)
	}
	for _, r := range d {
		if r < '0' || r > '9' {
			return "", fmt.Errorf("%w: %q (want 5–15 digits, optional +)", ErrInvalidNumber, s)
		}
	}
	return d, nil
}

// concatRef is the UDH concatenation reference: deterministic per
// (message, recipient), so re-sent missing parts join the earlier ones.
func concatRef(key, id string) byte {
	h := fnv.New32a()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return byte(h.Sum32())
}

// anyUp reports whether some gateway can take traffic now or after a
// throttling pause.
func (c *Channel) anyUp() bool {
	for _, g := range c.gateways {
		if g.impl.up() {
			return true
		}
	}
	return false
}

func (c *Channel) otherHealthy(not *gateway) bool {
	for _, g := range c.gateways {
		if g != not && g.healthy() {
			return true
		}
	}
	return false
}

// schedule hands queued jobs to gateways: highest level first, best
// priority tier with a healthy gateway, weighted within the tier. Gateway
// inboxes are short, so a later red warning waits behind at most an inbox.
func (c *Channel) schedule() {
	defer c.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c.reclaim()
		for c.dispatchOne() {
		}
		select {
		case <-c.quit:
			return
		case <-c.kick:
		case <-tick.C:
		}
	}
}

// reclaim takes jobs back from gateways that went unhealthy, so they fail
// over to the next gateway instead of waiting for a dead bind.
func (c *Channel) reclaim() {
	for _, g := range c.gateways {
		if g.healthy() {
			continue
		}
		var back []*job
		for {
			select {
			case j := <-g.inbox:
				back = append(back, j)
				continue
			default:
			}
			break
		}
		if len(back) > 0 {
			c.requeue(back...)
		}
	}
}

// pick chooses the gateway for j: the first priority tier that has a
// healthy gateway, smooth weighted round robin within it. A gateway that
// just throttled j is avoided while any other is healthy (it drains to the
// next). Room is not considered: weights hold even when every gateway is
// saturated, the scheduler waits for the chosen one instead.
func (c *Channel) pick(j *job) *gateway {
	if g := c.sticky; g != nil && g.healthy() && g != j.avoid {
		return g
	}
	c.sticky = nil
	for _, avoid := range []*gateway{j.avoid, nil} {
		for _, tier := range c.tiers {
			var best *gateway
			total := 0
			for _, g := range tier {
				if g == avoid || !g.healthy() {
					continue
				}
				g.current += g.cfg.Weight
				total += g.cfg.Weight
				if best == nil || g.current > best.current {
					best = g
				}
			}
			if best != nil {
				best.current -= total
				return best
			}
		}
		if j.avoid == nil {
			break
		}
	}
	return nil
}

// gateway is one configured gateway; impl talks its protocol.
type gateway struct {
	c       *Channel
	cfg     GatewayConfig
	impl    gatewayImpl
	inbox   chan *job
	log     *slog.Logger
	current int // smooth WRR state, scheduler only

	backoffMu sync.Mutex
	until     time.Time // throttled or failing until
	backoff   time.Duration

	stateMu sync.Mutex
	state   gwState
}

type gatewayImpl interface {
	start()
	stop()
	up() bool
}

func (g *gateway) healthy() bool {
	if !g.impl.up() {
		return false
	}
	g.backoffMu.Lock()
	defer g.backoffMu.Unlock()
	return !time.Now().Before(g.until)
}

// throttle backs the whole gateway off, doubling up to 2 s.
func (g *gateway) throttle() time.Duration {
	g.backoffMu.Lock()
	defer g.backoffMu.Unlock()
	if time.Now().Before(g.until) {
		return g.backoff // one pause per throttling episode, not per response
	}
	if g.backoff == 0 {
		g.backoff = 50 * time.Millisecond
	} else if g.backoff < 2*time.Second {
		g.backoff *= 2
	}
	g.until = time.Now().Add(g.backoff)
	return g.backoff
}

func (g *gateway) ok() {
	g.backoffMu.Lock()
	g.backoff = 0
	g.backoffMu.Unlock()
}

func (g *gateway) pauseUntil() time.Time {
	g.backoffMu.Lock()
	defer g.backoffMu.Unlock()
	return g.until
}

// complete settles a job whose outstanding parts are all answered (or lost).
// Called by the gateway that owns the job, once per attempt.
func (c *Channel) complete(j *job) {
	g := j.gw
	b := j.b
	res := channels.Result{RecipientID: j.rcpt.ID}
	switch {
	case j.ack.complete():
		res.State, res.Ref = channels.StateSent, j.ack.ref()
		res.Detail = fmt.Sprintf("%d parts via %s", len(j.p.parts), g.cfg.Name)
		if len(j.p.parts) == 1 {
			res.Detail = "1 part via " + g.cfg.Name
		}
		for _, r := range c.dlrs.track(j) { // receipts that overtook their submit_sm_resp
			c.rep.Report(context.Background(), r)
		}
	case j.permErr != nil:
		res.State, res.Err = channels.StateFailed, channels.Permanent(j.permErr)
	case j.lost && j.tempErr != nil:
		res.State, res.Err = channels.StateFailed, fmt.Errorf("%w: %v", ErrBindLost, j.tempErr)
	case j.lost:
		res.State, res.Err = channels.StateFailed, ErrBindLost
	case j.throttled && j.attempts+1 < c.cfg.Attempts && !b.isStopped():
		j.attempts++
		j.avoid = g
		if !c.otherHealthy(g) {
			j.notBefore = g.pauseUntil() // nowhere else to go: wait out the backoff
		}
		j.throttled, j.tempErr, j.gw = false, nil, nil
		b.end(j)
		c.requeue(j)
		return
	case j.throttled:
		res.State, res.Err = channels.StateFailed, fmt.Errorf("%w after %d attempts", ErrThrottled, j.attempts+1)
	default:
		err := j.tempErr
		if err == nil {
			err = errors.New("submit not acknowledged")
		}
		res.State, res.Err = channels.StateFailed, err
	}
	if res.State == channels.StateFailed && !channels.IsPermanent(res.Err) {
		c.acks.unclaim(j.ack) // never acknowledged in full: a retry may send the rest
	} else {
		c.acks.settle(j.ack)
	}
	b.finish(j.idx, res)
	b.end(j)
}

// janitor rotates the receipt and dedup stores so memory stays bounded.
func (c *Channel) janitor() {
	defer c.wg.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case now := <-t.C:
			c.dlrs.maybeRotate()
			c.lookupOrphans(c.life, c.dlrs.expired(now))
		}
	}
}

// GatewayStatus is one gateway's state, for /readyz and the console.
type GatewayStatus struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Priority int    `json:"priority"`
	Binds    int    `json:"binds"`   // SMPP binds currently bound (HTTP: 0)
	Healthy  bool   `json:"healthy"` // can take traffic now (bound, not backing off)
	// Error is why the last bind failed or was lost (e.g. "bind refused:
	// ESME_RINVPASWD (0x0E): … check sms.gateways[a].password"), shown
	// while some of the gateway's binds are down; ErrorAt is when.
	Error   string     `json:"error,omitempty"`
	ErrorAt *time.Time `json:"error_at,omitempty"`
}

// Status reports every gateway's state.
func (c *Channel) Status() []GatewayStatus {
	out := make([]GatewayStatus, 0, len(c.gateways))
	for _, g := range c.gateways {
		st := GatewayStatus{Name: g.cfg.Name, Type: g.cfg.Type, Priority: g.cfg.Priority, Healthy: g.healthy()}
		if s, ok := g.impl.(*smppGateway); ok {
			st.Binds = int(s.bound.Load())
			if err, at := g.lastError(); err != nil && st.Binds < len(s.binds) {
				st.Error, st.ErrorAt = err.Error(), &at
			}
		}
		out = append(out, st)
	}
	return out
}

// Ready returns nil when some gateway can take traffic (for /readyz), else
// an error wrapping ErrNoGateway.
func (c *Channel) Ready() error {
	if c.closed.Load() {
		return channels.ErrClosed
	}
	if !c.anyUp() {
		return fmt.Errorf("sms: %w", errNoGateway(c.downReasons()))
	}
	return nil
}
