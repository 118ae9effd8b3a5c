package lifecycle

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/cap"
	"github.com/alertcast/alertcast/targeting"
	"github.com/alertcast/alertcast/warning"
)

// capEvent is one row of the import table: CAP <event> text (or an
// <eventCode> value) that means one of our events.
type capEvent struct {
	event warning.Event
	names []string // lower-case; matched as whole text first, then as a contained keyword unless prefixed "=" (whole text only)
}

// capEventTable maps CAP event names to our event codes. An <eventCode>
// with valueName ALERTCAST_EVENT is used first; then <event> (and the event
// codes' values) are matched, the level words (蓝色/黄色/橙色/红色, 预警,
// 信号, warning, watch, advisory …) removed, against the Chinese names of
// the national warning signals (气象灾害预警信号) and common English names:
//
//	sandstorm       沙尘暴, 沙尘, 强沙尘暴, 扬沙, 浮尘 | sandstorm, dust storm, duststorm, sand storm, blowing dust, dust
//	rainstorm       暴雨, 强降雨 | rainstorm, heavy rain, torrential rain
//	hail            冰雹 | hail
//	gale            大风, 雷雨大风 | gale, strong wind, high wind, wind, severe thunderstorm
//	cold_wave       寒潮, 持续低温, 低温 | cold wave, cold, extreme cold, wind chill
//	heat            高温 | heat, heat wave, excessive heat, extreme heat
//	flood           洪水, 山洪, 洪涝, 山洪灾害 | flood, flash flood, river flood
//	earthquake      地震 | earthquake, tsunami is NOT mapped
//	geological      地质灾害, 地质灾害气象风险, 滑坡, 泥石流, 崩塌 | landslide, debris flow, mudslide, geological
//	forest_fire     森林火灾, 森林火险 | forest fire, wildfire, bushfire, "fire" (whole text only: not "structure fire")
//	grassland_fire  草原火灾, 草原火险 | grassland fire, grass fire, prairie fire
//	hazardous_chemicals 危险化学品, 危化品, 化学品泄漏 | hazardous materials, hazmat, chemical
//	public_health   公共卫生, 传染病, 疫情 | public health, epidemic, disease
//	blizzard        暴雪, 雪灾 | blizzard, snowstorm, heavy snow, winter storm
//	frost           霜冻 | frost, freeze
//	drought         干旱 | drought
//	fog             大雾, 雾 | fog, dense fog
//	lightning       雷电, 雷暴 | lightning, thunderstorm
//	road_icing      道路结冰, 结冰 | road icing, icy roads, ice
//	dam_failure     溃坝, 水库溃坝 | dam failure, dam break
//
// Anything else (台风, 霾, 水庫洩洪, Tropical Cyclone …) maps to "other" and is
// reported, so that an officer picks the event.
var capEventTable = []capEvent{
	{warning.EventSandstorm, []string{"沙尘暴", "强沙尘暴", "沙尘", "扬沙", "浮尘", "sandstorm", "dust storm", "duststorm", "sand storm", "blowing dust", "dust"}},
	{warning.EventRainstorm, []string{"暴雨", "强降雨", "rainstorm", "heavy rain", "torrential rain"}},
	{warning.EventHail, []string{"冰雹", "hail"}},
	{warning.EventGale, []string{"雷雨大风", "大风", "gale", "strong wind", "high wind", "severe thunderstorm", "wind"}},
	{warning.EventColdWave, []string{"寒潮", "持续低温", "低温", "cold wave", "extreme cold", "wind chill", "cold"}},
	{warning.EventHeat, []string{"高温", "heat wave", "excessive heat", "extreme heat", "heat"}},
	{warning.EventFlood, []string{"洪水", "山洪灾害", "山洪", "洪涝", "flash flood", "river flood", "flood"}},
	{warning.EventEarthquake, []string{"地震", "earthquake"}},
	{warning.EventGeological, []string{"地质灾害气象风险", "地质灾害", "滑坡", "泥石流", "崩塌", "landslide", "debris flow", "mudslide", "geological"}},
	{warning.EventGrasslandFire, []string{"草原火灾", "草原火险", "grassland fire", "grass fire", "prairie fire"}},
	{warning.EventForestFire, []string{"森林火灾", "森林火险", "forest fire", "wildfire", "bushfire", "=fire"}},
	{warning.EventHazardousChemicals, []string{"危险化学品", "危化品", "化学品泄漏", "hazardous materials", "hazmat", "chemical"}},
	{warning.EventPublicHealth, []string{"公共卫生", "传染病", "疫情", "public health", "epidemic", "disease"}},
	{warning.EventBlizzard, []string{"暴雪", "雪灾", "blizzard", "snowstorm", "heavy snow", "winter storm"}},
	{warning.EventFrost, []string{"霜冻", "frost", "freeze"}},
	{warning.EventDrought, []string{"干旱", "drought"}},
	{warning.EventFog, []string{"大雾", "雾", "dense fog", "fog"}},
	{warning.EventLightning, []string{"雷电", "雷暴", "lightning", "thunderstorm"}},
	{warning.EventRoadIcing, []string{"道路结冰", "结冰", "road icing", "icy roads", "ice"}},
	{warning.EventDamFailure, []string{"水库溃坝", "溃坝", "dam failure", "dam break"}},
}

