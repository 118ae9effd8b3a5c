package alertd

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/agent"
	"github.com/alertcast/alertcast/targeting"
)

// An evacuate warning to two villages of different shelters: each
// village's loudspeaker agents verify, download and play a programme whose
// script names their own shelter and not the other's. Each village's
// agents run with their own audio cache, so what a cache holds is what
// that village's devices were commanded to play (the signed command binds
// the programme's hash; the agent checks the download against it); the
// script is the programme's description the renderer shares in Redis.
func TestEvacuateSpeakersSayEachVillagesShelter(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Outbox = []string{"sms", "voice"} })
	// Residents give the villages their points, for the shelter
	// assignments; the only loudspeakers are the three below.
	var res, none, shel bytes.Buffer
	if err := targeting.GeneratePopulation(targeting.DefaultTree(), targeting.DefaultOutline(), 500, 0, 7, &res, &none); err != nil {
		t.Fatal(err)
	}
	mustCall(t, s.Base, "POST", "/api/v1/residents/import", testAdminToken, res.Bytes(), 200)
	if err := targeting.GenerateShelters(targeting.DefaultTree(), targeting.DefaultOutline(), 7, &shel); err != nil {
		t.Fatal(err)
	}
	mustCall(t, s.Base, "POST", "/api/v1/shelters/import", testAdminToken, shel.Bytes(), 200)
	// Two villages whose shelters differ.
	var villages [2]string
	var shelters [2]string
	for _, x := range mustCall(t, s.Base, "GET", "/api/v1/shelters", testAdminToken, nil, 200)["shelters"].([]any) {
		sh := x.(map[string]any)
		served, _ := sh["served"].([]any)
		if len(served) == 0 {
			continue
		}
		if villages[0] == "" {
			villages[0], shelters[0] = served[0].(string), sh["name"].(string)
		} else if sh["name"] != shelters[0] {
			villages[1], shelters[1] = served[0].(string), sh["name"].(string)
			break
		}
	}
	if villages[1] == "" {
		t.Fatalf("no two villages with different shelters: %v", villages)
	}
	spk := "id,village\nSPK-A1," + villages[0] + "\nSPK-A2," + villages[0] + "\nSPK-B1," + villages[1] + "\n"
	mustCall(t, s.Base, "POST", "/api/v1/speakers/import", testAdminToken, []byte(spk), 200)
	key := mustCall(t, s.Base, "GET", "/api/v1/speakers/key", "", nil, 200)["public_key"].(string)
	pub, err := speaker.ParsePublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	enrol := func(ids ...string) []agent.SimDevice {
		var devs []agent.SimDevice
		for _, id := range ids {
			e := mustCall(t, s.Base, "POST", "/api/v1/speakers/"+id+"/enroll", testAdminToken, nil, 200)
			devs = append(devs, agent.SimDevice{ID: id, Credential: e["credential"].(string)})
		}
		return devs
	}
	caches := [2]string{t.TempDir(), t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	simDone := make(chan error, 2)
	for i, devs := range [][]agent.SimDevice{enrol("SPK-A1", "SPK-A2"), enrol("SPK-B1")} {
		go func() {
			simDone <- agent.Simulate(ctx, agent.SimConfig{URL: s.Base, PublicKey: pub, Devices: devs, CacheDir: caches[i], Ramp: 10 * time.Millisecond})
		}()
	}
	t.Cleanup(func() { cancel(); <-simDone; <-simDone })
	waitFor(t, 15*time.Second, "3 speakers online", func() bool {
		online := 0
		for _, d := range mustCall(t, s.Base, "GET", "/api/v1/speakers", testAdminToken, nil, 200)["status"].([]any) {
			if d.(map[string]any)["online"] == true {
				online++
			}
		}
		return online == 3
	})

	op := addUser(t, s.Base, "op", "operator")
	body := strings.Replace(string(exampleBody(t)), `"orange"`, `"yellow"`, 1)
	body = strings.Replace(body, `"audience":{"groups":["herders"]}`, `"audience":{}`, 1)
	body = strings.Replace(body, `"codes":["653122100","653122201"]`, `"codes":["`+villages[0]+`","`+villages[1]+`"]`, 1)
	body = strings.Replace(body, `"channels":["speaker","sms","websocket","voice"]`, `"channels":["speaker"],"action":{"type":"evacuate"}`, 1)
	id := mustCall(t, s.Base, "POST", "/api/v1/alerts", op, body, 201)["id"].(string)
	var p map[string]float64
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("speaker progress: %v", p)
		}
	})
	waitFor(t, 60*time.Second, "speakers played", func() bool {
		_, out := call(t, s.Base, "GET", "/api/v1/alerts/"+id, op, nil)
		p = progressOf(out)["speaker"]
		return p["planned"] == 3 && p["delivered"] == 3
	})

	var played [2]string
	for i, dir := range caches {
		files, _ := filepath.Glob(filepath.Join(dir, "*.wav"))
		if len(files) != 1 {
			t.Fatalf("village %s's agents hold %d programmes: %v", villages[i], len(files), files)
		}
		sha := strings.TrimSuffix(filepath.Base(files[0]), ".wav")
		played[i] = sha
		spec, err := s.redis.Client.Get(context.Background(), "alertcast:audio:programme:"+sha).Bytes()
		if err != nil {
			t.Fatalf("programme %s: %v", sha, err)
		}
		var p audio.Programme
		if err := json.Unmarshal(spec, &p); err != nil {
			t.Fatal(err)
		}
		var script []string
		for _, seg := range p.Speech {
			script = append(script, seg.Text)
		}
		text := strings.Join(script, " / ")
		if !strings.Contains(text, "请前往") || !strings.Contains(text, shelters[i]) || strings.Contains(text, shelters[1-i]) {
			t.Fatalf("village %s (shelter %s) heard %q", villages[i], shelters[i], text)
		}
	}
	if played[0] == played[1] {
		t.Fatal("both villages played the same programme")
	}
}
