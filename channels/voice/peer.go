package voice

import (
	"fmt"
	"sync"
	"time"

	"github.com/alertcast/alertcast/channels/voice/wire"
	"github.com/pion/webrtc/v4"
)

// peer is one server-side peer connection of a member: "pub" (the member
// offers its microphone) or "sub" (the server offers what the member hears).
type peer struct {
	m    *member
	name string
	pc   *webrtc.PeerConnection

	mu        sync.Mutex
	remoteSet bool
	pending   []webrtc.ICECandidateInit
	closed    bool

	// Candidates gathered before our description went out wait here: a
	// client may not add a candidate before it has the description.
	descSent bool
	outCands []webrtc.ICECandidateInit

	created   time.Time
	connected chan struct{}
	connOnce  sync.Once
	timer     *time.Timer
}

const maxPendingCandidates = 64

// iceFailedReason is what the page shows when ICE fails.
const iceFailedReason = "no network path between your device and the voice server (ICE failed): check that UDP is not blocked and that a TURN server is configured for networks behind NAT"

func (s *Server) newPeer(m *member, name string) (*peer, error) {
	certs, err := s.certificate()
	if err != nil {
		return nil, err
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{ICEServers: s.cfg.ICEServers, Certificates: certs})
	if err != nil {
		return nil, fmt.Errorf("voice: new peer connection: %w", err)
	}
	p := &peer{m: m, name: name, pc: pc, connected: make(chan struct{}), created: time.Now()}
	ss, r := m.ss, m.r
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		init := c.ToJSON()
		p.mu.Lock()
		if !p.descSent {
			p.outCands = append(p.outCands, init)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		ss.send(&wire.Frame{Type: wire.TypeCandidate, Room: r.id, PC: name, Candidate: &init})
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.met.peerStates.WithLabelValues(st.String()).Inc()
		ss.send(&wire.Frame{Type: wire.TypePeerState, Room: r.id, PC: name, State: st.String()})
		switch st {
		case webrtc.PeerConnectionStateConnected:
			p.connOnce.Do(func() {
				close(p.connected)
				if name == wire.PCSub {
					s.met.joinSeconds.Observe(time.Since(p.created).Seconds())
				}
			})
			r.broadcastMembers()
		case webrtc.PeerConnectionStateFailed:
			s.met.iceFailures.Inc()
			ss.send(&wire.Frame{Type: wire.TypeError, Room: r.id, PC: name, Code: "ice_failed", Message: iceFailedReason, Reason: "ice_failed"})
			go s.leave(m, "ice_failed")
		case webrtc.PeerConnectionStateClosed:
			// The far end closed it (DTLS close_notify) while its socket
			// stays: for a publisher that is vanishing. Our own closes
			// find the member already gone.
			go s.leave(m, "connection closed")
		case webrtc.PeerConnectionStateDisconnected:
			r.broadcastMembers()
		}
	})
	p.timer = time.AfterFunc(s.cfg.ConnectTimeout, func() {
		select {
		case <-p.connected:
			return
		default:
		}
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return
		}
		s.met.iceFailures.Inc()
		ss.send(&wire.Frame{Type: wire.TypeError, Room: r.id, PC: name, Code: "ice_failed", Reason: "connect_timeout",
			Message: fmt.Sprintf("not connected within %s: %s", s.cfg.ConnectTimeout, iceFailedReason)})
		s.leave(m, "connect_timeout")
	})
	s.met.peers.WithLabelValues(name).Inc()
	if !m.setPeer(name, p) {
		p.close()
		return nil, fmt.Errorf("%w: left %s", ErrNoSuchRoom, r.id)
	}
	return p, nil
}

// drainRTCP reads RTCP from a sender until its connection closes; pion needs
// someone to read it.
func (p *peer) drainRTCP(sender *webrtc.RTPSender) {
	p.m.r.s.goTracked(func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	})
}

// offer creates and sends the server's offer (sub connections).
func (p *peer) offer() error {
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("voice: create offer: %w", err)
	}
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("voice: set local offer: %w", err)
	}
	p.sendDescription(&wire.Frame{Type: wire.TypeOffer, Room: p.m.r.id, PC: p.name, SDP: offer.SDP})
	return nil
}

// sendDescription sends an offer or answer, then the candidates gathered
// meanwhile.
func (p *peer) sendDescription(f *wire.Frame) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m.ss.send(f)
	p.descSent = true
	for i := range p.outCands {
		p.m.ss.send(&wire.Frame{Type: wire.TypeCandidate, Room: f.Room, PC: p.name, Candidate: &p.outCands[i]})
	}
	p.outCands = nil
}

// setAnswer applies the client's answer to the server's offer.
func (p *peer) setAnswer(sdp string) error {
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("sdp: not a usable answer: %w", err)
	}
	return p.flushCandidates()
}

// answer applies the client's offer (pub connections) and sends the answer.
func (p *peer) answer(sdp string) error {
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("sdp: not a usable offer: %w", err)
	}
	if err := p.flushCandidates(); err != nil {
		return err
	}
	ans, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("voice: create answer: %w", err)
	}
	if err := p.pc.SetLocalDescription(ans); err != nil {
		return fmt.Errorf("voice: set local answer: %w", err)
	}
	p.sendDescription(&wire.Frame{Type: wire.TypeAnswer, Room: p.m.r.id, PC: p.name, SDP: ans.SDP})
	return nil
}

// addCandidate adds a trickled candidate, holding it until the remote
// description is known.
func (p *peer) addCandidate(c webrtc.ICECandidateInit) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	if !p.remoteSet {
		if len(p.pending) >= maxPendingCandidates {
			p.mu.Unlock()
			return fmt.Errorf("candidate: more than %d before the description", maxPendingCandidates)
		}
		p.pending = append(p.pending, c)
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()
	if err := p.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("candidate: %w", err)
	}
	return nil
}

func (p *peer) flushCandidates() error {
	p.mu.Lock()
	p.remoteSet = true
	pend := p.pending
	p.pending = nil
	p.mu.Unlock()
	for _, c := range pend {
		if err := p.pc.AddICECandidate(c); err != nil {
			return fmt.Errorf("candidate: %w", err)
		}
	}
	return nil
}

func (p *peer) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.timer.Stop()
	_ = p.pc.Close()
	p.m.r.s.met.peers.WithLabelValues(p.name).Dec()
}
