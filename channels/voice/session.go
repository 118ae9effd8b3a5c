package voice

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/alertcast/alertcast/channels/voice/wire"
	"github.com/alertcast/alertcast/warning"
	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"
)

const (
	authTimeout  = 10 * time.Second
	pongWait     = 30 * time.Second
	pingInterval = 10 * time.Second
	writeWait    = 10 * time.Second
	outQueue     = 256
)

// session is one signalling WebSocket: one authenticated user (or one
// loudspeaker agent confined to one live room).
type session struct {
	s      *Server
	conn   *websocket.Conn
	out    chan []byte
	closed chan struct{}
	once   sync.Once

	// set once at authentication
	user   string
	role   string
	device string
	scope  *room // RoleSpeaker: the only room it may join

	mu    sync.Mutex
	rooms map[string]*member // room id → membership
	gone  bool               // torn down: joins no more rooms

	// Across nodes (cluster.go). sid names the session on the bus. A
	// session whose socket is on another node has via = that node and
	// reads its frames from in; a local session relays frames for rooms
	// held elsewhere (remote: room → node, under mu).
	sid         string
	via         string
	in          chan *wire.Frame
	remote      map[string]string
	relayedTo   map[string]bool // every node a frame was relayed to
	remoteScope string          // loudspeaker admitted by a room token of another node: that room
	tokenHash   string          // and its token, hashed, for the owner to check
}

func (ss *session) isOfficer() bool {
	return ss.role == RoleOfficer || ss.role == RoleApprover || ss.role == RoleAdmin
}

// SignalHandler serves the signalling WebSocket (mounted at /voice/ws). The
// first frame must be {"type":"auth","token":…} unless the upgrade request
// carried "Authorization: Bearer …". Browsers are held to the same origin
// (gorilla's default); agents send no Origin header.
func (s *Server) SignalHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			http.Error(w, "voice server closed", http.StatusServiceUnavailable)
			return
		}
		conn, err := s.upgrader.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade already answered with an HTTP error
		}
		conn.SetReadLimit(wire.MaxFrameSize)
		ss := &session{s: s, conn: conn, out: make(chan []byte, outQueue), closed: make(chan struct{}), rooms: map[string]*member{}}
		if s.cluster != nil {
			ss.sid = randomID("s-", 12)
		}
		bearer := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if bearer == r.Header.Get("Authorization") {
			bearer = ""
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.conns[ss] = struct{}{}
		s.wg.Add(2)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			ss.writeLoop()
		}()
		go func() {
			defer s.wg.Done()
			ss.readLoop(bearer)
		}()
	})
}

// send queues f for the client. A client that does not keep up is dropped:
// signalling must not stall the SFU.
func (ss *session) send(f *wire.Frame) {
	b, err := json.Marshal(f)
	if err != nil {
		ss.s.log.Error("voice: marshal frame", "type", f.Type, "err", err)
		return
	}
	ss.sendRaw(b)
}

// sendRaw queues an encoded frame (send, or one relayed from the node that
// holds the room).
func (ss *session) sendRaw(b []byte) {
	select {
	case <-ss.closed:
	case ss.out <- b:
	default:
		ss.s.log.Warn("voice: signalling client too slow, closing", "user", ss.user)
		ss.close()
	}
}

func (ss *session) sendErr(id, room, code string, err error) {
	f := &wire.Frame{Type: wire.TypeError, ID: id, Room: room, Code: code, Message: err.Error()}
	var fe *warning.FieldError
	if errors.As(err, &fe) {
		f.Field = fe.Field
	}
	ss.send(f)
}

// close ends the session: the write loop flushes what is queued (the
// error or room_ended that explains why) and then closes the socket, which
// also stops the read loop.
func (ss *session) close() {
	ss.once.Do(func() { close(ss.closed) })
}

func (ss *session) writeLoop() {
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	defer ss.conn.Close()
	for {
		select {
		case <-ss.closed:
			deadline := time.Now().Add(time.Second)
			for {
				select {
				case b := <-ss.out:
					_ = ss.conn.SetWriteDeadline(deadline)
					if ss.conn.WriteMessage(websocket.TextMessage, b) != nil {
						return
					}
				default:
					_ = ss.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline)
					return
				}
			}
		case b := <-ss.out:
			_ = ss.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := ss.conn.WriteMessage(websocket.TextMessage, b); err != nil {
				ss.close()
				return
			}
		case <-ping.C:
			_ = ss.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := ss.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				ss.close()
				return
			}
		}
	}
}

