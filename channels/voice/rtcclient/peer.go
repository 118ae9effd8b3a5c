package rtcclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/alertcast/alertcast/channels/voice/wire"
)

// peerConn is a pion connection with trickle-ICE candidate queueing.
type peerConn struct {
	c    *Conn
	room string
	name string

	mu        sync.Mutex
	pc        *webrtc.PeerConnection
	remoteSet bool
	pending   []webrtc.ICECandidateInit

	doneOnce sync.Once
	done     chan struct{}
	err      error
}

func (p *peerConn) init(c *Conn, room, name string) {
	p.c, p.room, p.name, p.done = c, room, name, make(chan struct{})
}

// certCache holds this process's DTLS certificate: a key generation and a
// signature per join are wasted work on a small device (and on a load test
// with a thousand agents); a day-old certificate is far from pion's
// one-month expiry.
var certCache struct {
	sync.Mutex
	cert *webrtc.Certificate
	made time.Time
}

func certificates() ([]webrtc.Certificate, error) {
	certCache.Lock()
	defer certCache.Unlock()
	if certCache.cert == nil || time.Since(certCache.made) > 24*time.Hour {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("rtcclient: certificate key: %w", err)
		}
		c, err := webrtc.GenerateCertificate(key)
		if err != nil {
			return nil, fmt.Errorf("rtcclient: certificate: %w", err)
		}
		certCache.cert, certCache.made = c, time.Now()
	}
	return []webrtc.Certificate{*certCache.cert}, nil
}

func (p *peerConn) open() (*webrtc.PeerConnection, error) {
	certs, err := certificates()
	if err != nil {
		return nil, err
	}
	pc, err := p.c.api.NewPeerConnection(webrtc.Configuration{ICEServers: p.c.iceServers(), Certificates: certs})
	if err != nil {
		return nil, fmt.Errorf("rtcclient: peer connection: %w", err)
	}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		init := cand.ToJSON()
		_ = p.c.write(wire.Frame{Type: wire.TypeCandidate, Room: p.room, PC: p.name, Candidate: &init})
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateFailed {
			go p.finish(fmt.Errorf("%w (%s %s)", ErrICEFailed, p.room, p.name))
		}
	})
	p.mu.Lock()
	p.pc = pc
	p.mu.Unlock()
	return pc, nil
}

func (p *peerConn) addCandidate(c webrtc.ICECandidateInit) error {
	p.mu.Lock()
	if p.pc == nil || !p.remoteSet {
		if len(p.pending) < 64 {
			p.pending = append(p.pending, c)
		}
		p.mu.Unlock()
		return nil
	}
	pc := p.pc
	p.mu.Unlock()
	return pc.AddICECandidate(c)
}

func (p *peerConn) remoteDone() error {
	p.mu.Lock()
	p.remoteSet = true
	pend := p.pending
	p.pending = nil
	pc := p.pc
	p.mu.Unlock()
	for _, c := range pend {
		if err := pc.AddICECandidate(c); err != nil {
			return fmt.Errorf("rtcclient: candidate: %w", err)
		}
	}
	return nil
}

// finish ends the connection once with err (a *roomEnded for a normal end).
func (p *peerConn) finish(err error) {
	p.doneOnce.Do(func() {
		p.err = err
		p.mu.Lock()
		pc := p.pc
		p.mu.Unlock()
		if pc != nil {
			_ = pc.Close()
		}
		close(p.done)
	})
}

// subscription receives a room's audio on "sub".
type subscription struct {
	peerConn
	onRTP func(*rtp.Packet)
	wg    sync.WaitGroup
}

