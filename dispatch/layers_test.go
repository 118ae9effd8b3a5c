package dispatch

import (
	"os/exec"
	"strings"
	"testing"
)

// The arrows that must never exist between Alertcast's packages: the
// domain root does not reach into its stages, a stage does not reach up
// into the one that drives it, and the leaves never import the warning
// system at all. go list sees every import, test files included.
func TestNoForbiddenImports(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not on PATH")
	}
	const mod = "github.com/alertcast/alertcast/"
	never := map[string][]string{
		"dispatch":           {"dispatch/api", "dispatch/lifecycle", "dispatch/engine", "dispatch/storetest", "github.com/hibiken/asynq"},
		"dispatch/engine":    {"dispatch/api", "dispatch/lifecycle"},
		"dispatch/lifecycle": {"dispatch/api"},
		"channels/...":       {"dispatch", "github.com/hibiken/asynq"},
		"targeting/...":      {"dispatch", "channels"},
		"audio/...":          {"dispatch"},
		"warning":            {"dispatch", "channels", "targeting"},
	}
	for pkg, bad := range never {
		out, err := exec.Command("go", "list", "-deps", "-test", "-f", "{{.ImportPath}}", "../"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			dep = strings.TrimPrefix(dep, mod)
			if i := strings.IndexByte(dep, ' '); i >= 0 { // "p [p.test]"
				dep = dep[:i]
			}
			for _, b := range bad {
				if dep == b || strings.HasPrefix(dep, b+"/") {
					t.Errorf("%s must never import %s (it depends on %s)", pkg, b, dep)
				}
			}
		}
	}
}
