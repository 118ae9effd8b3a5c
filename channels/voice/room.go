package voice

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/alertcast/alertcast/channels/voice/wire"
)

// room is one live announcement, call or ring.
type room struct {
	s       *Server
	id      string
	kind    string
	owner   string // user who created it (the publisher of a live room)
	region  string
	aim     liveAim // live: every region code (region is the first) and the warning
	level   int
	token   string          // live: admits loudspeaker agents
	allowed map[string]bool // call/ring: users who may join
	devices []string        // live: devices asked to join
	started time.Time
	ring    *ring // KindRing

	grant   liveGrant // live: how it was allowed (two-person rule)
	audited bool      // live (under mu): its start is on record, so its end must be

	// slots are the publisher tracks, fixed at creation: live has the
	// owner's, call has one per participant, ring has the programme's.
	slots map[string]*slot // by user

	bcastPending atomic.Bool

	mu      sync.Mutex
	members map[*session]*member
	ended   bool
	reason  string
	endedCh chan struct{}

	recordings []string // files being written for this room
}

// slot is one publisher's outgoing track, fanned out to every subscriber.
type slot struct {
	user   string
	rtp    *webrtc.TrackLocalStaticRTP    // live/call: forwarded RTP
	sample *webrtc.TrackLocalStaticSample // ring: the programme
	muted  atomic.Bool
	active atomic.Bool // a publisher is feeding it
}

func (sl *slot) track() webrtc.TrackLocal {
	if sl.sample != nil {
		return sl.sample
	}
	return sl.rtp
}

// member is one session's presence in a room.
type member struct {
	r      *room
	ss     *session
	device string
	joined time.Time
	left   atomic.Bool

	mu  sync.Mutex
	pub *peer
	sub *peer
}

func (m *member) peers() (pub, sub *peer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pub, m.sub
}

// setPeer records p, unless the member has already left.
func (m *member) setPeer(name string, p *peer) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.left.Load() {
		return false
	}
	if name == wire.PCPub {
		m.pub = p
	} else {
		m.sub = p
	}
	return true
}

func (m *member) setMuted(v bool) {
	if sl := m.r.slots[m.ss.user]; sl != nil && m.ss.role != RoleSpeaker {
		sl.muted.Store(v)
		m.r.broadcastMembers()
	}
}

func newRoom(s *Server, kind, owner string) *room {
	return &room{
		s: s, id: randomID(kind+"-", 8), kind: kind, owner: owner, started: time.Now(),
		slots: map[string]*slot{}, members: map[*session]*member{}, allowed: map[string]bool{},
		endedCh: make(chan struct{}),
	}
}

func (r *room) addRTPSlot(user string) error {
	t, err := webrtc.NewTrackLocalStaticRTP(opusCap, "audio", "alertcast-"+user)
	if err != nil {
		return fmt.Errorf("voice: track for %s: %w", user, err)
	}
	r.slots[user] = &slot{user: user, rtp: t}
	return nil
}

// register adds the room to the server, refusing after Close.
func (s *Server) register(r *room) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errServerClosed
	}
	s.rooms[r.id] = r
	if r.token != "" {
		s.tokens[r.token] = r
	}
	s.met.rooms.WithLabelValues(r.kind).Inc()
	return nil
}

