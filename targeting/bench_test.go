package targeting

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Benchmarks of issue 3, at 1,000,000 synthetic residents and 10,000
// speakers. Fixtures are built once per process, inside benchmarks only, so
// plain `go test` never pays for them. Run:
//
//	go test -run '^$' -bench . -benchtime 1x ./targeting/     (import, memory)
//	go test -run '^$' -bench 'Resolve|Put' ./targeting/
const (
	benchResidents = 1_000_000
	benchSpeakers  = 10_000
)

var bench struct {
	once     sync.Once
	resCSV   []byte
	spkCSV   []byte
	tree     *Tree
	ix       *Index
	buildDur time.Duration
	heap     uint64 // heap bytes the index holds
}

func benchFixture(b *testing.B) {
	b.Helper()
	bench.once.Do(func() {
		var rb, sb bytes.Buffer
		if err := GeneratePopulation(DefaultTree(), DefaultOutline(), benchResidents, benchSpeakers, 1, &rb, &sb); err != nil {
			b.Fatal(err)
		}
		bench.resCSV, bench.spkCSV = rb.Bytes(), sb.Bytes()
		bench.tree = DefaultTree()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		bench.ix = importAll(b, bench.tree, bench.resCSV, bench.spkCSV)
		bench.buildDur = time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		bench.heap = after.HeapAlloc - before.HeapAlloc
	})
}

func importAll(b *testing.B, tree *Tree, resCSV, spkCSV []byte) *Index {
	ix := NewIndex(tree)
	rep, err := ReadResidents(bytes.NewReader(resCSV), func(_ int, r Resident) error { return ix.PutResident(r) })
	if err != nil || !rep.OK() || rep.Accepted != benchResidents {
		b.Fatalf("import: %v %d accepted, %d errors", err, rep.Accepted, rep.ErrorCount)
	}
	rep, err = ReadSpeakers(bytes.NewReader(spkCSV), func(_ int, s Speaker) error { return ix.PutSpeaker(s) })
	if err != nil || !rep.OK() || rep.Accepted != benchSpeakers {
		b.Fatalf("speakers: %v %+v", err, rep)
	}
	return ix
}

// BenchmarkImport1M parses the 1M-resident CSV and builds the index
// (budget 20 s; database inserts are measured by dispatch).
func BenchmarkImport1M(b *testing.B) {
	benchFixture(b)
	b.SetBytes(int64(len(bench.resCSV)))
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	n := 0
	for b.Loop() {
		importAll(b, DefaultTree(), bench.resCSV, bench.spkCSV)
		n++
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()+ru1.Stime.Nano()-ru0.Stime.Nano()) / time.Duration(n)
	b.ReportMetric(cpu.Seconds(), "process-cpu-s/op")
}

// BenchmarkIndexMemory reports the live heap the 1M index holds per resident
// (budget 64 B), measured around the first build.
func BenchmarkIndexMemory(b *testing.B) {
	benchFixture(b)
	for b.Loop() {
	}
	runtime.KeepAlive(bench.ix)
	b.ReportMetric(float64(bench.heap)/benchResidents, "heapB/resident")
	b.ReportMetric(float64(bench.ix.MemoryBytes())/benchResidents, "indexB/resident")
	b.ReportMetric(bench.buildDur.Seconds(), "first-build-s")
}

// timer measures one call in wall time and in CPU time of the calling
// thread. The machine is shared by many builds: wall time includes waiting
// for a core, thread CPU time is what the call costs on an idle core.
type timer struct {
	wall, cpu []time.Duration
	start     time.Time
	cpu0      time.Duration
}

func (t *timer) begin() { t.cpu0, t.start = threadCPU(), time.Now() }
func (t *timer) end() {
	t.wall = append(t.wall, time.Since(t.start))
	t.cpu = append(t.cpu, threadCPU()-t.cpu0)
}

// report reports median and p99 of wall and thread-CPU time in ms.
func (t *timer) report(b *testing.B) {
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"wall", t.wall}, {"cpu", t.cpu}} {
		d := m.d
		if len(d) == 0 {
			return
		}
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, m.name+"-p50-ms")
		b.ReportMetric(float64(d[min(len(d)-1, len(d)*99/100)].Microseconds())/1000, m.name+"-p99-ms")
	}
}

