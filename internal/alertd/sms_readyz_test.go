package alertd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"gopkg.in/yaml.v3"

	"github.com/alertcast/alertcast/channels/sms/smscsim"
)

// /readyz names an SMS gateway whose binds the SMSC refuses, by status and
// with the setting to check, and stays green while another gateway is up;
// it turns red (naming both reasons) only when no gateway can send.
func TestReadyzNamesRefusedSMSGateway(t *testing.T) {
	good, err := smscsim.Start(smscsim.Config{SystemID: "shule", Password: "pw8chars"})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	bad, err := smscsim.Start(smscsim.Config{SystemID: "shule", Password: "pw8chars"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	bad.RefuseBindsWith(data.ESME_RINVPASWD)
	doc := fmt.Sprintf(`
gateways:
  - {name: carrier-a, type: smpp, addr: %q, system_id: shule, password: pw8chars, source_addr: "12379"}
  - {name: carrier-b, type: smpp, addr: %q, system_id: shule, password: pw8chars, source_addr: "12379", priority: 1}
`, good.Addr(), bad.Addr())
	s := startServer(t, func(c *Config) {
		if err := yaml.Unmarshal([]byte(doc), &c.SMS); err != nil {
			t.Fatal(err)
		}
		c.Outbox = []string{"speaker", "websocket", "voice"}
	})
	const why = "carrier-b: bind refused: ESME_RINVPASWD (0x0E): the SMSC refused the password — check sms.gateways[carrier-b].password"
	var body map[string]any
	waitFor(t, 10*time.Second, "readyz degraded naming carrier-b", func() bool {
		var st int
		st, body = call(t, s.Base, "GET", "/readyz", "", nil)
		checks, _ := body["checks"].(map[string]any)
		return st == 200 && checks["sms"] == "degraded: "+why
	})
	gws, _ := body["sms_gateways"].([]any)
	if len(gws) != 2 {
		t.Fatalf("sms_gateways = %v", body["sms_gateways"])
	}
	b := gws[1].(map[string]any)
	if b["name"] != "carrier-b" || b["healthy"] != false || !strings.Contains(fmt.Sprint(b["error"]), "ESME_RINVPASWD (0x0E)") {
		t.Errorf("carrier-b status = %v", b)
	}
	if strings.Contains(fmt.Sprint(body), "pw8chars") {
		t.Error("readyz shows the gateway password")
	}
	// With the other gateway gone too, nothing can send: red.
	good.Close()
	waitFor(t, 10*time.Second, "readyz red naming both gateways", func() bool {
		st, body := call(t, s.Base, "GET", "/readyz", "", nil)
		checks, _ := body["checks"].(map[string]any)
		msg := fmt.Sprint(checks["sms"])
		return st == 503 && strings.Contains(msg, "no SMS gateway available") && strings.Contains(msg, "carrier-a: ") && strings.Contains(msg, why)
	})
}
