package targeting

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/alertcast/alertcast/warning"
)

// ShelterKind is what a shelter (应急避难场所) is. The zero value is Unknown.
type ShelterKind int

const (
	ShelterUnknown ShelterKind = iota
	ShelterIndoor
	ShelterOutdoor
	ShelterSchool
	ShelterMosqueCourtyard
	ShelterStadium
	ShelterPark
	ShelterOther
)

var shelterKindNames = [...]string{"", "indoor", "outdoor", "school", "mosque_courtyard", "stadium", "park", "other"}

// shelterKindAliases are the Chinese words a county's spreadsheet uses.
var shelterKindAliases = map[string]ShelterKind{
	"室内": ShelterIndoor, "室外": ShelterOutdoor, "学校": ShelterSchool, "清真寺院落": ShelterMosqueCourtyard,
	"体育场": ShelterStadium, "公园": ShelterPark, "广场": ShelterOutdoor, "其他": ShelterOther,
}

// String returns the kind's code (indoor, …, other; "" for Unknown).
func (k ShelterKind) String() string {
	if k < 0 || int(k) >= len(shelterKindNames) {
		return ""
	}
	return shelterKindNames[k]
}

// ShelterKinds lists the codes ParseShelterKind accepts.
func ShelterKinds() []string { return slices.Clone(shelterKindNames[1:]) }

// ParseShelterKind parses a code (or its Chinese name).
func ParseShelterKind(s string) (ShelterKind, error) {
	s = strings.TrimSpace(s)
	for i, n := range shelterKindNames {
		if i > 0 && strings.EqualFold(n, s) {
			return ShelterKind(i), nil
		}
	}
	if k, ok := shelterKindAliases[s]; ok {
		return k, nil
	}
	return ShelterUnknown, fieldErr("kind", "must be one of "+strings.Join(ShelterKinds(), ", "), s)
}

