package sms

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reg      prometheus.Registerer
	cs       []prometheus.Collector
	submits  *prometheus.CounterVec // by gateway and outcome
	receipts *prometheus.CounterVec // by state
	unknown  prometheus.Counter
	binds    *prometheus.GaugeVec
	// receiptLag is the time from a gateway's submit acknowledgement to the
	// final delivery receipt of a part, by gateway: a growing lag is a
	// gateway (or operator) falling behind before it starts failing.
	receiptLag *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, c *Channel, gateways []*gateway) (*metrics, error) {
	m := &metrics{
		reg: reg,
		submits: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "alertcast", Subsystem: "sms", Name: "submits_total",
			Help: "SMS parts submitted, by gateway and outcome (ok, throttled, rejected, lost, error)."}, []string{"gateway", "outcome"}),
		receipts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "alertcast", Subsystem: "sms", Name: "receipts_total",
			Help: "Delivery receipts matched to a submitted part, by state."}, []string{"state"}),
		unknown: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "alertcast", Subsystem: "sms", Name: "receipts_unknown_total",
			Help: "Delivery receipts whose message id matched no submitted part."}),
		binds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "alertcast", Subsystem: "sms", Name: "binds_up",
			Help: "SMPP binds currently bound, by gateway."}, []string{"gateway"}),
		receiptLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "alertcast", Subsystem: "sms", Name: "receipt_lag_seconds",
			Help:    "Time from the gateway's submit acknowledgement to the part's final delivery receipt, by gateway.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600}}, []string{"gateway"}),
	}
	m.cs = []prometheus.Collector{m.submits, m.receipts, m.unknown, m.binds, m.receiptLag}
	for _, g := range gateways {
		// Zero series from the start, so rates and alert rules see a gateway
		// that has sent nothing yet.
		for _, o := range []string{"ok", "throttled", "rejected", "lost", "error"} {
			m.submits.WithLabelValues(g.cfg.Name, o)
		}
		m.receiptLag.WithLabelValues(g.cfg.Name)
	}
	for _, g := range gateways {
		if g.cfg.Type != "smpp" {
			continue
		}
		m.cs = append(m.cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "alertcast", Subsystem: "sms", Name: "gateway_up",
			Help:        "1 while an SMPP gateway has a bind up, 0 while it has none (why is in the log and in /readyz).",
			ConstLabels: prometheus.Labels{"gateway": g.cfg.Name}},
			func() float64 {
				if g.impl.up() {
					return 1
				}
				return 0
			}))
	}
	for l := range levels {
		m.cs = append(m.cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "alertcast", Subsystem: "sms", Name: "queue_depth",
			Help: "Recipients waiting in the channel's submit queue, by level (0 = drill/test).", ConstLabels: prometheus.Labels{"level": strconv.Itoa(l)}},
			func() float64 { return float64(c.queueDepth(l)) }))
	}
	if reg == nil {
		return m, nil
	}
	for i, col := range m.cs {
		if err := reg.Register(col); err != nil {
			for _, done := range m.cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("sms: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, col := range m.cs {
		m.reg.Unregister(col)
	}
}
