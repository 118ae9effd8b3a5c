package alertd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/internal/testsvc"
	"github.com/alertcast/alertcast/targeting"
)

const testAdminToken = "test-admin-token-0123456789"

type testServer struct {
	*Server
	Base  string
	Redis *testsvc.RedisServer
}

// startServer runs a whole alertd (all roles) on a throwaway real Redis.
func startServer(t testing.TB, edit func(*Config)) *testServer {
	t.Helper()
	rs := testsvc.Redis(t)
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Redis = rs.URL()
	cfg.AdminToken = testAdminToken
	cfg.LogLevel = "warn"
	// Every channel records to the outbox unless a test wants a real one.
	cfg.Outbox = []string{"speaker", "sms", "websocket", "voice"}
	if edit != nil {
		edit(&cfg)
	}
	var logs io.Writer = io.Discard
	if testing.Verbose() {
		logs = os.Stderr
	}
	s, err := Start(context.Background(), cfg, io.Discard, logs)
	if err != nil {
		t.Fatalf("start alertd: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown() })
	return &testServer{Server: s, Base: "http://" + s.Addr, Redis: rs}
}

// call does one JSON request and decodes the JSON answer.
func call(t testing.TB, base, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, out
}

func mustCall(t testing.TB, base, method, path, token string, body any, want int) map[string]any {
	t.Helper()
	st, out := call(t, base, method, path, token, body)
	if st != want {
		t.Fatalf("%s %s: status %d, want %d: %v", method, path, st, want, out)
	}
	return out
}

func addUser(t testing.TB, base, name, role string) string {
	t.Helper()
	out := mustCall(t, base, "POST", "/api/v1/users", testAdminToken, map[string]string{"name": name, "role": role}, 201)
	return out["token"].(string)
}

// importPopulation generates a synthetic population and imports it
// through the API, returning the residents CSV.
func importPopulation(t *testing.T, base string, residents, speakers int) []byte {
	t.Helper()
	var res, spk bytes.Buffer
	if err := targeting.GeneratePopulation(targeting.DefaultTree(), targeting.DefaultOutline(), residents, speakers, 7, &res, &spk); err != nil {
		t.Fatal(err)
	}
	mustCall(t, base, "POST", "/api/v1/residents/import", testAdminToken, res.Bytes(), 200)
	mustCall(t, base, "POST", "/api/v1/speakers/import", testAdminToken, spk.Bytes(), 200)
	return res.Bytes()
}

func exampleBody(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../dispatch/testdata/example_alert.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func progressOf(out map[string]any) map[string]map[string]float64 {
	res := map[string]map[string]float64{}
	p, _ := out["progress"].(map[string]any)
	for ch, v := range p {
		m := map[string]float64{}
		for k, n := range v.(map[string]any) {
			if f, ok := n.(float64); ok { // "mode" is a word
				m[k] = f
			}
		}
		res[ch] = m
	}
	return res
}

// waitDone polls the warning until no channel has pending records and
// every planned channel has a plan, or the timeout passes.
func waitDone(t *testing.T, base, token, id string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last map[string]any
	for time.Now().Before(deadline) {
		_, last = call(t, base, "GET", "/api/v1/alerts/"+id, token, nil)
		plans, _ := last["plans"].(map[string]any)
		chans, _ := last["channels"].([]any)
		done := len(plans) == len(chans) && len(chans) > 0
		// Counters may be a second old: done only when every planned
		// record is counted and none is pending.
		want := 0.0
		for _, p := range plans {
			want += p.(map[string]any)["recipients"].(float64)
		}
		got := 0.0
		for _, p := range progressOf(last) {
			got += p["planned"]
			if p["queued"] > 0 {
				done = false
			}
		}
		if got != want {
			done = false
		}
		if done {
			return last
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("warning %s not done within %s: %v", id, timeout, fmt.Sprint(last["progress"], last["plans"]))
	return nil
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
