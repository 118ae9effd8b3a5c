package dispatch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// Shelter is a shelter as stored: its registry entry, the villages it
// serves (listed or nearest, see targeting.AssignShelters) and its last
// reported occupancy.
type Shelter struct {
	targeting.Shelter
	// Served is every village sent to this shelter on evacuate.
	Served []string `json:"served"`
	// Occupancy is the last reported number of people in the shelter; nil
	// until someone reports it.
	Occupancy   *int      `json:"occupancy,omitempty"`
	OccupancyAt time.Time `json:"occupancy_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at"`
	UpdatedBy   string    `json:"updated_by,omitempty"`
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SaveShelters writes shelters (by id: a shelter already stored keeps its
// occupancy) and replaces every village assignment, in one transaction, so
// a reader never sees shelters and assignments that disagree.
func (s *Store) SaveShelters(ctx context.Context, shelters []targeting.Shelter, assignments []targeting.Assignment, by string) error {
	now := time.Now().UnixMilli()
	ex := "excluded"
	if s.pg {
		ex = "EXCLUDED"
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if len(shelters) > 0 {
			_, err := s.insertRows(ctx, tx, `INSERT INTO shelters (id, name, name_ug, lat, lon, capacity, kind, accessible, contact, villages, synthetic, updated_at, updated_by) VALUES `, 13, len(shelters),
				fmt.Sprintf(` ON CONFLICT (id) DO UPDATE SET name = %[1]s.name, name_ug = %[1]s.name_ug, lat = %[1]s.lat, lon = %[1]s.lon,
					capacity = %[1]s.capacity, kind = %[1]s.kind, accessible = %[1]s.accessible, contact = %[1]s.contact, villages = %[1]s.villages,
					synthetic = %[1]s.synthetic, updated_at = %[1]s.updated_at, updated_by = %[1]s.updated_by`, ex),
				func(i int) []any {
					sh := &shelters[i]
					return []any{sh.ID, sh.Name, sh.NameUG, sh.Point.Lat, sh.Point.Lon, sh.Capacity, sh.Kind.String(), boolInt(sh.Accessible),
						sh.Contact, strings.Join(sh.Villages, ";"), boolInt(sh.Synthetic), now, by}
				})
			if err != nil {
				return fmt.Errorf("store shelters: %w", err)
			}
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM shelter_assignments`); err != nil {
			return err
		}
		if len(assignments) == 0 {
			return nil
		}
		_, err := s.insertRows(ctx, tx, `INSERT INTO shelter_assignments (village, shelter_id, explicit, lat, lon) VALUES `, 5, len(assignments), "",
			func(i int) []any {
				a := &assignments[i]
				lat, lon := nullPoint(a.Point)
				return []any{a.Village, a.Shelter, boolInt(a.Explicit), lat, lon}
			})
		if err != nil {
			return fmt.Errorf("store shelter assignments: %w", err)
		}
		return nil
	})
}

const shelterCols = `id, name, name_ug, lat, lon, capacity, kind, accessible, contact, villages, synthetic, occupancy, occupancy_at, updated_at, updated_by`

func scanShelter(sc interface{ Scan(...any) error }) (Shelter, error) {
	var sh Shelter
	var kind, villages string
	var acc, syn int
	var occ sql.NullInt64
	var occAt, upd int64
	err := sc.Scan(&sh.ID, &sh.Name, &sh.NameUG, &sh.Point.Lat, &sh.Point.Lon, &sh.Capacity, &kind, &acc, &sh.Contact, &villages, &syn, &occ, &occAt, &upd, &sh.UpdatedBy)
	if err != nil {
		return sh, err
	}
	if sh.Kind, err = targeting.ParseShelterKind(kind); err != nil {
		return sh, fmt.Errorf("shelter %s: stored kind: %w", sh.ID, err)
	}
	sh.Accessible, sh.Synthetic = acc != 0, syn != 0
	if villages != "" {
		sh.Villages = strings.Split(villages, ";")
	}
	if occ.Valid {
		n := int(occ.Int64)
		sh.Occupancy = &n
	}
	sh.OccupancyAt, sh.UpdatedAt = fromMS(occAt), fromMS(upd)
	sh.Served = []string{}
	return sh, nil
}

// Shelters returns every shelter in id order, each with the villages it
// serves.
func (s *Store) Shelters(ctx context.Context) ([]Shelter, error) { return s.shelters(ctx, s.r) }

// rowsQuerier is a pool or a transaction.
type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) shelters(ctx context.Context, q rowsQuerier) ([]Shelter, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+shelterCols+` FROM shelters ORDER BY id`)
	if err != nil {
		return nil, err
	}
	var out []Shelter
	byID := map[string]int{}
	for rows.Next() {
		sh, err := scanShelter(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		byID[sh.ID] = len(out)
		out = append(out, sh)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	as, err := s.shelterAssignments(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		if i, ok := byID[a.Shelter]; ok {
			out[i].Served = append(out[i].Served, a.Village)
		}
	}
	return out, nil
}

// Shelter returns one shelter (ErrNotFound when absent).
func (s *Store) Shelter(ctx context.Context, id string) (Shelter, error) {
	sh, err := scanShelter(s.r.QueryRowContext(ctx, s.q(`SELECT `+shelterCols+` FROM shelters WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return sh, fmt.Errorf("shelter %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return sh, err
	}
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT village FROM shelter_assignments WHERE shelter_id = ? ORDER BY village`), id)
	if err != nil {
		return sh, err
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return sh, err
		}
		sh.Served = append(sh.Served, v)
	}
	return sh, rows.Err()
}

// ShelterAssignments returns every village's shelter, in village order.
func (s *Store) ShelterAssignments(ctx context.Context) ([]targeting.Assignment, error) {
	return s.shelterAssignments(ctx, s.r)
}

func (s *Store) shelterAssignments(ctx context.Context, q rowsQuerier) ([]targeting.Assignment, error) {
	rows, err := q.QueryContext(ctx, `SELECT village, shelter_id, explicit, lat, lon FROM shelter_assignments ORDER BY village`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []targeting.Assignment
	for rows.Next() {
		var a targeting.Assignment
		var exp int
		var lat, lon sql.NullFloat64
		if err := rows.Scan(&a.Village, &a.Shelter, &exp, &lat, &lon); err != nil {
			return nil, err
		}
		a.Explicit = exp != 0
		if lat.Valid && lon.Valid {
			a.Point = &targeting.Point{Lat: lat.Float64, Lon: lon.Float64}
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ErrStaleOccupancy is returned by SetShelterOccupancy for a report older
// than the one stored: a report queued offline and sent late must not
// overwrite a newer figure.
var ErrStaleOccupancy = errors.New("an occupancy reported later is already stored")

// SetShelterOccupancy records that n people were in shelter id at time at.
// The latest report wins: an older one returns ErrStaleOccupancy and
// changes nothing. An unknown shelter is ErrNotFound.
func (s *Store) SetShelterOccupancy(ctx context.Context, id string, n int, at time.Time) error {
	if n < 0 || n > targeting.MaxShelterCap*10 {
		return &ValidationError{Problems: []warning.FieldError{{Field: "occupancy", Rule: "must be a whole number of people, not negative", Value: fmt.Sprint(n)}}}
	}
	if at.IsZero() {
		return &ValidationError{Problems: []warning.FieldError{{Field: "occupancy_at", Rule: "required: when the count was made"}}}
	}
	res, err := s.exec(ctx, nil, `UPDATE shelters SET occupancy = ?, occupancy_at = ? WHERE id = ? AND occupancy_at <= ?`, n, ms(at), id, ms(at))
	if err != nil {
		return err
	}
	if k, _ := res.RowsAffected(); k == 1 {
		return nil
	}
	var one int
	err = s.w.QueryRowContext(ctx, s.q(`SELECT 1 FROM shelters WHERE id = ?`), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("shelter %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return err
	}
	return ErrStaleOccupancy
}