// MarshalText writes the code.
func (k ShelterKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText parses the code.
func (k *ShelterKind) UnmarshalText(b []byte) error {
	v, err := ParseShelterKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Shelter is an emergency shelter: where the residents of the villages it
// serves go when a warning says evacuate. Villages lists the villages it
// serves by explicit assignment; villages not listed by any shelter go to
// the nearest one (see AssignShelters).
type Shelter struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`              // Chinese
	NameUG     string      `json:"name_ug,omitempty"` // Uyghur
	Point      Point       `json:"point"`
	Capacity   int         `json:"capacity"` // people
	Kind       ShelterKind `json:"kind"`
	Accessible bool        `json:"accessible"` // step-free, for wheelchairs and the frail
	Contact    string      `json:"contact,omitempty"`
	Villages   []string    `json:"villages,omitempty"` // explicit assignment
	Synthetic  bool        `json:"synthetic,omitempty"`
}

// Shelter limits.
const (
	MaxShelterName    = 64 // characters
	MaxShelterContact = 128
	MaxShelterCap     = 1_000_000
)

var shelterIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)

// CheckShelter validates a shelter on its own (not the villages it lists
// against a tree: the caller knows the tree). Every problem is returned.
func CheckShelter(s Shelter) []error {
	var errs []error
	if !shelterIDRe.MatchString(s.ID) {
		errs = append(errs, fieldErr("id", "must be 1–64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit", s.ID))
	}
	checkName := func(field, v string, required bool) {
		n := utf8.RuneCountInString(v)
		switch {
		case !utf8.ValidString(v):
			errs = append(errs, fieldErr(field, "must be valid UTF-8", ""))
		case required && strings.TrimSpace(v) == "":
			errs = append(errs, fieldErr(field, "required", ""))
		case n > MaxShelterName:
			errs = append(errs, fieldErrf(field, v, "at most %d characters (has %d)", MaxShelterName, n))
		case strings.ContainsAny(v, "\r\n\t"):
			errs = append(errs, fieldErr(field, "must be one line", v))
		}
	}
	checkName("name", s.Name, true)
	checkName("name_ug", s.NameUG, false)
	if err := CheckPoint(s.Point); err != nil {
		errs = append(errs, err)
	}
	if s.Capacity < 1 || s.Capacity > MaxShelterCap {
		errs = append(errs, fieldErrf("capacity", strconv.Itoa(s.Capacity), "must be a whole number of people from 1 to %d", MaxShelterCap))
	}
	if s.Kind <= ShelterUnknown || s.Kind > ShelterOther {
		errs = append(errs, fieldErr("kind", "must be one of "+strings.Join(ShelterKinds(), ", "), s.Kind.String()))
	}
	if n := utf8.RuneCountInString(s.Contact); !utf8.ValidString(s.Contact) || n > MaxShelterContact {
		errs = append(errs, fieldErrf("contact", "", "at most %d characters of valid UTF-8", MaxShelterContact))
	}
	seen := map[string]bool{}
	for _, v := range s.Villages {
		if lvl, err := levelOfCode(v); err != nil || lvl != RegionVillage {
			errs = append(errs, fieldErr("villages", "each must be a 12-digit village code", v))
		} else if seen[v] {
			errs = append(errs, fieldErr("villages", "village listed twice", v))
		}
		seen[v] = true
	}
	return errs
}

var shelterColumns = map[string]string{
	"id": "id", "编号": "id", "场所编号": "id",
	"name": "name", "name_zh": "name", "名称": "name", "场所名称": "name", "避难场所": "name",
	"name_ug": "name_ug", "维吾尔文名称": "name_ug", "维文名称": "name_ug",
	"lat": "lat", "latitude": "lat", "纬度": "lat",
	"lon": "lon", "lng": "lon", "longitude": "lon", "经度": "lon",
	"capacity": "capacity", "容量": "capacity", "可容纳人数": "capacity", "容纳人数": "capacity",
	"kind": "kind", "type": "kind", "类型": "kind", "场所类型": "kind",
	"accessible": "accessible", "无障碍": "accessible",
	"contact": "contact", "联系人": "contact", "联系方式": "contact", "联系电话": "contact",
	"villages": "villages", "village": "villages", "服务村": "villages", "服务村居": "villages",
	"synthetic": "synthetic", "合成": "synthetic",
}

// ReadShelters streams a shelters CSV (columns: id, name, name_ug, lat, lon,
// capacity, kind, accessible, contact, villages separated by ';',
// synthetic) like ReadResidents: bad lines are collected in the report
// and skipped, fn gets the good ones in file order. A repeated id, or a
// village that two lines assign, is a line error (which of the two is
// meant cannot be guessed). fn may return a *warning.FieldError (a village
// not in the caller's tree) to reject the line.
func ReadShelters(r io.Reader, fn func(line int, s Shelter) error) (ImportReport, error) {
	var rep ImportReport
	t, err := openTable(r, shelterColumns, []string{"id", "name", "lat", "lon", "capacity", "kind"}, &rep)
	if err != nil {
		return rep, err
	}
	ids := map[string]int{}
	villages := map[string]int{}
	err = t.eachRow(func(le *lineErrs) error {
		s := Shelter{ID: t.get("id"), Name: t.get("name"), NameUG: t.get("name_ug"), Contact: t.get("contact"), Villages: splitList(t.get("villages"))}
		if p := t.point(le); p != nil {
			s.Point = *p
		} else if t.get("lat") == "" && t.get("lon") == "" {
			le.add("lat", "required: a shelter's location (lat and lon)", "")
		}
		if c, err := strconv.Atoi(t.get("capacity")); err != nil {
			le.add("capacity", "must be a whole number of people", t.get("capacity"))
		} else {
			s.Capacity = c
		}
		if k, err := ParseShelterKind(t.get("kind")); err != nil {
			le.addErr("kind", err)
		} else {
			s.Kind = k
		}
		var ok bool
		if s.Accessible, ok = parseBool(t.get("accessible")); !ok {
			le.add("accessible", "must be true/false, 1/0, yes/no or 是/否", t.get("accessible"))
		}
		if s.Synthetic, ok = parseBool(t.get("synthetic")); !ok {
			le.add("synthetic", "must be true/false, 1/0, yes/no or 是/否", t.get("synthetic"))
		}
		for _, e := range CheckShelter(s) {
			var fe *warning.FieldError
			if errors.As(e, &fe) && le.has(fe.Field) {
				continue // already reported from the raw text
			}
			le.addErr("", e)
		}
		if first, dup := ids[s.ID]; dup && s.ID != "" {
			le.add("id", fmt.Sprintf("duplicate id (first on line %d)", first), s.ID)
		}
		for _, v := range s.Villages {
			if first, dup := villages[v]; dup {
				le.add("villages", fmt.Sprintf("village already assigned to the shelter on line %d", first), v)
			}
		}
		if rep.reject(le) {
			return nil
		}
		ids[s.ID] = t.line
		for _, v := range s.Villages {
			villages[v] = t.line
		}
		return deliver(&rep, t.line, func() error { return fn(t.line, s) })
	})
	return rep, err
}
