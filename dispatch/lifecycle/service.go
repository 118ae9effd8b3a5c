package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/paulmach/orb"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/engine"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// Previewer adds channel-specific figures to an audience preview. Each
// field is optional.
type Previewer struct {
	// Subscribers counts WebSocket subscribers the warning would reach.
	Subscribers func(m *channels.Message) int
	// SMSParts returns SMS parts per language.
	SMSParts func(m *channels.Message) map[string]int
	// OfflineSpeakers returns how many of the given speakers are offline.
	OfflineSpeakers func(ctx context.Context, ids []string) int
}

// Service is the warning lifecycle: create, approve, reject, update,
// cancel, all-clear, expire. Every change is audited with the actor.
type Service struct {
	Store      *dispatch.Store
	Engine     *engine.Engine
	Population *dispatch.PopulationIndex
	Policy     dispatch.Policy
	Preview    Previewer
	Logger     *slog.Logger
	Now        func() time.Time
	// OnChange is called after every stored change (for live consoles).
	OnChange func(a *dispatch.Alert)
	// Outline returns a county's outline, for scope checks of drawn areas;
	// nil: the embedded outlines (targeting.CountyOutline).
	Outline func(county string) (orb.MultiPolygon, error)
}

// Scope returns the scope guard every entry point asks (scope.go in
// dispatch): withRecipients also resolves a drawn area against the
// population, which is for a version about to be stored, not for one
// read back inside a transaction.
func (s *Service) Scope(withRecipients bool) dispatch.ScopeGuard {
	g := dispatch.ScopeGuard{Outline: s.Outline}
	if s.Population != nil {
		g.Tree = s.Population.Tree()
		if withRecipients {
			g.Resolve = s.Population.Resolve
		}
	}
	return g
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Service) changed(a *dispatch.Alert) {
	if s.Engine != nil {
		s.Engine.Kick()
		if !a.State.Ended() || a.Kind == warning.KindAllClear {
			s.Engine.Prewarm(a)
		}
	}
	if s.OnChange != nil && a != nil {
		s.OnChange(a)
	}
}

func (s *Service) validate(in *dispatch.AlertInput) (*dispatch.Alert, error) {
	var regions dispatch.Regions
	if s.Population != nil {
		tree := s.Population.Tree()
		regions = dispatch.RegionsFunc(func(code string) bool { _, ok := tree.Region(code); return ok })
	}
	return in.Validate(regions, func(g string) bool { _, err := targeting.ParseGroup(g); return err == nil }, s.now())
}

// Create validates and stores a new warning. It is issued at once unless
// the policy wants approval, in which case it waits as pending. The same
// idempotency key returns the first warning (existed=true).
func (s *Service) Create(ctx context.Context, by dispatch.Actor, in dispatch.AlertInput, idem, source string) (*dispatch.Alert, bool, error) {
	origin := dispatch.OriginAPI
	if source == "console" {
		origin = dispatch.OriginConsole
	}
	a, existed, _, err := s.create(ctx, by, in, createOpts{idem: idem, source: source, origin: origin})
	return a, existed, err
}

// createOpts say how a new warning came in.
type createOpts struct {
	idem, source string
	origin       dispatch.Origin
	// approval, approvalReason: an approval given in advance (an auto CAP
	// rule for an authenticated sender, a schedule's approver).
	approval, approvalReason string
	// review makes it wait for an approver whatever the policy says (a CAP
	// review rule), with this reason.
	review string
	// why is recorded in the audit entry.
	why string
}

