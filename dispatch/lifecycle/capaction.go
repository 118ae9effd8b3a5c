package lifecycle

// CAP mapping of a warning's action (see capmap.go for the rest):
//
//	responseType   evacuate → Evacuate, shelter_in_place → Shelter (read back the same way)
//	instruction    opened by the action said to everyone (wording.ActionLine), taken off again on import
//	parameter      ALERTCAST_AWAY_FROM: the polygon to move away from (evacuate only)
//	resource       for an evacuate to shelters: "text/csv" inline (derefUri), the shelters the version's frozen
//	               guidance sends the area to (id, name, name_ug, lat, lon, capacity, kind, accessible, villages sent)

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"slices"
	"strconv"
	"strings"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/cap"
	"github.com/alertcast/alertcast/warning"
	"github.com/alertcast/alertcast/wording"
)

// CAPParamAwayFrom carries an evacuate's away_from polygon.
const CAPParamAwayFrom = "ALERTCAST_AWAY_FROM"

// WithGuidance gives the version's frozen guidance (Store.VersionGuidance):
// an evacuate to shelters lists, as an inline CSV <resource>, the shelters
// that guidance sends a village under the warning's area codes to, as they
// were when the version was submitted, never the shelters of now.
func WithGuidance(g *dispatch.VillageGuidance) CAPOption {
	return func(x *capExport) { x.guidance = g }
}

// guidedShelter is a shelter named by a version's guidance, with every
// village it sends there.
type guidedShelter struct {
	*channels.GuidanceShelter
	villages []string
}

// sheltersIn returns the shelters that g sends a village under one of
// codes to, in id order, each with every village g sends there.
func sheltersIn(g *dispatch.VillageGuidance, codes []string) []guidedShelter {
	if g == nil {
		return nil
	}
	byID := map[string]*guidedShelter{}
	inArea := map[string]bool{}
	for v, vg := range g.ByVillage {
		if vg == nil || vg.Shelter == nil {
			continue
		}
		sh := byID[vg.Shelter.ID]
		if sh == nil {
			sh = &guidedShelter{GuidanceShelter: vg.Shelter}
			byID[vg.Shelter.ID] = sh
		}
		sh.villages = append(sh.villages, v)
		if slices.ContainsFunc(codes, func(c string) bool { return strings.HasPrefix(v, c) }) {
			inArea[vg.Shelter.ID] = true
		}
	}
	var out []guidedShelter
	for id, sh := range byID {
		if inArea[id] {
			slices.Sort(sh.villages)
			out = append(out, *sh)
		}
	}
	slices.SortFunc(out, func(a, b guidedShelter) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func sheltersCSV(list []guidedShelter) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"id", "name", "name_ug", "lat", "lon", "capacity", "kind", "accessible", "villages"})
	for _, s := range list {
		_ = w.Write([]string{s.ID, s.Name, s.NameUG, strconv.FormatFloat(s.At.Lat, 'f', 6, 64), strconv.FormatFloat(s.At.Lon, 'f', 6, 64),
			strconv.Itoa(s.Capacity), s.Kind, strconv.FormatBool(s.Accessible), strings.Join(s.villages, ";")})
	}
	w.Flush()
	return b.Bytes()
}

var shelterResourceDesc = map[string]string{"zh": "应急避难场所名单", "ug": "پاناھلىنىش ئورۇنلىرى تىزىملىكى"}

// capAction adds the action of version a to one info block in lang.
func capAction(a *dispatch.Alert, x *capExport, lang string, in *cap.Info) {
	if a.Action == nil || !(a.Kind == warning.KindAlert || a.Kind == warning.KindUpdate) {
		return
	}
	switch a.Action.Type {
	case dispatch.ActionEvacuate:
		in.ResponseTypes = append(in.ResponseTypes, cap.ResponseEvacuate)
	case dispatch.ActionShelterInPlace:
		in.ResponseTypes = append(in.ResponseTypes, cap.ResponseShelter)
	default:
		return
	}
	shelters := sheltersIn(x.guidance, a.Area.Codes)
	away := a.Action.AwayFrom != ""
	line := wording.ActionLine(a.Action.Type.String(), away, len(shelters) > 0, lang)
	in.Instruction = joinInstruction(line, in.Instruction, lang)
	if away {
		in.Parameters = append(in.Parameters, cap.NamedValue{ValueName: CAPParamAwayFrom, Value: a.Action.AwayFrom})
	} else if a.Action.Type == dispatch.ActionEvacuate && len(shelters) > 0 {
		body := sheltersCSV(shelters)
		desc := shelterResourceDesc[lang]
		if desc == "" {
			desc = "shelters"
		}
		in.Resources = append(in.Resources, cap.Resource{Desc: desc, MimeType: "text/csv", Size: int64(len(body)),
			DerefURI: base64.StdEncoding.EncodeToString(body)})
	}
}

func joinInstruction(line, instr, lang string) string {
	if line == "" {
		return instr
	}
	end := "。"
	if lang != "zh" {
		end = ". "
	}
	if instr == "" {
		return strings.TrimSpace(line + end)
	}
	return line + end + instr
}

// capActionOf reads the action of an imported CAP message: responseType
// Evacuate or Shelter in any info (Evacuate wins), the polygon of our own
// parameter. It also takes our own action line off each instruction.
func capActionOf(c *cap.Alert, a *dispatch.Alert) {
	var act *dispatch.Action
	for _, in := range c.Infos {
		switch {
		case slices.Contains(in.ResponseTypes, cap.ResponseEvacuate):
			act = &dispatch.Action{Type: dispatch.ActionEvacuate}
		case slices.Contains(in.ResponseTypes, cap.ResponseShelter) && act == nil:
			act = &dispatch.Action{Type: dispatch.ActionShelterInPlace}
		}
	}
	if act == nil {
		return
	}
	for _, in := range c.Infos {
		for _, p := range in.Parameters {
			if p.ValueName == CAPParamAwayFrom && act.Type == dispatch.ActionEvacuate {
				act.AwayFrom = strings.TrimSpace(p.Value)
			}
		}
	}
	a.Action = act
	for l, t := range a.Text {
		for _, away := range []bool{false, true} {
			for _, shel := range []bool{false, true} {
				line := wording.ActionLine(act.Type.String(), away, shel, l)
				for _, end := range []string{"。", ". ", "."} {
					t.Instruction = strings.TrimSpace(strings.TrimPrefix(t.Instruction, line+end))
				}
			}
		}
		a.Text[l] = t
	}
}
