package alertd

import (
	"fmt"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/channels/sms/smscsim"
)

// Delivery receipts the SMSC sends after alertd restarted reach the
// delivery records: the message ids are found in delivery_refs, not in the
// memory of the process that submitted them.
func TestSMSReceiptsAfterRestartReachRecords(t *testing.T) {
	sim, err := smscsim.Start(smscsim.Config{SystemID: "shule", Password: "pw8chars", Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	var smsCfg sms.Config
	if err := yaml.Unmarshal([]byte(fmt.Sprintf(`
gateways:
  - {name: carrier-a, type: smpp, addr: %q, system_id: shule, password: pw8chars, source_addr: "12379"}
`, sim.Addr())), &smsCfg); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	edit := func(c *Config) {
		c.DataDir = dir
		c.SMS = smsCfg
		c.Outbox = []string{"speaker", "websocket", "voice"}
	}
	s := startServer(t, edit)
	importPopulation(t, s.Base, 400, 10)
	op := addUser(t, s.Base, "op1", "operator")
	ap := addUser(t, s.Base, "ap1", "approver")
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, exampleBody(t), 201)["id"].(string)
	mustCall(t, s.Base, "POST", "/api/v1/alerts/"+id+"/approve", ap, `{"reason":"confirmed"}`, 200)
	p := progressOf(waitDone(t, s.Base, ap, id, 30*time.Second))["sms"]
	if p["planned"] == 0 || p["sent"] != p["planned"] || p["delivered"] != 0 {
		t.Fatalf("before receipts: sms progress %v, want every record sent", p)
	}

	redisURL := s.Redis.URL()
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	s2 := startServer(t, func(c *Config) { edit(c); c.Redis = redisURL })
	waitFor(t, 10*time.Second, "the restarted alertd bound", func() bool { return sim.Binds() >= 1 })
	for _, m := range sim.Messages() {
		if !sim.SendReceipt(m) {
			t.Fatalf("no bind took the receipt for %s", m.ID)
		}
	}
	waitFor(t, 15*time.Second, "every SMS record delivered", func() bool {
		_, out := call(t, s2.Base, "GET", "/api/v1/alerts/"+id, ap, nil)
		q := progressOf(out)["sms"]
		return q["delivered"] == p["planned"]
	})
}