// create runs a new warning through the policy and stores it issued or
// pending.
func (s *Service) create(ctx context.Context, by dispatch.Actor, in dispatch.AlertInput, o createOpts) (*dispatch.Alert, bool, dispatch.Decision, error) {
	if !by.Role.Can(dispatch.RoleOperator) {
		return nil, false, dispatch.Decision{}, fmt.Errorf("%w: role %s cannot issue warnings (operator or above)", dispatch.ErrForbidden, by.Role)
	}
	a, err := s.validate(&in)
	if err != nil {
		return nil, false, dispatch.Decision{}, err
	}
	if err := s.Scope(true).CheckAlert(by, a); err != nil {
		return nil, false, dispatch.Decision{}, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	a.ID, a.Version, a.Kind = dispatch.NewID(now), 1, warning.KindAlert
	a.CreatedBy, a.CreatedAt, a.UpdatedAt, a.Source = by.Name, now, now, o.source
	a.Authors = []string{by.Name}
	if err := s.freezeGuidance(ctx, a); err != nil {
		return nil, false, dispatch.Decision{}, err
	}
	d := s.decide(dispatch.Request{By: by, Origin: o.origin, Next: a, Approval: o.approval, ApprovalReason: o.approvalReason, Authors: a.Authors})
	if d.Outcome == dispatch.OutcomeForbidden {
		return nil, false, d, fmt.Errorf("%w: %s", dispatch.ErrForbidden, d.Reason)
	}
	if o.review != "" {
		d.Outcome, d.Reason, d.ApprovedBy, d.ApprovalReason = dispatch.OutcomeWait, o.review, "", ""
	}
	a.Changes = d.Changes
	action := "alert.create"
	if d.Waits() {
		a.State = warning.StatePending
	} else {
		a.State, a.IssuedAt = warning.StateIssued, now
		if d.ApprovedBy != "" {
			a.ApprovedBy, a.ApprovedAt, a.ApprovalReason = d.ApprovedBy, now, d.ApprovalReason
		}
		action = "alert.issue"
	}
	detail := map[string]any{"level": a.Level, "event": a.Event, "status": a.Status, "area": a.Area, "channels": a.Channels, "source": o.source,
		"origin": o.origin.String(), "authors": a.Authors, "changes": a.Changes, "policy": d.Reason}
	if a.ApprovedBy != "" {
		detail["approved_by"], detail["approval_reason"] = a.ApprovedBy, a.ApprovalReason
	}
	if a.GuidanceDigest != "" {
		detail["guidance_digest"] = a.GuidanceDigest
	}
	if o.why != "" {
		detail["why"] = o.why
	}
	stored, existed, err := s.Store.InsertAlert(ctx, a, o.idem, dispatch.AuditEntry{Actor: by.Name, Remote: by.Remote, Action: action, Detail: dispatch.AuditDetail(detail)})
	if err != nil {
		return nil, false, d, err
	}
	if !existed {
		s.log().Info("warning stored", "alert_id", a.ID, "state", a.State, "level", a.Level, "event", a.Event, "by", by.Name, "origin", o.origin, "policy", d.Reason)
		s.changed(stored)
	}
	return stored, existed, d, nil
}

func (s *Service) decide(r dispatch.Request) dispatch.Decision {
	var tree *targeting.Tree
	if s.Population != nil {
		tree = s.Population.Tree()
	}
	return s.Policy.Decide(r, tree)
}

// Approve issues a pending warning, or the pending update of an issued one
// as its next version. The approver must hold the approver role and must
// have authored none of the version they approve.
func (s *Service) Approve(ctx context.Context, by dispatch.Actor, id, reason string) (*dispatch.Alert, error) {
	return s.ApproveSeen(ctx, by, id, reason, "")
}

// ApproveSeen is Approve bound to the guidance the approver saw: when seen
// is not empty, the version is approved only if its frozen guidance has
// that digest (a proposal replaced since the approver looked is refused
// with ErrConflict, not approved unseen). A version that asks an action
// but has no frozen guidance (submitted before guidance was frozen with
// versions) is refused: its author must submit it again, so that the
// approver sees each village's sentence.
func (s *Service) ApproveSeen(ctx context.Context, by dispatch.Actor, id, reason, seen string) (*dispatch.Alert, error) {
	if !by.Role.Can(dispatch.RoleApprover) {
		return nil, fmt.Errorf("%w: role %s cannot approve (approver or admin)", dispatch.ErrForbidden, by.Role)
	}
	var superseded int
	scope := s.Scope(false)
	a, err := s.Store.UpdateAlert(ctx, id, func(a *dispatch.Alert) (dispatch.Change, error) {
		// An approver approves only within their scope: the version on
		// air and the one waiting.
		if err := scope.CheckAlert(by, a); err != nil {
			return dispatch.Change{}, err
		}
		if err := scope.CheckAlert(by, a.Pending); err != nil {
			return dispatch.Change{}, err
		}
		now := s.now().UTC().Truncate(time.Millisecond)
		switch {
		case a.State == warning.StatePending:
			if slices.Contains(a.AuthorsOf(), by.Name) {
				return dispatch.Change{}, fmt.Errorf("%w: %s wrote this warning and cannot approve it (two-person rule)", dispatch.ErrForbidden, by.Name)
			}
			if err := s.Policy.CheckApprovalReason(a.Level, reason); err != nil {
				return dispatch.Change{}, err
			}
			if !a.Expires.After(s.now()) {
				return dispatch.Change{}, fmt.Errorf("%w: warning expired before approval", dispatch.ErrConflict)
			}
			if err := checkSeenGuidance(a, seen); err != nil {
				return dispatch.Change{}, err
			}
			a.State, a.IssuedAt = warning.StateIssued, now
			a.ApprovedBy, a.ApprovedAt, a.ApprovalReason = by.Name, now, reason
			return dispatch.Change{Dispatch: true, Audit: dispatch.AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "alert.approve",
				Detail: dispatch.AuditDetail(guidanceDetail(map[string]any{"reason": reason, "version": a.Version, "authors": a.AuthorsOf()}, a))}}, nil
		case a.State == warning.StateIssued && a.Pending != nil:
			p := a.Pending
			if slices.Contains(p.AuthorsOf(), by.Name) {
				return dispatch.Change{}, fmt.Errorf("%w: %s wrote this update and cannot approve it (two-person rule)", dispatch.ErrForbidden, by.Name)
			}
			if err := s.Policy.CheckApprovalReason(p.Level, reason); err != nil {
				return dispatch.Change{}, err
			}
			if !p.Expires.After(s.now()) {
				return dispatch.Change{}, fmt.Errorf("%w: the pending update expired before approval", dispatch.ErrConflict)
			}
			if err := checkSeenGuidance(p, seen); err != nil {
				return dispatch.Change{}, err
			}
			superseded = a.Version
			next := *p
			next.ID, next.Version, next.CreatedBy, next.CreatedAt, next.Source = a.ID, a.Version, a.CreatedBy, a.CreatedAt, a.Source
			next.State, next.Kind, next.Round, next.IssuedAt, next.Pending = warning.StateIssued, warning.KindUpdate, 0, now, nil
			next.ApprovedBy, next.ApprovedAt, next.ApprovalReason = by.Name, now, reason
			*a = next
			return dispatch.Change{NewVersion: true, Dispatch: true, Audit: dispatch.AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "alert.approve",
				Detail: dispatch.AuditDetail(guidanceDetail(map[string]any{"reason": reason, "version": a.Version + 1, "replaces_version": superseded,
					"authors": a.AuthorsOf(), "changes": a.Changes}, a))}}, nil
		case a.State == warning.StateIssued:
			return dispatch.Change{}, fmt.Errorf("%w: warning is issued and has no update waiting for approval", dispatch.ErrConflict)
		}
		return dispatch.Change{}, fmt.Errorf("%w: warning is %s, only pending warnings or pending updates can be approved", dispatch.ErrConflict, a.State)
	})
	if err != nil {
		return nil, err
	}
	if superseded > 0 {
		s.supersede(ctx, a, superseded)
	}
	s.changed(a)
	return a, nil
}

