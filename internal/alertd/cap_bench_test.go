package alertd

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/dispatch"
)

// BenchmarkCAPImport measures CAP import-to-issued in automatic mode (issue
// 9: ≤ 200 ms p99): a signed CAP 1.2 document with a fresh identifier is
// POSTed to /api/v1/cap of a running alertd whose rule issues it at once;
// the time is from the request to the "issued" answer. Reported as p50, p99
// and max over b.N imports; run enough of them for a p99:
//
//	ALERTCAST_REQUIRE_SERVICES=1 go test -run '^$' -bench CAPImport -benchtime 200x ./internal/alertd/
func BenchmarkCAPImport(b *testing.B) {
	// The document: one of our own warnings, exported as CAP.
	src := startServer(b, nil)
	op := addUser(b, src.Base, "op", "operator")
	blue := strings.Replace(string(exampleBody(b)), `"orange"`, `"blue"`, 1)
	id := mustCall(b, src.Base, "POST", "/api/v1/alerts", op, blue, 201)["id"].(string)
	st, doc, _ := getRaw(b, src.Base+"/api/v1/alerts/"+id+"/cap")
	if st != 200 {
		b.Fatalf("export: %d %s", st, doc)
	}
	key, certPEM := testCAPSigner(b)
	dst := startServer(b, func(c *Config) {
		c.CAP.Rules = []dispatch.CAPRule{{Name: "met-bureau", Sender: "*", Mode: "auto", MaxLevel: "yellow", Channels: []string{"sms", "websocket"}, Cert: certPEM}}
	})
	sys := addUser(b, dst.Base, "met", "operator")
	var lat []time.Duration
	i := 0
	for b.Loop() {
		d := signCAP(b, bytes.Replace(doc, []byte(id+"-v1"), []byte(fmt.Sprintf("%s-bench%d", id, i)), 1), key, certPEM)
		t0 := time.Now()
		st, res := postCAP(b, dst.Base, sys, d)
		lat = append(lat, time.Since(t0))
		if st != 201 || res["outcome"] != "issued" {
			b.Fatalf("import %d: %d %v", i, st, res)
		}
		i++
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}
