package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/targeting"
)

// ErrForbidden is returned when the actor's role or relation to the warning
// does not allow the action.
var ErrForbidden = errors.New("forbidden")

// Policy is the approval policy.
type Policy struct {
	// ApprovalLevels need a second officer with the approver role before
	// they are issued. Default: orange and red.
	ApprovalLevels []Level `yaml:"approval_levels"`
	// ApproveDrills makes exercises and tests follow the same rule
	// (default false: drills at any level issue directly).
	ApproveDrills bool `yaml:"approve_drills"`
}

// DefaultPolicy is orange and red need approval.
func DefaultPolicy() Policy { return Policy{ApprovalLevels: []Level{LevelOrange, LevelRed}} }

// NeedsApproval reports whether a warning must wait for an approver.
func (p Policy) NeedsApproval(a *Alert) bool {
	if a.Status.Drill() && !p.ApproveDrills {
		return false
	}
	return slices.Contains(p.ApprovalLevels, a.Level)
}

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
	Store    *Store
	Engine   *Engine
	Registry *Registry
	Policy   Policy
	Preview  Previewer
	Logger   *slog.Logger
	Now      func() time.Time
	// OnChange is called after every stored change (for live consoles).
	OnChange func(a *Alert)
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

func (s *Service) changed(a *Alert) {
	if s.Engine != nil {
		s.Engine.Kick()
		if !a.State.Ended() || a.Kind == channels.KindAllClear {
			s.Engine.Prewarm(a)
		}
	}
	if s.OnChange != nil && a != nil {
		s.OnChange(a)
	}
}

func (s *Service) validate(in *AlertInput) (*Alert, error) {
	var regions Regions
	if s.Registry != nil {
		tree := s.Registry.Tree()
		regions = RegionsFunc(func(code string) bool { _, ok := tree.Region(code); return ok })
	}
	return in.Validate(regions, func(g string) bool { _, err := targeting.ParseGroup(g); return err == nil }, s.now())
}

// Create validates and stores a new warning. It is issued at once unless
// the policy wants approval, in which case it waits as pending. The same
// idempotency key returns the first warning (existed=true).
func (s *Service) Create(ctx context.Context, by Actor, in AlertInput, idem, source string) (*Alert, bool, error) {
	if !by.Role.Can(RoleOperator) {
		return nil, false, fmt.Errorf("%w: role %s cannot issue warnings (operator or above)", ErrForbidden, by.Role)
	}
	a, err := s.validate(&in)
	if err != nil {
		return nil, false, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	a.ID, a.Version, a.Kind = newID(now), 1, channels.KindAlert
	a.CreatedBy, a.CreatedAt, a.UpdatedAt, a.Source = by.Name, now, now, source
	action := "alert.create"
	if s.Policy.NeedsApproval(a) {
		a.State = StatePending
	} else {
		a.State, a.IssuedAt = StateIssued, now
		action = "alert.issue"
	}
	stored, existed, err := s.Store.InsertAlert(ctx, a, idem, AuditEntry{Actor: by.Name, Remote: by.Remote, Action: action,
		Detail: marshalJSON(map[string]any{"level": a.Level, "event": a.Event, "status": a.Status, "area": a.Area, "channels": a.Channels, "source": source})})
	if err != nil {
		return nil, false, err
	}
	if !existed {
		s.log().Info("warning stored", "alert_id", a.ID, "state", a.State, "level", a.Level, "event", a.Event, "by", by.Name)
		s.changed(stored)
	}
	return stored, existed, nil
}

// Approve issues a pending warning. The approver must hold the approver
// role and must not be the warning's author.
func (s *Service) Approve(ctx context.Context, by Actor, id, reason string) (*Alert, error) {
	if !by.Role.Can(RoleApprover) {
		return nil, fmt.Errorf("%w: role %s cannot approve (approver or admin)", ErrForbidden, by.Role)
	}
	a, err := s.Store.UpdateAlert(ctx, id, func(a *Alert) (Change, error) {
		if a.State != StatePending {
			return Change{}, fmt.Errorf("%w: warning is %s, only pending warnings can be approved", ErrConflict, a.State)
		}
		if a.CreatedBy == by.Name {
			return Change{}, fmt.Errorf("%w: the author of a warning cannot approve it (two-person rule)", ErrForbidden)
		}
		if !a.Expires.After(s.now()) {
			return Change{}, fmt.Errorf("%w: warning expired before approval", ErrConflict)
		}
		a.State, a.ApprovedBy, a.IssuedAt = StateIssued, by.Name, s.now().UTC().Truncate(time.Millisecond)
		return Change{Dispatch: true, Audit: AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "alert.approve", Detail: marshalJSON(map[string]string{"reason": reason})}}, nil
	})
	if err != nil {
		return nil, err
	}
	s.changed(a)
	return a, nil
}

