package dispatch

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// policyBase is the version on air in the policy table: one township, SMS,
// Mandarin text, an hour to run.
func policyBase(level warning.Level) *Alert {
	exp := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	return &Alert{ID: "A1", Version: 1, Event: warning.EventSandstorm, Level: level, Status: warning.StatusActual, State: warning.StateIssued,
		Area: Area{Codes: []string{"653122100"}}, Channels: []string{"sms"}, Kind: warning.KindAlert,
		Text: map[string]Text{"zh": {Headline: "沙尘暴", Instruction: "关好门窗"}}, Expires: exp, CreatedBy: "op"}
}

func clone(a *Alert) *Alert {
	c := *a
	c.Area.Codes = slices.Clone(a.Area.Codes)
	c.Area.Exclude = slices.Clone(a.Area.Exclude)
	c.Area.Polygons = slices.Clone(a.Area.Polygons)
	c.Channels = slices.Clone(a.Channels)
	c.Audience.Groups = slices.Clone(a.Audience.Groups)
	c.Text = map[string]Text{}
	for l, t := range a.Text {
		c.Text[l] = t
	}
	return &c
}

// policyChange is one row of the change axis: it builds (prev, next) with
// next at the given resulting level, or reports that the change cannot end
// at that level (nothing to raise to blue, nothing to lower to red).
type policyChange struct {
	name  string
	build func(level warning.Level) (prev, next *Alert, ok bool)
	// waits: whether this change needs a second officer at an approval level.
	waits bool
	kinds []ChangeKind
}

var policyChanges = []policyChange{
	{"new warning", func(l warning.Level) (*Alert, *Alert, bool) { return nil, policyBase(l), true }, true, []ChangeKind{ChangeNew}},
	{"raise", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l - 1)
		n := clone(p)
		n.Level = l
		return p, n, l > warning.LevelBlue
	}, true, []ChangeKind{ChangeRaise}},
	{"lower", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l + 1)
		n := clone(p)
		n.Level = l
		return p, n, l < warning.LevelRed
	}, false, []ChangeKind{ChangeLower}},
	{"widen to another township", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		n := clone(p)
		n.Area.Codes = append(n.Area.Codes, "653122201")
		return p, n, true
	}, true, []ChangeKind{ChangeWiden}},
	{"widen to the county", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		n := clone(p)
		n.Area.Codes = []string{"653122"}
		return p, n, true
	}, true, []ChangeKind{ChangeWiden}},
	{"add a polygon", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		n := clone(p)
		n.Area.Polygons = []string{"39.3,76.0 39.4,76.0 39.4,76.1 39.3,76.0"}
		return p, n, true
	}, true, []ChangeKind{ChangeWiden}},
	{"drop an exclusion", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		p.Area.Exclude = []string{"653122100001"}
		n := clone(p)
		n.Area.Exclude = nil
		return p, n, true
	}, true, []ChangeKind{ChangeWiden}},
	{"drop the audience filter", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		p.Audience.Groups = []string{"herders"}
		n := clone(p)
		n.Audience.Groups = nil
		return p, n, true
	}, true, []ChangeKind{ChangeWiden}},
	{"narrow to a village inside the township", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		n := clone(p)
		n.Area.Codes = []string{"653122100001"}
		return p, n, true
	}, false, []ChangeKind{ChangeNarrow}},
	{"narrow to one of two townships", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		p.Area.Codes = []string{"653122100", "653122201"}
		n := clone(p)
		n.Area.Codes = []string{"653122201"}
		return p, n, true
	}, false, []ChangeKind{ChangeNarrow}},
	{"exercise to actual", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		p.Status = warning.StatusExercise
		n := clone(p)
		n.Status = warning.StatusActual
		return p, n, true
	}, true, []ChangeKind{ChangeDrillActual}},
	{"test to actual", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		p.Status = warning.StatusTest
		n := clone(p)
		n.Status = warning.StatusActual
		return p, n, true
	}, true, []ChangeKind{ChangeDrillActual}},
	{"add a channel", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		n := clone(p)
		n.Channels = append(n.Channels, "speaker")
		return p, n, true
	}, true, []ChangeKind{ChangeChannels}},
	{"remove a channel", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		p.Channels = []string{"sms", "speaker"}
		n := clone(p)
		n.Channels = []string{"sms"}
		return p, n, true
	}, false, []ChangeKind{ChangeChannelsLess}},
	{"change the headline", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		n := clone(p)
		n.Text["zh"] = Text{Headline: "立即撤离", Instruction: "关好门窗"}
		return p, n, true
	}, true, []ChangeKind{ChangeText}},
	{"change the instruction", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		n := clone(p)
		n.Text["zh"] = Text{Headline: "沙尘暴", Instruction: "立即撤离"}
		return p, n, true
	}, true, []ChangeKind{ChangeText}},
	{"add a language", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		n := clone(p)
		n.Text["ug"] = Text{Headline: "قۇم بورىنى"}
		return p, n, true
	}, true, []ChangeKind{ChangeText}},
	{"change the event", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		n := clone(p)
		n.Event = warning.EventEarthquake
		return p, n, true
	}, true, []ChangeKind{ChangeEvent}},
	{"extend the expiry", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		n := clone(p)
		n.Expires = p.Expires.Add(time.Hour)
		return p, n, true
	}, true, []ChangeKind{ChangeExtend}},
	{"shorten the expiry", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		n := clone(p)
		n.Expires = p.Expires.Add(-time.Minute)
		return p, n, true
	}, false, []ChangeKind{ChangeShorten}},
	{"rebroadcast round (no change)", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		n := clone(p)
		n.Round = 1
		return p, n, true
	}, false, nil},
	{"cancel", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		n := clone(p)
		n.Kind = warning.KindCancel
		return p, n, true
	}, false, []ChangeKind{ChangeEnd}},
	{"all-clear", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l)
		n := clone(p)
		n.Kind = warning.KindAllClear
		return p, n, true
	}, false, []ChangeKind{ChangeEnd}},
	{"lower and narrow and shorten", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l + 1)
		p.Area.Codes = []string{"653122100", "653122201"}
		n := clone(p)
		n.Level, n.Area.Codes, n.Expires = l, []string{"653122100"}, p.Expires.Add(-time.Minute)
		return p, n, l < warning.LevelRed
	}, false, []ChangeKind{ChangeLower, ChangeNarrow, ChangeShorten}},
	{"lower but rewrite", func(l warning.Level) (*Alert, *Alert, bool) {
		p := policyBase(l + 1)
		n := clone(p)
		n.Level = l
		n.Text["zh"] = Text{Headline: "新的"}
		return p, n, l < warning.LevelRed
	}, true, []ChangeKind{ChangeLower, ChangeText}},
}

