package dispatch

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/dryrun"
	"github.com/alertcast/alertcast/warning"
)

// Progress is one channel's delivery progress for a warning version: the
// one model the API, the console, alertctl and the metrics all show. Every
// planned record is in exactly one of the counts after Planned:
//
//	Planned = Queued + Sent + Unconfirmed + Held + Delivered + Failed + Expired + Revoked + NotSent
//
// Sent is handed to the gateway or device and not yet confirmed; after the
// channel's unconfirmed time (sms: progress.sms_unconfirmed_after) without
// a receipt it is counted as Unconfirmed instead — never as delivered.
// Held is sent to a loudspeaker that is offline now (the command waits for
// it, until the warning expires; a loudspeaker command still unconfirmed
// after expiry counts as expired — it will not play any more). NotSent is recorded in the outbox because no real channel is configured:
// nobody received it. Mode says which: "live" or "outbox".
type Progress struct {
	Mode        string `json:"mode"`
	Planned     int    `json:"planned"`
	Queued      int    `json:"queued"`
	Sent        int    `json:"sent"`
	Unconfirmed int    `json:"unconfirmed"`
	// Held is a loudspeaker command held for a speaker that is offline now:
	// it plays when the speaker is back within the warning's validity.
	Held      int `json:"held"`
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"`
	Expired   int `json:"expired"`
	Revoked   int `json:"revoked"`
	NotSent   int `json:"not_sent"`
	// Done counts the records nothing more will happen to: delivered,
	// failed, expired, revoked and not sent.
	Done int `json:"done"`
	// Percent is Done*100/Planned rounded down; null while the channel's
	// audience is still being planned (see Overall).
	Percent *int `json:"percent"`
}

// Progress modes.
const (
	ModeLive   = "live"
	ModeOutbox = "outbox"
)

// Overall phases of a warning version's delivery.
const (
	// PhasePlanning: some channel's audience is still being written. No
	// percentage is given: the denominator is not known yet, and a figure
	// computed over a growing denominator would go backwards.
	PhasePlanning = "planning"
	// PhaseSending: records are queued or sent and awaiting confirmation.
	PhaseSending = "sending"
	// PhaseHeld: nothing is queued or in flight, but commands are held for
	// offline loudspeakers: they play when the speakers come back.
	PhaseHeld = "held"
	// PhaseUnconfirmed: nothing is queued or held, but some records never
	// got a receipt within the unconfirmed time. Nothing more will be sent.
	PhaseUnconfirmed = "unconfirmed"
	// PhaseDone: every record is done.
	PhaseDone = "done"
	// PhaseNotDispatched: the version is not on the air (awaiting a second
	// officer's approval, or rejected): nothing is planned or sent.
	PhaseNotDispatched = "not_dispatched"
)

// Overall is a warning version's progress over all its channels.
//
// Percent is Done*100/Planned, rounded down, where Done counts delivered,
// failed, expired, revoked and not-sent records: the share nothing more will
// happen to. It is null while planning (Phase "planning"), so it never goes
// backwards: once every channel is planned, Planned is fixed and records
// only move forward. A percentage is not success: Delivered says how many
// were confirmed reached, NotSent how many were only recorded in the
// outbox. Outbox lists the channels whose messages went to the outbox.
type Overall struct {
	Phase       string   `json:"phase"`
	Percent     *int     `json:"percent"`
	Planned     int      `json:"planned"`
	Done        int      `json:"done"`
	Delivered   int      `json:"delivered"`
	Unconfirmed int      `json:"unconfirmed"`
	Held        int      `json:"held"`
	NotSent     int      `json:"not_sent"`
	Outbox      []string `json:"outbox"`
}