func (ss *session) readLoop(bearer string) {
	s := ss.s
	defer func() {
		ss.teardown()
		ss.close()
	}()
	_ = ss.conn.SetReadDeadline(time.Now().Add(authTimeout))
	if bearer != "" {
		if !ss.authenticate(bearer) {
			return
		}
	}
	for {
		_, b, err := ss.conn.ReadMessage()
		if err != nil {
			return
		}
		f, err := ParseFrame(b)
		if err != nil {
			s.met.badFrames.Inc()
			ss.sendErr("", "", "bad_frame", err)
			if ss.role == "" {
				return
			}
			continue
		}
		if ss.role == "" {
			if f.Type != wire.TypeAuth {
				ss.sendErr(f.ID, "", "unauthenticated", errors.New(`the first frame must be {"type":"auth","token":…}`))
				return
			}
			if !ss.authenticate(f.Token) {
				return
			}
			continue
		}
		ss.handle(f)
	}
}

// authenticate admits the session; on failure it tells the client why.
func (ss *session) authenticate(token string) bool {
	s := ss.s
	s.mu.Lock()
	r := s.tokens[token]
	s.mu.Unlock()
	var (
		remoteRoom, remoteNode, hash string
		remoteOK                     bool
	)
	if r == nil && s.cluster != nil {
		// A loudspeaker told to join a room held by another node.
		remoteRoom, remoteNode, hash, remoteOK = s.cluster.tokenRoom(token)
	}
	switch {
	case r != nil:
		ss.user, ss.role, ss.scope = "speaker:"+r.id, RoleSpeaker, r
	case remoteOK:
		ss.user, ss.role, ss.remoteScope, ss.tokenHash = "speaker:"+remoteRoom, RoleSpeaker, remoteRoom, hash
		ss.remote = map[string]string{remoteRoom: remoteNode}
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		user, role, ok := s.cfg.Authenticate(ctx, token)
		cancel()
		if !ok || user == "" {
			s.met.authFailures.Inc()
			ss.sendErr("", "", "unauthorized", ErrUnauthorized)
			return false
		}
		switch role {
		case RoleOfficer, RoleApprover, RoleAdmin, RoleField:
		default:
			s.met.authFailures.Inc()
			ss.sendErr("", "", "forbidden", errors.New("role "+role+" may not use voice"))
			return false
		}
		ss.user, ss.role = user, role
	}
	_ = ss.conn.SetReadDeadline(time.Now().Add(pongWait))
	ss.conn.SetPongHandler(func(string) error {
		return ss.conn.SetReadDeadline(time.Now().Add(pongWait))
	})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.sessions[ss] = struct{}{}
	s.mu.Unlock()
	if s.cluster != nil {
		s.cluster.sessionOpened(ss)
	}
	ice := s.cfg.ICEServers
	if s.cfg.TURN != nil && len(s.cfg.TURN.URLs) > 0 {
		ice = append(append([]webrtc.ICEServer(nil), ice...), s.cfg.TURN.credentials(ss.user, time.Now()))
	}
	ss.send(&wire.Frame{Type: wire.TypeHello, User: ss.user, Role: ss.role, ICEServers: ice})
	if ss.isOfficer() {
		ss.sendOnline()
	}
	if ss.role == RoleField {
		s.broadcastOnline()
		// A field page that reconnects while being rung sees the ring again.
		for _, rg := range s.ringsFor(ss.user) {
			ss.send(rg.frame())
		}
	}
	return true
}

func (ss *session) sendOnline() {
	f := &wire.Frame{Type: wire.TypeOnline, Endpoints: ss.s.onlineField()}
	if c := ss.s.cluster; c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		for _, u := range c.fieldElsewhere(ctx) {
			if !slices.Contains(f.Endpoints, u) {
				f.Endpoints = append(f.Endpoints, u)
			}
		}
		cancel()
	}
	if ss.s.cfg.Endpoints != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		f.Devices = ss.s.cfg.Endpoints.Online(ctx)
		cancel()
	}
	ss.send(f)
	ss.sendLiveRequests()
}

