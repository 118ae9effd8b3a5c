package websocket

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reg         prometheus.Registerer
	collectors  []prometheus.Collector
	subscribers *prometheus.GaugeVec
	published   *prometheus.CounterVec
	events      prometheus.Counter
	frames      prometheus.Counter
	disconnects *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	redisErrors prometheus.Counter
	fanout      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reg: reg,
		subscribers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "alertcast_ws_subscribers",
			Help: "Connected subscribers on this node, by transport."}, []string{"transport"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alertcast_ws_published_total",
			Help: "Send outcomes: published, duplicate (same key again), stale (older version)."}, []string{"outcome"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "alertcast_ws_events_total",
			Help: "Warning events applied from the stream on this node."}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{Name: "alertcast_ws_frames_sent_total",
			Help: "Frames written to WebSocket and SSE subscribers."}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alertcast_ws_disconnects_total",
			Help: "Subscribers dropped by the hub, by reason."}, []string{"reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alertcast_ws_rejected_total",
			Help: "Connections refused, by reason."}, []string{"reason"}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "alertcast_ws_redis_errors_total",
			Help: "Failed reads of the Redis event stream."}),
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "alertcast_ws_fanout_seconds",
			Help:    "Time to queue one event for every local subscriber.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14)}),
	}
	m.subscribers.WithLabelValues("websocket") // zero series from the start: "nobody connected", not "no data"
	m.subscribers.WithLabelValues("sse")
	m.collectors = []prometheus.Collector{m.subscribers, m.published, m.events, m.frames, m.disconnects,
		m.rejected, m.redisErrors, m.fanout}
	if reg != nil {
		for i, c := range m.collectors {
			if err := reg.Register(c); err != nil {
				for _, done := range m.collectors[:i] {
					reg.Unregister(done)
				}
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}
