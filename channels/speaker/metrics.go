package speaker

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	connected prometheus.Gauge
	commands  *prometheus.CounterVec
	reports   *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	authFail  *prometheus.CounterVec
	forged    *prometheus.CounterVec
	// signatures by kind: "device" (one command for one device) or
	// "broadcast" (one command for every device of an announcement).
	signatures *prometheus.CounterVec
	// writeDelay: from Send building a command to its frame written to a
	// device's socket (the hold, the bus, signing and the writers).
	writeDelay prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "alertcast_speaker_connected", Help: "Loudspeakers connected to this node."}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertcast_speaker_commands_total", Help: "Signed commands written to loudspeakers, by operation."}, []string{"op"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertcast_speaker_reports_total", Help: "Reports received from loudspeakers, by step."}, []string{"step"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertcast_speaker_frames_rejected_total", Help: "Device frames that closed their connection, by reason."}, []string{"reason"}),
		authFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertcast_speaker_auth_failures_total", Help: "Refused loudspeaker connections, by reason."}, []string{"reason"}),
		forged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertcast_speaker_forged_total",
			Help: "Commands and kicks read from Redis without a valid platform MAC, refused, by source (hold, bus, kick, epoch)."}, []string{"source"}),
		signatures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertcast_speaker_signatures_total",
			Help: "Ed25519 signatures made for loudspeaker commands, by kind (device, broadcast)."}, []string{"kind"}),
		writeDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "alertcast_speaker_write_delay_seconds",
			Help:    "From the hub's Send building a command to its frame written to a loudspeaker's socket.",
			Buckets: []float64{.005, .01, .025, .05, .075, .1, .15, .2, .3, .4, .5, .75, 1, 2, 5, 10, 60}}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.connected, m.commands, m.reports, m.rejected, m.authFail, m.forged, m.signatures, m.writeDelay} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue // a second hub in the same process (tests) shares the first one's series
			}
			return nil, err
		}
	}
	return m, nil
}
