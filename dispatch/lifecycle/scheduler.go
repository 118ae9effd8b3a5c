package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
)

// NewSchedule validates and stores a schedule.
func (s *Service) NewSchedule(ctx context.Context, by dispatch.Actor, sc dispatch.Schedule) (*dispatch.Schedule, error) {
	if !by.Role.Can(dispatch.RoleOperator) {
		return nil, fmt.Errorf("%w: role %s cannot schedule (operator or above)", dispatch.ErrForbidden, by.Role)
	}
	var ve dispatch.ValidationError
	if _, err := dispatch.ParseSchedule(sc.Spec); err != nil {
		ve.Add("spec", err.Error(), sc.Spec)
	}
	switch sc.Kind {
	case dispatch.ScheduleRebroadcast:
		a, err := s.Store.Alert(ctx, sc.AlertID)
		if err != nil {
			ve.Add("alert_id", "must name an existing warning", sc.AlertID)
		} else if !a.State.Active() {
			ve.Add("alert_id", "the warning is not active", sc.AlertID)
		} else if err := s.Scope(false).CheckAlert(by, a); err != nil {
			return nil, err
		}
		sc.ID = "rb:" + sc.AlertID
	case dispatch.ScheduleDrill, dispatch.ScheduleBulletin:
		if sc.Body == nil {
			ve.Add("body", "required: the warning to issue each time", "")
		} else {
			in := *sc.Body
			if sc.Kind == dispatch.ScheduleDrill && in.Status != "test" {
				in.Status = "exercise"
			}
			if sc.TTL <= 0 {
				sc.TTL = time.Hour
			}
			in.Expires = s.now().Add(sc.TTL).Format(time.RFC3339)
			if a, err := s.validate(&in); err == nil {
				if err := s.Scope(true).CheckAlert(by, a); err != nil {
					return nil, err
				}
				sc.NeedsApproval = s.Policy.NeedsApproval(a)
			} else {
				var vin *dispatch.ValidationError
				if errors.As(err, &vin) {
					for _, p := range vin.Problems {
						ve.Add("body."+p.Field, p.Rule, p.Value)
					}
				}
			}
			sc.Body = &in
		}
		sc.ID = fmt.Sprintf("%s:%s", sc.Kind, dispatch.NewID(s.now()))
	default:
		ve.Add("kind", "must be rebroadcast, drill or bulletin", sc.Kind)
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	sc.CreatedBy, sc.CreatedAt, sc.LastFired, sc.Active = by.Name, now, now, true
	if err := s.Store.SaveSchedule(ctx, &sc, by); err != nil {
		return nil, err
	}
	return &sc, nil
}

// Rebroadcast issues the warning's content again on the loudspeakers only,
// as a new version (round) of kind update.
func (s *Service) Rebroadcast(ctx context.Context, id string) (*dispatch.Alert, error) {
	a, err := s.Store.UpdateAlert(ctx, id, func(a *dispatch.Alert) (dispatch.Change, error) {
		if a.State != warning.StateIssued || !a.Expires.After(s.now()) {
			return dispatch.Change{}, fmt.Errorf("%w: warning is %s", dispatch.ErrConflict, a.State)
		}
		if !a.HasChannel("speaker") {
			return dispatch.Change{}, fmt.Errorf("%w: warning has no speaker channel", dispatch.ErrConflict)
		}
		// The same content again: no change for the policy, so nothing
		// waits; the round keeps its version's authors and approval.
		a.Kind, a.Round, a.Changes = warning.KindUpdate, a.Round+1, nil
		if a.Pending != nil {
			a.Pending.Version = a.Version + 2 // still the version after this round
		}
		a.IssuedAt = s.now().UTC().Truncate(time.Millisecond)
		return dispatch.Change{NewVersion: true, Dispatch: true, Audit: dispatch.AuditEntry{Actor: "scheduler", Action: "alert.rebroadcast",
			Detail: dispatch.AuditDetail(map[string]int{"round": a.Round})}}, nil
	})
	if err != nil {
		return nil, err
	}
	s.changed(a)
	return a, nil
}

// Scheduler fires schedules on the one node that holds the Redis lease.
type Scheduler struct {
	Service *Service
	Redis   redis.UniversalClient
	NodeID  string
	Logger  *slog.Logger
	// Lease is how long leadership lasts without renewal (default 10 s).
	Lease time.Duration
	// Grace is how late a missed fire may still run after a restart
	// (default 10 min); older ones are skipped and logged.
	Grace time.Duration
	// Tick is how often schedules are checked (default 1 s).
	Tick time.Duration

	leader atomic.Bool // read by Leader from other goroutines
}

const leaderKey = "alertcast:scheduler:leader"

var renewScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`)

// Run fires due schedules until ctx is done.
func (sc *Scheduler) Run(ctx context.Context) {
	if sc.Lease <= 0 {
		sc.Lease = 10 * time.Second
	}
	if sc.Grace <= 0 {
		sc.Grace = 10 * time.Minute
	}
	if sc.Tick <= 0 {
		sc.Tick = time.Second
	}
	log := sc.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(sc.Tick)
	defer t.Stop()
	defer func() {
		if sc.leader.Load() {
			// Hand over at once.
			_ = sc.Redis.Eval(context.Background(), `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`, []string{leaderKey}, sc.NodeID).Err()
		}
	}()
	for {
		lead := sc.lead(ctx)
		if lead != sc.leader.Load() {
			sc.leader.Store(lead)
			log.Info("scheduler leadership", "leader", lead, "node", sc.NodeID)
		}
		if lead {
			if err := sc.fireDue(ctx, log); err != nil && ctx.Err() == nil {
				log.Error("scheduler", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Leader reports whether this node held the lease at the last tick.
func (sc *Scheduler) Leader() bool { return sc.leader.Load() }

func (sc *Scheduler) lead(ctx context.Context) bool {
	px := sc.Lease.Milliseconds()
	if sc.leader.Load() {
		n, err := renewScript.Run(ctx, sc.Redis, []string{leaderKey}, sc.NodeID, strconv.FormatInt(px, 10)).Int()
		return err == nil && n == 1
	}
	ok, err := sc.Redis.SetNX(ctx, leaderKey, sc.NodeID, sc.Lease).Result()
	return err == nil && ok
}

func (sc *Scheduler) fireDue(ctx context.Context, log *slog.Logger) error {
	s := sc.Service
	// Warnings with a rebroadcast spec get an implicit schedule.
	active, err := s.Store.ListAlerts(ctx, dispatch.AlertFilter{State: warning.StateIssued.String(), Limit: 500})
	if err != nil {
		return err
	}
	all, err := s.Store.Schedules(ctx, false)
	if err != nil {
		return err
	}
	have := map[string]bool{} // stopped ones too: a stopped rebroadcast stays stopped
	var scheds []*dispatch.Schedule
	for _, x := range all {
		have[x.ID] = true
		if x.Active {
			scheds = append(scheds, x)
		}
	}
	for _, a := range active {
		if a.Rebroadcast != "" && !have["rb:"+a.ID] && a.HasChannel("speaker") {
			x := &dispatch.Schedule{ID: "rb:" + a.ID, Kind: dispatch.ScheduleRebroadcast, Spec: a.Rebroadcast, AlertID: a.ID, CreatedBy: a.CreatedBy,
				CreatedAt: a.IssuedAt, LastFired: a.IssuedAt, Active: true}
			if err := s.Store.SaveSchedule(ctx, x, dispatch.Actor{Name: "scheduler"}); err != nil {
				return err
			}
			scheds = append(scheds, x)
		}
	}
	now := s.now()
	for _, x := range scheds {
		spec, err := dispatch.ParseSchedule(x.Spec)
		if err != nil {
			continue
		}
		prev := x.LastFired
		due := spec.Next(prev)
		if due.After(now) {
			continue
		}
		// Skip fires missed long ago (alertd was down); keep the latest.
		for next := spec.Next(due); !next.After(now); next = spec.Next(due) {
			due = next
		}
		ok, err := s.Store.ClaimFire(ctx, x.ID, prev, due)
		if err != nil || !ok {
			continue
		}
		if now.Sub(due) > sc.Grace {
			log.Warn("schedule missed while alertd was down: skipped", "schedule", x.ID, "due", due)
			continue
		}
		if err := sc.fire(ctx, x); err != nil {
			if errors.Is(err, dispatch.ErrConflict) && x.Kind == dispatch.ScheduleRebroadcast {
				_ = s.Store.StopSchedule(ctx, x.ID, dispatch.Actor{Name: "scheduler"})
				continue
			}
			log.Error("schedule fire failed", "schedule", x.ID, "err", err)
			continue
		}
		log.Info("schedule fired", "schedule", x.ID, "kind", x.Kind, "due", due)
	}
	return nil
}

func (sc *Scheduler) fire(ctx context.Context, x *dispatch.Schedule) error {
	s := sc.Service
	switch x.Kind {
	case dispatch.ScheduleRebroadcast:
		_, err := s.Rebroadcast(ctx, x.AlertID)
		return err
	case dispatch.ScheduleDrill, dispatch.ScheduleBulletin:
		if x.Body == nil {
			return errors.New("schedule has no body")
		}
		in := *x.Body
		ttl := x.TTL
		if ttl <= 0 {
			ttl = time.Hour
		}
		in.Expires = s.now().Add(ttl).Format(time.RFC3339)
		// The officer who created the schedule is the author of what it
		// issues, within their scope as it is now (narrowed since: the
		// schedule stops reaching outside it); the schedule's approval (if
		// any) is the second officer.
		owner, err := s.Store.UserNamed(ctx, x.CreatedBy)
		if err != nil {
			return fmt.Errorf("schedule %s: its creator: %w", x.ID, err)
		}
		by := dispatch.Actor{Name: x.CreatedBy, Role: dispatch.RoleOperator, Remote: "scheduler", Scope: owner.Scope}
		o := createOpts{source: "schedule:" + x.ID, origin: dispatch.OriginSchedule, why: "schedule " + x.ID}
		if x.ApprovedBy != "" {
			o.approval = x.ApprovedBy
			o.approvalReason = "schedule " + x.ID + " approved by " + x.ApprovedBy + " at " + x.ApprovedAt.Format(time.RFC3339)
		}
		_, _, _, err = s.create(ctx, by, in, o)
		return err
	}
	return fmt.Errorf("unknown schedule kind %q", x.Kind)
}

// scheduleNeedsApproval reports whether what a drill or bulletin schedule
// issues would wait for a second officer without the schedule's approval.
func (s *Service) ScheduleNeedsApproval(sc *dispatch.Schedule) bool {
	if sc.Body == nil || (sc.Kind != dispatch.ScheduleDrill && sc.Kind != dispatch.ScheduleBulletin) {
		return false
	}
	in := *sc.Body
	in.Expires = s.now().Add(time.Hour).Format(time.RFC3339)
	a, err := s.validate(&in)
	return err == nil && s.Policy.NeedsApproval(a)
}

// ApproveSchedule approves a drill or bulletin schedule, so that what it
// issues at an approval level goes out without waiting. The approver must
// hold the approver role and must not be the schedule's creator.
func (s *Service) ApproveSchedule(ctx context.Context, by dispatch.Actor, id, reason string) (*dispatch.Schedule, error) {
	if !by.Role.Can(dispatch.RoleApprover) {
		return nil, fmt.Errorf("%w: role %s cannot approve (approver or admin)", dispatch.ErrForbidden, by.Role)
	}
	list, err := s.Store.Schedules(ctx, false)
	if err != nil {
		return nil, err
	}
	var sc *dispatch.Schedule
	for _, x := range list {
		if x.ID == id {
			sc = x
		}
	}
	switch {
	case sc == nil:
		return nil, dispatch.ErrNotFound
	case sc.Kind != dispatch.ScheduleDrill && sc.Kind != dispatch.ScheduleBulletin:
		return nil, fmt.Errorf("%w: a %s schedule repeats an issued version and needs no approval", dispatch.ErrConflict, sc.Kind)
	case !sc.Active:
		return nil, fmt.Errorf("%w: the schedule is stopped", dispatch.ErrConflict)
	case sc.CreatedBy == by.Name:
		return nil, fmt.Errorf("%w: %s created this schedule and cannot approve it (two-person rule)", dispatch.ErrForbidden, by.Name)
	case sc.ApprovedBy != "":
		return nil, fmt.Errorf("%w: already approved by %s", dispatch.ErrConflict, sc.ApprovedBy)
	}
	if sc.Body != nil {
		// An approver approves only within their scope.
		in := *sc.Body
		in.Expires = s.now().Add(time.Hour).Format(time.RFC3339)
		if a, err := s.validate(&in); err == nil {
			if err := s.Scope(false).CheckAlert(by, a); err != nil {
				return nil, err
			}
		}
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	if err := s.Store.ApproveSchedule(ctx, id, by, now, reason); err != nil {
		return nil, err
	}
	sc.ApprovedBy, sc.ApprovedAt = by.Name, now
	return sc, nil
}
