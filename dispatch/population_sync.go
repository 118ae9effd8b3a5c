package dispatch

import (
	"context"
	"fmt"
	"strings"

	"github.com/alertcast/alertcast/targeting"
)

// The population index lives in each node's memory. An import on one node
// writes the database and bumps the population generation; every other node
// (a worker about to plan, above all) sees the generation change and reads
// the registry again before it resolves an audience. Without this, a worker
// started before an import planned against the population it loaded at
// start: a warning could reach nobody.

// Refresh brings the index up to date with the database when another node
// changed the population since this one last loaded it. It is cheap when
// nothing changed (one settings read). Imports only add and update, so
// re-applying every stored resident and speaker converges on the database.
func (r *PopulationIndex) Refresh(ctx context.Context) error {
	gen, err := r.store.PopulationGeneration(ctx)
	if err != nil {
		return fmt.Errorf("population generation: %w", err)
	}
	r.genMu.Lock()
	same := gen == r.gen
	r.genMu.Unlock()
	if same {
		return nil
	}
	// impMu before genMu, as in an import (which calls changed).
	r.impMu.Lock()
	defer r.impMu.Unlock()
	if err := r.mergeRegionFiles(ctx); err != nil {
		return err
	}
	if err := r.load(ctx); err != nil {
		return err
	}
	r.genMu.Lock()
	r.gen = gen
	r.genMu.Unlock()
	r.store.log.Info("population reloaded: another node changed it", "generation", gen)
	return nil
}

// load puts every stored resident and loudspeaker into the index (an
// upsert: loading again converges on the database) and rereads the field
// endpoints.
func (r *PopulationIndex) load(ctx context.Context) error {
	var bad int
	if err := r.store.ForEachResident(ctx, func(res targeting.Resident) error {
		if err := r.ix.PutResident(res); err != nil {
			bad++
		}
		return nil
	}); err != nil {
		return fmt.Errorf("load residents: %w", err)
	}
	if err := r.store.ForEachSpeaker(ctx, func(sp SpeakerRecord) error {
		if err := r.ix.PutSpeaker(sp.Speaker); err != nil {
			bad++
		}
		return nil
	}); err != nil {
		return fmt.Errorf("load speakers: %w", err)
	}
	if bad > 0 {
		r.store.log.Warn("stored registry entries that do not fit the loaded region tree were not indexed", "count", bad)
	}
	return r.ReloadFieldEndpoints(ctx)
}

// mergeRegionFiles merges the imported region files (other counties) that
// this node's tree does not hold yet: all of them at start, those imported
// on other nodes since then on a refresh.
func (r *PopulationIndex) mergeRegionFiles(ctx context.Context) error {
	files, err := r.store.RegionFiles(ctx)
	if err != nil {
		return fmt.Errorf("load imported regions: %w", err)
	}
	for i, f := range files {
		t, err := targeting.ParseRegions(strings.NewReader(f))
		if err != nil {
			return fmt.Errorf("imported region file %d: %w", i+1, err)
		}
		fresh := false
		for _, c := range t.Counties() {
			if _, ok := r.tree.Region(c.Code); !ok {
				fresh = true
			}
		}
		if !fresh {
			continue
		}
		if err := r.tree.Merge(t); err != nil {
			return fmt.Errorf("imported region file %d: %w", i+1, err)
		}
	}
	return nil
}

// changed records this node's own import: the generation moves for the
// others. This node applied the import to its index already, so it takes
// the new generation as its own — but only when no other node changed the
// population since this one last loaded it (compare-and-set in the
// database); otherwise its generation stays stale and the next Refresh
// reloads.
func (r *PopulationIndex) changed(ctx context.Context) error {
	r.genMu.Lock()
	defer r.genMu.Unlock()
	cur, err := r.store.PopulationGeneration(ctx)
	if err != nil {
		return fmt.Errorf("population generation: %w", err)
	}
	next, swapped, err := r.store.SwapPopulationGeneration(ctx, cur)
	if err != nil {
		return fmt.Errorf("population generation: %w", err)
	}
	if swapped && cur == r.gen {
		r.gen = next
	}
	return nil
}

// FieldEndpointsChanged rereads the field endpoints after this node stored a
// change to them, and tells the other nodes.
func (r *PopulationIndex) FieldEndpointsChanged(ctx context.Context) error {
	if err := r.ReloadFieldEndpoints(ctx); err != nil {
		return err
	}
	return r.changed(ctx)
}