// ProgressInput is what ProgressOf needs beyond the counters.
type ProgressInput struct {
	// Channels the version is to go out on.
	Channels []string
	// Planned lists the channels whose plan is complete (Store.Plans).
	Planned map[string]Plan
	// Outbox lists channels configured as the outbox on this node.
	Outbox []string
	// Unconfirmed, per channel, is how many sent records are older than the
	// channel's unconfirmed time.
	Unconfirmed map[string]int
	// Held, per channel, is how many sent records wait for an offline device.
	Held map[string]int
	// Lapsed, per channel, is how many sent records can no longer be
	// confirmed: the warning expired before the device reported playing
	// (the held command is dropped at expiry). They count as expired.
	Lapsed map[string]int
}

// ProgressOf turns raw counters into per-channel progress and the overall
// figure. A channel is in outbox mode when this node records it to the
// outbox or any of its records is not sent.
func ProgressOf(c Counters, in ProgressInput) (map[string]Progress, Overall) {
	out := map[string]Progress{}
	for _, ch := range in.Channels {
		out[ch] = Progress{}
	}
	for ch, m := range c {
		p := Progress{Queued: m["planned"], Sent: m["sent"], Delivered: m["delivered"], Failed: m["failed"],
			Expired: m["expired"], Revoked: m["revoked"], NotSent: m["not_sent"]}
		lp := min(in.Lapsed[ch], p.Sent)
		p.Sent, p.Expired = p.Sent-lp, p.Expired+lp
		hd := min(in.Held[ch], p.Sent)
		p.Sent, p.Held = p.Sent-hd, hd
		u := min(in.Unconfirmed[ch], p.Sent)
		p.Sent, p.Unconfirmed = p.Sent-u, u
		p.Done = p.Delivered + p.Failed + p.Expired + p.Revoked + p.NotSent
		p.Planned = p.Queued + p.Sent + p.Unconfirmed + p.Held + p.Done
		out[ch] = p
	}
	ov := Overall{Phase: PhaseDone, Outbox: []string{}}
	planning, sending := false, false
	for ch, p := range out {
		p.Mode = ModeLive
		if p.NotSent > 0 || slices.Contains(in.Outbox, ch) {
			p.Mode = ModeOutbox
			ov.Outbox = append(ov.Outbox, ch)
		}
		if _, ok := in.Planned[ch]; !ok && slices.Contains(in.Channels, ch) {
			planning = true
		} else {
			pct := 100
			if p.Planned > 0 {
				pct = p.Done * 100 / p.Planned
			}
			p.Percent = &pct
		}
		out[ch] = p
		ov.Planned += p.Planned
		ov.Done += p.Done
		ov.Delivered += p.Delivered
		ov.Unconfirmed += p.Unconfirmed
		ov.Held += p.Held
		ov.NotSent += p.NotSent
		if p.Queued > 0 || p.Sent > 0 {
			sending = true
		}
	}
	switch {
	case sending:
		ov.Phase = PhaseSending
	case ov.Held > 0:
		ov.Phase = PhaseHeld
	case ov.Unconfirmed > 0:
		ov.Phase = PhaseUnconfirmed
	}
	slices.Sort(ov.Outbox)
	if planning {
		ov.Phase = PhasePlanning
		return out, ov
	}
	pct := 100
	if ov.Planned > 0 {
		pct = ov.Done * 100 / ov.Planned
	}
	ov.Percent = &pct
	return out, ov
}

// outboxChannels lists the channels this node's engine records to the
// outbox.
func outboxChannels(e *Engine) []string {
	if e == nil {
		return nil
	}
	var out []string
	for name, ch := range e.cfg.Channels {
		if _, ok := ch.(*dryrun.Channel); ok {
			out = append(out, name)
		}
	}
	return out
}

// progress reads a version's progress as this API node shows it.
func (api *API) progress(ctx context.Context, a *Alert) (map[string]Progress, Overall, error) {
	src := ProgressSources{UnconfirmedAfter: api.UnconfirmedAfter}
	if api.Service != nil {
		src.Engine, src.OfflineSpeakers = api.Service.Engine, api.Service.Preview.OfflineSpeakers
	}
	return ReadProgress(ctx, api.Store, src, a)
}

