package voice

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
)

// Channel is the queued "voice" channel: it rings the online field endpoints
// among the recipients (Recipient.Address is the field user id), plays the
// rendered programme to whoever answers and waits for "received".
//
// Per recipient: answered → Result Sent (Detail "answered", Ref = ring id),
// later a Receipt Delivered ("acknowledged"); acknowledged before Send
// returns → Result Delivered; not online, unanswered within RingTimeout or
// declined → Result Failed with a transient error, so dispatch rings again
// within the warning's validity. A (Key, Recipient) already acknowledged is
// reported Delivered without ringing again; a duplicate task that arrives
// while the endpoint is being rung waits on the same ring.
type Channel struct{ s *Server }

var _ channels.Channel = (*Channel)(nil)

// Name is "voice".
func (c *Channel) Name() string { return "voice" }

// maxProgramme bounds a programme held in memory (10 minutes of PCMU).
const maxProgramme = 8000 * 60 * 10

// Send rings every recipient concurrently and returns when each has
// answered, acknowledged, declined or timed out, or when ctx is done.
func (c *Channel) Send(ctx context.Context, m *channels.Message, to []channels.Recipient) ([]channels.Result, error) {
	s := c.s
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, channels.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, channels.Permanent(err)
	}
	programme, perr := c.loadProgramme(ctx, m)
	if perr != nil {
		s.log.Warn("voice: programme unavailable, ringing with text only", "key", m.Key, "err", perr)
	}
	var (
		mu  sync.Mutex
		out = make([]channels.Result, 0, len(to))
		wg  sync.WaitGroup
	)
	for _, r := range to {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, ok := c.sendOne(ctx, m, r, programme)
			if ok {
				mu.Lock()
				out = append(out, res)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil && len(out) < len(to) {
		return out, err
	}
	return out, nil
}

func (c *Channel) loadProgramme(ctx context.Context, m *channels.Message) ([]byte, error) {
	if m.Audio == nil || m.Audio.SHA256 == "" || c.s.cfg.Audio == nil {
		return nil, nil
	}
	rc, err := c.s.cfg.Audio.OpenPCMU(ctx, m.Audio.SHA256)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxProgramme))
	if err != nil {
		return nil, err
	}
	return b, nil
}

func failed(r channels.Recipient, err error, detail string) channels.Result {
	return channels.Result{RecipientID: r.ID, State: channels.StateFailed, Err: err, Detail: detail}
}

// sendOne rings one recipient; ok is false when ctx ended first (no result:
// dispatch retries that recipient).
func (c *Channel) sendOne(ctx context.Context, m *channels.Message, r channels.Recipient, programme []byte) (channels.Result, bool) {
	s := c.s
	if !idPattern.MatchString(r.Address) {
		return failed(r, channels.Permanent(&warning.FieldError{Field: "recipient.address", Rule: "a field user id", Value: r.Address}), "bad address"), true
	}
	key := m.Key + "\x00" + r.ID
	s.mu.Lock()
	if _, ok := s.acked[key]; ok {
		s.mu.Unlock()
		return channels.Result{RecipientID: r.ID, State: channels.StateDelivered, Detail: "already acknowledged"}, true
	}
	rg := s.ringKeys[key]
	s.mu.Unlock()
	if rg == nil {
		if len(s.fieldSessions(r.Address)) == 0 {
			s.met.rings.WithLabelValues("offline").Inc()
			return failed(r, fmt.Errorf("%w: %s", ErrNotOnline, r.Address), "not online"), true
		}
		var err error
		rg, err = s.startRing(m, r, key, programme)
		if err != nil {
			return failed(r, err, "ring failed"), true
		}
	}
	select {
	case <-rg.decided:
	case <-ctx.Done():
		rg.cancel()
		return channels.Result{}, false
	}
	return rg.result(r), true
}

// ring is one automated call to one field endpoint.
type ring struct {
	s         *Server
	id        string
	key       string // message key + recipient id
	msgKey    string
	rid       string
	user      string
	room      *room
	info      RingInfo
	programme []byte

	decided chan struct{} // closed once the outcome for Send is known

	mu           sync.Mutex
	outcome      string // answered, acknowledged, declined, unanswered, ended
	resultTaken  bool
	decidedOnce  sync.Once
	answeredOnce sync.Once
	answeredCh   chan struct{}
	playing      bool
}

