package alertd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/alertcast/alertcast/channels/sms/smscsim"
	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/agent"
	"github.com/alertcast/alertcast/internal/testsvc"
)

var metricName = regexp.MustCompile(`\balertcast_[a-zA-Z0-9_]+`)

// usedMetrics returns every alertcast_* name in the expressions of the
// Prometheus rules and the Grafana dashboard in deploy/, each with where it
// is used.
func usedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	add := func(where, expr string) {
		for _, n := range metricName.FindAllString(expr, -1) {
			used[n] = append(used[n], where)
		}
	}
	raw, err := os.ReadFile("../../deploy/prometheus/alertcast.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("alertcast.rules.yml: %v", err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			add("rule "+r.Alert, r.Expr)
		}
	}
	raw, err = os.ReadFile("../../deploy/grafana/alertcast.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("alertcast.json: %v", err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			add("panel "+p.Title, tg.Expr)
		}
	}
	if len(used) < 20 {
		t.Fatalf("only %d metric names found in the rules and the dashboard: the parser is broken", len(used))
	}
	return used
}

// exported adds the sample names of a scrape (histograms as _bucket, _sum,
// _count) to have.
func exported(t *testing.T, client *http.Client, url string, have map[string]bool) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	for name, mf := range mfs {
		if len(mf.GetMetric()) == 0 {
			continue
		}
		have[name] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM || mf.GetType() == dto.MetricType_SUMMARY {
			have[name+"_bucket"], have[name+"_sum"], have[name+"_count"] = true, true, true
		}
	}
}

// Every metric the alert rules and the Grafana dashboard in deploy/ query
// is exported by a real alertd that has sent a warning to a real
// loudspeaker agent, a real SMPP simulator and a resident page, and (for
// the certificate) serves TLS. A renamed metric breaks this test, not the
// county's alerting.
func TestDashboardAndRulesMetricsExported(t *testing.T) {
	used := usedMetrics(t)

	sim, err := smscsim.Start(smscsim.Config{SystemID: "shule", Password: "pw8chars", Receipts: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	doc := fmt.Sprintf("gateways:\n  - {name: carrier-a, type: smpp, addr: %q, system_id: shule, password: pw8chars, source_addr: \"12379\"}\n", sim.Addr())
	s := startServer(t, func(c *Config) {
		setYAML(t, &c.SMS, doc)
		c.Outbox = nil
	})
	mustCall(t, s.Base, "POST", "/api/v1/residents/import", testAdminToken,
		"phone,village,groups,language\n13800000001,653122100001,herders,zh\n", 200)
	mustCall(t, s.Base, "POST", "/api/v1/speakers/import", testAdminToken, "id,village\nSPK-A,653122100001\nSPK-B,653122100002\n", 200)
	key := mustCall(t, s.Base, "GET", "/api/v1/speakers/key", "", nil, 200)["public_key"].(string)
	pub, err := speaker.ParsePublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	e := mustCall(t, s.Base, "POST", "/api/v1/speakers/SPK-A/enroll", testAdminToken, nil, 200)
	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan error, 1)
	go func() {
		simDone <- agent.Simulate(ctx, agent.SimConfig{URL: s.Base, PublicKey: pub,
			Devices: []agent.SimDevice{{ID: "SPK-A", Credential: e["credential"].(string)}}})
	}()
	defer func() { cancel(); <-simDone }()
	// A connection without the speaker protocol header is refused and counted.
	if resp, err := http.Get(s.Base + "/speaker/ws"); err == nil {
		resp.Body.Close()
	}

	op := addUser(t, s.Base, "op", "operator")
	body := strings.Replace(string(exampleBody(t)), `"orange"`, `"yellow"`, 1)
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, body, 201)["id"].(string)
	waitFor(t, 30*time.Second, "SMS receipt and loudspeaker played", func() bool {
		_, out := call(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil)
		p := progressOf(out)
		return p["sms"]["delivered"] == 1 && p["speaker"]["delivered"] == 1
	})
	waitFor(t, 10*time.Second, "first sound recorded", func() bool {
		_, ok := sample(scrape(t, s.Base), "alertcast_last_warning_first_sound_seconds", nil)
		return ok
	})
	have := map[string]bool{}
	exported(t, http.DefaultClient, s.Base+"/metrics", have)

	// The certificate's expiry is exported only when alertd serves TLS.
	ca := testsvc.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, testsvc.ServerCert{Serial: 7, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour)}, certFile, keyFile)
	ts := startServer(t, func(c *Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	client := ca.Client()
	tlsHave := map[string]bool{}
	exported(t, client, "https://"+ts.Addr+"/metrics", tlsHave)
	if !tlsHave["alertcast_tls_cert_expiry_timestamp_seconds"] {
		t.Error("alertcast_tls_cert_expiry_timestamp_seconds not exported by an alertd serving TLS")
	}
	have["alertcast_tls_cert_expiry_timestamp_seconds"] = tlsHave["alertcast_tls_cert_expiry_timestamp_seconds"]

	var missing []string
	for n, where := range used {
		if !have[n] {
			missing = append(missing, fmt.Sprintf("%s (used by %s)", n, strings.Join(where, ", ")))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("%d metric names used in deploy/ are not exported by alertd:\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
}
