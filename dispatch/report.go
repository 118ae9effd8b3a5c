package dispatch

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// Report is the after-action report of one warning: what a bureau files
// after the event. Every count comes from ProgressOf, the progress model
// every screen shows; every time from the records, the audit log and the
// stored versions.
type Report struct {
	ID          string         `json:"id"`
	Version     int            `json:"version"` // the latest version
	Event       warning.Event  `json:"event"`
	Level       warning.Level  `json:"level"`
	Status      warning.Status `json:"status"`
	State       warning.State  `json:"state"`
	Headline    string         `json:"headline"`
	Area        []string       `json:"area"`
	Expires     time.Time      `json:"expires"`
	GeneratedAt time.Time      `json:"generated_at"`
	// Drill is true for an exercise or a test: the report is marked so
	// wherever it is shown or printed.
	Drill bool `json:"drill"`
	// Timeline is every step, oldest first.
	Timeline []TimelineEvent `json:"timeline"`
	// Versions is the delivery of each version that went out.
	Versions []VersionReport `json:"versions"`
	// ReachVersion is the version Reach, Failures and Speakers describe:
	// the last alert or update that went out, rebroadcast rounds aside (0
	// when none did).
	ReachVersion int `json:"reach_version"`
	// Reach is per township (code order); the records of no registered
	// place (the WebSocket broadcast, a recipient since removed) are under
	// the code "".
	Reach []TownshipReach `json:"reach"`
	// Failures groups the reach version's failed records by channel and
	// reason, most frequent first.
	Failures []FailureGroup `json:"failures"`
	// Speakers lists the reach version's loudspeakers that did not play:
	// held (offline now), unconfirmed, failed, expired or revoked.
	Speakers        []SpeakerOutcome `json:"speakers"`
	SpeakersOmitted int              `json:"speakers_omitted,omitempty"`
	// Actions is who did what, from the audit log, oldest first.
	Actions []ReportAction `json:"actions"`
	// FieldReports is what the field teams reported under the warning
	// (灾情报送), oldest first; photos are counted, not included.
	FieldReports []FieldReportSummary `json:"field_reports"`
}

// FieldReportSummary is one field report as the after-action record keeps
// it.
type FieldReportSummary struct {
	ID         string           `json:"id"`
	Kind       FieldReportKind  `json:"kind"`
	Counts     map[string]int   `json:"counts,omitempty"`
	Text       string           `json:"text,omitempty"`
	Village    string           `json:"village,omitempty"`
	Reporter   string           `json:"reporter"`
	ObservedAt time.Time        `json:"observed_at"`
	ReceivedAt time.Time        `json:"received_at"`
	State      FieldReportState `json:"state"`
	AckedBy    string           `json:"acknowledged_by,omitempty"`
	AssignedTo string           `json:"assigned_to,omitempty"`
	Photos     int              `json:"photos"`
	Replies    int              `json:"replies"`
}