// levelWords are stripped before matching an event name.
var levelWords = regexp.MustCompile(`(?i)(蓝色|黄色|橙色|红色|预警信号|预警|信号|警报|警告|\b(warning|watch|advisory|statement|alert|outlook|emergency|report|information)\b)`)

// levelFromText finds a Chinese warning colour in CAP text, for messages
// whose <severity> is Unknown.
var levelFromText = []struct {
	word  string
	level warning.Level
}{{"红色", warning.LevelRed}, {"橙色", warning.LevelOrange}, {"黄色", warning.LevelYellow}, {"蓝色", warning.LevelBlue}}

// MatchCAPEvent maps a CAP event name (or event code value) to our event
// code using capEventTable. ok is false when nothing matches.
func MatchCAPEvent(name string) (warning.Event, bool) {
	if e, err := warning.ParseEvent(name); err == nil {
		return e, true
	}
	for e, ug := range capEventUyghur {
		if strings.Contains(name, ug) {
			return e, true
		}
	}
	s := strings.ToLower(strings.TrimSpace(levelWords.ReplaceAllString(name, " ")))
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return warning.EventUnknown, false
	}
	for _, row := range capEventTable {
		for _, n := range row.names {
			if s == strings.TrimPrefix(n, "=") {
				return row.event, true
			}
		}
	}
	// Then as a keyword: the longest keyword found wins, so that
	// "雷雨大风" (gale) beats "雷" and "grass fire" beats "fire".
	best, bestLen := warning.EventUnknown, 0
	for _, row := range capEventTable {
		for _, n := range row.names {
			if len(n) > bestLen && n[0] != '=' && containsWord(s, n) {
				best, bestLen = row.event, len(n)
			}
		}
	}
	return best, best != warning.EventUnknown
}

// containsWord reports whether s contains keyword k; for Latin keywords it
// must be a whole word ("ice" is not in "advice").
func containsWord(s, k string) bool {
	if k[0] >= 0x80 { // CJK: no word boundaries
		return strings.Contains(s, k)
	}
	for i := 0; ; {
		j := strings.Index(s[i:], k)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !isLetter(s[j-1])
		after := j+len(k) == len(s) || !isLetter(s[j+len(k)])
		if before && after {
			return true
		}
		i = j + 1
	}
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }

// capProblem is one thing an officer must look at in an imported CAP
// message. Field is the CAP element path.
func capProblem(path, rule, value string) error {
	return &warning.FieldError{Field: "cap:" + path, Rule: rule, Value: dispatch.Clip(value, 80)}
}

