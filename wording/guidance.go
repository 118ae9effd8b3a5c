package wording

import (
	"fmt"
	"strings"

	"github.com/alertcast/alertcast/channels"
	"github.com/alertcast/alertcast/warning"
)

// guidanceWords are the sentences of evacuation guidance. Directions are
// indexed by warning.Compass (1 = north … 8 = north-west).
type guidanceWords struct {
	dirs         [9]string
	toShelterDir string // fmt: direction, km, shelter name
	toShelter    string // fmt: shelter name
	shelterWord  string // appended to a shelter's name unless it ends so
	awayDir      string // fmt: direction
	away         string
	evacuate     string // no shelter known, no zone given
	inPlace      string
	// lines for one message to everyone (CAP, console)
	toShelters string
}

var guidanceCatalog = map[string]*guidanceWords{
	"zh": {
		dirs:         [9]string{"", "北", "东北", "东", "东南", "南", "西南", "西", "西北"},
		toShelterDir: "请前往%s方向%s公里的%s", toShelter: "请前往%s", shelterWord: "避难场所",
		awayDir: "请向%s方向撤离，远离危险区域", away: "请立即撤离危险区域",
		evacuate: "请立即撤离到安全地点", inPlace: "请就地避险，留在室内，关好门窗",
		toShelters: "请按所在村的指引前往指定的应急避难场所",
	},
	"ug": {
		dirs: [9]string{"", "شىمال", "شەرقىي شىمال", "شەرق", "شەرقىي جەنۇب", "جەنۇب", "غەربىي جەنۇب", "غەرب", "غەربىي شىمال"},
		// "{dir} تەرەپتىكى {km} كىلومېتىر يىراقلىقتىكى {name} پاناھلىنىش ئورنىغا بېرىڭ"
		toShelterDir: "%s تەرەپتىكى %s كىلومېتىر يىراقلىقتىكى %sغا بېرىڭ", toShelter: "%sغا بېرىڭ", shelterWord: " پاناھلىنىش ئورنى",
		awayDir: "%s تەرەپكە قاراپ خەتەرلىك رايوندىن يىراقلىشىڭ", away: "دەرھال خەتەرلىك رايوندىن يىراقلىشىڭ",
		evacuate: "دەرھال بىخەتەر جايغا كۆچۈڭ", inPlace: "ئۆيدە قېلىڭ، ئىشىك-دېرىزىلەرنى تاقاڭ",
		toShelters: "كەنتىڭىزگە بەلگىلەنگەن پاناھلىنىش ئورنىغا بېرىڭ",
	},
	"en": {
		dirs:         [9]string{"", "north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west"},
		toShelterDir: "Go to %[3]s, %[2]s km %[1]s", toShelter: "Go to %s", shelterWord: " shelter",
		awayDir: "Move %s, away from the danger zone", away: "Leave the danger zone now",
		evacuate: "Evacuate to a safe place now", inPlace: "Stay indoors, close doors and windows",
		toShelters: "Go to the shelter assigned to your village",
	},
}

func guidanceLookup(lang string) *guidanceWords {
	if w, ok := guidanceCatalog[lang]; ok {
		return w
	}
	return guidanceCatalog["zh"]
}

// Direction names a compass point in lang ("东北"); "" for Unknown.
func Direction(c warning.Compass, lang string) string {
	if c < warning.North || c > warning.NorthWest {
		return ""
	}
	return guidanceLookup(lang).dirs[c]
}

// ShelterName is a shelter's name in lang with the word for shelter
// (疏勒镇第一中学 → 疏勒镇第一中学避难场所), not doubled when the name has it.
func ShelterName(s *channels.GuidanceShelter, lang string) string {
	w := guidanceLookup(lang)
	name := s.Name
	if lang == "ug" && s.NameUG != "" {
		name = s.NameUG
	}
	name = strings.TrimSpace(name)
	word := strings.TrimSpace(w.shelterWord)
	if strings.HasSuffix(name, word) || (lang == "zh" && strings.HasSuffix(name, "避难所")) {
		return name
	}
	return name + w.shelterWord
}

// Guidance is the sentence (without its full stop) that tells a village's
// recipients where to go: "请前往东北方向1.2公里的疏勒镇第一中学避难场所",
// "请向西方向撤离，远离危险区域", or to stay indoors. "" for nil.
func Guidance(g *channels.Guidance, lang string) string {
	if g == nil {
		return ""
	}
	w := guidanceLookup(lang)
	switch {
	case g.Action == "shelter_in_place":
		return w.inPlace
	case g.Action != "evacuate":
		return ""
	case g.Away && g.Compass != warning.CompassUnknown:
		return fmt.Sprintf(w.awayDir, Direction(g.Compass, lang))
	case g.Away:
		return w.away
	case g.Shelter != nil && g.Compass != warning.CompassUnknown:
		return fmt.Sprintf(w.toShelterDir, Direction(g.Compass, lang), channels.KM(g.DistanceM), ShelterName(g.Shelter, lang))
	case g.Shelter != nil:
		return fmt.Sprintf(w.toShelter, ShelterName(g.Shelter, lang))
	}
	return w.evacuate
}

// ActionLine is the action said to everyone at once (CAP, the console),
// where no village's own guidance applies: evacuate to the assigned
// shelters, away from a zone, or stay indoors.
func ActionLine(action string, away, shelters bool, lang string) string {
	w := guidanceLookup(lang)
	switch {
	case action == "shelter_in_place":
		return w.inPlace
	case action != "evacuate":
		return ""
	case away:
		return w.away
	case shelters:
		return w.toShelters
	}
	return w.evacuate
}

// withGuidance puts the recipients' guidance before the officer's
// instruction: it is what they must do first, and an SMS cut to fit keeps
// the start of the instruction.
func withGuidance(m *channels.Message, instr, lang string) string {
	g := Guidance(m.Guidance, lang)
	if g == "" {
		return instr
	}
	g = endSentence(g, lang)
	if instr = strings.TrimSpace(instr); instr == "" {
		return g
	}
	if lang == "zh" {
		return g + instr
	}
	return g + " " + instr
}
