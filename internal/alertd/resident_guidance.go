package alertd

import (
	"context"
	"errors"

	"github.com/alertcast/alertcast/channels/websocket"
	"github.com/alertcast/alertcast/dispatch"
)

// residentGuidance is websocket.Config.Guidance: a village's guidance
// under one warning version (frozen with the version when it was
// submitted, read by the engine as the SMS reads it; never the shelters of
// now) and its shelter's last reported occupancy. The
// resident page is public: it gets this village's guidance only, never a
// shelter's contacts.
func (s *Server) residentGuidance(ctx context.Context, alertID string, version int, village string) (websocket.VillageGuidance, error) {
	eng := s.engine // built after the channels; pages ask only once serving
	if eng == nil {
		return websocket.VillageGuidance{}, errors.New("engine not started")
	}
	a, err := s.store.AlertVersion(ctx, alertID, version)
	if errors.Is(err, dispatch.ErrNotFound) {
		return websocket.VillageGuidance{}, nil // not this deployment's warning (a test message): no guidance
	}
	if err != nil {
		return websocket.VillageGuidance{}, err
	}
	vg, err := eng.Guidance(ctx, a)
	if err != nil {
		return websocket.VillageGuidance{}, err
	}
	out := websocket.VillageGuidance{Guidance: vg.For(village)}
	if g := out.Guidance; g != nil && g.Shelter != nil {
		sh, err := s.store.Shelter(ctx, g.Shelter.ID)
		switch {
		case err == nil:
			out.Occupancy = sh.Occupancy
		case !errors.Is(err, dispatch.ErrNotFound):
			return out, err
		}
	}
	return out, nil
}
