package engine

import (
	"context"
	"maps"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/channels/dryrun"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
)

// OutboxChannels lists the channels this node's engine records to the
// outbox.
func OutboxChannels(e *Engine) []string {
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
func ReadProgress(ctx context.Context, st *dispatch.Store, src ProgressSources, a *dispatch.Alert) (map[string]dispatch.Progress, dispatch.Overall, error) {
	e, unconfirmedAfter := src.Engine, src.UnconfirmedAfter
	c, err := st.DeliveryCounters(ctx, a.ID, a.Version)
	if err != nil {
		return nil, dispatch.Overall{}, err
	}
	plans, err := st.Plans(ctx, a.ID, a.Version)
	if err != nil {
		return nil, dispatch.Overall{}, err
	}
	in := dispatch.ProgressInput{Channels: a.Channels, Planned: plans, Unconfirmed: map[string]int{}, Held: map[string]int{}, Outbox: OutboxChannels(e)}
	if n := c["speaker"]["sent"]; n > 0 && (a.Kind == warning.KindAlert || a.Kind == warning.KindUpdate) && !time.Now().Before(a.Expires) {
		// Past validity a loudspeaker no longer plays this version: what
		// is still unconfirmed will stay so.
		in.Lapsed = map[string]int{"speaker": n}
	} else if n > 0 && src.OfflineSpeakers != nil {
		ids, err := st.RecipientsInState(ctx, a.ID, a.Version, "speaker", channels.StateSent)
		if err != nil {
			return nil, dispatch.Overall{}, err
		}
		in.Held["speaker"] = src.OfflineSpeakers(ctx, ids)
	}
	if a.Round > 0 {
		// A rebroadcast round plans the loudspeakers only (handlePlan):
		// the other channels have nothing to wait for.
		in.Planned = maps.Clone(plans)
		for _, ch := range a.Channels {
			if _, ok := in.Planned[ch]; !ok && ch != "speaker" {
				in.Planned[ch] = dispatch.Plan{Channel: ch}
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
			return nil, dispatch.Overall{}, err
		}
		in.Unconfirmed[ch] = n
	}
	per, ov := dispatch.ProgressOf(c, in)
	if (a.State == warning.StatePending || a.State == warning.StateRejected) && ov.Planned == 0 {
		ov.Phase, ov.Percent = dispatch.PhaseNotDispatched, nil
	}
	return per, ov, nil
}