func (s *Server) startRing(m *channels.Message, r channels.Recipient, key string, programme []byte) (*ring, error) {
	rm := newRoom(s, KindRing, "alertcast")
	rm.allowed[r.Address] = true
	track, err := webrtc.NewTrackLocalStaticSample(pcmuCap, "audio", "alertcast-programme")
	if err != nil {
		return nil, fmt.Errorf("voice: programme track: %w", err)
	}
	rm.slots["alertcast"] = &slot{user: "alertcast", sample: track}
	lang := r.Language
	if lang == "" {
		lang = "zh"
	}
	text, ok := m.Texts[lang]
	if !ok {
		text = m.Texts["zh"]
	}
	rg := &ring{
		s: s, id: rm.id, key: key, msgKey: m.Key, rid: r.ID, user: r.Address, room: rm, programme: programme,
		decided: make(chan struct{}), answeredCh: make(chan struct{}),
		info: RingInfo{Key: m.Key, Level: int(m.Level), LevelName: m.Level.String(), EventName: m.Event.Chinese(), Drill: m.Drill(), Text: text, Audio: len(programme) > 0},
	}
	rm.ring = rg
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errServerClosed
	}
	if other := s.ringKeys[key]; other != nil { // lost a race with a duplicate task
		s.mu.Unlock()
		return other, nil
	}
	s.ringKeys[key] = rg
	s.rings[rg.id] = rg
	s.mu.Unlock()
	if err := s.register(rm); err != nil {
		rg.forget()
		return nil, err
	}
	if !s.goTracked(rg.run) {
		s.endRoom(rm, "server_shutdown")
		return nil, errServerClosed
	}
	f := rg.frame()
	for _, ss := range s.fieldSessions(r.Address) {
		ss.send(f)
	}
	s.log.Info("voice: ringing", "key", m.Key, "recipient", r.ID, "ring", rg.id, "audio", len(programme) > 0)
	return rg, nil
}

func (rg *ring) frame() *Frame {
	info := rg.info
	return &Frame{Type: TypeRing, Ring: rg.id, Room: rg.room.id, Alert: &info}
}

func (s *Server) ringsFor(user string) []*ring {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*ring
	for _, rg := range s.rings {
		if rg.user == user {
			rg.mu.Lock()
			ringing := rg.outcome == ""
			rg.mu.Unlock()
			if ringing {
				out = append(out, rg)
			}
		}
	}
	return out
}

// run owns the ring's clock: RingTimeout to answer, AckTimeout to confirm.
func (rg *ring) run() {
	s := rg.s
	t := time.NewTimer(s.cfg.RingTimeout)
	defer t.Stop()
	select {
	case <-rg.answeredCh:
		t.Reset(s.cfg.AckTimeout)
		select {
		case <-t.C:
			s.endRoom(rg.room, "not acknowledged in time")
		case <-rg.room.endedCh:
		case <-s.done:
		}
	case <-t.C:
		rg.decide("unanswered")
		s.endRoom(rg.room, "unanswered")
	case <-rg.room.endedCh:
	case <-s.done:
	}
}

// decide sets the outcome seen by Send (first one wins).
func (rg *ring) decide(outcome string) {
	rg.mu.Lock()
	if rg.outcome == "" || (rg.outcome == "answered" && outcome == "acknowledged") {
		rg.outcome = outcome
	}
	rg.mu.Unlock()
	rg.decidedOnce.Do(func() { close(rg.decided) })
}

// result turns the outcome into a Result for Send. After it, an
// acknowledgement becomes a Receipt.
func (rg *ring) result(r channels.Recipient) channels.Result {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	rg.resultTaken = true
	res := channels.Result{RecipientID: r.ID, Ref: rg.id}
	switch rg.outcome {
	case "acknowledged":
		res.State, res.Detail = channels.StateDelivered, "acknowledged"
	case "answered":
		res.State, res.Detail = channels.StateSent, "answered"
	case "declined":
		res.State, res.Detail, res.Err = channels.StateFailed, "declined", fmt.Errorf("%w by %s", ErrDeclined, rg.user)
	case "unanswered":
		res.State, res.Detail, res.Err = channels.StateFailed, "unanswered", fmt.Errorf("%w by %s within %s", ErrUnanswered, rg.user, rg.s.cfg.RingTimeout)
	default:
		res.State, res.Detail, res.Err = channels.StateFailed, rg.outcome, fmt.Errorf("voice call to %s ended: %s", rg.user, rg.outcome)
	}
	label := res.Detail
	if strings.HasPrefix(label, "ended") {
		label = "ended" // the reason carries names: keep the label set fixed
	}
	rg.s.met.rings.WithLabelValues(label).Inc()
	return res
}