// startLive opens a live announcement for the aim's regions with ss as
// publisher and asks their loudspeakers to join it. g says how the
// two-person rule was met (goLive and resolveLive decide; nothing else calls
// this).
func (s *Server) startLive(ss *session, aim liveAim, level int, g liveGrant) (*room, error) {
	if level == 0 {
		level = 4
	}
	region := aim.regions[0]
	r := newRoom(s, wire.KindLive, ss.user)
	r.region, r.aim, r.level, r.token, r.grant = region, aim, level, randomID("", 24), g
	if err := r.addRTPSlot(ss.user); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var devices []string
	seen := map[string]bool{}
	for _, code := range aim.regions {
		in, err := s.devicesIn(ctx, code)
		if err != nil {
			return nil, fmt.Errorf("devices of region %s: %w", code, err)
		}
		for _, d := range in {
			// A village listed with its township: one device, one invitation.
			if !seen[d] {
				seen[d] = true
				devices = append(devices, d)
			}
		}
	}
	r.devices = devices
	if err := s.register(r); err != nil {
		return nil, err
	}
	// On record before any loudspeaker is told; without the record the
	// room does not open.
	if err := s.audit(r.startAudit(ss.user)); err != nil {
		s.endRoom(r, "audit_failed")
		return nil, err
	}
	r.mu.Lock()
	r.audited = true
	r.mu.Unlock()
	if s.cluster != nil {
		// Other nodes' loudspeakers and listeners find it from now on,
		// and can close its record if this node dies.
		start := r.startAudit(ss.user)
		s.cluster.roomOpened(r, &start)
	}
	if _, err := s.addMember(r, ss, ""); err != nil {
		s.endRoom(r, "start failed")
		return nil, err
	}
	// Field pages may listen in.
	announce := &wire.Frame{Type: wire.TypeRoom, Room: r.id, Kind: wire.KindLive, Region: region, Regions: aim.regions[1:], AlertID: aim.alert, From: ss.user}
	s.mu.Lock()
	var field []*session
	for fs := range s.sessions {
		if fs.role == RoleField {
			field = append(field, fs)
		}
	}
	s.mu.Unlock()
	for _, fs := range field {
		fs.send(announce)
	}
	if s.cluster != nil {
		s.cluster.toUser("", announce)
	}
	s.log.Info("voice: live announcement started", "room", r.id, "region", region, "user", ss.user, "devices", len(devices))
	if s.cfg.Live != nil && len(devices) > 0 {
		lr, _ := s.LiveRoom(r.id)
		if err := s.cfg.Live.Live(ctx, devices, lr); err != nil {
			// The officer can still speak to field listeners; say so.
			s.log.Warn("voice: loudspeakers not told to join", "room", r.id, "region", region, "err", err)
			ss.sendErr("", r.id, "speakers_not_joined", fmt.Errorf("loudspeakers were not told to join: %w", err))
		}
	}
	return r, nil
}

// LiveRoom returns the LiveRoom of an open live announcement, for an
// integrator that starts agents another way (e.g. the API).
func (s *Server) LiveRoom(id string) (LiveRoom, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[id]
	if r == nil || r.kind != wire.KindLive {
		return LiveRoom{}, false
	}
	return LiveRoom{ID: r.id, Token: r.token, Region: r.region, SignalPath: s.cfg.SignalPath, SignalURL: s.signalURL(),
		Publisher: r.owner, Started: r.started, Level: r.level}, true
}

// signalURL is PublicURL with a ws/wss scheme and SignalPath, or "".
func (s *Server) signalURL() string {
	u, err := url.Parse(s.cfg.PublicURL)
	if s.cfg.PublicURL == "" || err != nil || u.Host == "" {
		return ""
	}
	switch u.Scheme {
	case "https", "wss":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + s.cfg.SignalPath
	return u.String()
}

func (s *Server) devicesIn(ctx context.Context, region string) ([]string, error) {
	if s.cfg.Devices != nil {
		return s.cfg.Devices.DevicesIn(ctx, region)
	}
	if s.cfg.Endpoints == nil {
		return nil, nil
	}
	var out []string
	for _, d := range s.cfg.Endpoints.Online(ctx) {
		if strings.HasPrefix(d, region) {
			out = append(out, d)
		}
	}
	return out, nil
}

// startCall opens a two-way call between ss and field members.
func (s *Server) startCall(ss *session, members []string) (*room, error) {
	r := newRoom(s, wire.KindCall, ss.user)
	r.allowed[ss.user] = true
	if err := r.addRTPSlot(ss.user); err != nil {
		return nil, err
	}
	for _, u := range members {
		if u == ss.user || r.allowed[u] {
			continue
		}
		r.allowed[u] = true
		if err := r.addRTPSlot(u); err != nil {
			return nil, err
		}
	}
	if err := s.register(r); err != nil {
		return nil, err
	}
	if s.cluster != nil {
		s.cluster.roomOpened(r, nil) // members on other nodes find it
	}
	if _, err := s.addMember(r, ss, ""); err != nil {
		s.endRoom(r, "start failed")
		return nil, err
	}
	reached := 0
	var elsewhere []string
	if s.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		elsewhere = s.cluster.fieldElsewhere(ctx)
		cancel()
	}
	for _, u := range members {
		f := &wire.Frame{Type: wire.TypeIncomingCall, Room: r.id, From: ss.user, Kind: wire.KindCall}
		for _, fs := range s.fieldSessions(u) {
			fs.send(f)
			reached++
		}
		if s.cluster != nil {
			// Its pages on other nodes are told too; their joins are
			// relayed here.
			s.cluster.toUser(u, f)
			if slices.Contains(elsewhere, u) {
				reached++
			}
		}
	}
	if reached == 0 {
		ss.sendErr("", r.id, "nobody_online", fmt.Errorf("none of %s is online", strings.Join(members, ", ")))
	}
	s.log.Info("voice: call started", "room", r.id, "user", ss.user, "members", len(members), "reached", reached)
	return r, nil
}