// CAPToDraft maps an incoming CAP message onto a warning draft (State
// unknown, no ID: the caller decides, by its rules for sender, event and
// severity, whether it becomes a pending draft or is issued). problems lists
// everything an officer must review; the draft is nil when the message
// cannot be a warning at all (Ack, Error, System or Draft status, no info).
//
//   - msgType Alert → KindAlert; Update → KindUpdate, or KindAllClear when
//     any info has responseType AllClear; Cancel → KindCancel. Updates and
//     cancels must carry <references>; the caller resolves them to the
//     warning it imported before (c.References) — the draft has no ID.
//   - status Actual/Exercise/Test → actual/exercise/test.
//   - level from <severity> (Minor→blue … Extreme→red); when Unknown, from
//     a Chinese colour word (红色/橙色/黄色/蓝色) in event or headline, else
//     reported and left unknown.
//   - event: MatchCAPEvent on the ALERTCAST_EVENT event code, then <event>,
//     then the other event code values; unmatched → EventOther, reported.
//   - text: zh from the info whose language is zh-* (zh-CN preferred; zh-TW
//     is accepted as Chinese), ug from ug-*; a missing language is reported.
//     Missing headline → the info's <event>. Over-long text is cut to the
//     domain's limits and reported.
//   - area: geocodes named ADCODE (also "GB/T 2260", "GB2260",
//     "行政区划代码", case-insensitive). A code in the tree is used. A
//     province or prefecture code that contains counties of the tree means
//     those counties. A code under one of the tree's counties but not in the
//     tree is reported as unknown. Codes of other places are skipped.
//     Polygons and circles are kept (and checked with targeting's stricter
//     rules). An <area> that yields nothing is reported with its areaDesc —
//     never guessed from names. tree nil: codes are only checked for form.
//   - onset: earliest info onset; expires: latest info expires (missing:
//     reported).
//   - Source "cap:<sender>". Channels are left empty for the caller's rules.
func CAPToDraft(c *cap.Alert, tree *targeting.Tree) (draft *dispatch.Alert, problems []error) {
	add := func(path, rule, value string) { problems = append(problems, capProblem(path, rule, value)) }
	a := &dispatch.Alert{Text: map[string]dispatch.Text{}, Source: "cap:" + c.Sender}

	switch c.MsgType {
	case cap.MsgAlert:
		a.Kind = warning.KindAlert
	case cap.MsgUpdate:
		a.Kind = warning.KindUpdate
		for _, in := range c.Infos {
			if slices.Contains(in.ResponseTypes, cap.ResponseAllClear) {
				a.Kind = warning.KindAllClear
			}
		}
	case cap.MsgCancel:
		a.Kind = warning.KindCancel
	default:
		add("alert/msgType", "only Alert, Update and Cancel messages become warnings", string(c.MsgType))
		return nil, problems
	}
	if (a.Kind != warning.KindAlert) && len(c.References) == 0 {
		add("alert/references", "an Update or Cancel must reference the message it replaces", "")
	}
	switch c.Status {
	case cap.StatusActual:
		a.Status = warning.StatusActual
	case cap.StatusExercise:
		a.Status = warning.StatusExercise
	case cap.StatusTest:
		a.Status = warning.StatusTest
	default:
		add("alert/status", "only Actual, Exercise and Test messages become warnings", string(c.Status))
		return nil, problems
	}
	if c.Scope != cap.ScopePublic {
		add("alert/scope", "not a public message: review before broadcasting it", string(c.Scope))
	}
	if len(c.Infos) == 0 {
		if a.Kind == warning.KindCancel {
			return a, problems
		}
		add("alert/info", "the message has no info block: nothing to warn about", "")
		return nil, problems
	}

	// Text per language.
	pick := map[string]int{}
	for i, in := range c.Infos {
		l := strings.ToLower(in.Lang())
		for _, our := range dispatch.Languages {
			if l == our || strings.HasPrefix(l, our+"-") {
				if j, ok := pick[our]; !ok || (strings.EqualFold(l, capLanguages[our]) && !strings.EqualFold(c.Infos[j].Lang(), l)) {
					pick[our] = i
				}
			}
		}
	}
	for _, l := range dispatch.Languages {
		i, ok := pick[l]
		if !ok {
			add("alert/info", fmt.Sprintf("no info in %s (%s): the text must be written before issue", l, capLanguages[l]), "")
			continue
		}
		in := c.Infos[i]
		path := fmt.Sprintf("alert/info[%d]", i)
		t := dispatch.Text{
			Headline:    strings.TrimSpace(in.Headline),
			Description: strings.TrimSpace(in.Description),
			Instruction: strings.TrimSpace(in.Instruction),
		}
		for _, pre := range append(slices.Collect(maps.Values(capEndPrefix[a.Kind])), capEndPrefixBefore...) {
			t.Headline = strings.TrimSpace(strings.TrimPrefix(t.Headline, pre)) // our own marker, re-imported
		}
		if t.Headline == "" {
			t.Headline = strings.TrimSpace(in.Event)
		}
		t.Headline = clipText(&problems, path+"/headline", t.Headline, dispatch.MaxHeadline)
		t.Description = clipText(&problems, path+"/description", t.Description, dispatch.MaxDescription)
		t.Instruction = clipText(&problems, path+"/instruction", t.Instruction, dispatch.MaxInstruction)
		a.Text[l] = t
	}

	capActionOf(c, a)

	// Event: our own code first, then the names.
	main := c.Infos[0]
	if i, ok := pick["zh"]; ok {
		main = c.Infos[i]
	}
	a.Event = warning.EventUnknown
	for _, in := range c.Infos {
		for _, ec := range in.EventCodes {
			if ec.ValueName == CAPEventCodeName {
				if e, err := warning.ParseEvent(ec.Value); err == nil {
					a.Event = e
				}
			}
		}
	}
	if a.Event == warning.EventUnknown {
		if e, ok := MatchCAPEvent(main.Event); ok {
			a.Event = e
		}
	}
	if a.Event == warning.EventUnknown {
		for _, in := range c.Infos {
			for _, candidate := range append([]string{in.Event}, nvValues(in.EventCodes)...) {
				if e, ok := MatchCAPEvent(candidate); ok && a.Event == warning.EventUnknown {
					a.Event = e
				}
			}
		}
	}
	if a.Event == warning.EventUnknown {
		a.Event = warning.EventOther
		add("alert/info/event", "event not in the code list (GET /api/v1/events): mapped to other, choose the event", main.Event)
	}

	// Level.
	a.Level = warning.LevelFromCAPSeverity(string(main.Severity))
	for _, in := range c.Infos {
		if l := warning.LevelFromCAPSeverity(string(in.Severity)); l > a.Level {
			a.Level = l
		}
	}
	if a.Level == warning.LevelUnknown {
		for _, in := range c.Infos {
			for _, lw := range levelFromText {
				if a.Level == warning.LevelUnknown && (strings.Contains(in.Event, lw.word) || strings.Contains(in.Headline, lw.word)) {
					a.Level = lw.level
				}
			}
		}
	}
	if a.Level == warning.LevelUnknown && a.Kind != warning.KindCancel {
		add("alert/info/severity", "severity Unknown and no warning colour in the text: choose the level", string(main.Severity))
	}

	// Times.
	for _, in := range c.Infos {
		if !in.Onset.IsZero() && (a.Onset.IsZero() || in.Onset.Before(a.Onset)) {
			a.Onset = in.Onset
		}
	}
	if exp, ok := c.ExpiresAt(); ok {
		a.Expires = exp
	} else if a.Kind != warning.KindCancel {
		add("alert/info/expires", "no expiry: set one before issue", "")
	}

	// Area.
	var counties []targeting.Region
	if tree != nil {
		counties = tree.Counties()
	}
	// Every info's areas count (they usually repeat per language); a
	// problem found in several infos is reported once.
	seen := map[string]bool{}
	areaProblem := func(path, rule, value string) {
		if !seen[rule+"\x00"+value] {
			seen[rule+"\x00"+value] = true
			add(path, rule, value)
		}
	}
	for i, in := range c.Infos {
		for j, ar := range in.Areas {
			path := fmt.Sprintf("alert/info[%d]/area[%d]", i, j)
			got := 0
			for k, g := range ar.Geocodes {
				if !isADCODE(g.ValueName) {
					continue
				}
				gpath := fmt.Sprintf("%s/geocode[%d]", path, k)
				code := strings.TrimSpace(g.Value)
				if !dispatch.IsDigits(code) || (len(code) != 6 && len(code) != 9 && len(code) != 12) {
					areaProblem(gpath, "ADCODE must be 6, 9 or 12 digits", code)
					continue
				}
				for _, m := range mapADCODE(code, tree, counties) {
					got++
					if !slices.Contains(a.Area.Codes, m) {
						a.Area.Codes = append(a.Area.Codes, m)
					}
				}
				if tree != nil && !inTree(tree, code) && underCounty(code, counties) {
					areaProblem(gpath, "unknown region code: not in the loaded region tree", code)
				}
			}
			for k, pg := range ar.Polygons {
				s := pg.String()
				if _, err := targeting.ParsePolygon(s); err != nil {
					areaProblem(fmt.Sprintf("%s/polygon[%d]", path, k), err.Error(), s)
					continue
				}
				got++
				if !slices.Contains(a.Area.Polygons, s) {
					a.Area.Polygons = append(a.Area.Polygons, s)
				}
			}
			for k, ci := range ar.Circles {
				s := ci.String()
				if _, err := targeting.ParseCircle(s); err != nil {
					areaProblem(fmt.Sprintf("%s/circle[%d]", path, k), err.Error(), s)
					continue
				}
				got++
				if !slices.Contains(a.Area.Circles, s) {
					a.Area.Circles = append(a.Area.Circles, s)
				}
			}
			if got == 0 && !coversOther(ar) {
				areaProblem(path, "area not understood (no ADCODE geocode of ours, polygon or circle): set the area", ar.Desc)
			}
		}
		for _, p := range in.Parameters {
			if p.ValueName == CAPParamExclude {
				for _, code := range strings.Fields(p.Value) {
					if !slices.Contains(a.Area.Exclude, code) {
						a.Area.Exclude = append(a.Area.Exclude, code)
					}
				}
			}
		}
	}
	if len(a.Area.Codes) == 0 && len(a.Area.Polygons) == 0 && len(a.Area.Circles) == 0 && a.Kind != warning.KindCancel {
		add("alert/info/area", "no area of this message lies in the loaded region tree", "")
	}
	return a, problems
}