// checkSeenGuidance refuses to approve version v when it asks an action
// but carries no frozen guidance, or when the approver saw another
// guidance than the one it carries.
func checkSeenGuidance(v *dispatch.Alert, seen string) error {
	if v.GuidanceApplies() && v.GuidanceDigest == "" {
		return fmt.Errorf("%w: this version asks people to %s but was submitted before per-village guidance was stored with versions: "+
			"it cannot be approved as it is; its author must submit it again so that each village's sentence can be reviewed", dispatch.ErrConflict, v.Action.Type)
	}
	if seen != "" && seen != v.GuidanceDigest {
		return fmt.Errorf("%w: the guidance of the version waiting (%.12s) is not the one you reviewed (%.12s): the proposal changed; review it again",
			dispatch.ErrConflict, v.GuidanceDigest, seen)
	}
	return nil
}

// guidanceDetail adds a version's guidance digest to an audit detail.
func guidanceDetail(detail map[string]any, v *dispatch.Alert) map[string]any {
	if v.GuidanceDigest != "" {
		detail["guidance_digest"] = v.GuidanceDigest
	}
	return detail
}

// freezeGuidance computes and sets the guidance of version a (see
// dispatch.FreezeGuidance), stored with it by the store.
func (s *Service) freezeGuidance(ctx context.Context, a *dispatch.Alert) error {
	var pts dispatch.VillagePointer
	if s.Population != nil {
		pts = s.Population
	}
	if err := dispatch.FreezeGuidance(ctx, s.Store, pts, a); err != nil {
		return fmt.Errorf("evacuation guidance: %w", err)
	}
	return nil
}

