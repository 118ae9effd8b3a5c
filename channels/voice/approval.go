package voice

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alertcast/alertcast/channels/voice/wire"
)

// Going live to loudspeakers follows the two-person rule: when the policy
// says an announcement needs approval, an officer without the approver
// right only REQUESTS it; no room exists, no loudspeaker is told and no
// token is minted until a second officer — an approver who is not the
// requester — approves. An approver (or admin) who goes live is the second
// person already. Every request, decision, start and end is audited
// (Config.Audit).

// LivePolicy decides whether a live announcement needs a second officer.
// level is 1 (blue) … 4 (red); codes are the administrative codes of the
// area (6-digit county, 9-digit township, 12-digit village). The dispatch
// approval policy implements it when alertd wires voice.
type LivePolicy interface {
	NeedsApproval(level int, codes []string) bool
}

// LivePolicyFunc adapts a function to LivePolicy.
type LivePolicyFunc func(level int, codes []string) bool

// NeedsApproval calls f.
func (f LivePolicyFunc) NeedsApproval(level int, codes []string) bool { return f(level, codes) }

// ThresholdPolicy is the LivePolicy built from the voice configuration.
type ThresholdPolicy struct {
	// Levels that need approval (1 blue … 4 red).
	Levels []int
	// CountyWide: an area of a whole county (a code of 6 digits or fewer)
	// needs approval, and so does one spanning more than MaxTownships
	// townships. MaxTownships ≤ 0 means only a county code counts.
	CountyWide   bool
	MaxTownships int
}

// DefaultLivePolicy is the policy when Config.LivePolicy is nil: orange and
// red, and county-wide (the county, or more than 3 townships), need a
// second officer.
func DefaultLivePolicy() ThresholdPolicy {
	return ThresholdPolicy{Levels: []int{3, 4}, CountyWide: true, MaxTownships: 3}
}

// NeedsApproval applies the thresholds.
func (p ThresholdPolicy) NeedsApproval(level int, codes []string) bool {
	if slices.Contains(p.Levels, level) {
		return true
	}
	if !p.CountyWide {
		return false
	}
	townships := map[string]bool{}
	for _, c := range codes {
		if len(c) <= 6 {
			return true
		}
		townships[c[:min(len(c), 9)]] = true
	}
	return p.MaxTownships > 0 && len(townships) > p.MaxTownships
}

// Audit actions of live announcements (LiveAudit.Action).
const (
	AuditLiveRequest = "voice.live.request" // an officer asked to go live; waits for an approver
	AuditLiveApprove = "voice.live.approve" // an approver approved the request
	AuditLiveDeny    = "voice.live.deny"    // an approver refused it
	AuditLiveCancel  = "voice.live.cancel"  // the requester withdrew, disconnected, or the server stopped
	AuditLiveExpire  = "voice.live.expire"  // nobody decided within ApprovalTimeout
	AuditLiveStart   = "voice.live.start"   // the room opened; loudspeakers are told next
	AuditLiveEnd     = "voice.live.end"     // the room ended
)

// Approval of a live announcement (LiveAudit.Approval).
const (
	ApprovalNotRequired = "not_required"        // below the policy's thresholds
	ApprovalByStarter   = "starter_is_approver" // an approver went live: the second person is the starter
	ApprovalApproved    = "approved"            // requested by one officer, approved by another
)

// LiveAudit is one audit record of a live announcement. It is handed to
// Config.Audit, which appends it to the platform's audit log.
type LiveAudit struct {
	Action string `json:"-"`
	// Actor is the account that caused this record: the requester, the
	// approver, the officer who ended the room, or SystemActor.
	Actor      string    `json:"-"`
	Room       string    `json:"room,omitempty"`
	Request    string    `json:"request,omitempty"`
	StartedBy  string    `json:"started_by"` // who speaks (requester, publisher)
	ApprovedBy string    `json:"approved_by,omitempty"`
	Approval   string    `json:"approval,omitempty"`
	Regions    []string  `json:"regions"`
	Level      int       `json:"level"`
	Devices    int       `json:"devices,omitempty"` // loudspeakers asked to join
	Requested  time.Time `json:"requested,omitzero"`
	Started    time.Time `json:"started,omitzero"`
	Ended      time.Time `json:"ended,omitzero"`
	Reason     string    `json:"reason,omitempty"`
	// Recordings are the Ogg files of the room (end record); empty when
	// recording is off or nothing was received.
	Recordings []string `json:"recordings,omitempty"`
	Recording  string   `json:"recording,omitempty"` // start record: "on" or "off"

	// AlertID is the warning the announcement was started from (the
	// console's "speak live"); empty for one started from the voice page.
	AlertID string `json:"alert_id,omitempty"`
}

