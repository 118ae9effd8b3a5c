package dispatch

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// Frozen guidance. A version's per-village guidance (which shelter, which
// way, how far) is computed ONCE, when the version is submitted, from the
// shelters and village points of that moment, and stored with it. The
// version's body names it by digest (Alert.GuidanceDigest), so that the
// approval of a version covers its guidance as it covers its text: a later
// shelter edit cannot change what an approved warning says when it is
// planned on another node, rebroadcast or re-planned after a crash, and an
// update whose guidance differs is a text change for the policy.
//
// Rows are content-addressed (the digest is the SHA-256 of the stored
// JSON): a rebroadcast round or an approved proposal, which copy the
// version's body and may be renumbered, keep naming the same row, and a
// row changed in the database no longer matches the digest its versions
// carry (ErrGuidanceTampered).

// ErrGuidanceMissing is a version that asks an action but has no frozen
// guidance (stored before guidance was frozen with versions).
var ErrGuidanceMissing = errors.New("version has an action but no stored guidance")

// ErrGuidanceTampered is a stored guidance whose content no longer matches
// the digest the version carries, or that is gone.
var ErrGuidanceTampered = errors.New("stored guidance does not match the version's digest")

// frozenGuidanceV is the stored form's format number.
const frozenGuidanceV = 1

type frozenGuidance struct {
	V        int             `json:"v"`
	Default  frozenVillage   `json:"default"`
	Villages []frozenVillage `json:"villages"` // by village code
}

// frozenVillage is channels.Guidance with its compass point written out
// (channels.Guidance leaves it to each channel's own JSON).
type frozenVillage struct {
	channels.Guidance
	Compass string `json:"compass,omitempty"`
}

func freezeVillage(g *channels.Guidance) frozenVillage {
	if g == nil {
		return frozenVillage{}
	}
	return frozenVillage{Guidance: *g, Compass: g.Compass.String()}
}

func (f frozenVillage) thaw() (*channels.Guidance, error) {
	g := f.Guidance
	if f.Compass != "" {
		c, err := warning.ParseCompass(f.Compass)
		if err != nil {
			return nil, err
		}
		g.Compass = c
	}
	return &g, nil
}

// EncodeGuidance writes v in its stored form and returns it with its
// digest (hex SHA-256 of exactly those bytes). The same guidance always
// encodes to the same bytes.
func EncodeGuidance(v *VillageGuidance) ([]byte, string, error) {
	if v == nil {
		return nil, "", errors.New("encode guidance: nil")
	}
	f := frozenGuidance{V: frozenGuidanceV, Default: freezeVillage(v.Default), Villages: make([]frozenVillage, 0, len(v.ByVillage))}
	codes := make([]string, 0, len(v.ByVillage))
	for c := range v.ByVillage {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		fv := freezeVillage(v.ByVillage[c])
		fv.Village = c
		f.Villages = append(f.Villages, fv)
	}
	b, err := json.Marshal(&f)
	if err != nil {
		return nil, "", fmt.Errorf("encode guidance: %w", err)
	}
	return b, GuidanceDigest(b), nil
}

// GuidanceDigest is the digest of stored guidance bytes.
func GuidanceDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// DecodeGuidance reads the stored form.
func DecodeGuidance(b []byte) (*VillageGuidance, error) {
	var f frozenGuidance
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode stored guidance: %w", err)
	}
	if f.V != frozenGuidanceV {
		return nil, fmt.Errorf("decode stored guidance: format %d, this alertd reads %d", f.V, frozenGuidanceV)
	}
	def, err := f.Default.thaw()
	if err != nil {
		return nil, fmt.Errorf("decode stored guidance: default: %w", err)
	}
	out := &VillageGuidance{Default: def}
	if len(f.Villages) > 0 {
		out.ByVillage = make(map[string]*channels.Guidance, len(f.Villages))
	}
	for _, fv := range f.Villages {
		g, err := fv.thaw()
		if err != nil {
			return nil, fmt.Errorf("decode stored guidance: village %s: %w", fv.Village, err)
		}
		out.ByVillage[fv.Village] = g
	}
	return out, nil
}