// supersede drops the undelivered work of the version a replaced.
func (s *Service) supersede(ctx context.Context, a *dispatch.Alert, prevVersion int) {
	if n, err := s.Store.FinishRemaining(ctx, a.ID, prevVersion, channels.StateRevoked, "superseded by version "+fmt.Sprint(a.Version)); err == nil && n > 0 {
		s.log().Info("superseded undelivered work", "alert_id", a.ID, "version", prevVersion, "count", n)
	}
}

// Reject refuses a pending warning, or the pending update of an issued one
// (the version on air stays).
func (s *Service) Reject(ctx context.Context, by dispatch.Actor, id, reason string) (*dispatch.Alert, error) {
	if !by.Role.Can(dispatch.RoleApprover) {
		return nil, fmt.Errorf("%w: role %s cannot reject (approver or admin)", dispatch.ErrForbidden, by.Role)
	}
	if reason == "" {
		return nil, &dispatch.ValidationError{Problems: []warning.FieldError{{Field: "reason", Rule: "required when rejecting"}}}
	}
	scope := s.Scope(false)
	a, err := s.Store.UpdateAlert(ctx, id, func(a *dispatch.Alert) (dispatch.Change, error) {
		if err := scope.CheckAlert(by, a); err != nil {
			return dispatch.Change{}, err
		}
		if err := scope.CheckAlert(by, a.Pending); err != nil {
			return dispatch.Change{}, err
		}
		switch {
		case a.State == warning.StatePending:
			a.State, a.Reason = warning.StateRejected, reason
			return dispatch.Change{Audit: dispatch.AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "alert.reject", Detail: dispatch.AuditDetail(map[string]string{"reason": reason})}}, nil
		case a.State == warning.StateIssued && a.Pending != nil:
			p := a.Pending
			a.Pending = nil
			return dispatch.Change{Audit: dispatch.AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "alert.reject",
				Detail: dispatch.AuditDetail(map[string]any{"reason": reason, "rejected": "pending update", "level": p.Level, "authors": p.AuthorsOf(), "changes": p.Changes, "kept_version": a.Version})}}, nil
		}
		return dispatch.Change{}, fmt.Errorf("%w: warning is %s with no update waiting, only pending warnings or pending updates can be rejected", dispatch.ErrConflict, a.State)
	})
	if err != nil {
		return nil, err
	}
	s.changed(a)
	return a, nil
}

