package dispatch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// PopulationIndex is the population: the in-memory targeting index kept in
// step with the database, plus the field endpoints for voice calls. It
// implements Population for planning.
type PopulationIndex struct {
	store *Store
	tree  *targeting.Tree
	ix    *targeting.Index

	mu     sync.RWMutex
	fields []FieldEndpoint
	impMu  sync.Mutex // one import at a time: id assignment

	genMu sync.Mutex
	gen   string // the population generation this index reflects (population_sync.go)
}

// NewPopulationIndex builds the index from the database. Region files imported
// earlier (other counties) are merged into tree first.
func NewPopulationIndex(ctx context.Context, store *Store, tree *targeting.Tree) (*PopulationIndex, error) {
	// Read before loading: a change made while we load moves it again,
	// and the next Refresh catches that change.
	gen, err := store.PopulationGeneration(ctx)
	if err != nil {
		return nil, fmt.Errorf("population generation: %w", err)
	}
	r := &PopulationIndex{store: store, tree: tree, gen: gen}
	if err := r.mergeRegionFiles(ctx); err != nil {
		return nil, err
	}
	r.ix = targeting.NewIndex(tree)
	if err := r.load(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Tree returns the region tree.
func (r *PopulationIndex) Tree() *targeting.Tree { return r.tree }

// Index returns the targeting index.
func (r *PopulationIndex) Index() *targeting.Index { return r.ix }

// Resolve implements Population.
func (r *PopulationIndex) Resolve(aim targeting.Aim) (*targeting.Resolution, error) {
	return r.ix.Resolve(aim)
}

// Resident implements Population.
func (r *PopulationIndex) Resident(id uint32) (targeting.Resident, bool) { return r.ix.Resident(id) }

// FieldEndpoints implements Population: endpoints whose region is inside
// (or contains) one of the codes.
func (r *PopulationIndex) FieldEndpoints(codes []string) []channels.Recipient {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []channels.Recipient
	for _, f := range r.fields {
		for _, c := range codes {
			if r.tree.Contains(c, f.Region) || r.tree.Contains(f.Region, c) {
				out = append(out, channels.Recipient{ID: f.ID, Address: f.ID})
				break
			}
		}
	}
	return out
}

// ReloadFieldEndpoints rereads the field endpoints from the database.
func (r *PopulationIndex) ReloadFieldEndpoints(ctx context.Context) error {
	fs, err := r.store.FieldEndpoints(ctx)
	if err != nil {
		return fmt.Errorf("load field endpoints: %w", err)
	}
	r.mu.Lock()
	r.fields = fs
	r.mu.Unlock()
	return nil
}

// ImportRegions adds another county's region tree (the CSV format of
// targeting/data/653122.csv): validated line by line, stored for every node
// and merged into the running tree. Codes already loaded are refused.
func (r *PopulationIndex) ImportRegions(ctx context.Context, src io.Reader, by Actor) ([]targeting.Region, error) {
	raw, err := io.ReadAll(io.LimitReader(src, 16<<20))
	if err != nil {
		return nil, err
	}
	t, err := targeting.ParseRegions(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	counties := t.Counties()
	if len(counties) == 0 {
		return nil, &ValidationError{Problems: []warning.FieldError{{Field: "level", Rule: "the file must contain its county row (level county)"}}}
	}
	for _, reg := range t.Townships() {
		if _, dup := r.tree.Region(reg.Code); dup {
			return nil, &ValidationError{Problems: []warning.FieldError{{Field: "code", Rule: "already loaded", Value: reg.Code}}}
		}
	}
	for _, c := range counties {
		if _, dup := r.tree.Region(c.Code); dup {
			return nil, &ValidationError{Problems: []warning.FieldError{{Field: "code", Rule: "county already loaded", Value: c.Code}}}
		}
	}
	names := make([]string, len(counties))
	for i, c := range counties {
		names[i] = c.Code
	}
	if err := r.store.SaveRegionFile(ctx, strings.Join(names, ","), string(raw), by); err != nil {
		return nil, err
	}
	if err := r.tree.Merge(t); err != nil {
		return nil, err
	}
	r.impMu.Lock()
	err = r.reassignShelters(ctx)
	r.impMu.Unlock()
	if err != nil {
		return counties, err
	}
	return counties, r.changed(ctx)
}

// ImportResult reports an import.
type ImportResult struct {
	targeting.ImportReport
	Applied bool `json:"applied"`
	Stored  int  `json:"stored"`
}

// ImportResidents reads a residents CSV. With partial false nothing is
// stored when any line is bad; with partial true the good lines are stored.
// Residents are keyed by phone: a phone already registered keeps its id.
func (r *PopulationIndex) ImportResidents(ctx context.Context, src io.Reader, partial bool, progress func(lines int)) (ImportResult, error) {
	return r.ImportResidentsBy(ctx, Actor{}, src, partial, progress)
}

// ImportResidentsBy is ImportResidents for an account: a line whose
// village is outside by's scope is a line error (nothing is stored
// without partial).
func (r *PopulationIndex) ImportResidentsBy(ctx context.Context, by Actor, src io.Reader, partial bool, progress func(lines int)) (ImportResult, error) {
	r.impMu.Lock()
	defer r.impMu.Unlock()
	var all []targeting.Resident
	rep, err := targeting.ReadResidents(src, func(line int, res targeting.Resident) error {
		if err := r.ix.CheckResident(res); err != nil {
			return err
		}
		if err := r.inScope(by, res.Village); err != nil {
			return err
		}
		all = append(all, res)
		if progress != nil && line%10000 == 0 {
			progress(line)
		}
		return nil
	})
	out := ImportResult{ImportReport: rep}
	if err != nil {
		return out, err
	}
	if rep.ErrorCount > 0 && !partial {
		return out, nil
	}
	maxID, err := r.store.MaxResidentID(ctx)
	if err != nil {
		return out, err
	}
	const chunk = 20000
	for start := 0; start < len(all); start += chunk {
		part := all[start:min(start+chunk, len(all))]
		phones := make([]string, len(part))
		for i := range part {
			phones[i] = part[i].Phone
		}
		known, err := r.store.ResidentIDs(ctx, phones)
		if err != nil {
			return out, err
		}
		for i := range part {
			if part[i].ID != 0 {
				continue
			}
			if id, ok := known[part[i].Phone]; ok {
				part[i].ID = id
			} else {
				maxID++
				part[i].ID = maxID
			}
		}
		if err := r.store.UpsertResidents(ctx, part); err != nil {
			return out, fmt.Errorf("store residents: %w", err)
		}
		for i := range part {
			if err := r.ix.PutResident(part[i]); err != nil {
				return out, fmt.Errorf("index resident %d: %w", part[i].ID, err)
			}
		}
		out.Stored += len(part)
		if progress != nil {
			progress(start + len(part))
		}
	}
	out.Applied = true
	if err := r.reassignShelters(ctx); err != nil {
		return out, err
	}
	return out, r.changed(ctx)
}

// ImportSpeakers reads a speakers CSV, like ImportResidents.
func (r *PopulationIndex) ImportSpeakers(ctx context.Context, src io.Reader, partial bool) (ImportResult, error) {
	return r.ImportSpeakersBy(ctx, Actor{}, src, partial)
}

// ImportSpeakersBy is ImportSpeakers for an account: a loudspeaker outside
// by's scope, or one registered in another village outside it (moving a
// device out of another county), is a line error.
func (r *PopulationIndex) ImportSpeakersBy(ctx context.Context, by Actor, src io.Reader, partial bool) (ImportResult, error) {
	r.impMu.Lock()
	defer r.impMu.Unlock()
	var all []targeting.Speaker
	rep, err := targeting.ReadSpeakers(src, func(line int, s targeting.Speaker) error {
		if err := r.ix.CheckSpeaker(s); err != nil {
			return err
		}
		if err := r.inScope(by, s.Village); err != nil {
			return err
		}
		if old, ok := r.ix.Speaker(s.ID); ok {
			if err := r.inScope(by, old.Village); err != nil {
				return &warning.FieldError{Field: "id", Rule: "registered in village " + old.Village + ", outside your scope " + by.Scope.Label(r.tree), Value: s.ID}
			}
		}
		all = append(all, s)
		return nil
	})
	out := ImportResult{ImportReport: rep}
	if err != nil {
		return out, err
	}
	if rep.ErrorCount > 0 && !partial {
		return out, nil
	}
	if err := r.store.UpsertSpeakers(ctx, all); err != nil {
		return out, fmt.Errorf("store speakers: %w", err)
	}
	for _, s := range all {
		if err := r.ix.PutSpeaker(s); err != nil {
			return out, err
		}
	}
	out.Stored, out.Applied = len(all), true
	if err := r.reassignShelters(ctx); err != nil {
		return out, err
	}
	return out, r.changed(ctx)
}

// inScope refuses a village outside by's scope as a line error naming the
// field and the scope.
func (r *PopulationIndex) inScope(by Actor, village string) error {
	if by.Scope.Contains(r.tree, village) {
		return nil
	}
	return &warning.FieldError{Field: "village", Rule: "outside your scope " + by.Scope.Label(r.tree), Value: village}
}