func (s *subscription) onOffer(sdp string) error {
	s.mu.Lock()
	pc := s.pc
	s.mu.Unlock()
	if pc == nil {
		var err error
		if pc, err = s.open(); err != nil {
			return err
		}
		pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				for {
					pkt, _, err := t.ReadRTP()
					if err != nil {
						return
					}
					s.onRTP(pkt)
				}
			}()
		})
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("rtcclient: server offer: %w", err)
	}
	if err := s.remoteDone(); err != nil {
		return err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("rtcclient: answer: %w", err)
	}
	if err := pc.SetLocalDescription(ans); err != nil {
		return fmt.Errorf("rtcclient: answer: %w", err)
	}
	return s.c.write(wire.Frame{Type: wire.TypeAnswer, Room: s.room, PC: wire.PCSub, SDP: ans.SDP})
}

// Subscribe joins room and delivers its packets to onRTP until the room
// ends (nil), ctx is done (ctx.Err()) or the connection fails.
func (c *Conn) Subscribe(ctx context.Context, room string, onRTP func(*rtp.Packet)) error {
	s := &subscription{onRTP: onRTP}
	s.init(c, room, wire.PCSub)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.subs[room] != nil {
		c.mu.Unlock()
		return fmt.Errorf("rtcclient: already subscribed to %s", room)
	}
	c.subs[room] = s
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.subs, room)
		c.mu.Unlock()
		s.wg.Wait()
	}()
	if err := c.write(wire.Frame{Type: wire.TypeJoin, Room: room, Device: c.cfg.Device}); err != nil {
		s.finish(err)
		return err
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		_ = c.write(wire.Frame{Type: wire.TypeLeave, Room: room})
		s.finish(ctx.Err())
		return ctx.Err()
	}
	if reason, ok := RoomEndedReason(s.err); ok {
		c.log.Debug("rtcclient: room ended", "room", room, "reason", reason)
		return nil
	}
	return s.err
}

// Publication is this client's audio going into a room on "pub".
type Publication struct {
	peerConn
	Room  string
	Track *webrtc.TrackLocalStaticRTP
	// Connected is closed when the connection to the server is up.
	Connected chan struct{}
	connOnce  sync.Once
}

// WriteRTP sends one Opus RTP packet (SSRC and payload type are rewritten).
func (p *Publication) WriteRTP(pkt *rtp.Packet) error { return p.Track.WriteRTP(pkt) }

// Done is closed when the publication ends; Err says why.
func (p *Publication) Done() <-chan struct{} { return p.done }

// Err is nil while running; a room end is reported by RoomEndedReason.
func (p *Publication) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Close stops publishing (the server ends a live room whose publisher left).
func (p *Publication) Close() {
	_ = p.c.write(wire.Frame{Type: wire.TypeLeave, Room: p.Room})
	p.finish(ErrClosed)
	p.c.mu.Lock()
	if p.c.pubs[p.Room] == p {
		delete(p.c.pubs, p.Room)
	}
	p.c.mu.Unlock()
}

func (p *Publication) onAnswer(sdp string) error {
	p.mu.Lock()
	pc := p.pc
	p.mu.Unlock()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return fmt.Errorf("rtcclient: server answer: %w", err)
	}
	return p.remoteDone()
}

// GoLive opens a live announcement for region (officer token) and returns
// the publication once the server has opened the room. level 0 means red.
//
// When the server's policy needs a second officer, the request waits for an
// approver: GoLive keeps waiting (Config.OnFrame sees the "live_request"
// frames, with the request id) until the room opens, or returns a
// *LiveRequestError when the request is denied, expires or is cancelled.
// ctx bounds the whole wait; when it ends first, the request is withdrawn.
func (c *Conn) GoLive(ctx context.Context, region string, level int) (*Publication, error) {
	return c.goLive(ctx, wire.Frame{Type: wire.TypeLive, Region: region, Level: level})
}

// GoLiveTo is GoLive for several regions at once (regions[0] names the
// room), on behalf of the warning alertID ("" for none), which the server
// puts on the audit records.
func (c *Conn) GoLiveTo(ctx context.Context, regions []string, level int, alertID string) (*Publication, error) {
	if len(regions) == 0 {
		return nil, errors.New("rtcclient: GoLiveTo needs at least one region")
	}
	return c.goLive(ctx, wire.Frame{Type: wire.TypeLive, Region: regions[0], Regions: regions[1:], Level: level, AlertID: alertID})
}

