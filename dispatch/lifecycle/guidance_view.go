package lifecycle

import (
	"context"
	"fmt"
	"sort"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/wording"
)

// GuidanceView is a version's per-village guidance as an officer reviews
// it before submitting (the preview) or approving (GET
// /api/v1/alerts/{id}/guidance): each village the version reaches, with the
// sentence its SMS and loudspeakers will say in zh and ug, grouped by
// shelter (or by direction for an away-from evacuate), with counts.
type GuidanceView struct {
	// Digest names the frozen guidance; an approval may be bound to it
	// (POST /alerts/{id}/approve {"guidance_digest": …}).
	Digest  string `json:"digest"`
	Version int    `json:"version,omitempty"`
	Action  string `json:"action"`
	// Default is said to villages reached that have no guidance of their
	// own (no shelter assigned, no known location).
	Default   map[string]string `json:"default"`
	Groups    []GuidanceGroup   `json:"groups"`
	Villages  int               `json:"villages"`
	Residents int               `json:"residents"`
}

// GuidanceGroup is the villages told the same place or direction.
type GuidanceGroup struct {
	// Key is "shelter:<id>", "away:<compass>" or "default".
	Key       string                    `json:"key"`
	Shelter   *channels.GuidanceShelter `json:"shelter,omitempty"`
	Compass   string                    `json:"compass,omitempty"`
	Villages  []GuidanceVillage         `json:"villages"`
	Residents int                       `json:"residents"`
}

// GuidanceVillage is one village's sentence.
type GuidanceVillage struct {
	Code      string            `json:"code"`
	Name      string            `json:"name,omitempty"`
	NameUG    string            `json:"name_ug,omitempty"`
	Residents int               `json:"residents"`
	Speakers  int               `json:"speakers,omitempty"`
	Text      map[string]string `json:"text"`
	DistanceM float64           `json:"distance_m,omitempty"`
}

func guidanceText(g *channels.Guidance) map[string]string {
	out := map[string]string{}
	for _, l := range dispatch.Languages {
		out[l] = wording.Guidance(g, l)
	}
	return out
}

// guidanceView builds the view of guidance g (digest d) for version a:
// the villages a reaches (its residents' and loudspeakers' villages, from
// the population loaded now; res when already resolved), each with its own
// sentence.
func (s *Service) guidanceView(a *dispatch.Alert, g *dispatch.VillageGuidance, d string, res *targeting.Resolution) (*GuidanceView, error) {
	v := &GuidanceView{Digest: d, Version: a.Version, Action: a.Action.Type.String(), Default: guidanceText(g.Default), Groups: []GuidanceGroup{}}
	residents := map[string]int{}
	speakers := map[string]int{}
	var tree *targeting.Tree
	if s.Population != nil {
		tree = s.Population.Tree()
		if res == nil {
			aim, err := dispatch.AimOf(a)
			if err != nil {
				return nil, err
			}
			if res, err = s.Population.Resolve(aim); err != nil {
				return nil, err
			}
		}
		residents = s.Population.ResidentsByVillage(res)
		for _, id := range res.Speakers() {
			if vc, ok := s.Population.SpeakerVillage(id); ok {
				speakers[vc]++
			}
		}
	}
	reached := map[string]bool{}
	for c, n := range residents {
		if n > 0 {
			reached[c] = true
		}
	}
	for c := range speakers {
		reached[c] = true
	}
	groups := map[string]*GuidanceGroup{}
	for c := range reached {
		vg := g.For(c)
		key := "default"
		switch {
		case vg == g.Default:
		case vg.Shelter != nil:
			key = "shelter:" + vg.Shelter.ID
		case vg.Away:
			key = "away:" + vg.Compass.String()
		}
		gr := groups[key]
		if gr == nil {
			gr = &GuidanceGroup{Key: key}
			if vg.Shelter != nil {
				gr.Shelter = vg.Shelter
			}
			if vg.Away {
				gr.Compass = vg.Compass.String()
			}
			groups[key] = gr
		}
		gv := GuidanceVillage{Code: c, Residents: residents[c], Speakers: speakers[c], Text: guidanceText(vg), DistanceM: vg.DistanceM}
		if tree != nil {
			if r, ok := tree.Region(c); ok {
				gv.Name, gv.NameUG = r.Name, r.NameUG
			}
		}
		gr.Villages = append(gr.Villages, gv)
		gr.Residents += gv.Residents
		v.Villages++
		v.Residents += gv.Residents
	}
	for _, gr := range groups {
		sort.Slice(gr.Villages, func(i, j int) bool { return gr.Villages[i].Code < gr.Villages[j].Code })
		v.Groups = append(v.Groups, *gr)
	}
	// Shelters by id, then directions, then villages told no place.
	rank := func(k string) int {
		switch {
		case len(k) > 8 && k[:8] == "shelter:":
			return 0
		case len(k) > 5 && k[:5] == "away:":
			return 1
		}
		return 2
	}
	sort.Slice(v.Groups, func(i, j int) bool {
		ri, rj := rank(v.Groups[i].Key), rank(v.Groups[j].Key)
		if ri != rj {
			return ri < rj
		}
		return v.Groups[i].Key < v.Groups[j].Key
	})
	return v, nil
}

// VersionGuidance is the guidance view of a stored version: the pending
// proposal of warning id when one waits (what an approver approves),
// else its current version. nil when that version asks no action. It
// reads only the guidance frozen with the version.
func (s *Service) VersionGuidance(ctx context.Context, id string) (*GuidanceView, error) {
	a, err := s.Store.Alert(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.Pending != nil {
		a = a.Pending
	}
	g, err := s.Store.VersionGuidance(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", dispatch.ErrConflict, err)
	}
	if g == nil {
		return nil, nil
	}
	return s.guidanceView(a, g, a.GuidanceDigest, nil)
}
