package engine

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// villagePointer is the population's village locations (served by
// dispatch.PopulationIndex), needed for away-from guidance.
type villagePointer interface {
	VillagePoints() map[string]targeting.Point
}

// residentVillager is the population's batch lookup of residents'
// villages (served by dispatch.PopulationIndex).
type residentVillager interface {
	ResidentVillages(ids []uint32, fn func(i int, village string))
}

// guidanceCache keeps each version's per-village guidance: computed once
// per version and node, never per recipient.
type guidanceCache struct {
	mu sync.Mutex
	m  map[string]*dispatch.VillageGuidance
}

// Guidance returns version a's per-village guidance (nil when it asks no
// action, or is a cancel or all-clear).
func (e *Engine) Guidance(ctx context.Context, a *dispatch.Alert) (*dispatch.VillageGuidance, error) {
	if a.Action == nil || (a.Kind != warning.KindAlert && a.Kind != warning.KindUpdate) {
		return nil, nil
	}
	key := a.Key()
	e.guides.mu.Lock()
	g, ok := e.guides.m[key]
	e.guides.mu.Unlock()
	if ok {
		return g, nil
	}
	var shelters []dispatch.Shelter
	var assignments []targeting.Assignment
	var points map[string]targeting.Point
	if a.Action.AwayFrom != "" {
		if vp, ok := e.cfg.Population.(villagePointer); ok {
			points = vp.VillagePoints()
		}
	} else if a.Action.Type == dispatch.ActionEvacuate {
		var err error
		if shelters, err = e.store.Shelters(ctx); err != nil {
			return nil, fmt.Errorf("guidance: shelters: %w", err)
		}
		if assignments, err = e.store.ShelterAssignments(ctx); err != nil {
			return nil, fmt.Errorf("guidance: assignments: %w", err)
		}
	}
	g = dispatch.GuidanceOf(a, shelters, assignments, points)
	e.guides.mu.Lock()
	if e.guides.m == nil || len(e.guides.m) > 64 {
		e.guides.m = map[string]*dispatch.VillageGuidance{}
	}
	e.guides.m[key] = g
	e.guides.mu.Unlock()
	return g, nil
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
