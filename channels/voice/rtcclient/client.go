// Package rtcclient is the pure-Go client of the Alertcast voice server
// (package voice): the loudspeaker agent joins live announcements with it,
// and tests and load tools publish and subscribe with it. It speaks the same
// JSON-over-WebSocket signalling as the browser pages.
//
// It never transcodes: subscribers get the RTP packets the server forwards.
// Everything it starts (WebSocket, peer connections, goroutines) is stopped
// when Join returns or Conn.Close is called.
package rtcclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/alertcast/alertcast/channels/voice/wire"
)

// Config configures a client. The zero value works on a real network with
// the ICE servers the voice server hands out.
type Config struct {
	// ICEServers overrides the servers the voice server sends in "hello".
	ICEServers []webrtc.ICEServer
	// Loopback applies wire.LoopbackSettings (tests, benchmarks).
	Loopback bool
	// UDPPortMin/UDPPortMax bound the local UDP ports; zero means any.
	UDPPortMin, UDPPortMax uint16
	// Device is the agent's device id, shown to the command centre.
	Device string
	// Header is sent with the WebSocket upgrade (e.g. Origin).
	Header http.Header
	// OnFrame receives the frames the client does not handle itself (ring,
	// incoming_call, members, online, errors outside a room …). It runs on the
	// read loop: do not block in it.
	OnFrame func(wire.Frame)
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// DialTimeout bounds the WebSocket dial and authentication. Default 10 s.
	DialTimeout time.Duration
}

// Errors.
var (
	ErrClosed    = errors.New("rtcclient: connection closed")
	ErrICEFailed = errors.New("rtcclient: ICE failed")
)

// ServerError is an "error" frame from the voice server.
type ServerError struct {
	Code, Message, Room string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("voice server: %s: %s", e.Code, e.Message)
}

// Join connects to signalURL (ws:// or wss://, e.g. the platform URL with
// LiveRoom.SignalPath), authenticates with token (a LiveRoom token for a
// loudspeaker agent), subscribes to room and calls onRTP for every packet
// until the room ends (nil) or ctx is done (ctx.Err()). onRTP runs on the
// track's read goroutine and must not keep the packet.
func Join(ctx context.Context, signalURL, token, room string, cfg Config, onRTP func(*rtp.Packet)) error {
	c, err := Dial(ctx, signalURL, token, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Subscribe(ctx, room, onRTP)
}

// Conn is one authenticated signalling connection with its peer
// connections.
type Conn struct {
	cfg   Config
	log   *slog.Logger
	ws    *websocket.Conn
	api   *webrtc.API
	Hello wire.Frame

	wmu sync.Mutex // gorilla: one writer at a time

	mu       sync.Mutex
	subs     map[string]*subscription
	pubs     map[string]*Publication
	closed   bool
	liveWait chan wire.Frame // GoLive waiting for its "room" frame
	liveID   string          // the id of GoLive's "live" frame
	liveSeq  int
	// ids of GoLive calls given up before the server answered: a late
	// request is withdrawn, a late room ended.
	liveAbandoned map[string]bool
	done          chan struct{} // read loop ended
	err           error

	wg sync.WaitGroup
}

// Dial connects and authenticates.
func Dial(ctx context.Context, signalURL, token string, cfg Config) (*Conn, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	d := websocket.Dialer{HandshakeTimeout: cfg.DialTimeout}
	ws, resp, err := d.DialContext(dctx, signalURL, cfg.Header)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("rtcclient: dial %s: %w", signalURL, err)
	}
	ws.SetReadLimit(wire.MaxFrameSize)
	c := &Conn{cfg: cfg, log: cfg.Logger, ws: ws, subs: map[string]*subscription{}, pubs: map[string]*Publication{}, done: make(chan struct{})}
	if err := c.write(wire.Frame{Type: wire.TypeAuth, Token: token}); err != nil {
		ws.Close()
		return nil, err
	}
	dl, _ := dctx.Deadline()
	_ = ws.SetReadDeadline(dl)
	for {
		var f wire.Frame
		if err := ws.ReadJSON(&f); err != nil {
			ws.Close()
			return nil, fmt.Errorf("rtcclient: authenticate: %w", err)
		}
		if f.Type == wire.TypeError {
			ws.Close()
			return nil, &ServerError{Code: f.Code, Message: f.Message}
		}
		if f.Type == wire.TypeHello {
			c.Hello = f
			break
		}
	}
	_ = ws.SetReadDeadline(time.Time{})
	// The server pings every 10 s; a dead server is noticed within 30 s.
	_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	ws.SetPingHandler(func(data string) error {
		_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
		c.wmu.Lock()
		defer c.wmu.Unlock()
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(15*time.Second))
	})
	if c.api, err = newAPI(cfg); err != nil {
		ws.Close()
		return nil, err
	}
	c.wg.Add(1)
	go c.readLoop()
	return c, nil
}

func newAPI(cfg Config) (*webrtc.API, error) {
	se := webrtc.SettingEngine{}
	if cfg.Loopback {
		wire.LoopbackSettings(&se)
	}
	if cfg.UDPPortMin != 0 || cfg.UDPPortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("rtcclient: port range: %w", err)
		}
	}
	se.SetICETimeouts(7*time.Second, 25*time.Second, 2*time.Second)
	se.SetDTLSRetransmissionInterval(100 * time.Millisecond) // see wire.New
	// pion gives up on a candidate pair after 7 unanswered checks (~1.4 s);
	// a lossy 4G link or a busy device needs longer, as browsers allow.
	se.SetICEMaxBindingRequests(40)
	me := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, PayloadType: 0},
	} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("rtcclient: codec: %w", err)
		}
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(&interceptor.Registry{})), nil
}

