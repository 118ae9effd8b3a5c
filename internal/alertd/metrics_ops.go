package alertd

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/wire"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
)

// The metrics a duty night asks about that no single package owns: is
// Redis / the database reachable, how deep and how old are the queues, how
// many loudspeakers of each township are online, how long did the last
// warning take to sound, when does the certificate expire.
// deploy/prometheus/alertcast.rules.yml and deploy/grafana/alertcast.json
// are written against these names (ops_metrics_test.go checks it).

const (
	// speakerCensusEvery bounds how often a scrape recounts loudspeakers: the
	// count reads every status hash in Redis and every registry row.
	speakerCensusEvery = 30 * time.Second
	opsScrapeTimeout   = 5 * time.Second
	lastWarningKey     = "alertcast:metrics:last_warning"
)

var (
	descDependencyUp = prometheus.NewDesc("alertcast_dependency_up",
		"1 when this node reached the dependency (redis, database) at scrape time, 0 when it did not.", []string{"dependency"}, nil)
	descQueueTasks = prometheus.NewDesc("alertcast_queue_tasks",
		"Asynq tasks in each queue, by state (pending, active, scheduled, retry, archived).", []string{"queue", "state"}, nil)
	descQueueOldest = prometheus.NewDesc("alertcast_queue_oldest_pending_seconds",
		"Age of the oldest pending task in each queue (0 when none is pending).", []string{"queue"}, nil)
	descQueueProcessed = prometheus.NewDesc("alertcast_queue_processed_total",
		"Tasks processed in each queue since the queue was created, by outcome (ok, failed), as counted by Asynq in Redis (shared by every node).", []string{"queue", "outcome"}, nil)
	descSpeakers = prometheus.NewDesc("alertcast_speakers",
		"Loudspeakers per township (9-digit code) by state: registered (enrolled, not revoked), online, offline (registered and not online), held (a command waits unacknowledged for it).",
		[]string{"township", "state"}, nil)
	descSpeakerCensusAge = prometheus.NewDesc("alertcast_speakers_census_age_seconds",
		"Age of the loudspeaker counts in alertcast_speakers (they are recounted at most every 30 s).", nil, nil)
	descLastIssued = prometheus.NewDesc("alertcast_last_warning_issued_timestamp_seconds",
		"When the last new warning was issued (Unix seconds).", nil, nil)
	descLastFirstSound = prometheus.NewDesc("alertcast_last_warning_first_sound_seconds",
		"Seconds from the issue of the last new warning to the first loudspeaker reporting it playing (absent until one does).", nil, nil)
	descCertExpiry = prometheus.NewDesc("alertcast_tls_cert_expiry_timestamp_seconds",
		"When the TLS certificate alertd serves expires (Unix seconds); absent without tls_cert.", nil, nil)
)

// opsCollector computes the metrics above at scrape time.
type opsCollector struct {
	s       *Server
	inspect *asynq.Inspector

	mu     sync.Mutex // one speaker census at a time; guards the fields below
	every  time.Duration
	census map[string]*[4]float64
	at     time.Time
}

func newOpsCollector(s *Server) *opsCollector {
	return &opsCollector{s: s, inspect: asynq.NewInspectorFromRedisClient(s.redis.Client), every: speakerCensusEvery}
}

func (c *opsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDependencyUp, descQueueTasks, descQueueOldest, descQueueProcessed, descSpeakers,
		descSpeakerCensusAge, descLastIssued, descLastFirstSound, descCertExpiry} {
		ch <- d
	}
}