// BenchmarkResolveMix resolves random mixes of codes (county, townships,
// villages), exclusions, groups and languages, with the preview (budget
// p99 ≤ 10 ms).
func BenchmarkResolveMix(b *testing.B) {
	benchFixture(b)
	rng := rand.New(rand.NewPCG(9, 9))
	towns, villages := bench.tree.Townships(), bench.tree.Villages()
	aims := make([]Aim, 512)
	for i := range aims {
		a := &aims[i]
		switch rng.IntN(4) {
		case 0:
			a.Codes = []string{ShuleCounty}
		case 1:
			for range 1 + rng.IntN(5) {
				a.Codes = append(a.Codes, towns[rng.IntN(len(towns))].Code)
			}
		default:
			for range 1 + rng.IntN(3) {
				a.Codes = append(a.Codes, towns[rng.IntN(len(towns))].Code)
			}
			for range 1 + rng.IntN(20) {
				a.Codes = append(a.Codes, villages[rng.IntN(len(villages))].Code)
			}
		}
		if rng.IntN(3) == 0 {
			a.Exclude = []string{villages[rng.IntN(len(villages))].Code}
		}
		for _, g := range Groups {
			if rng.IntN(6) == 0 {
				a.Groups = append(a.Groups, g.Code)
			}
		}
		if rng.IntN(3) == 0 {
			a.Languages = []string{Languages[rng.IntN(2)]}
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var tm timer
	total := 0
	i := 0
	for b.Loop() {
		tm.begin()
		res, err := bench.ix.Resolve(aims[i%len(aims)])
		tm.end()
		if err != nil {
			b.Fatal(err)
		}
		total += res.ResidentCount()
		i++
	}
	b.ReportMetric(float64(total)/float64(i), "recipients/op")
	tm.report(b)
}

// thirdOfCounty is an eight-point polygon over the middle of Shule County
// covering a third of its area (TestThirdOfCounty checks).
func thirdOfCounty() []Point {
	bd := DefaultOutline().Bound()
	w, h := bd.Max[0]-bd.Min[0], bd.Max[1]-bd.Min[1]
	lon := func(f float64) float64 { return bd.Min[0] + f*w }
	lat := func(f float64) float64 { return bd.Min[1] + f*h }
	return []Point{
		{lat(0.05), lon(0.40)}, {lat(0.02), lon(0.50)}, {lat(0.08), lon(0.59)}, {lat(0.50), lon(0.615)},
		{lat(0.95), lon(0.57)}, {lat(0.98), lon(0.48)}, {lat(0.90), lon(0.40)}, {lat(0.50), lon(0.38)},
		{lat(0.05), lon(0.40)},
	}
}

// BenchmarkResolvePolygonThird resolves a polygon covering about a third of
// the county (budget ≤ 50 ms), reporting the share of residents it holds.
func BenchmarkResolvePolygonThird(b *testing.B) {
	benchFixture(b)
	aim := Aim{Polygons: [][]Point{thirdOfCounty()}}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var tm timer
	var res *Resolution
	for b.Loop() {
		var err error
		tm.begin()
		res, err = bench.ix.Resolve(aim)
		tm.end()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(res.ResidentCount())/benchResidents, "share")
	tm.report(b)
}

// BenchmarkResolveOutline resolves the 810-vertex county outline itself.
func BenchmarkResolveOutline(b *testing.B) {
	benchFixture(b)
	var poly []Point
	for _, p := range DefaultOutline()[0][0] {
		poly = append(poly, Point{Lat: p[1], Lon: p[0]})
	}
	aim := Aim{Polygons: [][]Point{poly}, Groups: []string{"herders"}}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var tm timer
	for b.Loop() {
		tm.begin()
		_, err := bench.ix.Resolve(aim)
		tm.end()
		if err != nil {
			b.Fatal(err)
		}
	}
	tm.report(b)
}

// BenchmarkResolveCircle resolves 10 km circles around random points.
func BenchmarkResolveCircle(b *testing.B) {
	benchFixture(b)
	rng := rand.New(rand.NewPCG(3, 3))
	bd := DefaultOutline().Bound()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var tm timer
	for b.Loop() {
		c := Circle{Center: Point{Lat: bd.Min[1] + rng.Float64()*(bd.Max[1]-bd.Min[1]), Lon: bd.Min[0] + rng.Float64()*(bd.Max[0]-bd.Min[0])}, RadiusKM: 10}
		tm.begin()
		_, err := bench.ix.Resolve(Aim{Circles: []Circle{c}, Codes: []string{"653122100"}})
		tm.end()
		if err != nil {
			b.Fatal(err)
		}
	}
	tm.report(b)
}

// BenchmarkRecipientList materialises the sorted recipient list of the
// whole county (what planning batches from).
func BenchmarkRecipientList(b *testing.B) {
	benchFixture(b)
	res, err := bench.ix.Resolve(Aim{Codes: []string{ShuleCounty}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if n := len(res.Residents()); n == 0 {
			b.Fatal("empty")
		}
	}
}

// BenchmarkPutResident changes existing residents in the 1M index: village,
// groups, opt-out and location (budget ≤ 50 µs).
func BenchmarkPutResident(b *testing.B) {
	benchFixture(b)
	rng := rand.New(rand.NewPCG(5, 5))
	villages := bench.tree.Villages()
	i := 0
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	defer func() { b.ReportMetric(float64((threadCPU()-cpu0).Nanoseconds())/float64(max(i, 1)), "cpu-ns/op") }()
	for b.Loop() {
		id := uint32(1 + rng.IntN(benchResidents))
		r := Resident{ID: id, Phone: fmt.Sprintf("1390%07d", i%10_000_000), Village: villages[rng.IntN(len(villages))].Code,
			Groups: []string{Groups[rng.IntN(len(Groups))].Code}, Language: "ug", OptOut: i%50 == 0,
			Point: &Point{Lat: 39.0 + rng.Float64()*0.4, Lon: 76.0 + rng.Float64()*0.8}}
		if err := bench.ix.PutResident(r); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkResolveCounty is the largest code aim: the whole county, no
// filter (every resident an SMS recipient).
func BenchmarkResolveCounty(b *testing.B) {
	benchFixture(b)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var tm timer
	for b.Loop() {
		tm.begin()
		_, err := bench.ix.Resolve(Aim{Codes: []string{ShuleCounty}})
		tm.end()
		if err != nil {
			b.Fatal(err)
		}
	}
	tm.report(b)
}