// SystemActor is the actor of records nobody asked for (expiry, shutdown).
const SystemActor = "system:voice"

// liveGrant is how a live room came to be allowed.
type liveGrant struct {
	approval   string
	approvedBy string
	request    string
	requested  time.Time
}

// liveAim is where a live announcement goes: region codes (the first one
// names it) and the warning it belongs to, if any.
type liveAim struct {
	regions []string
	alert   string
}

// aimOf reads the aim of a "live" frame: Region, then Regions without
// repeats.
func aimOf(f *wire.Frame) liveAim {
	a := liveAim{regions: []string{f.Region}, alert: f.AlertID}
	for _, r := range f.Regions {
		if !slices.Contains(a.regions, r) {
			a.regions = append(a.regions, r)
		}
	}
	return a
}

// liveRequest is a live announcement waiting for an approver.
type liveRequest struct {
	id      string
	frameID string   // the requester's "live" frame id, echoed to it
	ss      *session // the requester: it publishes once approved
	region  string   // aim.regions[0]
	aim     liveAim
	level   int
	created time.Time
	expires time.Time
	timer   *time.Timer

	// set when decided (under Server.liveMu, then read-only)
	state, by, reason string
}

func (q *liveRequest) audit(action, actor string) LiveAudit {
	return LiveAudit{Action: action, Actor: actor, Request: q.id, StartedBy: q.ss.user, ApprovedBy: approvedBy(q),
		Regions: q.aim.regions, Level: q.level, AlertID: q.aim.alert, Requested: q.created, Reason: q.reason}
}

func approvedBy(q *liveRequest) string {
	if q.state == wire.LiveApproved {
		return q.by
	}
	return ""
}

// frame is the live_request frame for an approver (id "") or the requester.
func (q *liveRequest) frame(id string) *wire.Frame {
	f := &wire.Frame{Type: wire.TypeLiveRequest, ID: id, Request: q.id, State: q.state, From: q.ss.user, Region: q.region,
		Regions: q.aim.regions[1:], AlertID: q.aim.alert, Level: q.level, By: q.by, Reason: q.reason}
	if q.state == wire.LivePending {
		f.ExpiresIn = max(1, int(time.Until(q.expires).Round(time.Second)/time.Second))
	}
	return f
}

func (ss *session) mayApprove() bool { return ss.role == RoleApprover || ss.role == RoleAdmin }

// goLive handles an officer's "live" frame: it opens the room at once when
// the policy allows it, or files a request for an approver.
func (s *Server) goLive(ss *session, f *wire.Frame) {
	level := f.Level
	if level == 0 {
		level = 4
	}
	g := liveGrant{approval: ApprovalNotRequired}
	aim := aimOf(f)
	if err := s.mayReach(ss, aim.regions); err != nil {
		ss.sendErr(f.ID, "", "forbidden", err)
		return
	}
	if s.cfg.LivePolicy.NeedsApproval(level, aim.regions) {
		if !ss.mayApprove() {
			s.requestLive(ss, f, level)
			return
		}
		g.approval = ApprovalByStarter
	}
	r, err := s.startLive(ss, aim, level, g)
	if err != nil {
		ss.sendErr(f.ID, "", "live_failed", err)
		return
	}
	ss.send(&wire.Frame{Type: wire.TypeRoom, ID: f.ID, Room: r.id, Kind: r.kind, Region: r.region, Regions: r.aim.regions[1:], AlertID: r.aim.alert, Devices: r.devices})
}

// requestLive files a live request and shows it to the requester and to
// every approver online.
func (s *Server) requestLive(ss *session, f *wire.Frame, level int) {
	now := time.Now()
	aim := aimOf(f)
	q := &liveRequest{id: randomID("req-", 8), frameID: f.ID, ss: ss, region: aim.regions[0], aim: aim, level: level,
		created: now, expires: now.Add(s.cfg.ApprovalTimeout), state: wire.LivePending}
	s.liveMu.Lock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.liveMu.Unlock()
		ss.sendErr(f.ID, "", "live_failed", errServerClosed)
		return
	}
	for _, o := range s.liveReqs {
		if o.ss == ss {
			s.liveMu.Unlock()
			ss.sendErr(f.ID, "", "request_pending", fmt.Errorf("%w: %s is still waiting for an approver", ErrRequestPending, o.id))
			return
		}
	}
	// Audit before anyone can act on it: an unaudited request never exists.
	if err := s.audit(q.audit(AuditLiveRequest, ss.user)); err != nil {
		s.liveMu.Unlock()
		ss.sendErr(f.ID, "", "live_failed", err)
		return
	}
	s.liveReqs[q.id] = q
	q.timer = time.AfterFunc(s.cfg.ApprovalTimeout, func() {
		s.goTracked(func() {
			s.resolveLive(q.id, wire.LiveExpired, SystemActor, "nobody approved within "+s.cfg.ApprovalTimeout.String())
		})
	})
	s.liveMu.Unlock()
	s.met.liveRequests.WithLabelValues(wire.LivePending).Inc()
	if s.cluster != nil {
		s.cluster.requestOpened(q, q.frame(""))
	}
	s.log.Info("voice: live announcement waits for approval", "request", q.id, "region", q.region, "level", q.level, "user", ss.user)
	s.notifyLive(q)
}