// TimelineEvent is one step of a warning's life.
type TimelineEvent struct {
	At      time.Time `json:"at"`
	Event   string    `json:"event"`
	Version int       `json:"version,omitempty"`
	Channel string    `json:"channel,omitempty"`
	Actor   string    `json:"actor,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// Timeline event names.
const (
	EventComposed   = "composed"
	EventApproved   = "approved"
	EventRejected   = "rejected"
	EventIssued     = "issued"
	EventUpdated    = "updated"
	EventCancelled  = "cancelled"
	EventAllClear   = "all_clear"
	EventExpired    = "expired"
	EventFirstSound = "first_sound"
	// EventFieldReport is a field team's report arriving (Detail: its kind).
	EventFieldReport = "field_report"
	// EventReached is "reached_50", "reached_95", "reached_100": that share
	// of a channel's planned records was done (Progress.Percent crossed it).
	EventReached = "reached_"
)

// OutboxNote is the detail of a milestone of a channel in outbox mode.
const OutboxNote = "not sent: recorded in the outbox only"

// ReachedPercents are the milestones of a channel's delivery.
var ReachedPercents = []int{50, 95, 100}

// VersionReport is one version's delivery.
type VersionReport struct {
	Version  int                      `json:"version"`
	Kind     warning.Kind             `json:"kind"`
	IssuedAt time.Time                `json:"issued_at,omitzero"`
	Overall  Overall                  `json:"overall"`
	Channels map[string]ChannelReport `json:"channels"`
}

// ChannelReport is one channel's delivery of a version: its progress and
// when it crossed each of ReachedPercents ("50", "95", "100"; absent when
// not reached). FirstSound is the first loudspeaker's "playing".
type ChannelReport struct {
	Progress
	Reached    map[string]time.Time `json:"reached"`
	FirstSound time.Time            `json:"first_sound,omitzero"`
}

// TownshipReach is one township's progress per channel.
type TownshipReach struct {
	Code     string              `json:"code"`
	Name     string              `json:"name,omitempty"`
	NameUG   string              `json:"name_ug,omitempty"`
	Channels map[string]Progress `json:"channels"`
}

// FailureGroup counts failed records of one channel with one reason.
type FailureGroup struct {
	Channel string `json:"channel"`
	Reason  string `json:"reason"`
	Count   int    `json:"count"`
}

// SpeakerOutcome is a loudspeaker that did not play the reach version.
type SpeakerOutcome struct {
	ID       string `json:"id"`
	Village  string `json:"village,omitempty"`
	Township string `json:"township,omitempty"`
	// Outcome is held, unconfirmed, sent (still awaiting its report),
	// failed, expired, revoked or planned.
	Outcome string    `json:"outcome"`
	Detail  string    `json:"detail,omitempty"`
	At      time.Time `json:"at"`
}

// ReportAction is one audit entry of the warning.
type ReportAction struct {
	Seq    int64     `json:"seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Remote string    `json:"remote,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// ReportSources is what a report reads besides the store: the same inputs
// as the progress every screen shows (engine.ProgressSources).
type ReportSources struct {
	// Tree names townships and finds a village's township (nil: the code's
	// first nine digits, unnamed).
	Tree *targeting.Tree
	// Outbox lists the channels this node records to the outbox.
	Outbox []string
	// UnconfirmedAfter, per channel: a sent record older than this counts
	// as unconfirmed.
	UnconfirmedAfter map[string]time.Duration
	// OfflineSpeakers (may be nil) counts the given loudspeakers that are
	// offline now.
	OfflineSpeakers func(ctx context.Context, ids []string) int
	// Now is the report's time (zero: time.Now).
	Now time.Time
}

// maxReportSpeakers bounds the loudspeaker list: a whole fleet that never
// heard the warning is a count, not a 3,000-row table.
const maxReportSpeakers = 1000

// maxFailureReasons bounds the failure groups; the rest are "other".
const maxFailureReasons = 50

// BuildReport builds the after-action report of warning id. Each
// dispatched version's records are read in one streaming pass.
func BuildReport(ctx context.Context, st *Store, id string, src ReportSources) (*Report, error) {
	now := src.Now
	if now.IsZero() {
		now = time.Now()
	}
	head, err := st.Alert(ctx, id)
	if err != nil {
		return nil, err
	}
	versions, err := st.AlertVersions(ctx, id)
	if err != nil {
		return nil, err
	}
	audit, err := alertAudit(ctx, st, id)
	if err != nil {
		return nil, err
	}
	rep := &Report{ID: head.ID, Version: head.Version, Event: head.Event, Level: head.Level, Status: head.Status, State: head.State,
		Area: head.Area.Codes, Expires: head.Expires, GeneratedAt: now.UTC(), Drill: head.Status != warning.StatusActual,
		Timeline: []TimelineEvent{}, Versions: []VersionReport{}, Reach: []TownshipReach{}, Failures: []FailureGroup{},
		Speakers: []SpeakerOutcome{}, Actions: []ReportAction{}, FieldReports: []FieldReportSummary{}}
	for _, lang := range Languages {
		if t, ok := head.Text[lang]; ok && t.Headline != "" {
			rep.Headline = t.Headline
			break
		}
	}
	if len(versions) > 0 {
		v1 := versions[0]
		rep.Timeline = append(rep.Timeline, TimelineEvent{At: v1.CreatedAt, Event: EventComposed, Version: v1.Version, Actor: v1.CreatedBy})
	}
	for _, e := range audit {
		rep.Actions = append(rep.Actions, ReportAction{Seq: e.Seq, At: e.At, Actor: e.Actor, Action: e.Action, Remote: e.Remote, Detail: e.Detail})
		if ev := auditEvent(e.Action); ev != "" {
			rep.Timeline = append(rep.Timeline, TimelineEvent{At: e.At, Event: ev, Actor: e.Actor, Detail: auditReason(e.Detail)})
		}
	}
	// The reach version: the last alert or update that went out.
	plans := make([]map[string]Plan, len(versions))
	for i, v := range versions {
		if plans[i], err = st.Plans(ctx, id, v.Version); err != nil {
			return nil, err
		}
		// A rebroadcast round (Round > 0) repeats on the loudspeakers only:
		// the reach is the version it repeats.
		if (v.Kind == warning.KindAlert || v.Kind == warning.KindUpdate) && v.Round == 0 && len(plans[i]) > 0 {
			rep.ReachVersion = v.Version
		}
	}
	for i, v := range versions {
		if v.Kind == warning.KindAlert && !v.IssuedAt.IsZero() && v.Round == 0 {
			rep.Timeline = append(rep.Timeline, TimelineEvent{At: v.IssuedAt, Event: EventIssued, Version: v.Version, Actor: cmp.Or(v.ApprovedBy, v.CreatedBy)})
		}
		if len(plans[i]) == 0 && !hasRecords(ctx, st, id, v.Version) {
			continue // never went out: pending, rejected, or superseded before it was planned
		}
		vr, err := versionReport(ctx, st, v, plans[i], src, now, v.Version == rep.ReachVersion, rep)
		if err != nil {
			return nil, err
		}
		rep.Versions = append(rep.Versions, vr)
		for _, ch := range slices.Sorted(maps.Keys(vr.Channels)) {
			c := vr.Channels[ch]
			if !c.FirstSound.IsZero() {
				rep.Timeline = append(rep.Timeline, TimelineEvent{At: c.FirstSound, Event: EventFirstSound, Version: v.Version, Channel: ch})
			}
			note := ""
			if c.Mode == ModeOutbox {
				// Done, as the progress model counts it: nobody received it.
				note = OutboxNote
			}
			for _, p := range ReachedPercents {
				if at, ok := c.Reached[fmt.Sprint(p)]; ok {
					rep.Timeline = append(rep.Timeline, TimelineEvent{At: at, Event: fmt.Sprintf("%s%d", EventReached, p), Version: v.Version, Channel: ch, Detail: note})
				}
			}
		}
	}
	fr, err := st.ReportsForAlert(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, f := range fr {
		rep.FieldReports = append(rep.FieldReports, FieldReportSummary{ID: f.ID, Kind: f.Kind, Counts: f.Counts, Text: f.Text,
			Village: f.Location.Village, Reporter: f.Reporter, ObservedAt: f.ObservedAt, ReceivedAt: f.ReceivedAt, State: f.State,
			AckedBy: f.AckedBy, AssignedTo: f.AssignedTo, Photos: len(f.Photos), Replies: len(f.Replies)})
		rep.Timeline = append(rep.Timeline, TimelineEvent{At: f.ReceivedAt, Event: EventFieldReport, Actor: f.Reporter, Detail: f.Kind.String()})
	}
	slices.SortStableFunc(rep.FieldReports, func(a, b FieldReportSummary) int { return a.ReceivedAt.Compare(b.ReceivedAt) })
	// Audit entries carry no version: a stable sort keeps an audit entry
	// before the delivery milestones of the same millisecond.
	slices.SortStableFunc(rep.Timeline, func(a, b TimelineEvent) int { return a.At.Compare(b.At) })
	return rep, nil
}

// auditEvent names the timeline event of an audit action ("" for actions
// the timeline shows otherwise: create and issue are composed and issued).
func auditEvent(action string) string {
	switch action {
	case "alert.approve":
		return EventApproved
	case "alert.reject":
		return EventRejected
	case "alert.update":
		return EventUpdated
	case "alert.cancel":
		return EventCancelled
	case "alert.allclear":
		return EventAllClear
	case "alert.expire":
		return EventExpired
	case "alert.create", "alert.issue":
		return ""
	}
	if rest, ok := strings.CutPrefix(action, "alert."); ok {
		return rest
	}
	return ""
}

// auditReason is the reason an audit detail gives, if any.
func auditReason(detail string) string {
	if detail == "" {
		return ""
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(detail), &m); err != nil {
		return ""
	}
	if r, ok := m["reason"].(string); ok {
		return r
	}
	return ""
}

// alertAudit reads every audit entry of a warning, oldest first.
func alertAudit(ctx context.Context, st *Store, id string) ([]AuditEntry, error) {
	var out []AuditEntry
	after := int64(0)
	for {
		page, err := st.AuditLog(ctx, after, id, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out, nil
		}
		after = page[len(page)-1].Seq
	}
}

func hasRecords(ctx context.Context, st *Store, id string, version int) bool {
	c, err := st.DeliveryCounters(ctx, id, version)
	return err == nil && len(c) > 0
}

// tally is one (place, channel)'s records as the progress model needs
// them, read in one pass.
type tally struct {
	counts      map[string]int
	unconfirmed int
	sentIDs     []string // speaker records still sent: held when offline
}

func newTally() *tally { return &tally{counts: map[string]int{}} }

// versionReport reads one version's records once: per channel progress
// and milestone times; for the reach version also per township progress,
// failures and the loudspeakers that did not play.
func versionReport(ctx context.Context, st *Store, v *Alert, plans map[string]Plan, src ReportSources, now time.Time, reach bool, rep *Report) (VersionReport, error) {
	vr := VersionReport{Version: v.Version, Kind: v.Kind, IssuedAt: v.IssuedAt, Channels: map[string]ChannelReport{}}
	cutoff := map[string]int64{}
	for ch, after := range src.UnconfirmedAfter {
		if after > 0 {
			cutoff[ch] = now.Add(-after).UnixMilli()
		}
	}
	// Past validity a loudspeaker no longer plays an alert or update:
	// what is still unconfirmed counts as expired (as ReadProgress does).
	lapsed := (v.Kind == warning.KindAlert || v.Kind == warning.KindUpdate) && !now.Before(v.Expires)
	byChannel := map[string]*tally{}
	byTownship := map[string]map[string]*tally{}
	doneAt := map[string][]int64{}
	townshipOf := map[string]string{}
	fails := map[[2]string]int{}
	var spk []SpeakerOutcome
	spkOmitted := 0
	err := st.ForEachReportRecord(ctx, v.ID, v.Version, reach, func(r *ReportRecord) error {
		state := r.State.String()
		tl := byChannel[r.Channel]
		if tl == nil {
			tl = newTally()
			byChannel[r.Channel] = tl
		}
		tls := []*tally{tl}
		tw := ""
		if reach {
			var ok bool
			if tw, ok = townshipOf[r.Place]; !ok {
				tw = townshipCode(src.Tree, r.Place)
				townshipOf[strings.Clone(r.Place)] = tw
			}
			m := byTownship[tw]
			if m == nil {
				m = map[string]*tally{}
				byTownship[tw] = m
			}
			t := m[r.Channel]
			if t == nil {
				t = newTally()
				m[r.Channel] = t
			}
			tls = append(tls, t)
		}
		for _, t := range tls {
			t.counts[state]++
		}
		switch {
		case r.State.Final():
			doneAt[r.Channel] = append(doneAt[r.Channel], r.At)
		case r.State == channels.StateSent && r.Channel == "speaker" && lapsed:
			// Done at expiry, as far as the progress model goes.
			doneAt[r.Channel] = append(doneAt[r.Channel], v.Expires.UnixMilli())
		case r.State == channels.StateSent:
			unconfirmed := false
			if c, ok := cutoff[r.Channel]; ok && r.At < c {
				unconfirmed = true
			}
			for _, t := range tls {
				if unconfirmed {
					t.unconfirmed++
				}
				if r.Channel == "speaker" {
					t.sentIDs = append(t.sentIDs, strings.Clone(r.Recipient))
				}
			}
		}
		if !reach {
			return nil
		}
		if r.State == channels.StateFailed {
			fails[[2]string{r.Channel, failureReason(r)}]++
		}
		if r.Channel == "speaker" && r.State != channels.StateDelivered && r.State != channels.StateNotSent {
			if len(spk) >= maxReportSpeakers {
				spkOmitted++
			} else {
				spk = append(spk, SpeakerOutcome{ID: strings.Clone(r.Recipient), Village: strings.Clone(r.Place), Township: tw,
					Outcome: state, Detail: cmp.Or(strings.Clone(r.LastError), strings.Clone(r.Detail)), At: fromMS(r.At)})
			}
		}
		return nil
	})
	if err != nil {
		return vr, err
	}
	in := progressInput(v, plans, src)
	held := func(t *tally) int {
		if src.OfflineSpeakers == nil || len(t.sentIDs) == 0 {
			return 0
		}
		return src.OfflineSpeakers(ctx, t.sentIDs)
	}
	// Per township first: the channel's held count is their sum, so the
	// townships add up to the channel whatever a loudspeaker did between
	// two questions.
	heldBy := map[string]int{}
	if reach {
		for _, code := range slices.Sorted(maps.Keys(byTownship)) {
			c := Counters{}
			tin := in
			tin.Unconfirmed, tin.Held, tin.Lapsed = map[string]int{}, map[string]int{}, map[string]int{}
			for ch, t := range byTownship[code] {
				c[ch] = t.counts
				tin.Unconfirmed[ch] = t.unconfirmed
				if ch == "speaker" && lapsed {
					tin.Lapsed[ch] = t.counts["sent"]
				} else if ch == "speaker" {
					tin.Held[ch] = held(t)
					heldBy[ch] += tin.Held[ch]
				}
			}
			// Only the channels this township has records of.
			tin.Channels = slices.Sorted(maps.Keys(c))
			per, _ := ProgressOf(c, tin)
			reg := TownshipReach{Code: code, Channels: per}
			if src.Tree != nil && code != "" {
				if r, ok := src.Tree.Region(code); ok {
					reg.Name, reg.NameUG = r.Name, r.NameUG
				}
			}
			rep.Reach = append(rep.Reach, reg)
		}
	}
	c := Counters{}
	for ch, t := range byChannel {
		c[ch] = t.counts
		in.Unconfirmed[ch] = t.unconfirmed
		if ch == "speaker" && lapsed {
			in.Lapsed[ch] = t.counts["sent"]
		} else if ch == "speaker" {
			if reach {
				in.Held[ch] = heldBy[ch]
			} else {
				in.Held[ch] = held(t)
			}
		}
	}
	per, ov := ProgressOf(c, in)
	if (v.State == warning.StatePending || v.State == warning.StateRejected) && ov.Planned == 0 {
		ov.Phase, ov.Percent = PhaseNotDispatched, nil
	}
	vr.Overall = ov
	firsts, err := st.ReceiptFirsts(ctx, v.ID, v.Version)
	if err != nil {
		return vr, err
	}
	for ch, p := range per {
		cr := ChannelReport{Progress: p, Reached: map[string]time.Time{}}
		times := doneAt[ch]
		slices.Sort(times)
		for _, pct := range ReachedPercents {
			if p.Planned == 0 {
				break
			}
			// The time the pct-th percent of planned records was done: the
			// k-th done record, k = ceil(pct × planned / 100).
			k := (pct*p.Planned + 99) / 100
			if k >= 1 && k <= len(times) && k <= p.Done {
				cr.Reached[fmt.Sprint(pct)] = fromMS(times[k-1])
			}
		}
		cr.FirstSound = firsts[ch][FirstSound]
		vr.Channels[ch] = cr
	}
	if reach {
		for k, n := range fails {
			rep.Failures = append(rep.Failures, FailureGroup{Channel: k[0], Reason: k[1], Count: n})
		}
		slices.SortFunc(rep.Failures, func(a, b FailureGroup) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Reason, b.Reason))
		})
		if len(rep.Failures) > maxFailureReasons {
			other := map[string]int{}
			for _, f := range rep.Failures[maxFailureReasons:] {
				other[f.Channel] += f.Count
			}
			rep.Failures = rep.Failures[:maxFailureReasons]
			for _, ch := range slices.Sorted(maps.Keys(other)) {
				rep.Failures = append(rep.Failures, FailureGroup{Channel: ch, Reason: "other", Count: other[ch]})
			}
		}
		// Which sent loudspeakers are held: asked one by one, only for
		// those listed (a few hundred at most on a bad night).
		for i := range spk {
			s := &spk[i]
			switch {
			case s.Outcome != "sent":
			case lapsed:
				s.Outcome = channels.StateExpired.String()
			case src.OfflineSpeakers != nil && src.OfflineSpeakers(ctx, []string{s.ID}) > 0:
				s.Outcome = "held"
			case cutoff["speaker"] != 0 && s.At.UnixMilli() < cutoff["speaker"]:
				s.Outcome = "unconfirmed"
			}
		}
		slices.SortFunc(spk, func(a, b SpeakerOutcome) int {
			return cmp.Or(cmp.Compare(a.Township, b.Township), cmp.Compare(a.Village, b.Village), cmp.Compare(a.ID, b.ID))
		})
		rep.Speakers, rep.SpeakersOmitted = spk, spkOmitted
		if rep.Speakers == nil {
			rep.Speakers = []SpeakerOutcome{}
		}
	}
	return vr, nil
}

