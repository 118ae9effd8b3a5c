package engine

import (
	"context"
	"log/slog"
	"time"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
	"github.com/prometheus/client_golang/prometheus"
)

// ProgressCollector exports the progress of the warnings on the air (state
// issued) from the same model the API, the console and alertctl show, so a
// dashboard cannot disagree with them: records by channel and progress
// state (queued, sent, unconfirmed, held, delivered, failed, expired,
// revoked, not_sent), and the overall percentage. A channel recorded to the
// outbox has its records under not_sent and outbox="1".
type ProgressCollector struct {
	store *dispatch.Store
	src   func() ProgressSources
	log   *slog.Logger

	records *prometheus.Desc
	percent *prometheus.Desc
}

// NewProgressCollector returns a collector reading store; src gives the
// sources ReadProgress needs (engine, unconfirmed times, offline speakers).
func NewProgressCollector(store *dispatch.Store, src func() ProgressSources, log *slog.Logger) *ProgressCollector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ProgressCollector{store: store, src: src, log: log,
		records: prometheus.NewDesc("alertcast_progress_records", "Delivery records of the current version of each warning on the air, by channel and progress state (see dispatch.Progress).",
			[]string{"alert_id", "channel", "state", "outbox"}, nil),
		percent: prometheus.NewDesc("alertcast_progress_percent", "Overall progress of each warning on the air (done*100/planned); absent while it is being planned.",
			[]string{"alert_id"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *ProgressCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.records
	ch <- c.percent
}

// Collect implements prometheus.Collector.
func (c *ProgressCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, err := c.store.ListAlerts(ctx, dispatch.AlertFilter{State: warning.StateIssued.String(), Limit: 500})
	if err != nil {
		c.log.Warn("progress metrics: list warnings", "err", err)
		return
	}
	src := c.src()
	for _, a := range list {
		per, ov, err := ReadProgress(ctx, c.store, src, a)
		if err != nil {
			c.log.Warn("progress metrics: read progress", "alert_id", a.ID, "err", err)
			continue
		}
		for name, p := range per {
			outbox := "0"
			if p.Mode == dispatch.ModeOutbox {
				outbox = "1"
			}
			for state, n := range map[string]int{"queued": p.Queued, "sent": p.Sent, "unconfirmed": p.Unconfirmed, "held": p.Held,
				"delivered": p.Delivered, "failed": p.Failed, "expired": p.Expired, "revoked": p.Revoked, "not_sent": p.NotSent} {
				ch <- prometheus.MustNewConstMetric(c.records, prometheus.GaugeValue, float64(n), a.ID, name, state, outbox)
			}
		}
		if ov.Percent != nil {
			ch <- prometheus.MustNewConstMetric(c.percent, prometheus.GaugeValue, float64(*ov.Percent), a.ID)
		}
	}
}
