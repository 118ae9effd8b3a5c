// Package voice is the WebRTC side of Alertcast: a small SFU (selective
// forwarding unit, built on pion) with JSON-over-WebSocket signalling, the
// command-centre and field pages, and the queued "voice" channel that rings
// field endpoints and plays them the warning.
//
// Rooms come in three kinds:
//   - live: one publisher (an officer's browser microphone) and many
//     subscribers (loudspeaker agents of a region, field listeners);
//   - call: a command-centre officer and a few field members, everyone
//     publishes and hears the others;
//   - ring: the voice channel's automated call, the server plays the rendered
//     programme to one field endpoint until it says "received".
//
// Packets are forwarded, never transcoded: each publisher's audio goes into
// one TrackLocalStaticRTP that is bound to every subscriber. Every
// participant has at most two peer connections per room — "pub", where it
// offers its microphone, and "sub", where the server offers the tracks it
// hears — so offers only ever go one way on a connection and never collide.
// Rooms have a fixed set of publisher slots decided when they are created, so
// a subscriber's connection is negotiated once, at join.
//
// The package must never log tokens, never keep a peer connection or
// goroutine after its room or session is gone, and never trust a frame.
package voice

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/voice/wire"
	"github.com/alertcast/alertcast/warning"
)

// Server is the SFU and its signalling. It implements channels.Closer.
type Server struct {
	cfg Config
	log *slog.Logger
	api *webrtc.API
	mux ice.UDPMux
	met *metrics

	upgrader websocket.Upgrader

	mu       sync.Mutex
	closed   bool
	sessions map[*session]struct{} // authenticated
	conns    map[*session]struct{} // every open socket
	rooms    map[string]*room
	tokens   map[string]*room // live-room subscriber tokens
	rings    map[string]*ring // by ring id
	ringKeys map[string]*ring // by message key + recipient id
	acked    map[string]time.Time

	liveMu   sync.Mutex // before mu, never after
	liveReqs map[string]*liveRequest

	done chan struct{}
	wg   sync.WaitGroup

	certMu  sync.Mutex
	cert    *webrtc.Certificate
	certAge time.Time

	channel *Channel

	cluster *cluster // nil: this node alone
}

var _ channels.Closer = (*Server)(nil)

// New builds a voice server. It opens the UDP mux socket when
// Config.UDPMuxAddr is set; everything else is opened per peer.
func New(cfg Config) (*Server, error) {
	if cfg.Authenticate == nil {
		return nil, &warning.FieldError{Field: "Authenticate", Rule: "required"}
	}
	if cfg.UDPPortMax != 0 && cfg.UDPPortMin > cfg.UDPPortMax {
		return nil, &warning.FieldError{Field: "UDPPortMin", Rule: "not above UDPPortMax", Value: fmt.Sprint(cfg.UDPPortMin)}
	}
	if cfg.PublicURL != "" {
		if u, err := url.Parse(cfg.PublicURL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss") {
			return nil, &warning.FieldError{Field: "PublicURL", Rule: "an absolute http(s) URL", Value: cfg.PublicURL}
		}
	}
	cfg.setDefaults()
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "voice"),
		sessions: map[*session]struct{}{},
		conns:    map[*session]struct{}{},
		rooms:    map[string]*room{},
		tokens:   map[string]*room{},
		rings:    map[string]*ring{},
		ringKeys: map[string]*ring{},
		acked:    map[string]time.Time{},
		liveReqs: map[string]*liveRequest{},
		done:     make(chan struct{}),
		upgrader: websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096},
	}
	if cfg.RecordDir == "" {
		s.log.Warn("voice recording disabled: RecordDir is empty")
	}
	se := webrtc.SettingEngine{}
	if cfg.Loopback {
		wire.LoopbackSettings(&se)
	} else {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	}
	if cfg.UDPMuxAddr != "" {
		network := "udp"
		if cfg.Loopback {
			network = "udp4"
		}
		conn, err := net.ListenPacket(network, cfg.UDPMuxAddr)
		if err != nil {
			return nil, fmt.Errorf("voice: UDPMuxAddr %q: %w", cfg.UDPMuxAddr, err)
		}
		// One socket carries every peer: give it room for bursts while the
		// process is descheduled (the kernel caps this at net.core.rmem_max).
		if uc, ok := conn.(*net.UDPConn); ok {
			_ = uc.SetReadBuffer(4 << 20)
			_ = uc.SetWriteBuffer(4 << 20)
		}
		s.mux = webrtc.NewICEUDPMux(nil, conn)
		se.SetICEUDPMux(s.mux)
	} else if cfg.UDPPortMin != 0 || cfg.UDPPortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("voice: UDP port range: %w", err)
		}
	}
	// Audio is cheap to keep alive: notice a vanished peer within seconds.
	se.SetICETimeouts(7*time.Second, 25*time.Second, 2*time.Second)
	// pion retransmits a lost DTLS flight after 1 s by default; the first
	// flight is often lost while the other side is still finishing ICE,
	// which made joining take over a second.
	se.SetDTLSRetransmissionInterval(100 * time.Millisecond)
	// pion gives up on a candidate pair after 7 unanswered checks (~1.4 s);
	// a lossy 4G link or a busy device needs longer, as browsers allow.
	se.SetICEMaxBindingRequests(40)

	me := &webrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		s.closeMux()
		return nil, err
	}
	// No interceptors: audio is forwarded as is (no NACK/TWCC for Opus), and
	// per-subscriber interceptor goroutines would cost more than they give.
	s.api = webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
	s.met = newMetrics(cfg.Registry, s)
	s.channel = &Channel{s: s}
	if cfg.Cluster != nil {
		c, err := newCluster(s, cfg.Cluster)
		if err != nil {
			s.closeMux()
			s.met.unregister()
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = c.start(ctx)
		cancel()
		if err != nil {
			s.closeMux()
			s.met.unregister()
			return nil, err
		}
		s.cluster = c
	}
	return s, nil
}