// mayJoin applies the room's admission rule.
func (r *room) mayJoin(ss *session) error {
	switch {
	case ss.role == RoleSpeaker:
		if ss.scope != r {
			return fmt.Errorf("%w: a loudspeaker token admits to its own room only", ErrForbidden)
		}
	case r.kind == wire.KindLive:
		if !ss.isOfficer() && ss.role != RoleField {
			return ErrForbidden
		}
	default:
		if !r.allowed[ss.user] {
			return fmt.Errorf("%w: %s is not a member of %s", ErrForbidden, ss.user, r.id)
		}
	}
	return nil
}

// join makes ss a subscriber of room id: the server offers it every slot
// but its own.
func (s *Server) join(ss *session, id, device string) error {
	s.mu.Lock()
	r := s.rooms[id]
	s.mu.Unlock()
	if r == nil {
		return fmt.Errorf("%w: %s", ErrNoSuchRoom, id)
	}
	if err := r.mayJoin(ss); err != nil {
		return err
	}
	if r.kind == wire.KindLive && ss.isOfficer() {
		// An officer in a live room can speak into it.
		if err := s.mayReach(ss, r.aim.regions); err != nil {
			return err
		}
	}
	m := ss.member(id)
	if m == nil {
		var err error
		if m, err = s.addMember(r, ss, device); err != nil {
			return err
		}
	}
	if _, sub := m.peers(); sub != nil {
		return errors.New("already joined")
	}
	p, err := s.newPeer(m, wire.PCSub)
	if err != nil {
		s.leave(m, "join failed")
		return err
	}
	for user, sl := range r.slots {
		if user == ss.user {
			continue
		}
		sender, err := p.pc.AddTrack(sl.track())
		if err != nil {
			s.leave(m, "join failed")
			return fmt.Errorf("voice: add track: %w", err)
		}
		p.drainRTCP(sender)
	}
	if err := p.offer(); err != nil {
		s.leave(m, "join failed")
		return err
	}
	if r.ring != nil {
		r.ring.answered(m)
	}
	r.broadcastMembers()
	return nil
}

// addMember records ss in r.
func (s *Server) addMember(r *room, ss *session, device string) (*member, error) {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return nil, fmt.Errorf("%w: %s has ended", ErrNoSuchRoom, r.id)
	}
	if len(r.members) >= s.cfg.MaxRoomPeers {
		r.mu.Unlock()
		return nil, ErrRoomFull
	}
	m := &member{r: r, ss: ss, device: device, joined: time.Now()}
	r.members[ss] = m
	r.mu.Unlock()
	ss.mu.Lock()
	if ss.gone {
		// An approval can open the room of a requester whose socket has
		// just gone: its teardown would never remove this membership.
		ss.mu.Unlock()
		r.mu.Lock()
		delete(r.members, ss)
		r.mu.Unlock()
		return nil, fmt.Errorf("%w: %s disconnected", ErrNoSuchRoom, ss.user)
	}
	ss.rooms[r.id] = m
	ss.mu.Unlock()
	return m, nil
}

