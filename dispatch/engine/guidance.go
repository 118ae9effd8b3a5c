package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
)

// residentVillager is the population's batch lookup of residents'
// villages (served by dispatch.PopulationIndex).
type residentVillager interface {
	ResidentVillages(ids []uint32, fn func(i int, village string))
}

// guidanceCache keeps stored guidance by digest: read and checked once per
// node, never per recipient.
type guidanceCache struct {
	mu sync.Mutex
	m  map[string]*dispatch.VillageGuidance
}

// Guidance returns version a's per-village guidance as frozen with the
// version when it was submitted (nil when it asks no action, or is a
// cancel or all-clear). It never computes guidance from the shelters of
// now: a shelter edited after submission does not change what an approved
// version says.
//
// A version that asks an action but has no usable frozen guidance — stored
// before guidance was frozen with versions, or whose stored row no longer
// matches its digest — gets its default guidance only (the action, with no
// shelter, direction or distance: words its approver did see), and the
// fault is logged; its text and action still go out.
func (e *Engine) Guidance(ctx context.Context, a *dispatch.Alert) (*dispatch.VillageGuidance, error) {
	if !a.GuidanceApplies() {
		return nil, nil
	}
	key := guidanceKey(a)
	e.guides.mu.Lock()
	g, ok := e.guides.m[key]
	e.guides.mu.Unlock()
	if ok {
		return g, nil
	}
	g, err := e.store.VersionGuidance(ctx, a)
	switch {
	case errors.Is(err, dispatch.ErrGuidanceMissing):
		e.log.Warn("version has no frozen guidance (stored before guidance was frozen): its action only, no shelter or direction",
			"alert_id", a.ID, "version", a.Version)
		g = actionOnly(a)
	case errors.Is(err, dispatch.ErrGuidanceTampered):
		e.log.Error("stored guidance does not match the version's digest: its action only, no shelter or direction",
			"alert_id", a.ID, "version", a.Version, "digest", a.GuidanceDigest, "err", err)
		g = actionOnly(a)
	case err != nil:
		return nil, fmt.Errorf("guidance of %s: %w", a.Key(), err)
	}
	e.guides.mu.Lock()
	if e.guides.m == nil || len(e.guides.m) > 64 {
		e.guides.m = map[string]*dispatch.VillageGuidance{}
	}
	e.guides.m[key] = g
	e.guides.mu.Unlock()
	return g, nil
}

// guidanceKey is where the engine caches a version's guidance: by its
// frozen digest (versions sharing it share one entry), or by the version
// when it has none.
func guidanceKey(a *dispatch.Alert) string {
	if a.GuidanceDigest == "" {
		return "missing:" + a.Key()
	}
	return a.GuidanceDigest
}

// actionOnly is a version's guidance with no village of its own: what the
// version's action says to everyone (dispatch.GuidanceOf with no shelters
// and no village points).
func actionOnly(a *dispatch.Alert) *dispatch.VillageGuidance {
	return dispatch.GuidanceOf(a, nil, nil, nil)
}

// sendPart is recipients that get the same message.
type sendPart struct {
	msg   *channels.Message
	rcpts []channels.Recipient
	// audio renders the part's own programme (loudspeakers of villages
	// with guidance); nil: msg as it is.
	audio func() (*channels.Audio, error)
}

// sendParts cuts a batch's recipients into Send calls of at most chunk
// recipients. With per-village guidance, SMS recipients are grouped by what
// their guidance says (one message per distinct guidance, its village's
// shelter or direction) in batch order, and so are loudspeakers, each
// group with its own programme (speakerParts); every other case is the batch in
// chunks with the one message.
func (e *Engine) sendParts(ctx context.Context, a *dispatch.Alert, channel string, msg *channels.Message, todo []channels.Recipient, chunk int) ([]sendPart, error) {
	var parts []sendPart
	cut := func(m *channels.Message, rs []channels.Recipient) {
		for i := 0; i < len(rs); i += chunk {
			parts = append(parts, sendPart{msg: m, rcpts: rs[i:min(i+chunk, len(rs))]})
		}
	}
	g, err := e.Guidance(ctx, a)
	if err != nil {
		return nil, err
	}
	if g != nil && channel == "speaker" && msg.Audio != nil {
		gr, ok1 := e.cfg.Audio.(guidedRenderer)
		sv, ok2 := e.cfg.Population.(speakerVillager)
		if ok1 && ok2 {
			return e.speakerParts(ctx, a, g, gr, sv, msg, todo, chunk), nil
		}
	}
	if g == nil || channel != "sms" || e.cfg.Population == nil {
		cut(msg, todo)
		return parts, nil
	}
	type group struct {
		msg   *channels.Message
		rcpts []channels.Recipient
	}
	// Each recipient's village, looked up for the whole batch at once.
	villages := make([]string, len(todo))
	ids := make([]uint32, len(todo))
	for i, r := range todo {
		if id, err := strconv.ParseUint(r.ID, 10, 32); err == nil {
			ids[i] = uint32(id)
		}
	}
	if rv, ok := e.cfg.Population.(residentVillager); ok {
		rv.ResidentVillages(ids, func(i int, v string) { villages[i] = v })
	} else {
		for i, id := range ids {
			if res, ok := e.cfg.Population.Resident(id); ok {
				villages[i] = res.Village
			}
		}
	}
	var order []string
	groups := map[string]*group{}
	byVillage := map[string]*group{}
	for i, r := range todo {
		if gr := byVillage[villages[i]]; gr != nil {
			gr.rcpts = append(gr.rcpts, r)
			continue
		}
		vg := g.For(villages[i])
		if vg == nil {
			vg = g.Default
		}
		k := vg.Key()
		gr := groups[k]
		if gr == nil {
			m := *msg
			m.Guidance = vg
			gr = &group{msg: &m}
			groups[k] = gr
			order = append(order, k)
		}
		byVillage[villages[i]] = gr
		gr.rcpts = append(gr.rcpts, r)
	}
	for _, k := range order {
		cut(groups[k].msg, groups[k].rcpts)
	}
	return parts, nil
}