// answered is called when the rung endpoint joins the ring room.
func (rg *ring) answered(m *member) {
	rg.answeredOnce.Do(func() {
		close(rg.answeredCh)
		rg.decide("answered")
		over := &Frame{Type: TypeRingOver, Ring: rg.id, Reason: "answered"}
		for _, ss := range rg.s.fieldSessions(rg.user) {
			if ss != m.ss {
				ss.send(over)
			}
		}
		_, sub := m.peers()
		if sub != nil && len(rg.programme) > 0 {
			rg.s.goTracked(func() { rg.play(sub) })
		}
	})
}

// play sends the programme as 20 ms PCMU samples, PlayRepeats times, once
// the endpoint's connection is up; it stops when the ring ends.
func (rg *ring) play(p *peer) {
	s := rg.s
	select {
	case <-p.connected:
	case <-rg.room.endedCh:
		return
	case <-s.done:
		return
	}
	track := rg.room.slots["alertcast"].sample
	const frame = 160 // 20 ms at 8 kHz
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for rep := 0; rep < s.cfg.PlayRepeats; rep++ {
		for off := 0; off < len(rg.programme); off += frame {
			end := min(off+frame, len(rg.programme))
			select {
			case <-tick.C:
			case <-rg.room.endedCh:
				return
			case <-s.done:
				return
			}
			if err := track.WriteSample(media.Sample{Data: rg.programme[off:end], Duration: 20 * time.Millisecond}); err != nil {
				return
			}
		}
		// a second of silence between repeats
		for i := 0; i < 50; i++ {
			select {
			case <-tick.C:
			case <-rg.room.endedCh:
				return
			}
		}
	}
}

// hungUp: the endpoint left before acknowledging.
func (rg *ring) hungUp(why string) {
	rg.s.endRoom(rg.room, "hung up: "+why)
}

// roomEnded finishes the ring whatever ended the room.
func (rg *ring) roomEnded(reason string) {
	rg.decide("ended: " + reason)
	rg.forget()
	over := &Frame{Type: TypeRingOver, Ring: rg.id, Reason: reason}
	for _, ss := range rg.s.fieldSessions(rg.user) {
		ss.send(over)
	}
}

func (rg *ring) forget() {
	s := rg.s
	s.mu.Lock()
	if s.ringKeys[rg.key] == rg {
		delete(s.ringKeys, rg.key)
	}
	delete(s.rings, rg.id)
	s.mu.Unlock()
}

// cancel ends a ring whose Send gave up (context done) before an outcome.
func (rg *ring) cancel() {
	rg.mu.Lock()
	pending := rg.outcome == ""
	rg.mu.Unlock()
	if pending {
		rg.s.endRoom(rg.room, "cancelled")
	}
}

// ringReply handles "ack" and "decline" from the field page.
func (s *Server) ringReply(ss *session, id string, ack bool) error {
	s.mu.Lock()
	rg := s.rings[id]
	s.mu.Unlock()
	if rg == nil || rg.user != ss.user {
		return fmt.Errorf("%w: ring %s", ErrNoSuchRoom, id)
	}
	if !ack {
		rg.decide("declined")
		s.endRoom(rg.room, "declined")
		return nil
	}
	s.mu.Lock()
	s.acked[rg.key] = time.Now()
	s.pruneAckedLocked()
	s.mu.Unlock()
	// One lock decides whether Send still reports it (Result Delivered) or
	// already reported "answered" (then a Receipt follows).
	rg.mu.Lock()
	afterResult := rg.resultTaken
	if rg.outcome == "" || rg.outcome == "answered" {
		rg.outcome = "acknowledged"
	}
	rg.mu.Unlock()
	rg.decide("acknowledged")
	if afterResult {
		s.met.rings.WithLabelValues("acknowledged").Inc()
		s.cfg.Reporter.Report(context.Background(), channels.Receipt{
			Channel: "voice", Key: rg.msgKey, RecipientID: rg.rid, Ref: rg.id,
			State: channels.StateDelivered, Detail: "acknowledged", At: time.Now(),
		})
	}
	s.log.Info("voice: acknowledged", "key", rg.msgKey, "recipient", rg.rid, "ring", rg.id)
	s.endRoom(rg.room, "acknowledged")
	return nil
}

// acked remembers acknowledgements for a day so a re-delivered task does not
// ring again; older ones are dispatch's delivery records' business.
func (s *Server) pruneAckedLocked() {
	if len(s.acked) < 10000 {
		return
	}
	cut := time.Now().Add(-24 * time.Hour)
	for k, t := range s.acked {
		if t.Before(cut) {
			delete(s.acked, k)
		}
	}
}