func (c *Conn) goLive(ctx context.Context, live wire.Frame) (*Publication, error) {
	w := make(chan wire.Frame, 8)
	c.mu.Lock()
	if c.liveWait != nil {
		c.mu.Unlock()
		return nil, errors.New("rtcclient: a GoLive is already pending")
	}
	c.liveSeq++
	id := fmt.Sprintf("golive-%d", c.liveSeq)
	c.liveWait, c.liveID = w, id
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.liveWait, c.liveID = nil, ""
		c.mu.Unlock()
	}()
	live.ID = id
	if err := c.write(live); err != nil {
		return nil, err
	}
	request := ""
	for {
		var f wire.Frame
		select {
		case f = <-w:
		case <-ctx.Done():
			// Stop taking answers, then act on those already here; the
			// read loop withdraws a request (or ends a room) that comes
			// later.
			c.mu.Lock()
			c.liveWait = nil
			if c.liveAbandoned == nil {
				c.liveAbandoned = map[string]bool{}
			}
			c.liveAbandoned[id] = true
			c.mu.Unlock()
			for {
				select {
				case f := <-w:
					if f.Type == wire.TypeLiveRequest && (f.State == wire.LivePending || f.State == wire.LiveApproved) {
						request = f.Request
						continue
					}
					if f.Type == wire.TypeRoom {
						_ = c.write(wire.Frame{Type: wire.TypeEnd, Room: f.Room})
					}
					c.mu.Lock()
					delete(c.liveAbandoned, id) // the final answer was here already
					c.mu.Unlock()
					request = ""
					continue
				default:
				}
				break
			}
			if request != "" {
				_ = c.write(wire.Frame{Type: wire.TypeDeny, Request: request, Reason: "withdrawn: " + ctx.Err().Error()})
			}
			return nil, ctx.Err()
		case <-c.done:
			return nil, ErrClosed
		}
		switch f.Type {
		case wire.TypeRoom:
			return c.Publish(ctx, f.Room)
		case wire.TypeError:
			return nil, &ServerError{Code: f.Code, Message: f.Message}
		case wire.TypeLiveRequest:
			switch f.State {
			case wire.LivePending:
				request = f.Request
			case wire.LiveApproved: // the room follows
			default:
				return nil, &LiveRequestError{Request: f.Request, State: f.State, By: f.By, Reason: f.Reason}
			}
		}
	}
}

// LiveRequestError says why a live request that waited for an approver did
// not go on the air.
type LiveRequestError struct {
	Request, State, By, Reason string
}

func (e *LiveRequestError) Error() string {
	s := "rtcclient: live request " + e.Request + " " + e.State
	if e.By != "" {
		s += " by " + e.By
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Publish offers an Opus track into room (a live room this client created,
// or a call it is a member of).
func (c *Conn) Publish(ctx context.Context, room string) (*Publication, error) {
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "rtcclient")
	if err != nil {
		return nil, err
	}
	p := &Publication{Room: room, Track: track, Connected: make(chan struct{})}
	p.init(c, room, wire.PCPub)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.pubs[room] = p
	c.mu.Unlock()
	pc, err := p.open()
	if err != nil {
		p.Close()
		return nil, err
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			p.connOnce.Do(func() { close(p.Connected) })
		case webrtc.PeerConnectionStateFailed:
			go p.finish(fmt.Errorf("%w (%s pub)", ErrICEFailed, room))
		}
	})
	if _, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		p.Close()
		return nil, err
	}
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("rtcclient: offer: %w", err)
	}
	if err := c.write(wire.Frame{Type: wire.TypeOffer, Room: room, PC: wire.PCPub, SDP: offer.SDP}); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}
