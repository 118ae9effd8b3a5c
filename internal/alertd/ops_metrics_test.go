package alertd

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/agent"
)

// scrape reads base/metrics and parses it.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, raw)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// sample returns the value of the series of name whose labels include
// want, and whether there is one.
func sample(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// A duty night's questions answered from /metrics of a real alertd with
// real loudspeaker agents: how many speakers of each township are
// registered, online, offline and holding a command; how long the last
// warning took to sound; how deep the queues are; whether Redis is up.
func TestOpsMetrics(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Outbox = []string{"sms", "voice"} })
	s.ops.mu.Lock()
	s.ops.every = 0 // recount on every scrape
	s.ops.mu.Unlock()

	var res, spk bytes.Buffer
	res.WriteString("phone,village,groups,language\n13800000001,653122100001,herders,zh\n")
	// Township 653122100: A online, B offline. Township 653122201: C online.
	// Township 653122202: FAR offline, outside the warning's area.
	spk.WriteString("id,village\nSPK-A,653122100001\nSPK-B,653122100002\nSPK-C,653122201201\nSPK-FAR,653122202201\n")
	mustCall(t, s.Base, "POST", "/api/v1/residents/import", testAdminToken, res.Bytes(), 200)
	mustCall(t, s.Base, "POST", "/api/v1/speakers/import", testAdminToken, spk.Bytes(), 200)
	key := mustCall(t, s.Base, "GET", "/api/v1/speakers/key", "", nil, 200)["public_key"].(string)
	pub, err := speaker.ParsePublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	var devs []agent.SimDevice
	for _, id := range []string{"SPK-A", "SPK-B", "SPK-C", "SPK-FAR"} {
		e := mustCall(t, s.Base, "POST", "/api/v1/speakers/"+id+"/enroll", testAdminToken, nil, 200)
		if id == "SPK-A" || id == "SPK-C" {
			devs = append(devs, agent.SimDevice{ID: id, Credential: e["credential"].(string)})
		}
	}

	mfs := scrape(t, s.Base)
	if _, ok := sample(mfs, "alertcast_last_warning_issued_timestamp_seconds", nil); ok {
		t.Fatal("a last warning reported before any was issued")
	}
	for _, q := range []string{"critical", "high", "default", "low"} {
		if _, ok := sample(mfs, "alertcast_queue_oldest_pending_seconds", map[string]string{"queue": q}); !ok {
			t.Errorf("no alertcast_queue_oldest_pending_seconds for queue %s", q)
		}
		if _, ok := sample(mfs, "alertcast_queue_tasks", map[string]string{"queue": q, "state": "pending"}); !ok {
			t.Errorf("no alertcast_queue_tasks pending for queue %s", q)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan error, 1)
	go func() {
		simDone <- agent.Simulate(ctx, agent.SimConfig{URL: s.Base, PublicKey: pub, Devices: devs, Ramp: 10 * time.Millisecond})
	}()
	t.Cleanup(func() { cancel(); <-simDone })
	waitFor(t, 15*time.Second, "2 speakers online in the census", func() bool {
		v, _ := sample(scrape(t, s.Base), "alertcast_speakers", map[string]string{"township": "653122100", "state": "online"})
		w, _ := sample(scrape(t, s.Base), "alertcast_speakers", map[string]string{"township": "653122201", "state": "online"})
		return v == 1 && w == 1
	})

	op := addUser(t, s.Base, "op", "operator")
	body := strings.Replace(string(exampleBody(t)), `"orange"`, `"yellow"`, 1)
	body = strings.Replace(body, `"audience":{"groups":["herders"]}`, `"audience":{}`, 1)
	called := time.Now()
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, body, 201)["id"].(string)
	var first float64
	waitFor(t, 30*time.Second, "first sound of the warning", func() bool {
		var ok bool
		first, ok = sample(scrape(t, s.Base), "alertcast_last_warning_first_sound_seconds", nil)
		return ok
	})
	if first < 0 || first > time.Since(called).Seconds()+1 {
		t.Errorf("first sound %.3fs after issue, but the whole test step took %s", first, time.Since(called))
	}
	issued, ok := sample(scrape(t, s.Base), "alertcast_last_warning_issued_timestamp_seconds", nil)
	if !ok || issued < float64(called.Unix()-1) {
		t.Errorf("last warning issued at %v (%v), issue call at %v", issued, ok, called.Unix())
	}
	// SPK-B is in the area and offline: its command stays held.
	waitFor(t, 30*time.Second, "online speakers played", func() bool {
		_, out := call(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil)
		return progressOf(out)["speaker"]["delivered"] == 2
	})
	mfs = scrape(t, s.Base)
	want := map[[2]string]float64{
		{"653122100", "registered"}: 2, {"653122100", "online"}: 1, {"653122100", "offline"}: 1, {"653122100", "held"}: 1,
		{"653122201", "registered"}: 1, {"653122201", "online"}: 1, {"653122201", "offline"}: 0, {"653122201", "held"}: 0,
		{"653122202", "registered"}: 1, {"653122202", "online"}: 0, {"653122202", "offline"}: 1, {"653122202", "held"}: 0,
	}
	var bad []string
	for k, w := range want {
		if v, ok := sample(mfs, "alertcast_speakers", map[string]string{"township": k[0], "state": k[1]}); !ok || v != w {
			bad = append(bad, k[0]+" "+k[1])
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("alertcast_speakers wrong for %v; exported %v", bad, mfs["alertcast_speakers"])
	}
	if v, _ := sample(mfs, "alertcast_queue_processed_total", map[string]string{"queue": "critical", "outcome": "ok"}); v == 0 {
		if w, _ := sample(mfs, "alertcast_queue_processed_total", map[string]string{"queue": "high", "outcome": "ok"}); w == 0 {
			t.Errorf("no processed tasks counted in the critical or high queue after a yellow warning went out")
		}
	}

	// Dependencies: up, then Redis down.
	if v, ok := sample(mfs, "alertcast_dependency_up", map[string]string{"dependency": "redis"}); !ok || v != 1 {
		t.Fatalf("redis up = %v, %v while it serves", v, ok)
	}
	if v, ok := sample(mfs, "alertcast_dependency_up", map[string]string{"dependency": "database"}); !ok || v != 1 {
		t.Fatalf("database up = %v, %v", v, ok)
	}
	cancel()
	<-simDone
	simDone <- nil
	s.Redis.Stop()
	mfs = scrape(t, s.Base)
	if v, ok := sample(mfs, "alertcast_dependency_up", map[string]string{"dependency": "redis"}); !ok || v != 0 {
		t.Fatalf("redis up = %v, %v after redis-server was killed", v, ok)
	}
}

// With the speaker channel in outbox mode the census reports only the
// registry: no "offline" series that would page for every township.
func TestOpsMetricsSpeakerOutbox(t *testing.T) {
	s := startServer(t, nil) // every channel is the outbox
	mustCall(t, s.Base, "POST", "/api/v1/speakers/import", testAdminToken, "id,village\nSPK-A,653122100001\nSPK-B,653122100002\n", 200)
	mfs := scrape(t, s.Base)
	if v, ok := sample(mfs, "alertcast_speakers", map[string]string{"township": "653122100", "state": "registered"}); !ok || v != 2 {
		t.Fatalf("registered = %v, %v; want 2", v, ok)
	}
	for _, st := range []string{"online", "offline", "held"} {
		if v, ok := sample(mfs, "alertcast_speakers", map[string]string{"state": st}); ok {
			t.Errorf("alertcast_speakers{state=%q} = %v exported without a speaker hub", st, v)
		}
	}
}
