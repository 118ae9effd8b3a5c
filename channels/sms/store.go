package sms

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/alertcast/alertcast/channels"
)

// ackStore remembers, per (message key, recipient), which parts an SMSC
// acknowledged. It is what makes a retried or re-run batch skip phones
// already submitted, and it lets only one submit per recipient be in flight.
// It keeps the most recent maxKeys message versions.
type ackStore struct {
	mu    sync.Mutex
	keys  map[string]map[string]*ackEntry
	order []string
}

const maxKeys = 64

type ackEntry struct {
	mu   sync.Mutex
	ids  []string // per part: "<gateway>:<message id>", "" until acknowledged
	busy bool
}

type claimStatus int

const (
	claimNew claimStatus = iota
	claimDone
	claimBusy
)

func newAckStore() *ackStore { return &ackStore{keys: map[string]map[string]*ackEntry{}} }

func (s *ackStore) claim(key, id string, parts int) (*ackEntry, claimStatus) {
	s.mu.Lock()
	m, ok := s.keys[key]
	if !ok {
		m = map[string]*ackEntry{}
		s.keys[key] = m
		s.order = append(s.order, key)
		if len(s.order) > maxKeys {
			delete(s.keys, s.order[0])
			s.order = s.order[1:]
		}
	}
	e, ok := m[id]
	if !ok {
		e = &ackEntry{ids: make([]string, parts)}
		m[id] = e
	}
	s.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.busy {
		return e, claimBusy
	}
	if e.completeLocked() {
		return e, claimDone
	}
	if len(e.ids) != parts {
		// Segmented differently than before (configuration changed): the
		// old parts cannot join the new ones, so it is a new message.
		e.ids = make([]string, parts)
	}
	e.busy = true
	return e, claimNew
}

func (s *ackStore) unclaim(e *ackEntry) {
	e.mu.Lock()
	e.busy = false
	e.mu.Unlock()
}

func (s *ackStore) settle(e *ackEntry) { s.unclaim(e) }

func (e *ackEntry) set(part int, id string) {
	e.mu.Lock()
	e.ids[part] = id
	e.mu.Unlock()
}

func (e *ackEntry) acked(part int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ids[part] != ""
}

func (e *ackEntry) complete() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.completeLocked()
}

func (e *ackEntry) completeLocked() bool {
	for _, id := range e.ids {
		if id == "" {
			return false
		}
	}
	return len(e.ids) > 0
}

func (e *ackEntry) ref() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.ids) == 0 {
		return ""
	}
	return e.ids[0]
}

func (e *ackEntry) partIDs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.ids...)
}

// dlrStore matches receipts to submitted messages by gateway-qualified
// message id. Two generations rotated every dlrRetention/2 keep it bounded
// when receipts never come.
type dlrStore struct {
	mu       sync.Mutex
	cur, old map[string]*dlrTrack
	rotated  time.Time
	// orphans are receipts that overtook their submit_sm_resp (it can come
	// on another bind): held briefly before they count as unknown.
	orphans map[string]orphan
}

type orphan struct {
	gw, msgID, detail string
	st                channels.State
	at                time.Time
}

const (
	orphanWait = 2 * time.Second
	maxOrphans = 100000
)

const dlrRetention = 72 * time.Hour

type dlrTrack struct {
	key, rid, ref string
	left          int
	state         channels.State
	detail        string
	submitted     time.Time // when the gateway acknowledged the submit: receipt lag starts here
}

func newDLRStore() *dlrStore {
	return &dlrStore{cur: map[string]*dlrTrack{}, old: map[string]*dlrTrack{}, rotated: time.Now(), orphans: map[string]orphan{}}
}