// decideLive handles "approve" and "deny". The requester may deny (withdraw)
// its own request but never approve it.
func (s *Server) decideLive(ss *session, f *wire.Frame, approve bool) {
	s.liveMu.Lock()
	q := s.liveReqs[f.Request]
	s.liveMu.Unlock()
	own := q != nil && q.ss.user == ss.user
	if q == nil && s.cluster != nil && ss.via == "" {
		// Filed on another node: decided there, under the same rules.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		node := s.cluster.requestNode(ctx, f.Request)
		if node != "" {
			s.cluster.relay(ctx, ss, node, f)
		}
		cancel()
		if node != "" {
			return
		}
	}
	switch {
	case q == nil:
		ss.sendErr(f.ID, "", "no_request", fmt.Errorf("%w: %s", ErrNoSuchRequest, f.Request))
		return
	case own && approve:
		s.log.Warn("voice: self-approval refused", "request", q.id, "user", ss.user)
		ss.sendErr(f.ID, "", "self_approval", ErrSelfApproval)
		return
	case !own && !ss.mayApprove():
		ss.sendErr(f.ID, "", "forbidden", fmt.Errorf("%w: role %s may not decide live requests", ErrForbidden, ss.role))
		return
	}
	if approve {
		// An approver approves only within their own scope.
		if err := s.mayReach(ss, q.aim.regions); err != nil {
			ss.sendErr(f.ID, "", "forbidden", err)
			return
		}
	}
	reason := f.Reason
	if !utf8.ValidString(reason) || len(reason) > 200 {
		ss.sendErr(f.ID, "", "bad_frame", frameErr("reason", "at most 200 bytes of UTF-8", reason))
		return
	}
	state := wire.LiveDenied
	switch {
	case approve:
		state = wire.LiveApproved
	case own:
		state = wire.LiveCancelled
		if reason == "" {
			reason = "withdrawn"
		}
	}
	s.resolveLive(q.id, state, ss.user, reason)
}

// resolveLive moves a pending request to its final state, audits it, tells
// the requester and the approvers, and opens the room when approved. Only
// the first decision counts.
func (s *Server) resolveLive(id, state, by, reason string) {
	s.liveMu.Lock()
	q := s.liveReqs[id]
	if q == nil {
		s.liveMu.Unlock()
		return
	}
	delete(s.liveReqs, id)
	q.timer.Stop()
	if s.cluster != nil {
		defer s.cluster.requestClosed(id)
	}
	q.state, q.by, q.reason = state, by, reason
	s.liveMu.Unlock()
	s.met.liveRequests.WithLabelValues(state).Inc()
	action := map[string]string{wire.LiveApproved: AuditLiveApprove, wire.LiveDenied: AuditLiveDeny,
		wire.LiveExpired: AuditLiveExpire, wire.LiveCancelled: AuditLiveCancel}[state]
	if err := s.audit(q.audit(action, by)); err != nil && state == wire.LiveApproved {
		// The approval must be on record before anything goes on the air.
		q.state, q.reason = wire.LiveFailed, err.Error()
	}
	s.log.Info("voice: live request "+q.state, "request", q.id, "by", by, "region", q.region, "level", q.level, "user", q.ss.user)
	if q.state != wire.LiveApproved {
		s.notifyLive(q)
		return
	}
	r, err := s.startLive(q.ss, q.aim, q.level, liveGrant{approval: ApprovalApproved, approvedBy: by, request: q.id, requested: q.created})
	if err != nil {
		q.state, q.reason = wire.LiveFailed, err.Error()
		s.notifyLive(q)
		q.ss.sendErr(q.frameID, "", "live_failed", err)
		return
	}
	s.notifyLive(q)
	q.ss.send(&wire.Frame{Type: wire.TypeRoom, ID: q.frameID, Room: r.id, Kind: r.kind, Region: r.region, Regions: r.aim.regions[1:], AlertID: r.aim.alert, Devices: r.devices})
}

