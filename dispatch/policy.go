package dispatch

import (
	"fmt"
	"slices"
	"strings"

	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// The two-person rule, in one place. Every way a version of a warning can
// reach the air — API and console create and update, CAP Alert and Update
// import (posted by a human, signed by a trusted sender, polled from a
// configured feed), schedules and bulletins, live voice — asks Decide
// whether it issues now, waits for a second officer, or is refused.
//
// A version needs an approver who authored none of it when, at an approval
// level (the version's resulting level; drills only with approve_drills,
// except that a switch from drill to actual always counts), it is new,
// raises the level, widens the area or audience, switches a drill to
// actual, adds channels, changes the event or the text, or extends the
// expiry. Narrowing, lowering, shortening, cancel and all-clear never wait:
// lifting a warning is one step.

// ChangeKind is one way a version differs from the version on air.
type ChangeKind string

// Change kinds. Those in approvalChanges need a second officer at an
// approval level; the others never do.
const (
	ChangeNew          ChangeKind = "new"             // first version
	ChangeRaise        ChangeKind = "raise"           // higher level
	ChangeWiden        ChangeKind = "widen"           // a region, polygon, circle or audience not covered before
	ChangeDrillActual  ChangeKind = "drill_to_actual" // exercise/test → actual
	ChangeChannels     ChangeKind = "channels"        // a channel added
	ChangeEvent        ChangeKind = "event"           // a different hazard
	ChangeText         ChangeKind = "text"            // headline, description or instruction changed
	ChangeExtend       ChangeKind = "extend"          // later expiry
	ChangeLower        ChangeKind = "lower"
	ChangeNarrow       ChangeKind = "narrow"
	ChangeShorten      ChangeKind = "shorten"
	ChangeChannelsLess ChangeKind = "channels_removed"
	ChangeOther        ChangeKind = "other" // onset, rebroadcast spec, drill status kept
	ChangeEnd          ChangeKind = "end"   // cancel or all-clear
)

var approvalChanges = []ChangeKind{ChangeNew, ChangeRaise, ChangeWiden, ChangeDrillActual, ChangeChannels, ChangeEvent, ChangeText, ChangeExtend}

// NeedsSecondOfficer reports whether this kind of change needs approval at
// an approval level.
func (k ChangeKind) NeedsSecondOfficer() bool { return slices.Contains(approvalChanges, k) }

// Origin is the way a version came in.
type Origin int

// Origins.
const (
	OriginUnknown   Origin = iota
	OriginAPI              // REST API (alertctl, integrations)
	OriginConsole          // the web console
	OriginCAPHuman         // a CAP document posted by a logged-in officer, unsigned or not trusted
	OriginCAPSigned        // a CAP document whose XML signature verified against the matching rule's certificate
	OriginCAPPoll          // a CAP document polled from a feed configured in cap.poll
	OriginSchedule         // a drill or bulletin schedule firing
	OriginVoice            // a live voice announcement
)

var originNames = [...]string{"unknown", "api", "console", "cap_human", "cap_signed", "cap_poll", "schedule", "voice"}

func (o Origin) String() string {
	if o < 0 || int(o) >= len(originNames) {
		return "unknown"
	}
	return originNames[o]
}

// Authenticated reports whether the origin proves who the upstream sender
// is (so a CAP auto rule may stand in for the second officer).
func (o Origin) Authenticated() bool { return o == OriginCAPSigned || o == OriginCAPPoll }

// Outcome is what the policy decided.
type Outcome int

// Outcomes.
const (
	OutcomeUnknown   Outcome = iota
	OutcomeIssue             // goes on air now
	OutcomeWait              // stored as pending until an approver who authored none of it approves
	OutcomeForbidden         // refused
)

var outcomeNames = [...]string{"unknown", "issue", "wait", "forbidden"}

func (o Outcome) String() string {
	if o < 0 || int(o) >= len(outcomeNames) {
		return "unknown"
	}
	return outcomeNames[o]
}

// Request is one version asking to reach the air.
type Request struct {
	By     Actor  // the account that asked (a human, or a system account for polling)
	Origin Origin //
	Prev   *Alert // the version on air; nil for a new warning
	Next   *Alert // the proposed version
	// Approval is an approval that already covers this version: an auto CAP
	// rule for an authenticated sender ("cap-rule:<name>") or the approver
	// of a schedule. Honoured only when Authors does not contain it.
	Approval, ApprovalReason string
	// Authors of the version (the account that asked, plus the authors of
	// a pending proposal it builds on).
	Authors []string
}

// Decision is the policy's answer.
type Decision struct {
	Outcome Outcome
	Changes []ChangeKind
	// Reason says why, in words an officer can act on.
	Reason string
	// ApprovedBy is set when an existing approval (rule or schedule)
	// covers the version.
	ApprovedBy, ApprovalReason string
}

// Waits reports whether the version must wait for a second officer.
func (d Decision) Waits() bool { return d.Outcome == OutcomeWait }

// applies reports whether the policy's approval levels cover a version.
func (p Policy) applies(next *Alert) bool {
	if !slices.Contains(p.ApprovalLevels, next.Level) {
		return false
	}
	if next.Status.Drill() && !p.ApproveDrills {
		return false
	}
	return true
}

// Decide is the approval policy. tree resolves which regions contain which
// (nil: codes compare by their digit prefixes).
func (p Policy) Decide(r Request, tree *targeting.Tree) Decision {
	if !r.By.Role.Can(RoleOperator) {
		return Decision{Outcome: OutcomeForbidden, Reason: fmt.Sprintf("role %s cannot issue or change warnings (operator or above)", r.By.Role)}
	}
	changes := Changes(r.Prev, r.Next, tree)
	d := Decision{Changes: changes}
	var need []string
	for _, c := range changes {
		if c.NeedsSecondOfficer() {
			need = append(need, string(c))
		}
	}
	if len(need) == 0 || !p.applies(r.Next) {
		d.Outcome = OutcomeIssue
		if len(changes) == 0 {
			d.Reason = "no change: no approval needed"
		} else {
			d.Reason = "no approval needed for " + joinKinds(changes) + " at " + r.Next.Level.String()
		}
		return d
	}
	if r.Approval != "" && !slices.Contains(r.Authors, r.Approval) {
		d.Outcome, d.ApprovedBy, d.ApprovalReason = OutcomeIssue, r.Approval, r.ApprovalReason
		d.Reason = "approved in advance by " + r.Approval
		return d
	}
	d.Outcome = OutcomeWait
	d.Reason = fmt.Sprintf("%s at %s needs an approver who authored none of it (two-person rule)", strings.Join(need, ", "), r.Next.Level)
	return d
}

func joinKinds(ks []ChangeKind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// NeedsApprovalForLive reports whether going live (a voice announcement
// into area at level) needs a second officer before it reaches the air. A
// live announcement is always new content, actual status: it needs one
// exactly when level is an approval level. An empty area is never live
// unattended (true). Voice calls this before opening the broadcast.
func (p Policy) NeedsApprovalForLive(level warning.Level, area Area) bool {
	if len(area.Codes) == 0 && len(area.Polygons) == 0 && len(area.Circles) == 0 {
		return true
	}
	return p.Decide(Request{By: Actor{Role: RoleOperator}, Origin: OriginVoice,
		Next: &Alert{Level: level, Status: warning.StatusActual, Area: area, Kind: warning.KindAlert}}, nil).Waits()
}

// Changes lists how next differs from prev (the version on air), in a
// fixed order. prev nil: [new]. A cancel or all-clear is [end].
func Changes(prev, next *Alert, tree *targeting.Tree) []ChangeKind {
	if next.Kind == warning.KindCancel || next.Kind == warning.KindAllClear {
		return []ChangeKind{ChangeEnd}
	}
	if prev == nil {
		return []ChangeKind{ChangeNew}
	}
	var out []ChangeKind
	add := func(ok bool, k ChangeKind) {
		if ok {
			out = append(out, k)
		}
	}
	add(next.Level > prev.Level, ChangeRaise)
	add(next.Level < prev.Level, ChangeLower)
	wider, narrower := areaWidens(prev, next, tree), areaWidens(next, prev, tree)
	add(wider, ChangeWiden)
	add(!wider && narrower, ChangeNarrow)
	add(prev.Status.Drill() && !next.Status.Drill(), ChangeDrillActual)
	add(prev.Status != next.Status && !(prev.Status.Drill() && !next.Status.Drill()), ChangeOther)
	add(anyMissing(next.Channels, prev.Channels), ChangeChannels)
	add(anyMissing(prev.Channels, next.Channels), ChangeChannelsLess)
	add(next.Event != prev.Event, ChangeEvent)
	// A new or changed action changes what people are told to do, and so
	// does the same action with other per-village guidance (a shelter
	// renamed, moved or reassigned since the version on air was frozen).
	add(textChanged(prev.Text, next.Text) || !sameAction(prev.Action, next.Action) || prev.GuidanceDigest != next.GuidanceDigest, ChangeText)
	add(next.Expires.After(prev.Expires), ChangeExtend)
	add(next.Expires.Before(prev.Expires), ChangeShorten)
	add(!next.Onset.Equal(prev.Onset) || next.Rebroadcast != prev.Rebroadcast, ChangeOther)
	return slices.Compact(out)
}

// anyMissing reports whether some element of a is not in b.
func anyMissing(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func textChanged(a, b map[string]Text) bool {
	if len(a) != len(b) {
		return true
	}
	for l, t := range a {
		if u, ok := b[l]; !ok || u != t {
			return true
		}
	}
	return false
}

// within reports whether code is anc or lies inside it.
func within(tree *targeting.Tree, anc, code string) bool {
	if anc == code {
		return true
	}
	if tree != nil {
		if _, ok := tree.Region(code); ok {
			return tree.Contains(anc, code)
		}
	}
	// Administrative codes nest by prefix (6 → 9 → 12 digits).
	return len(anc) < len(code) && strings.HasPrefix(code, anc)
}

// areaWidens reports whether next reaches anywhere or anyone prev did not:
// a region not inside one of prev's (and not excluded there), an exclusion
// of prev dropped, a polygon or circle prev did not have, or an audience
// filter removed.
func areaWidens(prev, next *Alert, tree *targeting.Tree) bool {
	covered := func(c string) bool {
		in := false
		for _, p := range prev.Area.Codes {
			if within(tree, p, c) {
				in = true
				break
			}
		}
		if !in {
			return false
		}
		for _, e := range prev.Area.Exclude {
			if within(tree, e, c) {
				return false // c lies in a part prev left out
			}
			if within(tree, c, e) && !excludedIn(tree, next.Area.Exclude, e) {
				return false // c contains a part prev left out and next does not
			}
		}
		return true
	}
	for _, c := range next.Area.Codes {
		if !covered(c) {
			return true
		}
	}
	if anyMissing(next.Area.Polygons, prev.Area.Polygons) || anyMissing(next.Area.Circles, prev.Area.Circles) {
		return true
	}
	// Audience filters: fewer groups or languages (empty: everyone) reach more.
	if len(prev.Audience.Groups) > 0 && (len(next.Audience.Groups) == 0 || anyMissing(next.Audience.Groups, prev.Audience.Groups)) {
		return true
	}
	if len(prev.Audience.Languages) > 0 && (len(next.Audience.Languages) == 0 || anyMissing(next.Audience.Languages, prev.Audience.Languages)) {
		return true
	}
	return false
}

func excludedIn(tree *targeting.Tree, excl []string, code string) bool {
	for _, e := range excl {
		if within(tree, e, code) {
			return true
		}
	}
	return false
}

// Policy is the approval policy.
type Policy struct {
	// ApprovalLevels need a second officer with the approver role before
	// they are issued. Default: orange and red.
	ApprovalLevels []warning.Level `yaml:"approval_levels"`
	// ApproveDrills makes exercises and tests follow the same rule
	// (default false: drills at any level issue directly).
	ApproveDrills bool `yaml:"approve_drills"`
	// ReasonRequiredLevels are the levels at which an approver must say
	// why (Approve refuses an empty reason). Default: red.
	ReasonRequiredLevels []warning.Level `yaml:"reason_required_levels"`
}

// DefaultPolicy is orange and red need approval; approving red needs a reason.
func DefaultPolicy() Policy {
	return Policy{ApprovalLevels: []warning.Level{warning.LevelOrange, warning.LevelRed}, ReasonRequiredLevels: []warning.Level{warning.LevelRed}}
}

// checkApprovalReason refuses an empty approval reason at a level that
// requires one, as a ValidationError naming the field "reason".
func (p Policy) CheckApprovalReason(level warning.Level, reason string) error {
	if strings.TrimSpace(reason) != "" || !slices.Contains(p.ReasonRequiredLevels, level) {
		return nil
	}
	return &ValidationError{Problems: []warning.FieldError{{Field: "reason", Rule: "required to approve a " + level.String() + " warning", Value: ""}}}
}

// NeedsApproval reports whether a new warning must wait for an approver
// (Decide for a first version).
func (p Policy) NeedsApproval(a *Alert) bool {
	n := *a
	n.Kind = warning.KindAlert
	return p.Decide(Request{By: Actor{Role: RoleOperator}, Next: &n}, nil).Waits()
}