// track registers the parts of an acknowledged job and returns receipts
// that had arrived before it and are now complete.
func (s *dlrStore) track(j *job) []channels.Receipt {
	ids := j.ack.partIDs()
	t := &dlrTrack{key: j.b.key, rid: j.rcpt.ID, ref: ids[0], state: channels.StateDelivered, submitted: time.Now()}
	s.mu.Lock()
	defer s.mu.Unlock()
	var early []string
	for _, id := range ids {
		if s.cur[id] == t {
			continue // an HTTP gateway takes all parts under one id
		}
		s.cur[id] = t
		t.left++
		if _, ok := s.orphans[id]; ok {
			early = append(early, id)
		}
	}
	var out []channels.Receipt
	for _, id := range early {
		o := s.orphans[id]
		delete(s.orphans, id)
		if r, report, _, _ := s.resolveLocked(id, o.st, o.detail); report {
			out = append(out, r)
		}
	}
	return out
}

// expired removes and returns orphans older than orphanWait.
func (s *dlrStore) expired(now time.Time) []orphan {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []orphan
	for id, o := range s.orphans {
		if now.Sub(o.at) >= orphanWait {
			out = append(out, o)
			delete(s.orphans, id)
		}
	}
	return out
}

func (s *dlrStore) maybeRotate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.rotated) >= dlrRetention/2 {
		s.old, s.cur, s.rotated = s.cur, map[string]*dlrTrack{}, time.Now()
	}
}

// rank orders final states for a multi-part message: the worst part wins.
func rank(st channels.State) int {
	switch st {
	case channels.StateDelivered:
		return 0
	case channels.StateExpired:
		return 1
	default:
		return 2
	}
}

// resolve records a receipt for the qualified id and returns the receipt to
// report once every part has one. found is false for unknown ids; hold, when
// set, is then kept as an orphan under the same lock, so a concurrent track
// cannot miss it.
func (s *dlrStore) resolve(id string, st channels.State, detail string, hold *orphan) (r channels.Receipt, report, found bool, submitted time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, report, found, submitted = s.resolveLocked(id, st, detail)
	if !found && hold != nil {
		if len(s.orphans) >= maxOrphans {
			return r, false, false, submitted
		}
		s.orphans[id] = *hold
		return r, false, true, submitted
	}
	return r, report, found, submitted
}

// resolveLocked also returns when the part's submit was acknowledged (zero
// when the id is unknown).
func (s *dlrStore) resolveLocked(id string, st channels.State, detail string) (r channels.Receipt, report, found bool, submitted time.Time) {
	t, ok := s.cur[id]
	if ok {
		delete(s.cur, id)
	} else if t, ok = s.old[id]; ok {
		delete(s.old, id)
	}
	if !ok {
		return r, false, false, submitted
	}
	if rank(st) > rank(t.state) || t.detail == "" {
		t.state, t.detail = st, detail
	}
	t.left--
	if t.left > 0 {
		return r, false, true, t.submitted
	}
	return channels.Receipt{Channel: Name, Key: t.key, RecipientID: t.rid, Ref: t.ref, State: t.state, Detail: t.detail, At: time.Now()}, true, true, t.submitted
}

// receipt handles one parsed receipt from gateway gw.
func (c *Channel) receipt(gw, msgID string, st channels.State, detail string) {
	if st == channels.StateSent {
		c.m.receipts.WithLabelValues("intermediate").Inc()
		return // ACCEPTD / ENROUTE: not final, nothing to record yet
	}
	o := orphan{gw: gw, msgID: msgID, detail: detail, st: st, at: time.Now()}
	qid := o.qid()
	r, report, found, submitted := c.dlrs.resolve(qid, st, detail, &o)
	if !found {
		c.unknownReceipt(o) // and no room to hold it
		return
	}
	c.m.receipts.WithLabelValues(st.String()).Inc()
	if !submitted.IsZero() { // zero: held as an orphan, its submit not yet acknowledged
		c.m.receiptLag.WithLabelValues(gw).Observe(o.at.Sub(submitted).Seconds())
	}
	if report {
		c.rep.Report(context.Background(), r)
	}
}

// qid is the gateway-qualified message id, as in Result.Ref.
func (o orphan) qid() string { return o.gw + ":" + strings.TrimSpace(o.msgID) }

func (c *Channel) unknownReceipt(o orphan) {
	c.m.unknown.Inc()
	c.log.Warn("sms receipt for unknown message id", "gateway", o.gw, "message_id", short(o.msgID), "state", o.st.String())
}