func (c *opsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), opsScrapeTimeout)
	defer cancel()
	up := func(dep string, err error) bool {
		v := 1.0
		if err != nil {
			v = 0
		}
		ch <- prometheus.MustNewConstMetric(descDependencyUp, prometheus.GaugeValue, v, dep)
		return err == nil
	}
	up("database", c.s.store.Ping(ctx))
	if up("redis", c.s.redis.Client.Ping(ctx).Err()) {
		c.collectQueues(ch)
		c.collectLastWarning(ctx, ch)
		c.collectSpeakers(ctx, ch)
	}
	if c.s.certs != nil {
		if leaf := c.s.certs.cur.Load().Leaf; leaf != nil {
			ch <- prometheus.MustNewConstMetric(descCertExpiry, prometheus.GaugeValue, float64(leaf.NotAfter.Unix()))
		}
	}
}

func (c *opsCollector) collectQueues(ch chan<- prometheus.Metric) {
	existing, err := c.inspect.Queues()
	if err != nil {
		c.s.log.Warn("metrics: asynq queues", "err", err)
		return
	}
	for q := range dispatch.Queues {
		var qi asynq.QueueInfo
		if slices.Contains(existing, q) {
			info, err := c.inspect.GetQueueInfo(q)
			if err != nil {
				c.s.log.Warn("metrics: asynq queue info", "queue", q, "err", err)
				continue
			}
			qi = *info
		} // else never used yet: empty, and the series must exist for the rules
		for _, st := range []struct {
			state string
			n     int
		}{{"pending", qi.Pending}, {"active", qi.Active}, {"scheduled", qi.Scheduled}, {"retry", qi.Retry}, {"archived", qi.Archived}} {
			ch <- prometheus.MustNewConstMetric(descQueueTasks, prometheus.GaugeValue, float64(st.n), q, st.state)
		}
		ch <- prometheus.MustNewConstMetric(descQueueOldest, prometheus.GaugeValue, qi.Latency.Seconds(), q)
		ch <- prometheus.MustNewConstMetric(descQueueProcessed, prometheus.CounterValue, float64(qi.ProcessedTotal-qi.FailedTotal), q, "ok")
		ch <- prometheus.MustNewConstMetric(descQueueProcessed, prometheus.CounterValue, float64(qi.FailedTotal), q, "failed")
	}
}

// Speaker census states, in the order of the count arrays.
var speakerStates = [4]string{"registered", "online", "offline", "held"}

func (c *opsCollector) collectSpeakers(ctx context.Context, ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.census == nil || time.Since(c.at) >= c.every {
		if m, err := c.countSpeakers(ctx); err != nil {
			c.s.log.Warn("metrics: loudspeaker census failed; exporting the previous one", "err", err)
		} else {
			c.census, c.at = m, time.Now()
		}
	}
	if c.census == nil {
		return
	}
	states := speakerStates[:]
	if c.s.speakers == nil {
		// The speaker channel is the outbox here: only the registry is
		// known, and "all offline" would page for every township.
		states = states[:1]
	}
	for town, n := range c.census {
		for i, st := range states {
			ch <- prometheus.MustNewConstMetric(descSpeakers, prometheus.GaugeValue, n[i], town, st)
		}
	}
	ch <- prometheus.MustNewConstMetric(descSpeakerCensusAge, prometheus.GaugeValue, time.Since(c.at).Seconds())
}

