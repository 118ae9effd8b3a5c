package alertd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/dispatch/engine"
	"github.com/hibiken/asynq"
)

// An update widens the area: the new version goes to everyone reached and
// everyone newly inside, once each; the old version's undelivered work is
// superseded. An all-clear goes to everyone reached. A warning that expires
// stops: its state is expired and nothing is delivered late.
func TestLifecycleUpdateAllClearExpiry(t *testing.T) {
	s := startServer(t, nil)
	importPopulation(t, s.Base, 3000, 60)
	op := addUser(t, s.Base, "op", "operator")
	body := strings.Replace(string(exampleBody(t)), `"orange"`, `"yellow"`, 1)
	body = strings.Replace(body, `"audience":{"groups":["herders"]}`, `"audience":{}`, 1)
	narrow := strings.Replace(body, `"codes":["653122100","653122201"]`, `"codes":["653122100"]`, 1)
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, narrow, 201)["id"].(string)
	v1 := progressOf(waitDone(t, s.Base, op, id, 30*time.Second))

	up := mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/update", op, body, 200)
	if up["version"].(float64) != 2 || up["kind"] != "update" || up["state"] != "issued" {
		t.Fatalf("update: %v %v %v", up["version"], up["kind"], up["state"])
	}
	v2 := progressOf(waitDone(t, s.Base, op, id, 30*time.Second))
	if v2["sms"]["planned"] <= v1["sms"]["planned"] || v2["speaker"]["planned"] < v1["speaker"]["planned"] {
		t.Fatalf("a wider area must reach more: v1 %v v2 %v", v1, v2)
	}
	full := mustCall(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil, 200)
	if n := len(full["versions"].([]any)); n != 2 {
		t.Fatalf("versions: %d", n)
	}
	// Everyone reached by v1 is among v2's recipients (exactly once: the
	// record key is per recipient).
	ob := mustCall(t, s.Base, "GET", "/api/v1/outbox?alert="+id+"/v2&channel=sms&limit=1", op, nil, 200)
	if int(ob["total"].(float64)) != int(v2["sms"]["planned"]) {
		t.Fatalf("v2 outbox %v, planned %v", ob["total"], v2["sms"]["planned"])
	}

	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/allclear", op, `{"reason":"over"}`, 200)
	v3 := progressOf(waitDone(t, s.Base, op, id, 30*time.Second))
	if v3["sms"]["not_sent"] != v2["sms"]["not_sent"] || v3["speaker"]["not_sent"] != v2["speaker"]["not_sent"] {
		t.Fatalf("all-clear must reach everyone reached: v2 %v v3 %v", v2, v3)
	}
	cap := mustCall(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil, 200)
	if cap["state"] != "allclear" || cap["kind"] != "allclear" {
		t.Fatalf("after all-clear: %v %v", cap["state"], cap["kind"])
	}

	// Expiry: a warning that expires in two seconds.
	short := strings.Replace(narrow, `"expires":"2030-01-01T18:00:00+08:00"`, `"expires":"`+time.Now().Add(2*time.Second).Format(time.RFC3339)+`"`, 1)
	eid := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, short, 201)["id"].(string)
	waitFor(t, 20*time.Second, "warning expired", func() bool {
		_, a := call(t, s.Base, "GET", "/api/v1/alerts/"+eid, op, nil)
		return a["state"] == "expired"
	})
	waitFor(t, 20*time.Second, "no record queued after expiry", func() bool {
		_, a := call(t, s.Base, "GET", "/api/v1/alerts/"+eid, op, nil)
		for _, p := range progressOf(a) {
			if p["queued"] != 0 {
				return false
			}
		}
		return true
	})
	audit := mustCall(t, s.Base, "GET", "/api/v1/audit?after=0&alert="+eid, op, nil, 200)["entries"].([]any)
	if last := audit[len(audit)-1].(map[string]any)["action"]; last != "alert.expire" {
		t.Fatalf("expiry not audited: %v", last)
	}
}

// TestCancelStopsPlanning: a county-wide warning cancelled while its
// audience is being written stops being written, and none of what was
// written is left waiting to be sent.
func TestCancelStopsPlanning(t *testing.T) {
	s := startServer(t, func(c *Config) { c.BatchSize = 100 }) // 1,000 records per write: a plan of many steps
	importPopulation(t, s.Base, 60000, 0)
	op := addUser(t, s.Base, "op", "operator")
	body := strings.Replace(string(exampleBody(t)), `"orange"`, `"yellow"`, 1) // no second officer needed
	body = strings.Replace(body, `"audience":{"groups":["herders"]}`, `"audience":{}`, 1)
	body = strings.Replace(body, `"codes":["653122100","653122201"]`, `"codes":["653122"]`, 1)
	body = strings.Replace(body, `"channels":["speaker","sms","websocket","voice"]`, `"channels":["sms"]`, 1)
	full := int(mustCall(t, s.Base, "POST", "/api/v1/audience/preview", op, body, 200)["channels"].(map[string]any)["sms"].(float64))
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, body, 201)["id"].(string)
	waitFor(t, 20*time.Second, "the first records planned", func() bool {
		_, a := call(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil)
		return progressOf(a)["sms"]["planned"] > 0
	})
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/cancel", op, `{"reason":"issued by mistake"}`, 200)
	v1 := func() map[string]int {
		c, err := s.store.DeliveryCounters(context.Background(), id, 1)
		if err != nil {
			t.Fatal(err)
		}
		return c["sms"]
	}
	waitFor(t, 20*time.Second, "no record of version 1 pending", func() bool { return v1()["planned"] == 0 })
	// A plan that did not stop would still be writing: count once its task
	// has finished.
	waitTaskFinished(t, s, "plan:"+id+":v1")
	// A write that passed the plan's last check before the cancel landed
	// enqueued its batches; their send tasks revoke them when they run.
	waitFor(t, 20*time.Second, "the plan's last write revoked too", func() bool { return v1()["planned"] == 0 })
	c := v1()
	total := 0
	for _, n := range c {
		total += n
	}
	if total >= full || c["planned"] != 0 || c["revoked"] == 0 {
		t.Fatalf("after a cancel during planning: %v of an audience of %d (want the plan stopped short, nothing pending, the rest revoked)", c, full)
	}
}

// waitTaskFinished waits until the Asynq task id is in no queue as pending,
// scheduled, active or retrying: it has returned for good (completed, or
// revoked and deleted).
func waitTaskFinished(t *testing.T, s *testServer, id string) {
	t.Helper()
	in := asynq.NewInspector(asynq.RedisClientOpt{Addr: s.Redis.Addr})
	defer in.Close()
	waitFor(t, 30*time.Second, "task "+id+" finished", func() bool {
		for _, q := range []string{engine.QueueCritical, engine.QueueHigh, engine.QueueDefault, engine.QueueLow} {
			info, err := in.GetTaskInfo(q, id)
			if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
				continue
			}
			if err != nil {
				t.Fatalf("task %s in %s: %v", id, q, err)
			}
			switch info.State {
			case asynq.TaskStateCompleted, asynq.TaskStateArchived:
			default:
				return false
			}
		}
		return true
	})
}