// End cancels (sent in error / no longer needed) or lifts (all-clear) a
// warning. A pending warning is simply withdrawn; an issued one gets a new
// version of kind cancel/allclear that goes to everyone reached before, and
// the old version's undelivered work is revoked.
func (s *Service) End(ctx context.Context, by dispatch.Actor, id string, kind warning.Kind, reason string) (*dispatch.Alert, error) {
	if !by.Role.Can(dispatch.RoleOperator) {
		return nil, fmt.Errorf("%w: role %s cannot end warnings (operator or above)", dispatch.ErrForbidden, by.Role)
	}
	if kind != warning.KindCancel && kind != warning.KindAllClear {
		return nil, fmt.Errorf("end: kind must be cancel or allclear")
	}
	var prevVersion int
	var wasIssued bool
	scope := s.Scope(false)
	a, err := s.Store.UpdateAlert(ctx, id, func(a *dispatch.Alert) (dispatch.Change, error) {
		// Ending a warning changes what is said wherever it reaches: only
		// within the actor's scope.
		if err := scope.CheckAlert(by, a); err != nil {
			return dispatch.Change{}, err
		}
		if a.State.Ended() {
			return dispatch.Change{}, fmt.Errorf("%w: warning is already %s", dispatch.ErrConflict, a.State)
		}
		prevVersion, wasIssued = a.Version, a.State == warning.StateIssued
		action := "alert." + kind.String()
		a.Reason = reason
		// Ending never waits; an update still waiting for approval ends too.
		dropped := a.Pending != nil
		a.Pending = nil
		if kind == warning.KindCancel {
			a.State = warning.StateCancelled
		} else {
			a.State = warning.StateAllClear
		}
		if !wasIssued {
			return dispatch.Change{Audit: dispatch.AuditEntry{Actor: by.Name, Remote: by.Remote, Action: action, Detail: dispatch.AuditDetail(map[string]string{"reason": reason})}}, nil
		}
		a.Kind, a.Round = kind, 0
		a.IssuedAt = s.now().UTC().Truncate(time.Millisecond)
		a.Authors, a.Changes = []string{by.Name}, []dispatch.ChangeKind{dispatch.ChangeEnd}
		a.ApprovedBy, a.ApprovedAt, a.ApprovalReason = "", time.Time{}, ""
		return dispatch.Change{NewVersion: true, Dispatch: true, Audit: dispatch.AuditEntry{Actor: by.Name, Remote: by.Remote, Action: action,
			Detail: dispatch.AuditDetail(map[string]any{"reason": reason, "replaces_version": prevVersion, "dropped_pending_update": dropped})}}, nil
	})
	if err != nil {
		return nil, err
	}
	if wasIssued {
		for v := 1; v <= prevVersion; v++ {
			if n, err := s.Store.FinishRemaining(ctx, id, v, channels.StateRevoked, "warning "+a.State.String()); err != nil {
				s.log().Error("revoke remaining deliveries", "alert_id", id, "err", err)
			} else if n > 0 {
				s.log().Info("revoked undelivered work", "alert_id", id, "version", v, "count", n)
			}
		}
	}
	s.changed(a)
	return a, nil
}

// Update proposes a new version of an issued warning (level, area, text,
// expiry, …). The policy decides: the new version is issued at once, or it
// waits beside the version on air until an approver who authored none of
// it approves (then the returned warning has Pending set). An update made
// while another waits replaces it and carries its authors.
func (s *Service) Update(ctx context.Context, by dispatch.Actor, id string, in dispatch.AlertInput) (*dispatch.Alert, error) {
	a, _, err := s.update(ctx, by, id, in, updateOpts{origin: dispatch.OriginAPI})
	return a, err
}

// updateOpts say how an update came in.
type updateOpts struct {
	origin                   dispatch.Origin
	approval, approvalReason string // an approval given in advance (an auto CAP rule for an authenticated sender)
	source                   string // audit: e.g. the CAP identifier
}

