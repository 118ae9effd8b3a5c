package targeting

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/alertcast/alertcast/warning"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// population generates and parses a synthetic population once per size.
type population struct {
	tree      *Tree
	residents []Resident
	speakers  []Speaker
}

func genPopulation(t testing.TB, residents, speakers int, seed int64) population {
	t.Helper()
	tree := DefaultTree()
	var rb, sb bytes.Buffer
	if err := GeneratePopulation(tree, DefaultOutline(), residents, speakers, seed, &rb, &sb); err != nil {
		t.Fatal(err)
	}
	p := population{tree: tree}
	rep, err := ReadResidents(&rb, func(_ int, r Resident) error { p.residents = append(p.residents, r); return nil })
	if err != nil || !rep.OK() || rep.Accepted != residents {
		t.Fatalf("residents: %v %+v", err, rep)
	}
	rep, err = ReadSpeakers(&sb, func(_ int, s Speaker) error { p.speakers = append(p.speakers, s); return nil })
	if err != nil || !rep.OK() || rep.Accepted != speakers {
		t.Fatalf("speakers: %v %+v", err, rep)
	}
	return p
}

func (p population) index(t testing.TB) *Index {
	t.Helper()
	ix := NewIndex(p.tree)
	for _, r := range p.residents {
		if err := ix.PutResident(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range p.speakers {
		if err := ix.PutSpeaker(s); err != nil {
			t.Fatal(err)
		}
	}
	return ix
}

// oracle answers an aim by brute force over plain slices, with the index's
// documented precision (resident coordinates as float32).
type oracle struct {
	tree      *Tree
	residents map[uint32]Resident
	speakers  map[string]Speaker
}

func (o *oracle) inArea(a Aim, village string, pt *Point, f32 bool) (matched, byCode bool) {
	for _, c := range a.Exclude {
		if o.tree.Contains(c, village) {
			return false, false
		}
	}
	for _, c := range a.Codes {
		if o.tree.Contains(c, village) {
			byCode = true
		}
	}
	if byCode {
		return true, true
	}
	if pt == nil {
		return false, false
	}
	lat, lon := pt.Lat, pt.Lon
	if f32 {
		lat, lon = float64(float32(lat)), float64(float32(lon))
	}
	for _, poly := range a.Polygons {
		ring := orb.Ring{}
		for _, q := range poly {
			ring = append(ring, orb.Point{q.Lon, q.Lat})
		}
		if planar.RingContains(ring, orb.Point{lon, lat}) {
			return true, false
		}
	}
	for _, c := range a.Circles {
		if inCircle(c, lat, lon) {
			return true, false
		}
	}
	return false, false
}

func (o *oracle) passes(a Aim, r Resident) bool {
	if len(a.Groups) > 0 && !slices.ContainsFunc(a.Groups, func(g string) bool { return slices.Contains(r.Groups, g) }) {
		return false
	}
	return len(a.Languages) == 0 || slices.Contains(a.Languages, r.Language)
}

func (o *oracle) resolve(a Aim) (sms []uint32, speakers []string, pv Preview) {
	pv = Preview{Channels: map[string]int{}, Townships: map[string]int{}, Languages: map[string]int{}}
	geometric := len(a.Polygons)+len(a.Circles) > 0
	for id, r := range o.residents {
		if r.OptOut || !o.passes(a, r) {
			continue
		}
		matched, _ := o.inArea(a, r.Village, r.Point, true)
		if matched {
			sms = append(sms, id)
			pv.Townships[o.tree.TownshipOf(r.Village)]++
			pv.Languages[r.Language]++
			continue
		}
		if geometric && r.Point == nil && !o.excluded(a, r.Village) {
			pv.Unplaced++
		}
	}
	for id, s := range o.speakers {
		matched, _ := o.inArea(a, s.Village, s.Point, true)
		if matched {
			speakers = append(speakers, id)
		} else if geometric && s.Point == nil && !o.excluded(a, s.Village) {
			pv.Unplaced++
		}
	}
	slices.Sort(sms)
	slices.Sort(speakers)
	pv.Channels["sms"], pv.Channels["speaker"] = len(sms), len(speakers)
	return sms, speakers, pv
}

func (o *oracle) excluded(a Aim, village string) bool {
	for _, c := range a.Exclude {
		if o.tree.Contains(c, village) {
			return true
		}
	}
	return false
}

// randomAim draws an aim of codes, exclusions, polygons (star-shaped, so
// simple, sometimes with vertices on residents or cell lines), circles,
// groups and languages.
func randomAim(rng *rand.Rand, p population, o *oracle) Aim {
	var a Aim
	regions := append(append(p.tree.Townships(), p.tree.Villages()...), p.tree.Counties()...)
	for range rng.IntN(4) {
		a.Codes = append(a.Codes, regions[rng.IntN(len(regions))].Code)
	}
	if rng.IntN(3) == 0 {
		for range 1 + rng.IntN(3) {
			a.Exclude = append(a.Exclude, regions[rng.IntN(len(regions)-1)].Code)
		}
	}
	b := DefaultOutline().Bound()
	randPt := func() Point {
		return Point{Lat: b.Min[1] + rng.Float64()*(b.Max[1]-b.Min[1]), Lon: b.Min[0] + rng.Float64()*(b.Max[0]-b.Min[0])}
	}
	if rng.IntN(2) == 0 {
		for range 1 + rng.IntN(2) {
			switch rng.IntN(3) {
			case 0: // axis-aligned on grid lines
				r0, c0 := float64(rng.IntN(30)), float64(rng.IntN(50))
				lat0, lon0 := 38.86+r0*cellDeg, 75.88+c0*cellDeg
				lat1, lon1 := lat0+float64(1+rng.IntN(10))*cellDeg, lon0+float64(1+rng.IntN(10))*cellDeg
				a.Polygons = append(a.Polygons, []Point{{lat0, lon0}, {lat0, lon1}, {lat1, lon1}, {lat1, lon0}, {lat0, lon0}})
			default: // star-shaped around a centre, radius up to ~0.3°
				c := randPt()
				n := 3 + rng.IntN(12)
				angles := make([]float64, n)
				for i := range angles {
					angles[i] = rng.Float64() * 2 * math.Pi
				}
				sort.Float64s(angles)
				var poly []Point
				for _, ang := range angles {
					r := 0.01 + rng.Float64()*0.3
					poly = append(poly, Point{Lat: c.Lat + r*math.Sin(ang), Lon: c.Lon + r*math.Cos(ang)})
				}
				if rng.IntN(3) == 0 { // a vertex exactly on a resident
					res := p.residents[rng.IntN(len(p.residents))]
					if res.Point != nil {
						poly[0] = Point{Lat: float64(float32(res.Point.Lat)), Lon: float64(float32(res.Point.Lon))}
					}
				}
				poly = append(poly, poly[0])
				if CheckPolygon(poly) == nil {
					a.Polygons = append(a.Polygons, poly)
				}
			}
		}
	}
	if rng.IntN(3) == 0 {
		for range 1 + rng.IntN(2) {
			a.Circles = append(a.Circles, Circle{Center: randPt(), RadiusKM: rng.Float64() * 25})
		}
	}
	if len(a.Codes) == 0 && len(a.Polygons) == 0 && len(a.Circles) == 0 {
		a.Codes = []string{regions[rng.IntN(len(regions))].Code}
	}
	for _, g := range Groups {
		if rng.IntN(8) == 0 {
			a.Groups = append(a.Groups, g.Code)
		}
	}
	if rng.IntN(3) == 0 {
		a.Languages = []string{Languages[rng.IntN(2)]}
	}
	return a
}

func checkAgainstOracle(t *testing.T, ix *Index, o *oracle, a Aim) {
	t.Helper()
	res, err := ix.Resolve(a)
	if err != nil {
		t.Fatalf("Resolve(%+v): %v", a, err)
	}
	wantSMS, wantSpk, wantPv := o.resolve(a)
	gotSMS := res.Residents()
	if !slices.Equal(gotSMS, wantSMS) {
		t.Fatalf("aim %+v\nsms: got %d recipients, oracle %d (first diff %v)", a, len(gotSMS), len(wantSMS), firstDiff(gotSMS, wantSMS))
	}
	if got := res.Speakers(); !slices.Equal(got, wantSpk) {
		t.Fatalf("aim %+v\nspeakers: got %d, oracle %d", a, len(got), len(wantSpk))
	}
	pv := res.Preview()
	if !maps.Equal(pv.Channels, wantPv.Channels) || !maps.Equal(pv.Townships, wantPv.Townships) ||
		!maps.Equal(pv.Languages, wantPv.Languages) || pv.Unplaced != wantPv.Unplaced {
		t.Fatalf("aim %+v\npreview: got %+v\noracle %+v", a, pv, wantPv)
	}
	if res.ResidentCount() != len(wantSMS) || int(res.ResidentBitmap().GetCardinality()) != len(wantSMS) {
		t.Fatal("counts disagree")
	}
}

func firstDiff(a, b []uint32) string {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return fmt.Sprintf("at %d: %d vs %d", i, a[i], b[i])
		}
	}
	return "length"
}

