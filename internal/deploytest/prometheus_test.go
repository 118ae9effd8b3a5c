package deploytest

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/internal/testsvc"
)

// The alert rules are valid for Prometheus and fire, with the labels and
// text the duty officer reads, exactly when their unit tests say.
func TestPrometheusRules(t *testing.T) {
	promtool := testsvc.Need(t, "promtool")
	dir := filepath.Join(repoRoot(t), "deploy", "prometheus")
	out := run(t, dir, nil, promtool, "check", "rules", "alertcast.rules.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: %s", out)
	}
	out = run(t, dir, nil, promtool, "test", "rules", "alertcast.rules_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %s", out)
	}
}