// ProgressSources is what ReadProgress reads besides the store.
type ProgressSources struct {
	// Engine (may be nil) says which channels this node records to the outbox.
	Engine *Engine
	// UnconfirmedAfter, per channel: see API.UnconfirmedAfter.
	UnconfirmedAfter map[string]time.Duration
	// OfflineSpeakers (may be nil) counts the given loudspeakers that are
	// offline now: their sent commands are held.
	OfflineSpeakers func(ctx context.Context, ids []string) int
}

// ReadProgress reads a version's progress: counters, plans, for channels
// with an unconfirmed time the sent records older than it, and the
// loudspeakers whose commands are held because they are offline.
func ReadProgress(ctx context.Context, st *Store, src ProgressSources, a *Alert) (map[string]Progress, Overall, error) {
	e, unconfirmedAfter := src.Engine, src.UnconfirmedAfter
	c, err := st.DeliveryCounters(ctx, a.ID, a.Version)
	if err != nil {
		return nil, Overall{}, err
	}
	plans, err := st.Plans(ctx, a.ID, a.Version)
	if err != nil {
		return nil, Overall{}, err
	}
	in := ProgressInput{Channels: a.Channels, Planned: plans, Unconfirmed: map[string]int{}, Held: map[string]int{}, Outbox: outboxChannels(e)}
	if n := c["speaker"]["sent"]; n > 0 && (a.Kind == warning.KindAlert || a.Kind == warning.KindUpdate) && !time.Now().Before(a.Expires) {
		// Past validity a loudspeaker no longer plays this version: what
		// is still unconfirmed will stay so.
		in.Lapsed = map[string]int{"speaker": n}
	} else if n > 0 && src.OfflineSpeakers != nil {
		ids, err := st.RecipientsInState(ctx, a.ID, a.Version, "speaker", channels.StateSent)
		if err != nil {
			return nil, Overall{}, err
		}
		in.Held["speaker"] = src.OfflineSpeakers(ctx, ids)
	}
	if a.Round > 0 {
		// A rebroadcast round plans the loudspeakers only (handlePlan):
		// the other channels have nothing to wait for.
		in.Planned = maps.Clone(plans)
		for _, ch := range a.Channels {
			if _, ok := in.Planned[ch]; !ok && ch != "speaker" {
				in.Planned[ch] = Plan{Channel: ch}
			}
		}
	}
	now := time.Now()
	for ch, after := range unconfirmedAfter {
		p, planned := plans[ch]
		// No record can be older than its plan: skip the count until one
		// could be.
		if after <= 0 || c[ch]["sent"] == 0 || !planned || now.Sub(p.PlannedAt) < after {
			continue
		}
		n, err := st.SentBefore(ctx, a.ID, a.Version, ch, now.Add(-after))
		if err != nil {
			return nil, Overall{}, err
		}
		in.Unconfirmed[ch] = n
	}
	per, ov := ProgressOf(c, in)
	if (a.State == warning.StatePending || a.State == warning.StateRejected) && ov.Planned == 0 {
		ov.Phase, ov.Percent = PhaseNotDispatched, nil
	}
	return per, ov, nil
}

// DefaultSMSUnconfirmedAfter is how long an SMS handed to a gateway waits
// for its delivery report before it shows as unconfirmed.
const DefaultSMSUnconfirmedAfter = 10 * time.Minute

// emptyView is the view of a version nothing is recorded for yet (just
// created, approved or updated): its channels, their modes, no figure.
func (api *API) emptyView(a *Alert, dispatch string) *AlertView {
	in := ProgressInput{Channels: a.Channels}
	if api.Service != nil {
		in.Outbox = outboxChannels(api.Service.Engine)
	}
	per, ov := ProgressOf(nil, in)
	if a.State == warning.StatePending || a.State == warning.StateRejected {
		ov.Phase = PhaseNotDispatched
	}
	return &AlertView{Alert: a, Dispatch: dispatch, Progress: per, Overall: ov}
}
