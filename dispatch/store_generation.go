package dispatch

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
)

// populationGenerationKey names the setting that changes with every import
// of residents, loudspeakers, regions or field endpoints, on any node.
const populationGenerationKey = "population_generation"

// BumpPopulationGeneration records that the population changed: every node
// that planned with an older index reloads it before it plans again. The
// value is random, not a counter, so two nodes importing at once cannot
// write the same one.
func (s *Store) BumpPopulationGeneration(ctx context.Context) (string, error) {
	gen := rand.Text()
	_, err := s.exec(ctx, nil, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
		populationGenerationKey, gen)
	return gen, err
}

// PopulationGeneration returns the population's current generation ("" when
// nothing was ever imported).
func (s *Store) PopulationGeneration(ctx context.Context) (string, error) {
	var v string
	err := s.w.QueryRowContext(ctx, s.q(`SELECT value FROM settings WHERE name = ?`), populationGenerationKey).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SwapPopulationGeneration moves the generation from cur to a new value if
// it is still cur; swapped says whether it was (otherwise it moved anyway,
// unconditionally, and the caller must not assume it knew the old one).
func (s *Store) SwapPopulationGeneration(ctx context.Context, cur string) (next string, swapped bool, err error) {
	next = rand.Text()
	var res sql.Result
	if cur == "" {
		res, err = s.exec(ctx, nil, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING`, populationGenerationKey, next)
	} else {
		res, err = s.exec(ctx, nil, `UPDATE settings SET value = ? WHERE name = ? AND value = ?`, next, populationGenerationKey, cur)
	}
	if err != nil {
		return "", false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return next, true, nil
	}
	next, err = s.BumpPopulationGeneration(ctx)
	return next, false, err
}
