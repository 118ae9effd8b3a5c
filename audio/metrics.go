package audio

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	renders       *prometheus.CounterVec
	renderSeconds prometheus.Histogram
	toneOnly      prometheus.Counter
	clips         *prometheus.CounterVec
	parts         *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		renders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertcast_audio_renders_total",
			Help: "Programme render requests by result (hit, rendered, error, invalid).",
		}, []string{"result"}),
		renderSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "alertcast_audio_render_seconds",
			Help:    "Time to render a programme on a cache miss.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 1.5, 2.5, 5, 10, 30},
		}),
		toneOnly: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alertcast_audio_tone_only_total",
			Help: "Programmes rendered without their speech (no synthesizer or tone-only requested).",
		}),
		clips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertcast_audio_clip_uploads_total",
			Help: "Recorded clip uploads by result (stored, rejected).",
		}, []string{"result"}),
		parts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alertcast_audio_speech_parts_total",
			Help: "Speech parts (Segment.Parts) a render needed, by where they came from (memory, disk, synthesised).",
		}, []string{"source"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.renders, m.renderSeconds, m.toneOnly, m.clips, m.parts} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) result(r string) { m.renders.WithLabelValues(r).Inc() }

func (m *metrics) part(source string) { m.parts.WithLabelValues(source).Inc() }
