package targeting

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/warning"
)

func readShelters(t *testing.T, csv string) ([]Shelter, ImportReport) {
	t.Helper()
	var got []Shelter
	rep, err := ReadShelters(strings.NewReader(csv), func(_ int, s Shelter) error {
		got = append(got, s)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadShelters: %v", err)
	}
	return got, rep
}

func TestReadShelters(t *testing.T) {
	got, rep := readShelters(t, "# SYNTHETIC test\nid,name,name_ug,lat,lon,capacity,kind,accessible,contact,villages,synthetic\n"+
		"S1,疏勒镇第一中学,يېڭىشەھەر 1-ئوتتۇرا مەكتەپ,39.40,76.05,1200,school,true,0998-1234567,653122100001;653122100002,true\n"+
		"S2,巴仁乡广场,,39.30,76.10,800,广场,否,,,\n")
	if !rep.OK() || rep.Accepted != 2 || len(got) != 2 {
		t.Fatalf("report %+v, got %d", rep, len(got))
	}
	s := got[0]
	if s.ID != "S1" || s.Name != "疏勒镇第一中学" || s.Kind != ShelterSchool || !s.Accessible || !s.Synthetic ||
		s.Capacity != 1200 || s.Point != (Point{Lat: 39.40, Lon: 76.05}) || len(s.Villages) != 2 || s.Contact != "0998-1234567" {
		t.Errorf("first shelter: %+v", s)
	}
	if got[1].Kind != ShelterOutdoor || got[1].Accessible || got[1].Villages != nil {
		t.Errorf("second shelter: %+v", got[1])
	}
}

func TestReadSheltersLineErrors(t *testing.T) {
	_, rep := readShelters(t, "id,name,lat,lon,capacity,kind,villages\n"+
		"S1,A,39.4,76.0,100,school,653122100001\n"+ // good
		"S1,B,39.4,76.0,100,school,\n"+ // duplicate id
		"S3,,39.4,76.0,0,tent,6531221\n"+ // name, capacity, kind, village
		"S4,D,,,100,park,653122100001\n"+ // no location, village taken
		"S5,E,95,76,12x,park,\n") // lat out of range, capacity not a number
	if rep.Accepted != 1 || rep.Rejected != 4 {
		t.Fatalf("accepted %d rejected %d: %+v", rep.Accepted, rep.Rejected, rep.Errors)
	}
	want := map[int][]string{
		3: {"id"},
		4: {"kind", "name", "capacity", "villages"},
		5: {"lat", "villages"},
		6: {"lat", "capacity"},
	}
	have := map[int][]string{}
	for _, e := range rep.Errors {
		have[e.Line] = append(have[e.Line], e.Field)
		if e.Rule == "" {
			t.Errorf("line %d %s: no rule", e.Line, e.Field)
		}
	}
	for line, fields := range want {
		if strings.Join(have[line], ",") != strings.Join(fields, ",") {
			t.Errorf("line %d: errors on %v, want %v (%+v)", line, have[line], fields, rep.Errors)
		}
	}
}

func TestReadSheltersHeader(t *testing.T) {
	_, err := ReadShelters(strings.NewReader("id,name,lat,lon,kind\n"), func(int, Shelter) error { return nil })
	var le *LineError
	if !errors.As(err, &le) || le.Field != "header" || !strings.Contains(le.Rule, "capacity") {
		t.Fatalf("missing capacity column: %v", err)
	}
}

func TestShelterKindTable(t *testing.T) {
	for i, name := range ShelterKinds() {
		k, err := ParseShelterKind(name)
		if err != nil || k != ShelterKind(i+1) || k.String() != name {
			t.Errorf("%q: %v %v", name, k, err)
		}
	}
	if _, err := ParseShelterKind(""); err == nil {
		t.Error("empty kind accepted")
	}
	if k, _ := ParseShelterKind("Mosque_Courtyard"); k != ShelterMosqueCourtyard {
		t.Error("kind codes are case-insensitive")
	}
	if ShelterUnknown.String() != "" {
		t.Error("Unknown has a name")
	}
}

func TestDistanceAndHeading(t *testing.T) {
	// One degree of latitude is 111.2 km on the mean sphere.
	if d := DistanceM(Point{Lat: 39, Lon: 76}, Point{Lat: 40, Lon: 76}); math.Abs(d-111195) > 50 {
		t.Errorf("1° of latitude = %.0f m", d)
	}
	village := Point{Lat: 39.40, Lon: 76.00}
	ne := Point{Lat: 39.40 + 0.0077, Lon: 76.00 + 0.0100} // ~0.85 km N, ~0.86 km E
	h := HeadingTo(village, ne)
	if h.Compass != warning.NorthEast || math.Abs(h.Distance-1210) > 30 {
		t.Errorf("heading %+v, want NE ~1.2 km", h)
	}
	if h := HeadingTo(village, Point{Lat: 39.4001, Lon: 76}); h.Compass != warning.CompassUnknown {
		t.Errorf("a shelter 11 m away has a direction: %+v", h)
	}
	for _, c := range []struct {
		to   Point
		want warning.Compass
	}{
		{Point{Lat: 39.3, Lon: 76}, warning.South}, {Point{Lat: 39.4, Lon: 75.9}, warning.West},
		{Point{Lat: 39.3, Lon: 75.87}, warning.SouthWest},
	} {
		if got := HeadingTo(village, c.to).Compass; got != c.want {
			t.Errorf("to %v: %v, want %v", c.to, got, c.want)
		}
	}
}

func TestAwayFrom(t *testing.T) {
	// A square hazard zone east of the village: away is west.
	sq := []Point{{39.3, 76.1}, {39.5, 76.1}, {39.5, 76.3}, {39.3, 76.3}, {39.3, 76.1}}
	if got := AwayFrom(sq, Point{Lat: 39.4, Lon: 76.0}); got != warning.West {
		t.Errorf("village west of the zone: %v, want W", got)
	}
	// Inside near the north edge: the shortest way out is north.
	if got := AwayFrom(sq, Point{Lat: 39.49, Lon: 76.2}); got != warning.North {
		t.Errorf("village inside near the north edge: %v, want N", got)
	}
	// South-west of the south-west corner.
	if got := AwayFrom(sq, Point{Lat: 39.2, Lon: 75.97}); got != warning.SouthWest {
		t.Errorf("village off the corner: %v, want SW", got)
	}
	if got := AwayFrom(nil, Point{}); got != warning.CompassUnknown {
		t.Errorf("no polygon: %v", got)
	}
}

func TestAssignShelters(t *testing.T) {
	shelters := []Shelter{
		{ID: "B", Point: Point{Lat: 39.5, Lon: 76.0}, Villages: []string{"653122100003"}},
		{ID: "A", Point: Point{Lat: 39.0, Lon: 76.0}},
	}
	points := map[string]Point{
		"653122100001": {Lat: 39.45, Lon: 76.0}, // nearer B
		"653122100002": {Lat: 39.05, Lon: 76.0}, // nearer A
		"653122100003": {Lat: 39.01, Lon: 76.0}, // near A, but B lists it
		"653122100005": {Lat: 39.25, Lon: 76.0}, // equidistant: smaller id
	}
	got := AssignShelters([]string{"653122100005", "653122100001", "653122100002", "653122100003", "653122100004"}, points, shelters)
	want := map[string]string{"653122100001": "B", "653122100002": "A", "653122100003": "B", "653122100005": "A"}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for _, a := range got {
		if want[a.Village] != a.Shelter {
			t.Errorf("%s → %s, want %s", a.Village, a.Shelter, want[a.Village])
		}
		if a.Explicit != (a.Village == "653122100003") {
			t.Errorf("%s explicit = %v", a.Village, a.Explicit)
		}
	}
}

func TestVillagePoints(t *testing.T) {
	ix := NewIndex(DefaultTree())
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ix.PutResident(Resident{ID: 1, Phone: "+8613800000001", Village: "653122100001", Language: "zh", Point: &Point{Lat: 39.0, Lon: 76.0}}))
	must(ix.PutResident(Resident{ID: 2, Phone: "+8613800000002", Village: "653122100001", Language: "zh", Point: &Point{Lat: 39.2, Lon: 76.2}}))
	must(ix.PutResident(Resident{ID: 3, Phone: "+8613800000003", Village: "653122100002", Language: "zh", Point: &Point{Lat: 39.0, Lon: 76.0}}))
	must(ix.PutResident(Resident{ID: 4, Phone: "+8613800000004", Village: "653122100003", Language: "zh"}))
	must(ix.PutSpeaker(Speaker{ID: "S", Village: "653122100002", Point: &Point{Lat: 39.5, Lon: 76.5}}))
	pts := ix.VillagePoints()
	if p := pts["653122100001"]; math.Abs(p.Lat-39.1) > 1e-5 || math.Abs(p.Lon-76.1) > 1e-5 {
		t.Errorf("residents' mean: %v", p)
	}
	if p := pts["653122100002"]; math.Abs(p.Lat-39.5) > 1e-5 {
		t.Errorf("a loudspeaker's point wins over residents': %v", p)
	}
	if _, ok := pts["653122100003"]; ok || len(pts) != 2 {
		t.Errorf("a village with no located entity has a point: %v", pts)
	}
}