// Reject refuses a pending warning.
func (s *Service) Reject(ctx context.Context, by Actor, id, reason string) (*Alert, error) {
	if !by.Role.Can(RoleApprover) {
		return nil, fmt.Errorf("%w: role %s cannot reject (approver or admin)", ErrForbidden, by.Role)
	}
	if reason == "" {
		return nil, &ValidationError{Problems: []channels.FieldError{{Field: "reason", Rule: "required when rejecting"}}}
	}
	a, err := s.Store.UpdateAlert(ctx, id, func(a *Alert) (Change, error) {
		if a.State != StatePending {
			return Change{}, fmt.Errorf("%w: warning is %s, only pending warnings can be rejected", ErrConflict, a.State)
		}
		a.State, a.Reason = StateRejected, reason
		return Change{Audit: AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "alert.reject", Detail: marshalJSON(map[string]string{"reason": reason})}}, nil
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
func (s *Service) End(ctx context.Context, by Actor, id string, kind channels.Kind, reason string) (*Alert, error) {
	if !by.Role.Can(RoleOperator) {
		return nil, fmt.Errorf("%w: role %s cannot end warnings (operator or above)", ErrForbidden, by.Role)
	}
	if kind != channels.KindCancel && kind != channels.KindAllClear {
		return nil, fmt.Errorf("end: kind must be cancel or allclear")
	}
	var prevVersion int
	var wasIssued bool
	a, err := s.Store.UpdateAlert(ctx, id, func(a *Alert) (Change, error) {
		if a.State.Ended() {
			return Change{}, fmt.Errorf("%w: warning is already %s", ErrConflict, a.State)
		}
		prevVersion, wasIssued = a.Version, a.State == StateIssued
		action := "alert." + kind.String()
		a.Reason = reason
		if kind == channels.KindCancel {
			a.State = StateCancelled
		} else {
			a.State = StateAllClear
		}
		if !wasIssued {
			return Change{Audit: AuditEntry{Actor: by.Name, Remote: by.Remote, Action: action, Detail: marshalJSON(map[string]string{"reason": reason})}}, nil
		}
		a.Kind, a.Round = kind, 0
		a.IssuedAt = s.now().UTC().Truncate(time.Millisecond)
		return Change{NewVersion: true, Dispatch: true, Audit: AuditEntry{Actor: by.Name, Remote: by.Remote, Action: action,
			Detail: marshalJSON(map[string]any{"reason": reason, "replaces_version": prevVersion})}}, nil
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

// Update issues a new version of an issued warning (level, area, text,
// expiry). Raising it to a level that needs approval requires an approver
// other than the original author.
func (s *Service) Update(ctx context.Context, by Actor, id string, in AlertInput) (*Alert, error) {
	if !by.Role.Can(RoleOperator) {
		return nil, fmt.Errorf("%w: role %s cannot update warnings (operator or above)", ErrForbidden, by.Role)
	}
	na, err := s.validate(&in)
	if err != nil {
		return nil, err
	}
	var prevVersion int
	a, err := s.Store.UpdateAlert(ctx, id, func(a *Alert) (Change, error) {
		if a.State != StateIssued {
			return Change{}, fmt.Errorf("%w: warning is %s, only issued warnings can be updated", ErrConflict, a.State)
		}
		if s.Policy.NeedsApproval(na) && na.Level > a.Level && (!by.Role.Can(RoleApprover) || by.Name == a.CreatedBy) {
			return Change{}, fmt.Errorf("%w: raising a warning to %s needs an approver other than its author", ErrForbidden, na.Level)
		}
		prevVersion = a.Version
		a.Event, a.Level, a.Status, a.Area, a.Audience = na.Event, na.Level, na.Status, na.Area, na.Audience
		a.Channels, a.Text, a.Onset, a.Expires, a.Rebroadcast = na.Channels, na.Text, na.Onset, na.Expires, na.Rebroadcast
		a.Kind, a.Round = channels.KindUpdate, 0
		a.IssuedAt = s.now().UTC().Truncate(time.Millisecond)
		return Change{NewVersion: true, Dispatch: true, Audit: AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "alert.update",
			Detail: marshalJSON(map[string]any{"level": na.Level, "area": na.Area, "replaces_version": prevVersion})}}, nil
	})
	if err != nil {
		return nil, err
	}
	// The old version's undelivered work is superseded by the new one.
	if n, err := s.Store.FinishRemaining(ctx, id, prevVersion, channels.StateRevoked, "superseded by version "+fmt.Sprint(a.Version)); err == nil && n > 0 {
		s.log().Info("superseded undelivered work", "alert_id", id, "version", prevVersion, "count", n)
	}
	s.changed(a)
	return a, nil
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
		a, err := s.Store.UpdateAlert(ctx, id, func(a *Alert) (Change, error) {
			if a.State != StateIssued || a.Expires.After(s.now()) {
				return Change{}, ErrConflict
			}
			a.State = StateExpired
			return Change{Audit: AuditEntry{Actor: "system", Action: "alert.expire"}}, nil
		})
		if errors.Is(err, ErrConflict) {
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
}

// PreviewAudience resolves a warning's audience without storing or sending
// anything.
func (s *Service) PreviewAudience(ctx context.Context, in AlertInput) (*PreviewResult, error) {
	a, err := s.validate(&in)
	if err != nil {
		return nil, err
	}
	aim, err := AimOf(a)
	if err != nil {
		return nil, err
	}
	res, err := s.Registry.Resolve(aim)
	if err != nil {
		return nil, err
	}
	p := res.Preview()
	out := &PreviewResult{Channels: map[string]int{}, Townships: p.Townships, Languages: p.Languages, Unplaced: p.Unplaced,
		NeedsApproval: s.Policy.NeedsApproval(a)}
	m := MessageOf(a)
	for _, ch := range a.Channels {
		switch ch {
		case "sms", "speaker":
			out.Channels[ch] = p.Channels[ch]
		case "voice":
			out.Channels[ch] = len(s.Registry.FieldEndpoints(a.Area.Codes))
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
	if au := s.programme(ctx, a); au != nil {
		out.Audio = au
		if au.ToneOnly {
			out.Warnings = append(out.Warnings, "no speech engine: loudspeakers will play the attention tone only")
		}
	}
	if p.Unplaced > 0 && (len(a.Area.Polygons) > 0 || len(a.Area.Circles) > 0) {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%d entities have no coordinates: the polygon/circle could not place them", p.Unplaced))
	}
	if out.Channels["speaker"] == 0 && a.HasChannel("speaker") {
		out.Warnings = append(out.Warnings, "no loudspeakers registered in this area")
	}
	return out, nil
}

// programme renders (or finds in the cache) the loudspeaker programme of a
// warning, or nil when it has no loudspeaker or voice channel.
func (s *Service) programme(ctx context.Context, a *Alert) *channels.Audio {
	if s.Engine == nil || s.Engine.cfg.Audio == nil || !(a.HasChannel("speaker") || a.HasChannel("voice")) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	au, err := s.Engine.cfg.Audio.RenderAlert(ctx, a)
	if err != nil {
		s.log().Warn("programme render for preview failed", "alert_id", a.ID, "err", err)
		return nil
	}
	return au
}