// policyOrigin is one row of the origin axis: how the version came in and
// what approval, if any, it already carries.
type policyOrigin struct {
	name     string
	origin   Origin
	approval string
	// covered: the approval it carries stands in for the second officer.
	covered bool
}

var policyOrigins = []policyOrigin{
	{"api", OriginAPI, "", false},
	{"console", OriginConsole, "", false},
	{"cap posted by a human", OriginCAPHuman, "", false},
	{"cap signed, auto rule", OriginCAPSigned, "cap-rule:met", true},
	{"cap polled, auto rule", OriginCAPPoll, "cap-rule:met", true},
	{"cap polled, review rule", OriginCAPPoll, "", false},
	{"schedule approved by another", OriginSchedule, "ap2", true},
	{"schedule not approved", OriginSchedule, "", false},
	// An approval by one of the version's authors is no approval.
	{"schedule approved by its author", OriginSchedule, "op", false},
}

// Every change kind × resulting level × role × origin: issues, waits or is
// forbidden. The rule the table checks: a viewer changes nothing; an
// operator's (or approver's, or admin's: their own changes wait like anyone
// else's) change that needs a second officer waits at orange and red unless
// an approval from someone who did not write it already covers it;
// everything else issues.
func TestPolicyDecideTable(t *testing.T) {
	tree := targeting.DefaultTree()
	p := DefaultPolicy()
	counts := map[Outcome]int{}
	for _, ch := range policyChanges {
		for _, level := range []warning.Level{warning.LevelBlue, warning.LevelYellow, warning.LevelOrange, warning.LevelRed} {
			prev, next, ok := ch.build(level)
			if !ok {
				continue
			}
			for _, role := range []Role{RoleViewer, RoleOperator, RoleApprover, RoleAdmin} {
				for _, o := range policyOrigins {
					name := fmt.Sprintf("%s/%s/%s/%s", ch.name, level, role, o.name)
					want := OutcomeIssue
					switch {
					case role == RoleViewer:
						want = OutcomeForbidden
					case ch.waits && level >= warning.LevelOrange && !o.covered:
						want = OutcomeWait
					}
					d := p.Decide(Request{By: Actor{Name: "op", Role: role}, Origin: o.origin, Prev: prev, Next: next,
						Approval: o.approval, ApprovalReason: "test", Authors: []string{"op"}}, tree)
					counts[d.Outcome]++
					if d.Outcome != want {
						t.Errorf("%s: %s (%s), want %s", name, d.Outcome, d.Reason, want)
					}
					if want != OutcomeForbidden && !slices.Equal(d.Changes, ch.kinds) {
						t.Errorf("%s: changes %v, want %v", name, d.Changes, ch.kinds)
					}
					if d.Outcome == OutcomeIssue && ch.waits && level >= warning.LevelOrange && d.ApprovedBy != o.approval {
						t.Errorf("%s: issued on approval %q, recorded %q", name, o.approval, d.ApprovedBy)
					}
					if d.Reason == "" {
						t.Errorf("%s: no reason given", name)
					}
				}
			}
		}
	}
	if counts[OutcomeWait] == 0 || counts[OutcomeIssue] == 0 || counts[OutcomeForbidden] == 0 {
		t.Fatalf("the table must exercise every outcome: %v", counts)
	}
}