// progressInput is ReadProgress's input for a version, without the
// per-record counts (engine.ReadProgress does the same from the counters).
func progressInput(v *Alert, plans map[string]Plan, src ReportSources) ProgressInput {
	in := ProgressInput{Channels: v.Channels, Planned: plans, Outbox: src.Outbox,
		Unconfirmed: map[string]int{}, Held: map[string]int{}, Lapsed: map[string]int{}}
	if v.Round > 0 {
		// A rebroadcast round plans the loudspeakers only.
		in.Planned = maps.Clone(plans)
		for _, ch := range v.Channels {
			if _, ok := in.Planned[ch]; !ok && ch != "speaker" {
				in.Planned[ch] = Plan{Channel: ch}
			}
		}
	}
	return in
}

// townshipCode is the township of a place (village, township or region
// code); "" when there is none. A county-level place stays as it is.
func townshipCode(tree *targeting.Tree, place string) string {
	if place == "" {
		return ""
	}
	if tree != nil {
		if tw := tree.TownshipOf(place); tw != "" {
			return tw
		}
	}
	if len(place) >= 9 {
		return place[:9]
	}
	return place
}

// failureReason is what a failed record says went wrong: its last error,
// else its receipt's detail.
func failureReason(r *ReportRecord) string {
	reason := cmp.Or(r.LastError, r.Detail, "unknown")
	if utf8.RuneCountInString(reason) > 200 {
		reason = string([]rune(reason)[:200]) + "…"
	}
	return strings.Clone(reason)
}