// putGuidance stores a version's frozen guidance (and that of its pending
// proposal) in the transaction that stores the version. A row already
// there has the same content (same digest).
func (s *Store) putGuidance(ctx context.Context, tx *sql.Tx, a *Alert) error {
	for _, v := range []*Alert{a, a.Pending} {
		if v == nil || v.Guidance == nil {
			continue
		}
		b, d, err := EncodeGuidance(v.Guidance)
		if err != nil {
			return err
		}
		if d != v.GuidanceDigest {
			return fmt.Errorf("store guidance of %s: digest %.12s does not match the version's %.12s", v.Key(), d, v.GuidanceDigest)
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO alert_guidance (digest, body, created_at) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING`,
			d, string(b), time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("store guidance: %w", err)
		}
	}
	return nil
}

// StoredGuidance returns the frozen guidance with this digest, checked
// against it: ErrGuidanceTampered when the row is gone or its content no
// longer hashes to the digest.
func (s *Store) StoredGuidance(ctx context.Context, digest string) (*VillageGuidance, error) {
	var body string
	err := s.r.QueryRowContext(ctx, s.q(`SELECT body FROM alert_guidance WHERE digest = ?`), digest).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("guidance %.12s: no such row: %w", digest, ErrGuidanceTampered)
	}
	if err != nil {
		return nil, err
	}
	if GuidanceDigest([]byte(body)) != digest {
		return nil, fmt.Errorf("guidance %.12s: %w", digest, ErrGuidanceTampered)
	}
	return DecodeGuidance([]byte(body))
}

// GuidanceApplies reports whether a version tells people to act, so that it
// must carry frozen guidance: an alert or update version with an action.
func (a *Alert) GuidanceApplies() bool {
	return a.Action != nil && a.Action.Type != ActionUnknown && (a.Kind == warning.KindAlert || a.Kind == warning.KindUpdate)
}

// VersionGuidance returns the frozen guidance of version a: nil when it
// asks no action (or ends the warning), ErrGuidanceMissing when it asks
// one but none was stored with it, ErrGuidanceTampered when the stored row
// does not match. It never computes guidance from the shelters of now.
func (s *Store) VersionGuidance(ctx context.Context, a *Alert) (*VillageGuidance, error) {
	if !a.GuidanceApplies() {
		return nil, nil
	}
	if a.GuidanceDigest == "" {
		return nil, fmt.Errorf("%s: %w", a.Key(), ErrGuidanceMissing)
	}
	return s.StoredGuidance(ctx, a.GuidanceDigest)
}

// ShelterSnapshot reads every shelter (with the villages it serves) and
// every village assignment as of one moment, so that guidance is never
// computed from shelters of one import and assignments of another.
func (s *Store) ShelterSnapshot(ctx context.Context) ([]Shelter, []targeting.Assignment, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.pg {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.r.BeginTx(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = tx.Rollback() }()
	shelters, err := s.shelters(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	as, err := s.shelterAssignments(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	return shelters, as, nil
}

// VillagePointer is where each village is (PopulationIndex.VillagePoints),
// for away-from guidance.
type VillagePointer interface {
	VillagePoints() map[string]targeting.Point
}

// FreezeGuidance computes version a's guidance from the shelters, their
// assignments and the village points of now, and sets a.Guidance and
// a.GuidanceDigest (both cleared when the version asks no action). The
// store keeps it with the version (putAlert). points may be nil: an
// away-from evacuate then has only its default guidance.
func FreezeGuidance(ctx context.Context, s *Store, points VillagePointer, a *Alert) error {
	a.Guidance, a.GuidanceDigest = nil, ""
	if !a.GuidanceApplies() {
		return nil
	}
	var shelters []Shelter
	var assignments []targeting.Assignment
	var pts map[string]targeting.Point
	switch {
	case a.Action.AwayFrom != "":
		if points != nil {
			pts = points.VillagePoints()
		}
	case a.Action.Type == ActionEvacuate:
		var err error
		if shelters, assignments, err = s.ShelterSnapshot(ctx); err != nil {
			return fmt.Errorf("guidance: shelters: %w", err)
		}
	}
	g := GuidanceOf(a, shelters, assignments, pts)
	_, d, err := EncodeGuidance(g)
	if err != nil {
		return err
	}
	a.Guidance, a.GuidanceDigest = g, d
	return nil
}
