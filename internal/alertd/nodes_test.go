package alertd

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/agent"
)

// Two alertd nodes on one Redis and one database: a warning issued on node
// A plays on loudspeakers connected to node B and appears on a WebSocket
// subscriber of node B.
func TestTwoNodesDeliverAcrossNodes(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	a := startServer(t, func(c *Config) { c.DB = db; c.Outbox = []string{"sms", "voice"} })
	b := startServer(t, func(c *Config) {
		c.DB = db
		c.Redis = a.Redis.URL()
		c.Roles = []string{"api"}
		c.Outbox = []string{"sms", "voice"}
		c.AuditKeyFile = filepath.Join(a.cfg.DataDir, "audit.key") // one audit chain, one key
		// Every node signs with the one platform key.
		c.Speakers.KeyFile = filepath.Join(a.cfg.DataDir, "speaker-ed25519.key")
	})

	var spk bytes.Buffer
	spk.WriteString("id,village\nSPK-1,653122100001\nSPK-2,653122201201\n")
	mustCall(t, a.Base, "POST", "/api/v1/speakers/import", testAdminToken, spk.Bytes(), 200)
	pub, err := speaker.ParsePublicKey(mustCall(t, b.Base, "GET", "/api/v1/speakers/key", "", nil, 200)["public_key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var devs []agent.SimDevice
	for _, id := range []string{"SPK-1", "SPK-2"} {
		e := mustCall(t, a.Base, "POST", "/api/v1/speakers/"+id+"/enroll", testAdminToken, nil, 200)
		devs = append(devs, agent.SimDevice{ID: id, Credential: e["credential"].(string)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.Simulate(ctx, agent.SimConfig{URL: b.Base, PublicKey: pub, Devices: devs, Ramp: 10 * time.Millisecond})
	}()
	t.Cleanup(func() { cancel(); <-done })

	// A resident page subscriber on node B.
	conn, _, err := gws.DefaultDialer.Dial(strings.Replace(b.Base, "http", "ws", 1)+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.WriteJSON(map[string]any{"type": "subscribe", "regions": []string{"653122100001"}, "lang": "zh"})

	waitFor(t, 15*time.Second, "speakers online on node B", func() bool {
		st := mustCall(t, a.Base, "GET", "/api/v1/speakers", testAdminToken, nil, 200)
		n := 0
		for _, d := range st["status"].([]any) {
			if d.(map[string]any)["online"] == true {
				n++
			}
		}
		return n == 2
	})
	op := addUser(t, a.Base, "op", "operator")
	body := strings.Replace(string(exampleBody(t)), `"orange"`, `"yellow"`, 1)
	body = strings.Replace(body, `"audience":{"groups":["herders"]}`, `"audience":{}`, 1)
	id := mustCall(t, a.Base, "POST", "/api/v1/alerts", op, body, 201)["id"].(string)

	gotWarning := make(chan struct{})
	go func() {
		for {
			var ev map[string]any
			if err := conn.ReadJSON(&ev); err != nil {
				return
			}
			if ev["type"] == "warning" && strings.Contains(mustJSON(ev), id) {
				close(gotWarning)
				return
			}
		}
	}()
	select {
	case <-gotWarning:
	case <-time.After(20 * time.Second):
		t.Fatal("the WebSocket subscriber on node B never saw the warning issued on node A")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, out := call(t, a.Base, "GET", "/api/v1/alerts/"+id, op, nil)
		p := progressOf(out)["speaker"]
		if p["planned"] == 2 && p["delivered"] == 2 {
			break
		}
		if time.Now().After(deadline) {
			dl := mustCall(t, a.Base, "GET", "/api/v1/alerts/"+id+"/deliveries?channel=speaker", op, nil, 200)
			t.Fatalf("speakers on node B did not play: %v\n%v", p, dl)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