// Drills: with approve_drills off a version that stays a drill never
// waits, whatever changes; switching it to actual does, at the resulting
// level. With approve_drills on, drills follow the rule like actual ones.
func TestPolicyDrills(t *testing.T) {
	tree := targeting.DefaultTree()
	op := Actor{Name: "op", Role: RoleOperator}
	for _, approveDrills := range []bool{false, true} {
		p := DefaultPolicy()
		p.ApproveDrills = approveDrills
		prev := policyBase(warning.LevelYellow)
		prev.Status = warning.StatusExercise
		raised := clone(prev)
		raised.Level = warning.LevelRed
		raised.Text["zh"] = Text{Headline: "演练：红色"}
		if got := p.Decide(Request{By: op, Prev: prev, Next: raised, Authors: []string{"op"}}, tree).Waits(); got != approveDrills {
			t.Errorf("approve_drills=%v: a drill raised to red waits=%v", approveDrills, got)
		}
		newDrill := policyBase(warning.LevelRed)
		newDrill.Status = warning.StatusTest
		if got := p.Decide(Request{By: op, Next: newDrill, Authors: []string{"op"}}, tree).Waits(); got != approveDrills {
			t.Errorf("approve_drills=%v: a new red test waits=%v", approveDrills, got)
		}
		// Yellow drill switched to actual red: the level tested is the
		// resulting one.
		actual := clone(raised)
		actual.Status = warning.StatusActual
		d := p.Decide(Request{By: op, Prev: prev, Next: actual, Authors: []string{"op"}}, tree)
		if !d.Waits() || !slices.Contains(d.Changes, ChangeDrillActual) || !slices.Contains(d.Changes, ChangeRaise) {
			t.Errorf("approve_drills=%v: yellow drill → actual red: %s %v", approveDrills, d.Outcome, d.Changes)
		}
		// Red drill switched to actual yellow: not an approval level.
		low := clone(policyBase(warning.LevelRed))
		low.Status = warning.StatusExercise
		toYellow := clone(low)
		toYellow.Status, toYellow.Level = warning.StatusActual, warning.LevelYellow
		if d := p.Decide(Request{By: op, Prev: low, Next: toYellow, Authors: []string{"op"}}, tree); d.Waits() {
			t.Errorf("approve_drills=%v: red drill → actual yellow waits: %v", approveDrills, d.Changes)
		}
	}
}

// Without a region tree (or for codes it does not know) containment falls
// back to the administrative code prefixes.
func TestPolicyWidenWithoutTree(t *testing.T) {
	prev := policyBase(warning.LevelRed)
	for codes, want := range map[string]bool{"653122100001": false, "653122100": false, "653122": true, "653122201": true, "653122201001": true} {
		next := clone(prev)
		next.Area.Codes = []string{codes}
		if got := slices.Contains(Changes(prev, next, nil), ChangeWiden); got != want {
			t.Errorf("%s from 653122100: widen=%v, want %v", codes, got, want)
		}
	}
	// Excluding a village of the township and then re-including it by
	// widening the township again is a widening.
	ex := clone(prev)
	ex.Area.Exclude = []string{"653122100001"}
	if !slices.Contains(Changes(ex, prev, nil), ChangeWiden) {
		t.Error("dropping an exclusion must widen")
	}
	if slices.Contains(Changes(prev, ex, nil), ChangeWiden) || !slices.Contains(Changes(prev, ex, nil), ChangeNarrow) {
		t.Errorf("adding an exclusion narrows: %v", Changes(prev, ex, nil))
	}
}

func TestNeedsApprovalForLive(t *testing.T) {
	p := DefaultPolicy()
	area := Area{Codes: []string{"653122100"}}
	for l, want := range map[warning.Level]bool{warning.LevelBlue: false, warning.LevelYellow: false, warning.LevelOrange: true, warning.LevelRed: true} {
		if got := p.NeedsApprovalForLive(l, area); got != want {
			t.Errorf("live at %s: %v, want %v", l, got, want)
		}
	}
	if !p.NeedsApprovalForLive(warning.LevelBlue, Area{}) {
		t.Error("live with no area must not go out unattended")
	}
	p.ApprovalLevels = []warning.Level{warning.LevelYellow, warning.LevelOrange, warning.LevelRed}
	if !p.NeedsApprovalForLive(warning.LevelYellow, area) {
		t.Error("approval_levels must apply to live voice")
	}
}
