package dispatch

import "testing"

func TestRoleTable(t *testing.T) {
	for _, r := range []Role{RoleViewer, RoleOperator, RoleApprover, RoleAdmin} {
		got, err := ParseRole(r.String())
		if err != nil || got != r {
			t.Errorf("role round trip %v: %v %v", r, got, err)
		}
	}
	if RoleOperator.Can(RoleApprover) || !RoleAdmin.Can(RoleApprover) || !RoleApprover.Can(RoleOperator) {
		t.Error("role ordering wrong")
	}
}

func TestParseKey(t *testing.T) {
	id, v, ok := ParseKey("AABC/v12")
	if !ok || id != "AABC" || v != 12 {
		t.Fatalf("ParseKey = %q %d %v", id, v, ok)
	}
	for _, bad := range []string{"", "AABC", "/v1", "AABC/v0", "AABC/vx"} {
		if _, _, ok := ParseKey(bad); ok {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

func TestNewIDOrdered(t *testing.T) {
	a := NewID(timeAt(1000))
	b := NewID(timeAt(2000))
	if !(a < b) {
		t.Fatalf("ids not time-ordered: %s !< %s", a, b)
	}
}