// TestResolveMatchesOracle is the property test of issue 3: for random aims
// over a synthetic population, with random incremental changes in between,
// the bitmap resolver returns exactly what a brute-force scan returns.
func TestResolveMatchesOracle(t *testing.T) {
	p := genPopulation(t, 10000, 400, 7)
	ix := p.index(t)
	o := &oracle{tree: p.tree, residents: map[uint32]Resident{}, speakers: map[string]Speaker{}}
	for _, r := range p.residents {
		o.residents[r.ID] = r
	}
	for _, s := range p.speakers {
		o.speakers[s.ID] = s
	}
	rng := rand.New(rand.NewPCG(42, 1))
	villages := p.tree.Villages()
	for round := range 200 {
		checkAgainstOracle(t, ix, o, randomAim(rng, p, o))
		// Incremental changes: move, regroup, opt out, remove, add, and speakers.
		for range 20 {
			id := uint32(1 + rng.IntN(len(p.residents)+200))
			switch rng.IntN(4) {
			case 0:
				ix.RemoveResident(id)
				delete(o.residents, id)
			case 1:
				if ix.SetOptOut(id, rng.IntN(2) == 0) {
					r := o.residents[id]
					r2, _ := ix.Resident(id)
					r.OptOut = r2.OptOut
					o.residents[id] = r
				}
			default:
				r := Resident{ID: id, Phone: fmt.Sprintf("+86139%08d", id), Village: villages[rng.IntN(len(villages))].Code,
					Language: Languages[rng.IntN(2)], OptOut: rng.IntN(10) == 0}
				if rng.IntN(2) == 0 {
					r.Groups = []string{Groups[rng.IntN(len(Groups))].Code}
				}
				if rng.IntN(4) != 0 {
					src := p.residents[rng.IntN(len(p.residents))]
					r.Point = src.Point
				}
				if err := ix.PutResident(r); err != nil {
					t.Fatal(err)
				}
				got, _ := ix.Resident(id)
				o.residents[id] = got
			}
		}
		if round%10 == 0 {
			s := p.speakers[rng.IntN(len(p.speakers))]
			if rng.IntN(2) == 0 {
				ix.RemoveSpeaker(s.ID)
				delete(o.speakers, s.ID)
			} else {
				s.Village = villages[rng.IntN(len(villages))].Code
				if err := ix.PutSpeaker(s); err != nil {
					t.Fatal(err)
				}
				o.speakers[s.ID] = s
			}
		}
	}
	nr, ns := ix.Len()
	if nr != len(o.residents) || ns != len(o.speakers) {
		t.Errorf("Len = %d, %d; oracle %d, %d", nr, ns, len(o.residents), len(o.speakers))
	}
}

