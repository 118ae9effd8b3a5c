package clustertest

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/channels/speaker/agent"
	"github.com/alertcast/alertcast/targeting"
)

// fleetSize is how many loudspeakers each fault test runs: real agents (in
// this process) that verify, fetch and "play" every command, and count
// each play themselves.
const fleetSize = 20

// fleet is simulated loudspeakers connected to the API nodes, counting
// every programme each device played: "no speaker command played twice"
// is read from the devices, not from alertd's records.
type fleet struct {
	mu      sync.Mutex
	plays   map[playKey]int
	devices []string
}

// playKey is one repeat of one warning version's programme on one device.
type playKey struct {
	device, key string
	repeat      int
}

type countingSink struct {
	f      *fleet
	device string
}

func (s countingSink) Play(ctx context.Context, p agent.Programme) error {
	s.f.mu.Lock()
	s.f.plays[playKey{s.device, p.Key, p.Repeat}]++
	s.f.mu.Unlock()
	return ctx.Err()
}

// startFleet imports fleetSize loudspeakers through bases[0], enrols each,
// connects them round-robin to every base, and waits until all are online.
func startFleet(t *testing.T, bases []string, adminToken string) *fleet {
	t.Helper()
	var spk bytes.Buffer
	if err := targeting.GeneratePopulation(targeting.DefaultTree(), targeting.DefaultOutline(), 0, fleetSize, 11, io.Discard, &spk); err != nil {
		t.Fatal(err)
	}
	mustCall(t, bases[0], "POST", "/api/v1/speakers/import", adminToken, spk.Bytes(), 200)
	r := csv.NewReader(bytes.NewReader(spk.Bytes()))
	r.Comment = '#'
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := speaker.ParsePublicKey(mustCall(t, bases[0], "GET", "/api/v1/speakers/key", "", nil, 200)["public_key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{plays: map[playKey]int{}}
	per := make([][]agent.SimDevice, len(bases))
	for i, row := range rows[1:] {
		id := row[0]
		e := mustCall(t, bases[0], "POST", "/api/v1/speakers/"+id+"/enroll", adminToken, nil, 200)
		per[i%len(bases)] = append(per[i%len(bases)], agent.SimDevice{ID: id, Credential: e["credential"].(string)})
		f.devices = append(f.devices, id)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, devs := range per {
		if len(devs) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The agents' reconnect warnings while a node is down would drown the test's log.
			quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
			_ = agent.Simulate(ctx, agent.SimConfig{URL: bases[i], PublicKey: pub, Devices: devs, Ramp: 200 * time.Millisecond, Logger: quiet,
				Sink: func(device string) agent.Sink { return countingSink{f, device} }})
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitFor(t, 60*time.Second, fmt.Sprintf("%d loudspeakers online", len(f.devices)), func() bool {
		st, out, err := call(bases[0], "GET", "/api/v1/speakers", adminToken, nil)
		if err != nil || st != 200 {
			return false
		}
		n := 0
		list, _ := out["status"].([]any)
		for _, d := range list {
			if m, ok := d.(map[string]any); ok && m["online"] == true {
				n++
			}
		}
		return n == len(f.devices)
	})
	return f
}

// verify waits until every device played warning id's first version and
// then checks, from the devices' own counts, that none played any repeat
// of any command twice. base and token read the loudspeaker records when
// a device never played, to say why.
func (f *fleet) verify(t *testing.T, id, base, token string) {
	t.Helper()
	key := id + "/v1"
	missing := func() []string {
		f.mu.Lock()
		defer f.mu.Unlock()
		var out []string
		for _, d := range f.devices {
			if f.plays[playKey{d, key, 1}] == 0 {
				out = append(out, d)
			}
		}
		return out
	}
	deadline := time.Now().Add(90 * time.Second)
	for m := missing(); len(m) > 0; m = missing() {
		if time.Now().After(deadline) {
			_, out, err := call(base, "GET", "/api/v1/alerts/"+id+"/deliveries?channel=speaker&limit=100", token, nil)
			t.Fatalf("%d of %d loudspeakers never played the warning within 90 s: %v\nloudspeaker records: %v %v", len(m), len(f.devices), m, out, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var twice []string
	n := 0
	for k, c := range f.plays {
		n += c
		if c > 1 {
			twice = append(twice, fmt.Sprintf("%s played %s repeat %d %d times", k.device, k.key, k.repeat, c))
		}
	}
	sort.Strings(twice)
	if len(twice) > 0 {
		t.Errorf("loudspeakers played a command twice (counted by the devices):\n%s", strings.Join(twice, "\n"))
	}
	report(t, "loudspeakers: %d devices, %d plays in all, none twice", len(f.devices), n)
}