// certificate returns the DTLS certificate shared by the server's peer
// connections. Generating one per connection (pion's default) costs a key
// generation and a signature on every join; one per day costs nothing and
// stays far from pion's one-month expiry.
func (s *Server) certificate() ([]webrtc.Certificate, error) {
	s.certMu.Lock()
	defer s.certMu.Unlock()
	if s.cert == nil || time.Since(s.certAge) > 24*time.Hour {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("voice: certificate key: %w", err)
		}
		c, err := webrtc.GenerateCertificate(key)
		if err != nil {
			return nil, fmt.Errorf("voice: certificate: %w", err)
		}
		s.cert, s.certAge = c, time.Now()
	}
	return []webrtc.Certificate{*s.cert}, nil
}

// registerCodecs registers Opus (live rooms, calls) and PCMU (the programme
// of the voice channel, rendered as 8 kHz µ-law).
func registerCodecs(me *webrtc.MediaEngine) error {
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: opusCap, PayloadType: 111},
		{RTPCodecCapability: pcmuCap, PayloadType: 0},
	} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return fmt.Errorf("voice: register codec %s: %w", c.MimeType, err)
		}
	}
	return nil
}

var (
	opusCap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}
	pcmuCap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}
)

func (s *Server) closeMux() {
	if s.mux != nil {
		_ = s.mux.Close()
	}
}

// Channel returns the queued "voice" channel.
func (s *Server) Channel() channels.Channel { return s.channel }

// UDPAddr returns the shared UDP socket's address when UDPMuxAddr is set.
func (s *Server) UDPAddr() net.Addr {
	if s.mux == nil {
		return nil
	}
	addrs := s.mux.GetListenAddresses()
	if len(addrs) == 0 {
		return nil
	}
	return addrs[0]
}

// Close ends every room (subscribers are told "server_shutdown"), closes
// every session and peer connection and waits for their goroutines. Safe to
// call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	sessions := make([]*session, 0, len(s.conns))
	for ss := range s.conns {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	if s.cluster != nil {
		s.cluster.shutdown() // no more relayed frames in
	}
	s.dropLiveRequests(nil, "server_shutdown")
	for _, r := range rooms {
		s.endRoom(r, "server_shutdown")
	}
	for _, ss := range sessions {
		ss.close()
	}
	if s.cluster != nil {
		s.cluster.mu.Lock()
		for _, rs := range s.cluster.remotes {
			rs.close()
		}
		s.cluster.mu.Unlock()
	}
	s.wg.Wait()
	if s.cluster != nil {
		s.cluster.leave()
	}
	s.closeMux()
	s.met.unregister()
	return nil
}

// Rooms lists the open rooms (for the API and tests).
func (s *Server) Rooms() []RoomInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RoomInfo, 0, len(s.rooms))
	for _, r := range s.rooms {
		out = append(out, r.info())
	}
	return out
}

// RoomInfo describes an open room.
type RoomInfo struct {
	ID      string            `json:"id"`
	Kind    string            `json:"kind"`
	Owner   string            `json:"owner"`
	Region  string            `json:"region,omitempty"`
	Started time.Time         `json:"started"`
	Members []wire.MemberInfo `json:"members"`
	// Speakers counts the loudspeaker agents listening.
	Speakers int `json:"speakers"`
}

// goTracked runs f as a tracked goroutine unless the server is closed.
func (s *Server) goTracked(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

func randomID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// onlineField lists the field users with an open session.
func (s *Server) onlineField() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for ss := range s.sessions {
		if ss.role == RoleField && !seen[ss.user] {
			seen[ss.user] = true
			out = append(out, ss.user)
		}
	}
	return out
}

// fieldSessions returns the open sessions of a field user.
func (s *Server) fieldSessions(user string) []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*session
	for ss := range s.sessions {
		if ss.role == RoleField && ss.user == user {
			out = append(out, ss)
		}
	}
	return out
}

// broadcastOnline tells every officer which field users are online.
func (s *Server) broadcastOnline() {
	f := &wire.Frame{Type: wire.TypeOnline, Endpoints: s.onlineField()}
	s.mu.Lock()
	var officers []*session
	for ss := range s.sessions {
		if ss.isOfficer() {
			officers = append(officers, ss)
		}
	}
	s.mu.Unlock()
	for _, o := range officers {
		o.send(f)
	}
}

var errServerClosed = fmt.Errorf("voice: %w", ErrClosed)

func isClosedErr(err error) bool {
	return errors.Is(err, ErrClosed) || errors.Is(err, webrtc.ErrConnectionClosed)
}