func TestResolveExample(t *testing.T) {
	ix := NewIndex(DefaultTree())
	put := func(r Resident) {
		t.Helper()
		if err := ix.PutResident(r); err != nil {
			t.Fatal(err)
		}
	}
	put(Resident{ID: 1, Phone: "13800000001", Village: "653122100001", Groups: []string{"herders", "elderly"}, Language: "ug"})
	put(Resident{ID: 2, Phone: "13800000002", Village: "653122201200", Groups: []string{"牧民"}, Language: "zh"})
	put(Resident{ID: 3, Phone: "13800000003", Village: "653122201200", Groups: []string{"farmers"}, Language: "ug"})
	put(Resident{ID: 4, Phone: "13800000004", Village: "653122201201", Groups: []string{"herders"}, Language: "ug", OptOut: true})
	put(Resident{ID: 5, Phone: "13800000005", Village: "653122202200", Groups: []string{"herders"}, Language: "ug"})
	if err := ix.PutSpeaker(Speaker{ID: "s1", Village: "653122201200", Point: &Point{39.3, 76.0}}); err != nil {
		t.Fatal(err)
	}
	// The spine's example body.
	res, err := ix.Resolve(Aim{Codes: []string{"653122100", "653122201"}, Groups: []string{"herders"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Residents(); !slices.Equal(got, []uint32{1, 2}) {
		t.Errorf("residents = %v, want [1 2] (each once; opted-out 4 and farmer 3 left out)", got)
	}
	pv := res.Preview()
	want := Preview{Channels: map[string]int{"sms": 2, "speaker": 1}, Townships: map[string]int{"653122100": 1, "653122201": 1},
		Languages: map[string]int{"ug": 1, "zh": 1}}
	if !maps.Equal(pv.Channels, want.Channels) || !maps.Equal(pv.Townships, want.Townships) || !maps.Equal(pv.Languages, want.Languages) {
		t.Errorf("preview = %+v", pv)
	}
	var batches [][]uint32
	res.ResidentBatches(1, func(b []uint32) bool { batches = append(batches, slices.Clone(b)); return true })
	if len(batches) != 2 || batches[0][0] != 1 || batches[1][0] != 2 {
		t.Errorf("batches = %v", batches)
	}
	// Exclusion and a resolution snapshot unaffected by later writes.
	res, _ = ix.Resolve(Aim{Codes: []string{"653122"}, Exclude: []string{"653122201"}})
	ix.RemoveResident(1)
	if got := res.Residents(); !slices.Equal(got, []uint32{1, 5}) {
		t.Errorf("with exclusion = %v", got)
	}
}

func TestResolveErrors(t *testing.T) {
	ix := NewIndex(DefaultTree())
	_, err := ix.Resolve(Aim{
		Codes:     []string{"653122", "65312", "999999999"},
		Exclude:   []string{"x"},
		Polygons:  [][]Point{{{39, 76}, {39.1, 76}, {39, 76}}},
		Circles:   []Circle{{Center: Point{39, 76}, RadiusKM: -1}},
		Groups:    []string{"herders", "aliens"},
		Languages: []string{"fr"},
	})
	if err == nil {
		t.Fatal("bad aim accepted")
	}
	for _, field := range []string{"area.codes[1]", "area.codes[2]", "area.exclude[0]", "area.polygons[0]", "area.circles[0]", "audience.groups[1]", "audience.languages[0]"} {
		if !bytes.Contains([]byte(err.Error()), []byte(field)) {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
	var fe *warning.FieldError
	if !errors.As(err, &fe) {
		t.Errorf("not a FieldError: %v", err)
	}
	if !errors.Is(err, ErrUnknownRegion) {
		t.Errorf("unknown code not marked ErrUnknownRegion: %v", err)
	}
	if _, err := ix.Resolve(Aim{Groups: []string{"herders"}}); err == nil {
		t.Error("aim without an area accepted")
	}
}

func TestPutValidation(t *testing.T) {
	ix := NewIndex(DefaultTree())
	good := Resident{ID: 9, Phone: "+86 138-0000-0009", Village: "653122100001", Language: "zh", Point: &Point{39.2, 76.1}}
	for name, mut := range map[string]func(*Resident){
		"phone":    func(r *Resident) { r.Phone = "12345" },
		"village":  func(r *Resident) { r.Village = "653122100999" },
		"township": func(r *Resident) { r.Village = "653122100" },
		"language": func(r *Resident) { r.Language = "" },
		"groups":   func(r *Resident) { r.Groups = []string{"nobody"} },
		"lat":      func(r *Resident) { r.Point = &Point{91, 76} },
		"lon":      func(r *Resident) { r.Point = &Point{39, math.NaN()} },
	} {
		r := good
		mut(&r)
		err := ix.PutResident(r)
		var fe *warning.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: err = %v, want FieldError", name, err)
		} else if fe.Field != name && !(name == "township" && fe.Field == "village") {
			t.Errorf("%s: field = %q", name, fe.Field)
		}
	}
	if n, _ := ix.Len(); n != 0 {
		t.Fatal("a rejected resident was stored")
	}
	if err := ix.PutResident(good); err != nil {
		t.Fatal(err)
	}
	got, ok := ix.Resident(9)
	if !ok || got.Phone != "+8613800000009" || got.Point == nil || math.Abs(got.Point.Lat-39.2) > 1e-5 {
		t.Errorf("Resident = %+v", got)
	}
	for _, s := range []Speaker{{ID: "", Village: "653122100001"}, {ID: "a b", Village: "653122100001"}, {ID: "s", Village: "1"},
		{ID: "s", Village: "653122100001", Capabilities: []string{"Bad Cap"}}, {ID: "s", Village: "653122100001", Point: &Point{0, 200}}} {
		if err := ix.PutSpeaker(s); err == nil {
			t.Errorf("PutSpeaker(%+v) accepted", s)
		}
	}
}

// TestConcurrentResolve runs readers against writers (meaningful with -race).
func TestConcurrentResolve(t *testing.T) {
	p := genPopulation(t, 3000, 100, 3)
	ix := p.index(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			r := p.residents[i%len(p.residents)]
			r.OptOut = i%2 == 0
			if err := ix.PutResident(r); err != nil {
				t.Error(err)
				return
			}
			if i%7 == 0 {
				ix.RemoveResident(r.ID)
			}
			if i%5 == 0 {
				s := p.speakers[i%len(p.speakers)]
				if i%10 == 0 {
					ix.RemoveSpeaker(s.ID)
				} else if err := ix.PutSpeaker(s); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for range 50 {
		if _, err := ix.Resolve(Aim{Codes: []string{"653122"}, Circles: []Circle{{Point{39.2, 76.3}, 10}}}); err != nil {
			t.Fatal(err)
		}
	}
	<-done
}