// publish handles a client's offer on "pub": the session's microphone feeds
// its slot of the room.
//
// The offer admits the session by itself, under the same rule as a join: a
// call member's client sends "join" (to listen) and "offer" (to speak) on
// two independent connections, and nothing orders them — a client that
// starts both at once (rtcclient's Subscribe and Publish) often has its
// offer read first. Requiring the join first refused that answer outright.
func (s *Server) publish(ss *session, id, sdp string) error {
	m := ss.member(id)
	var r *room
	if m != nil {
		r = m.r
	} else {
		s.mu.Lock()
		r = s.rooms[id]
		s.mu.Unlock()
		if r == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchRoom, id)
		}
		if err := r.mayJoin(ss); err != nil {
			return err
		}
	}
	sl := r.slots[ss.user]
	if sl == nil || sl.rtp == nil || ss.role == RoleSpeaker {
		return fmt.Errorf("%w: %s may not publish in %s", ErrForbidden, ss.user, id)
	}
	admitted := m == nil
	if admitted {
		var err error
		if m, err = s.addMember(r, ss, ""); err != nil {
			return err
		}
	}
	if err := s.publishPeer(ss, m, sl, sdp); err != nil {
		if admitted {
			// Undone as if never made: a bad offer from one member
			// does not end the others' call, as before.
			m.detach()
		}
		return err
	}
	if admitted {
		r.broadcastMembers()
	}
	return nil
}

// publishPeer creates m's "pub" connection if needed and answers sdp.
func (s *Server) publishPeer(ss *session, m *member, sl *slot, sdp string) error {
	id := m.r.id
	pub, _ := m.peers()
	if pub == nil {
		p, err := s.newPeer(m, wire.PCPub)
		if err != nil {
			return err
		}
		p.pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			if t.Kind() != webrtc.RTPCodecTypeAudio {
				return
			}
			if !strings.EqualFold(t.Codec().MimeType, webrtc.MimeTypeOpus) {
				ss.sendErr("", id, "bad_codec", ErrBadCodec)
				go s.leave(m, "bad codec")
				return
			}
			if !sl.active.CompareAndSwap(false, true) {
				return // a second audio track from the same publisher is ignored
			}
			s.goTracked(func() { s.forward(m, sl, t) })
		})
		pub = p
	}
	return pub.answer(sdp)
}

// forward copies a publisher's RTP into its slot (and the recording) until
// the publisher's track ends.
func (s *Server) forward(m *member, sl *slot, t *webrtc.TrackRemote) {
	defer sl.active.Store(false)
	rec := s.newRecorder(m.r, m.ss.user)
	defer rec.close(context.Background())
	first := true
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		if first {
			first = false
			m.r.broadcastMembers()
		}
		s.met.packetsIn.Inc()
		if sl.muted.Load() {
			continue
		}
		rec.write(pkt)
		// Errors name subscribers whose connection is closing; they are
		// removed by their own state handlers, the others still get it.
		_ = sl.rtp.WriteRTP(pkt)
	}
}

// leave removes a member. When the member was what kept the room alive
// (a live publisher, the caller, the rung endpoint) the room ends.
func (s *Server) leave(m *member, why string) {
	remaining, ended, ok := m.detach()
	if !ok || ended {
		return
	}
	r := m.r
	switch {
	case r.kind == wire.KindLive && m.ss.user == r.owner && m.ss.role != RoleSpeaker:
		s.endRoom(r, "publisher_left: "+why)
	case r.kind == wire.KindCall && (m.ss.user == r.owner || remaining <= 1):
		s.endRoom(r, "call_over: "+m.ss.user+" "+why)
	case r.kind == wire.KindRing && r.ring != nil:
		r.ring.hungUp(why)
	default:
		r.broadcastMembers()
	}
}