func (c *Conn) iceServers() []webrtc.ICEServer {
	if c.cfg.ICEServers != nil {
		return c.cfg.ICEServers
	}
	return c.Hello.ICEServers
}

// Send sends a frame (ack, decline, leave, end, mute …).
func (c *Conn) Send(f wire.Frame) error { return c.write(f) }

func (c *Conn) write(f wire.Frame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(15 * time.Second))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("rtcclient: send %s: %w", f.Type, err)
	}
	return nil
}

// Done is closed when the signalling connection is gone.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Close closes every peer connection and the socket and waits for the
// client's goroutines. Safe to call twice.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closed = true
	subs := make([]*subscription, 0, len(c.subs))
	for _, s := range c.subs {
		subs = append(subs, s)
	}
	pubs := make([]*Publication, 0, len(c.pubs))
	for _, p := range c.pubs {
		pubs = append(pubs, p)
	}
	c.mu.Unlock()
	for _, s := range subs {
		s.finish(ErrClosed)
	}
	for _, p := range pubs {
		p.finish(ErrClosed)
	}
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	err := c.ws.Close()
	c.wg.Wait()
	return err
}

func (c *Conn) readLoop() {
	defer c.wg.Done()
	defer close(c.done)
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.err = err
			subs := make([]*subscription, 0, len(c.subs))
			for _, s := range c.subs {
				subs = append(subs, s)
			}
			pubs := make([]*Publication, 0, len(c.pubs))
			for _, p := range c.pubs {
				pubs = append(pubs, p)
			}
			c.mu.Unlock()
			for _, s := range subs {
				s.finish(fmt.Errorf("%w: %v", ErrClosed, err))
			}
			for _, p := range pubs {
				p.finish(fmt.Errorf("%w: %v", ErrClosed, err))
			}
			return
		}
		var f wire.Frame
		if err := json.Unmarshal(b, &f); err != nil {
			c.log.Warn("rtcclient: bad frame from server", "err", err)
			continue
		}
		c.dispatch(f)
	}
}

func (c *Conn) dispatch(f wire.Frame) {
	c.mu.Lock()
	sub := c.subs[f.Room]
	pub := c.pubs[f.Room]
	c.mu.Unlock()
	switch {
	case f.Type == wire.TypeOffer && f.PC == wire.PCSub && sub != nil:
		if err := sub.onOffer(f.SDP); err != nil {
			sub.finish(err)
		}
		return
	case f.Type == wire.TypeAnswer && f.PC == wire.PCPub && pub != nil:
		if err := pub.onAnswer(f.SDP); err != nil {
			pub.finish(err)
		}
		return
	case f.Type == wire.TypeCandidate && f.Candidate != nil:
		var pc *peerConn
		if f.PC == wire.PCSub && sub != nil {
			pc = &sub.peerConn
		} else if f.PC == wire.PCPub && pub != nil {
			pc = &pub.peerConn
		}
		if pc != nil {
			if err := pc.addCandidate(*f.Candidate); err != nil {
				c.log.Warn("rtcclient: bad candidate from server", "err", err)
			}
		}
		return
	case f.Type == wire.TypeRoomEnded:
		if sub != nil {
			sub.finish(&roomEnded{reason: f.Reason})
		}
		if pub != nil {
			pub.finish(&roomEnded{reason: f.Reason})
		}
	case f.Type == wire.TypeError && f.Room != "":
		err := &ServerError{Code: f.Code, Message: f.Message, Room: f.Room}
		if f.Code == "ice_failed" {
			err.Message = ErrICEFailed.Error() + ": " + f.Message
		}
		// Errors about a subscription we are waiting on end it; advisory
		// ones (speakers_not_joined, nobody_online) do not.
		switch f.Code {
		case "speakers_not_joined", "nobody_online":
		default:
			if sub != nil && f.PC != wire.PCPub {
				sub.finish(err)
			}
			if pub != nil && f.PC != wire.PCSub {
				pub.finish(err)
			}
		}
	case f.ID != "" && (f.Type == wire.TypeRoom && f.Kind == wire.KindLive || f.Type == wire.TypeLiveRequest || f.Type == wire.TypeError && f.Room == ""):
		// GoLive's answers: the room, where its request stands, or why not.
		c.mu.Lock()
		w := c.liveWait
		mine := w != nil && f.ID == c.liveID
		abandoned := c.liveAbandoned[f.ID]
		if abandoned && (f.Type != wire.TypeLiveRequest || f.State != wire.LivePending && f.State != wire.LiveApproved) {
			delete(c.liveAbandoned, f.ID) // final answer
		}
		c.mu.Unlock()
		switch {
		case abandoned && f.Type == wire.TypeLiveRequest && f.State == wire.LivePending:
			_ = c.write(wire.Frame{Type: wire.TypeDeny, Request: f.Request, Reason: "withdrawn: the requester stopped waiting"})
			return
		case abandoned && f.Type == wire.TypeRoom:
			_ = c.write(wire.Frame{Type: wire.TypeEnd, Room: f.Room})
			return
		}
		if mine {
			select {
			case w <- f:
			default: // GoLive takes the final frame; a flood of pending ones may drop
			}
			if f.Type != wire.TypeLiveRequest {
				return
			}
		}
	}
	if c.cfg.OnFrame != nil {
		c.cfg.OnFrame(f)
	}
}

// roomEnded is how a subscription learns that the room is over.
type roomEnded struct{ reason string }

func (e *roomEnded) Error() string { return "room ended: " + e.reason }

// RoomEndedReason returns the server's reason when err says the room ended.
func RoomEndedReason(err error) (string, bool) {
	var re *roomEnded
	if errors.As(err, &re) {
		return re.reason, true
	}
	return "", false
}
