package alertd

import (
	"strings"
	"testing"
	"time"
)

// /readyz is public (load balancers and Kubernetes probe it without
// credentials): when Redis is down it says so, but not where Redis is or
// what the driver said.
func TestReadyzNamesTheDependencyNotItsAddress(t *testing.T) {
	s := startServer(t, nil)
	out := mustCall(t, s.Base, "GET", "/readyz", "", nil, 200)
	if c := out["checks"].(map[string]any); !strings.HasPrefix(c["redis"].(string), "ok") || c["database"] != "ok" {
		t.Fatalf("checks before the outage: %v", c)
	}
	s.Redis.Stop()
	var body map[string]any
	waitFor(t, 10*time.Second, "readyz red", func() bool {
		var st int
		st, body = call(t, s.Base, "GET", "/readyz", "", nil)
		return st == 503
	})
	c := body["checks"].(map[string]any)
	if c["redis"] != "unreachable" || body["ready"] != false {
		t.Fatalf("checks during the outage: %v", body)
	}
	_, port, _ := strings.Cut(s.Redis.Addr, ":")
	for k, v := range c {
		if strings.Contains(v.(string), port) || strings.Contains(v.(string), "dial") {
			t.Errorf("check %s tells the public where the dependency is: %q", k, v)
		}
	}
}