// notifyLive sends the request's state to its requester and every approver.
func (s *Server) notifyLive(q *liveRequest) {
	q.ss.send(q.frame(q.frameID))
	f := q.frame("")
	for _, a := range s.approvers() {
		if a != q.ss {
			a.send(f)
		}
	}
	if s.cluster != nil {
		s.cluster.toApprovers(f)
	}
}

func (s *Server) approvers() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*session
	for ss := range s.sessions {
		if ss.mayApprove() {
			out = append(out, ss)
		}
	}
	return out
}

// sendLiveRequests shows an approver the requests waiting now (on connect
// and on every ping, so a page opened late sees them too).
func (ss *session) sendLiveRequests() {
	if !ss.mayApprove() {
		return
	}
	s := ss.s
	s.liveMu.Lock()
	qs := make([]*liveRequest, 0, len(s.liveReqs))
	for _, q := range s.liveReqs {
		if q.ss != ss {
			qs = append(qs, q)
		}
	}
	frames := make([]*wire.Frame, len(qs))
	for i, q := range qs {
		frames[i] = q.frame("")
	}
	s.liveMu.Unlock()
	if s.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		frames = append(frames, s.cluster.requestsElsewhere(ctx)...)
		cancel()
	}
	for _, f := range frames {
		ss.send(f)
	}
}

// dropLiveRequests cancels the pending requests of a session that went away
// (ss != nil) or of every session (server shutdown).
func (s *Server) dropLiveRequests(ss *session, reason string) {
	s.liveMu.Lock()
	var ids []string
	for id, q := range s.liveReqs {
		if ss == nil || q.ss == ss {
			ids = append(ids, id)
		}
	}
	s.liveMu.Unlock()
	for _, id := range ids {
		by := SystemActor
		if ss != nil {
			by = ss.user
		}
		s.resolveLive(id, wire.LiveCancelled, by, reason)
	}
}

// LiveRequests lists the live announcements waiting for an approver (for
// the API and tests).
func (s *Server) LiveRequests() []LiveRequestInfo {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	out := make([]LiveRequestInfo, 0, len(s.liveReqs))
	for _, q := range s.liveReqs {
		out = append(out, LiveRequestInfo{ID: q.id, Requester: q.ss.user, Region: q.region, Level: q.level, Requested: q.created, Expires: q.expires})
	}
	slices.SortFunc(out, func(a, b LiveRequestInfo) int { return a.Requested.Compare(b.Requested) })
	return out
}

// LiveRequestInfo describes a pending live request.
type LiveRequestInfo struct {
	ID        string    `json:"id"`
	Requester string    `json:"requester"`
	Region    string    `json:"region"`
	Level     int       `json:"level"`
	Requested time.Time `json:"requested"`
	Expires   time.Time `json:"expires"`
}

// audit hands a record to Config.Audit. A nil Audit records nothing.
func (s *Server) audit(e LiveAudit) error {
	if s.cfg.Audit == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.cfg.Audit(ctx, e); err != nil {
		s.log.Error("voice: audit record not written", "action", e.Action, "room", e.Room, "request", e.Request, "err", err)
		return fmt.Errorf("%w: %w", ErrAuditUnavailable, err)
	}
	return nil
}

// startAudit is the audit record of a live room as it opens.
func (r *room) startAudit(actor string) LiveAudit {
	rec := "off"
	if r.s.cfg.RecordDir != "" {
		rec = "on"
	}
	return LiveAudit{Action: AuditLiveStart, Actor: actor, Room: r.id, Request: r.grant.request, StartedBy: r.owner,
		ApprovedBy: r.grant.approvedBy, Approval: r.grant.approval, Regions: r.aim.regions, Level: r.level, AlertID: r.aim.alert,
		Devices: len(r.devices), Requested: r.grant.requested, Started: r.started, Recording: rec}
}

// endAudit is the audit record of a live room that ended for reason.
func (r *room) endAudit(reason string, ended time.Time) LiveAudit {
	e := r.startAudit(r.owner)
	e.Action, e.Ended, e.Reason, e.Recording = AuditLiveEnd, ended, reason, ""
	switch {
	case strings.HasPrefix(reason, "ended by "):
		e.Actor = strings.TrimPrefix(reason, "ended by ")
	case reason == "server_shutdown":
		e.Actor = SystemActor
	}
	r.mu.Lock()
	e.Recordings = slices.Clone(r.recordings)
	r.mu.Unlock()
	return e
}

// mayReach asks Config.MayReach whether ss's account may speak to regions;
// the error is an ErrForbidden naming the region and the scope.
func (s *Server) mayReach(ss *session, regions []string) error {
	if s.cfg.MayReach == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.cfg.MayReach(ctx, ss.user, regions); err != nil {
		return fmt.Errorf("%w: %v", ErrForbidden, err)
	}
	return nil
}
