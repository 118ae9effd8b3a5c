package alertd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sms_interrupted is the bureau's explicit choice for SMS possibly sent by a
// dead node: at-most-once by default, at-least-once on request, anything
// else refused by name.
func TestSMSInterruptedSetting(t *testing.T) {
	if Defaults().SMSInterrupted != "at-most-once" {
		t.Fatalf("default sms_interrupted = %q, want at-most-once", Defaults().SMSInterrupted)
	}
	f := filepath.Join(t.TempDir(), "a.yaml")
	_ = os.WriteFile(f, []byte("sms_interrupted: at-least-once\n"), 0o600)
	cfg, err := Load([]string{"--config", f}, env(nil))
	if err != nil || cfg.SMSInterrupted != "at-least-once" {
		t.Fatalf("at-least-once: %q, %v", cfg.SMSInterrupted, err)
	}
	_ = os.WriteFile(f, []byte("sms_interrupted: exactly-once\n"), 0o600)
	if _, err := Load([]string{"--config", f}, env(nil)); err == nil || !strings.Contains(err.Error(), "sms_interrupted") || !strings.Contains(err.Error(), "exactly-once") {
		t.Fatalf("exactly-once accepted or not named: %v", err)
	}
}