func (s *Service) update(ctx context.Context, by dispatch.Actor, id string, in dispatch.AlertInput, o updateOpts) (*dispatch.Alert, dispatch.Decision, error) {
	if !by.Role.Can(dispatch.RoleOperator) {
		return nil, dispatch.Decision{}, fmt.Errorf("%w: role %s cannot update warnings (operator or above)", dispatch.ErrForbidden, by.Role)
	}
	na, err := s.validate(&in)
	if err != nil {
		return nil, dispatch.Decision{}, err
	}
	if err := s.Scope(true).CheckAlert(by, na); err != nil {
		return nil, dispatch.Decision{}, err
	}
	// The guidance depends on the update's action and the shelters of now
	// only: computed before the write transaction, which must not wait on
	// another connection of the pool.
	frozen := *na
	frozen.Kind = warning.KindUpdate
	if err := s.freezeGuidance(ctx, &frozen); err != nil {
		return nil, dispatch.Decision{}, err
	}
	var prevVersion int
	var d dispatch.Decision
	scope := s.Scope(false)
	a, err := s.Store.UpdateAlert(ctx, id, func(a *dispatch.Alert) (dispatch.Change, error) {
		// The version on air must be within scope too: narrowing another
		// county's warning to one's own would take it off the air there.
		if err := scope.CheckAlert(by, a); err != nil {
			return dispatch.Change{}, err
		}
		if a.State != warning.StateIssued {
			return dispatch.Change{}, fmt.Errorf("%w: warning is %s, only issued warnings can be updated", dispatch.ErrConflict, a.State)
		}
		now := s.now().UTC().Truncate(time.Millisecond)
		next := *a
		next.Event, next.Level, next.Status, next.Area, next.Audience = na.Event, na.Level, na.Status, na.Area, na.Audience
		next.Channels, next.Text, next.Onset, next.Expires, next.Rebroadcast = na.Channels, na.Text, na.Onset, na.Expires, na.Rebroadcast
		next.Action = na.Action
		next.Kind, next.Round, next.Pending = warning.KindUpdate, 0, nil
		next.ApprovedBy, next.ApprovedAt, next.ApprovalReason = "", time.Time{}, ""
		next.Authors = []string{by.Name}
		// The update's guidance, computed again from the shelters of now
		// (below, outside this transaction), is frozen with it; a
		// difference from the version on air is a text change for the
		// policy.
		next.Guidance, next.GuidanceDigest = frozen.Guidance, frozen.GuidanceDigest
		if a.Pending != nil {
			// Built on a proposal still waiting: its authors wrote this too.
			for _, au := range a.Pending.AuthorsOf() {
				if !slices.Contains(next.Authors, au) {
					next.Authors = append(next.Authors, au)
				}
			}
		}
		d = s.decide(dispatch.Request{By: by, Origin: o.origin, Prev: a, Next: &next, Approval: o.approval, ApprovalReason: o.approvalReason, Authors: next.Authors})
		if d.Outcome == dispatch.OutcomeForbidden {
			return dispatch.Change{}, fmt.Errorf("%w: %s", dispatch.ErrForbidden, d.Reason)
		}
		next.Changes = d.Changes
		detail := map[string]any{"level": na.Level, "status": na.Status, "area": na.Area, "origin": o.origin.String(),
			"authors": next.Authors, "changes": next.Changes, "policy": d.Reason}
		if o.source != "" {
			detail["source"] = o.source
		}
		if next.GuidanceDigest != "" {
			detail["guidance_digest"] = next.GuidanceDigest
		}
		if d.Waits() {
			next.State, next.IssuedAt, next.UpdatedAt = warning.StatePending, time.Time{}, now
			next.Version = a.Version + 1
			a.Pending = &next
			detail["proposed_version"] = next.Version
			return dispatch.Change{Audit: dispatch.AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "alert.update_proposed", Detail: dispatch.AuditDetail(detail)}}, nil
		}
		if a.Pending != nil {
			detail["dropped_pending_update"] = true
		}
		prevVersion = a.Version
		next.IssuedAt = now
		if d.ApprovedBy != "" {
			next.ApprovedBy, next.ApprovedAt, next.ApprovalReason = d.ApprovedBy, now, d.ApprovalReason
			detail["approved_by"] = d.ApprovedBy
		}
		*a = next
		detail["replaces_version"] = prevVersion
		return dispatch.Change{NewVersion: true, Dispatch: true, Audit: dispatch.AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "alert.update", Detail: dispatch.AuditDetail(detail)}}, nil
	})
	if err != nil {
		return nil, d, err
	}
	if prevVersion > 0 {
		// The old version's undelivered work is superseded by the new one.
		s.supersede(ctx, a, prevVersion)
	}
	s.changed(a)
	return a, d, nil
}

// ExpireDue marks issued warnings past their expiry as expired and drops
// their undelivered work. It returns how many expired.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	ids, err := s.Store.ExpiredIssued(ctx, s.now())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		a, err := s.Store.UpdateAlert(ctx, id, func(a *dispatch.Alert) (dispatch.Change, error) {
			if a.State != warning.StateIssued || a.Expires.After(s.now()) {
				return dispatch.Change{}, dispatch.ErrConflict
			}
			a.State, a.Pending = warning.StateExpired, nil
			return dispatch.Change{Audit: dispatch.AuditEntry{Actor: "system", Action: "alert.expire"}}, nil
		})
		if errors.Is(err, dispatch.ErrConflict) {
			continue
		}
		if err != nil {
			return n, err
		}
		for v := 1; v <= a.Version; v++ {
			_, _ = s.Store.FinishRemaining(ctx, id, v, channels.StateExpired, "warning expired")
		}
		n++
		s.log().Info("warning expired", "alert_id", id)
		s.changed(a)
	}
	return n, nil
}

