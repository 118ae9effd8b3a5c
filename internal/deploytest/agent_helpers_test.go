package deploytest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// writeAgentConfig writes a loudspeaker agent config (and its credential
// file) for device id into dir and returns the config path.
func writeAgentConfig(t *testing.T, dir, base, id, credential, publicKey string) string {
	t.Helper()
	credFile := filepath.Join(dir, "speaker.credential")
	if err := os.WriteFile(credFile, []byte(credential+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	cfg := fmt.Sprintf("url: %s\ndevice: %s\ncredential_file: %s\npublic_key: %s\ncache_dir: %s\nheartbeat: 2s\nsink:\n  type: discard\n",
		base, id, credFile, publicKey, cache)
	path := filepath.Join(dir, "speaker.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runAgent starts the agent binary with config and returns a function that
// stops it (SIGTERM, then SIGKILL); it is also stopped when the test ends.
func runAgent(t *testing.T, bin, config string, env []string) func() {
	t.Helper()
	cmd := exec.Command(bin, "--config", config, "--log-level", "debug")
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("agent output:\n%s", out.String())
		}
	}
	t.Cleanup(stop)
	return stop
}