// countSpeakers counts registered loudspeakers from the registry, and
// online and held ones from the hub's state in Redis, per township.
func (c *opsCollector) countSpeakers(ctx context.Context) (map[string]*[4]float64, error) {
	town := map[string]string{} // device → township
	out := map[string]*[4]float64{}
	var ids []string
	err := c.s.store.ForEachSpeaker(ctx, func(r dispatch.SpeakerRecord) error {
		if r.Revoked {
			return nil
		}
		t := r.Village
		if len(t) > 9 {
			t = t[:9]
		}
		town[r.ID] = t
		ids = append(ids, r.ID)
		if out[t] == nil {
			out[t] = &[4]float64{}
		}
		out[t][0]++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if c.s.speakers == nil {
		return out, nil
	}
	st, err := c.s.speakers.Status(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range st {
		if t, ok := town[d.ID]; ok && d.Online {
			out[t][1]++
		}
	}
	held, err := c.s.speakers.Holding(ctx, ids)
	if err != nil {
		return nil, err
	}
	for id := range held {
		out[town[id]][3]++
	}
	for _, n := range out {
		n[2] = n[0] - n[1]
	}
	return out, nil
}

func (c *opsCollector) collectLastWarning(ctx context.Context, ch chan<- prometheus.Metric) {
	v, err := c.s.redis.Client.HGetAll(ctx, lastWarningKey).Result()
	if err != nil || v["issued_ms"] == "" {
		return
	}
	issued, _ := strconv.ParseInt(v["issued_ms"], 10, 64)
	ch <- prometheus.MustNewConstMetric(descLastIssued, prometheus.GaugeValue, float64(issued)/1e3)
	if first, err := strconv.ParseInt(v["first_sound_ms"], 10, 64); err == nil {
		ch <- prometheus.MustNewConstMetric(descLastFirstSound, prometheus.GaugeValue, math.Max(0, float64(first-issued)/1e3))
	}
}

// Last-warning bookkeeping lives in Redis: the issue call and the first
// loudspeaker report usually reach different nodes.
var (
	// KEYS[1] hash; ARGV: alert id, issued ms. A new warning replaces the
	// last one; the same one again (state changes) changes nothing.
	lastIssuedScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'issued_ms', ARGV[2])
return 1`)
	// KEYS[1] hash; ARGV: alert id, sound ms. 1: recorded; 2: already
	// recorded; 0: not the last warning (or its issue not recorded yet).
	firstSoundScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
if redis.call('HSETNX', KEYS[1], 'first_sound_ms', ARGV[2]) == 1 then return 1 end
return 2`)
)

// noteIssued records a new warning going on the air.
func (s *Server) noteIssued(a *dispatch.Alert) {
	if a.State != warning.StateIssued || a.Kind != warning.KindAlert || a.Round != 0 {
		return
	}
	at := a.IssuedAt
	if at.IsZero() {
		at = time.Now()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := lastIssuedScript.Run(ctx, s.redis.Client, []string{lastWarningKey}, a.ID, at.UnixMilli()).Err(); err != nil {
		s.log.Warn("metrics: cannot record the last warning's issue time", "alert_id", a.ID, "err", err)
	}
}

// firstSound remembers which warnings' first sound is settled, so that
// the thousands of "playing" reports after the first cost no Redis call.
type firstSound struct {
	mu    sync.Mutex
	done  map[string]bool
	tried map[string]time.Time
}

// noteReceipt records the first loudspeaker of the last warning to report
// it playing. It never blocks the receipt path on Redis.
func (s *Server) noteReceipt(r channels.Receipt) {
	if r.Channel != speaker.Name || r.Detail != wire.StepPlaying {
		return
	}
	id, _, ok := strings.Cut(r.Key, "/v")
	if !ok {
		return
	}
	f := &s.sound
	f.mu.Lock()
	if f.done == nil {
		f.done, f.tried = map[string]bool{}, map[string]time.Time{}
	}
	if f.done[id] || time.Since(f.tried[id]) < time.Second {
		f.mu.Unlock()
		return
	}
	f.tried[id] = time.Now()
	if len(f.tried) > 1000 { // warnings are few; forget old ones wholesale
		clear(f.tried)
		clear(f.done)
	}
	f.mu.Unlock()
	at := r.At
	if at.IsZero() {
		at = time.Now()
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := firstSoundScript.Run(ctx, s.redis.Client, []string{lastWarningKey}, id, at.UnixMilli()).Int()
		if err != nil {
			s.log.Warn("metrics: cannot record the first sound", "alert_id", id, "err", err)
			return
		}
		if n != 0 {
			f.mu.Lock()
			if f.done != nil {
				f.done[id] = true
			}
			f.mu.Unlock()
		}
	}()
}
