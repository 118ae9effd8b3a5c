package lifecycle

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/cap"
	"github.com/alertcast/alertcast/targeting"
)

func capActionCases() map[string]*dispatch.Action {
	return map[string]*dispatch.Action{
		"evacuate":         {Type: dispatch.ActionEvacuate},
		"evacuate-away":    {Type: dispatch.ActionEvacuate, AwayFrom: "39.3,76.1 39.5,76.1 39.5,76.3 39.3,76.1"},
		"shelter-in-place": {Type: dispatch.ActionShelterInPlace},
	}
}

func capTestShelters() []dispatch.Shelter {
	return []dispatch.Shelter{
		{Shelter: targeting.Shelter{ID: "SH-1", Name: "疏勒镇第一中学", NameUG: "1-ئوتتۇرا مەكتەپ", Point: targeting.Point{Lat: 39.4, Lon: 76.05}, Capacity: 1200, Kind: targeting.ShelterSchool},
			Served: []string{"653122100001", "653122100002"}},
		{Shelter: targeting.Shelter{ID: "SH-FAR", Name: "别县", Point: targeting.Point{Lat: 39.0, Lon: 75.0}, Capacity: 10, Kind: targeting.ShelterPark},
			Served: []string{"653123100001"}},
	}
}

// capTestGuidance is the guidance frozen for version a from
// capTestShelters: each village sent to the shelter that serves it.
func capTestGuidance(a *dispatch.Alert) *dispatch.VillageGuidance {
	shelters := capTestShelters()
	var as []targeting.Assignment
	for _, sh := range shelters {
		for _, v := range sh.Served {
			as = append(as, targeting.Assignment{Village: v, Shelter: sh.ID})
		}
	}
	return dispatch.GuidanceOf(a, shelters, as, nil)
}

// The action goes out as responseType, an instruction line, the away
// polygon or the shelters of the area as an inline CSV resource, and comes
// back from CAP in as the same action with the officer's instruction.
func TestCAPActionRoundTrip(t *testing.T) {
	tree := targeting.DefaultTree()
	for name, act := range capActionCases() {
		t.Run(name, func(t *testing.T) {
			a := capTestAlert()
			a.Action = act
			c := AlertToCAP(a, capBase, WithRegionTree(tree), WithGuidance(capTestGuidance(a)))
			zh := c.Infos[0]
			want := map[dispatch.ActionType]cap.ResponseType{dispatch.ActionEvacuate: cap.ResponseEvacuate, dispatch.ActionShelterInPlace: cap.ResponseShelter}[act.Type]
			if !slices.Contains(zh.ResponseTypes, want) || !strings.HasSuffix(zh.Instruction, a.Text["zh"].Instruction) || zh.Instruction == a.Text["zh"].Instruction {
				t.Errorf("info: responseTypes %v, instruction %q", zh.ResponseTypes, zh.Instruction)
			}
			var csvRes *cap.Resource
			for i := range zh.Resources {
				if zh.Resources[i].MimeType == "text/csv" {
					csvRes = &zh.Resources[i]
				}
			}
			if (csvRes != nil) != (name == "evacuate") {
				t.Fatalf("shelters resource present = %v", csvRes != nil)
			}
			if csvRes != nil {
				body, err := base64.StdEncoding.DecodeString(csvRes.DerefURI)
				if err != nil || !strings.Contains(string(body), "SH-1,疏勒镇第一中学") || strings.Contains(string(body), "SH-FAR") || int64(len(body)) != csvRes.Size {
					t.Errorf("resource: %q %v", body, err)
				}
			}
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := cap.ParseBytes(out)
			if err != nil {
				t.Fatal(err)
			}
			d, problems := CAPToDraft(back, tree)
			if len(problems) > 0 {
				t.Fatalf("problems: %v", problems)
			}
			if d.Action == nil || *d.Action != *act {
				t.Errorf("action back: %+v, want %+v", d.Action, act)
			}
			for l, txt := range a.Text {
				if d.Text[l].Instruction != txt.Instruction {
					t.Errorf("%s instruction back: %q, want %q", l, d.Text[l].Instruction, txt.Instruction)
				}
			}
		})
	}
}