func FuzzReadShelters(f *testing.F) {
	f.Add([]byte("id,name,name_ug,lat,lon,capacity,kind,accessible,contact,villages,synthetic\nS1,一中,,39.4,76.0,1200,school,true,x,653122100001;653122100002,true\nS1,B,,,,0,tent,maybe,,1,\n"))
	f.Add([]byte("id,name,lat,lon,capacity,kind\n\"S,1\",\xff,1,2,3,park\n"))
	f.Add([]byte("编号,名称,纬度,经度,容量,类型\nA,公园,39,76,10,公园\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		rep, err := ReadShelters(bytes.NewReader(data), func(_ int, s Shelter) error {
			n++
			if errs := CheckShelter(s); len(errs) > 0 {
				t.Fatalf("delivered an invalid shelter %+v: %v", s, errs)
			}
			return nil
		})
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("file error is not a LineError: %v", err)
			}
			return
		}
		if rep.Accepted != n || rep.Accepted+rep.Rejected+rep.Duplicates != rep.Lines {
			t.Fatalf("report does not add up: %+v (delivered %d)", rep, n)
		}
		if (rep.Rejected > 0) != (rep.ErrorCount > 0) {
			t.Fatalf("error accounting: %+v", rep)
		}
	})
}

// The synthetic shelters read back cleanly: two per township, every one
// marked synthetic, the same for the same seed, and near the villages the
// residents of that seed live in.
func TestGenerateShelters(t *testing.T) {
	tree := DefaultTree()
	gen := func(seed int64) string {
		var b bytes.Buffer
		if err := GenerateShelters(tree, DefaultOutline(), seed, &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	out := gen(7)
	if !strings.HasPrefix(out, SyntheticMarker) || out != gen(7) || out == gen(8) {
		t.Fatal("not marked, or not a function of the seed")
	}
	got, rep := readShelters(t, out)
	if !rep.OK() || len(got) != 2*len(tree.Townships()) {
		t.Fatalf("%d shelters for %d townships: %+v", len(got), len(tree.Townships()), rep.Errors)
	}
	for _, s := range got {
		if !s.Synthetic || s.NameUG == "" {
			t.Errorf("%+v", s)
		}
	}
	var res, spk bytes.Buffer
	if err := GeneratePopulation(tree, DefaultOutline(), 3000, 0, 7, &res, &spk); err != nil {
		t.Fatal(err)
	}
	ix := NewIndex(tree)
	if _, err := ReadResidents(&res, func(_ int, r Resident) error { return ix.PutResident(r) }); err != nil {
		t.Fatal(err)
	}
	far := 0
	pts := ix.VillagePoints()
	vs := make([]string, 0, len(pts))
	for v := range pts {
		vs = append(vs, v)
	}
	byID := map[string]Shelter{}
	for _, s := range got {
		byID[s.ID] = s
	}
	for _, a := range AssignShelters(vs, pts, got) {
		if DistanceM(*a.Point, byID[a.Shelter].Point) > 25_000 {
			far++
		}
	}
	if far > len(vs)/10 {
		t.Errorf("%d of %d villages are over 25 km from their nearest synthetic shelter", far, len(vs))
	}
}
