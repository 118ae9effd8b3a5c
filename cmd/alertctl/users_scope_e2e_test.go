package main

import (
	"strings"
	"testing"
)

// alertctl users add --scope, users list and users scope against a whole
// alertd: the scope is set, shown with the region's name, and changed.
func TestUsersScopeCommands(t *testing.T) {
	base := startAlertd(t)
	out := runAlertctl(t, base, "users", "add", "--role", "operator", "--scope", "653122100", "duty1")
	if !strings.Contains(out, "scope 653122100 (疏勒镇)") {
		t.Fatalf("users add: %q", out)
	}
	list := runAlertctl(t, base, "users", "list")
	if !strings.Contains(list, "duty1") || !strings.Contains(list, "653122100 (疏勒镇)") || !strings.Contains(list, "* (the whole tree)") {
		t.Fatalf("users list:\n%s", list)
	}
	if out := runAlertctl(t, base, "users", "scope", "duty1", "653122"); !strings.Contains(out, "653122 (疏勒县)") {
		t.Fatalf("users scope: %q", out)
	}
	if list := runAlertctl(t, base, "users", "list"); !strings.Contains(list, "653122 (疏勒县)") {
		t.Fatalf("users list after scope:\n%s", list)
	}
}
