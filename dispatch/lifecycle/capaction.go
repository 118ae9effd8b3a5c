package lifecycle

// CAP mapping of a warning's action (see capmap.go for the rest):
//
//	responseType   evacuate → Evacuate, shelter_in_place → Shelter (read back the same way)
//	instruction    opened by the action said to everyone (wording.ActionLine), taken off again on import
//	parameter      ALERTCAST_AWAY_FROM: the polygon to move away from (evacuate only)
//	resource       for an evacuate to shelters: "text/csv" inline (derefUri), the shelters serving the area
//	               (id, name, name_ug, lat, lon, capacity, kind, accessible, villages served)

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"slices"
	"strconv"
	"strings"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/cap"
	"github.com/alertcast/alertcast/warning"
	"github.com/alertcast/alertcast/wording"
)

// CAPParamAwayFrom carries an evacuate's away_from polygon.
const CAPParamAwayFrom = "ALERTCAST_AWAY_FROM"

// WithShelters lists the shelters an evacuate sends people to, as an
// inline CSV <resource>. Only shelters serving a village inside the
// warning's area codes are written.
func WithShelters(list []dispatch.Shelter) CAPOption {
	return func(x *capExport) { x.shelters = list }
}

// sheltersIn returns the shelters that serve a village under one of codes.
func sheltersIn(list []dispatch.Shelter, codes []string) []dispatch.Shelter {
	var out []dispatch.Shelter
	for _, s := range list {
		if slices.ContainsFunc(s.Served, func(v string) bool {
			return slices.ContainsFunc(codes, func(c string) bool { return strings.HasPrefix(v, c) })
		}) {
			out = append(out, s)
		}
	}
	return out
}

func sheltersCSV(list []dispatch.Shelter) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"id", "name", "name_ug", "lat", "lon", "capacity", "kind", "accessible", "villages"})
	for _, s := range list {
		_ = w.Write([]string{s.ID, s.Name, s.NameUG, strconv.FormatFloat(s.Point.Lat, 'f', 6, 64), strconv.FormatFloat(s.Point.Lon, 'f', 6, 64),
			strconv.Itoa(s.Capacity), s.Kind.String(), strconv.FormatBool(s.Accessible), strings.Join(s.Served, ";")})
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
	shelters := sheltersIn(x.shelters, a.Area.Codes)
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
