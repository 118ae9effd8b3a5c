package api

import (
	"context"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/engine"
	"github.com/alertcast/alertcast/warning"
)

// progress reads a version's progress as this API node shows it.
func (api *API) progress(ctx context.Context, a *dispatch.Alert) (map[string]dispatch.Progress, dispatch.Overall, error) {
	src := engine.ProgressSources{UnconfirmedAfter: api.UnconfirmedAfter}
	if api.Service != nil {
		src.Engine, src.OfflineSpeakers = api.Service.Engine, api.Service.Preview.OfflineSpeakers
	}
	return engine.ReadProgress(ctx, api.Store, src, a)
}

// emptyView is the view of a version nothing is recorded for yet (just
// created, approved or updated): its channels, their modes, no figure.
func (api *API) emptyView(a *dispatch.Alert, disp string) *AlertView {
	in := dispatch.ProgressInput{Channels: a.Channels}
	if api.Service != nil {
		in.Outbox = engine.OutboxChannels(api.Service.Engine)
	}
	per, ov := dispatch.ProgressOf(nil, in)
	if a.State == warning.StatePending || a.State == warning.StateRejected {
		ov.Phase = dispatch.PhaseNotDispatched
	}
	return &AlertView{Alert: a, Dispatch: disp, Progress: per, Overall: ov}
}
