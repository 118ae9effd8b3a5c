package alertd

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/dispatch"
)

// A drill schedule stored once fires once per due time with two alertd
// nodes on one Redis and one database, and keeps firing when the leading
// node stops. A warning's rebroadcast repeats it on the loudspeakers only.
func TestSchedulesFireOnceAcrossNodes(t *testing.T) {
	dispatch.MinScheduleInterval = time.Second
	t.Cleanup(func() { dispatch.MinScheduleInterval = 5 * time.Minute })
	dbPath := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	a := startServer(t, func(c *Config) { c.DB = dbPath })
	b := startServer(t, func(c *Config) {
		c.DB = dbPath
		c.Redis = a.Redis.URL()
		c.AuditKeyFile = filepath.Join(a.cfg.DataDir, "audit.key") // one audit chain, one key
	})
	op := addUser(t, a.Base, "op", "operator")
	drill := strings.Replace(string(exampleBody(t)), `"orange"`, `"blue"`, 1)
	body := `{"kind":"drill","spec":"every 1s","ttl":"10m","body":` + drill + `}`
	start := time.Now() // before the schedule exists: every fire is inside [start, the last listing]
	sc := mustCall(t, a.Base, "POST", "/api/v1/schedules", op, body, 201)
	if sc["id"] == nil || sc["kind"] != "drill" {
		t.Fatalf("schedule: %v", sc)
	}
	drills := func(s *testServer) int {
		return len(mustCall(t, s.Base, "GET", "/api/v1/alerts?limit=500", op, nil, 200)["alerts"].([]any))
	}
	waitFor(t, 30*time.Second, "a leader and two drills", func() bool {
		return (a.scheduler.Leader() || b.scheduler.Leader()) && drills(a) >= 2
	})
	if a.scheduler.Leader() && b.scheduler.Leader() {
		t.Fatal("both nodes lead")
	}
	// Stop the leader; the other takes over and the schedule goes on.
	leader, other := a, b
	if b.scheduler.Leader() {
		leader, other = b, a
	}
	_ = leader.Shutdown()
	before := drills(other)
	waitFor(t, 30*time.Second, "the other node leading and firing twice more", func() bool {
		return other.scheduler.Leader() && drills(other) >= before+2
	})
	list := mustCall(t, other.Base, "GET", "/api/v1/alerts?limit=500", op, nil, 200)["alerts"].([]any)
	elapsed := time.Since(start)
	seen := map[string]bool{}
	for _, x := range list {
		m := x.(map[string]any)
		if m["status"] != "exercise" || !strings.HasPrefix(m["source"].(string), "schedule:") {
			t.Fatalf("scheduled drill not marked as an exercise from the schedule: %v %v", m["status"], m["source"])
		}
		sec := m["created_at"].(string)[:19]
		if seen[sec] {
			t.Fatalf("two drills fired in the same second %s", sec)
		}
		seen[sec] = true
	}
	// Due times are whole seconds apart: never more fires than that.
	if n, max := len(list), int(elapsed.Seconds())+1; n > max {
		t.Fatalf("%d drills fired in %s (one a second at most)", n, elapsed)
	}
	n := len(list)
	t.Logf("%d drills in %s across a leader change", n, elapsed.Round(time.Millisecond))
}

func TestRebroadcastRepeatsOnSpeakersOnly(t *testing.T) {
	dispatch.MinScheduleInterval = time.Second
	t.Cleanup(func() { dispatch.MinScheduleInterval = 5 * time.Minute })
	s := startServer(t, nil)
	importPopulation(t, s.Base, 300, 20)
	op := addUser(t, s.Base, "op", "operator")
	body := strings.Replace(string(exampleBody(t)), `"orange"`, `"blue"`, 1)
	body = strings.Replace(body, `"expires"`, `"rebroadcast":"every 1s","expires"`, 1)
	body = strings.Replace(body, `"audience":{"groups":["herders"]}`, `"audience":{}`, 1)
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, body, 201)["id"].(string)
	var a map[string]any
	waitFor(t, 20*time.Second, "two rebroadcast rounds", func() bool {
		_, a = call(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil)
		r, _ := a["round"].(float64)
		return r >= 2
	})
	mustCall(t, s.Base, "DELETE", "/api/v1/schedules/rb:"+id, op, nil, 204)
	// A round in flight may still land: any snapshot of a round whose
	// speaker plan is written and counted, nothing queued, is one to check.
	waitFor(t, 20*time.Second, "the last round planned", func() bool {
		_, a = call(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil)
		plans, _ := a["plans"].(map[string]any)
		sp, _ := plans["speaker"].(map[string]any)
		p := progressOf(a)["speaker"]
		return sp != nil && sp["recipients"] == p["planned"] && p["queued"] == 0
	})
	p := progressOf(a)
	if plans := a["plans"].(map[string]any); len(plans) != 1 || p["speaker"]["planned"] == 0 || p["sms"]["planned"] != 0 {
		t.Fatalf("a rebroadcast round must plan speakers only: plans %v progress %v", plans, p)
	}
	v1 := mustCall(t, s.Base, "GET", "/api/v1/alerts/"+id+"/deliveries?version=1&channel=sms&limit=1", op, nil, 200)
	if len(v1["deliveries"].([]any)) == 0 {
		t.Fatal("the first version must have gone out by SMS")
	}
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/allclear", op, `{"reason":"lifted"}`, 200)
	// The stopped rebroadcast must not come back. Positive control: a
	// drill schedule created now has fired, so the scheduler has been
	// through its schedules after the all-clear.
	drill := `{"kind":"drill","spec":"every 1s","ttl":"10m","body":` + strings.Replace(string(exampleBody(t)), `"orange"`, `"blue"`, 1) + `}`
	did := mustCall(t, s.Base, "POST", "/api/v1/schedules", op, drill, 201)["id"].(string)
	waitFor(t, 20*time.Second, "the control drill schedule firing", func() bool {
		for _, x := range mustCall(t, s.Base, "GET", "/api/v1/alerts?limit=500", op, nil, 200)["alerts"].([]any) {
			if x.(map[string]any)["source"] == "schedule:"+did {
				return true
			}
		}
		return false
	})
	sch := mustCall(t, s.Base, "GET", "/api/v1/schedules", op, nil, 200)["schedules"].([]any)
	if len(sch) != 1 || sch[0].(map[string]any)["id"] != did {
		t.Fatalf("after the all-clear, want only the control drill schedule, got %v", sch)
	}
}
