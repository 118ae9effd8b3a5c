package targeting

import (
	"fmt"
	"strings"
)

// Group is one population group of the documented code list. The code is
// what the API, CSV files and configuration use; the Chinese name is also
// accepted on import, because registries kept in offices are written in it.
type Group struct {
	Code string `json:"code"`
	ZH   string `json:"zh"`
	EN   string `json:"en"`
}

// Groups is the code list of population groups. The order is the internal
// bit order: append new groups at the end, never reorder (at most 32).
var Groups = []Group{
	{"herders", "牧民", "herders and their families on pasture"},
	{"farmers", "农民", "farmers"},
	{"schools", "学校", "schools and kindergartens (staff contacts)"},
	{"students", "学生", "students"},
	{"elderly", "老年人", "elderly people"},
	{"disabled", "残障人士", "people with disabilities"},
	{"hazchem", "危化品企业", "hazardous-chemical enterprises (safety officers)"},
	{"tourists", "游客", "tourists and visitors"},
	{"construction", "建筑工地", "construction sites (site managers)"},
	{"medical", "医疗机构", "hospitals and clinics"},
	{"cadres", "村干部", "village cadres and grid workers (网格员)"},
	{"drivers", "运输司机", "transport drivers"},
}

// Languages are the languages a resident can receive warnings in.
var Languages = []string{"zh", "ug"}

var groupBits = func() map[string]int {
	m := make(map[string]int, 2*len(Groups))
	for i, g := range Groups {
		m[g.Code] = i
		m[g.ZH] = i
	}
	if len(Groups) > 32 {
		panic("targeting: more than 32 groups")
	}
	return m
}()

// groupBit returns the bit of a group code or Chinese name.
func groupBit(name string) (int, bool) {
	b, ok := groupBits[strings.TrimSpace(strings.ToLower(name))]
	if !ok {
		b, ok = groupBits[strings.TrimSpace(name)]
	}
	return b, ok
}

// ParseGroup returns the code of a group given by code or Chinese name.
func ParseGroup(name string) (string, error) {
	b, ok := groupBit(name)
	if !ok {
		return "", fieldErr("groups", "unknown group (see targeting.Groups: herders, farmers, schools, students, elderly, disabled, hazchem, tourists, construction, medical, cadres, drivers)", name)
	}
	return Groups[b].Code, nil
}

func groupMask(groups []string, field string) (uint32, error) {
	var m uint32
	for _, g := range groups {
		b, ok := groupBit(g)
		if !ok {
			return 0, fieldErrf(field, g, "unknown group (known: %s)", groupCodes())
		}
		m |= 1 << b
	}
	return m, nil
}

func groupCodes() string {
	codes := make([]string, len(Groups))
	for i, g := range Groups {
		codes[i] = g.Code
	}
	return strings.Join(codes, ", ")
}

func groupsOf(mask uint32) []string {
	var out []string
	for i := range Groups {
		if mask&(1<<i) != 0 {
			out = append(out, Groups[i].Code)
		}
	}
	return out
}

// language numbers: 0 = unset, then 1 + index in Languages.
func langNum(s string) (uint8, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "zh", "zh-cn", "zh-hans", "cmn", "中文", "汉语", "普通话":
		return 1, true
	case "ug", "ug-cn", "ug-arab", "uig", "维吾尔语", "维语":
		return 2, true
	}
	return 0, false
}

// ParseLanguage returns the language code (zh or ug) of s.
func ParseLanguage(s string) (string, error) {
	n, ok := langNum(s)
	if !ok {
		return "", fieldErr("language", "must be zh or ug", s)
	}
	return Languages[n-1], nil
}

func langName(n uint8) string {
	if n == 0 || int(n) > len(Languages) {
		return fmt.Sprintf("lang%d", n)
	}
	return Languages[n-1]
}
