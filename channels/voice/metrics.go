package voice

import (
	"github.com/alertcast/alertcast/channels/voice/wire"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reg          prometheus.Registerer
	cs           []prometheus.Collector
	rooms        *prometheus.GaugeVec
	peers        *prometheus.GaugeVec
	peerStates   *prometheus.CounterVec
	packetsIn    prometheus.Counter
	iceFailures  prometheus.Counter
	badFrames    prometheus.Counter
	authFailures prometheus.Counter
	rings        *prometheus.CounterVec
	recordings   prometheus.Counter
	joinSeconds  prometheus.Histogram
	liveRequests *prometheus.CounterVec

	relayed        *prometheus.CounterVec
	remoteSessions prometheus.Gauge
	nodesLost      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, _ *Server) *metrics {
	m := &metrics{
		reg:          reg,
		rooms:        prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "alertcast_voice_rooms", Help: "Open voice rooms by kind (live, call, ring)."}, []string{"kind"}),
		peers:        prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "alertcast_voice_peer_connections", Help: "Open server peer connections by direction (pub, sub)."}, []string{"pc"}),
		peerStates:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alertcast_voice_peer_state_changes_total", Help: "Peer connection state changes by new state."}, []string{"state"}),
		packetsIn:    prometheus.NewCounter(prometheus.CounterOpts{Name: "alertcast_voice_rtp_packets_in_total", Help: "RTP packets received from publishers (each fanned out to every subscriber)."}),
		iceFailures:  prometheus.NewCounter(prometheus.CounterOpts{Name: "alertcast_voice_ice_failures_total", Help: "Peer connections that failed ICE or did not connect in time."}),
		badFrames:    prometheus.NewCounter(prometheus.CounterOpts{Name: "alertcast_voice_bad_frames_total", Help: "Signalling frames refused as malformed."}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "alertcast_voice_auth_failures_total", Help: "Signalling sessions refused at authentication."}),
		rings:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alertcast_voice_rings_total", Help: "Voice-channel rings by outcome."}, []string{"outcome"}),
		recordings:   prometheus.NewCounter(prometheus.CounterOpts{Name: "alertcast_voice_recordings_total", Help: "Recordings saved."}),
		joinSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "alertcast_voice_join_seconds",
			Help:    "From a join frame to the subscriber's connection carrying media (ICE + DTLS done).",
			Buckets: []float64{0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30}}),
		liveRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alertcast_voice_live_requests_total",
			Help: "Live announcements that needed a second officer, by state reached (pending when filed, then approved, denied, expired, cancelled or failed)."}, []string{"state"}),
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alertcast_voice_relayed_envelopes_total",
			Help: "Signalling envelopes relayed between nodes over Redis: out (published), in (accepted), refused (bad MAC, stale)."}, []string{"direction"}),
		remoteSessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "alertcast_voice_remote_sessions",
			Help: "Clients of other nodes taking part in rooms held by this node."}),
		nodesLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "alertcast_voice_nodes_lost_total",
			Help: "Voice nodes found dead (lease lapsed) by this node; their rooms ended for every client."}),
	}
	for _, d := range []string{"out", "in", "refused"} {
		m.relayed.WithLabelValues(d)
	}
	// Zero series from the start: a dashboard or alert rule must see "no
	// rooms", not "no data".
	for _, k := range []string{wire.KindLive, wire.KindCall, wire.KindRing} {
		m.rooms.WithLabelValues(k)
	}
	m.peers.WithLabelValues("pub")
	m.peers.WithLabelValues("sub")
	m.cs = []prometheus.Collector{m.rooms, m.peers, m.peerStates, m.packetsIn, m.iceFailures, m.badFrames, m.authFailures, m.rings, m.recordings, m.joinSeconds, m.liveRequests, m.relayed, m.remoteSessions, m.nodesLost}
	if reg != nil {
		for _, c := range m.cs {
			if err := reg.Register(c); err != nil {
				// Already registered by an earlier server on the same
				// registry (tests): keep ours unregistered.
				continue
			}
		}
	}
	return m
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.cs {
		m.reg.Unregister(c)
	}
}