// PreviewResult is who a warning would reach, before sending.
type PreviewResult struct {
	Channels  map[string]int `json:"channels"`
	Townships map[string]int `json:"townships"`
	Languages map[string]int `json:"languages"`
	Unplaced  int            `json:"unplaced"`
	SMSParts  map[string]int `json:"sms_parts,omitempty"`
	Warnings  []string       `json:"warnings,omitempty"`
	// Audio is the loudspeaker programme as it would play (rendered now,
	// cached for the issue).
	Audio         *channels.Audio `json:"audio,omitempty"`
	NeedsApproval bool            `json:"needs_approval"`
	// Shelters is, for an evacuate to shelters, each shelter's load;
	// ShelterWarnings are its typed warnings (preview_shelters.go).
	Shelters        []ShelterLoad    `json:"shelters,omitempty"`
	ShelterWarnings []PreviewWarning `json:"shelter_warnings,omitempty"`
	// Guidance is, for a warning with an action, each village's sentence
	// as it would be frozen if submitted now (the submitted version keeps
	// its own, shown to the approver).
	Guidance *GuidanceView `json:"guidance,omitempty"`
}

// PreviewAudience resolves a warning's audience without storing or sending
// anything.
func (s *Service) PreviewAudience(ctx context.Context, in dispatch.AlertInput) (*PreviewResult, error) {
	a, err := s.validate(&in)
	if err != nil {
		return nil, err
	}
	aim, err := dispatch.AimOf(a)
	if err != nil {
		return nil, err
	}
	res, err := s.Population.Resolve(aim)
	if err != nil {
		return nil, err
	}
	p := res.Preview()
	out := &PreviewResult{Channels: map[string]int{}, Townships: p.Townships, Languages: p.Languages, Unplaced: p.Unplaced,
		NeedsApproval: s.Policy.NeedsApproval(a)}
	m := dispatch.MessageOf(a)
	for _, ch := range a.Channels {
		switch ch {
		case "sms", "speaker":
			out.Channels[ch] = p.Channels[ch]
		case "voice":
			out.Channels[ch] = len(s.Population.FieldEndpoints(a.Area.Codes))
		case "websocket":
			if s.Preview.Subscribers != nil {
				out.Channels[ch] = s.Preview.Subscribers(m)
			} else {
				out.Channels[ch] = 0
			}
		}
	}
	if a.HasChannel("sms") && s.Preview.SMSParts != nil {
		out.SMSParts = s.Preview.SMSParts(m)
	}
	if a.HasChannel("speaker") && s.Preview.OfflineSpeakers != nil {
		if n := s.Preview.OfflineSpeakers(ctx, res.Speakers()); n > 0 {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%d speakers in this area are offline: they will play when they reconnect (until expiry)", n))
		}
	}
	if au := s.Programme(ctx, a); au != nil {
		out.Audio = au
		if au.ToneOnly {
			out.Warnings = append(out.Warnings, "no speech engine: loudspeakers will play the attention tone only")
		}
	}
	if p.Unplaced > 0 && (len(a.Area.Polygons) > 0 || len(a.Area.Circles) > 0) {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%d entities have no coordinates: the polygon/circle could not place them", p.Unplaced))
	}
	// The guidance this warning would be frozen with if submitted now.
	a.Kind = warning.KindAlert
	if err := s.freezeGuidance(ctx, a); err != nil {
		return nil, err
	}
	if a.Guidance != nil {
		if out.Guidance, err = s.guidanceView(a, a.Guidance, a.GuidanceDigest, res); err != nil {
			return nil, err
		}
	}
	if err := s.shelterPreview(ctx, a, a.Guidance, res, out); err != nil {
		return nil, err
	}
	if out.Channels["speaker"] == 0 && a.HasChannel("speaker") {
		out.Warnings = append(out.Warnings, "no loudspeakers registered in this area")
	}
	return out, nil
}

// programme renders (or finds in the cache) the loudspeaker programme of a
// warning, or nil when it has no loudspeaker or voice channel.
func (s *Service) Programme(ctx context.Context, a *dispatch.Alert) *channels.Audio {
	if s.Engine == nil || s.Engine.Audio() == nil || !(a.HasChannel("speaker") || a.HasChannel("voice")) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	au, err := s.Engine.Audio().RenderAlert(ctx, a)
	if err != nil {
		s.log().Warn("programme render for preview failed", "alert_id", a.ID, "err", err)
		return nil
	}
	return au
}
