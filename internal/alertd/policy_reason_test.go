package alertd

import (
	"slices"
	"strings"
	"testing"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
)

// policy.reason_required_levels: left out means [red], [] means none, and
// a bad level is named with its index.
func TestPolicyReasonRequiredLevels(t *testing.T) {
	pol, err := PolicyConfig{}.Policy()
	if err != nil || !slices.Equal(pol.ReasonRequiredLevels, []warning.Level{warning.LevelRed}) {
		t.Fatalf("default: %v %v, want [red]", pol.ReasonRequiredLevels, err)
	}
	pol, err = PolicyConfig{ApprovalLevels: []string{"red"}, ReasonRequiredLevels: []string{}}.Policy()
	if err != nil || len(pol.ReasonRequiredLevels) != 0 || !slices.Equal(pol.ApprovalLevels, []warning.Level{warning.LevelRed}) {
		t.Fatalf("[]: %v %v %v, want none", pol.ReasonRequiredLevels, pol.ApprovalLevels, err)
	}
	pol, err = PolicyConfig{ReasonRequiredLevels: []string{"orange", "red"}}.Policy()
	if err != nil || !slices.Equal(pol.ReasonRequiredLevels, []warning.Level{warning.LevelOrange, warning.LevelRed}) ||
		!slices.Equal(pol.ApprovalLevels, dispatch.DefaultPolicy().ApprovalLevels) {
		t.Fatalf("[orange, red]: %v %v %v", pol.ReasonRequiredLevels, pol.ApprovalLevels, err)
	}
	if _, err := (PolicyConfig{ReasonRequiredLevels: []string{"red", "purple"}}).Policy(); err == nil || !strings.Contains(err.Error(), "policy.reason_required_levels[1]") {
		t.Fatalf("bad level: %v, want an error naming policy.reason_required_levels[1]", err)
	}
}