// detach removes m from its room and session and closes its peers, once;
// ok is false when it had already left. remaining counts the members left.
func (m *member) detach() (remaining int, ended, ok bool) {
	m.mu.Lock()
	if !m.left.CompareAndSwap(false, true) {
		m.mu.Unlock()
		return 0, false, false
	}
	pub, sub := m.pub, m.sub
	m.mu.Unlock()
	r := m.r
	r.mu.Lock()
	delete(r.members, m.ss)
	remaining = len(r.members)
	ended = r.ended
	r.mu.Unlock()
	m.ss.mu.Lock()
	if m.ss.rooms[r.id] == m {
		delete(m.ss.rooms, r.id)
	}
	m.ss.mu.Unlock()
	if pub != nil {
		pub.close()
	}
	if sub != nil {
		sub.close()
	}
	return remaining, ended, true
}

// endRoom tells every member why the room ended and closes their peers.
func (s *Server) endRoom(r *room, reason string) {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return
	}
	r.ended, r.reason = true, reason
	endedAt := time.Now()
	audited := r.audited
	close(r.endedCh)
	ms := make([]*member, 0, len(r.members))
	for _, m := range r.members {
		ms = append(ms, m)
	}
	r.mu.Unlock()
	s.mu.Lock()
	delete(s.rooms, r.id)
	if r.token != "" {
		delete(s.tokens, r.token)
	}
	s.mu.Unlock()
	if s.cluster != nil {
		s.cluster.roomClosed(r)
	}
	s.met.rooms.WithLabelValues(r.kind).Dec()
	s.log.Info("voice: room ended", "room", r.id, "kind", r.kind, "reason", reason, "members", len(ms))
	f := &wire.Frame{Type: wire.TypeRoomEnded, Room: r.id, Reason: reason}
	for _, m := range ms {
		m.ss.send(f)
	}
	// Close concurrently: a pion Close waits for its ICE agent.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, m := range ms {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.leave(m, "room ended")
		}()
	}
	wg.Wait()
	if r.ring != nil {
		r.ring.roomEnded(reason)
	}
	if r.kind == wire.KindLive && audited {
		_ = s.audit(r.endAudit(reason, endedAt)) // already logged; the air cannot be taken back
	}
}

func (r *room) info() RoomInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	ms, n := r.membersLocked()
	return RoomInfo{ID: r.id, Kind: r.kind, Owner: r.owner, Region: r.region, Started: r.started, Members: ms, Speakers: n}
}

// membersLocked lists the people in the room; loudspeaker agents are only
// counted (there may be thousands).
func (r *room) membersLocked() ([]wire.MemberInfo, int) {
	out := make([]wire.MemberInfo, 0, 8)
	speakers := 0
	for _, m := range r.members {
		if m.ss.role == RoleSpeaker {
			speakers++
			continue
		}
		mi := wire.MemberInfo{User: m.ss.user, Role: m.ss.role, Device: m.device}
		if sl := r.slots[m.ss.user]; sl != nil && m.ss.role != RoleSpeaker {
			mi.Publishing, mi.Muted = sl.active.Load(), sl.muted.Load()
		}
		p, sub := m.peers()
		if p == nil {
			p = sub
		}
		if p != nil {
			mi.State = p.pc.ConnectionState().String()
		}
		out = append(out, mi)
	}
	return out, speakers
}

// broadcastMembers tells the officers and call members in the room who is
// there, at most every 250 ms (a thousand agents joining make one update,
// not a thousand). Loudspeaker agents are not told.
func (r *room) broadcastMembers() {
	if !r.bcastPending.CompareAndSwap(false, true) {
		return
	}
	time.AfterFunc(250*time.Millisecond, func() {
		r.bcastPending.Store(false)
		r.sendMembers()
	})
}

func (r *room) sendMembers() {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return
	}
	var to []*session
	for ss := range r.members {
		if ss.role != RoleSpeaker && (ss.isOfficer() || r.kind != wire.KindLive) {
			to = append(to, ss)
		}
	}
	if len(to) == 0 {
		r.mu.Unlock()
		return
	}
	peers, n := r.membersLocked()
	f := &wire.Frame{Type: wire.TypeMembers, Room: r.id, Kind: r.kind, Peers: peers, Speakers: n}
	r.mu.Unlock()
	for _, ss := range to {
		ss.send(f)
	}
}