// teardown leaves every room when the socket goes.
func (ss *session) teardown() {
	s := ss.s
	s.mu.Lock()
	_, registered := s.sessions[ss]
	delete(s.sessions, ss)
	delete(s.conns, ss)
	s.mu.Unlock()
	s.dropLiveRequests(ss, "disconnected")
	ss.mu.Lock()
	ss.gone = true
	ms := make([]*member, 0, len(ss.rooms))
	for _, m := range ss.rooms {
		ms = append(ms, m)
	}
	ss.mu.Unlock()
	for _, m := range ms {
		s.leave(m, "disconnected")
	}
	if registered && s.cluster != nil {
		s.cluster.sessionClosed(ss)
	}
	if registered && ss.role == RoleField {
		s.broadcastOnline()
	}
}

func (ss *session) member(room string) *member {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.rooms[room]
}

// handle acts on one valid frame of an authenticated session.
func (ss *session) handle(f *wire.Frame) {
	s := ss.s
	if s.cluster != nil && s.cluster.holderRelays(ss, f) {
		return // the room is held by another node, which decides
	}
	switch f.Type {
	case wire.TypeAuth:
		ss.sendErr(f.ID, "", "bad_frame", errors.New("already authenticated"))
	case wire.TypePing:
		ss.send(&wire.Frame{Type: wire.TypePong, ID: f.ID})
		if ss.isOfficer() {
			ss.sendOnline()
		}
	case wire.TypeLive:
		if !ss.isOfficer() {
			ss.sendErr(f.ID, "", "forbidden", errors.New("only officers go live"))
			return
		}
		s.goLive(ss, f)
	case wire.TypeCall:
		if !ss.isOfficer() {
			ss.sendErr(f.ID, "", "forbidden", errors.New("only officers place calls"))
			return
		}
		r, err := s.startCall(ss, f.Members)
		if err != nil {
			ss.sendErr(f.ID, "", "call_failed", err)
			return
		}
		ss.send(&wire.Frame{Type: wire.TypeRoom, ID: f.ID, Room: r.id, Kind: r.kind, Members: f.Members})
	case wire.TypeJoin:
		if err := s.join(ss, f.Room, f.Device); err != nil {
			code := "join_failed"
			if errors.Is(err, ErrForbidden) {
				code = "forbidden"
			}
			ss.sendErr(f.ID, f.Room, code, err)
		}
	case wire.TypeOffer:
		if err := s.publish(ss, f.Room, f.SDP); err != nil {
			ss.send(&wire.Frame{Type: wire.TypeError, ID: f.ID, Room: f.Room, PC: wire.PCPub, Code: "publish_failed", Message: err.Error()})
		}
	case wire.TypeAnswer:
		m := ss.member(f.Room)
		var sub *peer
		if m != nil {
			_, sub = m.peers()
		}
		if sub == nil {
			ss.sendErr(f.ID, f.Room, "not_joined", ErrNoSuchRoom)
			return
		}
		if err := sub.setAnswer(f.SDP); err != nil {
			ss.sendErr(f.ID, f.Room, "bad_sdp", err)
			s.leave(m, "bad answer")
		}
	case wire.TypeCandidate:
		m := ss.member(f.Room)
		if m == nil {
			// Trickled candidates race refusals, leaves and room ends:
			// dropping them is the only sensible answer.
			return
		}
		pub, p := m.peers()
		if f.PC == wire.PCPub {
			p = pub
		}
		if p == nil {
			return // candidates racing a closed connection: nothing to do
		}
		if err := p.addCandidate(*f.Candidate); err != nil {
			ss.sendErr(f.ID, f.Room, "bad_candidate", err)
		}
	case wire.TypeMute:
		m := ss.member(f.Room)
		if m == nil {
			ss.sendErr(f.ID, f.Room, "not_joined", ErrNoSuchRoom)
			return
		}
		m.setMuted(*f.Muted)
	case wire.TypeLeave:
		if m := ss.member(f.Room); m != nil {
			s.leave(m, "left")
		}
	case wire.TypeEnd:
		s.mu.Lock()
		r := s.rooms[f.Room]
		s.mu.Unlock()
		if r == nil {
			ss.sendErr(f.ID, f.Room, "no_room", ErrNoSuchRoom)
			return
		}
		if r.owner != ss.user && !ss.isOfficer() {
			ss.sendErr(f.ID, f.Room, "forbidden", ErrForbidden)
			return
		}
		s.endRoom(r, "ended by "+ss.user)
	case wire.TypeApprove, wire.TypeDeny:
		s.decideLive(ss, f, f.Type == wire.TypeApprove)
	case wire.TypeAck, wire.TypeDecline:
		if err := s.ringReply(ss, f.Ring, f.Type == wire.TypeAck); err != nil {
			ss.sendErr(f.ID, "", "no_ring", err)
		}
	}
}
