package alertd

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/agent"
)

// The whole path with real loudspeaker agents: registry import, enrolment
// through the API, agents dialling in with their credentials, an issued
// warning rendered to a programme (espeak-ng or tone-only), signed play
// commands, and play receipts that end as delivered records. A cancel then
// reaches the same speakers.
func TestSpeakersPlayIssuedWarning(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Outbox = []string{"sms", "voice"} })
	var res, spk bytes.Buffer
	res.WriteString("phone,village,groups,language\n13800000001,653122100001,herders,zh\n")
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
		devs = append(devs, agent.SimDevice{ID: id, Credential: e["credential"].(string)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan error, 1)
	go func() {
		simDone <- agent.Simulate(ctx, agent.SimConfig{URL: s.Base, PublicKey: pub, Devices: devs, Ramp: 10 * time.Millisecond})
	}()
	t.Cleanup(func() { cancel(); <-simDone })
	waitFor(t, 15*time.Second, "4 speakers online", func() bool {
		st := mustCall(t, s.Base, "GET", "/api/v1/speakers", testAdminToken, nil, 200)
		online := 0
		for _, d := range st["status"].([]any) {
			if d.(map[string]any)["online"] == true {
				online++
			}
		}
		return online == 4
	})

	op := addUser(t, s.Base, "op", "operator")
	body := strings.Replace(string(exampleBody(t)), `"orange"`, `"yellow"`, 1)
	body = strings.Replace(body, `"audience":{"groups":["herders"]}`, `"audience":{}`, 1)
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, body, 201)["id"].(string)
	var p map[string]float64
	waitFor(t, 30*time.Second, "speakers played", func() bool {
		_, out := call(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil)
		p = progressOf(out)["speaker"]
		return p["planned"] == 3 && p["delivered"] == 3
	})
	dl := mustCall(t, s.Base, "GET", "/api/v1/alerts/"+id+"/deliveries?channel=speaker", op, nil, 200)
	for _, d := range dl["deliveries"].([]any) {
		if r := d.(map[string]any)["recipient"]; r == "SPK-FAR" {
			t.Fatalf("a speaker outside the area was commanded: %v", d)
		}
	}
	_, ws := call(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil)
	if w := progressOf(ws)["websocket"]; w["delivered"] != 1 {
		t.Fatalf("websocket broadcast: %v", w)
	}
	// The programme is served with its hash as ETag.
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/cancel", op, `{"reason":"drill over"}`, 200)
	waitFor(t, 30*time.Second, "stop reached the speakers", func() bool {
		_, out := call(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil)
		q := progressOf(out)["speaker"]
		return q["planned"] == 3 && q["pending"] == 0 && q["failed"] == 0
	})
}