// coversOther reports whether the area names only ADCODEs of other places
// (so it is not "not understood", just not ours).
func coversOther(ar cap.Area) bool {
	for _, g := range ar.Geocodes {
		if isADCODE(g.ValueName) {
			return true
		}
	}
	return false
}

func nvValues(nvs []cap.NamedValue) []string {
	out := make([]string, len(nvs))
	for i, nv := range nvs {
		out[i] = nv.Value
	}
	return out
}

func isADCODE(valueName string) bool {
	switch strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(valueName), " ", "")) {
	case "ADCODE", "GB/T2260", "GB2260", "行政区划代码", "CN-ADCODE":
		return true
	}
	return false
}

func inTree(tree *targeting.Tree, code string) bool {
	_, ok := tree.Region(code)
	return ok
}

// underCounty: code is (or lies inside) one of our counties.
func underCounty(code string, counties []targeting.Region) bool {
	for _, c := range counties {
		if strings.HasPrefix(code, c.Code) {
			return true
		}
	}
	return false
}

// mapADCODE returns our region codes for an incoming ADCODE: itself when in
// the tree, the tree's counties inside a province or prefecture code, else
// nothing.
func mapADCODE(code string, tree *targeting.Tree, counties []targeting.Region) []string {
	if tree == nil {
		return []string{code}
	}
	if inTree(tree, code) {
		return []string{code}
	}
	if len(code) != 6 {
		return nil
	}
	var out []string
	for _, c := range counties {
		prefecture := strings.HasSuffix(code, "00") && c.Code[:4] == code[:4]
		province := strings.HasSuffix(code, "0000") && c.Code[:2] == code[:2]
		if prefecture || province {
			out = append(out, c.Code)
		}
	}
	return out
}

func clipText(problems *[]error, path, s string, max int) string {
	if n := utf8.RuneCountInString(s); n > max {
		*problems = append(*problems, capProblem(path, fmt.Sprintf("longer than %d characters (has %d): cut, review the text", max, n), s))
		r := []rune(s)
		return string(r[:max-1]) + "…"
	}
	return s
}
