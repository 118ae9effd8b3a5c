package dispatch

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/alertcast/alertcast/targeting"
)

// ResidentIDs returns the ids stored for the given (normalised) phones.
func (s *Store) ResidentIDs(ctx context.Context, phones []string) (map[string]uint32, error) {
	out := make(map[string]uint32, len(phones))
	err := s.queryIn(ctx, s.w, `SELECT phone, id FROM residents WHERE phone IN `, phones, func(rows *sql.Rows) error {
		var p string
		var id int64
		if err := rows.Scan(&p, &id); err != nil {
			return err
		}
		out[p] = uint32(id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// queryIn runs head + "(?,…)" over vals in chunks of at most 500 values on
// db, calling each for every row.
func (s *Store) queryIn(ctx context.Context, db *sql.DB, head string, vals []string, each func(*sql.Rows) error) error {
	const chunk = 500
	for start := 0; start < len(vals); start += chunk {
		part := vals[start:min(start+chunk, len(vals))]
		args := make([]any, len(part))
		for i, v := range part {
			args[i] = v
		}
		rows, err := db.QueryContext(ctx, s.q(head+"("+inList(len(part))+")"), args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := each(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// MaxResidentID returns the largest resident id stored (0 when none).
func (s *Store) MaxResidentID(ctx context.Context) (uint32, error) {
	var n int64
	err := s.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM residents`).Scan(&n)
	return uint32(n), err
}

func nullPoint(p *targeting.Point) (any, any) {
	if p == nil {
		return nil, nil
	}
	return p.Lat, p.Lon
}

// UpsertResidents writes residents (by id) in one transaction.
func (s *Store) UpsertResidents(ctx context.Context, rs []targeting.Resident) error {
	now := time.Now().UnixMilli()
	ex := "excluded"
	if s.pg {
		ex = "EXCLUDED"
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := s.insertRows(ctx, tx, `INSERT INTO residents (id, phone, village, groups, language, opt_out, lat, lon, updated_at) VALUES `, 9, len(rs),
			fmt.Sprintf(` ON CONFLICT (id) DO UPDATE SET phone = %[1]s.phone, village = %[1]s.village, groups = %[1]s.groups, language = %[1]s.language,
				opt_out = %[1]s.opt_out, lat = %[1]s.lat, lon = %[1]s.lon, updated_at = %[1]s.updated_at`, ex),
			func(i int) []any {
				r := &rs[i]
				lat, lon := nullPoint(r.Point)
				opt := 0
				if r.OptOut {
					opt = 1
				}
				return []any{int64(r.ID), r.Phone, r.Village, strings.Join(r.Groups, ";"), r.Language, opt, lat, lon, now}
			})
		return err
	})
}

// DeleteResident removes a resident.
func (s *Store) DeleteResident(ctx context.Context, id uint32) error {
	_, err := s.exec(ctx, nil, `DELETE FROM residents WHERE id = ?`, int64(id))
	return err
}

// ForEachResident streams every stored resident.
func (s *Store) ForEachResident(ctx context.Context, fn func(targeting.Resident) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT id, phone, village, groups, language, opt_out, lat, lon FROM residents ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r targeting.Resident
		var id int64
		var groups string
		var opt int
		var lat, lon sql.NullFloat64
		if err := rows.Scan(&id, &r.Phone, &r.Village, &groups, &r.Language, &opt, &lat, &lon); err != nil {
			return err
		}
		r.ID, r.OptOut = uint32(id), opt != 0
		if groups != "" {
			r.Groups = strings.Split(groups, ";")
		}
		if lat.Valid && lon.Valid {
			r.Point = &targeting.Point{Lat: lat.Float64, Lon: lon.Float64}
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SpeakerRecord is a loudspeaker as stored: its registry entry plus its
// enrolment credential.
type SpeakerRecord struct {
	targeting.Speaker
	CredentialHash string `json:"-"`
	Revoked        bool   `json:"revoked"`
}

// UpsertSpeakers writes speakers' registry entries, keeping credentials.
func (s *Store) UpsertSpeakers(ctx context.Context, sp []targeting.Speaker) error {
	now := time.Now().UnixMilli()
	ex := "excluded"
	if s.pg {
		ex = "EXCLUDED"
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := s.insertRows(ctx, tx, `INSERT INTO speakers (id, village, lat, lon, zone, capabilities, updated_at) VALUES `, 7, len(sp),
			fmt.Sprintf(` ON CONFLICT (id) DO UPDATE SET village = %[1]s.village, lat = %[1]s.lat, lon = %[1]s.lon, zone = %[1]s.zone,
				capabilities = %[1]s.capabilities, updated_at = %[1]s.updated_at`, ex),
			func(i int) []any {
				x := &sp[i]
				lat, lon := nullPoint(x.Point)
				return []any{x.ID, x.Village, lat, lon, x.Zone, strings.Join(x.Capabilities, ";"), now}
			})
		return err
	})
}

// ForEachSpeaker streams every stored speaker.
func (s *Store) ForEachSpeaker(ctx context.Context, fn func(SpeakerRecord) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT id, village, lat, lon, zone, capabilities, credential_hash, revoked FROM speakers ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r SpeakerRecord
		var caps string
		var rev int
		var lat, lon sql.NullFloat64
		if err := rows.Scan(&r.ID, &r.Village, &lat, &lon, &r.Zone, &caps, &r.CredentialHash, &rev); err != nil {
			return err
		}
		if caps != "" {
			r.Capabilities = strings.Split(caps, ";")
		}
		if lat.Valid && lon.Valid {
			r.Point = &targeting.Point{Lat: lat.Float64, Lon: lon.Float64}
		}
		r.Revoked = rev != 0
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Speaker returns one loudspeaker's record.
func (s *Store) Speaker(ctx context.Context, id string) (SpeakerRecord, error) {
	m, err := s.SpeakersByID(ctx, []string{id})
	if err != nil {
		return SpeakerRecord{}, err
	}
	r, ok := m[id]
	if !ok {
		return SpeakerRecord{}, ErrNotFound
	}
	return r, nil
}

// SpeakersByID returns the records of the loudspeakers named, by id, in a
// few queries however many there are (a county-wide warning names them
// all). Unknown ids are absent from the map.
func (s *Store) SpeakersByID(ctx context.Context, ids []string) (map[string]SpeakerRecord, error) {
	out := make(map[string]SpeakerRecord, len(ids))
	err := s.queryIn(ctx, s.r, `SELECT id, village, zone, credential_hash, revoked FROM speakers WHERE id IN `, ids, func(rows *sql.Rows) error {
		var r SpeakerRecord
		var rev int
		if err := rows.Scan(&r.ID, &r.Village, &r.Zone, &r.CredentialHash, &rev); err != nil {
			return err
		}
		r.Revoked = rev != 0
		out[r.ID] = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetSpeakerCredential stores a device's credential hash (hex) and clears
// or sets its revocation.
func (s *Store) SetSpeakerCredential(ctx context.Context, id, hash string, revoked bool, by Actor) error {
	rev := 0
	if revoked {
		rev = 1
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE speakers SET credential_hash = ?, revoked = ?, updated_at = ? WHERE id = ?`, hash, rev, time.Now().UnixMilli(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		action := "speaker.enroll"
		if revoked {
			action = "speaker.revoke"
		}
		return s.appendAudit(ctx, tx, AuditEntry{Actor: by.Name, Remote: by.Remote, Action: action, Detail: fmt.Sprintf(`{"device":%q}`, id)})
	})
}

// FieldEndpoint is a field team member's voice endpoint.
type FieldEndpoint struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Region string `json:"region"` // administrative code the member covers
}

// UpsertFieldEndpoint adds or changes a field endpoint.
func (s *Store) UpsertFieldEndpoint(ctx context.Context, f FieldEndpoint) error {
	ex := "excluded"
	if s.pg {
		ex = "EXCLUDED"
	}
	_, err := s.exec(ctx, nil, fmt.Sprintf(`INSERT INTO field_endpoints (id, name, region, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = %[1]s.name, region = %[1]s.region, updated_at = %[1]s.updated_at`, ex),
		f.ID, f.Name, f.Region, time.Now().UnixMilli())
	return err
}

// FieldEndpoints lists all field endpoints.
func (s *Store) FieldEndpoints(ctx context.Context) ([]FieldEndpoint, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, region FROM field_endpoints ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FieldEndpoint
	for rows.Next() {
		var f FieldEndpoint
		if err := rows.Scan(&f.ID, &f.Name, &f.Region); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// SaveRegionFile stores an imported region CSV (another county) so that
// every node loads it at start.
func (s *Store) SaveRegionFile(ctx context.Context, name, csv string, by Actor) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `INSERT INTO region_files (name, csv, imported_by, imported_at) VALUES (?, ?, ?, ?)`,
			name, csv, by.Name, time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("%w: regions %s were imported before", ErrConflict, name)
		}
		return s.appendAudit(ctx, tx, AuditEntry{Actor: by.Name, Remote: by.Remote, Action: "regions.import", Detail: fmt.Sprintf(`{"name":%q}`, name)})
	})
}

// RegionFiles returns the imported region CSVs, oldest first.
func (s *Store) RegionFiles(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT csv FROM region_files ORDER BY imported_at`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
